{{ dbt_utils.deduplicate(relation=ref('orders'), partition_by='id', order_by='updated_at desc') }}
