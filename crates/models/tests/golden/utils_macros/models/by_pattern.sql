{%- set relations = dbt_utils.get_relations_by_pattern('%', 'raw\_%', exclude='%2023') -%}
{%- for relation in relations %}
select '{{ relation.identifier }}' as name, '{{ relation.schema }}' as schema_name, count(*) as n
from {{ relation }}
{%- if not loop.last %}
union all{% endif %}
{%- endfor %}
