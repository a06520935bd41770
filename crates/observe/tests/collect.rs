//! The metric families read from a metadata store holding a known history: runs, attempts,
//! SLA misses, stage runs and quality results, on SQLite (and on PostgreSQL when
//! `DATAFLOW_TEST_POSTGRES_URL` is set; required in CI).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use dataflow_observe::collect::from_store;
use dataflow_observe::{Family, Format, Sample, encode};
use dataflow_orchestrator::store::{Db, QualityResult, Stage, StageRun, StageStatus, Store};

mod common;

use common::TestResult;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
        + chrono::Duration::minutes(minute)
}

fn us(minute: i64) -> i64 {
    t(minute).timestamp_micros()
}

/// Two DAGs' runs with their task attempts, an SLA miss, a live and a dead scheduler.
async fn seed_runs(db: &Db) -> TestResult {
    let runs = [
        (1, "etl", "r1", "success", 0, 10),
        (2, "etl", "r2", "failed", 60, 65),
        (3, "etl", "r3", "running", 120, -1),
        (4, "monitor", "m1", "success", 0, 1),
    ];
    for (id, dag, run, state, start, end) in runs {
        db.execute(
            "INSERT INTO dag_runs (id, dag_id, run_id, run_type, state, logical_date, spec, \
             created_at, started_at, ended_at) VALUES ($1, $2, $3, 'scheduled', $4, $5, '{}', \
             $5, $5, $6)",
            &[
                i64::from(id).into(),
                dag.into(),
                run.into(),
                state.into(),
                us(start).into(),
                (end >= 0).then(|| us(end)).into(),
            ],
        )
        .await?;
    }
    // (instance id, run, task, state, attempts: (state, seconds))
    type Instance<'a> = (i64, i64, &'a str, &'a str, &'a [(&'a str, i64)]);
    let tasks: [Instance; 4] = [
        (1, 1, "load", "success", &[("success", 30)]),
        (2, 2, "load", "failed", &[("failed", 2), ("timeout", 600)]),
        (3, 3, "load", "running", &[]),
        (4, 4, "check", "success", &[("success", 1)]),
    ];
    for (id, run, task, state, attempts) in tasks {
        db.execute(
            "INSERT INTO task_instances (id, run_pk, task_id, state, max_tries, pool, \
             updated_at) VALUES ($1, $2, $3, $4, 3, 'default_pool', 0)",
            &[id.into(), run.into(), task.into(), state.into()],
        )
        .await?;
        for (n, (attempt_state, seconds)) in attempts.iter().enumerate() {
            db.execute(
                "INSERT INTO task_attempts (ti_pk, attempt, state, started_at, ended_at, \
                 log_path) VALUES ($1, $2, $3, $4, $5, 'x.log')",
                &[
                    id.into(),
                    (n + 1).into(),
                    (*attempt_state).into(),
                    us(0).into(),
                    (us(0) + seconds * 1_000_000).into(),
                ],
            )
            .await?;
        }
    }
    db.execute(
        "INSERT INTO sla_misses (dag_id, run_id, task_id, deadline, detected_at) \
         VALUES ('etl', 'r2', 'load', 0, 0)",
        &[],
    )
    .await?;
    for (id, heartbeat, stopped) in [
        ("alive", us(179), None::<i64>),
        ("dead", us(100), Some(us(150))),
    ] {
        db.execute(
            "INSERT INTO schedulers (id, hostname, pid, started_at, heartbeat_at, stopped_at) \
             VALUES ($1, 'h', 1, 0, $2, $3)",
            &[id.into(), heartbeat.into(), stopped.into()],
        )
        .await?;
    }
    Ok(())
}

fn stage(name: &str, stage: Stage, status: StageStatus, minute: i64, records: i64) -> StageRun {
    StageRun {
        run_id: format!("r{minute}"),
        stage,
        name: name.to_string(),
        target: Some(name.to_string()),
        status,
        started_at: t(minute),
        ended_at: t(minute) + chrono::Duration::seconds(2),
        records: Some(records),
        quarantined: Some(if stage == Stage::Ingest { 3 } else { 0 }),
        error_kind: (status == StageStatus::Failed).then(|| "data".to_string()),
        error: None,
    }
}

async fn seed_stages(store: &Store) -> TestResult {
    store
        .record_stage_runs(&[
            stage("raw_orders", Stage::Ingest, StageStatus::Success, 100, 1000),
            stage("raw_orders", Stage::Ingest, StageStatus::Success, 150, 0),
            stage("raw_orders", Stage::Ingest, StageStatus::Failed, 170, 0),
            stage("fct_orders", Stage::Model, StageStatus::Success, 160, 900),
        ])
        .await?;
    for (minute, score, success) in [(100, Some(0.9), true), (160, Some(0.7), false)] {
        store
            .record_quality_result(&QualityResult {
                run_id: format!("q{minute}"),
                checkpoint: "raw".to_string(),
                suite: "orders_suite".to_string(),
                data: "raw_orders".to_string(),
                validated_at: t(minute),
                success,
                evaluated: 10,
                successful: if success { 10 } else { 7 },
                success_percent: if success { 100.0 } else { 70.0 },
                data_quality_score: score,
                result: "{}".to_string(),
            })
            .await?;
    }
    Ok(())
}

fn value(families: &[Family], name: &str, labels: &[&str]) -> Option<f64> {
    families
        .iter()
        .filter(|f| f.metric.name == name)
        .flat_map(|f| &f.samples)
        .find_map(|s| match s {
            Sample::Value { labels: l, value } if l == labels => Some(*value),
            _ => None,
        })
}

fn histogram(families: &[Family], name: &str, label: &str) -> Option<(Vec<u64>, u64, f64)> {
    families
        .iter()
        .filter(|f| f.metric.name == name)
        .flat_map(|f| &f.samples)
        .find_map(|s| match s {
            Sample::Histogram {
                labels,
                buckets,
                count,
                sum,
                ..
            } if labels == &[label.to_string()] => Some((buckets.clone(), *count, *sum)),
            _ => None,
        })
}

async fn families_of_a_known_history(store: &Store) -> TestResult {
    let store = store.clone();
    seed_runs(&store.db).await?;
    seed_stages(&store).await?;
    let f = from_store(&store, t(180), Duration::from_secs(15 * 60)).await?;

    assert_eq!(value(&f, "dataflow_schedulers_alive", &[]), Some(1.0));
    assert_eq!(
        value(&f, "dataflow_dag_runs_total", &["etl", "success"]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, "dataflow_dag_runs_total", &["etl", "failed"]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, "dataflow_dag_runs_total", &["etl", "running"]),
        None
    );
    // Known DAGs start at zero rather than missing.
    assert_eq!(
        value(&f, "dataflow_dag_runs_total", &["monitor", "failed"]),
        Some(0.0)
    );
    assert_eq!(
        value(&f, "dataflow_sla_misses_total", &["monitor"]),
        Some(0.0)
    );
    assert_eq!(
        value(&f, "dataflow_dag_runs_active", &["etl", "running"]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, "dataflow_dag_last_success_timestamp_seconds", &["etl"]),
        Some(t(10).timestamp() as f64)
    );
    let (buckets, count, sum) =
        histogram(&f, "dataflow_dag_run_duration_seconds", "etl").ok_or("etl durations")?;
    assert_eq!((count, sum), (2, 900.0), "{buckets:?}");
    let five_minutes = dataflow_observe::catalog::DURATION_BUCKETS
        .iter()
        .position(|b| *b == 300.0)
        .ok_or("a 300 s bucket")?;
    assert_eq!(buckets[five_minutes], 1, "the 5-minute run only");
    assert_eq!(
        value(&f, "dataflow_task_runs_total", &["etl", "timeout"]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, "dataflow_task_runs_total", &["etl", "success"]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, "dataflow_task_instances", &["running"]),
        Some(1.0)
    );
    let (_, count, sum) = histogram(&f, "dataflow_task_duration_seconds", "etl").ok_or("tasks")?;
    assert_eq!((count, sum), (3, 632.0));
    assert_eq!(value(&f, "dataflow_sla_misses_total", &["etl"]), Some(1.0));

    assert_eq!(
        value(&f, "dataflow_stage_runs_total", &["ingest", "success"]),
        Some(2.0)
    );
    assert_eq!(
        value(&f, "dataflow_stage_runs_total", &["ingest", "failed"]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &f,
            "dataflow_records_processed_total",
            &["ingest", "raw_orders"]
        ),
        Some(1000.0)
    );
    assert_eq!(
        value(
            &f,
            "dataflow_rows_quarantined_total",
            &["ingest", "raw_orders"]
        ),
        Some(9.0)
    );
    assert_eq!(
        value(
            &f,
            "dataflow_records_processed_total",
            &["model", "fct_orders"]
        ),
        Some(900.0)
    );
    // Failed stage runs by kind, plus the failed and the timed-out attempt.
    assert_eq!(
        value(&f, "dataflow_pipeline_errors_total", &["data"]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, "dataflow_pipeline_errors_total", &["task"]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, "dataflow_pipeline_errors_total", &["timeout"]),
        Some(1.0)
    );
    // The ingest at minute 150 loaded nothing new: the table is as old as minute 100's load.
    assert_eq!(
        value(&f, "dataflow_data_freshness_seconds", &["raw_orders"]),
        Some(80.0 * 60.0 - 2.0)
    );
    assert_eq!(
        value(&f, "dataflow_data_freshness_seconds", &["fct_orders"]),
        Some(20.0 * 60.0 - 2.0)
    );

    assert_eq!(
        value(
            &f,
            "dataflow_data_quality_score",
            &["raw_orders", "orders_suite"]
        ),
        Some(0.7),
        "the latest result"
    );
    let validations = "dataflow_quality_validations_total";
    assert_eq!(
        value(&f, validations, &["raw_orders", "orders_suite", "success"]),
        Some(1.0)
    );
    assert_eq!(
        value(&f, validations, &["raw_orders", "orders_suite", "failure"]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &f,
            "dataflow_expectations_failed_total",
            &["raw_orders", "orders_suite"]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &f,
            "dataflow_expectations_evaluated_total",
            &["raw_orders", "orders_suite"]
        ),
        Some(20.0)
    );
    // Every family encodes; every sample name is in the catalog.
    let text = encode(&f, Format::Text);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        assert!(
            dataflow_observe::catalog::ALL.iter().any(|m| name == m.name
                || name
                    .strip_prefix(m.name)
                    .is_some_and(|rest| { ["_bucket", "_sum", "_count"].contains(&rest) })),
            "{line}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn families_of_a_known_history_on_sqlite() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!("sqlite:{}", dir.path().join("m.db").display())).await?;
    families_of_a_known_history(&store).await
}

#[tokio::test]
async fn families_of_a_known_history_on_postgres() -> TestResult {
    let Some((store, admin, schema)) = common::postgres_store("dataflow_observe").await? else {
        return Ok(());
    };
    families_of_a_known_history(&store).await?;
    common::drop_schema(&admin, &schema).await
}
