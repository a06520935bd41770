//! Rows of the run history as Rust values, and the conversions between instants and the
//! store's microsecond integers.

use chrono::{DateTime, Utc};

use super::db::Row;
use crate::error::{Error, Result};
use crate::spec::Dag;
use crate::state::{RunState, TaskState};

/// Microseconds since the Unix epoch, as stored.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant of stored microseconds.
pub fn instant(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::UNIX_EPOCH)
}

/// One DAG run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The row id.
    pub pk: i64,
    /// The DAG.
    pub dag_id: String,
    /// The run's id (`scheduled__2024-01-01T00:00:00+00:00`, `manual__…`, `backfill__…`).
    pub run_id: String,
    /// scheduled, manual, backfill or test.
    pub run_type: String,
    /// Its state.
    pub state: RunState,
    /// The logical date.
    pub logical_date: DateTime<Utc>,
    /// Start of the data interval.
    pub interval_start: DateTime<Utc>,
    /// End of the data interval.
    pub interval_end: DateTime<Utc>,
    /// The run's params.
    pub conf: serde_json::Map<String, serde_json::Value>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its first task started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub ended_at: Option<DateTime<Utc>>,
}

/// The columns `RunRecord::from_row` reads, in order.
pub const RUN_COLUMNS: &str = "id, dag_id, run_id, run_type, state, logical_date, \
     data_interval_start, data_interval_end, conf, created_at, started_at, ended_at";

impl RunRecord {
    /// Reads a row selected with `RUN_COLUMNS`.
    pub fn from_row(row: &Row) -> Result<RunRecord> {
        let state = row.str(4)?;
        let logical = instant(row.i64(5)?);
        Ok(RunRecord {
            pk: row.i64(0)?,
            dag_id: row.str(1)?.to_string(),
            run_id: row.str(2)?.to_string(),
            run_type: row.str(3)?.to_string(),
            state: RunState::parse(state).ok_or_else(|| corrupt("dag_runs.state", state))?,
            logical_date: logical,
            interval_start: row.opt_i64(6)?.map(instant).unwrap_or(logical),
            interval_end: row.opt_i64(7)?.map(instant).unwrap_or(logical),
            conf: serde_json::from_str(row.str(8)?).unwrap_or_default(),
            created_at: instant(row.i64(9)?),
            started_at: row.opt_i64(10)?.map(instant),
            ended_at: row.opt_i64(11)?.map(instant),
        })
    }
}

/// One task instance: a task within a run.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    /// The row id.
    pub pk: i64,
    /// The run's row id.
    pub run_pk: i64,
    /// The task's full id.
    pub task_id: String,
    /// Its state.
    pub state: TaskState,
    /// Attempts started so far.
    pub try_number: i64,
    /// Attempts allowed (retries + 1, raised when cleared).
    pub max_tries: i64,
    /// Its pool.
    pub pool: String,
    /// Its priority weight.
    pub priority: i64,
    /// When a retry or the next poke is due.
    pub next_try_at: Option<DateTime<Utc>>,
    /// When a sensor began waiting (its timeout counts from here).
    pub waiting_since: Option<DateTime<Utc>>,
    /// The scheduler holding it while queued or running.
    pub owner: Option<String>,
    /// The process group of a running attempt.
    pub pgid: Option<i64>,
    /// When its current attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub ended_at: Option<DateTime<Utc>>,
}

/// The columns `TaskRecord::from_row` reads, in order.
pub const TASK_COLUMNS: &str = "id, run_pk, task_id, state, try_number, max_tries, pool, \
     priority, next_try_at, waiting_since, owner, pgid, started_at, ended_at";

impl TaskRecord {
    /// Reads a row selected with `TASK_COLUMNS`.
    pub fn from_row(row: &Row) -> Result<TaskRecord> {
        let state = row.str(3)?;
        Ok(TaskRecord {
            pk: row.i64(0)?,
            run_pk: row.i64(1)?,
            task_id: row.str(2)?.to_string(),
            state: TaskState::parse(state).ok_or_else(|| corrupt("task_instances.state", state))?,
            try_number: row.i64(4)?,
            max_tries: row.i64(5)?,
            pool: row.str(6)?.to_string(),
            priority: row.i64(7)?,
            next_try_at: row.opt_i64(8)?.map(instant),
            waiting_since: row.opt_i64(9)?.map(instant),
            owner: row.opt_str(10)?.map(str::to_string),
            pgid: row.opt_i64(11)?,
            started_at: row.opt_i64(12)?.map(instant),
            ended_at: row.opt_i64(13)?.map(instant),
        })
    }
}

/// One attempt of a task instance.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// The attempt number, from 1.
    pub attempt: i64,
    /// running, waiting, success, failed, timeout, skipped or orphaned.
    pub state: String,
    /// The scheduler that ran it.
    pub owner: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The process exit code, for process tasks.
    pub exit_code: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its log file.
    pub log_path: String,
}

impl AttemptRecord {
    /// Reads `attempt, state, owner, started_at, ended_at, exit_code, error, log_path`.
    pub fn from_row(row: &Row) -> Result<AttemptRecord> {
        Ok(AttemptRecord {
            attempt: row.i64(0)?,
            state: row.str(1)?.to_string(),
            owner: row.opt_str(2)?.map(str::to_string),
            started_at: instant(row.i64(3)?),
            ended_at: row.opt_i64(4)?.map(instant),
            exit_code: row.opt_i64(5)?,
            error: row.opt_str(6)?.map(str::to_string),
            log_path: row.str(7)?.to_string(),
        })
    }
}

/// The DAG spec a run was created with.
pub fn parse_spec(text: &str, run_id: &str) -> Result<Dag> {
    serde_json::from_str(text).map_err(|e| Error::Store {
        target: "dag_runs.spec".to_string(),
        message: format!("run {run_id}: stored DAG spec unreadable: {e}"),
    })
}

fn corrupt(column: &str, value: &str) -> Error {
    Error::Store {
        target: column.to_string(),
        message: format!("unknown state `{value}`"),
    }
}
