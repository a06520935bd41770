//! The SQLite side of [`Db`](super::Db): opening the file with the pragmas several processes
//! need, binding [`Value`]s, reading rows, and rewriting `$n` placeholders to `?n`.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::{
    Backend, Conn, Db, Inner, Row, RowMeta, State, Value, failed, sql_excerpt, store_error,
};
use crate::error::Result;

/// How long SQLite waits for another process's lock before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_millis(10_000);

/// Opens (creating it and its directory if needed) the SQLite file at `path`.
pub(super) fn open(path: &str) -> Result<Db> {
    let target: Arc<str> = Arc::from(path);
    if path.is_empty() {
        return Err(store_error(
            "sqlite",
            "empty SQLite path: use sqlite:PATH or a file path".into(),
        ));
    }
    if path != ":memory:"
        && let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|err| {
            store_error(
                &target,
                format!("cannot create directory {}: {err}", parent.display()),
            )
        })?;
    }
    let conn = rusqlite::Connection::open(path)
        .map_err(|err| store_error(&target, format!("cannot open SQLite database: {err}")))?;
    let pragma = |what: &str, err: rusqlite::Error| {
        store_error(&target, format!("cannot set PRAGMA {what}: {err}"))
    };
    // Several processes (schedulers, CLI commands) may share the file: wait for their locks,
    // and let readers proceed while one writes.
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|err| pragma("busy_timeout=10000", err))?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        .map_err(|err| pragma("journal_mode=WAL", err))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|err| pragma("synchronous=NORMAL", err))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|err| pragma("foreign_keys=ON", err))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(Db {
        inner: Arc::new(Inner {
            backend: Backend::Sqlite,
            target,
            pg_config: None,
            state: Arc::new(Mutex::new(State {
                conn: Conn::Sqlite(conn),
                in_tx: false,
            })),
        }),
    })
}

/// Binds a [`Value`] to a SQLite placeholder.
struct SqliteParam<'a>(&'a Value);

impl rusqlite::ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Sql};
        Ok(ToSqlOutput::Owned(match self.0 {
            Value::Int(Some(v)) => Sql::Integer(*v),
            Value::Float(Some(v)) => Sql::Real(*v),
            Value::Text(Some(v)) => return Ok(ToSqlOutput::from(v.as_str())),
            Value::Int(None) | Value::Float(None) | Value::Text(None) => Sql::Null,
        }))
    }
}

fn bind(params: &[Value]) -> impl rusqlite::Params + '_ {
    rusqlite::params_from_iter(params.iter().map(SqliteParam))
}

/// Runs one statement; the number of rows changed, or returned for `… RETURNING`.
pub(super) fn execute(
    conn: &rusqlite::Connection,
    target: &str,
    sql: &str,
    params: &[Value],
) -> Result<u64> {
    let fail = |err: rusqlite::Error| failed(target, sql, &err.to_string());
    let mut stmt = conn.prepare_cached(&placeholders(sql)).map_err(fail)?;
    if stmt.column_count() == 0 {
        let changed = stmt.execute(bind(params)).map_err(fail)?;
        return Ok(changed as u64);
    }
    // `execute` refuses statements returning rows (`… RETURNING`); step through them instead.
    let mut rows = stmt.query(bind(params)).map_err(fail)?;
    let mut count = 0;
    while rows.next().map_err(fail)?.is_some() {
        count += 1;
    }
    Ok(count)
}

/// Runs one query and reads every row.
pub(super) fn query(
    conn: &rusqlite::Connection,
    target: &Arc<str>,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>> {
    use rusqlite::types::ValueRef;
    let fail = |err: rusqlite::Error| failed(target, sql, &err.to_string());
    let mut stmt = conn.prepare_cached(&placeholders(sql)).map_err(fail)?;
    let meta = Arc::new(RowMeta {
        target: Arc::clone(target),
        sql: sql_excerpt(sql),
        columns: stmt.column_names().into_iter().map(String::from).collect(),
    });
    let width = meta.columns.len();
    let mut rows = stmt.query(bind(params)).map_err(fail)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let mut values = Vec::with_capacity(width);
        for idx in 0..width {
            values.push(match row.get_ref(idx).map_err(fail)? {
                ValueRef::Null => Value::Text(None),
                ValueRef::Integer(v) => Value::Int(Some(v)),
                ValueRef::Real(v) => Value::Float(Some(v)),
                ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => Value::Text(Some(text.to_owned())),
                    Err(err) => {
                        return Err(failed(
                            target,
                            sql,
                            &format!("column {idx} holds text that is not UTF-8: {err}"),
                        ));
                    }
                },
                ValueRef::Blob(_) => {
                    return Err(failed(
                        target,
                        sql,
                        &format!("column {idx} holds a BLOB, which the store does not use"),
                    ));
                }
            });
        }
        out.push(Row {
            meta: Arc::clone(&meta),
            values,
        });
    }
    Ok(out)
}

/// Rewrites PostgreSQL placeholders `$1 … $n` to SQLite's `?1 … ?n`, leaving text in quotes
/// (`'…'`, `"…"`) and comments alone.
fn placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut i = 0;
    // Every byte compared below is ASCII, so every index used to slice is a char boundary.
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                // A doubled quote inside ends this literal and starts the next: same result.
                i = match bytes[i + 1..].iter().position(|&b| b == quote) {
                    Some(len) => i + 1 + len + 1,
                    None => bytes.len(),
                };
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |len| i + len + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |len| i + 2 + len + 2);
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                && !(i > 0 && is_identifier_byte(bytes[i - 1])) =>
            {
                out.push_str(&sql[copied..i]);
                out.push('?');
                i += 1;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// Whether `b` can be part of an identifier (`a$1` is a name in PostgreSQL, not a placeholder).
fn is_identifier_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || !b.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_quotes_and_comments() {
        let sql = "SELECT $1, '$2', 'it''s $3', \"a$4\", $10, x$5 -- $6\n, $2 /* $7 */ FROM t";
        assert_eq!(
            placeholders(sql),
            "SELECT ?1, '$2', 'it''s $3', \"a$4\", ?10, x$5 -- $6\n, ?2 /* $7 */ FROM t"
        );
        assert!(matches!(placeholders("SELECT 1"), Cow::Borrowed(_)));
        assert_eq!(placeholders("SELECT '$1"), "SELECT '$1");
        assert_eq!(placeholders("SELECT $"), "SELECT $");
        assert_eq!(placeholders("SELECT é$1"), "SELECT é$1");
        assert_eq!(placeholders("SELECT ($1)"), "SELECT (?1)");
    }
}
