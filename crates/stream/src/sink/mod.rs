//! Sinks: the lake tables (the record of which offsets are done), the PostgreSQL customer
//! metrics, the dead-letter topic and the anomaly alert webhook.

pub mod alerts;
pub mod dead_letter;
pub mod lake;
pub mod postgres;
pub mod rows;

pub use alerts::{AlertCounts, AlertSink};
pub use dead_letter::{DeadLetter, DeadLetterSink, Deliveries};
pub use lake::{LakeSink, LakeTable, app_id, dead_letters_app_id};
pub use postgres::{OFFSETS_TABLE, PgBatch, PgSink, PgStates, WindowDelta};
pub use rows::{
    CustomerEventRow, PARTITION_COLUMNS, TransactionRow, customer_events_batch,
    customer_events_schema, transactions_batch, transactions_schema,
};
