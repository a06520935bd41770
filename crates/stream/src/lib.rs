//! The real-time path of dataflow: Kafka transaction and customer events, parsed and validated
//! (the rejected ones to a dead-letter topic), flagged (high value, fixed and statistical
//! anomalies), and written in micro-batches to Delta tables in the lake and to per-customer
//! metrics in PostgreSQL, with offsets committed only after the sinks hold the batch, so a
//! crash and restart has exactly the effect of an uninterrupted run.
//!
//! Layout: [`config`] (`streams/*.yml`), [`event`] (parsing and validation), [`process`]
//! (flags and per-customer state), [`sink`] (lake, PostgreSQL, dead letters), [`kafka`]
//! (client settings, topics), [`runner`] (`dataflow stream`), [`produce`] (`dataflow produce`).

pub mod config;
pub mod error;
pub mod event;
pub mod kafka;
pub mod metrics;
pub mod process;
pub mod produce;
pub mod runner;
pub mod sink;

pub use error::{Error, Result};
pub use metrics::StreamMetrics;
pub use produce::{ProduceOptions, ProduceSummary, produce};
pub use runner::{RunOptions, RunSummary, run_stream};
