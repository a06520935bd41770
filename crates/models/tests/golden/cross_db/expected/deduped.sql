select * exclude (__dbt_row_number) from (select *, row_number() over (partition by id order by updated_at desc) as __dbt_row_number from orders) as __dbt_deduplicated where __dbt_row_number = 1
