//! Building Arrow record batches for a source: typed columns from parsed cells, the lineage
//! columns every raw table carries, and the quarantine table's rows.

use std::sync::Arc;

use dataflow_core::config::SourceConfig;
use dataflow_core::types::ColumnType;
use dataflow_engine::datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder,
    Int64Builder, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};
use dataflow_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use dataflow_engine::schema::{UTC, arrow_type, timestamp_type};

use crate::error::{Error, Result};
use crate::parse::Cell;

/// Lineage columns appended to every raw table.
pub const LOADED_AT: &str = "_loaded_at";
/// The file a row came from.
pub const SOURCE_FILE: &str = "_source_file";
/// The load that wrote the row.
pub const BATCH_ID: &str = "_batch_id";

/// The declared columns of a source, in order, as Arrow fields: what a file of the source
/// holds once read (without the lake's lineage columns).
pub fn declared_schema(source: &SourceConfig) -> SchemaRef {
    Arc::new(Schema::new(declared_fields(source)))
}

fn declared_fields(source: &SourceConfig) -> Vec<Field> {
    source
        .columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.column_type), c.nullable))
        .collect()
}

/// The schema of `raw_<source>`: declared columns, then `_loaded_at`, `_source_file`, `_batch_id`.
pub fn raw_schema(source: &SourceConfig) -> SchemaRef {
    let mut fields = declared_fields(source);
    fields.push(Field::new(LOADED_AT, timestamp_type(), false));
    fields.push(Field::new(SOURCE_FILE, DataType::Utf8, false));
    fields.push(Field::new(BATCH_ID, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// The schema of `quarantine_<source>`.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("line_number", DataType::Int64, false),
        Field::new("column_name", DataType::Utf8, true),
        Field::new("raw_value", DataType::Utf8, true),
        Field::new("raw_record", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new(LOADED_AT, timestamp_type(), false),
        Field::new(BATCH_ID, DataType::Utf8, false),
    ]))
}

/// Lineage values shared by every row of one file's load.
#[derive(Debug, Clone)]
pub struct Lineage {
    /// Load time, microseconds since the epoch.
    pub loaded_at_micros: i64,
    /// The file's path or URL.
    pub source_file: String,
    /// The batch id.
    pub batch_id: String,
}

pub(crate) fn repeated(value: &str, rows: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        value, rows,
    )))
}

pub(crate) fn repeated_time(micros: i64, rows: usize) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(micros, rows))
            .with_timezone(UTC),
    )
}

