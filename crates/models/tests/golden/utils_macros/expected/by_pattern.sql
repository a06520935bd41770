select 'raw_orders_2024' as name, 'lake' as schema_name, count(*) as n
from raw_orders_2024
union all
select 'raw_refunds' as name, 'lake' as schema_name, count(*) as n
from raw_refunds
