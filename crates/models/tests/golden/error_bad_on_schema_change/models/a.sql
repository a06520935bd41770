{{ config(materialized='incremental', on_schema_change='append_columns') }}
select 1 as x
