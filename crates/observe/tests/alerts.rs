//! Alert conditions and state on a SQLite store: a condition found is new, found again is
//! quiet until the repeat interval, gone is resolved once, back again is new again; and the
//! conditions' thresholds and labels.

use chrono::{DateTime, TimeZone, Utc};
use dataflow_core::config::AlertsConfig;
use dataflow_observe::alerts::{Thresholds, evaluate, mark_notified, reconcile};
use dataflow_orchestrator::store::{QualityResult, Stage, StageRun, StageStatus, Store};

mod common;

use common::TestResult;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
        + chrono::Duration::minutes(minute)
}

async fn quality(store: &Store, minute: i64, score: f64) -> TestResult {
    store
        .record_quality_result(&QualityResult {
            run_id: format!("q{minute}"),
            checkpoint: "raw".to_string(),
            suite: "orders_suite".to_string(),
            data: "raw_orders".to_string(),
            validated_at: t(minute),
            success: score >= 0.8,
            evaluated: 4,
            successful: 3,
            success_percent: 75.0,
            data_quality_score: Some(score),
            result: "{}".to_string(),
        })
        .await?;
    Ok(())
}

fn thresholds() -> Thresholds {
    Thresholds::from_config(&AlertsConfig {
        repeat_interval: "1h".to_string(),
        ..AlertsConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn alerts_are_new_once_repeated_after_the_interval_and_resolved_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!("sqlite:{}", dir.path().join("m.db").display())).await?;
    alert_lifecycle(&store).await
}

#[tokio::test]
async fn alerts_are_new_once_repeated_after_the_interval_and_resolved_once_on_postgres()
-> TestResult {
    let Some((store, admin, schema)) = common::postgres_store("dataflow_alerts").await? else {
        return Ok(());
    };
    alert_lifecycle(&store).await?;
    common::drop_schema(&admin, &schema).await
}

/// New, pending until delivered, quiet, repeated, resolved once, new again.
async fn alert_lifecycle(store: &Store) -> TestResult {
    let store = store.clone();
    let th = thresholds();
    quality(&store, 0, 0.5).await?;

    let found = evaluate(&store, t(1), &th).await?;
    let names: Vec<&str> = found.iter().map(|a| a.name.as_str()).collect();
    assert!(names.contains(&"DataQualityDegradation"), "{names:?}");
    let quality_alert = found
        .iter()
        .find(|a| a.name == "DataQualityDegradation")
        .ok_or("quality alert")?;
    assert_eq!(quality_alert.labels["table"], "raw_orders");
    assert_eq!(quality_alert.labels["suite"], "orders_suite");
    assert_eq!(quality_alert.value, 0.5);
    assert!(
        quality_alert.annotations["description"].contains("is 0.50 (threshold: 0.80)"),
        "{:?}",
        quality_alert.annotations
    );
    let found: Vec<_> = found
        .into_iter()
        .filter(|a| a.name == "DataQualityDegradation")
        .collect();

    let (open, pending) = reconcile(&store, &found, t(1), th.repeat_interval).await?;
    assert_eq!(open.len(), 1);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "new");
    // Not delivered: still pending at the next evaluation.
    let (_, pending) = reconcile(&store, &found, t(2), th.repeat_interval).await?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "new");
    mark_notified(&store, &pending, t(2)).await?;
    let (open, pending) = reconcile(&store, &found, t(20), th.repeat_interval).await?;
    assert_eq!(
        (open.len(), pending.len()),
        (1, 0),
        "quiet until the repeat interval"
    );
    assert_eq!(open[0].starts_at, t(1), "still the same alert");
    let (_, pending) = reconcile(&store, &found, t(63), th.repeat_interval).await?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "repeat");
    mark_notified(&store, &pending, t(63)).await?;

    // Fixed: resolved, notified once.
    let (open, pending) = reconcile(&store, &[], t(70), th.repeat_interval).await?;
    assert!(open.is_empty());
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "resolved");
    assert_eq!(pending[0].alert.ends_at, Some(t(70)));
    mark_notified(&store, &pending, t(70)).await?;
    let (_, pending) = reconcile(&store, &[], t(80), th.repeat_interval).await?;
    assert!(pending.is_empty());

    // Broken again: a new alert with a new start.
    let (open, pending) = reconcile(&store, &found, t(90), th.repeat_interval).await?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].reason, "new");
    assert_eq!(open[0].starts_at, t(90));
    Ok(())
}

#[tokio::test]
async fn conditions_follow_their_thresholds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!("sqlite:{}", dir.path().join("m.db").display())).await?;
    let th = thresholds();
    quality(&store, 0, 0.85).await?;
    let load = |table: &str, minute: i64, stage: Stage, seconds: i64| StageRun {
        run_id: "r".to_string(),
        stage,
        name: table.to_string(),
        target: Some(table.to_string()),
        status: StageStatus::Success,
        started_at: t(minute) - chrono::Duration::seconds(seconds),
        ended_at: t(minute),
        records: Some(10),
        quarantined: Some(0),
        error_kind: None,
        error: None,
    };
    store
        .record_stage_runs(&[
            load("raw_orders", 0, Stage::Ingest, 1),
            load("raw_customers", 100, Stage::Ingest, 1),
            load("fct_orders", 0, Stage::Model, 1),
            load("fct_slow", 170, Stage::Model, 900),
        ])
        .await?;
    let found = evaluate(&store, t(180), &th).await?;
    let keys: Vec<String> = found
        .iter()
        .filter(|a| a.name != "HighMemoryUsage")
        .map(|a| a.fingerprint())
        .collect();
    // raw_orders is 3 h old (stale); raw_customers 80 min (fresh); fct_orders is not watched;
    // the 15-minute model is the model stage's p95; quality 0.85 is fine.
    assert_eq!(
        keys,
        [
            "ProcessingLatency{stage=\"model\"}",
            "DataStale{table=\"raw_orders\"}"
        ]
    );
    let stale = found
        .iter()
        .find(|a| a.name == "DataStale")
        .ok_or("stale")?;
    assert_eq!(
        stale.annotations["description"],
        "raw_orders was last loaded 3h ago (threshold: 2h)."
    );
    Ok(())
}
