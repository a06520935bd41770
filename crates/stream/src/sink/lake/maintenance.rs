//! A stream table's maintenance, off the stream's path: every `compact_every_commits` commits a
//! job compacts the table (Delta OPTIMIZE, within each partition) and vacuums it, and at the
//! table's checkpoint interval (every 100 versions by default) it writes the Delta checkpoint,
//! which the stream's own commits leave out ([`TableWriter::defer_checkpoints`]). Meanwhile
//! the stream keeps appending: compaction only rearranges files (its commit changes no data),
//! so Delta's conflict check lets it and the appends commit in any order, and the recorded
//! offsets stay. The other processors of the group compact the same tables: of two
//! compactions that overlap, the later one fails and is left to the next time
//! ([`dataflow_engine::compact`]; delta-rs's own OPTIMIZE committed both, and the table then
//! held the overlap's rows twice). Done inline, the checkpoint and the compaction each stalled
//! the batch behind them for most of a second, the stream's only latencies above 1 s at 5,000
//! events/s.
//!
//! The job runs on a thread of its own with a small runtime, not on the stream's: it decodes
//! and encodes Parquet without yielding, and on the stream's runtime it held the worker threads
//! the next commits needed. A failed step is logged and retried when due again, never fatal; a
//! job still running when the next is due makes the next commit try again.
//!
//! [`TableWriter::defer_checkpoints`]: dataflow_engine::TableWriter::defer_checkpoints

use std::thread::JoinHandle;

use dataflow_engine::deltalake::DeltaTable;
use dataflow_engine::deltalake::checkpoints::create_checkpoint;

/// Target size of compacted files.
const COMPACTED_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// Starts the maintenance jobs of one table.
pub(super) struct Maintenance {
    table: String,
    /// Compact after this many commits (0: never).
    compact_every: u64,
    /// Commits since the last compaction started.
    since_compaction: u64,
    /// Commits since the last checkpoint started.
    since_checkpoint: u64,
    /// Vacuum after compacting, keeping this long a history (`None`: never).
    vacuum_retention: Option<chrono::Duration>,
    running: Option<JoinHandle<()>>,
}

/// What one job does.
struct Job {
    table: DeltaTable,
    name: String,
    compact: bool,
    vacuum_retention: Option<chrono::Duration>,
    checkpoint: bool,
}

impl Maintenance {
    pub(super) fn new(
        table: &str,
        compact_every: u64,
        vacuum_retention: Option<chrono::Duration>,
    ) -> Maintenance {
        Maintenance {
            table: table.to_string(),
            compact_every,
            since_compaction: 0,
            since_checkpoint: 0,
            vacuum_retention,
            running: None,
        }
    }

    /// Counts one commit of `table` (its state just after it); when compaction or a checkpoint
    /// is due and no job is running, starts one in the background.
    pub(super) fn committed(&mut self, table: &DeltaTable) {
        self.since_compaction += 1;
        self.since_checkpoint += 1;
        // Delta's default interval, unless the table sets `delta.checkpointInterval`.
        let checkpoint_interval = table
            .snapshot()
            .ok()
            .and_then(|s| s.table_config().checkpoint_interval)
            .map_or(100, |n| n.get());
        let compact = self.compact_every > 0 && self.since_compaction >= self.compact_every;
        let checkpoint = self.since_checkpoint >= checkpoint_interval;
        if !(compact || checkpoint) || self.running.as_ref().is_some_and(|job| !job.is_finished()) {
            return;
        }
        if compact {
            self.since_compaction = 0;
        }
        if checkpoint {
            self.since_checkpoint = 0;
        }
        let job = Job {
            table: table.clone(),
            name: self.table.clone(),
            compact,
            vacuum_retention: self.vacuum_retention,
            checkpoint,
        };
        let spawned = std::thread::Builder::new()
            .name("lake-maintenance".to_string())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(job.run()),
                    Err(err) => {
                        tracing::warn!(table = %job.name, error = %err, "maintenance failed to start")
                    }
                }
            });
        match spawned {
            Ok(thread) => self.running = Some(thread),
            Err(err) => {
                tracing::warn!(table = %self.table, error = %err, "maintenance failed to start")
            }
        }
    }

    /// Waits for the job under way, if any (before a session ends).
    pub(super) async fn settle(&mut self) {
        let Some(thread) = self.running.take() else {
            return;
        };
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::warn!(table = %self.table, "the maintenance thread panicked");
        }
    }
}

impl Job {
    /// Compacts and vacuums, then checkpoints the latest version, as asked; logs each outcome.
    async fn run(self) {
        let mut table = self.table;
        let name = self.name;
        if self.compact {
            table = compact(table, &name, self.vacuum_retention).await;
        }
        if !self.checkpoint {
            return;
        }
        if let Err(err) = table.update_state().await {
            tracing::warn!(table = %name, error = %err, "checkpoint failed");
            return;
        }
        match create_checkpoint(&table, None).await {
            Ok(()) => {
                tracing::debug!(table = %name, version = ?table.version(), "checkpoint written")
            }
            Err(err) => tracing::warn!(table = %name, error = %err, "checkpoint failed"),
        }
    }
}

/// Compacts `table`, then vacuums it when a retention is set; returns its latest state known.
async fn compact(
    table: DeltaTable,
    name: &str,
    vacuum_retention: Option<chrono::Duration>,
) -> DeltaTable {
    match dataflow_engine::compact::compact(&table, name, COMPACTED_FILE_SIZE).await {
        Ok(done) => tracing::info!(
            table = %name,
            version = ?done.version,
            files_removed = done.files_removed,
            files_added = done.files_added,
            "compacted"
        ),
        // Another processor of the group compacted the table meanwhile.
        Err(err) if dataflow_engine::compact::is_conflict(&err) => {
            tracing::info!(table = %name, "compaction left to another writer's, committed meanwhile");
        }
        Err(err) => {
            tracing::warn!(table = %name, error = %err, "compaction failed");
            return table;
        }
    }
    let Some(retention) = vacuum_retention else {
        return table;
    };
    let mut table = table;
    if let Err(err) = table.update_state().await {
        tracing::warn!(table = %name, error = %err, "vacuum failed");
        return table;
    }
    // The retention is the stream file's explicit choice, so the table's own minimum (Delta's
    // 7-day default) is not enforced over it.
    let vacuum = table
        .clone()
        .vacuum()
        .with_retention_period(retention)
        .with_enforce_retention_duration(false);
    match vacuum.await {
        Ok((table, metrics)) => {
            tracing::info!(
                table = %name,
                files_deleted = metrics.files_deleted.len(),
                retention_hours = retention.num_hours(),
                "vacuumed"
            );
            table
        }
        Err(err) => {
            tracing::warn!(table = %name, error = %err, "vacuum failed");
            table
        }
    }
}
