//! `dataflow runs`, `dataflow tasks clear` and `dataflow logs`: reading and correcting the run
//! history kept in the metadata store.

use chrono::{DateTime, Utc};
use comfy_table::Table;
use dataflow_core::config::Project;
use dataflow_orchestrator::spec::downstream_closure;
use dataflow_orchestrator::store::RunRecord;

use super::orchestrator::{self, Orchestrator, find_run};
use crate::cli::{LogsArgs, RunsAction, TasksAction};

/// Runs a `runs` subcommand.
pub async fn runs(project: &Project, action: RunsAction) -> anyhow::Result<()> {
    let orch = orchestrator::open(project).await?;
    match action {
        RunsAction::List { dag, limit } => {
            if let Some(d) = &dag {
                orch.bag.get(d)?;
            }
            let runs = orch.store.runs(dag.as_deref(), limit.max(1)).await?;
            let mut table = Table::new();
            table.set_header([
                "dag_id",
                "run_id",
                "type",
                "state",
                "logical date",
                "duration",
                "tasks",
            ]);
            for run in &runs {
                let summary = orch.store.run_summary(run.pk).await?;
                table.add_row([
                    run.dag_id.clone(),
                    run.run_id.clone(),
                    run.run_type.clone(),
                    run.state.to_string(),
                    run.logical_date.to_rfc3339(),
                    duration(run.started_at, run.ended_at),
                    summary
                        .iter()
                        .map(|(s, n)| format!("{n} {s}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        RunsAction::Show { run_id, dag } => {
            let run = find_run(&orch, &run_id, dag.as_deref()).await?;
            println!(
                "{} {} [{}] {} — logical date {}, data interval {} – {}",
                run.dag_id,
                run.run_id,
                run.run_type,
                run.state,
                run.logical_date.to_rfc3339(),
                run.interval_start.to_rfc3339(),
                run.interval_end.to_rfc3339()
            );
            print_tasks(&orch, &run).await
        }
    }
}

/// Prints a run's task instances: state, tries, duration and the last error.
pub async fn print_tasks(orch: &Orchestrator, run: &RunRecord) -> anyhow::Result<()> {
    let mut table = Table::new();
    table.set_header(["task_id", "state", "tries", "duration", "last error"]);
    for ti in orch.store.tasks(run.pk).await? {
        let attempts = orch.store.attempts(ti.pk).await?;
        let error = attempts
            .last()
            .and_then(|a| a.error.clone())
            .unwrap_or_default();
        table.add_row([
            ti.task_id.clone(),
            ti.state.to_string(),
            format!("{}/{}", ti.try_number, ti.max_tries),
            duration(ti.started_at, ti.ended_at),
            error.chars().take(100).collect(),
        ]);
    }
    println!("{table}");
    Ok(())
}

fn duration(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!("{:.2} s", (e - s).num_milliseconds() as f64 / 1000.0),
        (Some(_), None) => "running".to_string(),
        _ => String::new(),
    }
}

/// Runs a `tasks` subcommand.
pub async fn tasks(project: &Project, action: TasksAction) -> anyhow::Result<()> {
    let orch = orchestrator::open(project).await?;
    match action {
        TasksAction::Clear {
            run_id,
            task_ids,
            downstream,
            dag,
        } => {
            let run = find_run(&orch, &run_id, dag.as_deref()).await?;
            let spec = orch
                .store
                .run_spec(run.pk)
                .await?
                .ok_or_else(|| anyhow::anyhow!("run {run_id} has no stored spec"))?;
            let mut chosen: Vec<String> = Vec::new();
            for id in &task_ids {
                let matches: Vec<String> = spec
                    .tasks
                    .iter()
                    .filter(|t| t.task_id == *id || t.task_id.starts_with(&format!("{id}[")))
                    .map(|t| t.task_id.clone())
                    .collect();
                if matches.is_empty() {
                    let known: Vec<&str> = spec.tasks.iter().map(|t| t.task_id.as_str()).collect();
                    let hint = dataflow_core::suggest::closest_within(id, known.iter().copied(), 3)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(dataflow_core::Error::Usage(format!(
                        "run {run_id} has no task `{id}`{hint}"
                    ))
                    .into());
                }
                chosen.extend(matches);
            }
            if downstream {
                let more = downstream_closure(&spec.tasks, &chosen);
                chosen.extend(more);
            }
            chosen.sort();
            chosen.dedup();
            let with_retries: Vec<(String, u32)> = chosen
                .iter()
                .map(|id| (id.clone(), spec.task(id).map(|t| t.retries).unwrap_or(0)))
                .collect();
            let cleared = orch.store.clear(run.pk, &with_retries, Utc::now()).await?;
            println!(
                "cleared {cleared} task instance(s) of {} {}: {}{}",
                run.dag_id,
                run.run_id,
                chosen.join(", "),
                if cleared < chosen.len() {
                    " (running or queued ones were left alone)"
                } else {
                    ""
                }
            );
            Ok(())
        }
    }
}

/// `dataflow logs RUN_ID TASK_ID [--attempt N]`.
pub async fn logs(project: &Project, args: LogsArgs) -> anyhow::Result<()> {
    let orch = orchestrator::open(project).await?;
    let run = find_run(&orch, &args.run_id, args.dag.as_deref()).await?;
    let tis = orch.store.tasks(run.pk).await?;
    let Some(ti) = tis.iter().find(|t| t.task_id == args.task_id) else {
        let known: Vec<&str> = tis.iter().map(|t| t.task_id.as_str()).collect();
        let hint = dataflow_core::suggest::closest_within(&args.task_id, known.iter().copied(), 3)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(dataflow_core::Error::Usage(format!(
            "run {} has no task `{}`{hint}",
            run.run_id, args.task_id
        ))
        .into());
    };
    let attempts = orch.store.attempts(ti.pk).await?;
    let attempt = match args.attempt {
        Some(n) => attempts.iter().find(|a| a.attempt == n).ok_or_else(|| {
            dataflow_core::Error::Usage(format!(
                "task {} has no attempt {n} (attempts: {})",
                ti.task_id,
                if attempts.is_empty() {
                    "none yet".to_string()
                } else {
                    attempts
                        .iter()
                        .map(|a| a.attempt.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
        })?,
        None => attempts.last().ok_or_else(|| {
            dataflow_core::Error::Usage(format!(
                "task {} has not run yet (state {})",
                ti.task_id, ti.state
            ))
        })?,
    };
    let text = std::fs::read_to_string(&attempt.log_path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the log of attempt {} at {}: {e}",
            attempt.attempt,
            attempt.log_path
        )
    })?;
    print!("{text}");
    Ok(())
}
