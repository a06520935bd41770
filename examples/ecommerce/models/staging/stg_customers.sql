{{ config(
    materialized='view',
    tags=['staging', 'customers'],
    meta={'owner': 'data_engineering_team', 'description': 'Cleaned and standardized customer data'}
) }}

with source_data as (
    select
        *,
        row_number() over (
            partition by customer_id order by registration_date desc, _loaded_at desc
        ) as duplicate_rank
    from {{ source('raw', 'customers') }}
    where customer_id is not null
),

cleaned_data as (
    select
        customer_id,
        {{ dbt_utils.generate_surrogate_key(['customer_id', 'email']) }} as customer_key,

        -- Data cleaning and standardization
        trim(lower(email)) as email,
        trim(first_name) as first_name,
        trim(last_name) as last_name,

        -- Date standardization
        cast(registration_date as date) as registration_date,
        cast(last_login_date as timestamp) as last_login_date,

        -- Business logic
        case
            when customer_segment is null then 'unknown'
            when trim(customer_segment) = '' then 'unknown'
            when lower(trim(customer_segment)) in ('premium', 'standard', 'basic')
                then lower(trim(customer_segment))
            else 'unknown'
        end as customer_segment,

        -- Data quality indicators
        case
            when trim(lower(email)) ~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$' then true
            else false
        end as email_is_valid,

        -- Audit fields
        current_timestamp as processed_at,
        '{{ run_started_at }}' as dbt_run_started_at
    from source_data
    where duplicate_rank = 1
),

final as (
    select
        *,
        {{ calculate_row_quality_score(['customer_id', 'email_is_valid', 'first_name', 'last_name']) }} as row_quality_score
    from cleaned_data
)

select * from final
