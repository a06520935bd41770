select {{ dbt_utils.star(from=ref('stg_orders'), except=['status']) }}
from {{ ref('stg_orders') }}
