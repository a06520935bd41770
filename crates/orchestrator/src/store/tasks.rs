//! Task instances and attempts in the store. Every change is a conditional update (expected
//! state, owner and try number), so a scheduler that lost a task to recovery cannot overwrite
//! what its successor did, and two schedulers cannot both claim one instance.

use chrono::{DateTime, Utc};

use super::Store;
use super::db::{Backend, Value};
use super::records::{AttemptRecord, TASK_COLUMNS, TaskRecord, micros};
use crate::error::Result;
use crate::state::TaskState;

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    /// The task succeeded.
    Success,
    /// The task asked to be skipped (exit code 99, a soft-failed sensor).
    Skipped {
        /// Why.
        reason: String,
    },
    /// The attempt failed; `retry_at` is when the next attempt is due, if retries are left.
    Failed {
        /// What went wrong.
        error: String,
        /// The process exit code, if a process ran.
        exit_code: Option<i64>,
        /// Killed by `execution_timeout` (or a sensor's timeout).
        timed_out: bool,
        /// When to retry, if retries are left.
        retry_at: Option<DateTime<Utc>>,
    },
    /// A sensor's condition does not hold yet: poke again at `at`, without holding a slot.
    Reschedule {
        /// When to poke again.
        at: DateTime<Utc>,
    },
}

impl Store {
    /// The task instances of a run, in insertion (topological) order.
    pub async fn tasks(&self, run_pk: i64) -> Result<Vec<TaskRecord>> {
        let rows = self
            .db
            .query(
                &format!("SELECT {TASK_COLUMNS} FROM task_instances WHERE run_pk = $1 ORDER BY id"),
                &[run_pk.into()],
            )
            .await?;
        rows.iter().map(TaskRecord::from_row).collect()
    }

    /// Moves a task instance from `from` to `to`; false when it was no longer in `from`.
    pub async fn transition(
        &self,
        ti_pk: i64,
        from: TaskState,
        to: TaskState,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let ended: Value = if to.is_terminal() {
            micros(now).into()
        } else {
            Value::Int(None)
        };
        let changed = self
            .db
            .execute(
                "UPDATE task_instances SET state = $1, updated_at = $2, ended_at = $3, \
                 next_try_at = NULL WHERE id = $4 AND state = $5",
                &[
                    to.as_str().into(),
                    micros(now).into(),
                    ended,
                    ti_pk.into(),
                    from.as_str().into(),
                ],
            )
            .await?;
        Ok(changed > 0)
    }

