//! Mapping declared column types to Arrow types as the lake stores them.

use std::sync::Arc;

use dataflow_core::types::ColumnType;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The time zone every lake timestamp is stored in.
pub const UTC: &str = "UTC";

/// The Arrow type a declared column is stored as. Timestamps are microseconds in UTC, which is
/// Delta Lake's `timestamp` type.
pub fn arrow_type(column_type: ColumnType) -> DataType {
    match column_type {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => timestamp_type(),
    }
}

/// Arrow's type for lake timestamps.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC)))
}

/// Builds a schema from (name, type, nullable) triples.
pub fn schema_of<'a>(columns: impl IntoIterator<Item = (&'a str, DataType, bool)>) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .into_iter()
            .map(|(name, data_type, nullable)| Field::new(name, data_type, nullable))
            .collect::<Vec<_>>(),
    ))
}
