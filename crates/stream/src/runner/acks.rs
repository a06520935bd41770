//! Dead-letter acknowledgements, off the critical path: a batch's dead letters are handed to the
//! producer, the batch is written to the lake and its PostgreSQL transaction started, and its
//! [`Pending`] deliveries and commit are awaited afterwards (by the runner's committer, while the
//! next batches are written), in batch order. Each acknowledged batch moves [`Acknowledged`] on,
//! which the next lake commits record, so a replay knows which dead letters it must publish again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use super::pg_writes::Committed;
use super::pipeline::Source;
use crate::error::Result;
use crate::sink::Deliveries;

/// Per input partition, the last offset up to which every dead letter was acknowledged by the
/// broker (shared between a pipeline and the task awaiting its deliveries).
#[derive(Debug, Clone, Default)]
pub struct Acknowledged(Arc<Mutex<HashMap<(Source, i32), i64>>>);

impl Acknowledged {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(Source, i32), i64>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The acknowledged offset of a partition, if this process knows one.
    pub fn get(&self, key: (Source, i32)) -> Option<i64> {
        self.with(|map| map.get(&key).copied())
    }

    /// Sets a partition's offset when it has none yet: the offset before the first message
    /// this process reads from it. Everything before that was committed to Kafka, which only
    /// happens after its dead letters were acknowledged (or was skipped by the consumer's
    /// offset reset, and is never processed).
    pub fn start(&self, key: (Source, i32), first_offset: i64) {
        self.with(|map| {
            map.entry(key).or_insert(first_offset - 1);
        });
    }

    /// Moves a partition's offset forward (never back).
    fn advance(&self, key: (Source, i32), offset: i64) {
        self.with(|map| {
            let entry = map.entry(key).or_insert(offset);
            *entry = (*entry).max(offset);
        });
    }

    /// The acknowledged offsets of one input topic, by partition.
    pub fn of(&self, source: Source) -> BTreeMap<i32, i64> {
        self.with(|map| {
            map.iter()
                .filter(|((s, _), _)| *s == source)
                .map(|((_, partition), offset)| (*partition, *offset))
                .collect()
        })
    }
}

/// A written batch's dead letters, not yet known to be acknowledged, and its PostgreSQL
/// transaction, not yet known to be committed.
#[must_use = "a batch's offsets may be committed only once it is acknowledged"]
#[derive(Debug)]
pub struct Pending {
    deliveries: Deliveries,
    committed: Option<Committed>,
    /// The last offset of each partition in the batch.
    through: Vec<((Source, i32), i64)>,
    acknowledged: Acknowledged,
}

impl Pending {
    pub(super) fn new(
        deliveries: Deliveries,
        through: Vec<((Source, i32), i64)>,
        acknowledged: Acknowledged,
    ) -> Pending {
        Pending {
            deliveries,
            committed: None,
            through,
            acknowledged,
        }
    }

    /// Also waits for the batch's PostgreSQL transaction.
    pub(super) fn with_commit(mut self, committed: Option<Committed>) -> Pending {
        self.committed = committed;
        self
    }

    /// Dead letters awaited.
    pub fn letters(&self) -> usize {
        self.deliveries.len()
    }

    /// Waits for the broker's acknowledgements, then records the batch's partitions as
    /// acknowledged through its last offsets, then waits for its PostgreSQL commit. Call in
    /// batch order: a batch's record also stands for every batch before it.
    pub async fn acknowledge(self) -> Result<()> {
        self.deliveries.wait().await?;
        for (key, offset) in self.through {
            self.acknowledged.advance(key, offset);
        }
        match self.committed {
            Some(committed) => committed.wait().await,
            None => Ok(()),
        }
    }
}
