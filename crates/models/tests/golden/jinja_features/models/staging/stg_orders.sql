{# comments vanish #}
{%- set columns = ['id', 'region', 'amount'] -%}
select
  {%- for column in columns %}
  {{ column }}{{ "," if not loop.last }}
  {%- endfor %}
from {{ ref('orders_seed') }}
where amount >= {{ var('min_amount') }}
  and region in ({% for r in var('regions') %}'{{ r }}'{% if not loop.last %}, {% endif %}{% endfor %})
  {%- if var('only_big', false) %} and amount > 1000{% endif %}
