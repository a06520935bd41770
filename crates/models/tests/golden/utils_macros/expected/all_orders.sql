select
  cast('raw_orders_2023' as varchar) as src,
  cast("id" as bigint) as "id",
  cast("status" as varchar) as "status"
from raw_orders_2023
union all
select
  cast('raw_orders_2024' as varchar) as src,
  cast("id" as bigint) as "id",
  cast("status" as varchar) as "status"
from raw_orders_2024
