//! The lake sink: background maintenance, and recorded offsets with several writers.

use std::collections::{BTreeMap, HashMap};

use dataflow_engine::{Lake, transaction_version};

use super::*;
use crate::config::LakeSinkConfig;

/// The stream's commits leave checkpoints out, so the background job must write them: after
/// 100 commits (Delta's default interval) the table has one, and a reopened sink reads the
/// recorded offsets through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_written_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    let config = LakeSinkConfig {
        compact_every_commits: 0,
        ..LakeSinkConfig::default()
    };
    let mut sink = LakeSink::open(&lake, &config, "tx", "cust").await.unwrap();
    let log = dir.path().join("stream_transactions").join("_delta_log");
    let checkpoints = || {
        std::fs::read_dir(&log)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().contains(".checkpoint.")
            })
            .count()
    };
    for offset in 0..100 {
        let offsets = BTreeMap::from([(0, offset)]);
        let version = sink
            .transactions
            .commit(None, &offsets, &offsets, "test")
            .await
            .unwrap();
        assert_eq!(version, Some(offset as u64 + 1));
        if offset < 99 {
            assert_eq!(checkpoints(), 0, "a checkpoint before version 100");
        }
    }
    sink.settle().await;
    assert_eq!(checkpoints(), 1);
    let mut reopened = LakeSink::open(&lake, &config, "tx", "cust").await.unwrap();
    assert_eq!(reopened.transactions.applied_offset(0).await.unwrap(), 99);
}

/// Two processes write one table (around a rebalance): a commit that lands after another
/// writer's forgets the offsets cached before, so a partition the other writer advanced is
/// read again, and its rows are not written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_another_writer_recorded_are_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
    let config = LakeSinkConfig::default();
    let mut first = LakeSink::open(&lake, &config, "tx", "cust").await.unwrap();
    let mut second = LakeSink::open(&lake, &config, "tx", "cust").await.unwrap();
    let none = BTreeMap::new();
    // The second caches partition 0 as empty, then the first records it up to 10.
    assert_eq!(second.transactions.applied_offset(0).await.unwrap(), -1);
    let ten = BTreeMap::from([(0, 10)]);
    first
        .transactions
        .commit(None, &ten, &none, "test")
        .await
        .unwrap();
    // The second's next commit (another partition) lands after it: its cache is dropped.
    let five = BTreeMap::from([(1, 5)]);
    second
        .transactions
        .commit(None, &five, &none, "test")
        .await
        .unwrap();
    assert_eq!(second.transactions.applied_offset(0).await.unwrap(), 10);
    assert_eq!(second.transactions.applied_offset(1).await.unwrap(), 5);
    // Recording partition 0 below what the first wrote is left out: nothing to commit.
    let eight = BTreeMap::from([(0, 8)]);
    assert_eq!(
        second
            .transactions
            .commit(None, &eight, &none, "test")
            .await
            .unwrap(),
        None
    );
    let table = lake.load("stream_transactions").await.unwrap().unwrap();
    assert_eq!(
        transaction_version(&table, "t", &app_id("tx", 0))
            .await
            .unwrap(),
        Some(10)
    );
}
