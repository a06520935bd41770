select
    transaction_id,
    customer_id,
    product_id,
    product_category,
    transaction_amount,
    transaction_date,
    transaction_day,
    transaction_quarter,
    payment_method
from {{ ref('int_transaction_analysis') }}
