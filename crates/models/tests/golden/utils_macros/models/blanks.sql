select 1 as id, '' as note, 'a' as code
union all
select 2, 'kept', ''
