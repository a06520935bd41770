{{ config(materialized='incremental', unique_key='order_id') }}
select order_id, amount, order_date, '{{ invocation_id }}' as loaded_by,
  '{{ env_var("GOLDEN_UNIT_REGION", "eu") }}' as region
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where order_date > (select max(order_date) from {{ this }})
{% endif %}
