{#- The Glue job's summary statistics, next to the partitioned features. -#}
{{ config(
    materialized='table',
    tags=['marts', 'features'],
    export={'path': 'exports/analytics/summary_stats'}
) }}

select
    count(*) as total_customers,
    avg(rfm_score) as avg_rfm_score,
    sum(total_revenue) as total_platform_revenue,
    current_date as analysis_date
from {{ ref('customer_features') }}
