//! `dataflow models freshness`: `dbt source freshness` for the lake's source tables.

use anyhow::Context;
use dataflow_core::config::Project;
use dataflow_core::ids::RunId;
use dataflow_engine::new_session;
use dataflow_models::DbtProject;
use dataflow_models::artifacts;
use dataflow_models::freshness::{self, FreshnessStatus};

use crate::cli::ModelsArgs;
use crate::exit::JobFailed;

/// Whether `--select` picks `source.table`: `source:raw`, `source:raw.orders`, `raw.orders`.
fn selected(args: &ModelsArgs, source: &str, table: &str) -> bool {
    let full = format!("{source}.{table}");
    args.select.is_empty()
        || args
            .select
            .iter()
            .flat_map(|s| s.split_whitespace())
            .any(|word| {
                let word = word.strip_prefix("source:").unwrap_or(word);
                word == source || word == full || word == "*"
            })
}

/// Checks every selected source table that declares a `loaded_at_field` and criteria.
pub async fn run(
    project: &Project,
    dbt: &DbtProject,
    args: &ModelsArgs,
    run_id: &RunId,
) -> anyhow::Result<()> {
    let lake = super::open_lake(project)?;
    let ctx = new_session(&lake).await.context("opening the lake")?;
    let sources: Vec<_> = freshness::checked_sources(&dbt.sources)
        .into_iter()
        .filter(|s| selected(args, &s.source, &s.table))
        .collect();
    let started = std::time::Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let total = sources.len();
    let mut results = Vec::with_capacity(total);
    for (position, source) in sources.into_iter().enumerate() {
        let result = freshness::check(&ctx, source, now).await;
        let status = match &result.status {
            FreshnessStatus::Pass => "PASS",
            FreshnessStatus::Warn => "WARN",
            FreshnessStatus::Error(_) => "ERROR STALE",
            FreshnessStatus::RuntimeError(_) => "ERROR",
        };
        let age = result
            .age_seconds
            .map(|a| format!(" (last loaded {} ago)", freshness::describe_age(a)))
            .unwrap_or_default();
        let detail = match &result.status {
            FreshnessStatus::Error(m) | FreshnessStatus::RuntimeError(m) => {
                format!("\n    {}", m.replace('\n', "\n    "))
            }
            _ => String::new(),
        };
        println!(
            "{:>3} of {total} {status:<5} freshness of {} [{:.2}s]{age}{detail}",
            position + 1,
            result.name,
            result.seconds
        );
        results.push(result);
    }
    let generated_at = super::models::chrono_now();
    artifacts::write_sources(
        &project.dir.join("target"),
        dbt,
        &results,
        run_id.as_str(),
        &generated_at,
        started.elapsed().as_secs_f64(),
    )?;
    let count = |f: fn(&FreshnessStatus) -> bool| results.iter().filter(|r| f(&r.status)).count();
    let errors = count(|s| {
        matches!(
            s,
            FreshnessStatus::Error(_) | FreshnessStatus::RuntimeError(_)
        )
    });
    println!(
        "Done. PASS={} WARN={} ERROR={errors} TOTAL={total}",
        count(|s| *s == FreshnessStatus::Pass),
        count(|s| *s == FreshnessStatus::Warn)
    );
    if errors > 0 {
        return Err(JobFailed(format!("{errors} of {total} sources are stale or failed")).into());
    }
    Ok(())
}
