-- a leading comment stays first
with __dbt__cte__base as (select id, amount from orders), __dbt__cte__enriched as (select id, amount * 2 as doubled from __dbt__cte__base), extra as (select 1 as one)
select e.*, extra.one from __dbt__cte__enriched e, extra
