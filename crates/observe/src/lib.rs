//! Observability of dataflow: the catalog of every exported metric (`catalog`), reading the
//! metadata store into metric families at scrape time (`collect`, with `history` shared with
//! the alerts), the Prometheus and OpenMetrics text encodings (`exposition`), the serving
//! process's own metrics (`process`), the HTTP listener of `dataflow serve` (`server`), the
//! `/metrics` endpoint of a process with in-memory counters such as `dataflow stream`
//! (`endpoint`), and alerts evaluated from the store and delivered to a webhook and
//! Alertmanager (`alerts`).
//!
//! Batch commands push nothing: they record runs, stage runs and quality results in the
//! metadata store, and every scrape of `/metrics` derives the series from that history, so a
//! run that happened while nothing was serving is still counted.

pub mod alerts;
pub mod catalog;
pub mod collect;
pub mod endpoint;
pub mod exposition;
pub mod history;
pub mod process;
pub mod server;

pub use exposition::{Family, Format, Sample, encode};
pub use server::{ServerState, router, serve};
