with __dbt__cte__base as (select id, amount from orders) select id, amount * 2 as doubled from __dbt__cte__base
