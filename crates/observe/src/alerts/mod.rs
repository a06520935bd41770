//! Alerts evaluated from the metadata store, for deployments without Prometheus (and for the
//! monitoring DAG's `generate_alerts` task): the conditions of `deploy/prometheus/rules`
//! computed from run, stage and quality history (`conditions`), remembered across
//! evaluations so each alert is sent once, repeated after a quiet period and resolved once
//! (`state`), and delivered to a webhook and to Prometheus Alertmanager's v2 API
//! (`deliver`).

mod conditions;
mod deliver;
mod state;

use std::collections::BTreeMap;
use std::time::Duration;

use dataflow_core::config::AlertsConfig;
use dataflow_orchestrator::duration::parse_duration;
use serde::Serialize;

pub use conditions::evaluate;
pub use deliver::{Delivery, deliver};
pub use state::{Notification, StoredAlert, mark_notified, open_alerts, reconcile};

/// One alert instance: a condition that holds for one label set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The rule's name, as in `deploy/prometheus/rules` (`DataQualityDegradation`, ...).
    pub name: String,
    /// `critical` or `warning`.
    pub severity: String,
    /// What the alert is about (`dag_id`, `table`, `suite`, `stage`).
    pub labels: BTreeMap<String, String>,
    /// `summary` and `description`.
    pub annotations: BTreeMap<String, String>,
    /// The measured value that crossed the threshold.
    pub value: f64,
}

impl Alert {
    /// The identity of the alert across evaluations: its name and sorted labels.
    pub fn fingerprint(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// The thresholds of `alerts:` in dataflow.yml, durations parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// `DataQualityDegradation` below this score.
    pub quality_score_min: f64,
    /// `PipelineFailureRate` above this share of failed runs...
    pub failure_rate_max: f64,
    /// ... in this window.
    pub failure_rate_window: Duration,
    /// `DataStale` after this long without a load...
    pub freshness_max: Duration,
    /// ... of tables matching this glob.
    pub stale_tables: glob::Pattern,
    /// `ProcessingLatency` above this p95.
    pub latency_p95_max: Duration,
    /// `HighMemoryUsage` above this share of memory in use.
    pub memory_used_max: f64,
    /// How long before a still-firing alert is sent again.
    pub repeat_interval: Duration,
}

impl Thresholds {
    /// Parses the configuration; errors name the key under `alerts:`.
    pub fn from_config(config: &AlertsConfig) -> Result<Thresholds, String> {
        let duration =
            |key: &str, text: &str| parse_duration(text).map_err(|e| format!("alerts.{key}: {e}"));
        let share = |key: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(format!("alerts.{key}: {v} is not between 0 and 1"))
            }
        };
        Ok(Thresholds {
            quality_score_min: share("quality_score_min", config.quality_score_min)?,
            failure_rate_max: share("failure_rate_max", config.failure_rate_max)?,
            failure_rate_window: duration("failure_rate_window", &config.failure_rate_window)?,
            freshness_max: duration("freshness_max", &config.freshness_max)?,
            stale_tables: glob::Pattern::new(&config.stale_tables)
                .map_err(|e| format!("alerts.stale_tables: `{}`: {e}", config.stale_tables))?,
            latency_p95_max: duration("latency_p95_max", &config.latency_p95_max)?,
            memory_used_max: share("memory_used_max", config.memory_used_max)?,
            repeat_interval: duration("repeat_interval", &config.repeat_interval)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_errors_name_the_key() {
        let t = Thresholds::from_config(&AlertsConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.freshness_max, Duration::from_secs(7200));
        assert_eq!(t.repeat_interval, Duration::from_secs(4 * 3600));
        assert!(t.stale_tables.matches("raw_orders"));
        let bad = AlertsConfig {
            freshness_max: "2 hours".to_string(),
            ..AlertsConfig::default()
        };
        let err = Thresholds::from_config(&bad).err().unwrap_or_default();
        assert!(err.starts_with("alerts.freshness_max: "), "{err}");
        let bad = AlertsConfig {
            quality_score_min: 80.0,
            ..AlertsConfig::default()
        };
        let err = Thresholds::from_config(&bad).err().unwrap_or_default();
        assert!(err.contains("alerts.quality_score_min: 80"), "{err}");
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let alert = |table: &str| Alert {
            name: "DataStale".to_string(),
            severity: "warning".to_string(),
            labels: BTreeMap::from([("table".to_string(), table.to_string())]),
            annotations: BTreeMap::new(),
            value: 1.0,
        };
        assert_eq!(alert("raw_a").fingerprint(), "DataStale{table=\"raw_a\"}");
        assert_ne!(alert("raw_a").fingerprint(), alert("raw_b").fingerprint());
    }
}
