//! `dataflow ingest`: every (or each selected) source into the lake, with a summary table.

use dataflow_core::config::Project;
use dataflow_core::ids::RunId;
use dataflow_ingest::{SourceReport, ingest_source};
use tracing::{Instrument, error, info, info_span};

use crate::exit::JobFailed;
use crate::output;

/// Ingests the selected sources; returns one result per source, in name order.
pub async fn ingest_all(
    project: &Project,
    selected: &[String],
    run_id: &RunId,
) -> anyhow::Result<Vec<(String, Result<SourceReport, dataflow_ingest::Error>)>> {
    for name in selected {
        if !project.config.sources.contains_key(name) {
            let known: Vec<&str> = project.config.sources.keys().map(String::as_str).collect();
            return Err(dataflow_core::Error::Usage(format!(
                "unknown source `{name}`; the project has: {}",
                known.join(", ")
            ))
            .into());
        }
    }
    let lake = super::open_lake(project)?;
    let mut results = Vec::new();
    let mut times = Vec::new();
    for (name, source) in &project.config.sources {
        if !selected.is_empty() && !selected.contains(name) {
            continue;
        }
        let started = chrono::Utc::now();
        let span = info_span!("ingest", source = %name);
        let result = ingest_source(project, &lake, name, source, run_id.as_str())
            .instrument(span)
            .await;
        match &result {
            Ok(report) => info!(
                source = %name,
                rows = report.rows_loaded,
                quarantined = report.rows_quarantined,
                files_loaded = report.files_loaded(),
                files_skipped = report.files_skipped(),
                seconds = report.seconds,
                "source ingested"
            ),
            Err(err) => error!(source = %name, error = %err, "source failed"),
        }
        results.push((name.clone(), result));
        times.push((started, chrono::Utc::now()));
    }
    let runs = super::stages::from_ingest(run_id.as_str(), &results, &times);
    super::stages::record(project, runs).await;
    Ok(results)
}

/// Turns failed sources into one error (exit code 1, or 2 when every failure is configuration).
pub fn check(
    results: &[(String, Result<SourceReport, dataflow_ingest::Error>)],
) -> anyhow::Result<()> {
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(JobFailed(format!(
            "{} of {} sources failed:\n  {}",
            failures.len(),
            results.len(),
            failures.join("\n  ")
        ))
        .into())
    }
}

/// Runs the command.
pub async fn run(project: &Project, selected: &[String], run_id: &RunId) -> anyhow::Result<()> {
    let results = ingest_all(project, selected, run_id).await?;
    output::print_ingest_summary(&results);
    check(&results)
}
