//! Tests of the database layer against real databases: SQLite in a temporary directory always,
//! PostgreSQL when `DATAFLOW_TEST_POSTGRES_URL` names a server (`scripts/test` starts one on
//! loopback). Each PostgreSQL test works in a schema of its own, so they run in parallel.
//!
//! Every behaviour is one `async fn(url)`; `both_backends!` makes a SQLite and a PostgreSQL test
//! of each.

use std::time::Duration;

use super::{Backend, Db, SQL_EXCERPT_CHARS, Tx, Value, sql_excerpt};
use crate::error::Error;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PG_URL_VAR: &str = "DATAFLOW_TEST_POSTGRES_URL";

/// A schema of its own on the test server, and the URL whose connections use it.
struct PgSchema {
    admin: Db,
    name: String,
    url: String,
}

impl PgSchema {
    /// `None` (with a note) when no server is configured locally; an error when in CI.
    async fn create() -> Result<Option<PgSchema>, Box<dyn std::error::Error>> {
        let base = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                return Err(format!(
                    "{PG_URL_VAR} is not set, and CI=true: the PostgreSQL tests must run in CI \
                     (scripts/test starts a server on loopback and sets it)"
                )
                .into());
            }
            _ => {
                eprintln!(
                    "note: {PG_URL_VAR} is not set, so this PostgreSQL test is skipped \
                     (scripts/test starts a server and sets it)"
                );
                return Ok(None);
            }
        };
        let admin = Db::connect(&base).await?;
        let name = format!("dataflow_test_{}", uuid::Uuid::new_v4().simple());
        admin.execute(&format!("CREATE SCHEMA {name}"), &[]).await?;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        Ok(Some(PgSchema { admin, name, url }))
    }

    async fn drop_schema(self) -> TestResult {
        let sql = format!("DROP SCHEMA {} CASCADE", self.name);
        self.admin.execute(&sql, &[]).await?;
        Ok(())
    }
}

macro_rules! both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() -> super::TestResult {
                    let dir = tempfile::tempdir()?;
                    let url = format!("sqlite:{}", dir.path().join("store.db").display());
                    super::$check(&url).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() -> super::TestResult {
                    let Some(schema) = super::PgSchema::create().await? else {
                        return Ok(());
                    };
                    super::$check(&schema.url).await?;
                    schema.drop_schema().await
                }
            )*
        }
    };
}

both_backends!(
    migrate_twice_is_idempotent,
    concurrent_migrate_applies_once,
    round_trip_every_value_type,
    returning_id_and_rows_affected,
    placeholders_inside_literals_and_comments,
    commit_and_rollback,
    dropped_tx_rolls_back,
    failed_statement_prevents_commit,
    errors_name_the_statement,
);

fn message(err: &Error) -> &str {
    match err {
        Error::Store { message, .. } => message,
        _ => "",
    }
}

async fn count_dags(db: &Db, dag_id: &str) -> Result<i64, Error> {
    let row = db
        .query_opt(
            "SELECT count(*) FROM dags WHERE dag_id = $1",
            &[dag_id.into()],
        )
        .await?;
    match row {
        Some(row) => row.i64(0),
        None => Ok(-1),
    }
}

/// Every migration, in order: what a fresh database gets.
const ALL_MIGRATIONS: [&str; 4] = [
    "0001_orchestrator",
    "0002_quality_results",
    "0003_stage_runs",
    "0004_alerts",
];

const INSERT_DAG: &str = "INSERT INTO dags (dag_id, updated_at) VALUES ($1, $2)";

