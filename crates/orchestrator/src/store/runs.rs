//! DAGs and DAG runs in the store: registering DAGs, pause flags, creating runs with their task
//! instances in one transaction (idempotent per `run_id`), and run state changes.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::Store;
use super::db::Value;
use super::records::{RUN_COLUMNS, RunRecord, instant, micros, parse_spec};
use crate::error::Result;
use crate::schedule::DataInterval;
use crate::spec::{Dag, DagBag};
use crate::state::{RunState, TaskState};

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The run's id, unique per DAG.
    pub run_id: String,
    /// scheduled, manual, backfill or test.
    pub run_type: String,
    /// The logical date.
    pub logical_date: DateTime<Utc>,
    /// Its data interval.
    pub interval: DataInterval,
    /// Params overriding the DAG's.
    pub conf: serde_json::Map<String, serde_json::Value>,
}

impl NewRun {
    /// A run id in Airflow's form: `scheduled__2024-01-01T00:00:00+00:00`.
    pub fn run_id_for(run_type: &str, logical_date: DateTime<Utc>) -> String {
        format!(
            "{run_type}__{}",
            logical_date.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        )
    }
}

impl Store {
    /// Records the project's DAGs (new ones unpaused); the pause flag of known ones is kept.
    pub async fn sync_dags(&self, bag: &DagBag, now: DateTime<Utc>) -> Result<()> {
        for dag in bag.dags.values() {
            self.db
                .execute(
                    "INSERT INTO dags (dag_id, is_paused, fileloc, updated_at) VALUES ($1, 0, $2, $3) \
                     ON CONFLICT (dag_id) DO UPDATE SET fileloc = $2, updated_at = $3",
                    &[
                        dag.dag_id.as_str().into(),
                        dag.file.to_string_lossy().as_ref().into(),
                        micros(now).into(),
                    ],
                )
                .await?;
        }
        Ok(())
    }

