{{ config(unique_key='region', materialized='incremental') }}
{% call wrap_in_cte('totals') %}
select region, {{ cents_total('amount') }} as cents, '{{ target.name }}' as target_name,
  '{{ this }}' as relation, {{ 'true' if is_incremental() else 'false' }} as incremental,
  '{{ env_var("DATAFLOW_GOLDEN_UNSET", "fallback") }}' as from_env,
  '{{ run_started_at }}' as started, '{{ invocation_id }}' as invocation
from {{ ref('stg_orders') }}
group by region
{% endcall %}
