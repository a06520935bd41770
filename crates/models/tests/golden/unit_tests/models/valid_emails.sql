{{ config(materialized='ephemeral') }}
select id, email, email like '%@%.%' as is_valid from {{ source('crm', 'customers') }}
