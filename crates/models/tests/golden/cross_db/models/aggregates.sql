select
  id,
  {{ dbt.listagg('region', "', '", 'order by region') }} as regions,
  {{ dbt.any_value('region') }} as any_region,
  {{ dbt_utils.pivot('status', ['paid', "it's"], prefix='s_', agg='max', then_value='amount', else_value='null') }}
from {{ ref('orders') }}
group by id
