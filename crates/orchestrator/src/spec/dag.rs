//! A loaded DAG: its schedule and defaults, and its tasks flattened (groups become dotted ids,
//! mapped tasks become one task per item) with resolved upstream lists.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::task::{SensorSettings, TaskKind};
use crate::schedule::Schedule;

/// A DAG ready to run. Serialized into each run's row, so a run finishes with the spec it
/// started with even when the file changes meanwhile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dag {
    /// The DAG's id, unique in the project.
    pub dag_id: String,
    /// What the DAG is for.
    pub description: Option<String>,
    /// When runs are created.
    pub schedule: Schedule,
    /// The first data interval starts at or after this instant.
    pub start_date: Option<DateTime<Utc>>,
    /// No interval starts after this instant.
    pub end_date: Option<DateTime<Utc>>,
    /// Create runs for every missed interval (true) or only the latest (false).
    pub catchup: bool,
    /// Runs of this DAG active at once.
    pub max_active_runs: u32,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Owner from `default_args`.
    pub owner: Option<String>,
    /// Default params; a trigger's params override them.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Tasks in a topological order.
    pub tasks: Vec<Task>,
    /// Webhooks told about failures, retries, SLA misses and finished runs.
    #[serde(default)]
    pub notifications: Vec<Notification>,
    /// The file the DAG came from.
    pub file: PathBuf,
}

/// One task of a DAG, after group flattening and mapping.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    /// The full id: `group.subgroup.task`, with `[item]` appended for a mapped task.
    pub task_id: String,
    /// The enclosing group's dotted id, if any.
    pub group: Option<String>,
    /// What the task does.
    pub kind: TaskKind,
    /// Full ids of the tasks this one waits for.
    pub upstream: Vec<String>,
    /// When the task runs, given its upstream states.
    pub trigger_rule: TriggerRule,
    /// Retries after the first failure.
    pub retries: u32,
    /// Delay before a retry.
    pub retry_delay: Duration,
    /// Double the delay after each failure.
    pub retry_exponential_backoff: bool,
    /// Upper bound of the delay with exponential backoff.
    pub max_retry_delay: Option<Duration>,
    /// Kill an attempt running longer than this.
    pub execution_timeout: Option<Duration>,
    /// The task should have finished this long after the run's data interval ended.
    pub sla: Option<Duration>,
    /// The concurrency pool the task takes a slot from.
    pub pool: String,
    /// Higher runs first when slots are scarce.
    pub priority_weight: i64,
    /// Sensor settings, for sensor kinds.
    pub sensor: Option<SensorSettings>,
    /// The item of a mapped task, available to templates as `item`.
    pub map_item: Option<serde_json::Value>,
    /// The line of the task in its file.
    pub line: usize,
}

impl Task {
    /// The delay before retry number `failures` (1 = after the first failure), with
    /// exponential backoff when configured: `retry_delay * 2^(failures-1)`, capped.
    pub fn retry_delay_after(&self, failures: u32) -> Duration {
        if !self.retry_exponential_backoff {
            return self.retry_delay;
        }
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
        let delay = self.retry_delay.saturating_mul(factor);
        match self.max_retry_delay {
            Some(cap) => delay.min(cap),
            None => delay,
        }
    }
}

/// A webhook and the events it wants (Airflow's callbacks, as JSON POSTs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// Where the JSON is posted.
    pub url: String,
    /// Which events (all of them when empty).
    #[serde(default)]
    pub on: Vec<NotifyEvent>,
}

/// Events a notification can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A task failed with no retries left.
    Failure,
    /// A task failed and will be retried.
    Retry,
    /// A task missed its SLA.
    SlaMiss,
    /// A run failed.
    RunFailure,
    /// A run succeeded.
    RunSuccess,
}

impl NotifyEvent {
    /// The event's name in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Failure => "failure",
            NotifyEvent::Retry => "retry",
            NotifyEvent::SlaMiss => "sla_miss",
            NotifyEvent::RunFailure => "run_failure",
            NotifyEvent::RunSuccess => "run_success",
        }
    }
}

impl Notification {
    /// Whether this notification wants the event.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.on.is_empty() || self.on.contains(&event)
    }
}

/// Airflow's trigger rules: when a task runs given the states of its upstream tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream succeeded (the default).
    #[default]
    AllSuccess,
    /// Every upstream finished, whatever its state.
    AllDone,
    /// Every upstream failed.
    AllFailed,
    /// At least one upstream succeeded (runs as soon as one does).
    OneSuccess,
    /// At least one upstream failed (runs as soon as one does).
    OneFailed,
    /// No upstream failed (skipped upstreams are fine).
    NoneFailed,
    /// No upstream failed and at least one succeeded.
    NoneFailedMinOneSuccess,
    /// No upstream was skipped.
    NoneSkipped,
    /// Every upstream was skipped.
    AllSkipped,
    /// Runs regardless of upstream states, once they are finished.
    Always,
}

impl TriggerRule {
    /// The names accepted in YAML, for error messages.
    pub const NAMES: &'static [&'static str] = &[
        "all_success",
        "all_done",
        "all_failed",
        "one_success",
        "one_failed",
        "none_failed",
        "none_failed_min_one_success",
        "none_skipped",
        "all_skipped",
        "always",
    ];
}

/// Every DAG of a project, by id.
#[derive(Debug, Clone, Default)]
pub struct DagBag {
    /// DAGs by id.
    pub dags: BTreeMap<String, Dag>,
}

impl DagBag {
    /// The DAG with this id, or a usage error listing the known ids (with a suggestion).
    pub fn get(&self, dag_id: &str) -> crate::Result<&Dag> {
        self.dags.get(dag_id).ok_or_else(|| {
            let known: Vec<&str> = self.dags.keys().map(String::as_str).collect();
            let hint = dataflow_core::suggest::closest_within(dag_id, known.iter().copied(), 3)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            crate::Error::Usage(format!(
                "unknown DAG `{dag_id}`{hint}; known DAGs: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }
}

impl Dag {
    /// The task with this id.
    pub fn task(&self, task_id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.task_id == task_id)
    }

    /// Tasks no other task depends on: their states decide the run's state.
    pub fn leaves(&self) -> Vec<&str> {
        self.tasks
            .iter()
            .filter(|t| !self.tasks.iter().any(|o| o.upstream.contains(&t.task_id)))
            .map(|t| t.task_id.as_str())
            .collect()
    }
}