async fn migrate_twice_is_idempotent(url: &str) -> TestResult {
    let db = Db::connect(url).await?;
    assert_eq!(db.migrate().await?, ALL_MIGRATIONS);
    assert!(db.migrate().await?.is_empty());
    let other = Db::connect(url).await?;
    assert!(other.migrate().await?.is_empty());
    let rows = db
        .query(
            "SELECT version, applied_at FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    assert_eq!(rows.len(), ALL_MIGRATIONS.len());
    assert_eq!(rows[0].str(0)?, "0001_orchestrator");
    assert!(rows[0].i64(1)? > 1_600_000_000_000_000, "applied_at in µs");
    for table in [
        "dags",
        "dag_runs",
        "task_instances",
        "task_attempts",
        "schedulers",
        "sla_misses",
        "quality_results",
        "stage_runs",
        "alerts",
    ] {
        let row = db
            .query_opt(&format!("SELECT count(*) FROM {table}"), &[])
            .await?;
        assert_eq!(row.map(|r| r.i64(0)).transpose()?, Some(0), "{table}");
    }
    Ok(())
}

async fn concurrent_migrate_applies_once(url: &str) -> TestResult {
    let (a, b) = (Db::connect(url).await?, Db::connect(url).await?);
    let first = tokio::spawn(async move { a.migrate().await });
    let second = tokio::spawn(async move { b.migrate().await });
    let mut applied = first.await??;
    applied.extend(second.await??);
    applied.sort();
    assert_eq!(applied, ALL_MIGRATIONS);
    Ok(())
}

async fn round_trip_every_value_type(url: &str) -> TestResult {
    let db = Db::connect(url).await?;
    db.execute(
        "CREATE TABLE round_trip (k BIGINT PRIMARY KEY, i BIGINT, f DOUBLE PRECISION, s TEXT)",
        &[],
    )
    .await?;
    let owned = String::from("by reference");
    let rows: Vec<[Value; 4]> = vec![
        [1.into(), 42i64.into(), 0.1f64.into(), "text".into()],
        [
            2.into(),
            (-7i32).into(),
            Some(2.5f64).into(),
            String::from("owned").into(),
        ],
        [3.into(), 7u32.into(), Value::from(3i64), (&owned).into()],
        [
            4.into(),
            9usize.into(),
            (-1e300f64).into(),
            Some(String::from("some")).into(),
        ],
        [
            5.into(),
            true.into(),
            f64::MIN_POSITIVE.into(),
            Some("ünï ' $1 \" ?2").into(),
        ],
        [6.into(), false.into(), 0.0f64.into(), "".into()],
        [
            7.into(),
            None::<i64>.into(),
            None::<f64>.into(),
            None::<String>.into(),
        ],
        [
            8.into(),
            Some(i64::MIN).into(),
            None::<f64>.into(),
            None::<&str>.into(),
        ],
        [9.into(), i64::MAX.into(), 1.0f64.into(), "x".into()],
    ];
    for row in &rows {
        let changed = db
            .execute(
                "INSERT INTO round_trip (k, i, f, s) VALUES ($1, $2, $3, $4)",
                row,
            )
            .await?;
        assert_eq!(changed, 1);
    }
    let got = db
        .query("SELECT k, i, f, s FROM round_trip ORDER BY k", &[])
        .await?;
    assert_eq!(got.len(), rows.len());
    assert_eq!(got[0].len(), 4);
    assert!(!got[0].is_empty());
    assert_eq!(got[0].columns(), ["k", "i", "f", "s"]);
    assert_eq!(got[0].column("s")?, 3);
    assert!(got[0].column("nope").is_err());

    let ints: Vec<Option<i64>> = got.iter().map(|r| r.opt_i64(1)).collect::<Result<_, _>>()?;
    let expected =
        [42, -7, 7, 9, 1, 0]
            .map(Some)
            .into_iter()
            .chain([None, Some(i64::MIN), Some(i64::MAX)]);
    assert_eq!(ints, expected.collect::<Vec<_>>());
    let floats: Vec<Option<f64>> = got.iter().map(|r| r.opt_f64(2)).collect::<Result<_, _>>()?;
    assert_eq!(
        floats,
        [
            Some(0.1),
            Some(2.5),
            Some(3.0),
            Some(-1e300),
            Some(f64::MIN_POSITIVE),
            Some(0.0),
            None,
            None,
            Some(1.0)
        ]
    );
    let texts: Vec<Option<&str>> = got.iter().map(|r| r.opt_str(3)).collect::<Result<_, _>>()?;
    assert_eq!(
        texts,
        [
            Some("text"),
            Some("owned"),
            Some("by reference"),
            Some("some"),
            Some("ünï ' $1 \" ?2"),
            Some(""),
            None,
            None,
            Some("x")
        ]
    );

    // Typed accessors, and their errors.
    assert_eq!(got[0].i64(0)?, 1);
    assert_eq!(got[0].str(3)?, "text");
    assert_eq!(got[1].f64(2)?, 2.5);
    assert_eq!(got[0].f64(1)?, 42.0, "integers read as floats");
    assert!(got[4].bool(1)?);
    assert!(!got[5].bool(1)?);
    assert!(got[0].bool(1).is_err(), "42 is not a boolean");
    assert_eq!(got[0].get(1), Some(&Value::Int(Some(42))));
    assert_eq!(got[0].get(4), None);
    assert!(got[6].get(1).is_some_and(Value::is_null));
    let null_int = got[6].i64(1).err().ok_or("NULL read as i64")?;
    assert!(message(&null_int).contains("`i`") && message(&null_int).contains("NULL"));
    assert!(got[6].str(3).is_err());
    assert!(got[6].f64(2).is_err());
    let mismatch = got[0].str(1).err().ok_or("integer read as text")?;
    assert!(message(&mismatch).contains("expected text, found an integer"));
    assert!(got[0].i64(3).is_err());
    assert!(got[0].opt_i64(3).is_err());
    assert!(got[0].opt_str(1).is_err());
    assert!(got[0].i64(9).is_err());

    // Placeholders compared with columns, and a NULL parameter whose type PostgreSQL could not
    // infer without the cast.
    let row = db
        .query_opt(
            "SELECT k FROM round_trip WHERE s = $1 AND (i = $2 OR CAST($3 AS BIGINT) IS NULL)",
            &["x".into(), 0.into(), None::<i64>.into()],
        )
        .await?
        .ok_or("no row")?;
    assert_eq!(row.i64(0)?, 9);
    assert!(
        db.query_opt("SELECT k FROM round_trip WHERE k = $1", &[100.into()])
            .await?
            .is_none()
    );
    Ok(())
}

async fn returning_id_and_rows_affected(url: &str) -> TestResult {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let insert_run = "INSERT INTO dag_runs \
                      (dag_id, run_id, run_type, state, logical_date, spec, created_at) \
                      VALUES ($1, $2, 'scheduled', 'queued', $3, '{}', $3) RETURNING id";
    let first = db
        .query_opt(insert_run, &["etl".into(), "r1".into(), 10.into()])
        .await?
        .ok_or("no id")?
        .i64(0)?;
    let second = db
        .query_opt(insert_run, &["etl".into(), "r2".into(), 20.into()])
        .await?
        .ok_or("no id")?
        .i64(0)?;
    assert!(second > first);
    let ti = "INSERT INTO task_instances (run_pk, task_id, state, max_tries, pool, updated_at) \
              VALUES ($1, $2, 'none', 1, 'default', 0) RETURNING id, run_pk";
    let row = db
        .query_opt(ti, &[second.into(), "load".into()])
        .await?
        .ok_or("no id")?;
    assert_eq!(row.i64(row.column("run_pk")?)?, second);
    // `execute` counts the rows of a RETURNING statement too.
    assert_eq!(db.execute(ti, &[first.into(), "load".into()]).await?, 1);
    // Foreign keys are enforced on both.
    assert!(db.execute(ti, &[9_999.into(), "x".into()]).await.is_err());
    let updated = db
        .execute(
            "UPDATE dag_runs SET state = $1 WHERE dag_id = $2 AND state = 'queued'",
            &["running".into(), "etl".into()],
        )
        .await?;
    assert_eq!(updated, 2);
    let again = db
        .execute(
            "UPDATE dag_runs SET state = $1 WHERE dag_id = $2 AND state = 'queued'",
            &["running".into(), "etl".into()],
        )
        .await?;
    assert_eq!(again, 0, "conditional update matched nothing");
    // Cascading deletes.
    db.execute("DELETE FROM dag_runs WHERE id = $1", &[second.into()])
        .await?;
    let left = db
        .query_opt("SELECT count(*) FROM task_instances", &[])
        .await?
        .ok_or("no row")?;
    assert_eq!(left.i64(0)?, 1);
    Ok(())
}

async fn placeholders_inside_literals_and_comments(url: &str) -> TestResult {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    db.execute(
        "INSERT INTO dags (dag_id, is_paused, fileloc, updated_at)\n\
         VALUES ($1, $2, 'costs $2 or ''$1'' -- $9', $3) -- $5 is not a parameter",
        &["a".into(), false.into(), 7.into()],
    )
    .await?;
    let row = db
        .query_opt(
            "SELECT fileloc /* $4 */, updated_at, is_paused, \"dag_id\" \
             FROM dags WHERE dag_id = $1",
            &["a".into()],
        )
        .await?
        .ok_or("no row")?;
    assert_eq!(row.str(0)?, "costs $2 or '$1' -- $9");
    assert_eq!(row.i64(1)?, 7);
    assert!(!row.bool(2)?);
    assert_eq!(row.str(3)?, "a");
    // The same parameter used twice, and more than nine parameters.
    let sql = "SELECT $1 || $2 || $3 || $4 || $5 || $6 || $7 || $8 || $9 || $10 || $1";
    let params: Vec<Value> = (1..=10).map(|n| n.to_string().into()).collect();
    let row = db.query_opt(sql, &params).await?.ok_or("no row")?;
    assert_eq!(row.str(0)?, "123456789101");
    Ok(())
}

async fn commit_and_rollback(url: &str) -> TestResult {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let mut tx = db.begin().await?;
    assert_eq!(tx.backend(), db.backend());
    tx.execute(INSERT_DAG, &["committed".into(), 1.into()])
        .await?;
    let inside = tx
        .query_opt("SELECT count(*) FROM dags", &[])
        .await?
        .ok_or("no row")?;
    assert_eq!(inside.i64(0)?, 1, "the transaction sees its own writes");
    assert_eq!(tx.query("SELECT dag_id FROM dags", &[]).await?.len(), 1);
    tx.commit().await?;
    assert_eq!(count_dags(&db, "committed").await?, 1);

    let mut tx = db.begin().await?;
    tx.execute(INSERT_DAG, &["rolled_back".into(), 1.into()])
        .await?;
    tx.execute("DELETE FROM dags WHERE dag_id = $1", &["committed".into()])
        .await?;
    tx.rollback().await?;
    assert_eq!(count_dags(&db, "rolled_back").await?, 0);
    assert_eq!(count_dags(&db, "committed").await?, 1);
    Ok(())
}

async fn dropped_tx_rolls_back(url: &str) -> TestResult {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let mut tx = db.begin().await?;
    tx.execute(INSERT_DAG, &["dropped".into(), 1.into()])
        .await?;
    drop(tx);
    // The same handle: the transaction is gone and the connection works.
    assert_eq!(count_dags(&db, "dropped").await?, 0);
    // Another connection can write the same key at once: no lock is left behind.
    let other = Db::connect(url).await?;
    let write = async {
        let mut tx = other.begin().await?;
        tx.execute(INSERT_DAG, &["dropped".into(), 2.into()])
            .await?;
        tx.commit().await
    };
    tokio::time::timeout(Duration::from_secs(5), write).await??;
    assert_eq!(count_dags(&db, "dropped").await?, 1);

    // A transaction dropped right after BEGIN, and one whose future is dropped mid-way.
    drop(db.begin().await?);
    let abandoned = async {
        let mut tx = db.begin().await?;
        tx.execute(INSERT_DAG, &["cancelled".into(), 1.into()])
            .await?;
        std::future::pending::<()>().await;
        Ok::<_, Error>(tx)
    };
    assert!(
        tokio::time::timeout(Duration::from_millis(50), abandoned)
            .await
            .is_err()
    );
    assert_eq!(count_dags(&db, "cancelled").await?, 0);
    db.execute(INSERT_DAG, &["after".into(), 1.into()]).await?;
    assert_eq!(count_dags(&other, "after").await?, 1, "autocommit again");
    Ok(())
}

async fn failed_statement_prevents_commit(url: &str) -> TestResult {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let mut tx = db.begin().await?;
    tx.execute(INSERT_DAG, &["twice".into(), 1.into()]).await?;
    let duplicate = tx.execute(INSERT_DAG, &["twice".into(), 1.into()]).await;
    assert!(duplicate.is_err());
    let commit = tx.commit().await.err().ok_or("commit after a failure")?;
    assert!(message(&commit).contains("rolled back"), "{commit}");
    assert_eq!(count_dags(&db, "twice").await?, 0);
    db.execute(INSERT_DAG, &["twice".into(), 1.into()]).await?;
    Ok(())
}

async fn errors_name_the_statement(url: &str) -> TestResult {
    let db = Db::connect(url).await?;
    let err = db
        .query("SELECT nope\n  FROM no_such_table", &[])
        .await
        .err()
        .ok_or("query of a missing table")?;
    let Error::Store {
        target,
        message: text,
    } = &err
    else {
        return Err(format!("not a store error: {err}").into());
    };
    assert_eq!(target, db.target());
    assert!(text.starts_with("`SELECT nope`: "), "{text}");
    assert!(text.contains("no_such_table"), "{text}");

    let long = format!("SELECT {} FROM missing", "x, ".repeat(50));
    let err = db.execute(&long, &[]).await.err().ok_or("bad SQL")?;
    let quoted = message(&err).split('`').nth(1).unwrap_or_default();
    assert_eq!(quoted.chars().count(), 80, "{err}");
    assert!(quoted.ends_with('…'));

    let err = db
        .execute("SELECT $1", &[])
        .await
        .err()
        .ok_or("missing parameter")?;
    assert!(message(&err).starts_with("`SELECT $1`: "), "{err}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SQLite only

#[tokio::test]
async fn sqlite_url_forms() -> TestResult {
    let dir = tempfile::tempdir()?;
    let nested = dir.path().join("a/b/store.db");
    for url in [
        format!("sqlite:{}", dir.path().join("one.db").display()),
        format!("sqlite://{}", dir.path().join("two.db").display()),
        nested.display().to_string(),
    ] {
        let db = Db::connect(&url).await?;
        assert_eq!(db.backend(), Backend::Sqlite);
        assert!(url.ends_with(db.target()), "{url} vs {}", db.target());
        db.migrate().await?;
    }
    assert!(nested.exists());
    let err = Db::connect("mysql://user:pw@host/db")
        .await
        .err()
        .ok_or("mysql accepted")?;
    assert!(err.to_string().contains("unsupported"), "{err}");
    assert!(!err.to_string().contains("pw"), "{err}");
    assert!(Db::connect("sqlite:").await.is_err());
    Ok(())
}

#[tokio::test]
async fn sqlite_pragmas() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = Db::connect(&dir.path().join("store.db").display().to_string()).await?;
    let pragma = |name: &'static str| {
        let db = db.clone();
        async move {
            let row = db.query_opt(&format!("PRAGMA {name}"), &[]).await?;
            row.and_then(|r| r.get(0).cloned())
                .ok_or("no value")
                .map_err(Box::<dyn std::error::Error>::from)
        }
    };
    assert_eq!(pragma("journal_mode").await?, Value::from("wal"));
    assert_eq!(pragma("synchronous").await?, Value::from(1), "NORMAL");
    assert_eq!(pragma("foreign_keys").await?, Value::from(1));
    assert_eq!(pragma("busy_timeout").await?, Value::from(10_000));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only

#[tokio::test]
async fn postgres_connection_error_names_host_and_port() -> TestResult {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("postgres://dataflow:s3cret-pw@127.0.0.1:{port}/dataflow");
    let err = Db::connect(&url)
        .await
        .err()
        .ok_or("connected to a closed port")?;
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port}/dataflow: "
        )),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    let expected = format!("127.0.0.1:{port}/dataflow");
    assert!(
        matches!(&err, Error::Store { target, .. } if *target == expected),
        "{err:?}"
    );
    let bad = Db::connect("postgres://u:s3cret-pw@host:notaport/db")
        .await
        .err()
        .ok_or("bad port accepted")?;
    assert!(!bad.to_string().contains("s3cret"), "{bad}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_types_and_reconnect() -> TestResult {
    let Some(schema) = PgSchema::create().await? else {
        return Ok(());
    };
    let db = Db::connect(&schema.url).await?;
    assert_eq!(db.backend(), Backend::Postgres);
    let row = db
        .query_opt(
            "SELECT 1::int4, 2::int2, true, 1.5::float4, 'v'::varchar, NULL::bigint, \
             $1::int4 + 1, $2::bool, $3::float8",
            &[41.into(), true.into(), 2.into()],
        )
        .await?
        .ok_or("no row")?;
    assert_eq!(
        row.values(),
        [
            Value::Int(Some(1)),
            Value::Int(Some(2)),
            Value::Int(Some(1)),
            Value::Float(Some(1.5)),
            Value::Text(Some("v".into())),
            Value::Int(None),
            Value::Int(Some(42)),
            Value::Int(Some(1)),
            Value::Float(Some(2.0)),
        ]
    );
    let err = db
        .query("SELECT 1.5::numeric", &[])
        .await
        .err()
        .ok_or("numeric")?;
    assert!(message(&err).contains("numeric"), "{err}");
    let err = db
        .query("SELECT $1::int4", &[i64::MAX.into()])
        .await
        .err()
        .ok_or("out of range")?;
    assert!(message(&err).contains("out of range"), "{err}");
    let err = db
        .query("SELECT $1::text", &[5.into()])
        .await
        .err()
        .ok_or("integer as text")?;
    assert!(message(&err).contains("cast"), "{err}");

    // The server closes the connection; the next statements reconnect.
    let pid = db
        .query_opt("SELECT pg_backend_pid()", &[])
        .await?
        .ok_or("no pid")?
        .i64(0)?;
    schema
        .admin
        .execute("SELECT pg_terminate_backend($1)", &[pid.into()])
        .await?;
    let mut reconnected = false;
    for _ in 0..20 {
        if db.query("SELECT 1", &[]).await.is_ok() {
            reconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reconnected,
        "no reconnect after the server closed the connection"
    );
    schema.drop_schema().await
}

// ---------------------------------------------------------------------------------------------
// Helpers

#[test]
fn excerpts_are_one_short_line() {
    assert_eq!(sql_excerpt("\n  SELECT a,\n b FROM t"), "SELECT a,");
    let long = "é".repeat(100);
    let short = sql_excerpt(&long);
    assert_eq!(short.chars().count(), SQL_EXCERPT_CHARS);
    assert!(short.ends_with('…'));
}

#[test]
fn handles_and_futures_can_cross_tasks() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let db: Option<Db> = None;
    send_sync(&db);
    if let Some(db) = &db {
        send(&db.execute("", &[]));
        send(&db.query("", &[]));
        send(&db.begin());
        send(&db.migrate());
    }
    let tx: Option<Tx> = None;
    if let Some(mut tx) = tx {
        send(&tx.execute("", &[]));
        send(&tx);
    }
}

#[test]
fn values_from_rust_types() {
    assert_eq!(Value::from(true), Value::Int(Some(1)));
    assert_eq!(Value::from(usize::MAX), Value::Int(Some(i64::MAX)));
    assert_eq!(Value::from(None::<&str>), Value::Text(None));
    assert!(Value::Float(None).is_null());
    assert!(!Value::from("").is_null());
}
