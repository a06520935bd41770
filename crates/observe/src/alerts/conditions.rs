//! The alert conditions, computed from the metadata store at one instant. Each mirrors a rule
//! of `deploy/prometheus/rules/dataflow.rules.yml` with the same name, labels and severity;
//! the Prometheus-only ones (scrape target down, no scheduler heartbeat, stream lag) need a
//! watcher outside the process that would raise them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dataflow_orchestrator::duration::format_duration;
use dataflow_orchestrator::store::Store;

use super::{Alert, Thresholds};
use crate::collect::Error;
use crate::history;

/// The window of `ProcessingLatency`, as in the Prometheus rule.
const LATENCY_WINDOW_SECS: i64 = 30 * 60;

/// The window of `SlaMissed`, as in the Prometheus rule.
const SLA_WINDOW_SECS: i64 = 60 * 60;

/// Every alert that holds at `now`, in a stable order.
pub async fn evaluate(
    store: &Store,
    now: DateTime<Utc>,
    t: &Thresholds,
) -> Result<Vec<Alert>, Error> {
    let db = &store.db;
    let now_us = now.timestamp_micros();
    let mut out = Vec::new();

    let window_us = i64::try_from(t.failure_rate_window.as_micros()).unwrap_or(i64::MAX);
    let runs = db
        .query(
            "SELECT dag_id, SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), COUNT(*) \
             FROM dag_runs WHERE state IN ('success', 'failed') AND ended_at >= $1 \
             GROUP BY dag_id ORDER BY dag_id",
            &[now_us.saturating_sub(window_us).into()],
        )
        .await?;
    for r in &runs {
        let (dag, failed, total) = (r.str(0)?, r.f64(1)?, r.f64(2)?);
        let rate = failed / total;
        if total > 0.0 && rate > t.failure_rate_max {
            out.push(alert(
                "PipelineFailureRate",
                "critical",
                &[("dag_id", dag)],
                format!("High failure rate of DAG {dag}"),
                format!(
                    "{:.0}% of the runs of {dag} failed over the last {} ({failed} of {total}).",
                    rate * 100.0,
                    format_duration(t.failure_rate_window)
                ),
                rate,
            ));
        }
    }

    let stages = db
        .query(
            "SELECT stage, ended_at - started_at FROM stage_runs WHERE ended_at >= $1 \
             ORDER BY stage",
            &[now_us
                .saturating_sub(LATENCY_WINDOW_SECS * 1_000_000)
                .into()],
        )
        .await?;
    let mut durations: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &stages {
        durations
            .entry(r.str(0)?.to_string())
            .or_default()
            .push(r.f64(1)? / 1e6);
    }
    for (stage, mut values) in durations {
        let p95 = percentile(&mut values, 0.95);
        if p95 > t.latency_p95_max.as_secs_f64() {
            out.push(alert(
                "ProcessingLatency",
                "warning",
                &[("stage", &stage)],
                format!("Slow {stage} stage"),
                format!(
                    "The 95th percentile of {stage} stage runs in the last 30 minutes takes {p95:.0}s (threshold: {}).",
                    format_duration(t.latency_p95_max)
                ),
                p95,
            ));
        }
    }

    let sla = db
        .query(
            "SELECT dag_id, COUNT(*) FROM sla_misses WHERE detected_at >= $1 \
             GROUP BY dag_id ORDER BY dag_id",
            &[now_us.saturating_sub(SLA_WINDOW_SECS * 1_000_000).into()],
        )
        .await?;
    for r in &sla {
        let (dag, n) = (r.str(0)?, r.f64(1)?);
        out.push(alert(
            "SlaMissed",
            "warning",
            &[("dag_id", dag)],
            format!("SLA missed in DAG {dag}"),
            format!("{n} task instances of {dag} missed their SLA in the last hour."),
            n,
        ));
    }

    for q in history::latest_quality(db).await? {
        if q.score < t.quality_score_min {
            out.push(alert(
                "DataQualityDegradation",
                "warning",
                &[("suite", &q.suite), ("table", &q.table)],
                format!("Data quality of {} below threshold", q.table),
                format!(
                    "The latest data quality score of {} ({}) is {:.2} (threshold: {:.2}).",
                    q.table, q.suite, q.score, t.quality_score_min
                ),
                q.score,
            ));
        }
    }

    for (table, at) in history::last_loads(db).await? {
        let age = (now_us.saturating_sub(at)) as f64 / 1e6;
        if t.stale_tables.matches(&table) && age > t.freshness_max.as_secs_f64() {
            out.push(alert(
                "DataStale",
                "warning",
                &[("table", &table)],
                format!("{table} is stale"),
                format!(
                    "{table} was last loaded {} ago (threshold: {}).",
                    format_duration(std::time::Duration::from_secs(age as u64)),
                    format_duration(t.freshness_max)
                ),
                age,
            ));
        }
    }

    if let Some(used) = memory_used()
        && used > t.memory_used_max
    {
        out.push(alert(
            "HighMemoryUsage",
            "warning",
            &[],
            "High memory usage".to_string(),
            format!("Memory usage is {:.0}%.", used * 100.0),
            used,
        ));
    }
    Ok(out)
}

fn alert(
    name: &str,
    severity: &str,
    labels: &[(&str, &str)],
    summary: String,
    description: String,
    value: f64,
) -> Alert {
    Alert {
        name: name.to_string(),
        severity: severity.to_string(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        annotations: BTreeMap::from([
            ("description".to_string(), description),
            ("summary".to_string(), summary),
        ]),
        value,
    }
}

/// The `q` quantile of `values` by linear interpolation (numpy's default).
fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = q * (values.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    values[low] + (values[high] - values[low]) * (rank - low as f64)
}

/// The share of the machine's memory in use.
fn memory_used() -> Option<f64> {
    let (total, available) = crate::process::host_memory()?;
    (total > 0.0).then(|| (total - available) / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        assert_eq!(percentile(&mut [], 0.95), 0.0);
        assert_eq!(percentile(&mut [4.0], 0.95), 4.0);
        assert!((percentile(&mut [1.0, 2.0, 3.0, 4.0, 100.0], 0.95) - 80.8).abs() < 1e-9);
        assert_eq!(percentile(&mut [3.0, 1.0, 2.0], 0.5), 2.0);
    }
}
