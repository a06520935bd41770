-- Valid, completed transactions with their product, the base of every revenue metric.
select
    t.transaction_id,
    t.customer_id,
    t.product_id,
    p.product_category,
    t.transaction_amount,
    t.transaction_date,
    cast(t.transaction_date as date) as transaction_day,
    extract(quarter from t.transaction_date) as transaction_quarter,
    t.payment_method
from {{ ref('stg_transactions') }} t
left join {{ ref('stg_products') }} p on t.product_id = p.product_id
where t.is_valid and t.status = 'completed'
