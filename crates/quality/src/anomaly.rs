//! Anomaly detection on metric history, Deequ-style: each validation yields metrics (row
//! count, and every number an expectation observed: means, unexpected percentages, distinct
//! counts...), and a metric is anomalous when it is far from its recent history — more than
//! `z_threshold` standard deviations from the mean of the last `window` runs, or changed by more
//! than `max_relative_change` since the previous run. With fewer than `min_history` earlier runs
//! it says so instead of passing silently.

use serde::Deserialize;
use serde_json::Value;

/// What to do when a metric is anomalous.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnAnomaly {
    /// Report it.
    #[default]
    Warn,
    /// Fail the checkpoint.
    Fail,
}

/// A checkpoint's `anomaly_detection:` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Earlier runs compared against.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Runs needed before anything is judged.
    #[serde(default = "default_min_history")]
    pub min_history: usize,
    /// Standard deviations from the recent mean that count as anomalous.
    #[serde(default = "default_z")]
    pub z_threshold: f64,
    /// Relative change since the previous run that counts as anomalous (0.5 = 50%).
    #[serde(default = "default_change")]
    pub max_relative_change: f64,
    /// Only these metrics (default: all).
    #[serde(default)]
    pub metrics: Vec<String>,
    /// What an anomaly does.
    #[serde(default)]
    pub on_anomaly: OnAnomaly,
}

fn default_window() -> usize {
    10
}
fn default_min_history() -> usize {
    5
}
fn default_z() -> f64 {
    3.0
}
fn default_change() -> f64 {
    0.5
}

/// The metrics of one validation result: `row_count`, then `<expectation>(<column>)` for each
/// numeric observed value and `<expectation>(<column>).unexpected_percent` for map ones.
pub fn metrics(result: &Value) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut rows = None;
    for item in result["results"].as_array().into_iter().flatten() {
        let config = &item["expectation_config"];
        let kind = config["type"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("expect_");
        let kwargs = &config["kwargs"];
        let target = kwargs["column"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                kwargs["column_A"]
                    .as_str()
                    .map(|a| format!("{a},{}", kwargs["column_B"].as_str().unwrap_or_default()))
            })
            .unwrap_or_default();
        let name = format!("{kind}({target})");
        let result = &item["result"];
        // A row-count expectation observes the row count itself: that metric is `row_count`.
        if let Some(value) = result["observed_value"].as_f64()
            && !kind.starts_with("table_row_count")
        {
            out.push((name.clone(), value));
        }
        if let Some(value) = result["unexpected_percent"].as_f64() {
            out.push((format!("{name}.unexpected_percent"), value));
        }
        if rows.is_none() {
            rows = result["element_count"].as_f64().or_else(|| {
                kind.starts_with("table_row_count")
                    .then(|| result["observed_value"].as_f64())
                    .flatten()
            });
        }
    }
    if let Some(rows) = rows {
        out.insert(0, ("row_count".to_string(), rows));
    }
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// The verdict on one metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Within its history.
    Normal,
    /// Too few earlier runs to judge.
    InsufficientHistory {
        /// Earlier runs found.
        have: usize,
        /// Runs needed.
        need: usize,
    },
    /// Outside its history.
    Anomalous(String),
}

/// Judges `value` against `history` (oldest first).
pub fn judge(config: &AnomalyConfig, value: f64, history: &[f64]) -> Verdict {
    let recent: Vec<f64> = history
        .iter()
        .rev()
        .take(config.window)
        .rev()
        .copied()
        .collect();
    if recent.len() < config.min_history {
        return Verdict::InsufficientHistory {
            have: recent.len(),
            need: config.min_history,
        };
    }
    let n = recent.len() as f64;
    let mean = recent.iter().sum::<f64>() / n;
    let variance = recent.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let stdev = variance.sqrt();
    let mut reasons = Vec::new();
    if stdev > 0.0 {
        let z = (value - mean) / stdev;
        if z.abs() > config.z_threshold {
            reasons.push(format!(
                "{value} is {z:.1} standard deviations from the mean {mean:.4} of the last {} runs",
                recent.len()
            ));
        }
    } else if value != mean {
        reasons.push(format!(
            "{value} differs from the constant {mean} of the last {} runs",
            recent.len()
        ));
    }
    if let Some(&previous) = recent.last()
        && previous != 0.0
    {
        let change = (value - previous) / previous.abs();
        if change.abs() > config.max_relative_change {
            reasons.push(format!(
                "changed {:+.1}% since the previous run ({previous})",
                change * 100.0
            ));
        }
    }
    if reasons.is_empty() {
        Verdict::Normal
    } else {
        Verdict::Anomalous(reasons.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AnomalyConfig {
        serde_yaml_ng::from_str("{}").expect("defaults")
    }

    #[test]
    fn too_little_history_is_said_not_passed() {
        assert_eq!(
            judge(&config(), 10.0, &[10.0, 11.0]),
            Verdict::InsufficientHistory { have: 2, need: 5 }
        );
    }

    #[test]
    fn steady_values_pass_and_jumps_are_flagged() {
        let history = [1000.0, 1010.0, 990.0, 1005.0, 995.0, 1002.0];
        assert_eq!(judge(&config(), 1001.0, &history), Verdict::Normal);
        let Verdict::Anomalous(why) = judge(&config(), 400.0, &history) else {
            panic!("a 60% drop is anomalous");
        };
        assert!(
            why.contains("standard deviations") && why.contains("-60.1%"),
            "{why}"
        );
    }

    #[test]
    fn metrics_come_from_the_result() {
        let result = serde_json::json!({"results": [
            {"expectation_config": {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
             "result": {"element_count": 40, "unexpected_count": 3, "unexpected_percent": 7.5}},
            {"expectation_config": {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "amount"}},
             "result": {"observed_value": 12.5}}
        ]});
        assert_eq!(
            metrics(&result),
            vec![
                ("row_count".to_string(), 40.0),
                (
                    "column_values_to_not_be_null(id).unexpected_percent".to_string(),
                    7.5
                ),
                ("column_mean_to_be_between(amount)".to_string(), 12.5),
            ]
        );
    }
}
