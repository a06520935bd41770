select {{ dbt_utils.nullcheck(adapter.get_columns_in_relation(ref('blanks'))) }}
from {{ ref('blanks') }}
