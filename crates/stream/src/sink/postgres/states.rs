//! Reads of stored customer states, on a connection of their own: the stream loads the states
//! of a batch's new customers while the previous batch's transaction may still be under way on
//! the sink's connection, and must not wait for it.
//!
//! Such a read shows the state before any transaction not committed yet. The pipeline never
//! reads a customer whose last change is still uncommitted: that customer's state is in its
//! cache, which keeps every state changed since the last committed batch.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::OnceCell;
use tokio_postgres::{Client, Statement};

use super::sink::micros;
use crate::error::{Error, Result};
use crate::process::{ActivityState, TransactionState, Welford};

/// Reads customer states from the metrics table (cheap to clone: one shared connection).
#[derive(Clone)]
pub struct PgStates {
    client: Arc<Client>,
    /// The two reads, prepared on first use (the table may not exist before): a read is then
    /// one round trip instead of a parse and an execution.
    prepared: Arc<[OnceCell<Statement>; 2]>,
    target: String,
    table: String,
}

/// Which of the prepared reads.
#[derive(Clone, Copy)]
enum Read {
    Transactions = 0,
    Activity = 1,
}

impl std::fmt::Debug for PgStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStates")
            .field("target", &self.target)
            .field("table", &self.table)
            .finish()
    }
}

impl PgStates {
    pub(super) fn new(client: Client, target: &str, table: &str) -> PgStates {
        PgStates {
            client: Arc::new(client),
            prepared: Arc::new([OnceCell::new(), OnceCell::new()]),
            target: target.to_string(),
            table: table.to_string(),
        }
    }

    /// The rows the `read` (with `$1` = the customer ids) selects from the metrics table;
    /// `sql` is its text, prepared on the first call.
    async fn rows(
        &self,
        read: Read,
        sql: String,
        customers: &[i64],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let error = |source| Error::Postgres {
            target: self.target.clone(),
            context: "reading customer metrics".to_string(),
            source,
        };
        let statement = self.prepared[read as usize]
            .get_or_try_init(|| self.client.prepare(&sql))
            .await
            .map_err(error)?;
        self.client
            .query(statement, &[&customers])
            .await
            .map_err(error)
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
        let rows = self.rows(Read::Transactions, sql, customers).await?;
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
        let rows = self.rows(Read::Activity, sql, customers).await?;
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
}
