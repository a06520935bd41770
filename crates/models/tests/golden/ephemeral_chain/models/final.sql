{{ config(materialized='table') }}
-- a leading comment stays first
with extra as (select 1 as one)
select e.*, extra.one from {{ ref('enriched') }} e, extra
