//! The orchestrator: DAG specs from `pipelines/*.yml`, schedules and data intervals, a metadata
//! store (SQLite by default, PostgreSQL by URL) holding every run, task instance and attempt, and
//! an executor that runs tasks in worker slots with retries, timeouts, sensors and SLAs.
//!
//! Every state change goes through the store with a conditional update, so a scheduler killed at
//! any moment resumes from what the store says, and two schedulers sharing one PostgreSQL never
//! run the same task instance twice.

pub mod clock;
pub mod duration;
pub mod error;
pub mod executor;
pub mod schedule;
pub mod spec;
pub mod state;
pub mod store;
pub mod template;
pub mod trace;

pub use error::{Error, Result};
