//! The PostgreSQL sink: `real_time_customer_metrics` (the seed's DynamoDB table), one row per
//! customer, upserted each micro-batch, and `dataflow_stream_offsets`, the last offset applied
//! per topic partition, written in the same transaction. A replayed event at or below that
//! offset is skipped, so totals never count an event twice.
//!
//! Transaction columns come only from the transactions topic and activity columns only from the
//! customer-events topic (each upsert sets its own columns), so the partitions of the two topics
//! can be owned by different processors. The offset update is conditional on the offset this
//! processor last saw: if another processor moved it, the transaction rolls back with
//! [`Error::Ownership`] and the stream reloads its state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::process::{ActivityState, TransactionState, Welford};

/// The table of applied offsets.
pub const OFFSETS_TABLE: &str = "dataflow_stream_offsets";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Microseconds since the epoch as `timestamptz` (NULL stays NULL).
const TS: &str = "'epoch'::timestamptz + interval '1 microsecond' *";
/// A `timestamptz` as microseconds since the epoch.
fn micros(column: &str) -> String {
    format!("(extract(epoch from {column}) * 1000000)::int8")
}

/// The PostgreSQL sink of one stream.
pub struct PgSink {
    client: Client,
    target: String,
    table: String,
    windows_table: String,
    /// Last applied offset and latest event time (microseconds) per (topic, partition), as
    /// read or written by this process.
    applied: HashMap<(String, i32), (i64, Option<i64>)>,
}

impl std::fmt::Debug for PgSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSink")
            .field("target", &self.target)
            .field("table", &self.table)
            .finish()
    }
}

/// A batch's writes to PostgreSQL.
#[derive(Debug, Default)]
pub struct PgBatch {
    /// New transaction state of each customer that had transactions.
    pub transactions: Vec<(i64, TransactionState)>,
    /// New activity of each customer that had customer events.
    pub activity: Vec<(i64, ActivityState)>,
    /// Last offset covered and latest event time seen per (topic, partition).
    pub offsets: Vec<(String, i32, i64, Option<i64>)>,
    /// Increments of the window aggregates.
    pub windows: Vec<WindowDelta>,
}

/// What a batch adds to one window row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowDelta {
    /// Window start, microseconds since the epoch.
    pub start_micros: i64,
    /// Window end (exclusive).
    pub end_micros: i64,
    /// Transaction status.
    pub status: String,
    /// Product category (`unknown` when the event had none).
    pub category: String,
    /// On-time transactions.
    pub transactions: i64,
    /// Their amounts, in cents.
    pub amount_cents: i64,
    /// Late transactions (older than their partition's watermark).
    pub late_transactions: i64,
    /// Their amounts, in cents.
    pub late_amount_cents: i64,
}

