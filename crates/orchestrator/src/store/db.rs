//! One database API over SQLite and PostgreSQL, so the orchestrator's queries are written once.
//!
//! SQL uses PostgreSQL's `$1 … $n` placeholders; for SQLite they are rewritten to `?1 … ?n`
//! (text inside quotes and comments is left alone). Values are integers, floats and strings
//! ([`Value`]), which is all the schema uses: `BIGINT`, `DOUBLE PRECISION` and `TEXT`. Where
//! PostgreSQL cannot infer a placeholder's type (`$1 IS NULL`, `SELECT $1`), write
//! `CAST($1 AS BIGINT)`: both dialects parse it, while SQLite rejects `$1::BIGINT`.
//!
//! A [`Db`] holds one connection behind an async mutex; clones share it, so statements from
//! clones run one at a time. A [`Tx`] holds that connection exclusively until it is committed,
//! rolled back or dropped; while a task holds a `Tx` it must use the `Tx`, not the `Db` (the
//! `Db` would wait for the `Tx` forever). A `Tx` dropped without commit is rolled back.
//!
//! SQLite is called directly inside the async functions, without `spawn_blocking`: the
//! orchestrator's statements are tiny (single-row reads and conditional updates on indexed
//! keys), so a call blocks its worker for microseconds, and moving the connection to a blocking
//! thread for each of them would cost more than it saves. Only a lock held by another process
//! can make a call wait, up to the 10 s busy timeout.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::migrate;
use crate::error::{Error, Result};

mod postgres;
mod sqlite;

/// Longest SQL excerpt quoted in an error message, in characters.
const SQL_EXCERPT_CHARS: usize = 80;

/// A value bound to a placeholder or read from a column. `None` is SQL `NULL`.
///
/// A `NULL` read from SQLite comes back as `Text(None)` (SQLite columns have no type); the
/// [`Row`] accessors treat every `None` alike.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer (`BIGINT`); booleans are stored as 0 and 1.
    Int(Option<i64>),
    /// A floating-point number (`DOUBLE PRECISION`).
    Float(Option<f64>),
    /// A string (`TEXT`).
    Text(Option<String>),
}

impl Value {
    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(
            self,
            Value::Int(None) | Value::Float(None) | Value::Text(None)
        )
    }

    /// What kind of value this is, for error messages.
    fn describe(&self) -> &'static str {
        match self {
            _ if self.is_null() => "NULL",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Text(_) => "text",
        }
    }
}

macro_rules! value_from {
    ($($ty:ty => |$v:ident| $make:expr;)*) => {
        $(impl From<$ty> for Value {
            fn from($v: $ty) -> Self {
                $make
            }
        })*
    };
}

value_from! {
    i64 => |v| Value::Int(Some(v));
    i32 => |v| Value::Int(Some(i64::from(v)));
    u32 => |v| Value::Int(Some(i64::from(v)));
    // Saturates above i64::MAX, which no count or size the orchestrator stores reaches.
    usize => |v| Value::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)));
    bool => |v| Value::Int(Some(i64::from(v)));
    f64 => |v| Value::Float(Some(v));
    &str => |v| Value::Text(Some(v.to_owned()));
    String => |v| Value::Text(Some(v));
    &String => |v| Value::Text(Some(v.clone()));
    Option<i64> => |v| Value::Int(v);
    Option<f64> => |v| Value::Float(v);
    Option<String> => |v| Value::Text(v);
    Option<&str> => |v| Value::Text(v.map(str::to_owned));
}

/// What the rows of one result share: where they came from and their column names.
#[derive(Debug)]
struct RowMeta {
    target: Arc<str>,
    /// The first line of the query, for error messages.
    sql: String,
    columns: Vec<String>,
}

/// One result row: values by column index (from 0), with the column names for lookups by name.
#[derive(Debug, Clone)]
pub struct Row {
    meta: Arc<RowMeta>,
    values: Vec<Value>,
}

impl Row {
    /// The value of column `idx`, if the row has that many columns.
    pub fn get(&self, idx: usize) -> Option<&Value> {
        self.values.get(idx)
    }

    /// The index of the column named `name` (the first one, if several share it).
    pub fn column(&self, name: &str) -> Result<usize> {
        self.meta
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| {
                self.error(format!(
                    "no column named `{name}` (columns: {})",
                    self.meta.columns.join(", ")
                ))
            })
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.meta.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// A non-NULL integer.
    pub fn i64(&self, idx: usize) -> Result<i64> {
        match self.value(idx)? {
            Value::Int(Some(v)) => Ok(*v),
            other => Err(self.mismatch(idx, "an integer", other)),
        }
    }

