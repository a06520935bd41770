//! Reading the metadata store into metric families at scrape time: run history, task
//! attempts, SLA misses, stage runs (records, quarantine, errors, freshness) and quality
//! results. Each family is one aggregate query, the same SQL on SQLite and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use dataflow_orchestrator::store::{Db, Row, Store};

use crate::catalog::{self, DURATION_BUCKETS, Metric};
use crate::exposition::{Family, Sample};
use crate::history;

/// A store query failed.
pub type Error = dataflow_orchestrator::Error;

/// Everything the store holds, as families in catalog order; `now` computes freshness and
/// which schedulers count as alive (heartbeat within `scheduler_timeout`).
pub async fn from_store(
    store: &Store,
    now: DateTime<Utc>,
    scheduler_timeout: std::time::Duration,
) -> Result<Vec<Family>, Error> {
    let db = &store.db;
    let now_us = now.timestamp_micros();
    let mut out = Vec::new();

    let timeout_us = i64::try_from(scheduler_timeout.as_micros()).unwrap_or(i64::MAX);
    let alive = db
        .query(
            "SELECT COUNT(*) FROM schedulers WHERE stopped_at IS NULL AND heartbeat_at >= $1",
            &[now_us.saturating_sub(timeout_us).into()],
        )
        .await?;
    let mut f = Family::new(catalog::SCHEDULERS_ALIVE);
    f.push(&[], first_number(&alive)?);
    out.push(f);

    // Every known DAG gets its success, failed and SLA-miss series from the start (at 0), so
    // rates and ratios over them have data before the first failure.
    let dags: BTreeSet<String> = db
        .query(
            "SELECT dag_id FROM dags UNION SELECT dag_id FROM dag_runs",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.str(0).map(str::to_string))
        .collect::<Result<_, _>>()?;
    let runs = db
        .query(
            "SELECT dag_id, state, COUNT(*) FROM dag_runs GROUP BY dag_id, state \
             ORDER BY dag_id, state",
            &[],
        )
        .await?;
    let mut counts: BTreeMap<(String, String), f64> = dags
        .iter()
        .flat_map(|d| ["failed", "success"].map(|s| ((d.clone(), s.to_string()), 0.0)))
        .collect();
    let mut active = Family::new(catalog::DAG_RUNS_ACTIVE);
    for r in &runs {
        let (dag, state, n) = (r.str(0)?, r.str(1)?, r.f64(2)?);
        match state {
            "success" | "failed" => {
                counts.insert((dag.to_string(), state.to_string()), n);
            }
            _ => active.push(&[dag, state], n),
        }
    }
    let mut finished = Family::new(catalog::DAG_RUNS);
    for ((dag, state), n) in &counts {
        finished.push(&[dag, state], *n);
    }
    out.push(finished);
    out.push(active);

    let last = db
        .query(
            "SELECT dag_id, MAX(ended_at) FROM dag_runs WHERE state = 'success' \
             AND ended_at IS NOT NULL GROUP BY dag_id ORDER BY dag_id",
            &[],
        )
        .await?;
    let mut f = Family::new(catalog::DAG_LAST_SUCCESS);
    for r in &last {
        f.push(&[r.str(0)?], seconds(r.i64(1)?));
    }
    out.push(f);

    out.push(
        histogram(
            db,
            catalog::DAG_RUN_DURATION,
            "SELECT dag_id, {buckets} FROM dag_runs \
             WHERE started_at IS NOT NULL AND ended_at IS NOT NULL \
             GROUP BY dag_id ORDER BY dag_id",
            "",
        )
        .await?,
    );

    let attempts = db
        .query(
            "SELECT r.dag_id, a.state, COUNT(*) FROM task_attempts a \
             JOIN task_instances t ON a.ti_pk = t.id JOIN dag_runs r ON t.run_pk = r.id \
             WHERE a.ended_at IS NOT NULL GROUP BY r.dag_id, a.state ORDER BY r.dag_id, a.state",
            &[],
        )
        .await?;
    out.push(labelled(catalog::TASK_RUNS, &attempts, 2)?);

    let instances = db
        .query(
            "SELECT state, COUNT(*) FROM task_instances GROUP BY state ORDER BY state",
            &[],
        )
        .await?;
    out.push(labelled(catalog::TASK_INSTANCES, &instances, 1)?);

    out.push(
        histogram(
            db,
            catalog::TASK_DURATION,
            "SELECT r.dag_id, {buckets} FROM task_attempts a \
             JOIN task_instances t ON a.ti_pk = t.id JOIN dag_runs r ON t.run_pk = r.id \
             WHERE a.ended_at IS NOT NULL GROUP BY r.dag_id ORDER BY r.dag_id",
            "a.",
        )
        .await?,
    );

    let sla = db
        .query(
            "SELECT dag_id, COUNT(*) FROM sla_misses GROUP BY dag_id",
            &[],
        )
        .await?;
    let mut misses: BTreeMap<String, f64> = dags.iter().map(|d| (d.clone(), 0.0)).collect();
    for r in &sla {
        misses.insert(r.str(0)?.to_string(), r.f64(1)?);
    }
    let mut f = Family::new(catalog::SLA_MISSES);
    for (dag, n) in &misses {
        f.push(&[dag], *n);
    }
    out.push(f);

    let stages = db
        .query(
            "SELECT stage, status, COUNT(*) FROM stage_runs GROUP BY stage, status \
             ORDER BY stage, status",
            &[],
        )
        .await?;
    out.push(labelled(catalog::STAGE_RUNS, &stages, 2)?);

    out.push(
        histogram(
            db,
            catalog::STAGE_DURATION,
            "SELECT stage, {buckets} FROM stage_runs GROUP BY stage ORDER BY stage",
            "",
        )
        .await?,
    );

    let volumes = db
        .query(
            "SELECT stage, target, CAST(SUM(COALESCE(records, 0)) AS DOUBLE PRECISION), \
             CAST(SUM(COALESCE(quarantined, 0)) AS DOUBLE PRECISION) FROM stage_runs \
             WHERE target IS NOT NULL GROUP BY stage, target ORDER BY stage, target",
            &[],
        )
        .await?;
    let mut records = Family::new(catalog::RECORDS_PROCESSED);
    let mut quarantined = Family::new(catalog::ROWS_QUARANTINED);
    for r in &volumes {
        let (stage, table) = (r.str(0)?, r.str(1)?);
        records.push(&[stage, table], r.f64(2)?);
        let q = r.f64(3)?;
        if q > 0.0 || matches!(stage, "ingest" | "quality") {
            quarantined.push(&[stage, table], q);
        }
    }
    out.push(records);
    out.push(quarantined);

    out.push(errors(db).await?);

    let mut last_load = Family::new(catalog::TABLE_LAST_LOAD);
    let mut freshness = Family::new(catalog::DATA_FRESHNESS);
    for (table, at) in history::last_loads(db).await? {
        last_load.push(&[&table], seconds(at));
        freshness.push(&[&table], seconds(now_us.saturating_sub(at)).max(0.0));
    }
    out.push(last_load);
    out.push(freshness);

    out.extend(quality(db).await?);
    Ok(out)
}

