select {{ dbt_utils.no_such_macro('x') }} as y
