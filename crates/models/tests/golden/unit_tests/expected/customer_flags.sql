with __dbt__cte__valid_emails as (select id, email, email like '%@%.%' as is_valid from customers) select id as customer_id, is_valid from __dbt__cte__valid_emails
