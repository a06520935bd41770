select id, amount from orders
