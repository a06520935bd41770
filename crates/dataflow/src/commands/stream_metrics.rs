//! The `/metrics` endpoint of `dataflow stream`: the stream's in-memory counters
//! ([`dataflow_stream::metrics`]) as the Prometheus families of the observability catalog.

use std::sync::Arc;

use anyhow::Context;
use dataflow_observe::catalog::{self, Metric};
use dataflow_observe::endpoint::{self, FamilySource};
use dataflow_observe::{Family, Sample};
use dataflow_stream::metrics::{Histogram, LATENCY_BUCKETS, RULES, Snapshot, StreamMetrics};

/// What can fail in a stream session and be retried (`Error::component` of the retryable
/// errors, and `consumer` for errors the consumer reports while polling).
const RETRYABLE_COMPONENTS: &[&str] = &["consumer", "io", "kafka", "lake", "ownership", "postgres"];

/// A running endpoint; dropping it stops the listener.
pub struct MetricsEndpoint {
    /// Where it listens.
    pub address: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `listen` and serves `metrics` of stream `name` until the endpoint is dropped.
pub async fn start(
    listen: &str,
    name: &str,
    metrics: StreamMetrics,
    source_of_listen: &str,
) -> anyhow::Result<MetricsEndpoint> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!(
                "cannot serve the stream's metrics on {listen} ({source_of_listen}; another \
                 process of the group on this machine needs its own port, or --no-metrics)"
            )
        })?;
    let address = listener
        .local_addr()
        .context("reading the listener's address")?;
    let stream = name.to_string();
    let source: FamilySource = Arc::new(move || families(&stream, &metrics.snapshot()));
    let router = endpoint::router(
        &format!("dataflow stream {name}"),
        env!("CARGO_PKG_VERSION"),
        source,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = endpoint::serve(listener, router, async move {
            let _ = stopped.await;
        })
        .await;
        if let Err(err) = served {
            tracing::warn!(error = %err, "the stream's metrics endpoint stopped");
        }
    });
    Ok(MetricsEndpoint {
        address,
        stop: Some(stop),
    })
}

/// The families of one snapshot of stream `stream`.
pub fn families(stream: &str, s: &Snapshot) -> Vec<Family> {
    let per_topic =
        |metric: Metric, value: &dyn Fn(&dataflow_stream::metrics::TopicCounts) -> u64| {
            let mut f = Family::new(metric);
            for (topic, counts) in &s.topics {
                f.push(&[stream, topic], value(counts) as f64);
            }
            f
        };
    let mut out = vec![
        per_topic(catalog::STREAM_EVENTS, &|c| c.events),
        per_topic(catalog::STREAM_DEAD_LETTERS, &|c| c.dead_letters),
        per_topic(catalog::STREAM_HIGH_VALUE, &|c| c.high_value),
    ];
    let mut anomalies = Family::new(catalog::STREAM_ANOMALIES);
    for (topic, counts) in &s.topics {
        for (rule, n) in RULES
            .iter()
            .zip([counts.fixed_anomalies, counts.statistical_anomalies])
        {
            anomalies.push(&[stream, topic, rule], n as f64);
        }
    }
    out.push(anomalies);
    out.push(per_topic(catalog::STREAM_LATE_EVENTS, &|c| c.late));
    out.push(per_topic(catalog::STREAM_REPLAYED, &|c| c.replayed));
    let mut batches = Family::new(catalog::STREAM_BATCHES);
    batches.push(&[stream], s.batches as f64);
    out.push(batches);
    // The components that can fail and be retried start at 0, so the first failure is an
    // increase Prometheus sees, not a new series.
    let mut failures = Family::new(catalog::STREAM_FAILURES);
    let mut components: std::collections::BTreeMap<&str, u64> =
        RETRYABLE_COMPONENTS.iter().map(|c| (*c, 0)).collect();
    for (component, n) in &s.failures {
        components.insert(component, *n);
    }
    for (component, n) in components {
        failures.push(&[stream, component], n as f64);
    }
    out.push(failures);
    let mut alerts = Family::new(catalog::STREAM_ALERTS);
    for outcome in ["sent", "suppressed", "failed"] {
        let n = s.alerts.get(outcome).copied().unwrap_or(0);
        alerts.push(&[stream, outcome], n as f64);
    }
    out.push(alerts);
    let mut lag = Family::new(catalog::STREAM_CONSUMER_LAG);
    for ((topic, partition), n) in &s.lag {
        lag.push(&[stream, topic, &partition.to_string()], *n as f64);
    }
    out.push(lag);
    let mut assigned = Family::new(catalog::STREAM_ASSIGNED_PARTITIONS);
    assigned.push(&[stream], s.assigned_partitions as f64);
    out.push(assigned);
    out.push(histogram(catalog::STREAM_LATENCY, stream, &s.latency));
    out.push(histogram(
        catalog::STREAM_BATCH_DURATION,
        stream,
        &s.batch_duration,
    ));
    if let Some(unix) = s.last_commit_unix {
        let mut last = Family::new(catalog::STREAM_LAST_COMMIT);
        last.push(&[stream], unix);
        out.push(last);
    }
    out
}

