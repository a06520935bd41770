//! `dataflow status`: one screen from the metadata store for operators without Grafana —
//! schedulers, the latest run of every DAG, failing quality checks, stale tables and open
//! alerts.

use chrono::{DateTime, Utc};
use dataflow_core::config::Project;
use dataflow_observe::alerts::{self, Thresholds};
use dataflow_observe::history;
use dataflow_orchestrator::duration::format_duration;
use dataflow_orchestrator::store::Store;

/// Prints the summary.
pub async fn run(project: &Project) -> anyhow::Result<()> {
    let thresholds = Thresholds::from_config(&project.config.alerts).map_err(|message| {
        dataflow_core::Error::Usage(format!("{}: {message}", project.file.display()))
    })?;
    let store = Store::open(&super::orchestrator::metadata_url(project)).await?;
    let db = &store.db;
    let now = Utc::now();
    let timeout_us =
        i64::try_from(project.config.orchestrator.scheduler_timeout_secs).unwrap_or(15) * 1_000_000;
    let alive = db
        .query(
            "SELECT COUNT(*) FROM schedulers WHERE stopped_at IS NULL AND heartbeat_at >= $1",
            &[(now.timestamp_micros() - timeout_us).into()],
        )
        .await?
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0);
    println!(
        "dataflow status: {} (metadata store {}), {} scheduler(s) running",
        project.config.name,
        db.target(),
        alive
    );

    println!("\nDAGs (latest run):");
    let runs = db
        .query(
            "SELECT r.dag_id, r.run_id, r.state, r.started_at, r.ended_at, \
             COALESCE(d.is_paused, 0) FROM dag_runs r \
             JOIN (SELECT dag_id, MAX(id) AS id FROM dag_runs GROUP BY dag_id) l ON r.id = l.id \
             LEFT JOIN dags d ON d.dag_id = r.dag_id ORDER BY r.dag_id",
            &[],
        )
        .await?;
    if runs.is_empty() {
        println!("  no runs yet (dataflow dags trigger DAG_ID, or dataflow scheduler)");
    }
    for r in &runs {
        let when = r
            .opt_i64(4)?
            .or(r.opt_i64(3)?)
            .map(|us| ago(now, us))
            .unwrap_or_else(|| "not started".to_string());
        println!(
            "  {:<32} {:<8} {:<30} {when}{}",
            r.str(0)?,
            r.str(2)?,
            r.str(1)?,
            if r.bool(5)? { "  (paused)" } else { "" }
        );
    }

    let quality = history::latest_quality(db).await?;
    let failing: Vec<_> = quality
        .iter()
        .filter(|q| !q.success || q.score < thresholds.quality_score_min)
        .collect();
    println!(
        "\nQuality checks: {} suites, {} failing",
        quality.len(),
        failing.len()
    );
    for q in failing {
        println!(
            "  {:<28} {:<28} {}/{} expectations passed, score {:.3}, {}",
            q.table,
            q.suite,
            q.successful,
            q.evaluated,
            q.score,
            ago(now, q.validated_at)
        );
    }

    let loads = history::last_loads(db).await?;
    let max_age = thresholds.freshness_max.as_secs_f64();
    let stale: Vec<_> = loads
        .iter()
        .filter(|(table, at)| {
            thresholds.stale_tables.matches(table)
                && (now.timestamp_micros() - at) as f64 / 1e6 > max_age
        })
        .collect();
    println!(
        "\nFreshness: {} tables loaded, {} stale (`{}` older than {})",
        loads.len(),
        stale.len(),
        thresholds.stale_tables,
        format_duration(thresholds.freshness_max)
    );
    for (table, at) in stale {
        println!("  {table:<32} last loaded {}", ago(now, *at));
    }

    let open: Vec<_> = alerts::open_alerts(&store, now, std::time::Duration::ZERO)
        .await?
        .into_iter()
        .filter(|a| a.status == "firing")
        .collect();
    println!("\nOpen alerts: {}", open.len());
    super::alerts::print_alerts(&open);
    Ok(())
}

/// `3m 20s ago`.
fn ago(now: DateTime<Utc>, us: i64) -> String {
    let seconds = (now.timestamp_micros() - us).max(0) / 1_000_000;
    format!(
        "{} ago",
        format_duration(std::time::Duration::from_secs(seconds as u64))
    )
}
