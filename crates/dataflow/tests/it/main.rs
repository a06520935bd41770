//! Integration tests: the real `dataflow` binary on generated data, checked against the
//! generator's manifest.

mod alerts;
mod cli;
mod crash;
mod formats;
mod ingest;
mod models;
mod models_compat;
mod models_incremental;
mod models_macros;
mod models_sources;
mod orchestrator;
mod prometheus;
mod quality;
mod serve;
mod stream;
mod support;
mod traces;
