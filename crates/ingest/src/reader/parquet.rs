//! Parquet reader: declared columns are found by name and cast to the declared types; a value
//! that does not cast, or a null in a required column, quarantines its row with the row number.

use std::fs::File;
use std::path::Path;

use dataflow_core::config::SourceConfig;
use dataflow_engine::datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use dataflow_engine::datafusion::arrow::compute::{CastOptions, cast_with_options, filter};
use dataflow_engine::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use dataflow_engine::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use dataflow_engine::schema::arrow_type;

use super::{Output, file_error, null_reason};
use crate::batch::BadRow;
use crate::error::{Error, Result};

/// Reads one Parquet file into `out`.
pub fn read(
    path: &Path,
    display: &str,
    source_name: &str,
    source: &SourceConfig,
    batch_rows: usize,
    out: &mut Output<'_>,
) -> Result<()> {
    let bad_file = file_error(source_name, display);
    let file = File::open(path).map_err(|e| bad_file(format!("cannot open: {e}")))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad_file(format!("not a Parquet file: {e}")))?
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| bad_file(e.to_string()))?;
    let cast_options = CastOptions {
        safe: true,
        format_options: FormatOptions::default(),
    };
    let mut row_offset = 0u64;
    for batch in reader {
        let batch =
            batch.map_err(|e| bad_file(format!("unreadable after row {row_offset}: {e}")))?;
        let rows = batch.num_rows();
        let mut originals: Vec<ArrayRef> = Vec::with_capacity(source.columns.len());
        let mut casted: Vec<ArrayRef> = Vec::with_capacity(source.columns.len());
        for column in &source.columns {
            let original = batch.column_by_name(&column.name).ok_or_else(|| {
                let names: Vec<String> = batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                bad_file(format!(
                    "lacks declared column `{}`; file has: {}",
                    column.name,
                    names.join(", ")
                ))
            })?;
            let target = arrow_type(column.column_type);
            let converted = if original.data_type() == &target {
                original.clone()
            } else {
                cast_with_options(original, &target, &cast_options).map_err(|e| {
                    bad_file(format!(
                        "column `{}` cannot be read as {}: {e}",
                        column.name, column.column_type
                    ))
                })?
            };
            originals.push(original.clone());
            casted.push(converted);
        }
        let mut keep = vec![true; rows];
        let mut any_bad = false;
        for (row, keep_row) in keep.iter_mut().enumerate() {
            for (index, column) in source.columns.iter().enumerate() {
                let reason = if originals[index].is_valid(row) && casted[index].is_null(row) {
                    Some(format!("value does not fit {}", column.column_type))
                } else if casted[index].is_null(row) && !column.nullable {
                    Some(null_reason(&column.name))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    *keep_row = false;
                    any_bad = true;
                    out.bad(BadRow {
                        line_number: row_offset + row as u64 + 1,
                        column: Some(column.name.clone()),
                        raw_value: format_value(&originals[index], row),
                        raw_record: format_row(&batch, row),
                        reason,
                    })?;
                    break;
                }
            }
        }
        let arrays = if any_bad {
            let mask = BooleanArray::from(keep);
            casted
                .iter()
                .map(|a| filter(a, &mask).map_err(Error::internal))
                .collect::<Result<Vec<_>>>()?
        } else {
            casted
        };
        let good = arrays.first().map_or(0, |a| a.len());
        out.columns(arrays, good)?;
        row_offset += rows as u64;
    }
    Ok(())
}

fn format_value(array: &ArrayRef, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()).ok()?;
    Some(formatter.value(row).to_string())
}

fn format_row(
    batch: &dataflow_engine::datafusion::arrow::array::RecordBatch,
    row: usize,
) -> String {
    let mut object = serde_json::Map::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let value =
            format_value(column, row).map_or(serde_json::Value::Null, serde_json::Value::String);
        object.insert(field.name().clone(), value);
    }
    serde_json::Value::Object(object).to_string()
}
