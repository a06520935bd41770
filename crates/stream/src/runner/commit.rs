//! The committer: the broker round trips of a batch, off the critical path. Once a batch is in
//! the lake and its PostgreSQL transaction is under way, the stream hands it here and reads the
//! next one, while two tasks finish it in batch order:
//!
//! 1. the dead-letter task awaits the batch's dead-letter acknowledgements and its PostgreSQL
//!    commit ([`Pending`]);
//! 2. the commit task then commits its Kafka offsets, merging every batch that became ready
//!    while the previous commit was under way into one commit.
//!
//! So committed offsets never pass an event that is not durable in every sink. A failed delivery or
//! PostgreSQL transaction stops both (no later offset is committed) and ends the session, which
//! resumes from the committed offsets; a failed commit only costs a replay, which the sinks skip.
//! [`Committer::finish`] drains both before the consumer is closed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::acks::Pending;
use crate::error::{Error, Result};
use crate::kafka::StreamContext;

/// Batches written but not yet acknowledged that the stream may run ahead by; beyond that it
/// waits, which bounds what a crash replays.
const MAX_IN_FLIGHT: usize = 16;

/// A batch in the lake, its PostgreSQL transaction started.
#[derive(Debug)]
pub(super) struct Written {
    /// Its dead letters.
    pub pending: Pending,
    /// The next offset to read per (topic, partition): the batch's last offset + 1.
    pub next: BTreeMap<(String, i32), i64>,
}

/// The consumer, shared with the commit task.
type SharedConsumer = Arc<StreamConsumer<StreamContext>>;

/// The two tasks finishing written batches.
pub(super) struct Committer {
    batches: Option<mpsc::Sender<Written>>,
    failure: Arc<Mutex<Option<Error>>>,
    acks: JoinHandle<()>,
    commits: JoinHandle<()>,
}

impl Committer {
    /// Starts the tasks; offsets are committed through `consumer`.
    pub fn start(consumer: SharedConsumer) -> Committer {
        let (batches, mut written) = mpsc::channel::<Written>(MAX_IN_FLIGHT);
        let (ready, mut to_commit) = mpsc::unbounded_channel::<BTreeMap<(String, i32), i64>>();
        let failure: Arc<Mutex<Option<Error>>> = Arc::default();
        let failed = failure.clone();
        let acks = tokio::spawn(async move {
            while let Some(batch) = written.recv().await {
                let letters = batch.pending.letters();
                let started = Instant::now();
                if let Err(err) = batch.pending.acknowledge().await {
                    tracing::warn!(error = %err, "a batch did not become durable");
                    *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
                    return;
                }
                if letters > 0 {
                    tracing::debug!(
                        letters,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "dead letters acknowledged, PostgreSQL committed"
                    );
                }
                if ready.send(batch.next).is_err() {
                    return;
                }
            }
        });
        let commits = tokio::spawn(async move {
            while let Some(mut next) = to_commit.recv().await {
                let mut batches = 1;
                while let Ok(more) = to_commit.try_recv() {
                    merge(&mut next, more);
                    batches += 1;
                }
                let consumer = consumer.clone();
                let started = Instant::now();
                let committed =
                    tokio::task::spawn_blocking(move || commit_sync(&consumer, &next)).await;
                match committed {
                    Ok(Ok(())) => tracing::debug!(
                        batches,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "offsets committed"
                    ),
                    // The sinks hold the batches; a replay of them is skipped. Only lag is lost.
                    Ok(Err(err)) => tracing::warn!(
                        error = %err,
                        "committing offsets failed; the batches will be replayed and skipped"
                    ),
                    Err(err) => tracing::warn!(error = %err, "the offset commit did not finish"),
                }
            }
        });
        Committer {
            batches: Some(batches),
            failure,
            acks,
            commits,
        }
    }

    /// Hands over a written batch (waiting while too many are in flight). Fails with the
    /// delivery error that stopped the committer, if one did.
    pub async fn submit(&self, batch: Written) -> Result<()> {
        let sent = match &self.batches {
            Some(batches) => batches.send(batch).await.is_ok(),
            None => false,
        };
        match self.failure() {
            Some(err) => Err(err),
            None if sent => Ok(()),
            None => Err(Error::Internal("the committer stopped".to_string())),
        }
    }

    /// The delivery error that stopped the committer, once.
    pub fn failure(&self) -> Option<Error> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Waits until every batch handed over is acknowledged and committed (or the committer
    /// stopped on a failed delivery, which is returned).
    pub async fn finish(mut self) -> Result<()> {
        self.batches = None;
        let acks = (&mut self.acks).await;
        let commits = (&mut self.commits).await;
        if let Some(err) = self.failure() {
            return Err(err);
        }
        for joined in [acks, commits] {
            joined.map_err(|e| Error::Internal(format!("the committer failed: {e}")))?;
        }
        Ok(())
    }
}

/// Keeps the larger next offset of each partition.
fn merge(into: &mut BTreeMap<(String, i32), i64>, more: BTreeMap<(String, i32), i64>) {
    for (key, offset) in more {
        let entry = into.entry(key).or_insert(offset);
        *entry = (*entry).max(offset);
    }
}

/// A synchronous commit of the next offsets (on a blocking thread).
fn commit_sync(
    consumer: &StreamConsumer<StreamContext>,
    next: &BTreeMap<(String, i32), i64>,
) -> Result<()> {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(Error::kafka("preparing the offset commit"))?;
    }
    let committed = consumer.commit(&list, CommitMode::Sync);
    // Dropped before the consumer may be closed (a list alive then makes the close hang).
    drop(list);
    committed.map_err(Error::kafka("committing offsets"))
}
