//! Metric families and their text encodings: the Prometheus text format 0.0.4 (what
//! Prometheus asks for by default) and OpenMetrics 1.0 (when the scraper's `Accept` header
//! asks for `application/openmetrics-text`).

use crate::catalog::{Kind, Metric};

/// One series (or one histogram's set of series) of a family.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// A counter or gauge value.
    Value {
        /// Label values, in the order of the metric's label names.
        labels: Vec<String>,
        /// The value.
        value: f64,
    },
    /// A histogram.
    Histogram {
        /// Label values, in the order of the metric's label names.
        labels: Vec<String>,
        /// Upper bounds of the buckets (every sample of a family has the same):
        /// [`DURATION_BUCKETS`](crate::catalog::DURATION_BUCKETS) for the batch histograms.
        bounds: &'static [f64],
        /// Cumulative counts: observations `<=` each bound of `bounds`.
        buckets: Vec<u64>,
        /// All observations (the `+Inf` bucket).
        count: u64,
        /// Sum of the observations.
        sum: f64,
    },
}

/// A metric and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The definition.
    pub metric: Metric,
    /// The samples.
    pub samples: Vec<Sample>,
}

impl Family {
    /// A family with no samples yet.
    pub fn new(metric: Metric) -> Family {
        Family {
            metric,
            samples: Vec::new(),
        }
    }

    /// Adds a counter or gauge sample.
    pub fn push(&mut self, labels: &[&str], value: f64) {
        self.samples.push(Sample::Value {
            labels: labels.iter().map(|l| (*l).to_string()).collect(),
            value,
        });
    }
}

/// The exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format a scraper asks for in its `Accept` header.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Encodes families in `format`.
pub fn encode(families: &[Family], format: Format) -> String {
    let mut out = String::new();
    for family in families {
        let m = &family.metric;
        // OpenMetrics names a counter family without its `_total` suffix.
        let family_name = match (format, m.kind) {
            (Format::OpenMetrics, Kind::Counter) => m.name.trim_end_matches("_total"),
            _ => m.name,
        };
        out.push_str(&format!("# HELP {family_name} {}\n", escape_help(m.help)));
        out.push_str(&format!("# TYPE {family_name} {}\n", m.kind.as_str()));
        for sample in &family.samples {
            match sample {
                Sample::Value { labels, value } => {
                    line(&mut out, m.name, m.labels, labels, None, *value);
                }
                Sample::Histogram {
                    labels,
                    bounds,
                    buckets,
                    count,
                    sum,
                } => {
                    let bucket = format!("{}_bucket", m.name);
                    for (bound, n) in bounds.iter().zip(buckets) {
                        let le = number(*bound);
                        line(&mut out, &bucket, m.labels, labels, Some(&le), *n as f64);
                    }
                    line(
                        &mut out,
                        &bucket,
                        m.labels,
                        labels,
                        Some("+Inf"),
                        *count as f64,
                    );
                    line(
                        &mut out,
                        &format!("{}_sum", m.name),
                        m.labels,
                        labels,
                        None,
                        *sum,
                    );
                    let count_name = format!("{}_count", m.name);
                    line(&mut out, &count_name, m.labels, labels, None, *count as f64);
                }
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn line(out: &mut String, name: &str, names: &[&str], values: &[String], le: Option<&str>, v: f64) {
    out.push_str(name);
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape_label(v)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if !pairs.is_empty() {
        out.push('{');
        out.push_str(&pairs.join(","));
        out.push('}');
    }
    out.push(' ');
    out.push_str(&number(v));
    out.push('\n');
}

/// A number as both formats accept it: `+Inf`, `-Inf`, `NaN`, integers with `.0` (the
/// canonical form OpenMetrics wants for `le`), others as Rust prints them (shortest exact).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{DAG_RUNS, DURATION_BUCKETS, SCHEDULERS_ALIVE, STAGE_DURATION};

    fn families() -> Vec<Family> {
        let mut runs = Family::new(DAG_RUNS);
        runs.push(&["etl \"daily\"\n", "success"], 3.0);
        let mut alive = Family::new(SCHEDULERS_ALIVE);
        alive.push(&[], 1.0);
        let mut stage = Family::new(STAGE_DURATION);
        let mut buckets = vec![0; DURATION_BUCKETS.len()];
        buckets[4..].iter_mut().for_each(|b| *b = 2);
        stage.samples.push(Sample::Histogram {
            labels: vec!["ingest".to_string()],
            bounds: DURATION_BUCKETS,
            buckets,
            count: 2,
            sum: 1.5,
        });
        vec![runs, alive, stage]
    }

    #[test]
    fn text_format() {
        let text = encode(&families(), Format::Text);
        assert!(
            text.contains("# TYPE dataflow_dag_runs_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "dataflow_dag_runs_total{dag_id=\"etl \\\"daily\\\"\\n\",state=\"success\"} 3.0\n"
            ),
            "{text}"
        );
        assert!(text.contains("dataflow_schedulers_alive 1.0\n"), "{text}");
        assert!(
            text.contains(
                "dataflow_stage_duration_seconds_bucket{stage=\"ingest\",le=\"0.5\"} 0.0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "dataflow_stage_duration_seconds_bucket{stage=\"ingest\",le=\"1.0\"} 2.0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "dataflow_stage_duration_seconds_bucket{stage=\"ingest\",le=\"+Inf\"} 2.0\n"
            ),
            "{text}"
        );
        assert!(text.contains("dataflow_stage_duration_seconds_sum{stage=\"ingest\"} 1.5\n"));
        assert!(text.contains("dataflow_stage_duration_seconds_count{stage=\"ingest\"} 2.0\n"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let text = encode(&families(), Format::OpenMetrics);
        assert!(
            text.contains("# TYPE dataflow_dag_runs counter\n"),
            "{text}"
        );
        assert!(text.contains("# HELP dataflow_dag_runs "), "{text}");
        assert!(text.contains("\ndataflow_dag_runs_total{"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn negotiation_and_numbers() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1_700_000_000.0), "1700000000.0");
        assert_eq!(number(1.5e20), "150000000000000000000");
    }
}
