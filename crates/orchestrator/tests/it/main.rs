//! Integration tests of the orchestrator, as one test binary: pipeline spec errors and the
//! example pipelines, group resolution, end-to-end runs on the real scheduler, retries and
//! sensors on a manual clock, clearing, concurrency limits, notifications, several
//! schedulers on one store, and the stage and quality history. Every test that touches the
//! store runs on SQLite and, in `postgres.rs`, on PostgreSQL when `DATAFLOW_TEST_POSTGRES_URL`
//! is set (required in CI).

mod clearing;
mod common;
mod concurrency;
mod groups;
mod history;
mod notifications;
mod postgres;
mod retries;
mod runs;
mod schedulers;
mod sensors;
mod spec_errors;
