{#- Share of row-level checks a row passes (0..1): a check passes when the column is not null,
    not blank and not false. The brief's calculate_row_quality_score. -#}
{% macro calculate_row_quality_score(columns) -%}
    cast((
    {%- for column in columns %}
        case when {{ column }} is null or trim(cast({{ column }} as varchar)) in ('', 'false') then 0 else 1 end
        {%- if not loop.last %} +{% endif %}
    {%- endfor %}
    ) as double) / {{ columns | length }}
{%- endmacro %}
