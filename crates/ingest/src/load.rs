//! Loading one source into the lake: stage each new file, parse it on a blocking thread while the
//! writer encodes Parquet, then commit quarantine and raw rows. Each file's SHA-256 is recorded as
//! a Delta application transaction in the same commit as its rows, so the ledger can never
//! disagree with the table: a file is loaded exactly when its rows are committed.

use std::collections::HashMap;
use std::time::Instant;

use dataflow_core::config::{Project, SourceConfig};
use dataflow_core::ids::BatchId;
use dataflow_engine::{AppTransaction, Lake, TableWriter, transaction_version};
use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use crate::batch::{Lineage, quarantine_schema, raw_schema};
use crate::error::{Error, Result};
use crate::files::{self, StagedFile};
use crate::reader::{self, FileCounts, Message};

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Loaded in this run.
    Loaded(FileCounts),
    /// Already in the lake (same content); not loaded again.
    Skipped,
}

/// One file's entry in a report.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Path or URL.
    pub location: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
    /// What happened.
    pub outcome: FileOutcome,
}

/// The result of ingesting one source.
#[derive(Debug, Clone)]
pub struct SourceReport {
    /// Source name.
    pub source: String,
    /// The raw table.
    pub table: String,
    /// The quarantine table.
    pub quarantine_table: String,
    /// Per file.
    pub files: Vec<FileReport>,
    /// Rows committed to the raw table in this run.
    pub rows_loaded: u64,
    /// Rows committed to the quarantine table in this run.
    pub rows_quarantined: u64,
    /// The raw table's new version, when this run committed one.
    pub version: Option<u64>,
    /// The batch id of this run's rows.
    pub batch_id: String,
    /// Wall time.
    pub seconds: f64,
}

impl SourceReport {
    /// Files loaded in this run.
    pub fn files_loaded(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, FileOutcome::Loaded(_)))
            .count()
    }

    /// Files skipped because they were already loaded.
    pub fn files_skipped(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.outcome == FileOutcome::Skipped)
            .count()
    }
}

/// The lake table a source lands in.
pub fn raw_table_name(source: &str) -> String {
    format!("raw_{source}")
}

/// The table a source's bad rows land in.
pub fn quarantine_table_name(source: &str) -> String {
    format!("quarantine_{source}")
}

