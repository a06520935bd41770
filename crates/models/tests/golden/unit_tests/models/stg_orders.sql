select
  id as order_id,
  customer_id,
  cast(amount as decimal(10, 2)) as amount,
  lower(status) as status,
  cast(ordered_at as date) as order_date
from {{ ref('orders') }}