enum Column {
    Text(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
}

impl Column {
    fn new(column_type: ColumnType, capacity: usize) -> Column {
        match column_type {
            ColumnType::String => {
                Column::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Int32 => Column::Int32(Int32Builder::with_capacity(capacity)),
            ColumnType::Int64 => Column::Int64(Int64Builder::with_capacity(capacity)),
            ColumnType::Float64 => Column::Float(Float64Builder::with_capacity(capacity)),
            ColumnType::Decimal { precision, scale } => {
                Column::Decimal(Decimal128Builder::with_capacity(capacity), precision, scale)
            }
            ColumnType::Boolean => Column::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Date => Column::Date(Date32Builder::with_capacity(capacity)),
            ColumnType::Timestamp => {
                Column::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
            }
        }
    }

    fn append(&mut self, cell: Cell, text: &[u8]) {
        match (self, cell) {
            (Column::Text(b), Cell::Text) => {
                // Checked as UTF-8 by `parse_cell`.
                b.append_value(String::from_utf8_lossy(text));
            }
            (Column::Int32(b), Cell::Int(v)) => b.append_value(v as i32),
            (Column::Int64(b), Cell::Int(v)) => b.append_value(v),
            (Column::Float(b), Cell::Float(v)) => b.append_value(v),
            (Column::Decimal(b, ..), Cell::Decimal(v)) => b.append_value(v),
            (Column::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Column::Date(b), Cell::Date(v)) => b.append_value(v),
            (Column::Timestamp(b), Cell::Timestamp(v)) => b.append_value(v),
            (column, _) => column.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            Column::Text(b) => b.append_null(),
            Column::Int32(b) => b.append_null(),
            Column::Int64(b) => b.append_null(),
            Column::Float(b) => b.append_null(),
            Column::Decimal(b, ..) => b.append_null(),
            Column::Bool(b) => b.append_null(),
            Column::Date(b) => b.append_null(),
            Column::Timestamp(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        Ok(match self {
            Column::Text(b) => Arc::new(b.finish()),
            Column::Int32(b) => Arc::new(b.finish()),
            Column::Int64(b) => Arc::new(b.finish()),
            Column::Float(b) => Arc::new(b.finish()),
            Column::Decimal(b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .map_err(Error::internal)?,
            ),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Date(b) => Arc::new(b.finish()),
            Column::Timestamp(b) => Arc::new(b.finish().with_timezone(UTC)),
        })
    }
}

/// Accumulates good rows of one source and emits record batches in the raw table's schema.
pub struct RawBatchBuilder {
    schema: SchemaRef,
    columns: Vec<Column>,
    types: Vec<ColumnType>,
    rows: usize,
    capacity: usize,
    lineage: bool,
}

impl RawBatchBuilder {
    /// A builder for `source`, sized for `capacity` rows per batch.
    pub fn new(source: &SourceConfig, capacity: usize) -> RawBatchBuilder {
        let types: Vec<ColumnType> = source.columns.iter().map(|c| c.column_type).collect();
        RawBatchBuilder {
            schema: raw_schema(source),
            columns: types.iter().map(|t| Column::new(*t, capacity)).collect(),
            types,
            rows: 0,
            capacity,
            lineage: true,
        }
    }

    /// A builder whose batches hold the declared columns only ([`declared_schema`]), for
    /// reading a file without loading it.
    pub fn without_lineage(source: &SourceConfig, capacity: usize) -> RawBatchBuilder {
        RawBatchBuilder {
            schema: declared_schema(source),
            lineage: false,
            ..RawBatchBuilder::new(source, capacity)
        }
    }

    /// Whether batches carry the lineage columns.
    pub fn has_lineage(&self) -> bool {
        self.lineage
    }

    /// The declared column types, in order.
    pub fn types(&self) -> &[ColumnType] {
        &self.types
    }

    /// Rows buffered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The raw table's schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Appends one good row: a parsed cell and its text for each declared column.
    pub fn append<'a>(&mut self, cells: impl Iterator<Item = (Cell, &'a [u8])>) {
        for (column, (cell, text)) in self.columns.iter_mut().zip(cells) {
            column.append(cell, text);
        }
        self.rows += 1;
    }

    /// Emits the buffered rows as a batch, with lineage columns unless built
    /// [`without_lineage`](Self::without_lineage).
    pub fn finish(&mut self, lineage: &Lineage) -> Result<RecordBatch> {
        let rows = self.rows;
        // Each batch's builders start at full size: a finished builder starts empty and
        // would grow by doubling (copies and fresh pages) through the next batch.
        let mut arrays = self
            .columns
            .iter_mut()
            .zip(&self.types)
            .map(|(column, column_type)| {
                let array = column.finish();
                *column = Column::new(*column_type, self.capacity);
                array
            })
            .collect::<Result<Vec<_>>>()?;
        if self.lineage {
            arrays.push(repeated_time(lineage.loaded_at_micros, rows));
            arrays.push(repeated(&lineage.source_file, rows));
            arrays.push(repeated(&lineage.batch_id, rows));
        }
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(Error::internal)
    }
}

/// One bad row, as the quarantine table stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    /// 1-based line (CSV, JSON) or row (Parquet) number in the file.
    pub line_number: u64,
    /// The offending column, when one is to blame.
    pub column: Option<String>,
    /// The offending value, when there is one.
    pub raw_value: Option<String>,
    /// The whole record as it was read.
    pub raw_record: String,
    /// Why the row was rejected.
    pub reason: String,
}

/// Accumulates bad rows and emits quarantine batches.
#[derive(Default)]
pub struct QuarantineBuilder {
    rows: Vec<BadRow>,
}

impl QuarantineBuilder {
    /// Adds a bad row.
    pub fn push(&mut self, row: BadRow) {
        self.rows.push(row);
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Emits the buffered rows as a quarantine batch.
    pub fn finish(&mut self, source: &str, lineage: &Lineage) -> Result<RecordBatch> {
        let rows = std::mem::take(&mut self.rows);
        let n = rows.len();
        let arrays: Vec<ArrayRef> = vec![
            repeated(source, n),
            repeated(&lineage.source_file, n),
            Arc::new(
                dataflow_engine::datafusion::arrow::array::Int64Array::from_iter_values(
                    rows.iter().map(|r| r.line_number as i64),
                ),
            ),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.column.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.raw_value.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.raw_record.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.reason.as_str()),
            )),
            repeated_time(lineage.loaded_at_micros, n),
            repeated(&lineage.batch_id, n),
        ];
        RecordBatch::try_new(quarantine_schema(), arrays).map_err(Error::internal)
    }
}
