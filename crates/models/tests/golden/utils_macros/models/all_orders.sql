{{ dbt_utils.log_info('union of the raw_orders_ tables') }}
{{ dbt_utils.union_relations(
    relations=dbt_utils.get_relations_by_prefix(target.schema, 'raw_orders_'),
    source_column_name='src') }}