    /// Claims up to `limit` scheduled instances of `pool` for `owner` (state `queued`),
    /// highest priority first, without exceeding the pool's `slots` across every scheduler.
    /// On PostgreSQL the rows are locked with `FOR UPDATE SKIP LOCKED`, so concurrent
    /// schedulers claim disjoint sets; on SQLite the write transaction serializes them.
    pub async fn claim(
        &self,
        owner: &str,
        pool: &str,
        slots: i64,
        limit: i64,
        now: DateTime<Utc>,
        only_runs: Option<&[i64]>,
    ) -> Result<Vec<TaskRecord>> {
        let mut tx = self.db.begin().await?;
        let lock = match self.db.backend() {
            Backend::Postgres => {
                tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[pool.into()])
                    .await?;
                " FOR UPDATE SKIP LOCKED"
            }
            Backend::Sqlite => "",
        };
        let used = tx
            .query_opt(
                "SELECT COUNT(*) FROM task_instances WHERE pool = $1 \
                 AND state IN ('queued', 'running')",
                &[pool.into()],
            )
            .await?
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0);
        let take = limit.min(slots - used);
        if take <= 0 {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        // Run ids are integers from the store, so they are written into the SQL directly.
        let runs = match only_runs {
            Some([]) => {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            Some(pks) => format!(
                " AND run_pk IN ({})",
                pks.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        };
        let rows = tx
            .query(
                &format!(
                    "UPDATE task_instances SET state = 'queued', owner = $1, updated_at = $2 \
                     WHERE id IN (SELECT id FROM task_instances WHERE state = 'scheduled' \
                     AND pool = $3{runs} ORDER BY priority DESC, id LIMIT $4{lock}) \
                     RETURNING {TASK_COLUMNS}"
                ),
                &[owner.into(), micros(now).into(), pool.into(), take.into()],
            )
            .await?;
        tx.commit().await?;
        let mut claimed: Vec<TaskRecord> = rows
            .iter()
            .map(TaskRecord::from_row)
            .collect::<Result<_>>()?;
        claimed.sort_by_key(|t| (std::cmp::Reverse(t.priority), t.pk));
        Ok(claimed)
    }

    /// The pools that have scheduled instances waiting.
    pub async fn pools_with_work(&self) -> Result<Vec<String>> {
        let rows = self
            .db
            .query(
                "SELECT DISTINCT pool FROM task_instances WHERE state = 'scheduled'",
                &[],
            )
            .await?;
        rows.iter().map(|r| Ok(r.str(0)?.to_string())).collect()
    }

    /// Starts an attempt of a queued instance: state `running`, the try number raised (not
    /// when a rescheduled sensor pokes again), an attempt row with its log file. Returns the
    /// attempt number, or `None` when the instance is no longer queued for `owner`.
    pub async fn start_attempt(
        &self,
        ti_pk: i64,
        owner: &str,
        log_path: impl Fn(i64) -> String,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                "UPDATE task_instances SET state = 'running', \
                 try_number = try_number + CASE WHEN waiting_since IS NULL THEN 1 ELSE 0 END, \
                 started_at = $1, updated_at = $1, next_try_at = NULL, ended_at = NULL \
                 WHERE id = $2 AND state = 'queued' AND owner = $3 RETURNING try_number",
                &[micros(now).into(), ti_pk.into(), owner.into()],
            )
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let attempt = row.i64(0)?;
        tx.execute(
            "INSERT INTO task_attempts (ti_pk, attempt, state, owner, started_at, log_path) \
             VALUES ($1, $2, 'running', $3, $4, $5) ON CONFLICT (ti_pk, attempt) \
             DO UPDATE SET state = 'running', owner = $3",
            &[
                ti_pk.into(),
                attempt.into(),
                owner.into(),
                micros(now).into(),
                log_path(attempt).into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(attempt))
    }

    /// Records the process group of a running attempt, so recovery can stop it.
    pub async fn set_pgid(&self, ti_pk: i64, owner: &str, pgid: Option<i64>) -> Result<()> {
        self.db
            .execute(
                "UPDATE task_instances SET pgid = $1 WHERE id = $2 AND owner = $3",
                &[pgid.into(), ti_pk.into(), owner.into()],
            )
            .await?;
        Ok(())
    }

    /// Ends an attempt. False (and nothing written) when the instance is no longer this
    /// owner's running attempt, e.g. because another scheduler recovered it.
    pub async fn finish_attempt(
        &self,
        ti_pk: i64,
        owner: &str,
        attempt: i64,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now_us = micros(now);
        let (ti_state, attempt_state, next, error, exit_code): (
            TaskState,
            &str,
            Option<i64>,
            Option<String>,
            Option<i64>,
        ) = match finish {
            Finish::Success => (TaskState::Success, "success", None, None, None),
            Finish::Skipped { reason } => (
                TaskState::Skipped,
                "skipped",
                None,
                Some(reason.clone()),
                None,
            ),
            Finish::Failed {
                error,
                exit_code,
                timed_out,
                retry_at,
            } => (
                if retry_at.is_some() {
                    TaskState::UpForRetry
                } else {
                    TaskState::Failed
                },
                if *timed_out { "timeout" } else { "failed" },
                retry_at.map(micros),
                Some(error.clone()),
                *exit_code,
            ),
            Finish::Reschedule { at } => (
                TaskState::UpForReschedule,
                "waiting",
                Some(micros(*at)),
                None,
                None,
            ),
        };
        let waiting = matches!(finish, Finish::Reschedule { .. });
        let ended: Value = if ti_state.is_terminal() {
            now_us.into()
        } else {
            Value::Int(None)
        };
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                "UPDATE task_instances SET state = $1, next_try_at = $2, updated_at = $3, \
                 ended_at = $4, owner = NULL, pgid = NULL, \
                 waiting_since = CASE WHEN $5 = 1 THEN COALESCE(waiting_since, started_at) \
                 ELSE NULL END \
                 WHERE id = $6 AND owner = $7 AND try_number = $8 AND state = 'running'",
                &[
                    ti_state.as_str().into(),
                    next.into(),
                    now_us.into(),
                    ended,
                    waiting.into(),
                    ti_pk.into(),
                    owner.into(),
                    attempt.into(),
                ],
            )
            .await?;
        if changed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.execute(
            "UPDATE task_attempts SET state = $1, ended_at = $2, error = $3, exit_code = $4 \
             WHERE ti_pk = $5 AND attempt = $6",
            &[
                attempt_state.into(),
                Value::Int(if waiting { None } else { Some(now_us) }),
                error.into(),
                exit_code.into(),
                ti_pk.into(),
                attempt.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The attempts of one task instance, oldest first.
    pub async fn attempts(&self, ti_pk: i64) -> Result<Vec<AttemptRecord>> {
        let rows = self
            .db
            .query(
                "SELECT attempt, state, owner, started_at, ended_at, exit_code, error, log_path \
                 FROM task_attempts WHERE ti_pk = $1 ORDER BY attempt",
                &[ti_pk.into()],
            )
            .await?;
        rows.iter().map(AttemptRecord::from_row).collect()
    }

    /// Clears task instances of a run so they run again: state `none`, a fresh retry budget
    /// (`retries` more attempts after those already made), and the run reopened. Returns how
    /// many were cleared; running and queued ones are left alone.
    pub async fn clear(
        &self,
        run_pk: i64,
        tasks: &[(String, u32)],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let mut cleared = 0;
        for (task_id, retries) in tasks {
            cleared += tx
                .execute(
                    "UPDATE task_instances SET state = 'none', max_tries = try_number + $1, \
                     next_try_at = NULL, waiting_since = NULL, owner = NULL, ended_at = NULL, \
                     updated_at = $2 WHERE run_pk = $3 AND task_id = $4 \
                     AND state NOT IN ('running', 'queued')",
                    &[
                        i64::from(retries + 1).into(),
                        micros(now).into(),
                        run_pk.into(),
                        task_id.as_str().into(),
                    ],
                )
                .await?;
        }
        if cleared > 0 {
            tx.execute(
                "UPDATE dag_runs SET state = 'queued', ended_at = NULL WHERE id = $1 \
                 AND state IN ('success', 'failed')",
                &[run_pk.into()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(cleared as usize)
    }
}
