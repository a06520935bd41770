select
    id,
    {{ cents_to_dollars('amount_cents') }} as amount,
    {{ days_between('created_at', 'shipped_at') }} as days_to_ship,
    cast(id as {{ type_string() }}) as id_text,
    {{ safe_cast("'12'", type_int()) }} as twelve,
    {{ adapter.quote('order') }} as quoted_name_is_an_identifier_not_a_value,
    {% if execute %}true{% else %}false{% endif %} as executed,
    {{ dbt.string_literal("it's") }} as literal,
    {{ dbt_utils.safe_add(['amount_cents', 'tip_cents']) }} as total_cents,
    {{ dbt_utils.get_url_host('url') }} as host,
    {{ dbt_utils.get_url_path('url') }} as path,
    {{ dbt_utils.get_url_parameter('url', 'utm_source') }} as source,
    {{ dbt_utils.width_bucket('amount_cents', 0, 2000, 4) }} as bucket,
    round({{ dbt_utils.haversine_distance('lat', 'lon', 48.85, 2.35, unit='km') }}) as km_to_paris,
    '{{ dbt_utils.slugify("Order Total!") }}' as slug
from (select *, 'x' as "order" from {{ ref('orders') }})
