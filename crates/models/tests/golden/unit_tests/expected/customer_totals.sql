select
  c.id as customer_id,
  c.name,
  count(o.order_id) as orders,
  coalesce(sum(o.amount), 0) as total,
  cast(round(coalesce(sum(o.amount), 0) * 100) as bigint) as total_cents,
  'usd' as currency
from customers as c
left join stg_orders as o
  on o.customer_id = c.id and o.status = 'paid'
group by c.id, c.name
