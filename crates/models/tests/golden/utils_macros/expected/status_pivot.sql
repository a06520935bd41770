select
  1 as open_orders,
  3 as paid_orders
