//! The lake sink: each micro-batch is one Delta commit per table, carrying one application
//! transaction per Kafka partition, `dataflow.stream/<topic>/<partition>` at the last offset the
//! batch covers (valid or not). A replayed batch finds its offsets already recorded and writes
//! nothing, so every event lands once.
//!
//! The same commits record how far the partition's dead letters are acknowledged by the
//! broker, `dataflow.stream.dead_letters/<topic>/<partition>` (they are awaited while the next
//! batches are written, so this can trail the rows). A replay publishes again the dead letters
//! past it. A table written before this record existed has none: there the rows' offset
//! stands for it, as dead letters were then acknowledged before each commit.
//!
//! Micro-batches make small files: every `compact_every_commits` commits the table is compacted
//! (Delta OPTIMIZE, within each partition), then files that no version of the last
//! `vacuum_retention_hours` references are deleted (Delta VACUUM); that and the Delta
//! checkpoints run in the background ([`maintenance`]).

mod maintenance;

use std::collections::{BTreeMap, HashMap};

use dataflow_engine::datafusion::arrow::array::RecordBatch;
use dataflow_engine::deltalake::DeltaTable;
use dataflow_engine::{AppTransaction, Lake, TableWriter, transaction_version};
use serde_json::json;

use super::rows::{PARTITION_COLUMNS, customer_events_schema, transactions_schema};
use crate::error::Result;

/// The application id recording how far a table holds `topic`'s `partition`.
pub fn app_id(topic: &str, partition: i32) -> String {
    format!("dataflow.stream/{topic}/{partition}")
}

/// The application id recording how far the dead letters of `topic`'s `partition` are
/// acknowledged.
pub fn dead_letters_app_id(topic: &str, partition: i32) -> String {
    format!("dataflow.stream.dead_letters/{topic}/{partition}")
}

/// How far a partition's dead letters are known to be acknowledged.
#[derive(Debug, Clone, Copy)]
struct DeadLetterMark {
    offset: i64,
    /// Whether the table records it (else it is implied by the rows' offset).
    recorded: bool,
}

/// One table fed by one topic.
pub struct LakeTable {
    name: String,
    topic: String,
    table: DeltaTable,
    /// Last offset recorded per partition (-1: none), as read or written by this process.
    applied: HashMap<i32, i64>,
    /// Dead letters acknowledged per partition, as read or written by this process.
    dead_letters: HashMap<i32, DeadLetterMark>,
    maintenance: maintenance::Maintenance,
}

