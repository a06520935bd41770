select *, note is null as note_is_null, code is null as code_is_null
from (select "id",
  nullif("note", '') as "note",
  nullif("code", '') as "code" from blanks) as cleaned
