select id, email, email like '%@%.%' as is_valid from customers