impl LakeTable {
    async fn open(
        lake: &Lake,
        name: &str,
        topic: &str,
        schema: &dataflow_engine::datafusion::arrow::datatypes::Schema,
        description: &str,
        config: &crate::config::LakeSinkConfig,
    ) -> Result<LakeTable> {
        let table = lake
            .load_or_create_partitioned(name, schema, PARTITION_COLUMNS, Some(description))
            .await?;
        Ok(LakeTable {
            name: name.to_string(),
            topic: topic.to_string(),
            table,
            applied: HashMap::new(),
            dead_letters: HashMap::new(),
            maintenance: maintenance::Maintenance::new(
                name,
                config.compact_every_commits,
                config
                    .vacuum
                    .then(|| chrono::Duration::hours(config.vacuum_retention_hours as i64)),
            ),
        })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last offset of `partition` this table holds (-1 when none).
    pub async fn applied_offset(&mut self, partition: i32) -> Result<i64> {
        if let Some(offset) = self.applied.get(&partition) {
            return Ok(*offset);
        }
        let version =
            transaction_version(&self.table, &self.name, &app_id(&self.topic, partition)).await?;
        let offset = version.unwrap_or(-1);
        self.applied.insert(partition, offset);
        Ok(offset)
    }

    /// The last offset of `partition` up to which every dead letter was acknowledged (-1 when
    /// none).
    pub async fn dead_letters_offset(&mut self, partition: i32) -> Result<i64> {
        Ok(self.dead_letter_mark(partition).await?.offset)
    }

    async fn dead_letter_mark(&mut self, partition: i32) -> Result<DeadLetterMark> {
        if let Some(mark) = self.dead_letters.get(&partition) {
            return Ok(*mark);
        }
        let app_id = dead_letters_app_id(&self.topic, partition);
        let mark = match transaction_version(&self.table, &self.name, &app_id).await? {
            Some(offset) => DeadLetterMark {
                offset,
                recorded: true,
            },
            None => DeadLetterMark {
                offset: self.applied_offset(partition).await?,
                recorded: false,
            },
        };
        self.dead_letters.insert(partition, mark);
        Ok(mark)
    }

    /// Forgets what is cached and reads the table's latest version (after a rebalance, another
    /// processor may have written it).
    pub async fn refresh(&mut self) -> Result<()> {
        self.applied.clear();
        self.dead_letters.clear();
        self.table
            .update_state()
            .await
            .map_err(|e| dataflow_engine::Error::Delta {
                table: self.name.clone(),
                source: e,
            })?;
        Ok(())
    }

    /// Appends `batch` and records `offsets` (partition to last offset covered) and
    /// `dead_letters` (partition to the last offset whose dead letters, and all before, are
    /// acknowledged) in one commit. Partitions whose offset is not past the recorded one are
    /// left out; with no rows and nothing to record, nothing is committed. A partition whose
    /// rows are recorded always gets its dead-letter record too (at least the one implied).
    pub async fn commit(
        &mut self,
        batch: Option<RecordBatch>,
        offsets: &BTreeMap<i32, i64>,
        dead_letters: &BTreeMap<i32, i64>,
        stream: &str,
    ) -> Result<Option<u64>> {
        let mut transactions = Vec::new();
        let mut recorded = Vec::new();
        let mut marks = BTreeMap::new();
        for (&partition, &offset) in offsets {
            if offset > self.applied_offset(partition).await? {
                transactions.push(AppTransaction {
                    app_id: app_id(&self.topic, partition),
                    version: offset,
                });
                recorded.push((partition, offset));
                let mark = self.dead_letter_mark(partition).await?;
                if !mark.recorded {
                    marks.insert(partition, mark.offset);
                }
            }
        }
        for (&partition, &acknowledged) in dead_letters {
            let mark = self.dead_letter_mark(partition).await?;
            if acknowledged > mark.offset {
                marks.insert(partition, acknowledged);
            }
        }
        for (&partition, &offset) in &marks {
            transactions.push(AppTransaction {
                app_id: dead_letters_app_id(&self.topic, partition),
                version: offset,
            });
        }
        let rows = batch.as_ref().map_or(0, RecordBatch::num_rows);
        if transactions.is_empty() && rows == 0 {
            return Ok(None);
        }
        let mut writer = TableWriter::new(&self.name, self.table.clone())?.defer_checkpoints();
        if let Some(batch) = batch {
            writer.write(batch).await?;
        }
        let metadata = HashMap::from([(
            "dataflow".to_string(),
            json!({"stream": stream, "topic": self.topic, "rows": rows}),
        )]);
        let read_version = self.table.version();
        let version = writer.commit(&transactions, metadata).await?;
        self.table
            .update_incremental(None)
            .await
            .map_err(|e| dataflow_engine::Error::Delta {
                table: self.name.clone(),
                source: e,
            })?;
        let latest = self.table.version();
        if read_version.is_some_and(|read| version > read + 1)
            || latest.is_some_and(|latest| latest > version)
        {
            // Another process committed between our read and our commit, or right after it
            // (around a rebalance), and the state just read holds it: what it recorded is
            // not in the cache, and a later commit is checked for conflicts only against
            // versions after this state's. Every offset is read again when needed.
            tracing::debug!(table = %self.name, version, ?latest, "another writer committed too");
            self.applied.clear();
            self.dead_letters.clear();
        } else {
            self.applied.extend(recorded);
            for (partition, offset) in marks {
                self.dead_letters.insert(
                    partition,
                    DeadLetterMark {
                        offset,
                        recorded: true,
                    },
                );
            }
        }
        self.maintenance.committed(&self.table);
        Ok(Some(version))
    }
}

/// The two lake tables of a stream.
pub struct LakeSink {
    /// Processed transactions.
    pub transactions: LakeTable,
    /// Customer events.
    pub customer_events: LakeTable,
}

impl LakeSink {
    /// Opens (creating when missing) both tables.
    pub async fn open(
        lake: &Lake,
        config: &crate::config::LakeSinkConfig,
        transactions_topic: &str,
        customer_events_topic: &str,
    ) -> Result<LakeSink> {
        Ok(LakeSink {
            transactions: LakeTable::open(
                lake,
                &config.transactions_table,
                transactions_topic,
                &transactions_schema(),
                "Transaction events processed by dataflow stream",
                config,
            )
            .await?,
            customer_events: LakeTable::open(
                lake,
                &config.customer_events_table,
                customer_events_topic,
                &customer_events_schema(),
                "Customer events processed by dataflow stream",
                config,
            )
            .await?,
        })
    }

    /// Forgets cached offsets of both tables and reloads them.
    pub async fn refresh(&mut self) -> Result<()> {
        self.transactions.refresh().await?;
        self.customer_events.refresh().await
    }

    /// Waits for the tables' maintenance under way (before a session ends).
    pub async fn settle(&mut self) {
        self.transactions.maintenance.settle().await;
        self.customer_events.maintenance.settle().await;
    }
}

#[cfg(test)]
mod tests;
