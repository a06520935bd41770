select *, note is null as note_is_null, code is null as code_is_null
from ({{ dbt_utils.nullcheck_table(ref('blanks')) }}) as cleaned
