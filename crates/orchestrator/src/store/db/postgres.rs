//! The PostgreSQL side of [`Db`](super::Db): connecting (no TLS), binding [`Value`]s to the
//! types the server inferred for the placeholders, and reading rows by column type.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::types::{FromSql, ToSql, Type};

use super::{
    Backend, Conn, Db, Inner, Row, RowMeta, State, Value, failed, sql_excerpt, store_error,
};
use crate::error::Result;

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the server named by a `postgres://` URL.
pub(super) async fn connect(url: &str) -> Result<Db> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|err| {
        store_error(
            &redact_url(url),
            format!("invalid PostgreSQL URL: {}", cause(&err)),
        )
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let target: Arc<str> = Arc::from(target(&config));
    let client = connect_client(&config, &target).await?;
    Ok(Db {
        inner: Arc::new(Inner {
            backend: Backend::Postgres,
            target,
            pg_config: Some(config),
            state: Arc::new(Mutex::new(State {
                conn: Conn::Postgres(client),
                in_tx: false,
            })),
        }),
    })
}

/// Opens one connection and drives it on a spawned task.
pub(super) async fn connect_client(
    config: &tokio_postgres::Config,
    target: &Arc<str>,
) -> Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|err| {
        store_error(
            target,
            format!("cannot connect to PostgreSQL at {target}: {}", cause(&err)),
        )
    })?;
    let target = Arc::clone(target);
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(db = %target, error = %cause(&err), "PostgreSQL connection lost");
        }
    });
    Ok(client)
}

/// `host:port/dbname` of the first host, from the parsed configuration (so no password).
fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) if host.contains(':') => format!("[{host}]"),
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(dir)) => dir.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let dbname = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{dbname}")
}

/// The URL without user, password and query string, for a URL that does not parse.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split('?').next().unwrap_or_default();
    format!("{scheme}://{rest}")
}

/// The database's own message for an error, with its causes.
pub(super) fn cause(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            message.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            message.push_str(&format!("; hint: {hint}"));
        }
        return message;
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

type PgParam = Box<dyn ToSql + Sync + Send>;

