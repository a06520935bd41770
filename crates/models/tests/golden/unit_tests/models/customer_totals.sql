select
  c.id as customer_id,
  c.name,
  count(o.order_id) as orders,
  coalesce(sum(o.amount), 0) as total,
  {{ cents('coalesce(sum(o.amount), 0)') }} as total_cents,
  '{{ var("currency") }}' as currency
from {{ source('crm', 'customers') }} as c
left join {{ ref('stg_orders') }} as o
  on o.customer_id = c.id and o.status = 'paid'
group by c.id, c.name
