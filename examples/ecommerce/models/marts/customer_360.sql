{{ config(
    materialized='table',
    tags=['marts', 'customer_analytics', 'critical'],
    meta={'owner': 'analytics_team', 'sla_hours': 2}
) }}

with customer_base as (
    select * from {{ ref('stg_customers') }}
    where email_is_valid = true
),

transaction_metrics as (
    select * from {{ ref('int_customer_metrics') }}
),

product_preferences as (
    select
        customer_id,
        {{ dbt_utils.listagg('product_category', ', ', "order by purchase_count desc, product_category") }} as top_categories,
        count(distinct product_category) as category_diversity
    from (
        select
            customer_id,
            product_category,
            count(*) as purchase_count,
            row_number() over (
                partition by customer_id order by count(*) desc, product_category
            ) as category_rank
        from {{ ref('int_transaction_analysis') }}
        group by customer_id, product_category
    ) ranked_categories
    where category_rank <= 3
    group by customer_id
),

final as (
    select
        cb.customer_id,
        cb.customer_key,
        cb.email,
        cb.first_name,
        cb.last_name,
        cb.registration_date,
        cb.customer_segment,

        coalesce(tm.total_transactions, 0) as total_transactions,
        coalesce(tm.total_spent, 0) as total_spent,
        coalesce(tm.avg_transaction_amount, 0) as avg_transaction_amount,
        tm.first_transaction_date,
        tm.last_transaction_date,
        coalesce(tm.customer_lifetime_days, 0) as customer_lifetime_days,
        coalesce(tm.days_since_last_transaction, 999) as days_since_last_transaction,

        case
            when tm.total_spent > {{ var('high_value_threshold') }} then 'high_value'
            when tm.total_spent > {{ var('medium_value_threshold') }} then 'medium_value'
            when tm.total_spent > 0 then 'low_value'
            else 'no_purchases'
        end as value_tier,

        case
            when tm.days_since_last_transaction <= 30 then 'active'
            when tm.days_since_last_transaction <= 90 then 'at_risk'
            when tm.days_since_last_transaction <= 365 then 'dormant'
            else 'churned'
        end as lifecycle_stage,

        pp.top_categories,
        coalesce(pp.category_diversity, 0) as category_diversity,

        coalesce(tm.q4_transactions, 0) as q4_transactions,
        coalesce(tm.q4_spending, 0) as q4_spending,

        current_timestamp as updated_at,
        '{{ run_started_at }}' as dbt_run_started_at
    from customer_base cb
    left join transaction_metrics tm on cb.customer_id = tm.customer_id
    left join product_preferences pp on cb.customer_id = pp.customer_id
)

select * from final
