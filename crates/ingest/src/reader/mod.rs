//! Format readers. Each reads one local file of a source, parses every record against the
//! declared schema and sends good rows and bad rows, as Arrow batches, to the writer task.

pub mod csv;
pub mod json;
pub mod parquet;

use dataflow_core::config::SourceConfig;
use dataflow_engine::datafusion::arrow::array::RecordBatch;
use tokio::sync::mpsc::Sender;

use crate::batch::{BadRow, Lineage, QuarantineBuilder, RawBatchBuilder};
use crate::error::{Error, Result};

/// Bad rows per quarantine batch.
const QUARANTINE_BATCH_ROWS: usize = 8_192;

/// What a reader sends to the writer.
#[derive(Debug)]
pub enum Message {
    /// Good rows for the raw table.
    Rows(RecordBatch),
    /// Bad rows for the quarantine table.
    Quarantine(RecordBatch),
}

/// Counts for one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// Rows loaded.
    pub good: u64,
    /// Rows quarantined.
    pub bad: u64,
}

/// Collects a reader's output into batches and sends them on.
pub struct Output<'a> {
    source_name: &'a str,
    lineage: &'a Lineage,
    tx: &'a Sender<Message>,
    batch_rows: usize,
    raw: RawBatchBuilder,
    quarantine: QuarantineBuilder,
    counts: FileCounts,
}

impl<'a> Output<'a> {
    /// An output for one file of `source`.
    pub fn new(
        source_name: &'a str,
        source: &SourceConfig,
        lineage: &'a Lineage,
        tx: &'a Sender<Message>,
        batch_rows: usize,
    ) -> Output<'a> {
        Output {
            source_name,
            lineage,
            tx,
            batch_rows,
            raw: RawBatchBuilder::new(source, batch_rows),
            quarantine: QuarantineBuilder::default(),
            counts: FileCounts::default(),
        }
    }

    /// Good rows as the declared columns only, without the lake's lineage columns (for
    /// reading a file without loading it).
    pub fn without_lineage(mut self, source: &SourceConfig) -> Output<'a> {
        self.raw = RawBatchBuilder::without_lineage(source, self.batch_rows);
        self
    }

    /// The lineage of this file's rows.
    pub fn lineage(&self) -> &Lineage {
        self.lineage
    }

    /// Good rows per batch.
    pub fn batch_rows(&self) -> usize {
        self.batch_rows
    }

    /// A new empty builder like this output's own (with or without lineage columns), for a
    /// reader that builds batches on other threads and hands them on with [`Output::rows`].
    pub fn new_raw_builder(&self, source: &SourceConfig) -> RawBatchBuilder {
        if self.raw.has_lineage() {
            RawBatchBuilder::new(source, self.batch_rows)
        } else {
            RawBatchBuilder::without_lineage(source, self.batch_rows)
        }
    }

    /// Hands on a batch of good rows built with [`Output::new_raw_builder`]. Rows appended
    /// with [`Output::raw`] and not yet sent go first.
    pub fn rows(&mut self, batch: RecordBatch) -> Result<()> {
        if self.raw.rows() > 0 {
            let pending = self.raw.finish(self.lineage)?;
            self.send(Message::Rows(pending))?;
        }
        self.counts.good += batch.num_rows() as u64;
        self.send(Message::Rows(batch))
    }

    /// The raw-row builder, to append a good row.
    pub fn raw(&mut self) -> &mut RawBatchBuilder {
        &mut self.raw
    }

    /// Call after appending a good row.
    pub fn row_done(&mut self) -> Result<()> {
        self.counts.good += 1;
        if self.raw.rows() >= self.batch_rows {
            let batch = self.raw.finish(self.lineage)?;
            self.send(Message::Rows(batch))?;
        }
        Ok(())
    }

    /// Records a bad row.
    pub fn bad(&mut self, row: BadRow) -> Result<()> {
        self.counts.bad += 1;
        self.quarantine.push(row);
        if self.quarantine.len() >= QUARANTINE_BATCH_ROWS {
            let batch = self.quarantine.finish(self.source_name, self.lineage)?;
            self.send(Message::Quarantine(batch))?;
        }
        Ok(())
    }

    fn send(&self, message: Message) -> Result<()> {
        self.tx
            .blocking_send(message)
            .map_err(|_| Error::Internal("the lake writer stopped".into()))
    }

    /// Sends what is left and returns the counts.
    pub fn finish(mut self) -> Result<FileCounts> {
        if self.raw.rows() > 0 {
            let batch = self.raw.finish(self.lineage)?;
            self.send(Message::Rows(batch))?;
        }
        if !self.quarantine.is_empty() {
            let batch = self.quarantine.finish(self.source_name, self.lineage)?;
            self.send(Message::Quarantine(batch))?;
        }
        Ok(self.counts)
    }
}