impl PgSink {
    /// Connects and creates the tables when missing. The password comes from the URL or
    /// `PGPASSWORD`.
    pub async fn connect(url: &str, table: &str, windows_table: &str) -> Result<PgSink> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::Postgres {
            target: "?".to_string(),
            context: "parsing the URL".to_string(),
            source: e,
        })?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let target = target(&config);
        let (client, connection) =
            config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| Error::Postgres {
                    target: target.clone(),
                    context: "connecting".to_string(),
                    source: e,
                })?;
        let logged: Arc<str> = Arc::from(target.as_str());
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(db = %logged, error = %err, "PostgreSQL connection lost");
            }
        });
        let sink = PgSink {
            client,
            target,
            table: table.to_string(),
            windows_table: windows_table.to_string(),
            applied: HashMap::new(),
        };
        sink.create_tables().await?;
        Ok(sink)
    }

    fn error(&self, context: &str) -> impl FnOnce(tokio_postgres::Error) -> Error + '_ {
        let context = context.to_string();
        move |source| Error::Postgres {
            target: self.target.clone(),
            context,
            source,
        }
    }

    async fn create_tables(&self) -> Result<()> {
        let t = &self.table;
        // One statement string runs as one transaction; the lock makes processes starting
        // together create the tables one after the other (concurrent `CREATE TABLE IF NOT
        // EXISTS` of one table can fail with a unique violation).
        let sql = format!(
            "SELECT pg_advisory_xact_lock(hashtext('dataflow.stream.create_tables'));
            CREATE TABLE IF NOT EXISTS {t} (
                customer_id bigint PRIMARY KEY,
                transaction_count bigint NOT NULL DEFAULT 0,
                total_amount_cents bigint NOT NULL DEFAULT 0,
                total_amount numeric(20,2) GENERATED ALWAYS AS (total_amount_cents / 100.0) STORED,
                high_value_count bigint NOT NULL DEFAULT 0,
                anomaly_count bigint NOT NULL DEFAULT 0,
                fixed_anomaly_count bigint NOT NULL DEFAULT 0,
                statistical_anomaly_count bigint NOT NULL DEFAULT 0,
                amount_mean double precision NOT NULL DEFAULT 0,
                amount_m2 double precision NOT NULL DEFAULT 0,
                last_transaction_time timestamptz,
                login_count bigint NOT NULL DEFAULT 0,
                last_login_time timestamptz,
                profile_update_count bigint NOT NULL DEFAULT 0,
                last_profile_update_time timestamptz,
                other_event_count bigint NOT NULL DEFAULT 0,
                last_event_time timestamptz,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (
                metrics_table text NOT NULL,
                topic text NOT NULL,
                partition integer NOT NULL,
                last_offset bigint NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (metrics_table, topic, partition)
            );
            ALTER TABLE {OFFSETS_TABLE} ADD COLUMN IF NOT EXISTS max_event_micros bigint;
            CREATE TABLE IF NOT EXISTS {w} (
                window_start timestamptz NOT NULL,
                window_end timestamptz NOT NULL,
                status text NOT NULL,
                category text NOT NULL,
                transactions bigint NOT NULL DEFAULT 0,
                amount_cents bigint NOT NULL DEFAULT 0,
                amount numeric(20,2) GENERATED ALWAYS AS (amount_cents / 100.0) STORED,
                late_transactions bigint NOT NULL DEFAULT 0,
                late_amount_cents bigint NOT NULL DEFAULT 0,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (window_start, status, category)
            );",
            w = self.windows_table
        );
        self.client
            .batch_execute(&sql)
            .await
            .map_err(self.error("creating the metrics tables"))
    }

    /// The last offset of `topic`'s `partition` applied to the metrics (-1 when none).
    pub async fn applied_offset(&mut self, topic: &str, partition: i32) -> Result<i64> {
        Ok(self.applied(topic, partition).await?.0)
    }

    /// The last applied offset (-1 when none) and the latest event time seen (microseconds)
    /// of `topic`'s `partition`.
    pub async fn applied(&mut self, topic: &str, partition: i32) -> Result<(i64, Option<i64>)> {
        let key = (topic.to_string(), partition);
        if let Some(applied) = self.applied.get(&key) {
            return Ok(*applied);
        }
        let sql = format!(
            "SELECT last_offset, max_event_micros FROM {OFFSETS_TABLE}
             WHERE metrics_table = $1 AND topic = $2 AND partition = $3"
        );
        let row = self
            .client
            .query_opt(&sql, &[&self.table, &topic, &partition])
            .await
            .map_err(self.error("reading applied offsets"))?;
        let applied = row.map_or((-1, None), |r| (r.get::<_, i64>(0), r.get(1)));
        self.applied.insert(key, applied);
        Ok(applied)
    }

    /// Forgets the cached offsets (after a rebalance or an error).
    pub fn refresh(&mut self) {
        self.applied.clear();
    }

    /// The stored transaction state of these customers (absent ones have none yet).
    pub async fn transaction_states(
        &self,
        customers: &[i64],
    ) -> Result<HashMap<i64, TransactionState>> {
        let sql = format!(
            "SELECT customer_id, transaction_count, total_amount_cents, high_value_count,
                    fixed_anomaly_count, statistical_anomaly_count, anomaly_count, amount_mean,
                    amount_m2, {}
             FROM {} WHERE customer_id = ANY($1)",
            micros("last_transaction_time"),
            self.table
        );
        let rows = self
            .client
            .query(&sql, &[&customers])
            .await
            .map_err(self.error("reading customer metrics"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let state = TransactionState {
                    stats: Welford {
                        count: r.get::<_, i64>(1) as u64,
                        mean: r.get(7),
                        m2: r.get(8),
                    },
                    total_cents: r.get(2),
                    high_value: r.get(3),
                    fixed_anomalies: r.get(4),
                    statistical_anomalies: r.get(5),
                    anomalies: r.get(6),
                    last_transaction_micros: r.get(9),
                };
                (r.get::<_, i64>(0), state)
            })
            .collect())
    }

    /// The stored activity of these customers.
    pub async fn activity_states(&self, customers: &[i64]) -> Result<HashMap<i64, ActivityState>> {
        let sql = format!(
            "SELECT customer_id, login_count, {}, profile_update_count, {}, other_event_count
             FROM {} WHERE customer_id = ANY($1)",
            micros("last_login_time"),
            micros("last_profile_update_time"),
            self.table
        );
        let rows = self
            .client
            .query(&sql, &[&customers])
            .await
            .map_err(self.error("reading customer metrics"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let state = ActivityState {
                    logins: r.get(1),
                    last_login_micros: r.get(2),
                    profile_updates: r.get(3),
                    last_profile_update_micros: r.get(4),
                    other_events: r.get(5),
                    // `last_event_time` is shared with transactions and merged with
                    // greatest() on write, so the activity need not know the stored value.
                    last_event_micros: None,
                };
                (r.get::<_, i64>(0), state)
            })
            .collect())
    }

    /// Writes a batch in one transaction: offsets first (conditional on the offsets this
    /// process last saw), then the customers' rows.
    pub async fn write(&mut self, batch: &PgBatch) -> Result<()> {
        if batch.offsets.is_empty() {
            return Ok(());
        }
        let mut expected = Vec::with_capacity(batch.offsets.len());
        for (topic, partition, _, _) in &batch.offsets {
            expected.push(self.applied_offset(topic, *partition).await?);
        }
        let table = self.table.clone();
        let windows_table = self.windows_table.clone();
        let target = self.target.clone();
        let err = |context: &'static str| {
            let target = target.clone();
            move |source| Error::Postgres {
                target,
                context: context.to_string(),
                source,
            }
        };
        let tx = self
            .client
            .transaction()
            .await
            .map_err(err("starting a transaction"))?;
        let offset_sql = format!(
            "INSERT INTO {OFFSETS_TABLE} AS o
                (metrics_table, topic, partition, last_offset, max_event_micros)
             VALUES ($1, $2, $3, $4, $6)
             ON CONFLICT (metrics_table, topic, partition)
             DO UPDATE SET last_offset = excluded.last_offset,
                max_event_micros = excluded.max_event_micros, updated_at = now()
             WHERE o.last_offset = $5"
        );
        for ((topic, partition, offset, max_event), expected) in batch.offsets.iter().zip(&expected)
        {
            let changed = tx
                .execute(
                    &offset_sql,
                    &[&table, topic, partition, offset, expected, max_event],
                )
                .await
                .map_err(err("recording applied offsets"))?;
            if changed != 1 {
                let found: i64 = tx
                    .query_one(
                        &format!(
                            "SELECT last_offset FROM {OFFSETS_TABLE}
                             WHERE metrics_table = $1 AND topic = $2 AND partition = $3"
                        ),
                        &[&table, topic, partition],
                    )
                    .await
                    .map_err(err("reading applied offsets"))?
                    .get(0);
                drop(tx);
                self.applied.clear();
                return Err(Error::Ownership {
                    topic: topic.clone(),
                    partition: *partition,
                    expected: *expected,
                    found,
                });
            }
        }
        if !batch.transactions.is_empty() {
            upsert_transactions(&tx, &table, &batch.transactions)
                .await
                .map_err(err("upserting customer transaction metrics"))?;
        }
        if !batch.activity.is_empty() {
            upsert_activity(&tx, &table, &batch.activity)
                .await
                .map_err(err("upserting customer activity metrics"))?;
        }
        if !batch.windows.is_empty() {
            upsert_windows(&tx, &windows_table, &batch.windows)
                .await
                .map_err(err("adding to the window aggregates"))?;
        }
        tx.commit().await.map_err(err("committing"))?;
        for (topic, partition, offset, max_event) in &batch.offsets {
            self.applied
                .insert((topic.clone(), *partition), (*offset, *max_event));
        }
        Ok(())
    }
}

