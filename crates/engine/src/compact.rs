//! Compaction of a table's small files (Delta OPTIMIZE: within each partition, files below the
//! target size are rewritten into as few as fit), safe while other processes append to the
//! table and compact it too.
//!
//! delta-rs's own OPTIMIZE is not safe with two compacting processes: it marks its removals
//! `dataChange = false`, and its conflict check ignores such removals, so two compactions of
//! overlapping files both commit, and every row of the overlap is then in the table twice (two
//! stream processors of one consumer group compact the same tables). Here each compaction
//! commit also records the application transaction [`COMPACTION_APP_ID`]: of two compactions
//! that overlap in time, the later commit meets the earlier one's transaction and fails Delta's
//! conflict check, leaving the table as it was. Appends commit alongside either way, as a
//! compaction changes no data.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt as _;

use crate::error::{Error, Result};

/// The application transaction every compaction commit records; its version is the table
/// version the compaction read.
pub const COMPACTION_APP_ID: &str = "dataflow.compaction";

/// What one compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compaction {
    /// The version it committed (`None`: nothing to compact).
    pub version: Option<u64>,
    /// Small files rewritten.
    pub files_removed: usize,
    /// Files written in their place.
    pub files_added: usize,
}

/// A partition's values, by column.
type Partition = BTreeMap<String, Option<String>>;

/// A small file to rewrite.
struct SmallFile {
    path: String,
    remove: deltalake::kernel::Remove,
}

/// Compacts `table` (its state as loaded): in each partition holding at least two files
/// smaller than `target_size` bytes, those files are read and written again as files of up to
/// that size, in one commit. Fails, leaving the table as it was, when another compaction
/// committed since `table`'s version (a conflict, see [`is_conflict`]) or a file cannot be
/// read or written.
pub async fn compact(table: &DeltaTable, name: &str, target_size: u64) -> Result<Compaction> {
    let state = table.snapshot().map_err(Error::delta(name))?;
    let read_version = state.version();
    let mut partitions: BTreeMap<Partition, Vec<SmallFile>> = BTreeMap::new();
    for file in state.log_data().iter() {
        if file.size() as u64 >= target_size || file.deletion_vector_descriptor().is_some() {
            continue;
        }
        let partition = file.partition_values_map().into_iter().collect();
        partitions.entry(partition).or_default().push(SmallFile {
            path: file.path().to_string(),
            remove: file.remove_action(false),
        });
    }
    partitions.retain(|_, files| files.len() > 1);
    if partitions.is_empty() {
        return Ok(Compaction::default());
    }
    let mut writer = RecordBatchWriter::for_table(table)
        .map_err(Error::delta(name))?
        .with_target_file_size(target_size);
    let mut adds = Vec::new();
    let rewritten = rewrite(table, name, &partitions, &mut writer, &mut adds).await;
    if let Err(err) = rewritten {
        // Finish whatever the writer holds, then delete every file written.
        if let Ok(rest) = writer.flush().await {
            adds.extend(rest);
        }
        crate::writer::delete_files(table, name, &adds).await;
        return Err(err);
    }
    let files_added = adds.len();
    let files_removed = partitions.values().map(Vec::len).sum();
    let mut actions: Vec<Action> = partitions
        .into_values()
        .flatten()
        .map(|file| Action::Remove(file.remove))
        .collect();
    actions.extend(adds.iter().cloned().map(|mut add| {
        add.data_change = false;
        Action::Add(add)
    }));
    let claim = Transaction::new_with_last_update(
        COMPACTION_APP_ID,
        i64::try_from(read_version).unwrap_or(i64::MAX),
        Some(chrono::Utc::now().timestamp_millis()),
    );
    let properties = CommitProperties::default()
        .with_create_checkpoint(false)
        .with_application_transactions(vec![claim]);
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: i64::try_from(target_size).unwrap_or(i64::MAX),
    };
    let committed = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(state), table.log_store(), operation)
        .await;
    match committed {
        Ok(finalized) => Ok(Compaction {
            version: Some(finalized.version()),
            files_removed,
            files_added,
        }),
        Err(err) => {
            crate::writer::delete_files(table, name, &adds).await;
            Err(Error::Delta {
                table: name.to_string(),
                source: err,
            })
        }
    }
}

/// Whether `err` is a compaction's lost race with another compaction (or another commit it
/// conflicts with): the table is as it was, and compacting again later is safe.
pub fn is_conflict(err: &Error) -> bool {
    matches!(
        err,
        Error::Delta {
            source: deltalake::DeltaTableError::Transaction {
                source: deltalake::kernel::transaction::TransactionError::CommitConflict(_),
            },
            ..
        }
    )
}

/// Reads each partition's small files and writes their rows again, flushing after each
/// partition (so memory holds at most one partition's open files); the files written are
/// pushed to `adds`.
async fn rewrite(
    table: &DeltaTable,
    name: &str,
    partitions: &BTreeMap<Partition, Vec<SmallFile>>,
    writer: &mut RecordBatchWriter,
    adds: &mut Vec<Add>,
) -> Result<()> {
    let ctx = SessionContext::new();
    table
        .update_datafusion_session(&ctx.state())
        .map_err(Error::delta(name))?;
    let schema = writer.arrow_schema();
    for files in partitions.values() {
        let provider = table
            .table_provider()
            .with_file_paths(files.iter().map(|f| f.path.clone()))
            .await?;
        let mut stream = ctx.read_table(provider)?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = conform(&batch?, &schema)?;
            writer.write(batch).await.map_err(Error::delta(name))?;
        }
        adds.extend(writer.flush().await.map_err(Error::delta(name))?);
    }
    Ok(())
}

/// `batch` with the writer's column types (the scan returns partition values as dictionaries
/// and strings as views).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                DataFusionError::Internal(format!("compaction read no column `{}`", field.name()))
            })?;
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                Ok(cast(column, field.data_type()).map_err(DataFusionError::from)?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns).map_err(DataFusionError::from)?)
}

#[cfg(test)]
mod tests;