    /// An integer or NULL.
    pub fn opt_i64(&self, idx: usize) -> Result<Option<i64>> {
        match self.value(idx)? {
            Value::Int(v) => Ok(*v),
            other if other.is_null() => Ok(None),
            other => Err(self.mismatch(idx, "an integer or NULL", other)),
        }
    }

    /// A non-NULL string.
    pub fn str(&self, idx: usize) -> Result<&str> {
        match self.value(idx)? {
            Value::Text(Some(v)) => Ok(v),
            other => Err(self.mismatch(idx, "text", other)),
        }
    }

    /// A string or NULL.
    pub fn opt_str(&self, idx: usize) -> Result<Option<&str>> {
        match self.value(idx)? {
            Value::Text(v) => Ok(v.as_deref()),
            other if other.is_null() => Ok(None),
            other => Err(self.mismatch(idx, "text or NULL", other)),
        }
    }

    /// A non-NULL number; integers are converted.
    pub fn f64(&self, idx: usize) -> Result<f64> {
        match self.opt_f64(idx)? {
            Some(v) => Ok(v),
            None => Err(self.mismatch(idx, "a number", &Value::Float(None))),
        }
    }

    /// A number or NULL; integers are converted.
    pub fn opt_f64(&self, idx: usize) -> Result<Option<f64>> {
        match self.value(idx)? {
            Value::Float(v) => Ok(*v),
            // Lossless up to 2^53, far beyond any count or duration stored here.
            Value::Int(v) => Ok(v.map(|v| v as f64)),
            other if other.is_null() => Ok(None),
            other => Err(self.mismatch(idx, "a number or NULL", other)),
        }
    }

    /// A boolean stored as the integer 0 or 1.
    pub fn bool(&self, idx: usize) -> Result<bool> {
        match self.value(idx)? {
            Value::Int(Some(0)) => Ok(false),
            Value::Int(Some(1)) => Ok(true),
            Value::Int(Some(v)) => Err(self.error(format!(
                "{}: expected a boolean (0 or 1), found {v}",
                self.describe_column(idx)
            ))),
            other => Err(self.mismatch(idx, "a boolean (0 or 1)", other)),
        }
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn value(&self, idx: usize) -> Result<&Value> {
        self.values.get(idx).ok_or_else(|| {
            self.error(format!(
                "no column {idx}: the row has {} column(s)",
                self.values.len()
            ))
        })
    }

    fn describe_column(&self, idx: usize) -> String {
        match self.meta.columns.get(idx) {
            Some(name) => format!("column {idx} (`{name}`)"),
            None => format!("column {idx}"),
        }
    }

    fn mismatch(&self, idx: usize, expected: &str, found: &Value) -> Error {
        self.error(format!(
            "{}: expected {expected}, found {}",
            self.describe_column(idx),
            found.describe()
        ))
    }

    pub(crate) fn error(&self, message: String) -> Error {
        store_error(&self.meta.target, format!("`{}`: {message}", self.meta.sql))
    }
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The connection itself.
enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

/// The connection and whether a transaction may still be open on it: set before `BEGIN` and
/// cleared after a successful `COMMIT`/`ROLLBACK`, so a transaction whose [`Tx`] (or future) was
/// dropped half-way is rolled back by the next user.
struct State {
    conn: Conn,
    in_tx: bool,
}

struct Inner {
    backend: Backend,
    /// The file path or `host:port/dbname`; never a password.
    target: Arc<str>,
    /// How to reconnect to PostgreSQL after the server closed the connection.
    pg_config: Option<tokio_postgres::Config>,
    state: Arc<Mutex<State>>,
}

/// A handle on the metadata database. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.inner.backend)
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Opens the database named by `url`: `sqlite:PATH`, `sqlite://PATH`, a bare file path
    /// (SQLite; missing parent directories are created), or `postgres://…` /
    /// `postgresql://…` (libpq-style URL; no TLS).
    pub async fn connect(url: &str) -> Result<Db> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return postgres::connect(url).await;
        }
        let path = if let Some(path) = url.strip_prefix("sqlite://") {
            path
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            path
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(store_error(
                scheme,
                format!(
                    "unsupported database URL scheme `{scheme}://`: use sqlite:PATH, a file path, \
                     or postgres://USER@HOST:PORT/DBNAME"
                ),
            ));
        } else {
            url
        };
        sqlite::open(path)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The database for messages: the SQLite file path, or `host:port/dbname`.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Applies the migrations not applied yet, in order, and returns their names.
    pub async fn migrate(&self) -> Result<Vec<String>> {
        let list = match self.backend() {
            Backend::Sqlite => migrate::SQLITE,
            Backend::Postgres => migrate::POSTGRES,
        };
        let mut applied = Vec::new();
        for &(name, sql) in list {
            // One transaction per migration, holding the write lock (`BEGIN IMMEDIATE`, or the
            // advisory lock below) while checking whether it is still pending.
            let mut tx = self.begin().await?;
            if self.backend() == Backend::Postgres {
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    &[migrate::PG_LOCK_KEY.into()],
                )
                .await?;
            }
            tx.execute(migrate::CREATE_TABLE, &[]).await?;
            let done = tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[name.into()],
                )
                .await?;
            if done.is_some() {
                tx.commit().await?;
                continue;
            }
            tx.batch_execute(sql).await.map_err(|err| match err {
                Error::Store { target, message } => Error::Store {
                    target,
                    message: format!("migration {name}: {message}"),
                },
                other => other,
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[name.into(), now_micros().into()],
            )
            .await?;
            tx.commit().await?;
            tracing::info!(db = %self.target(), migration = name, "applied migration");
            applied.push(name.to_owned());
        }
        Ok(applied)
    }

    /// Runs one statement and returns the number of rows it changed (for a statement returning
    /// rows, such as `INSERT … RETURNING`, the number of rows returned).
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut state = self.inner.state.lock().await;
        self.inner.ready(&mut state).await?;
        state.execute(&self.inner.target, sql, params).await
    }

    /// Runs one query and returns all its rows.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut state = self.inner.state.lock().await;
        self.inner.ready(&mut state).await?;
        state.query(&self.inner.target, sql, params).await
    }

    /// Runs one query and returns its first row, if any.
    pub async fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Starts a transaction (`BEGIN IMMEDIATE` on SQLite, so it holds the write lock from the
    /// start and never fails to upgrade later; `BEGIN` on PostgreSQL).
    pub async fn begin(&self) -> Result<Tx> {
        let mut state = Arc::clone(&self.inner.state).lock_owned().await;
        self.inner.ready(&mut state).await?;
        let begin = match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        state.in_tx = true;
        state.batch_execute(&self.inner.target, begin).await?;
        Ok(Tx {
            inner: Arc::clone(&self.inner),
            state: Some(state),
            failed: false,
        })
    }
}

