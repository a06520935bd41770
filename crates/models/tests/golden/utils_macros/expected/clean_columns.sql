select "id",
  nullif("note", '') as "note",
  nullif("code", '') as "code"
from blanks
