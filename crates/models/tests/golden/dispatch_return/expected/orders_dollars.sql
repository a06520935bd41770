select
    id,
    (amount_cents / 100)::numeric(16, 2) as amount,
    (cast(cast(shipped_at as date) as bigint) - cast(cast(created_at as date) as bigint)) as days_to_ship,
    cast(id as varchar) as id_text,
    try_cast('12' as int) as twelve,
    "order" as quoted_name_is_an_identifier_not_a_value,
    true as executed,
    'it''s' as literal,
    (coalesce(amount_cents, 0) + coalesce(tip_cents, 0)) as total_cents,
    split_part(split_part(regexp_replace(url, '^(android-app|https?)://', ''), '/', 1), '?', 1) as host,
    split_part(regexp_replace(regexp_replace(url, '^(android-app|https?)://', ''), '^[^/]*/?', ''), '?', 1) as path,
    nullif(split_part(split_part(url, 'utm_source=', 2), '&', 1), '') as source,
    (case when amount_cents < 0 then 0 when amount_cents >= 2000 then 4 + 1 else cast(floor((amount_cents - 0) * 4 / (2000 - 0)) as bigint) + 1 end) as bucket,
    round((2 * 3961 * asin(sqrt(power(sin(radians((48.85 - lat) / 2)), 2) + cos(radians(lat)) * cos(radians(48.85)) * power(sin(radians((2.35 - lon) / 2)), 2))) * 1.60934)) as km_to_paris,
    'order_total' as slug
from (select *, 'x' as "order" from orders)
