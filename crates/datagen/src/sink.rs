//! Where generated rows go: CSV (RFC 4180, quoting only where needed, NULL as an empty field) or
//! Parquet (snappy). Each writes to a temporary name and renames on success, so a failed or
//! interrupted run never leaves a half-written file under the final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// The type of a generated column.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// 64-bit integer.
    Int64,
    /// Text.
    Str,
    /// Money with two decimals, given in cents.
    Money {
        /// Decimal precision.
        precision: u8,
    },
    /// Date.
    Date,
    /// Timestamp (seconds precision in the generator, UTC).
    Timestamp,
}

/// Name and type of every column of a generated table.
pub type Columns = &'static [(&'static str, Kind)];

/// Receives generated rows field by field.
pub trait Sink {
    /// An integer field.
    fn int(&mut self, value: i64);
    /// A text field.
    fn str(&mut self, value: &str);
    /// A NULL field.
    fn null(&mut self);
    /// A money field in cents.
    fn cents(&mut self, value: i64);
    /// A date field (days since the epoch).
    fn date(&mut self, days: i32);
    /// A timestamp field (seconds since the epoch).
    fn ts(&mut self, secs: i64);
    /// Ends the current row.
    fn end_row(&mut self) -> Result<()>;
    /// Writes a raw, possibly malformed line (CSV only; used for structural defects).
    fn raw_line(&mut self, line: &[u8]) -> Result<()>;
    /// Whether raw lines and unparseable text in typed columns can be written.
    fn supports_malformed(&self) -> bool;
    /// Completes the output.
    fn finish(self) -> Result<()>
    where
        Self: Sized;
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes CSV with a header row.
pub struct CsvSink {
    path: PathBuf,
    temp: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
    first: bool,
}

impl CsvSink {
    /// Creates `path` (via a temporary file) and writes the header.
    pub fn create(path: &Path, columns: Columns) -> Result<CsvSink> {
        let temp = temp_name(path);
        let file = File::create(&temp).map_err(io_error(&temp))?;
        let mut sink = CsvSink {
            path: path.to_path_buf(),
            temp,
            out: BufWriter::with_capacity(1 << 20, file),
            line: Vec::with_capacity(256),
            first: true,
        };
        for (name, _) in columns {
            sink.str(name);
        }
        sink.end_row()?;
        Ok(sink)
    }

    fn sep(&mut self) {
        if !self.first {
            self.line.push(b',');
        }
        self.first = false;
    }
}

impl Sink for CsvSink {
    fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(io_error(&self.temp))?;
        std::fs::rename(&self.temp, &self.path).map_err(io_error(&self.path))
    }

    fn int(&mut self, value: i64) {
        self.sep();
        self.line
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    fn str(&mut self, value: &str) {
        self.sep();
        if value
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        {
            self.line.push(b'"');
            for b in value.bytes() {
                if b == b'"' {
                    self.line.push(b'"');
                }
                self.line.push(b);
            }
            self.line.push(b'"');
        } else {
            self.line.extend_from_slice(value.as_bytes());
        }
    }

    fn null(&mut self) {
        self.sep();
    }

    fn cents(&mut self, value: i64) {
        self.sep();
        if value < 0 {
            self.line.push(b'-');
        }
        let abs = value.unsigned_abs();
        self.line
            .extend_from_slice(itoa::Buffer::new().format(abs / 100).as_bytes());
        self.line.push(b'.');
        self.line.push(b'0' + (abs % 100 / 10) as u8);
        self.line.push(b'0' + (abs % 10) as u8);
    }

    fn date(&mut self, days: i32) {
        self.sep();
        dataflow_core::time::format_date(days, &mut self.line);
    }

    fn ts(&mut self, secs: i64) {
        self.sep();
        dataflow_core::time::format_timestamp_secs(secs, &mut self.line);
    }

    fn end_row(&mut self) -> Result<()> {
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .map_err(io_error(&self.temp))?;
        self.line.clear();
        self.first = true;
        Ok(())
    }

    fn raw_line(&mut self, line: &[u8]) -> Result<()> {
        self.out.write_all(line).map_err(io_error(&self.temp))?;
        self.out.write_all(b"\n").map_err(io_error(&self.temp))
    }

    fn supports_malformed(&self) -> bool {
        true
    }
}

enum ColumnBuilder {
    Int64(Int64Builder),
    Str(StringBuilder),
    Money(Decimal128Builder, u8),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
}

impl ColumnBuilder {
    fn new(kind: Kind) -> ColumnBuilder {
        match kind {
            Kind::Int64 => ColumnBuilder::Int64(Int64Builder::new()),
            Kind::Str => ColumnBuilder::Str(StringBuilder::new()),
            Kind::Money { precision } => ColumnBuilder::Money(Decimal128Builder::new(), precision),
            Kind::Date => ColumnBuilder::Date(Date32Builder::new()),
            Kind::Timestamp => ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new()),
        }
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        Ok(match self {
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Str(b) => Arc::new(b.finish()),
            ColumnBuilder::Money(b, precision) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*precision, 2)
                    .map_err(|e| Error::Internal(e.to_string()))?,
            ),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish().with_timezone("UTC")),
        })
    }
}

