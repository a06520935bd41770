{%- set counts = dbt_utils.get_query_results_as_dict(
    "select status, count(*) as n from " ~ ref('all_orders') ~ " group by status order by status") -%}
select
{%- for status in counts['status'] %}
  {{ counts['n'][loop.index0] }} as {{ status }}_orders{% if not loop.last %},{% endif %}
{%- endfor %}