fn ledger_id(source: &str, sha256: &str) -> String {
    format!("dataflow.ingest/{source}/{sha256}")
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Checks that an existing raw table still has the declared columns and types.
fn check_schema(
    name: &str,
    table: &dataflow_engine::deltalake::DeltaTable,
    source: &SourceConfig,
) -> Result<()> {
    let expected = raw_schema(source);
    let snapshot = table
        .snapshot()
        .map_err(|e| dataflow_engine::Error::Delta {
            table: name.to_string(),
            source: e,
        })?;
    let actual = snapshot.snapshot().arrow_schema();
    let describe = |fields: Vec<(String, String)>| {
        fields
            .iter()
            .map(|(n, t)| format!("{n} {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let norm = |t: &dataflow_engine::datafusion::arrow::datatypes::DataType| {
        format!("{t}").replace("View", "")
    };
    let want: Vec<(String, String)> = expected
        .fields()
        .iter()
        .map(|f| (f.name().clone(), norm(f.data_type())))
        .collect();
    let have: Vec<(String, String)> = actual
        .fields()
        .iter()
        .map(|f| (f.name().clone(), norm(f.data_type())))
        .collect();
    if want != have {
        return Err(Error::SchemaMismatch {
            table: name.to_string(),
            message: format!(
                "the lake table's schema differs from the declared one; table: [{}]; declared: [{}]. Schema evolution is not automatic: load into a new source or drop the table",
                describe(have),
                describe(want)
            ),
        });
    }
    Ok(())
}

/// Ingests every new file of one source.
pub async fn ingest_source(
    project: &Project,
    lake: &Lake,
    name: &str,
    source: &SourceConfig,
    run_id: &str,
) -> Result<SourceReport> {
    let started = Instant::now();
    let location = project.resolve(&source.path);
    let locations = files::discover(name, source, &location).await?;
    let raw_name = raw_table_name(name);
    let quarantine_name = quarantine_table_name(name);
    let raw_table = lake
        .load_or_create(
            &raw_name,
            &raw_schema(source),
            source.description.as_deref(),
        )
        .await?;
    check_schema(&raw_name, &raw_table, source)?;
    let quarantine_table = lake
        .load_or_create(
            &quarantine_name,
            &quarantine_schema(),
            Some("rows ingest could not load"),
        )
        .await?;
    let mut raw_writer = TableWriter::new(&raw_name, raw_table)?;
    let mut quarantine_writer = TableWriter::new(&quarantine_name, quarantine_table)?;
    let batch_id = BatchId::new();
    let loaded_at = now_micros();
    let batch_rows = project.config.ingest.batch_rows;

    let loaded = load_all(
        name,
        source,
        locations,
        &batch_id,
        loaded_at,
        batch_rows,
        &mut raw_writer,
        &mut quarantine_writer,
    )
    .await;
    let Loaded {
        reports,
        raw_txns,
        quarantine_txns,
        good,
        bad,
    } = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            // Leave no orphaned data files behind; the tables are untouched.
            let _ = raw_writer.abort().await;
            let _ = quarantine_writer.abort().await;
            return Err(err);
        }
    };

    let file_metadata: Vec<_> = reports
        .iter()
        .filter_map(|f| match f.outcome {
            FileOutcome::Loaded(c) => Some(json!({
                "path": f.location, "size": f.size, "sha256": f.sha256, "rows": c.good, "bad_rows": c.bad,
            })),
            FileOutcome::Skipped => None,
        })
        .collect();
    let metadata = |table: &str| {
        HashMap::from([(
            "dataflow".to_string(),
            json!({ "run_id": run_id, "batch_id": batch_id.as_str(), "source": name, "table": table, "files": file_metadata }),
        )])
    };

    // Quarantine first: if we die between the two commits, the re-run reloads the file into the
    // raw table and skips its already-committed quarantine rows.
    let quarantined = quarantine_writer.rows();
    if quarantine_txns.is_empty() {
        quarantine_writer.abort().await?;
    } else {
        quarantine_writer
            .commit(&quarantine_txns, metadata(&quarantine_name))
            .await?;
    }

    let total = good + bad;
    let allowed = source
        .max_bad_row_fraction
        .unwrap_or(project.config.ingest.max_bad_row_fraction);
    if total > 0 && bad as f64 / total as f64 > allowed {
        raw_writer.abort().await?;
        warn!(
            source = name,
            bad, total, "too many bad rows; nothing loaded"
        );
        return Err(Error::TooManyBadRows {
            source_name: name.to_string(),
            bad,
            total,
            percent: bad as f64 * 100.0 / total as f64,
            allowed_percent: allowed * 100.0,
            quarantine: quarantine_name,
        });
    }
    let version = if raw_txns.is_empty() {
        raw_writer.abort().await?;
        None
    } else {
        Some(raw_writer.commit(&raw_txns, metadata(&raw_name)).await?)
    };
    Ok(SourceReport {
        source: name.to_string(),
        table: raw_name,
        quarantine_table: quarantine_name,
        files: reports,
        rows_loaded: good,
        rows_quarantined: quarantined,
        version,
        batch_id: batch_id.to_string(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What loading a source's files produced, before committing.
struct Loaded {
    reports: Vec<FileReport>,
    raw_txns: Vec<AppTransaction>,
    quarantine_txns: Vec<AppTransaction>,
    good: u64,
    bad: u64,
}

#[allow(clippy::too_many_arguments)]
async fn load_all(
    name: &str,
    source: &SourceConfig,
    locations: Vec<String>,
    batch_id: &BatchId,
    loaded_at: i64,
    batch_rows: usize,
    raw_writer: &mut TableWriter,
    quarantine_writer: &mut TableWriter,
) -> Result<Loaded> {
    let raw_name = raw_table_name(name);
    let quarantine_name = quarantine_table_name(name);
    let mut reports = Vec::new();
    let mut raw_txns = Vec::new();
    let mut quarantine_txns = Vec::new();
    let (mut good, mut bad) = (0u64, 0u64);
    for file_location in locations {
        let staged = files::stage(&file_location).await?;
        let app_id = ledger_id(name, &staged.sha256);
        // Same content as a file already in the lake, or as an earlier file of this run.
        let duplicate = raw_txns.iter().any(|t: &AppTransaction| t.app_id == app_id);
        if duplicate
            || transaction_version(raw_writer.table(), &raw_name, &app_id)
                .await?
                .is_some()
        {
            info!(source = name, file = %staged.location, sha256 = %staged.sha256, "content already loaded, skipping");
            reports.push(FileReport {
                location: staged.location,
                size: staged.size,
                sha256: staged.sha256,
                outcome: FileOutcome::Skipped,
            });
            continue;
        }
        let quarantine_done =
            transaction_version(quarantine_writer.table(), &quarantine_name, &app_id)
                .await?
                .is_some();
        let lineage = Lineage {
            loaded_at_micros: loaded_at,
            source_file: staged.location.clone(),
            batch_id: batch_id.to_string(),
        };
        let span = info_span!("ingest_file", source = name, file = %staged.location);
        let counts = load_file(
            name,
            source,
            &staged,
            lineage,
            batch_rows,
            raw_writer,
            (!quarantine_done).then_some(&mut *quarantine_writer),
        )
        .instrument(span)
        .await?;
        info!(source = name, file = %staged.location, rows = counts.good, quarantined = counts.bad, "file parsed");
        good += counts.good;
        bad += counts.bad;
        raw_txns.push(AppTransaction {
            app_id: app_id.clone(),
            version: 1,
        });
        if !quarantine_done && counts.bad > 0 {
            quarantine_txns.push(AppTransaction { app_id, version: 1 });
        }
        reports.push(FileReport {
            location: staged.location,
            size: staged.size,
            sha256: staged.sha256,
            outcome: FileOutcome::Loaded(counts),
        });
    }

    Ok(Loaded {
        reports,
        raw_txns,
        quarantine_txns,
        good,
        bad,
    })
}

async fn load_file(
    name: &str,
    source: &SourceConfig,
    staged: &StagedFile,
    lineage: Lineage,
    batch_rows: usize,
    raw_writer: &mut TableWriter,
    mut quarantine_writer: Option<&mut TableWriter>,
) -> Result<FileCounts> {
    let (mut rx, parse) = reader::spawn_read(
        name,
        source,
        staged.local.clone(),
        staged.location.clone(),
        lineage,
        batch_rows,
        true,
    );
    let mut write_error = None;
    while let Some(message) = rx.recv().await {
        let result = match message {
            Message::Rows(batch) => raw_writer.write(batch).await,
            Message::Quarantine(batch) => match quarantine_writer.as_deref_mut() {
                Some(writer) => writer.write(batch).await,
                None => Ok(()),
            },
        };
        if let Err(err) = result {
            write_error = Some(err);
            break;
        }
    }
    drop(rx);
    let parsed = parse.await.map_err(Error::internal)?;
    if let Some(err) = write_error {
        return Err(err.into());
    }
    parsed
}
