//! Recording what batch commands did as stage runs in the metadata store (sources ingested,
//! seeds, models and tests of `models`, suites of checkpoints), where `dataflow serve` turns
//! them into metrics. Recording is best effort: an unreachable store is a warning, never the
//! reason a load that already committed fails.

use chrono::{DateTime, Duration, Utc};
use dataflow_core::config::Project;
use dataflow_ingest::SourceReport;
use dataflow_models::artifacts::ResultEntry;
use dataflow_orchestrator::store::{Stage, StageRun, StageStatus, Store};

/// Writes `runs` to the project's metadata store.
pub async fn record(project: &Project, runs: Vec<StageRun>) {
    if runs.is_empty() {
        return;
    }
    let url = super::orchestrator::metadata_url(project);
    let result = match Store::open(&url).await {
        Ok(store) => store.record_stage_runs(&runs).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "stage runs not recorded in the metadata store");
    }
}

/// The stage runs of an ingest: one per source, with its start and end in `times`.
pub fn from_ingest(
    run_id: &str,
    results: &[(String, Result<SourceReport, dataflow_ingest::Error>)],
    times: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<StageRun> {
    results
        .iter()
        .zip(times)
        .map(|((name, result), &(started, ended))| {
            let base = StageRun {
                run_id: run_id.to_string(),
                stage: Stage::Ingest,
                name: name.clone(),
                target: Some(dataflow_ingest::raw_table_name(name)),
                status: StageStatus::Success,
                started_at: started,
                ended_at: ended,
                records: None,
                quarantined: None,
                error_kind: None,
                error: None,
            };
            match result {
                Ok(report) => StageRun {
                    target: Some(report.table.clone()),
                    records: Some(count(report.rows_loaded)),
                    quarantined: Some(count(report.rows_quarantined)),
                    ..base
                },
                Err(e) => StageRun {
                    status: StageStatus::Failed,
                    error_kind: Some(kind_name(e.kind()).to_string()),
                    error: Some(e.to_string()),
                    ..base
                },
            }
        })
        .collect()
}

/// The stage runs of `dataflow models` from its run results (seeds, models, tests), all
/// ending at `ended`. Models and seeds carry their row counts and target table.
pub fn from_model_results(
    run_id: &str,
    results: &[ResultEntry],
    ended: DateTime<Utc>,
) -> Vec<StageRun> {
    results
        .iter()
        .filter_map(|r| {
            let mut parts = r.unique_id.splitn(3, '.');
            let (kind, _project, name) = (parts.next()?, parts.next()?, parts.next()?);
            let stage = match kind {
                "seed" => Stage::Seed,
                "model" => Stage::Model,
                "test" | "unit_test" => Stage::Test,
                _ => return None,
            };
            let status = match r.status.as_str() {
                "success" | "pass" => StageStatus::Success,
                "warn" => StageStatus::Warn,
                "skipped" => StageStatus::Skipped,
                _ => StageStatus::Failed,
            };
            let builds = matches!(stage, Stage::Seed | Stage::Model);
            let records = if builds && status == StageStatus::Success {
                r.message.as_deref().and_then(rows_in_message)
            } else {
                None
            };
            let error_kind =
                (status == StageStatus::Failed).then(|| match (stage, r.status.as_str()) {
                    (Stage::Test, "fail") => "test_failure".to_string(),
                    _ => stage.as_str().to_string(),
                });
            Some(StageRun {
                run_id: run_id.to_string(),
                stage,
                name: name.to_string(),
                target: builds.then(|| name.to_string()),
                status,
                started_at: ended - seconds(r.seconds),
                ended_at: ended,
                records,
                quarantined: None,
                error_kind,
                error: (status == StageStatus::Failed)
                    .then(|| r.message.clone())
                    .flatten(),
            })
        })
        .collect()
}

/// The row count of a model's or seed's result message (`"1234 rows"`).
fn rows_in_message(message: &str) -> Option<i64> {
    message.strip_suffix(" rows")?.trim().parse().ok()
}

/// The stored name of an error kind.
pub fn kind_name(kind: dataflow_core::ErrorKind) -> &'static str {
    match kind {
        dataflow_core::ErrorKind::Config => "config",
        dataflow_core::ErrorKind::Data => "data",
        dataflow_core::ErrorKind::External => "external",
        dataflow_core::ErrorKind::Internal => "internal",
    }
}

fn seconds(s: f64) -> Duration {
    Duration::microseconds((s * 1e6) as i64)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, status: &str, message: Option<&str>) -> ResultEntry {
        ResultEntry {
            unique_id: id.to_string(),
            status: status.to_string(),
            seconds: 1.5,
            message: message.map(str::to_string),
            failures: None,
        }
    }

    #[test]
    fn model_results_become_stage_runs() {
        let ended = Utc::now();
        let runs = from_model_results(
            "r1",
            &[
                entry("model.shop.fct_orders", "success", Some("1200 rows")),
                entry("seed.shop.countries", "success", Some("12 rows")),
                entry("model.shop.broken", "error", Some("unknown column")),
                entry(
                    "test.shop.not_null_orders_id.abc",
                    "fail",
                    Some("3 failing rows"),
                ),
                entry("test.shop.unique_orders_id", "pass", None),
                entry("source.shop.raw.orders", "pass", None),
            ],
            ended,
        );
        assert_eq!(runs.len(), 5);
        assert_eq!((runs[0].stage, runs[0].records), (Stage::Model, Some(1200)));
        assert_eq!(runs[0].target.as_deref(), Some("fct_orders"));
        assert_eq!(runs[0].started_at, ended - Duration::milliseconds(1500));
        assert_eq!((runs[1].stage, runs[1].records), (Stage::Seed, Some(12)));
        assert_eq!(runs[2].status, StageStatus::Failed);
        assert_eq!(runs[2].error_kind.as_deref(), Some("model"));
        assert_eq!(runs[2].error.as_deref(), Some("unknown column"));
        assert_eq!(runs[3].name, "not_null_orders_id.abc");
        assert_eq!(runs[3].error_kind.as_deref(), Some("test_failure"));
        assert_eq!(runs[3].target, None);
        assert_eq!(runs[4].status, StageStatus::Success);
    }

    #[test]
    fn row_counts_in_messages() {
        assert_eq!(rows_in_message("42 rows"), Some(42));
        assert_eq!(rows_in_message("rows"), None);
        assert_eq!(rows_in_message("no rows"), None);
    }
}
