//! Templating of task settings with the run context (`ds`, `data_interval_start`, `run_id`,
//! `params`, `item`, ...), as Airflow renders its templated fields: every string of a task's
//! settings is a minijinja template rendered just before each attempt. Unknown variables are
//! errors, found at load time by a trial render.

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::spec::{Dag, Task, TaskKind};

/// What templates can refer to.
#[derive(Debug, Clone, Serialize)]
pub struct RunContext {
    /// The DAG's id.
    pub dag_id: String,
    /// The run's id.
    pub run_id: String,
    /// The task's id.
    pub task_id: String,
    /// The logical date as `YYYY-MM-DD`.
    pub ds: String,
    /// The logical date as `YYYYMMDD`.
    pub ds_nodash: String,
    /// The logical date as an RFC 3339 instant.
    pub ts: String,
    /// Same as `ts`.
    pub logical_date: String,
    /// Start of the data interval (RFC 3339).
    pub data_interval_start: String,
    /// End of the data interval (RFC 3339).
    pub data_interval_end: String,
    /// The DAG's params overlaid with the run's.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The item of a mapped task (null otherwise).
    pub item: serde_json::Value,
    /// The attempt number, from 1.
    pub try_number: i64,
}

impl RunContext {
    /// Builds the context of one attempt.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dag: &Dag,
        run_id: &str,
        task: &Task,
        logical_date: DateTime<Utc>,
        interval: (DateTime<Utc>, DateTime<Utc>),
        conf: &serde_json::Map<String, serde_json::Value>,
        try_number: i64,
    ) -> RunContext {
        let mut params = dag.params.clone();
        for (k, v) in conf {
            params.insert(k.clone(), v.clone());
        }
        let ts = logical_date.to_rfc3339_opts(SecondsFormat::Secs, true);
        RunContext {
            dag_id: dag.dag_id.clone(),
            run_id: run_id.to_string(),
            task_id: task.task_id.clone(),
            ds: logical_date.format("%Y-%m-%d").to_string(),
            ds_nodash: logical_date.format("%Y%m%d").to_string(),
            logical_date: ts.clone(),
            ts,
            data_interval_start: interval.0.to_rfc3339_opts(SecondsFormat::Secs, true),
            data_interval_end: interval.1.to_rfc3339_opts(SecondsFormat::Secs, true),
            params,
            item: task.map_item.clone().unwrap_or(serde_json::Value::Null),
            try_number,
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Renders every string in a task's settings with the context.
pub fn render_kind(kind: &TaskKind, ctx: &RunContext) -> Result<TaskKind, String> {
    let env = environment();
    let mut value = serde_json::to_value(kind).map_err(|e| e.to_string())?;
    render_value(&env, &mut value, ctx)?;
    serde_json::from_value(value).map_err(|e| format!("after rendering templates: {e}"))
}

fn render_value(
    env: &Environment<'_>,
    value: &mut serde_json::Value,
    ctx: &RunContext,
) -> Result<(), String> {
    match value {
        serde_json::Value::String(s) if s.contains("{{") || s.contains("{%") => {
            *s = env
                .render_str(s, minijinja::value::Serde(ctx))
                .map_err(|e| format!("template `{s}`: {e}"))?;
        }
        serde_json::Value::Array(items) => {
            for item in items {
                render_value(env, item, ctx)?;
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key != "type" {
                    render_value(env, item, ctx)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Renders a task's templates with a sample context, so syntax errors and unknown variables are
/// reported when the file is loaded rather than when the task runs.
pub fn check_task(dag: &Dag, task: &Task) -> Result<(), String> {
    let sample = DateTime::<Utc>::UNIX_EPOCH;
    let ctx = RunContext::new(
        dag,
        "manual__check",
        task,
        sample,
        (sample, sample),
        &serde_json::Map::new(),
        1,
    );
    render_kind(&task.kind, &ctx).map(|_| ())
}
