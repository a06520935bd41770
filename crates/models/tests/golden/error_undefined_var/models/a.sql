select 1 as x
where {{ var('not_set') }} = 1
