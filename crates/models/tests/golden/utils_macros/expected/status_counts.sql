select src, status, count(*) as n
from all_orders
group by 1,2
