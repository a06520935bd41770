select
    customer_id,
    customer_key,
    email,
    email_is_valid,
    first_name,
    last_name,
    registration_date,
    last_login_date,
    customer_segment,
    row_quality_score
from {{ ref('stg_customers') }}
