select
    p.product_id,
    p.product_name,
    p.product_category,
    count(t.transaction_id) as orders,
    coalesce(sum(t.transaction_amount), 0) as revenue,
    count(distinct t.customer_id) as customers
from {{ ref('stg_products') }} p
left join {{ ref('int_transaction_analysis') }} t on t.product_id = p.product_id
group by p.product_id, p.product_name, p.product_category
