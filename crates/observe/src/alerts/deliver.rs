//! Sending alerts: pending notifications to a webhook in Alertmanager's webhook format (so
//! the receivers people already have accept it), and every firing plus newly resolved alert to
//! Alertmanager's v2 API, which groups, deduplicates, silences and routes them itself.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Notification, StoredAlert};

/// How long Alertmanager keeps a posted alert firing without hearing of it again: several
/// evaluations of the 15-minute monitoring DAG.
const FIRING_FOR: chrono::Duration = chrono::Duration::hours(1);

/// What was sent where.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivery {
    /// Notifications posted to the webhook.
    pub webhook: usize,
    /// Alerts posted to Alertmanager.
    pub alertmanager: usize,
}

/// Delivers to the configured targets. An error names the target that failed; nothing
/// should then be marked as notified, so the next evaluation sends it again.
pub async fn deliver(
    webhook: Option<&str>,
    alertmanager: Option<&str>,
    open: &[StoredAlert],
    pending: &[Notification],
    now: DateTime<Utc>,
) -> Result<Delivery, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut delivery = Delivery::default();
    if let Some(url) = webhook
        && !pending.is_empty()
    {
        post(&client, url, &webhook_payload(pending, now)).await?;
        delivery.webhook = pending.len();
    }
    if let Some(base) = alertmanager {
        let mut alerts: Vec<Value> = open.iter().map(|a| postable(a, now)).collect();
        alerts.extend(
            pending
                .iter()
                .filter(|n| n.reason == "resolved")
                .map(|n| postable(&n.alert, now)),
        );
        if !alerts.is_empty() {
            let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
            post(&client, &url, &Value::Array(alerts.clone())).await?;
            delivery.alertmanager = alerts.len();
        }
    }
    Ok(delivery)
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<(), String> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("posting alerts to {url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let text = response.text().await.unwrap_or_default();
        Err(format!(
            "posting alerts to {url}: HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        ))
    }
}

/// Labels as Alertmanager sees them: the alert's, plus `alertname` and `severity`.
fn labels(a: &StoredAlert) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), a.alert.name.clone().into());
    labels.insert("severity".into(), a.alert.severity.clone().into());
    for (k, v) in &a.alert.labels {
        labels.insert(k.clone(), v.clone().into());
    }
    Value::Object(labels)
}

/// An alert for `POST /api/v2/alerts`: firing ones end an hour from now unless posted again,
/// resolved ones carry the time they resolved.
fn postable(a: &StoredAlert, now: DateTime<Utc>) -> Value {
    let ends_at = a.ends_at.unwrap_or(now + FIRING_FOR);
    json!({
        "labels": labels(a),
        "annotations": a.alert.annotations,
        "startsAt": a.starts_at.to_rfc3339(),
        "endsAt": ends_at.to_rfc3339(),
        "generatorURL": "",
    })
}

/// Alertmanager's webhook body (version 4) for the pending notifications.
fn webhook_payload(pending: &[Notification], now: DateTime<Utc>) -> Value {
    let firing = pending.iter().any(|n| n.reason != "resolved");
    let alerts: Vec<Value> = pending
        .iter()
        .map(|n| {
            let a = &n.alert;
            json!({
                "status": if n.reason == "resolved" { "resolved" } else { "firing" },
                "labels": labels(a),
                "annotations": a.alert.annotations,
                "startsAt": a.starts_at.to_rfc3339(),
                "endsAt": a.ends_at.map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string()),
                "fingerprint": a.fingerprint,
                "generatorURL": "",
                "reason": n.reason,
                "value": a.alert.value,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": "dataflow",
        "receiver": "dataflow",
        "status": if firing { "firing" } else { "resolved" },
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "",
        "truncatedAlerts": 0,
        "sentAt": now.to_rfc3339(),
        "alerts": alerts,
    })
}
