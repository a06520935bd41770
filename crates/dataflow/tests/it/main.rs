//! Integration tests: the real `dataflow` binary on generated data, checked against the
//! generator's manifest.

mod cli;
mod crash;
mod formats;
mod ingest;
mod models;
mod support;