impl Inner {
    /// Makes the connection usable: rolls back a transaction left open by a dropped [`Tx`] and
    /// reconnects to PostgreSQL if the server closed the connection.
    async fn ready(&self, state: &mut State) -> Result<()> {
        match &mut state.conn {
            Conn::Sqlite(conn) => {
                if state.in_tx {
                    if !conn.is_autocommit() {
                        tracing::debug!(db = %self.target, "rolling back an abandoned transaction");
                        conn.execute_batch("ROLLBACK")
                            .map_err(|err| failed(&self.target, "ROLLBACK", &err.to_string()))?;
                    }
                    state.in_tx = false;
                }
            }
            Conn::Postgres(client) => {
                if client.is_closed() {
                    if let Some(config) = &self.pg_config {
                        let db = &self.target;
                        tracing::warn!(%db, "PostgreSQL connection lost; reconnecting");
                        *client = postgres::connect_client(config, &self.target).await?;
                    }
                    state.in_tx = false;
                } else if state.in_tx {
                    tracing::debug!(db = %self.target, "rolling back an abandoned transaction");
                    client
                        .batch_execute("ROLLBACK")
                        .await
                        .map_err(|err| failed(&self.target, "ROLLBACK", &postgres::cause(&err)))?;
                    state.in_tx = false;
                }
            }
        }
        Ok(())
    }
}

impl State {
    async fn execute(&mut self, target: &Arc<str>, sql: &str, params: &[Value]) -> Result<u64> {
        match &mut self.conn {
            Conn::Sqlite(conn) => sqlite::execute(conn, target, sql, params),
            Conn::Postgres(client) => postgres::execute(client, target, sql, params).await,
        }
    }

    async fn query(&mut self, target: &Arc<str>, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match &mut self.conn {
            Conn::Sqlite(conn) => sqlite::query(conn, target, sql, params),
            Conn::Postgres(client) => postgres::query(client, target, sql, params).await,
        }
    }

    /// Runs statements without parameters, possibly several separated by `;`.
    async fn batch_execute(&mut self, target: &str, sql: &str) -> Result<()> {
        match &mut self.conn {
            Conn::Sqlite(conn) => conn
                .execute_batch(sql)
                .map_err(|err| failed(target, sql, &err.to_string())),
            Conn::Postgres(client) => client
                .batch_execute(sql)
                .await
                .map_err(|err| failed(target, sql, &postgres::cause(&err))),
        }
    }

