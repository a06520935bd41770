{% macro fine() -%}
  1
{%- endmacro %}

{% macro broken(x) -%}
  {{ x }} + {{ var('not_set_anywhere') }}
{%- endmacro %}
