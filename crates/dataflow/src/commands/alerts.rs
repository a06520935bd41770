//! `dataflow alerts evaluate|list`: the alert conditions evaluated from the metadata store
//! (what the monitoring DAG's `generate_alerts` task runs), delivered to the webhook and
//! Alertmanager configured under `alerts:` in dataflow.yml.

use std::time::Duration;

use chrono::Utc;
use dataflow_core::config::Project;
use dataflow_observe::alerts::{self, StoredAlert, Thresholds};
use dataflow_orchestrator::store::Store;

/// Evaluates, records, delivers. Firing alerts are not a failure; a delivery that fails is
/// (exit 1, so the task retries), and what it should have sent stays pending for next time.
pub async fn evaluate(project: &Project) -> anyhow::Result<()> {
    let config = &project.config.alerts;
    let thresholds = Thresholds::from_config(config).map_err(|message| {
        dataflow_core::Error::Usage(format!("{}: {message}", project.file.display()))
    })?;
    let store = Store::open(&super::orchestrator::metadata_url(project)).await?;
    let now = Utc::now();
    let found = alerts::evaluate(&store, now, &thresholds).await?;
    let (open, pending) =
        alerts::reconcile(&store, &found, now, thresholds.repeat_interval).await?;
    print_alerts(&open);
    let count = |reason: &str| pending.iter().filter(|n| n.reason == reason).count();
    println!(
        "{} firing: {} new, {} repeated, {} resolved",
        open.len(),
        count("new"),
        count("repeat"),
        count("resolved")
    );
    let delivery = alerts::deliver(
        config.webhook.as_deref(),
        config.alertmanager.as_deref(),
        &open,
        &pending,
        now,
    )
    .await
    .map_err(|message| anyhow::anyhow!(crate::exit::JobFailed(message)))?;
    alerts::mark_notified(&store, &pending, now).await?;
    if config.webhook.is_some() {
        println!("webhook: {} notifications sent", delivery.webhook);
    }
    if config.alertmanager.is_some() {
        println!("alertmanager: {} alerts posted", delivery.alertmanager);
    }
    if config.webhook.is_none() && config.alertmanager.is_none() {
        println!("no alerts.webhook or alerts.alertmanager in dataflow.yml: nothing delivered");
    }
    Ok(())
}

/// Lists firing alerts and those resolved in the last day.
pub async fn list(project: &Project) -> anyhow::Result<()> {
    let store = Store::open(&super::orchestrator::metadata_url(project)).await?;
    let alerts = alerts::open_alerts(&store, Utc::now(), Duration::from_secs(24 * 3600)).await?;
    if alerts.is_empty() {
        println!("no alerts firing or resolved in the last day");
    } else {
        print_alerts(&alerts);
    }
    Ok(())
}

/// A table of alerts: name, severity, labels, status, since, description.
pub fn print_alerts(alerts: &[StoredAlert]) {
    if alerts.is_empty() {
        return;
    }
    let mut table = comfy_table::Table::new();
    table.set_header([
        "alert",
        "severity",
        "labels",
        "status",
        "since",
        "description",
    ]);
    for a in alerts {
        let labels: Vec<String> = a
            .alert
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        table.add_row([
            a.alert.name.clone(),
            a.alert.severity.clone(),
            labels.join(" "),
            a.status.clone(),
            a.ends_at
                .unwrap_or(a.starts_at)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            a.alert
                .annotations
                .get("description")
                .cloned()
                .unwrap_or_default(),
        ]);
    }
    println!("{table}");
}
