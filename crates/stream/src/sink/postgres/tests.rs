//! Against the PostgreSQL of `DATAFLOW_TEST_POSTGRES_URL` (scripts/test starts one);
//! skipped without it.

use super::sink::micros;
use super::*;
use crate::error::Error;
use crate::process::{ActivityState, TransactionState, Welford};

fn url() -> Option<String> {
    std::env::var("DATAFLOW_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}

fn txn(count: u64, total_cents: i64, last: i64) -> TransactionState {
    TransactionState {
        stats: Welford {
            count,
            mean: total_cents as f64 / 100.0 / count as f64,
            m2: 0.5,
        },
        total_cents,
        high_value: 1,
        last_transaction_micros: Some(last),
        ..TransactionState::default()
    }
}

fn activity(logins: i64, last: i64) -> ActivityState {
    ActivityState {
        logins,
        last_login_micros: Some(last),
        last_event_micros: Some(last),
        ..ActivityState::default()
    }
}

#[tokio::test]
async fn each_customer_gets_only_the_kinds_of_state_the_batch_has() {
    let Some(url) = url() else { return };
    let table = unique("stream_unit_metrics");
    let windows = unique("stream_unit_windows");
    let mut sink = PgSink::connect(&url, &table, &windows).await.unwrap();
    // Customer 1: transactions only; 2: both; 3: activity only.
    sink.write(&PgBatch {
        transactions: vec![(1, txn(2, 500, 1_000)), (2, txn(1, 100, 2_000))],
        activity: vec![(2, activity(1, 3_000)), (3, activity(4, 500))],
        offsets: vec![("tx".to_string(), 0, 10, Some(2_000))],
        windows: Vec::new(),
    })
    .await
    .unwrap();
    // Then activity for 1 and transactions for 3: each keeps the other kind's columns.
    sink.write(&PgBatch {
        transactions: vec![(3, txn(1, 700, 100))],
        activity: vec![(1, activity(2, 4_000))],
        offsets: vec![("tx".to_string(), 0, 20, Some(4_000))],
        windows: Vec::new(),
    })
    .await
    .unwrap();
    let rows = sink
        .client
        .query(
            &format!(
                "SELECT customer_id, transaction_count, total_amount_cents, login_count,
                        {}, {}
                 FROM {table} ORDER BY customer_id",
                micros("last_transaction_time"),
                micros("last_event_time")
            ),
            &[],
        )
        .await
        .unwrap();
    /// Customer, transactions, cents, logins, last transaction, last event.
    type Row = (i64, i64, i64, i64, Option<i64>, Option<i64>);
    let got: Vec<Row> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 2, 500, 2, Some(1_000), Some(4_000)),
            (2, 1, 100, 1, Some(2_000), Some(3_000)),
            (3, 1, 700, 4, Some(100), Some(500)),
        ]
    );
    let fillfactor: Option<Vec<String>> = sink
        .client
        .query_one(
            "SELECT reloptions FROM pg_class WHERE oid = $1::text::regclass",
            &[&table],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(fillfactor, Some(vec!["fillfactor=70".to_string()]));
    // A state that counted nothing is a bug, not a row.
    let empty = sink
        .write(&PgBatch {
            transactions: vec![(4, TransactionState::default())],
            offsets: vec![("tx".to_string(), 0, 30, None)],
            ..PgBatch::default()
        })
        .await;
    assert!(matches!(empty, Err(Error::Internal(_))), "{empty:?}");
    sink.client
        .batch_execute(&format!(
            "DROP TABLE {table}; DROP TABLE {windows};
             DELETE FROM {OFFSETS_TABLE} WHERE metrics_table = '{table}'"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn errors_show_the_server_message() {
    let Some(url) = url() else { return };
    let err = PgSink::connect(&url, "not a table name", "w")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("syntax error at or near"), "{text}");
    assert!(text.contains("SQLSTATE 42601"), "{text}");
    assert!(!text.ends_with("db error"), "{text}");
}
