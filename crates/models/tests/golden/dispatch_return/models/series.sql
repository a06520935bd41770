{{ dbt_utils.generate_series(3) }}
