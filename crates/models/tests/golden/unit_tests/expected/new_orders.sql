select order_id, amount, order_date, '00000000-0000-7000-8000-000000000000' as loaded_by,
  'eu' as region
from stg_orders
