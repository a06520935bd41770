//! The lake tables' schemas and the Arrow batches of processed events.
//!
//! Both tables are partitioned by the event's UTC date and hour (`event_date`, `event_hour`),
//! and every row says which Kafka partition and offset it came from.

use std::sync::Arc;

use dataflow_engine::datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use dataflow_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{Error, Result};
use crate::event::{CustomerEvent, Transaction};
use crate::process::Flags;

/// The partition columns of both tables.
pub const PARTITION_COLUMNS: &[&str] = &["event_date", "event_hour"];

const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// A processed transaction and where it came from.
#[derive(Debug, Clone)]
pub struct TransactionRow {
    /// The event.
    pub txn: Transaction,
    /// Its flags.
    pub flags: Flags,
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
}

/// A customer event and where it came from.
#[derive(Debug, Clone)]
pub struct CustomerEventRow {
    /// The event.
    pub event: CustomerEvent,
    /// Kafka partition.
    pub partition: i32,
    /// Kafka offset.
    pub offset: i64,
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn lineage_and_partitions() -> Vec<Field> {
    vec![
        Field::new("_kafka_partition", DataType::Int32, false),
        Field::new("_kafka_offset", DataType::Int64, false),
        Field::new("_processed_at", utc_micros(), false),
        Field::new("event_date", DataType::Date32, false),
        Field::new("event_hour", DataType::Int32, false),
    ]
}

/// The schema of `stream_transactions`.
pub fn transactions_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("transaction_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("amount", DataType::Decimal128(18, 2), false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, true),
        Field::new("event_time", utc_micros(), false),
        Field::new("is_high_value", DataType::Boolean, false),
        Field::new("is_fixed_anomaly", DataType::Boolean, false),
        Field::new("is_statistical_anomaly", DataType::Boolean, false),
        Field::new("is_anomaly", DataType::Boolean, false),
        Field::new("amount_z_score", DataType::Float64, true),
    ];
    fields.extend(lineage_and_partitions());
    Arc::new(Schema::new(fields))
}

/// The schema of `stream_customer_events`.
pub fn customer_events_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("event_time", utc_micros(), false),
        Field::new("session_id", DataType::Utf8, true),
        Field::new("details", DataType::Utf8, true),
    ];
    fields.extend(lineage_and_partitions());
    Arc::new(Schema::new(fields))
}

/// The columns every row ends with: Kafka partition and offset, processing time, event date
/// and hour.
fn lineage_columns(
    rows: impl Iterator<Item = (i32, i64, i64)> + Clone,
    processed_at: i64,
) -> Vec<ArrayRef> {
    let count = rows.clone().count();
    vec![
        Arc::new(Int32Array::from_iter_values(rows.clone().map(|r| r.0))),
        Arc::new(Int64Array::from_iter_values(rows.clone().map(|r| r.1))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(processed_at, count))
                .with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from_iter_values(
            rows.clone().map(|r| r.2.div_euclid(MICROS_PER_DAY) as i32),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.map(|r| r.2.div_euclid(MICROS_PER_HOUR).rem_euclid(24) as i32),
        )),
    ]
}

/// The Arrow batch of processed transactions.
pub fn transactions_batch(rows: &[TransactionRow], processed_at: i64) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.txn.transaction_id.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.txn.customer_id),
        )),
        Arc::new(
            Decimal128Array::from_iter_values(rows.iter().map(|r| i128::from(r.txn.amount_cents)))
                .with_precision_and_scale(18, 2)
                .map_err(|e| Error::Internal(e.to_string()))?,
        ),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.txn.currency.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.txn.status.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.txn.category.as_deref()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.txn.event_time_micros),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.flags.is_high_value)),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.flags.is_fixed_anomaly)),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.flags.is_statistical_anomaly)),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.flags.is_anomaly())),
        )),
        Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.flags.z_score),
        )),
    ];
    columns.extend(lineage_columns(
        rows.iter()
            .map(|r| (r.partition, r.offset, r.txn.event_time_micros)),
        processed_at,
    ));
    RecordBatch::try_new(transactions_schema(), columns).map_err(|e| Error::Internal(e.to_string()))
}

/// The Arrow batch of customer events.
pub fn customer_events_batch(rows: &[CustomerEventRow], processed_at: i64) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.event.event_id.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.event.customer_id),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.event.event_type.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.event.event_time_micros),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.event.session_id.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.event.details.as_deref()),
        )),
    ];
    columns.extend(lineage_columns(
        rows.iter()
            .map(|r| (r.partition, r.offset, r.event.event_time_micros)),
        processed_at,
    ));
    RecordBatch::try_new(customer_events_schema(), columns)
        .map_err(|e| Error::Internal(e.to_string()))
}
