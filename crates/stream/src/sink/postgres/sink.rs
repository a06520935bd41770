//! The sink proper: the tables, the applied offsets and each batch's transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use super::states::PgStates;
use super::upsert::{CustomerRows, upsert_customers, upsert_windows};
use crate::error::{Error, Result};
use crate::process::{ActivityState, TransactionState};

/// The table of applied offsets.
pub const OFFSETS_TABLE: &str = "dataflow_stream_offsets";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Percentage of each page of the metrics table filled by inserts (the rest is for updates).
const METRICS_FILLFACTOR: u32 = 70;

/// Microseconds since the epoch as `timestamptz` (NULL stays NULL).
pub(super) const TS: &str = "'epoch'::timestamptz + interval '1 microsecond' *";
/// A `timestamptz` as microseconds since the epoch.
pub(super) fn micros(column: &str) -> String {
    format!("(extract(epoch from {column}) * 1000000)::int8")
}

/// The PostgreSQL sink of one stream.
pub struct PgSink {
    pub(super) client: Client,
    /// The state reads, on a connection of their own.
    states: PgStates,
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
        let client = open(&config, &target).await?;
        let states = PgStates::new(open(&config, &target).await?, &target, table);
        let sink = PgSink {
            client,
            states,
            target,
            table: table.to_string(),
            windows_table: windows_table.to_string(),
            applied: HashMap::new(),
        };
        sink.create_tables().await?;
        Ok(sink)
    }

    /// The reader of customer states, which does not wait for this sink's writes: a state
    /// read while a batch's transaction is under way shows the state before that batch.
    pub fn states(&self) -> PgStates {
        self.states.clone()
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
            ) WITH (fillfactor = {METRICS_FILLFACTOR});
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = '{t}'::regclass
                               AND 'fillfactor={METRICS_FILLFACTOR}' = ANY(reloptions)) THEN
                    ALTER TABLE {t} SET (fillfactor = {METRICS_FILLFACTOR});
                END IF;
            END $$;
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
        let started = std::time::Instant::now();
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
        let offsets_us = started.elapsed().as_micros() as u64;
        let customers = CustomerRows::new(&batch.transactions, &batch.activity)?;
        let rows_us = started.elapsed().as_micros() as u64 - offsets_us;
        // Both statements are sent at once (tokio_postgres pipelines them on the connection);
        // each one's time is from the start of both to its answer.
        let upserting = std::time::Instant::now();
        let upserts = async {
            if !customers.is_empty() {
                upsert_customers(&tx, &table, &customers)
                    .await
                    .map_err(err("upserting customer metrics"))?;
            }
            Ok::<_, Error>(upserting.elapsed().as_micros() as u64)
        };
        let windows = async {
            if !batch.windows.is_empty() {
                upsert_windows(&tx, &windows_table, &batch.windows)
                    .await
                    .map_err(err("adding to the window aggregates"))?;
            }
            Ok::<_, Error>(upserting.elapsed().as_micros() as u64)
        };
        let (customers_us, windows_us) = futures::try_join!(upserts, windows)?;
        let committing = std::time::Instant::now();
        tx.commit().await.map_err(err("committing"))?;
        tracing::debug!(
            customers = customers.len(),
            windows = batch.windows.len(),
            offsets_us,
            rows_us,
            customers_us,
            windows_us,
            commit_us = committing.elapsed().as_micros() as u64,
            total_us = started.elapsed().as_micros() as u64,
            "metrics written"
        );
        for (topic, partition, offset, max_event) in &batch.offsets {
            self.applied
                .insert((topic.clone(), *partition), (*offset, *max_event));
        }
        Ok(())
    }
}

/// A connection, its driver task spawned.
async fn open(config: &tokio_postgres::Config, target: &str) -> Result<Client> {
    let (client, connection) =
        config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| Error::Postgres {
                target: target.to_string(),
                context: "connecting".to_string(),
                source: e,
            })?;
    let logged: Arc<str> = Arc::from(target);
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(db = %logged, error = %err, "PostgreSQL connection lost");
        }
    });
    Ok(client)
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