/// Prepares `sql` and converts `params` to the types the server inferred for the placeholders.
async fn prepare(
    client: &tokio_postgres::Client,
    target: &str,
    sql: &str,
    params: &[Value],
) -> Result<(tokio_postgres::Statement, Vec<PgParam>)> {
    let stmt = client
        .prepare(sql)
        .await
        .map_err(|err| failed(target, sql, &cause(&err)))?;
    if stmt.params().len() != params.len() {
        return Err(failed(
            target,
            sql,
            &format!(
                "the statement has {} placeholder(s) but {} value(s) were given",
                stmt.params().len(),
                params.len()
            ),
        ));
    }
    let binds = stmt
        .params()
        .iter()
        .zip(params)
        .enumerate()
        .map(|(idx, (ty, value))| {
            param(value, ty).map_err(|message| {
                failed(target, sql, &format!("parameter ${}: {message}", idx + 1))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((stmt, binds))
}

/// Converts a value to the Rust type matching the placeholder's PostgreSQL type.
fn param(value: &Value, ty: &Type) -> Result<PgParam, String> {
    let is_text = <String as ToSql>::accepts(ty);
    let out_of_range = |v: i64| format!("{v} is out of range for {ty}");
    Ok(match value {
        Value::Int(v) if *ty == Type::INT8 => Box::new(*v),
        Value::Int(v) if *ty == Type::INT4 => Box::new(
            v.map(|v| i32::try_from(v).map_err(|_| out_of_range(v)))
                .transpose()?,
        ),
        Value::Int(v) if *ty == Type::INT2 => Box::new(
            v.map(|v| i16::try_from(v).map_err(|_| out_of_range(v)))
                .transpose()?,
        ),
        Value::Int(v) if *ty == Type::FLOAT8 => Box::new(v.map(|v| v as f64)),
        Value::Int(v) if *ty == Type::BOOL => Box::new(
            v.map(|v| match v {
                0 => Ok(false),
                1 => Ok(true),
                v => Err(format!("{v} is not a boolean (0 or 1)")),
            })
            .transpose()?,
        ),
        Value::Float(v) if *ty == Type::FLOAT8 => Box::new(*v),
        Value::Float(v) if *ty == Type::FLOAT4 => Box::new(v.map(|v| v as f32)),
        Value::Text(v) if is_text => Box::new(v.clone()),
        // NULL fits every supported type.
        v if v.is_null() && *ty == Type::INT8 => Box::new(None::<i64>),
        v if v.is_null() && *ty == Type::FLOAT8 => Box::new(None::<f64>),
        v if v.is_null() && *ty == Type::BOOL => Box::new(None::<bool>),
        v if v.is_null() && is_text => Box::new(None::<String>),
        v => {
            return Err(format!(
                "{} cannot be bound to PostgreSQL type {ty}; cast the placeholder \
                 (e.g. CAST($1 AS BIGINT), CAST($1 AS TEXT))",
                v.describe()
            ));
        }
    })
}

fn refs(binds: &[PgParam]) -> Vec<&(dyn ToSql + Sync)> {
    binds
        .iter()
        .map(|bind| bind.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Runs one statement; the number of rows changed (or returned).
pub(super) async fn execute(
    client: &tokio_postgres::Client,
    target: &str,
    sql: &str,
    params: &[Value],
) -> Result<u64> {
    let (stmt, binds) = prepare(client, target, sql, params).await?;
    client
        .execute(&stmt, &refs(&binds))
        .await
        .map_err(|err| failed(target, sql, &cause(&err)))
}

/// Runs one query and reads every row.
pub(super) async fn query(
    client: &tokio_postgres::Client,
    target: &Arc<str>,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>> {
    let (stmt, binds) = prepare(client, target, sql, params).await?;
    let rows = client
        .query(&stmt, &refs(&binds))
        .await
        .map_err(|err| failed(target, sql, &cause(&err)))?;
    let meta = Arc::new(RowMeta {
        target: Arc::clone(target),
        sql: sql_excerpt(sql),
        columns: stmt.columns().iter().map(|c| c.name().to_owned()).collect(),
    });
    let types: Vec<&Type> = stmt.columns().iter().map(|c| c.type_()).collect();
    rows.iter()
        .map(|row| {
            let values = types
                .iter()
                .enumerate()
                .map(|(idx, ty)| {
                    value(row, idx, ty)
                        .map_err(|message| failed(target, sql, &format!("column {idx}: {message}")))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Row {
                meta: Arc::clone(&meta),
                values,
            })
        })
        .collect()
}

/// Reads one column by its PostgreSQL type.
fn value(row: &tokio_postgres::Row, idx: usize, ty: &Type) -> Result<Value, String> {
    fn get<'a, T: FromSql<'a>>(row: &'a tokio_postgres::Row, idx: usize) -> Result<T, String> {
        row.try_get(idx).map_err(|err| cause(&err))
    }
    Ok(if *ty == Type::INT8 {
        Value::Int(get(row, idx)?)
    } else if *ty == Type::INT4 {
        Value::Int(get::<Option<i32>>(row, idx)?.map(i64::from))
    } else if *ty == Type::INT2 {
        Value::Int(get::<Option<i16>>(row, idx)?.map(i64::from))
    } else if *ty == Type::FLOAT8 {
        Value::Float(get(row, idx)?)
    } else if *ty == Type::FLOAT4 {
        Value::Float(get::<Option<f32>>(row, idx)?.map(f64::from))
    } else if *ty == Type::BOOL {
        Value::Int(get::<Option<bool>>(row, idx)?.map(i64::from))
    } else if *ty == Type::VOID {
        Value::Text(None)
    } else if <String as FromSql>::accepts(ty) {
        Value::Text(get(row, idx)?)
    } else {
        return Err(format!(
            "PostgreSQL type {ty} is not supported; cast it to BIGINT, DOUBLE PRECISION or TEXT"
        ));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_have_no_credentials() {
        assert_eq!(
            redact_url("postgres://u:p@ss@h:5/db?password=x"),
            "postgres://h:5/db"
        );
        assert_eq!(redact_url("postgresql://h/db"), "postgresql://h/db");
    }
}
