{{ config(tags=['staging', 'products']) }}

select
    product_id,
    trim(product_name) as product_name,
    coalesce(lower(trim(product_category)), 'uncategorized') as product_category,
    price
from {{ source('raw', 'products') }}
where product_id is not null
