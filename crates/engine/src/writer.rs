//! Atomic, memory-bounded appends to a lake table.
//!
//! Batches stream into Parquet files as they arrive (the writer rolls files at a target size, so
//! memory stays bounded however large the input); nothing is visible until [`TableWriter::commit`]
//! writes one Delta commit holding every file plus the application transaction ids that make the
//! load idempotent. A crash before the commit leaves only unreferenced files, which `VACUUM` removes.

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use serde_json::Value;

use crate::error::{Error, Result};

/// Target size of each Parquet file written by ingest.
const TARGET_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// An application transaction recorded in a commit: `app_id` at `version`. A reader asks the
/// table for an app id's version to learn whether that piece of work is already committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTransaction {
    /// Identifies the piece of work, e.g. `ingest:customers:<sha256>`.
    pub app_id: String,
    /// Monotonic version for that app id.
    pub version: i64,
}

/// Streams record batches into one table and commits them atomically.
pub struct TableWriter {
    name: String,
    table: DeltaTable,
    writer: RecordBatchWriter,
    rows: u64,
    /// Whether a commit that reaches the table's checkpoint interval writes the checkpoint.
    checkpoint: bool,
}

impl TableWriter {
    /// Starts a write to `table`.
    pub fn new(name: &str, table: DeltaTable) -> Result<TableWriter> {
        let writer = RecordBatchWriter::for_table(&table)
            .map_err(Error::delta(name))?
            .with_target_file_size(TARGET_FILE_SIZE);
        Ok(TableWriter {
            name: name.to_string(),
            table,
            writer,
            rows: 0,
            checkpoint: true,
        })
    }

    /// Leaves Delta checkpoints to the caller: a commit then never writes one, even at the
    /// table's checkpoint interval (every 100 versions by default), which costs the commit up
    /// to a second on a table of many small commits. The caller must write them (see
    /// `deltalake::checkpoints::create_checkpoint`), or reads slow down as the log grows.
    pub fn defer_checkpoints(mut self) -> TableWriter {
        self.checkpoint = false;
        self
    }

    /// The table's committed state when the write began.
    pub fn table(&self) -> &DeltaTable {
        &self.table
    }

    /// Rows written so far (not yet committed).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Encodes a batch into the pending files.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .await
            .map_err(Error::delta(&self.name))
    }

    /// Finishes the files and commits them with the given application transactions and commit
    /// metadata, as one new table version. Returns that version.
    pub async fn commit(
        mut self,
        transactions: &[AppTransaction],
        metadata: HashMap<String, Value>,
    ) -> Result<u64> {
        let adds = self
            .writer
            .flush()
            .await
            .map_err(Error::delta(&self.name))?;
        let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        let snapshot = self.table.snapshot().map_err(Error::delta(&self.name))?;
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        let txns = transactions
            .iter()
            .map(|t| Transaction::new_with_last_update(&t.app_id, t.version, Some(now_millis())))
            .collect();
        let properties = CommitProperties::default()
            .with_create_checkpoint(self.checkpoint)
            .with_metadata(metadata)
            .with_application_transactions(txns);
        let finalized = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await
            .map_err(Error::delta(&self.name))?;
        Ok(finalized.version())
    }
}

impl TableWriter {
    /// Abandons the write: finishes and deletes the pending files. The table is untouched.
    pub async fn abort(mut self) -> Result<()> {
        let adds = self
            .writer
            .flush()
            .await
            .map_err(Error::delta(&self.name))?;
        delete_files(&self.table, &self.name, &adds).await;
        Ok(())
    }
}

/// Deletes data files written but not committed (a failure is logged: an unreferenced file
/// is harmless, and `VACUUM` removes it later).
pub(crate) async fn delete_files(table: &DeltaTable, name: &str, adds: &[Add]) {
    use object_store::ObjectStoreExt as _;
    let store = table.object_store();
    for add in adds {
        let path = object_store::path::Path::from(add.path.as_str());
        if let Err(err) = store.delete(&path).await {
            tracing::warn!(table = %name, file = %add.path, error = %err, "could not remove an abandoned data file");
        }
    }
}

