//! Compaction: rows, partitions and recorded transactions kept; of two overlapping
//! compactions the later fails and changes nothing; appends commit alongside.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::*;
use crate::{AppTransaction, Lake, TableWriter, collect_sql, new_session, transaction_version};

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("day", DataType::Utf8, true),
    ])
}

/// Rows `ids`, alternating between two partitions.
fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let days: Vec<&str> = ids
        .clone()
        .map(|id| if id % 2 == 0 { "mon" } else { "tue" })
        .collect();
    RecordBatch::try_new(
        Arc::new(schema()),
        vec![
            Arc::new(Int64Array::from(ids.collect::<Vec<_>>())),
            Arc::new(StringArray::from(days)),
        ],
    )
    .unwrap()
}

/// A table of `commits` appends of 4 rows each (2 files per commit), each recording `load`.
async fn table_of_small_files(lake: &Lake, commits: i64) -> DeltaTable {
    let mut table = lake
        .load_or_create_partitioned("t", &schema(), &["day"], None)
        .await
        .unwrap();
    for n in 0..commits {
        let mut writer = TableWriter::new("t", table.clone()).unwrap();
        writer.write(batch(n * 4..n * 4 + 4)).await.unwrap();
        let txn = AppTransaction {
            app_id: "load".into(),
            version: n,
        };
        writer.commit(&[txn], HashMap::new()).await.unwrap();
        table.update_incremental(None).await.unwrap();
    }
    table
}

/// (rows, distinct ids, files) of the table's latest version.
async fn shape(lake: &Lake) -> (i64, i64, usize) {
    let ctx = new_session(lake).await.unwrap();
    let batches = collect_sql(&ctx, "select count(*), count(distinct id) from t")
        .await
        .unwrap();
    let column = |i: usize| {
        batches[0]
            .column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    };
    let table = lake.load("t").await.unwrap().unwrap();
    let files = table.snapshot().unwrap().log_data().num_files();
    (column(0), column(1), files)
}

fn parquet_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += parquet_files(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_are_rewritten_within_each_partition() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    let table = table_of_small_files(&lake, 5).await;
    assert_eq!(shape(&lake).await, (20, 20, 10));

    let done = compact(&table, "t", 1 << 20).await.unwrap();
    assert_eq!(
        done,
        Compaction {
            version: Some(6),
            files_removed: 10,
            files_added: 2,
        }
    );
    assert_eq!(shape(&lake).await, (20, 20, 2));
    let ctx = new_session(&lake).await.unwrap();
    let per_day = collect_sql(
        &ctx,
        "select day, count(*) as n from t group by day order by day",
    )
    .await
    .unwrap();
    let formatted = datafusion::arrow::util::pretty::pretty_format_batches(&per_day)
        .unwrap()
        .to_string();
    assert!(formatted.contains("| mon | 10 |"), "{formatted}");
    assert!(formatted.contains("| tue | 10 |"), "{formatted}");
    // The appends' recorded transactions stay.
    let table = lake.load("t").await.unwrap().unwrap();
    assert_eq!(
        transaction_version(&table, "t", "load").await.unwrap(),
        Some(4)
    );
    // Nothing left to compact; files at the target size are left alone.
    assert_eq!(
        compact(&table, "t", 1 << 20).await.unwrap(),
        Compaction::default()
    );
    assert_eq!(
        compact(&table, "t", 1).await.unwrap(),
        Compaction::default()
    );
}

/// Two processes compact the same files: delta-rs's OPTIMIZE would commit both and hold their
/// rows twice. Here the later commit conflicts, and its files are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_overlapping_compactions_the_later_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    let first = table_of_small_files(&lake, 3).await;
    let second = lake.load("t").await.unwrap().unwrap();
    assert_eq!(first.version(), second.version());

    compact(&first, "t", 1 << 20).await.unwrap();
    let on_disk = parquet_files(&dir.path().join("t"));
    let err = compact(&second, "t", 1 << 20).await.unwrap_err();
    assert!(is_conflict(&err), "{err}");
    assert_eq!(shape(&lake).await, (12, 12, 2));
    assert_eq!(parquet_files(&dir.path().join("t")), on_disk);

    // Compacting again from the latest version is fine (and finds nothing to do).
    let latest = lake.load("t").await.unwrap().unwrap();
    assert_eq!(
        compact(&latest, "t", 1 << 20).await.unwrap(),
        Compaction::default()
    );
}

/// An append and a compaction that read the same version both commit, in either order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_commit_alongside_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    let table = table_of_small_files(&lake, 3).await;

    // The append commits first: the compaction, reading the older version, leaves its files.
    let mut writer = TableWriter::new("t", table.clone()).unwrap();
    writer.write(batch(100..104)).await.unwrap();
    writer.commit(&[], HashMap::new()).await.unwrap();
    compact(&table, "t", 1 << 20).await.unwrap();
    assert_eq!(shape(&lake).await, (16, 16, 4));

    // The compaction commits first: the append, reading the older version, still commits.
    let table = table_of_small_files(&lake, 0).await;
    let mut writer = TableWriter::new("t", table.clone()).unwrap();
    writer.write(batch(200..204)).await.unwrap();
    compact(&table, "t", 1 << 20).await.unwrap();
    writer.commit(&[], HashMap::new()).await.unwrap();
    assert_eq!(shape(&lake).await, (20, 20, 4));
}

/// Why [`compact`] exists: from the same two table states, delta-rs's own OPTIMIZE commits
/// both compactions, and the table then holds every compacted row twice. (Should delta-rs
/// come to detect this, this test fails, and the application transaction may go.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_rs_optimize_alone_would_hold_rows_twice() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    let first = table_of_small_files(&lake, 3).await;
    let second = lake.load("t").await.unwrap().unwrap();
    first.optimize().await.unwrap();
    second.optimize().await.unwrap();
    assert_eq!(shape(&lake).await, (24, 12, 4));
}