async fn upsert_windows(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    rows: &[WindowDelta],
) -> std::result::Result<u64, tokio_postgres::Error> {
    let starts: Vec<i64> = rows.iter().map(|w| w.start_micros).collect();
    let ends: Vec<i64> = rows.iter().map(|w| w.end_micros).collect();
    let statuses: Vec<&str> = rows.iter().map(|w| w.status.as_str()).collect();
    let categories: Vec<&str> = rows.iter().map(|w| w.category.as_str()).collect();
    let counts: Vec<i64> = rows.iter().map(|w| w.transactions).collect();
    let cents: Vec<i64> = rows.iter().map(|w| w.amount_cents).collect();
    let late: Vec<i64> = rows.iter().map(|w| w.late_transactions).collect();
    let late_cents: Vec<i64> = rows.iter().map(|w| w.late_amount_cents).collect();
    let sql = format!(
        "INSERT INTO {table} AS w (window_start, window_end, status, category, transactions,
            amount_cents, late_transactions, late_amount_cents)
         SELECT {TS} s, {TS} e, st, cat, n, cents, late, late_cents
         FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::int8[],
                     $7::int8[], $8::int8[]) AS u(s, e, st, cat, n, cents, late, late_cents)
         ON CONFLICT (window_start, status, category) DO UPDATE SET
            transactions = w.transactions + excluded.transactions,
            amount_cents = w.amount_cents + excluded.amount_cents,
            late_transactions = w.late_transactions + excluded.late_transactions,
            late_amount_cents = w.late_amount_cents + excluded.late_amount_cents,
            updated_at = now()"
    );
    tx.execute(
        &sql,
        &[
            &starts,
            &ends,
            &statuses,
            &categories,
            &counts,
            &cents,
            &late,
            &late_cents,
        ],
    )
    .await
}