fn histogram(metric: Metric, stream: &str, h: &Histogram) -> Family {
    let mut f = Family::new(metric);
    f.samples.push(Sample::Histogram {
        labels: vec![stream.to_string()],
        bounds: LATENCY_BUCKETS,
        buckets: h.buckets.clone(),
        count: h.count,
        sum: h.sum,
    });
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataflow_stream::metrics::{BatchRecord, TopicCounts};

    #[test]
    fn a_snapshot_becomes_every_stream_family() {
        let metrics = StreamMetrics::new();
        metrics.declare_topics(&["transaction_events", "customer_events"]);
        let mut record = BatchRecord::default();
        record.topics.insert(
            "transaction_events".into(),
            TopicCounts {
                events: 10,
                dead_letters: 2,
                statistical_anomalies: 1,
                ..TopicCounts::default()
            },
        );
        record.latencies = vec![0.2];
        metrics.record_batch(&record);
        metrics.record_commit(0.1, 1.7e9);
        let mut lag = std::collections::BTreeMap::new();
        lag.insert(("transaction_events".to_string(), 3), 42);
        metrics.set_lag(lag);
        let text = dataflow_observe::encode(
            &families("orders", &metrics.snapshot()),
            dataflow_observe::Format::Text,
        );
        for line in [
            "dataflow_stream_events_total{stream=\"orders\",topic=\"transaction_events\"} 10.0",
            "dataflow_stream_events_total{stream=\"orders\",topic=\"customer_events\"} 0.0",
            "dataflow_stream_dead_letters_total{stream=\"orders\",topic=\"transaction_events\"} 2.0",
            "dataflow_stream_anomalies_total{stream=\"orders\",topic=\"transaction_events\",rule=\"statistical\"} 1.0",
            "dataflow_stream_anomalies_total{stream=\"orders\",topic=\"transaction_events\",rule=\"fixed\"} 0.0",
            "dataflow_stream_consumer_lag{stream=\"orders\",topic=\"transaction_events\",partition=\"3\"} 42.0",
            "dataflow_stream_latency_seconds_bucket{stream=\"orders\",le=\"0.25\"} 1.0",
            "dataflow_stream_latency_seconds_bucket{stream=\"orders\",le=\"0.1\"} 0.0",
            "dataflow_stream_latency_seconds_count{stream=\"orders\"} 1.0",
            "dataflow_stream_batches_total{stream=\"orders\"} 1.0",
            "dataflow_stream_failures_total{stream=\"orders\",component=\"kafka\"} 0.0",
            "dataflow_stream_alerts_total{stream=\"orders\",outcome=\"sent\"} 0.0",
            "dataflow_stream_last_commit_timestamp_seconds{stream=\"orders\"} 1700000000.0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
