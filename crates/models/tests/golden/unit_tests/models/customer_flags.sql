select id as customer_id, is_valid from {{ ref('valid_emails') }}
