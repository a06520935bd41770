-- customer_360 of examples/ecommerce as ONE plain DuckDB statement, for scripts/bench-models.
-- The staging and intermediate views it reads (stg_customers, stg_transactions, stg_products,
-- int_transaction_analysis, int_customer_metrics) are inlined as CTEs, with the dbt macros
-- expanded the way dbt-duckdb expands them (generate_surrogate_key -> md5, datediff ->
-- date_diff('day', ..), listagg -> string_agg). Reads raw.raw_* (loaded from the lake's Parquet);
-- run with TimeZone = 'UTC' so timestamptz -> date casts match the lake's UTC timestamps.
create or replace table plain_customer_360 as
with stg_customers as (
    select
        customer_id,
        md5(coalesce(cast(customer_id as varchar), '_dbt_utils_surrogate_key_null_') || '-'
            || coalesce(cast(email as varchar), '_dbt_utils_surrogate_key_null_')) as customer_key,
        trim(lower(email)) as email,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        cast(registration_date as date) as registration_date,
        case
            when customer_segment is null then 'unknown'
            when trim(customer_segment) = '' then 'unknown'
            when lower(trim(customer_segment)) in ('premium', 'standard', 'basic')
                then lower(trim(customer_segment))
            else 'unknown'
        end as customer_segment,
        trim(lower(email)) ~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$' as email_is_valid
    from raw.raw_customers
    where customer_id is not null
    qualify row_number() over (
        partition by customer_id order by registration_date desc, _loaded_at desc) = 1
),

stg_products as (
    select product_id, coalesce(lower(trim(product_category)), 'uncategorized') as product_category
    from raw.raw_products
    where product_id is not null
),

int_transaction_analysis as (
    select
        t.customer_id,
        p.product_category,
        t.transaction_amount,
        t.transaction_date,
        extract(quarter from t.transaction_date) as transaction_quarter
    from raw.raw_transactions t
    left join stg_products p on t.product_id = p.product_id
    where t.transaction_id is not null
        and t.transaction_amount between 0.01 and 100000
        and t.transaction_date between timestamp '2020-01-01T00:00:00Z' and timestamp '2030-12-31T23:59:59Z'
        and lower(trim(t.status)) = 'completed'
),

int_customer_metrics as (
    select
        customer_id,
        count(*) as total_transactions,
        sum(transaction_amount) as total_spent,
        avg(transaction_amount) as avg_transaction_amount,
        min(transaction_date) as first_transaction_date,
        max(transaction_date) as last_transaction_date,
        date_diff('day', min(transaction_date)::timestamp, max(transaction_date)::timestamp) as customer_lifetime_days,
        date_diff('day', max(transaction_date)::timestamp, current_date::timestamp) as days_since_last_transaction,
        count(case when transaction_quarter = 4 then 1 end) as q4_transactions,
        sum(case when transaction_quarter = 4 then transaction_amount end) as q4_spending
    from int_transaction_analysis
    group by customer_id
),

product_preferences as (
    select
        customer_id,
        string_agg(product_category, ', ' order by purchase_count desc, product_category) as top_categories,
        count(distinct product_category) as category_diversity
    from (
        select
            customer_id,
            product_category,
            count(*) as purchase_count,
            row_number() over (
                partition by customer_id order by count(*) desc, product_category
            ) as category_rank
        from int_transaction_analysis
        group by customer_id, product_category
    ) ranked_categories
    where category_rank <= 3
    group by customer_id
)

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
        when tm.total_spent > 10000 then 'high_value'
        when tm.total_spent > 1000 then 'medium_value'
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
    current_timestamp as updated_at
from stg_customers cb
left join int_customer_metrics tm on cb.customer_id = tm.customer_id
left join product_preferences pp on cb.customer_id = pp.customer_id
where cb.email_is_valid
