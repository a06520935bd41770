select src, status, count(*) as n
from {{ ref('all_orders') }}
{{ dbt_utils.group_by(2) }}
