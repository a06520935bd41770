//! Reading one local file of a declared source without loading it into the lake: the same
//! readers and rules as `ingest` (declared types, a bad row's line, column and reason), the good
//! rows handed over as Arrow batches of the declared columns ([`declared_schema`]) and the bad
//! rows counted, with the first few kept as examples. `dataflow validate` uses it to check a
//! file against a suite in one pass over the file, as Great Expectations reads a CSV.

use std::path::Path;

use dataflow_core::config::SourceConfig;
use dataflow_engine::datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};

pub use crate::batch::declared_schema;
use crate::batch::{BadRow, Lineage};
use crate::error::{Error, Result};
use crate::reader::{self, Message};

/// Bad rows kept as examples in a [`FileRead`].
pub const BAD_EXAMPLES: usize = 5;

/// What reading a file found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileRead {
    /// Rows read with the declared types (handed over).
    pub rows: u64,
    /// Rows `ingest` would quarantine (wrong field count, unparseable value, null in a
    /// required column); not handed over.
    pub bad_rows: u64,
    /// The first bad rows, in file order.
    pub bad_examples: Vec<BadRow>,
}

/// Reads `path` as a file of `source` and calls `each` with every batch of good rows (at most
/// `batch_rows` rows, in file order, declared columns only). The file is parsed on a blocking
/// thread while `each` runs on the caller's task; memory holds a few batches at most.
pub async fn read_file(
    source_name: &str,
    source: &SourceConfig,
    path: &Path,
    batch_rows: usize,
    mut each: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<FileRead> {
    let display = path.display().to_string();
    let lineage = Lineage {
        loaded_at_micros: 0,
        source_file: display.clone(),
        batch_id: String::new(),
    };
    let (mut rx, parse) = reader::spawn_read(
        source_name,
        source,
        path.to_path_buf(),
        display,
        lineage,
        batch_rows,
        false,
    );
    let mut read = FileRead::default();
    let mut failed = None;
    while let Some(message) = rx.recv().await {
        match message {
            Message::Rows(batch) => {
                if let Err(err) = each(batch) {
                    failed = Some(err);
                    break;
                }
            }
            Message::Quarantine(batch) => {
                let room = BAD_EXAMPLES.saturating_sub(read.bad_examples.len());
                read.bad_examples
                    .extend(bad_rows(&batch).into_iter().take(room));
            }
        }
    }
    // Dropping the receiver stops the parser at its next batch.
    drop(rx);
    let counts = parse.await.map_err(Error::internal)?;
    if let Some(err) = failed {
        return Err(err);
    }
    let counts = counts?;
    read.rows = counts.good;
    read.bad_rows = counts.bad;
    Ok(read)
}

/// A file read into a temporary Arrow IPC file by [`to_arrow_file`]; deleted when dropped.
#[derive(Debug)]
pub struct ArrowFile {
    /// The Arrow IPC file (declared columns).
    pub path: std::path::PathBuf,
    /// What reading the source file found.
    pub read: FileRead,
    _temp: tempfile::TempPath,
}

/// Reads `path` as a file of `source` into a temporary Arrow IPC file in `dir` (declared
/// columns, no compression: written and scanned at memory speed, never held in memory). A
/// query engine scans it as often as it likes without parsing the file again.
pub async fn to_arrow_file(
    source_name: &str,
    source: &SourceConfig,
    path: &Path,
    batch_rows: usize,
    dir: &Path,
) -> Result<ArrowFile> {
    use dataflow_engine::datafusion::arrow::ipc::writer::FileWriter;
    let io = |context: String| {
        move |e: std::io::Error| Error::Io {
            context,
            message: e.to_string(),
        }
    };
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let temp = tempfile::Builder::new()
        .prefix("read-")
        .suffix(".arrow")
        .tempfile_in(dir)
        .map_err(io(format!("cannot create a file in {}", dir.display())))?;
    let (file, temp_path) = temp.into_parts();
    let schema = declared_schema(source);
    let mut writer = FileWriter::try_new(std::io::BufWriter::with_capacity(1 << 20, file), &schema)
        .map_err(Error::internal)?;
    let written = |e: dataflow_engine::datafusion::arrow::error::ArrowError| Error::Io {
        context: format!("cannot write {}", temp_path.display()),
        message: e.to_string(),
    };
    let read = read_file(source_name, source, path, batch_rows, |batch| {
        writer.write(&batch).map_err(written)
    })
    .await?;
    writer.finish().map_err(written)?;
    Ok(ArrowFile {
        path: temp_path.to_path_buf(),
        read,
        _temp: temp_path,
    })
}

/// The rows of a quarantine batch ([`crate::batch::quarantine_schema`]).
fn bad_rows(batch: &RecordBatch) -> Vec<BadRow> {
    let text = |index: usize| batch.column(index).as_any().downcast_ref::<StringArray>();
    let lines = batch.column(2).as_any().downcast_ref::<Int64Array>();
    let (Some(lines), Some(columns), Some(values), Some(records), Some(reasons)) =
        (lines, text(3), text(4), text(5), text(6))
    else {
        return Vec::new();
    };
    let optional =
        |array: &StringArray, row: usize| array.is_valid(row).then(|| array.value(row).to_string());
    (0..batch.num_rows())
        .map(|row| BadRow {
            line_number: u64::try_from(lines.value(row)).unwrap_or(0),
            column: optional(columns, row),
            raw_value: optional(values, row),
            raw_record: records.value(row).to_string(),
            reason: reasons.value(row).to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SourceConfig {
        serde_yaml_ng::from_str(
            "format: csv\npath: in/orders.csv\ncolumns:\n  - {name: id, type: bigint, nullable: false}\n  - {name: amount, type: 'decimal(6,2)'}\n  - {name: customer, type: string}\n",
        )
        .expect("source")
    }

    #[tokio::test]
    async fn good_rows_come_as_declared_columns_and_bad_rows_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("orders.csv");
        std::fs::write(
            &path,
            "customer,id,amount\nann,1,10.50\nbob,x,5\ncy,3\n,4,\ndee,5,2.25\n",
        )
        .expect("write");
        let mut batches = Vec::new();
        let read = read_file("orders", &source(), &path, 2, |b| {
            batches.push(b);
            Ok(())
        })
        .await
        .expect("read");
        assert_eq!((read.rows, read.bad_rows), (3, 2));
        let names: Vec<String> = batches[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["id", "amount", "customer"]);
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
        let first = &read.bad_examples[0];
        assert_eq!(first.line_number, 3);
        assert_eq!(first.column.as_deref(), Some("id"));
        assert!(
            first.reason.contains("cannot parse `x`"),
            "{}",
            first.reason
        );
        assert_eq!(read.bad_examples[1].line_number, 4);
        assert!(
            read.bad_examples[1]
                .reason
                .contains("expected 3 fields, found 2"),
            "{}",
            read.bad_examples[1].reason
        );
    }

    #[tokio::test]
    async fn a_failing_consumer_stops_the_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("orders.csv");
        let mut text = String::from("id,amount,customer\n");
        for i in 0..1000 {
            text.push_str(&format!("{i},1.00,ann\n"));
        }
        std::fs::write(&path, text).expect("write");
        let err = read_file("orders", &source(), &path, 10, |_| {
            Err(Error::Internal("disk full".into()))
        })
        .await
        .expect_err("the consumer's error");
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
