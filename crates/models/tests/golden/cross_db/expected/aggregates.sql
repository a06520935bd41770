select
  id,
  string_agg(region, ', ' order by region) as regions,
  first_value(region) as any_region,
  max(case when status = 'paid' then amount else null end) as "s_paid",
  max(case when status = 'it''s' then amount else null end) as "s_it's"
from orders
group by id
