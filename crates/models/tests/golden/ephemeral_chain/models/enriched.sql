{{ config(materialized='ephemeral') }}
select id, amount * 2 as doubled from {{ ref('base') }}
