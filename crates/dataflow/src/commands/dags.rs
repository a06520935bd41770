//! `dataflow dags`: list, show, trigger, backfill, pause, unpause and test the project's DAGs.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use comfy_table::Table;
use dataflow_core::config::Project;
use dataflow_orchestrator::clock::SystemClock;
use dataflow_orchestrator::executor::Scheduler;
use dataflow_orchestrator::spec::{Dag, TaskKind, TriggerRule};
use dataflow_orchestrator::state::RunState;
use dataflow_orchestrator::store::{NewRun, RunRecord};

use super::orchestrator::{self, Orchestrator, parse_conf, parse_date};
use crate::cli::DagsAction;
use crate::exit::JobFailed;

/// Runs a `dags` subcommand.
pub async fn run(project: &Project, action: DagsAction) -> anyhow::Result<()> {
    let orch = orchestrator::open(project).await?;
    match action {
        DagsAction::List => list(&orch).await,
        DagsAction::Show { dag_id } => {
            print!("{}", render_graph(orch.bag.get(&dag_id)?));
            Ok(())
        }
        DagsAction::Pause { dag_id } => pause(&orch, &dag_id, true).await,
        DagsAction::Unpause { dag_id } => pause(&orch, &dag_id, false).await,
        DagsAction::Trigger {
            dag_id,
            conf,
            logical_date,
            run_id,
        } => {
            let dag = orch.bag.get(&dag_id)?;
            let now = Utc::now();
            let logical = match logical_date.as_deref() {
                Some(t) => parse_date(t, "--logical-date")?,
                None => now,
            };
            let new = NewRun {
                run_id: run_id.unwrap_or_else(|| NewRun::run_id_for("manual", logical)),
                run_type: "manual".to_string(),
                logical_date: logical,
                interval: dag.schedule.manual_interval(logical),
                conf: parse_conf(conf.as_deref())?,
            };
            orch.store.sync_dags(&orch.bag, now).await?;
            match orch.store.create_run(dag, &new, now).await? {
                Some(run) => {
                    println!(
                        "created run {} of {} (logical date {}); a running `dataflow scheduler` executes it",
                        run.run_id,
                        dag.dag_id,
                        run.logical_date.to_rfc3339()
                    );
                    Ok(())
                }
                None => Err(dataflow_core::Error::Usage(format!(
                    "DAG `{dag_id}` already has a run `{}`",
                    new.run_id
                ))
                .into()),
            }
        }
        DagsAction::Backfill {
            dag_id,
            start,
            end,
            conf,
        } => backfill(&orch, &dag_id, &start, &end, conf.as_deref()).await,
        DagsAction::Test {
            dag_id,
            logical_date,
            conf,
        } => {
            let logical = logical_date
                .as_deref()
                .map(|t| parse_date(t, "--logical-date"))
                .transpose()?;
            let run = test(&orch, &dag_id, logical, conf.as_deref()).await?;
            print_run_result(&orch, &run).await?;
            if run.state == RunState::Failed {
                return Err(JobFailed(format!("run {} of {} failed", run.run_id, dag_id)).into());
            }
            Ok(())
        }
    }
}

async fn list(orch: &Orchestrator) -> anyhow::Result<()> {
    let paused = orch.store.paused().await?;
    let mut table = Table::new();
    table.set_header([
        "dag_id",
        "schedule",
        "paused",
        "tasks",
        "latest run",
        "state",
        "file",
    ]);
    for dag in orch.bag.dags.values() {
        let latest = orch.store.runs(Some(&dag.dag_id), 1).await?;
        let (run, state) = latest
            .first()
            .map(|r| (r.run_id.clone(), r.state.to_string()))
            .unwrap_or_default();
        table.add_row([
            dag.dag_id.clone(),
            dag.schedule.to_string(),
            paused.contains(&dag.dag_id).to_string(),
            dag.tasks.len().to_string(),
            run,
            state,
            dag.file.display().to_string(),
        ]);
    }
    println!("{table}");
    Ok(())
}

async fn pause(orch: &Orchestrator, dag_id: &str, paused: bool) -> anyhow::Result<()> {
    orch.bag.get(dag_id)?;
    orch.store.set_paused(dag_id, paused, Utc::now()).await?;
    println!("{dag_id} {}", if paused { "paused" } else { "unpaused" });
    Ok(())
}

/// Runs one DAG run in the foreground (`dags test`, and the demo).
pub async fn test(
    orch: &Orchestrator,
    dag_id: &str,
    logical: Option<chrono::DateTime<Utc>>,
    conf: Option<&str>,
) -> anyhow::Result<RunRecord> {
    let dag = orch.bag.get(dag_id)?;
    let now = Utc::now();
    let logical = logical.unwrap_or(now);
    let new = NewRun {
        run_id: format!(
            "test__{}",
            now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
        run_type: "test".to_string(),
        logical_date: logical,
        interval: dag.schedule.manual_interval(logical),
        conf: parse_conf(conf)?,
    };
    let mut scheduler = Scheduler::start(
        orch.store.clone(),
        orch.bag.clone(),
        orch.options.clone(),
        Arc::new(SystemClock),
    )
    .await?;
    let run = orch
        .store
        .create_run(dag, &new, now)
        .await?
        .ok_or_else(|| anyhow::anyhow!("run {} exists already", new.run_id))?;
    let finished = scheduler.run_until_done(&[run.pk]).await?;
    scheduler.stop().await?;
    finished
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("run {} vanished", run.run_id))
}