async fn upsert_transactions(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    rows: &[(i64, TransactionState)],
) -> std::result::Result<u64, tokio_postgres::Error> {
    let column =
        |f: fn(&TransactionState) -> i64| -> Vec<i64> { rows.iter().map(|(_, s)| f(s)).collect() };
    let customers: Vec<i64> = rows.iter().map(|(c, _)| *c).collect();
    let counts = column(|s| s.stats.count as i64);
    let totals = column(|s| s.total_cents);
    let high = column(|s| s.high_value);
    let fixed = column(|s| s.fixed_anomalies);
    let statistical = column(|s| s.statistical_anomalies);
    let anomalies = column(|s| s.anomalies);
    let means: Vec<f64> = rows.iter().map(|(_, s)| s.stats.mean).collect();
    let m2s: Vec<f64> = rows.iter().map(|(_, s)| s.stats.m2).collect();
    let last: Vec<Option<i64>> = rows
        .iter()
        .map(|(_, s)| s.last_transaction_micros)
        .collect();
    let sql = format!(
        "INSERT INTO {table} AS m (customer_id, transaction_count, total_amount_cents,
            high_value_count, fixed_anomaly_count, statistical_anomaly_count, anomaly_count,
            amount_mean, amount_m2, last_transaction_time, last_event_time)
         SELECT c, n, total, high, fixed, stat, anomalies, mean, m2, {TS} last, {TS} last
         FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                     $7::int8[], $8::float8[], $9::float8[], $10::int8[])
              AS u(c, n, total, high, fixed, stat, anomalies, mean, m2, last)
         ON CONFLICT (customer_id) DO UPDATE SET
            transaction_count = excluded.transaction_count,
            total_amount_cents = excluded.total_amount_cents,
            high_value_count = excluded.high_value_count,
            fixed_anomaly_count = excluded.fixed_anomaly_count,
            statistical_anomaly_count = excluded.statistical_anomaly_count,
            anomaly_count = excluded.anomaly_count,
            amount_mean = excluded.amount_mean,
            amount_m2 = excluded.amount_m2,
            last_transaction_time = excluded.last_transaction_time,
            last_event_time = greatest(m.last_event_time, excluded.last_event_time),
            updated_at = now()"
    );
    tx.execute(
        &sql,
        &[
            &customers,
            &counts,
            &totals,
            &high,
            &fixed,
            &statistical,
            &anomalies,
            &means,
            &m2s,
            &last,
        ],
    )
    .await
}

async fn upsert_activity(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    rows: &[(i64, ActivityState)],
) -> std::result::Result<u64, tokio_postgres::Error> {
    let customers: Vec<i64> = rows.iter().map(|(c, _)| *c).collect();
    let logins: Vec<i64> = rows.iter().map(|(_, s)| s.logins).collect();
    let last_login: Vec<Option<i64>> = rows.iter().map(|(_, s)| s.last_login_micros).collect();
    let updates: Vec<i64> = rows.iter().map(|(_, s)| s.profile_updates).collect();
    let last_update: Vec<Option<i64>> = rows
        .iter()
        .map(|(_, s)| s.last_profile_update_micros)
        .collect();
    let others: Vec<i64> = rows.iter().map(|(_, s)| s.other_events).collect();
    let last_event: Vec<Option<i64>> = rows.iter().map(|(_, s)| s.last_event_micros).collect();
    let sql = format!(
        "INSERT INTO {table} AS m (customer_id, login_count, last_login_time,
            profile_update_count, last_profile_update_time, other_event_count, last_event_time)
         SELECT c, logins, {TS} last_login, updates, {TS} last_update, others, {TS} last_event
         FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                     $7::int8[])
              AS u(c, logins, last_login, updates, last_update, others, last_event)
         ON CONFLICT (customer_id) DO UPDATE SET
            login_count = excluded.login_count,
            last_login_time = excluded.last_login_time,
            profile_update_count = excluded.profile_update_count,
            last_profile_update_time = excluded.last_profile_update_time,
            other_event_count = excluded.other_event_count,
            last_event_time = greatest(m.last_event_time, excluded.last_event_time),
            updated_at = now()"
    );
    tx.execute(
        &sql,
        &[
            &customers,
            &logins,
            &last_login,
            &updates,
            &last_update,
            &others,
            &last_event,
        ],
    )
    .await
}

/// `host:port/dbname` of the first host (no password).
fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(dir)) => dir.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}