/// The Arrow schema of a generated table.
pub fn arrow_schema(columns: Columns) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, kind)| {
                let data_type = match kind {
                    Kind::Int64 => DataType::Int64,
                    Kind::Str => DataType::Utf8,
                    Kind::Money { precision } => DataType::Decimal128(*precision, 2),
                    Kind::Date => DataType::Date32,
                    Kind::Timestamp => {
                        DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
                    }
                };
                Field::new(*name, data_type, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Writes snappy-compressed Parquet in batches of 65,536 rows.
pub struct ParquetSink {
    path: PathBuf,
    temp: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    builders: Vec<ColumnBuilder>,
    column: usize,
    rows: usize,
}

const PARQUET_BATCH_ROWS: usize = 65_536;

impl ParquetSink {
    /// Creates `path` (via a temporary file).
    pub fn create(path: &Path, columns: Columns) -> Result<ParquetSink> {
        let temp = temp_name(path);
        let file = File::create(&temp).map_err(io_error(&temp))?;
        let schema = arrow_schema(columns);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(ParquetSink {
            path: path.to_path_buf(),
            temp,
            schema,
            writer,
            builders: columns
                .iter()
                .map(|(_, k)| ColumnBuilder::new(*k))
                .collect(),
            column: 0,
            rows: 0,
        })
    }

    fn next(&mut self) -> &mut ColumnBuilder {
        let index = self.column.min(self.builders.len() - 1);
        self.column += 1;
        &mut self.builders[index]
    }

    fn flush_batch(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.writer
            .write(&batch)
            .map_err(|e| Error::Internal(format!("{}: {e}", self.temp.display())))?;
        self.rows = 0;
        Ok(())
    }

    fn close(mut self) -> Result<()> {
        self.flush_batch()?;
        self.writer
            .close()
            .map_err(|e| Error::Internal(format!("{}: {e}", self.temp.display())))?;
        std::fs::rename(&self.temp, &self.path).map_err(io_error(&self.path))
    }
}

impl Sink for ParquetSink {
    fn finish(self) -> Result<()> {
        self.close()
    }

    fn int(&mut self, value: i64) {
        match self.next() {
            ColumnBuilder::Int64(b) => b.append_value(value),
            other => other.append_null(),
        }
    }

    fn str(&mut self, value: &str) {
        match self.next() {
            ColumnBuilder::Str(b) => b.append_value(value),
            other => other.append_null(),
        }
    }

    fn null(&mut self) {
        self.next().append_null();
    }

    fn cents(&mut self, value: i64) {
        match self.next() {
            ColumnBuilder::Money(b, _) => b.append_value(i128::from(value)),
            other => other.append_null(),
        }
    }

    fn date(&mut self, days: i32) {
        match self.next() {
            ColumnBuilder::Date(b) => b.append_value(days),
            other => other.append_null(),
        }
    }

    fn ts(&mut self, secs: i64) {
        match self.next() {
            ColumnBuilder::Timestamp(b) => b.append_value(secs * 1_000_000),
            other => other.append_null(),
        }
    }

    fn end_row(&mut self) -> Result<()> {
        self.column = 0;
        self.rows += 1;
        if self.rows >= PARQUET_BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn raw_line(&mut self, _line: &[u8]) -> Result<()> {
        Err(Error::Internal(
            "raw lines cannot be written to Parquet".into(),
        ))
    }

    fn supports_malformed(&self) -> bool {
        false
    }
}

impl ColumnBuilder {
    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Str(b) => b.append_null(),
            ColumnBuilder::Money(b, _) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
        }
    }
}
