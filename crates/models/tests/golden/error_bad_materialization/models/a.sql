{{ config(materialized='snapshot_table') }}
select 1 as x
