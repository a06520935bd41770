//! Integration tests of the orchestrator, as one test binary: pipeline spec errors and the
//! example pipelines, group resolution, end-to-end runs on the real scheduler (SQLite, and
//! PostgreSQL when `DATAFLOW_TEST_POSTGRES_URL` is set), retries and sensors on a manual
//! clock, clearing, and concurrency limits.

mod clearing;
mod common;
mod concurrency;
mod groups;
mod notifications;
mod postgres;
mod retries;
mod runs;
mod schedulers;
mod sensors;
mod spec_errors;
