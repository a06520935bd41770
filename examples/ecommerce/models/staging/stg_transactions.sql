{{ config(tags=['staging', 'transactions']) }}

select
    transaction_id,
    customer_id,
    product_id,
    transaction_amount,
    transaction_date,
    lower(trim(payment_method)) as payment_method,
    lower(trim(status)) as status,
    -- Amounts and dates the business accepts (the brief's transactions_suite bounds).
    transaction_amount is not null
        and transaction_amount between 0.01 and 100000
        and transaction_date between timestamp '2020-01-01T00:00:00Z' and timestamp '2030-12-31T23:59:59Z'
        as is_valid
from {{ source('raw', 'transactions') }}
where transaction_id is not null