/// Failed stage runs by their error kind, plus failed and timed-out task attempts.
async fn errors(db: &Db) -> Result<Family, Error> {
    let rows = db
        .query(
            "SELECT kind, COUNT(*) FROM (\
               SELECT COALESCE(error_kind, stage) AS kind FROM stage_runs WHERE status = 'failed' \
               UNION ALL \
               SELECT CASE WHEN state = 'timeout' THEN 'timeout' ELSE 'task' END AS kind \
               FROM task_attempts WHERE state IN ('failed', 'timeout')\
             ) e GROUP BY kind ORDER BY kind",
            &[],
        )
        .await?;
    labelled(catalog::PIPELINE_ERRORS, &rows, 1)
}

/// The quality families: latest score per table and suite, validations, expectations.
async fn quality(db: &Db) -> Result<Vec<Family>, Error> {
    let mut score = Family::new(catalog::DATA_QUALITY_SCORE);
    for q in history::latest_quality(db).await? {
        score.push(&[&q.table, &q.suite], q.score);
    }
    let totals = db
        .query(
            "SELECT data, suite, \
             SUM(CASE WHEN success = 1 THEN 1 ELSE 0 END), \
             SUM(CASE WHEN success = 1 THEN 0 ELSE 1 END), \
             CAST(SUM(evaluated) AS DOUBLE PRECISION), \
             CAST(SUM(evaluated - successful) AS DOUBLE PRECISION) \
             FROM quality_results GROUP BY data, suite ORDER BY data, suite",
            &[],
        )
        .await?;
    let mut validations = Family::new(catalog::QUALITY_VALIDATIONS);
    let mut evaluated = Family::new(catalog::EXPECTATIONS_EVALUATED);
    let mut failed = Family::new(catalog::EXPECTATIONS_FAILED);
    for r in &totals {
        let (table, suite) = (r.str(0)?, r.str(1)?);
        validations.push(&[table, suite, "success"], r.f64(2)?);
        validations.push(&[table, suite, "failure"], r.f64(3)?);
        evaluated.push(&[table, suite], r.f64(4)?);
        failed.push(&[table, suite], r.f64(5)?);
    }
    Ok(vec![score, validations, evaluated, failed])
}

/// A family from rows of `label_count` text labels followed by a number.
fn labelled(metric: Metric, rows: &[Row], label_count: usize) -> Result<Family, Error> {
    let mut f = Family::new(metric);
    for r in rows {
        let labels = (0..label_count)
            .map(|i| r.str(i))
            .collect::<Result<Vec<&str>, _>>()?;
        f.push(&labels, r.f64(label_count)?);
    }
    Ok(f)
}

/// A histogram family from `sql`, whose `{buckets}` is replaced by the per-bucket counts,
/// the count and the sum of `prefix.ended_at - prefix.started_at` (the first column is the
/// one label).
async fn histogram(db: &Db, metric: Metric, sql: &str, prefix: &str) -> Result<Family, Error> {
    let duration = format!("({prefix}ended_at - {prefix}started_at)");
    let mut columns: Vec<String> = DURATION_BUCKETS
        .iter()
        .map(|b| {
            let us = (b * 1e6) as i64;
            format!("SUM(CASE WHEN {duration} <= {us} THEN 1 ELSE 0 END)")
        })
        .collect();
    columns.push("COUNT(*)".to_string());
    columns.push(format!("CAST(SUM({duration}) AS DOUBLE PRECISION)"));
    let rows = db
        .query(&sql.replace("{buckets}", &columns.join(", ")), &[])
        .await?;
    let mut f = Family::new(metric);
    let n = DURATION_BUCKETS.len();
    for r in &rows {
        let buckets = (0..n)
            .map(|i| r.i64(1 + i).map(|v| v.max(0) as u64))
            .collect::<Result<Vec<u64>, _>>()?;
        f.samples.push(Sample::Histogram {
            labels: vec![r.str(0)?.to_string()],
            bounds: DURATION_BUCKETS,
            buckets,
            count: r.i64(1 + n)?.max(0) as u64,
            sum: r.opt_f64(2 + n)?.unwrap_or(0.0) / 1e6,
        });
    }
    Ok(f)
}

fn first_number(rows: &[Row]) -> Result<f64, Error> {
    match rows.first() {
        Some(r) => r.f64(0),
        None => Ok(0.0),
    }
}

fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}