/// The version recorded for `app_id` in the table's latest snapshot, if any.
pub async fn transaction_version(
    table: &DeltaTable,
    name: &str,
    app_id: &str,
) -> Result<Option<i64>> {
    let snapshot = table.snapshot().map_err(Error::delta(name))?;
    snapshot
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(Error::delta(name))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::Lake;

    fn batch(values: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap()
    }

    fn data_files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
    }

    #[tokio::test]
    async fn commits_are_atomic_and_carry_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
        let schema = batch(vec![]).schema();
        let table = lake
            .load_or_create("t", &schema, Some("test"))
            .await
            .unwrap();
        let mut writer = TableWriter::new("t", table).unwrap();
        writer.write(batch(vec![1, 2, 3])).await.unwrap();
        // Nothing is visible before the commit.
        let infos = lake.tables().await.unwrap();
        assert_eq!(infos[0].rows, Some(0));
        let txn = AppTransaction {
            app_id: "load/a".into(),
            version: 1,
        };
        let version = writer.commit(&[txn], HashMap::new()).await.unwrap();
        assert_eq!(version, 1);
        let table = lake.load("t").await.unwrap().unwrap();
        assert_eq!(
            transaction_version(&table, "t", "load/a").await.unwrap(),
            Some(1)
        );
        assert_eq!(
            transaction_version(&table, "t", "load/b").await.unwrap(),
            None
        );
        assert_eq!(lake.tables().await.unwrap()[0].rows, Some(3));

        // An aborted write leaves the table and its files as they were.
        let files_before = data_files(&dir.path().join("t"));
        let mut writer = TableWriter::new("t", table).unwrap();
        writer.write(batch(vec![4, 5])).await.unwrap();
        writer.abort().await.unwrap();
        assert_eq!(data_files(&dir.path().join("t")), files_before);
        let infos = lake.tables().await.unwrap();
        assert_eq!((infos[0].version, infos[0].rows), (1, Some(3)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_writers_creating_one_table_both_get_it() {
        let dir = tempfile::tempdir().unwrap();
        let schema = batch(vec![]).schema();
        for n in 0..5 {
            let name = format!("t{n}");
            let open = || {
                let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
                let (name, schema) = (name.clone(), schema.clone());
                tokio::spawn(async move { lake.load_or_create(&name, &schema, None).await })
            };
            let (a, b) = (open(), open());
            a.await.unwrap().unwrap();
            b.await.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn a_lost_race_for_an_application_transaction_is_retryable() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
        let table = lake
            .load_or_create("t", &batch(vec![]).schema(), None)
            .await
            .unwrap();
        let txn = AppTransaction {
            app_id: "stream/p0".into(),
            version: 10,
        };
        // Two writers start from the same version and record the same app id: the second
        // loses (nothing written twice) with an error worth retrying after a reload.
        let mut first = TableWriter::new("t", table.clone()).unwrap();
        let mut second = TableWriter::new("t", table).unwrap();
        first.write(batch(vec![1])).await.unwrap();
        second.write(batch(vec![1])).await.unwrap();
        first
            .commit(std::slice::from_ref(&txn), HashMap::new())
            .await
            .unwrap();
        let err = second.commit(&[txn], HashMap::new()).await.unwrap_err();
        assert!(err.kind().is_retryable(), "{err}");
        assert_eq!(lake.tables().await.unwrap()[0].rows, Some(1));
    }

    #[tokio::test]
    async fn the_session_sees_lake_tables_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
        let table = lake
            .load_or_create("numbers", &batch(vec![]).schema(), None)
            .await
            .unwrap();
        let mut writer = TableWriter::new("numbers", table).unwrap();
        writer.write(batch(vec![10, 20])).await.unwrap();
        writer.commit(&[], HashMap::new()).await.unwrap();
        let ctx = crate::new_session(&lake).await.unwrap();
        let result = crate::collect_sql(&ctx, "select sum(id) as s from numbers")
            .await
            .unwrap();
        let sum = result[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap();
        assert_eq!(sum.value(0), 30);
    }
}
