//! DAG notifications: JSON posted to the DAG's webhooks when a task fails or is retried, misses
//! its SLA, or a run ends. The body has a human-readable `text` (what Slack and most chat
//! webhooks show) and the fields a machine needs. A webhook that fails is logged, never fatal.

use std::time::Duration;

use serde_json::{Value, json};

use crate::spec::{Dag, NotifyEvent};

/// Posts the event to every webhook of the DAG that wants it, each with a 10-second timeout.
pub async fn notify(http: &reqwest::Client, dag: &Dag, event: NotifyEvent, mut body: Value) {
    let targets: Vec<&str> = dag
        .notifications
        .iter()
        .filter(|n| n.wants(event))
        .map(|n| n.url.as_str())
        .collect();
    if targets.is_empty() {
        return;
    }
    if let Value::Object(map) = &mut body {
        map.insert("event".into(), json!(event.as_str()));
        map.insert("dag_id".into(), json!(dag.dag_id));
        let text = text_of(event, map);
        map.insert("text".into(), json!(text));
    }
    for url in targets {
        let sent = http
            .post(url)
            .timeout(Duration::from_secs(10))
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                tracing::debug!(url, event = event.as_str(), "notification sent");
            }
            Ok(resp) => {
                tracing::warn!(url, event = event.as_str(), status = %resp.status(), "notification webhook refused the message");
            }
            Err(e) => {
                tracing::warn!(url, event = event.as_str(), error = %e, "notification webhook unreachable");
            }
        }
    }
}

fn text_of(event: NotifyEvent, map: &serde_json::Map<String, Value>) -> String {
    let get = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("");
    let dag = get("dag_id");
    let run = get("run_id");
    let task = get("task_id");
    match event {
        NotifyEvent::Failure => format!("❌ {dag} {run}: task {task} failed: {}", get("error")),
        NotifyEvent::Retry => format!(
            "🔁 {dag} {run}: task {task} failed and will retry at {}: {}",
            get("retry_at"),
            get("error")
        ),
        NotifyEvent::SlaMiss => format!(
            "⏰ {dag} {run}: task {task} missed its SLA (deadline {})",
            get("deadline")
        ),
        NotifyEvent::RunFailure => format!("❌ {dag} run {run} failed"),
        NotifyEvent::RunSuccess => format!("✅ {dag} run {run} succeeded"),
    }
}
