select
  id,
  region,
  amount
from orders_seed
where amount >= 10
  and region in ('eu', 'us')
