{% macro cents_to_dollars(column_name) -%}
    {{ return(adapter.dispatch('cents_to_dollars')(column_name)) }}
{%- endmacro %}

{% macro default__cents_to_dollars(column_name) -%}
    ({{ column_name }} / 100)::numeric(16, 2)
{%- endmacro %}

{% macro days_between(a, b) -%}
    {{ return(adapter.dispatch('datediff', 'dbt')(a, b, 'day')) }}
{%- endmacro %}
