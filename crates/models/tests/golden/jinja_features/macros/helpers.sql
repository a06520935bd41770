{% macro cents(column) -%}
  cast({{ column }} * 100 as bigint)
{%- endmacro %}

{% macro cents_total(column) -%}
  sum({{ cents(column) }})
{%- endmacro %}

{% macro wrap_in_cte(name) -%}
  with {{ name }} as (
    {{ caller() }}
  )
  select * from {{ name }}
{%- endmacro %}
