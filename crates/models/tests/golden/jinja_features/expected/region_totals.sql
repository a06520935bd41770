with totals as (
    
select region, sum(cast(amount * 100 as bigint)) as cents, 'dev' as target_name,
  'region_totals' as relation, false as incremental,
  'fallback' as from_env,
  '2024-05-01 12:00:00+00:00' as started, '00000000-0000-7000-8000-000000000000' as invocation
from stg_orders
group by region

  )
  select * from totals
