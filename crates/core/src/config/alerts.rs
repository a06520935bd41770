//! The `alerts:` section of `dataflow.yml`: where `dataflow alerts evaluate` delivers alerts
//! (a webhook, Prometheus Alertmanager) and the thresholds of the conditions it evaluates
//! from the metadata store — the same conditions as `deploy/prometheus/rules`.

use serde::{Deserialize, Serialize};

/// Alert delivery and thresholds. Durations are texts like `90s`, `15m`, `2h`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// A URL receiving Alertmanager-style webhook JSON: new, repeated and resolved alerts.
    #[serde(default)]
    pub webhook: Option<String>,
    /// The base URL of a Prometheus Alertmanager (`http://host:9093`); every evaluation
    /// posts the firing and newly resolved alerts to its v2 API.
    #[serde(default)]
    pub alertmanager: Option<String>,
    /// How long before a still-firing alert is sent to the webhook again.
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval: String,
    /// `DataQualityDegradation` below this latest data quality score (0-1).
    #[serde(default = "default_quality_score_min")]
    pub quality_score_min: f64,
    /// `PipelineFailureRate` above this share of failed DAG runs in `failure_rate_window`.
    #[serde(default = "default_failure_rate_max")]
    pub failure_rate_max: f64,
    /// The window of `PipelineFailureRate`.
    #[serde(default = "default_failure_rate_window")]
    pub failure_rate_window: String,
    /// `DataStale` when a table matching `stale_tables` was last loaded longer ago than this.
    #[serde(default = "default_freshness_max")]
    pub freshness_max: String,
    /// Which tables `DataStale` watches: a glob on the table name.
    #[serde(default = "default_stale_tables")]
    pub stale_tables: String,
    /// `ProcessingLatency` when a stage's 95th percentile over the last 30 minutes exceeds this.
    #[serde(default = "default_latency_p95_max")]
    pub latency_p95_max: String,
    /// `HighMemoryUsage` above this share of the machine's memory in use.
    #[serde(default = "default_memory_used_max")]
    pub memory_used_max: f64,
}

fn default_repeat_interval() -> String {
    "4h".to_string()
}

fn default_quality_score_min() -> f64 {
    0.8
}

fn default_failure_rate_max() -> f64 {
    0.1
}

fn default_failure_rate_window() -> String {
    "2h".to_string()
}

fn default_freshness_max() -> String {
    "2h".to_string()
}

fn default_stale_tables() -> String {
    "raw_*".to_string()
}

fn default_latency_p95_max() -> String {
    "5m".to_string()
}

fn default_memory_used_max() -> f64 {
    0.9
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook: None,
            alertmanager: None,
            repeat_interval: default_repeat_interval(),
            quality_score_min: default_quality_score_min(),
            failure_rate_max: default_failure_rate_max(),
            failure_rate_window: default_failure_rate_window(),
            freshness_max: default_freshness_max(),
            stale_tables: default_stale_tables(),
            latency_p95_max: default_latency_p95_max(),
            memory_used_max: default_memory_used_max(),
        }
    }
}
