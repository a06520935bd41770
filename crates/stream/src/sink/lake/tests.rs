//! The lake sink's background maintenance.

use std::collections::{BTreeMap, HashMap};

use dataflow_engine::Lake;

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