/// Reads one local file of `source`, in the source's format, into `out`; `display` names the
/// file in errors.
pub fn read_any(
    path: &std::path::Path,
    display: &str,
    source_name: &str,
    source: &SourceConfig,
    batch_rows: usize,
    out: &mut Output<'_>,
) -> Result<()> {
    use dataflow_core::config::FileFormat;
    match source.format {
        FileFormat::Csv => csv::read(path, display, source_name, source, out),
        FileFormat::Json => json::read(path, display, source_name, source, out),
        FileFormat::Parquet => parquet::read(path, display, source_name, source, batch_rows, out),
    }
}

/// Reads one local file of `source` on a blocking thread (see [`read_any`]) and sends its
/// batches down the returned channel, which holds a few at most; the task ends with the file's
/// counts. Good rows carry the lake's lineage columns unless `with_lineage` is false.
/// Dropping the receiver stops the read at its next batch.
pub fn spawn_read(
    source_name: &str,
    source: &SourceConfig,
    path: std::path::PathBuf,
    display: String,
    lineage: Lineage,
    batch_rows: usize,
    with_lineage: bool,
) -> (
    tokio::sync::mpsc::Receiver<Message>,
    tokio::task::JoinHandle<Result<FileCounts>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Message>(4);
    let source = source.clone();
    let name = source_name.to_string();
    let parse = tokio::task::spawn_blocking(move || -> Result<FileCounts> {
        let mut out = Output::new(&name, &source, &lineage, &tx, batch_rows);
        if !with_lineage {
            out = out.without_lineage(&source);
        }
        read_any(&path, &display, &name, &source, batch_rows, &mut out)?;
        out.finish()
    });
    (rx, parse)
}

/// Builds the error for a problem with a whole file of a source.
pub(crate) fn file_error<'a>(
    source_name: &'a str,
    display: &'a str,
) -> impl Fn(String) -> Error + 'a {
    move |message| Error::BadFile {
        source_name: source_name.to_string(),
        file: display.to_string(),
        message,
    }
}

/// A reason for a null in a non-nullable column.
pub(crate) fn null_reason(column: &str) -> String {
    format!("null in required column `{column}`")
}

impl Output<'_> {
    /// Sends already-typed declared columns (all rows good), with lineage columns added unless
    /// the output is [`without_lineage`](Output::without_lineage).
    pub fn columns(
        &mut self,
        mut arrays: Vec<dataflow_engine::datafusion::arrow::array::ArrayRef>,
        rows: usize,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        if self.raw.has_lineage() {
            arrays.push(crate::batch::repeated_time(
                self.lineage.loaded_at_micros,
                rows,
            ));
            arrays.push(crate::batch::repeated(&self.lineage.source_file, rows));
            arrays.push(crate::batch::repeated(&self.lineage.batch_id, rows));
        }
        let batch = RecordBatch::try_new(self.raw.schema(), arrays).map_err(Error::internal)?;
        self.counts.good += rows as u64;
        self.send(Message::Rows(batch))
    }
}

#[cfg(test)]
mod tests;
