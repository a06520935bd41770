{#- The brief's Glue job (Step 3.1): RFM scores and value segments per customer, with
    quarterly revenue, order-value deviation and average days between purchases. -#}
{{ config(
    materialized='table',
    tags=['marts', 'features'],
    export={
        'path': 'exports/analytics/customer_features',
        'partition_by': ['customer_value_segment', 'customer_segment'],
        'compression': 'snappy'
    }
) }}

with scored as (
    select
        customer_id,
        customer_segment,
        total_spent,
        total_transactions,
        days_since_last_transaction,
        case
            when days_since_last_transaction <= 30 then 5
            when days_since_last_transaction <= 60 then 4
            when days_since_last_transaction <= 90 then 3
            when days_since_last_transaction <= 180 then 2
            else 1
        end as recency_score,
        case
            when total_transactions >= 50 then 5
            when total_transactions >= 20 then 4
            when total_transactions >= 10 then 3
            when total_transactions >= 5 then 2
            else 1
        end as frequency_score,
        case
            when total_spent >= 10000 then 5
            when total_spent >= 5000 then 4
            when total_spent >= 1000 then 3
            when total_spent >= 500 then 2
            else 1
        end as monetary_score
    from {{ ref('customer_360') }}
),

gaps as (
    select
        customer_id,
        {{ dbt.datediff('transaction_date', 'next_date', 'day') }} as days_to_next
    from (
        select
            customer_id,
            transaction_date,
            lead(transaction_date) over (partition by customer_id order by transaction_date) as next_date
        from {{ ref('fct_transactions') }}
    ) ordered
),

trends as (
    select
        t.customer_id,
        count(*) as order_count,
        sum(t.transaction_amount) as total_revenue,
        avg(t.transaction_amount) as avg_order_value,
        stddev(t.transaction_amount) as order_value_std,
        min(t.transaction_date) as first_purchase_date,
        max(t.transaction_date) as last_purchase_date,
        sum(case when t.transaction_quarter = 1 then t.transaction_amount else 0 end) as q1_revenue,
        sum(case when t.transaction_quarter = 2 then t.transaction_amount else 0 end) as q2_revenue,
        sum(case when t.transaction_quarter = 3 then t.transaction_amount else 0 end) as q3_revenue,
        sum(case when t.transaction_quarter = 4 then t.transaction_amount else 0 end) as q4_revenue
    from {{ ref('fct_transactions') }} t
    group by t.customer_id
),

-- Distinct categories per customer on their own: mixed with other aggregates, a
-- count(distinct) keeps a hash set per customer (tens of GB at a million customers).
categories as (
    select customer_id, count(*) as category_diversity
    from (select distinct customer_id, product_category from {{ ref('fct_transactions') }}) pairs
    where product_category is not null
    group by customer_id
),

avg_gaps as (
    select customer_id, avg(days_to_next) as avg_days_between_purchases
    from gaps
    where days_to_next is not null
    group by customer_id
)

select
    s.*,
    s.recency_score + s.frequency_score + s.monetary_score as rfm_score,
    case
        when s.recency_score + s.frequency_score + s.monetary_score >= 12 then 'champions'
        when s.recency_score + s.frequency_score + s.monetary_score >= 9 then 'loyal_customers'
        when s.recency_score + s.frequency_score + s.monetary_score >= 6 then 'potential_loyalists'
        else 'at_risk'
    end as customer_value_segment,
    t.total_revenue,
    t.avg_order_value,
    t.order_value_std,
    t.first_purchase_date,
    t.last_purchase_date,
    t.q1_revenue,
    t.q2_revenue,
    t.q3_revenue,
    t.q4_revenue,
    case when t.customer_id is null then null else coalesce(c.category_diversity, 0) end
        as category_diversity,
    g.avg_days_between_purchases,
    current_timestamp as processing_timestamp,
    'v1.0' as data_version
from scored s
left join trends t on s.customer_id = t.customer_id
left join avg_gaps g on s.customer_id = g.customer_id
left join categories c on s.customer_id = c.customer_id
