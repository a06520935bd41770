//! What every orchestration command opens: the project's DAGs (with pools checked against
//! `dataflow.yml`), the metadata store, and the scheduler's options.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use dataflow_core::config::Project;
use dataflow_orchestrator::executor::SchedulerOptions;
use dataflow_orchestrator::spec::{DagBag, load_dags};
use dataflow_orchestrator::store::{RunRecord, Store};

/// The project's DAGs, store and scheduler options.
pub struct Orchestrator {
    /// The DAGs.
    pub bag: Arc<DagBag>,
    /// The metadata store.
    pub store: Store,
    /// Scheduler options from `dataflow.yml`.
    pub options: SchedulerOptions,
}

/// Loads the DAGs, checks their pools, opens (and migrates) the store.
pub async fn open(project: &Project) -> anyhow::Result<Orchestrator> {
    let bag = load_dags(&project.dir)?;
    let config = &project.config.orchestrator;
    for dag in bag.dags.values() {
        for task in &dag.tasks {
            if task.pool != "default_pool" && !config.pools.contains_key(&task.pool) {
                let declared: Vec<&str> = config.pools.keys().map(String::as_str).collect();
                return Err(dataflow_orchestrator::Error::Spec {
                    path: dag.file.clone(),
                    line: Some(task.line),
                    message: format!(
                        "task `{}` uses pool `{}`, which `orchestrator.pools` in {} does not \
                         declare (declared: {})",
                        task.task_id,
                        task.pool,
                        project.file.display(),
                        if declared.is_empty() {
                            "none".to_string()
                        } else {
                            declared.join(", ")
                        }
                    ),
                }
                .into());
            }
        }
    }
    let url = metadata_url(project);
    let store = Store::open(&url).await?;
    let exe = std::env::current_exe().context("locating the dataflow executable")?;
    let options = SchedulerOptions {
        project_dir: project.dir.canonicalize().unwrap_or(project.dir.clone()),
        logs_dir: PathBuf::from(project.resolve(&config.logs_dir)),
        dataflow_exe: exe,
        workers: config.workers.max(1) as usize,
        pools: config.pools.clone(),
        scheduler_timeout: Duration::from_secs(config.scheduler_timeout_secs.max(1)),
        max_sleep: Duration::from_secs(1),
    };
    Ok(Orchestrator {
        bag: Arc::new(bag),
        store,
        options,
    })
}

/// The store's URL: PostgreSQL URLs as written, SQLite paths resolved in the project.
pub fn metadata_url(project: &Project) -> String {
    let url = &project.config.orchestrator.metadata_url;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return url.clone();
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    project.resolve(path)
}

/// Parses `--conf` JSON into params.
pub fn parse_conf(
    conf: Option<&str>,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    match conf {
        None => Ok(serde_json::Map::new()),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Err(dataflow_core::Error::Usage(format!(
                "--conf must be a JSON object like {{\"key\": \"value\"}}, got {text}"
            ))
            .into()),
            Err(e) => Err(dataflow_core::Error::Usage(format!(
                "--conf is not valid JSON ({e}): {text}"
            ))
            .into()),
        },
    }
}

/// Parses a `--logical-date` / `--start` / `--end` value.
pub fn parse_date(text: &str, flag: &str) -> anyhow::Result<DateTime<Utc>> {
    dataflow_orchestrator::spec::parse_instant(text)
        .map_err(|e| dataflow_core::Error::Usage(format!("{flag}: {e}")).into())
}

/// Finds a run by id, across DAGs unless one is given.
pub async fn find_run(
    orch: &Orchestrator,
    run_id: &str,
    dag: Option<&str>,
) -> anyhow::Result<RunRecord> {
    let mut found = Vec::new();
    for dag_id in orch
        .bag
        .dags
        .keys()
        .map(String::as_str)
        .filter(|d| dag.is_none_or(|x| x == *d))
    {
        if let Some(run) = orch.store.run_by_id(dag_id, run_id).await? {
            found.push(run);
        }
    }
    if let Some(dag_id) = dag
        && found.is_empty()
        && let Some(run) = orch.store.run_by_id(dag_id, run_id).await?
    {
        found.push(run);
    }
    match found.len() {
        0 => Err(dataflow_core::Error::Usage(format!(
            "no run `{run_id}`{}; `dataflow runs list` shows the runs",
            dag.map(|d| format!(" of DAG `{d}`")).unwrap_or_default()
        ))
        .into()),
        1 => Ok(found.remove(0)),
        _ => Err(dataflow_core::Error::Usage(format!(
            "several DAGs have a run `{run_id}` ({}); say which with --dag",
            found
                .iter()
                .map(|r| r.dag_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}