    /// Pauses or unpauses a DAG: a paused DAG gets no scheduled runs, and its running runs
    /// start no new tasks.
    pub async fn set_paused(&self, dag_id: &str, paused: bool, now: DateTime<Utc>) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO dags (dag_id, is_paused, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (dag_id) DO UPDATE SET is_paused = $2, updated_at = $3",
                &[dag_id.into(), paused.into(), micros(now).into()],
            )
            .await?;
        Ok(())
    }

    /// The ids of paused DAGs.
    pub async fn paused(&self) -> Result<BTreeSet<String>> {
        let rows = self
            .db
            .query("SELECT dag_id FROM dags WHERE is_paused = 1", &[])
            .await?;
        rows.iter().map(|r| Ok(r.str(0)?.to_string())).collect()
    }

    /// Creates a run and its task instances (all `none`) in one transaction. Returns `None`
    /// when a run with that id exists already, so two schedulers never create it twice.
    pub async fn create_run(
        &self,
        dag: &Dag,
        new: &NewRun,
        now: DateTime<Utc>,
    ) -> Result<Option<RunRecord>> {
        let spec = serde_json::to_string(dag).unwrap_or_default();
        let conf = serde_json::Value::Object(new.conf.clone()).to_string();
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "INSERT INTO dag_runs (dag_id, run_id, run_type, state, logical_date, \
                     data_interval_start, data_interval_end, conf, spec, created_at) \
                     VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (dag_id, run_id) DO NOTHING RETURNING {RUN_COLUMNS}"
                ),
                &[
                    dag.dag_id.as_str().into(),
                    new.run_id.as_str().into(),
                    new.run_type.as_str().into(),
                    micros(new.logical_date).into(),
                    micros(new.interval.start).into(),
                    micros(new.interval.end).into(),
                    conf.into(),
                    spec.into(),
                    micros(now).into(),
                ],
            )
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let run = RunRecord::from_row(&row)?;
        for task in &dag.tasks {
            tx.execute(
                "INSERT INTO task_instances (run_pk, task_id, state, try_number, max_tries, pool, \
                 priority, updated_at) VALUES ($1, $2, 'none', 0, $3, $4, $5, $6)",
                &[
                    run.pk.into(),
                    task.task_id.as_str().into(),
                    i64::from(task.retries + 1).into(),
                    task.pool.as_str().into(),
                    task.priority_weight.into(),
                    micros(now).into(),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(run))
    }

    /// A run by its DAG and run id.
    pub async fn run_by_id(&self, dag_id: &str, run_id: &str) -> Result<Option<RunRecord>> {
        let row = self
            .db
            .query_opt(
                &format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 AND run_id = $2"),
                &[dag_id.into(), run_id.into()],
            )
            .await?;
        row.as_ref().map(RunRecord::from_row).transpose()
    }

    /// A run by its row id.
    pub async fn run(&self, pk: i64) -> Result<Option<RunRecord>> {
        let row = self
            .db
            .query_opt(
                &format!("SELECT {RUN_COLUMNS} FROM dag_runs WHERE id = $1"),
                &[pk.into()],
            )
            .await?;
        row.as_ref().map(RunRecord::from_row).transpose()
    }

    /// Runs, newest first, of one DAG or all.
    pub async fn runs(&self, dag_id: Option<&str>, limit: i64) -> Result<Vec<RunRecord>> {
        let rows = match dag_id {
            Some(dag) => {
                self.db
                    .query(
                        &format!(
                            "SELECT {RUN_COLUMNS} FROM dag_runs WHERE dag_id = $1 \
                             ORDER BY logical_date DESC, id DESC LIMIT $2"
                        ),
                        &[dag.into(), limit.into()],
                    )
                    .await?
            }
            None => {
                self.db
                    .query(
                        &format!(
                            "SELECT {RUN_COLUMNS} FROM dag_runs \
                             ORDER BY created_at DESC, id DESC LIMIT $1"
                        ),
                        &[limit.into()],
                    )
                    .await?
            }
        };
        rows.iter().map(RunRecord::from_row).collect()
    }

    /// Unfinished runs (queued or running) with the spec each was created with.
    pub async fn active_runs(&self) -> Result<Vec<(RunRecord, Dag)>> {
        let rows = self
            .db
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS}, spec FROM dag_runs WHERE state IN ('queued', 'running') \
                     ORDER BY logical_date, id"
                ),
                &[],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let run = RunRecord::from_row(row)?;
            let dag = parse_spec(row.str(12)?, &run.run_id)?;
            out.push((run, dag));
        }
        Ok(out)
    }

    /// The stored spec of a run.
    pub async fn run_spec(&self, pk: i64) -> Result<Option<Dag>> {
        let row = self
            .db
            .query_opt(
                "SELECT spec, run_id FROM dag_runs WHERE id = $1",
                &[pk.into()],
            )
            .await?;
        match row {
            Some(row) => Ok(Some(parse_spec(row.str(0)?, row.str(1)?)?)),
            None => Ok(None),
        }
    }

    /// The latest data interval of the DAG's scheduled runs, where scheduling resumes.
    pub async fn last_scheduled_interval(&self, dag_id: &str) -> Result<Option<DataInterval>> {
        let row = self
            .db
            .query_opt(
                "SELECT data_interval_start, data_interval_end FROM dag_runs \
                 WHERE dag_id = $1 AND run_type = 'scheduled' \
                 ORDER BY data_interval_end DESC LIMIT 1",
                &[dag_id.into()],
            )
            .await?;
        match row {
            Some(row) => Ok(Some(DataInterval {
                start: instant(row.i64(0)?),
                end: instant(row.i64(1)?),
            })),
            None => Ok(None),
        }
    }

    /// Moves a run between states when it is in one of `from`; false when it was not.
    pub async fn set_run_state(
        &self,
        pk: i64,
        from: &[RunState],
        to: RunState,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let from_list = from
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let (started, ended): (Value, Value) = match to {
            RunState::Running => (micros(now).into(), Value::Int(None)),
            RunState::Queued => (Value::Int(None), Value::Int(None)),
            RunState::Success | RunState::Failed => (Value::Int(None), micros(now).into()),
        };
        let changed = self
            .db
            .execute(
                &format!(
                    "UPDATE dag_runs SET state = $1, started_at = COALESCE(started_at, $2), \
                     ended_at = $3 WHERE id = $4 AND state IN ({from_list})"
                ),
                &[to.as_str().into(), started, ended, pk.into()],
            )
            .await?;
        Ok(changed > 0)
    }

    /// How many task instances of a run are in each state.
    pub async fn run_summary(&self, pk: i64) -> Result<Vec<(TaskState, i64)>> {
        let rows = self
            .db
            .query(
                "SELECT state, COUNT(*) FROM task_instances WHERE run_pk = $1 GROUP BY state",
                &[pk.into()],
            )
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            if let Some(state) = TaskState::parse(row.str(0)?) {
                out.push((state, row.i64(1)?));
            }
        }
        out.sort();
        Ok(out)
    }
}
