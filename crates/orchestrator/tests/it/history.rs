//! Stage runs and quality results in the store: written by batch commands, read back in the
//! order and with the values the metrics endpoint and `dataflow quality results` rely on.

use chrono::Duration;
use dataflow_orchestrator::store::{QualityResult, Stage, StageRun, StageStatus, Store};

use crate::common::{Project, TestResult, t0};

fn stage_run(name: &str, stage: Stage, status: StageStatus, minute: i64) -> StageRun {
    StageRun {
        run_id: format!("run-{minute}"),
        stage,
        name: name.to_string(),
        target: Some(format!("raw_{name}")),
        status,
        started_at: t0() + Duration::minutes(minute),
        ended_at: t0() + Duration::minutes(minute) + Duration::milliseconds(1500),
        records: (status == StageStatus::Success).then_some(1000 + minute),
        quarantined: Some(minute),
        error_kind: (status == StageStatus::Failed).then(|| "parse".to_string()),
        error: (status == StageStatus::Failed).then(|| "row 3: bad amount".to_string()),
    }
}

/// Stage runs come back newest first, filtered by stage, with every field intact.
pub async fn stage_runs_round_trip_on(url: Option<&str>) -> TestResult {
    let project = Project::new()?;
    let url = url.map_or_else(|| project.sqlite_url(), str::to_string);
    let store = Store::open(&url).await?;
    let runs = vec![
        stage_run("customers", Stage::Ingest, StageStatus::Success, 1),
        stage_run("orders", Stage::Ingest, StageStatus::Failed, 2),
        stage_run("fct_orders", Stage::Model, StageStatus::Success, 3),
    ];
    store.record_stage_runs(&runs).await?;
    store.record_stage_runs(&[]).await?;
    let all = store.stage_runs(None, 10).await?;
    let expected: Vec<StageRun> = runs.iter().rev().cloned().collect();
    assert_eq!(all, expected);
    let ingest = store.stage_runs(Some(Stage::Ingest), 10).await?;
    assert_eq!(
        ingest.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["orders", "customers"]
    );
    assert_eq!(store.stage_runs(None, 1).await?.len(), 1);
    Ok(())
}

/// Quality results come back newest first, optionally of one dataset.
pub async fn quality_results_round_trip_on(url: Option<&str>) -> TestResult {
    let project = Project::new()?;
    let url = url.map_or_else(|| project.sqlite_url(), str::to_string);
    let store = Store::open(&url).await?;
    let result = |data: &str, minute: i64, score: Option<f64>| QualityResult {
        run_id: format!("run-{minute}"),
        checkpoint: "raw_data".to_string(),
        suite: format!("{data}_suite"),
        data: data.to_string(),
        validated_at: t0() + Duration::minutes(minute),
        success: score.is_some_and(|s| s >= 0.8),
        evaluated: 10,
        successful: 9,
        success_percent: 90.0,
        data_quality_score: score,
        result: "{}".to_string(),
    };
    let first = result("raw_customers", 1, Some(0.95));
    let second = result("raw_transactions", 2, None);
    store.record_quality_result(&first).await?;
    store.record_quality_result(&second).await?;
    assert_eq!(
        store.quality_results(None, 10).await?,
        vec![second.clone(), first.clone()]
    );
    assert_eq!(
        store.quality_results(Some("raw_customers"), 10).await?,
        vec![first]
    );
    Ok(())
}

#[tokio::test]
async fn stage_runs_round_trip() -> TestResult {
    stage_runs_round_trip_on(None).await
}

#[tokio::test]
async fn quality_results_round_trip() -> TestResult {
    quality_results_round_trip_on(None).await
}