async fn backfill(
    orch: &Orchestrator,
    dag_id: &str,
    start: &str,
    end: &str,
    conf: Option<&str>,
) -> anyhow::Result<()> {
    let dag = orch.bag.get(dag_id)?;
    let (from, to) = (parse_date(start, "--start")?, parse_date(end, "--end")?);
    if from > to {
        return Err(
            dataflow_core::Error::Usage(format!("--start {start} is after --end {end}")).into(),
        );
    }
    if !dag.schedule.is_scheduled() {
        return Err(dataflow_core::Error::Usage(format!(
            "DAG `{dag_id}` has no schedule (`{}`), so it has no intervals to backfill",
            dag.schedule
        ))
        .into());
    }
    let intervals = dag.schedule.intervals_between(from, to);
    let conf = parse_conf(conf)?;
    let now = Utc::now();
    orch.store.sync_dags(&orch.bag, now).await?;
    let mut pks = Vec::new();
    let mut existing = 0;
    for interval in &intervals {
        let new = NewRun {
            run_id: NewRun::run_id_for("backfill", interval.start),
            run_type: "backfill".to_string(),
            logical_date: interval.start,
            interval: *interval,
            conf: conf.clone(),
        };
        match orch.store.create_run(dag, &new, now).await? {
            Some(run) => pks.push(run.pk),
            None => existing += 1,
        }
    }
    println!(
        "backfill of {dag_id}: {} intervals from {} to {} ({} new runs, {existing} existed already)",
        intervals.len(),
        from.to_rfc3339(),
        to.to_rfc3339(),
        pks.len()
    );
    if pks.is_empty() {
        return Ok(());
    }
    let mut scheduler = Scheduler::start(
        orch.store.clone(),
        orch.bag.clone(),
        orch.options.clone(),
        Arc::new(SystemClock),
    )
    .await?;
    let finished = scheduler.run_until_done(&pks).await?;
    scheduler.stop().await?;
    let failed: Vec<&RunRecord> = finished
        .iter()
        .filter(|r| r.state == RunState::Failed)
        .collect();
    let mut table = Table::new();
    table.set_header(["run_id", "state", "data interval"]);
    for run in &finished {
        table.add_row([
            run.run_id.clone(),
            run.state.to_string(),
            format!(
                "{} – {}",
                run.interval_start.to_rfc3339(),
                run.interval_end.to_rfc3339()
            ),
        ]);
    }
    println!("{table}");
    if !failed.is_empty() {
        return Err(JobFailed(format!(
            "{} of {} backfill runs failed",
            failed.len(),
            finished.len()
        ))
        .into());
    }
    Ok(())
}

/// Prints a finished run's task table.
pub async fn print_run_result(orch: &Orchestrator, run: &RunRecord) -> anyhow::Result<()> {
    println!(
        "run {} of {}: {} ({})",
        run.run_id,
        run.dag_id,
        run.state,
        match (run.started_at, run.ended_at) {
            (Some(s), Some(e)) => format!("{:.2} s", (e - s).num_milliseconds() as f64 / 1000.0),
            _ => "not finished".to_string(),
        }
    );
    super::runs::print_tasks(orch, run).await
}

/// The DAG as text: one line per task in dependency order, indented by group, with its type,
/// trigger rule (when not the default) and upstream tasks.
pub fn render_graph(dag: &Dag) -> String {
    let mut out = format!(
        "{}{}\nschedule: {}   catchup: {}   max_active_runs: {}\n",
        dag.dag_id,
        dag.description
            .as_deref()
            .map(|d| format!(" — {}", d.trim()))
            .unwrap_or_default(),
        dag.schedule,
        dag.catchup,
        dag.max_active_runs
    );
    let mut open_groups: Vec<String> = Vec::new();
    let mut shown_groups: BTreeSet<String> = BTreeSet::new();
    for task in &dag.tasks {
        let path: Vec<String> = match &task.group {
            Some(g) => {
                let parts: Vec<&str> = g.split('.').collect();
                (1..=parts.len()).map(|n| parts[..n].join(".")).collect()
            }
            None => Vec::new(),
        };
        open_groups.retain(|g| path.contains(g));
        for (depth, group) in path.iter().enumerate() {
            if !open_groups.contains(group) {
                let name = group.rsplit('.').next().unwrap_or(group);
                let again = if shown_groups.insert(group.clone()) {
                    ""
                } else {
                    " (cont.)"
                };
                out.push_str(&format!("{}[{name}]{again}\n", "  ".repeat(depth + 1)));
                open_groups.push(group.clone());
            }
        }
        let indent = "  ".repeat(path.len() + 1);
        let short = match &task.group {
            Some(g) => task
                .task_id
                .strip_prefix(&format!("{g}."))
                .unwrap_or(&task.task_id),
            None => task.task_id.as_str(),
        };
        let rule = if task.trigger_rule == TriggerRule::AllSuccess {
            String::new()
        } else {
            format!(
                " ({})",
                serde_json::to_value(task.trigger_rule)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            )
        };
        let ups = if task.upstream.is_empty() {
            String::new()
        } else {
            format!(" ← {}", task.upstream.join(", "))
        };
        out.push_str(&format!(
            "{indent}{short} <{}>{rule}{ups}\n",
            kind_label(&task.kind)
        ));
    }
    out
}

fn kind_label(kind: &TaskKind) -> String {
    match kind {
        TaskKind::Ingest { source, sources } => {
            let all: Vec<&str> = source.iter().chain(sources).map(String::as_str).collect();
            if all.is_empty() {
                "ingest".to_string()
            } else {
                format!("ingest {}", all.join(","))
            }
        }
        TaskKind::Checkpoint { checkpoint } => format!("checkpoint {checkpoint}"),
        TaskKind::Models {
            command, select, ..
        } => format!("models {} {}", command.as_str(), select.join(" "))
            .trim()
            .to_string(),
        other => other.type_name().to_string(),
    }
}