    /// Ends the transaction without awaiting, for [`Tx`]'s `Drop`: SQLite rolls back at once;
    /// PostgreSQL's `ROLLBACK` runs on a spawned task that owns the connection until it is done,
    /// so nobody can use the connection before. Without a runtime, the flag stays set and the
    /// next user rolls back.
    fn abandon(mut guard: OwnedMutexGuard<State>, target: Arc<str>) {
        match &guard.conn {
            Conn::Sqlite(conn) => {
                if conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok() {
                    guard.in_tx = false;
                }
            }
            Conn::Postgres(_) => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                runtime.spawn(async move {
                    let result = match &guard.conn {
                        Conn::Postgres(client) => client.batch_execute("ROLLBACK").await,
                        Conn::Sqlite(_) => Ok(()),
                    };
                    match result {
                        Ok(()) => guard.in_tx = false,
                        Err(err) => tracing::warn!(
                            db = %target,
                            error = %postgres::cause(&err),
                            "cannot roll back a dropped transaction; the next statement retries"
                        ),
                    }
                });
            }
        }
    }
}

/// A transaction, holding the connection exclusively until [`Tx::commit`], [`Tx::rollback`] or
/// drop (which rolls back).
///
/// If any statement in it fails, it can no longer commit: PostgreSQL aborts the whole
/// transaction on an error, so SQLite is held to the same rule and [`Tx::commit`] rolls back and
/// returns an error.
pub struct Tx {
    inner: Arc<Inner>,
    /// `Some` until commit or rollback takes it.
    state: Option<OwnedMutexGuard<State>>,
    failed: bool,
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx")
            .field("backend", &self.inner.backend)
            .field("target", &self.inner.target)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Tx {
    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Runs one statement in the transaction; see [`Db::execute`].
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let state = live(&mut self.state, &self.inner.target)?;
        let result = state.execute(&self.inner.target, sql, params).await;
        self.failed |= result.is_err();
        result
    }

    /// Runs one query in the transaction and returns all its rows.
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let state = live(&mut self.state, &self.inner.target)?;
        let result = state.query(&self.inner.target, sql, params).await;
        self.failed |= result.is_err();
        result
    }

    /// Runs one query in the transaction and returns its first row, if any.
    pub async fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs statements without parameters (a migration file) in the transaction.
    pub(crate) async fn batch_execute(&mut self, sql: &str) -> Result<()> {
        let state = live(&mut self.state, &self.inner.target)?;
        let result = state.batch_execute(&self.inner.target, sql).await;
        self.failed |= result.is_err();
        result
    }

    /// Commits. Fails, after rolling back, if a statement in the transaction failed.
    pub async fn commit(mut self) -> Result<()> {
        if self.failed {
            self.rollback_inner().await?;
            return Err(store_error(
                &self.inner.target,
                "transaction rolled back: a statement in it failed, so it cannot commit".into(),
            ));
        }
        let mut state = self.take()?;
        match state.batch_execute(&self.inner.target, "COMMIT").await {
            Ok(()) => {
                state.in_tx = false;
                Ok(())
            }
            Err(err) => {
                State::abandon(state, Arc::clone(&self.inner.target));
                Err(err)
            }
        }
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        self.rollback_inner().await
    }

    async fn rollback_inner(&mut self) -> Result<()> {
        let mut state = self.take()?;
        state.batch_execute(&self.inner.target, "ROLLBACK").await?;
        state.in_tx = false;
        Ok(())
    }

    fn take(&mut self) -> Result<OwnedMutexGuard<State>> {
        self.state.take().ok_or_else(|| ended(&self.inner.target))
    }
}

/// The connection of a transaction that has not ended.
fn live<'a>(state: &'a mut Option<OwnedMutexGuard<State>>, target: &str) -> Result<&'a mut State> {
    state.as_deref_mut().ok_or_else(|| ended(target))
}

fn ended(target: &str) -> Error {
    store_error(target, "transaction already ended".into())
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            State::abandon(state, Arc::clone(&self.inner.target));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

fn store_error(target: &str, message: String) -> Error {
    Error::Store {
        target: target.to_owned(),
        message,
    }
}

/// The error for a failed statement: its first line and the database's message.
fn failed(target: &str, sql: &str, cause: &str) -> Error {
    store_error(target, format!("`{}`: {cause}", sql_excerpt(sql)))
}

/// The first non-blank line of `sql`, trimmed to at most [`SQL_EXCERPT_CHARS`] characters.
fn sql_excerpt(sql: &str) -> String {
    let line = sql
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default();
    if line.chars().count() <= SQL_EXCERPT_CHARS {
        return line.to_owned();
    }
    let mut short: String = line.chars().take(SQL_EXCERPT_CHARS - 1).collect();
    short.push('…');
    short
}

/// Microseconds since the Unix epoch, the unit of every time column.
fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
