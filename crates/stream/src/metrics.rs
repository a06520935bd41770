//! What a stream process counts while it runs: events, dead letters, flags and late events per
//! topic, anomalies per rule, session failures, alert deliveries, the consumer lag librdkafka
//! reports per partition, and the end-to-end latency of each event (its Kafka timestamp to the
//! moment every sink holds it).
//!
//! Counters only move after the sinks succeeded, and events already applied by an earlier run
//! are counted as `replayed`, never twice as events: a crash and restart does not inflate them.
//! The observability layer turns a [`Snapshot`] into Prometheus families.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Upper bounds (seconds) of the latency and batch-duration histograms: milliseconds to
/// minutes, as a stream's latency is sub-second when healthy and minutes when catching up.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The anomaly rules, as the `rule` label names them.
pub const RULES: [&str; 2] = ["fixed", "statistical"];

/// Per-topic counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounts {
    /// Events handled for the first time (valid or not).
    pub events: u64,
    /// Of which sent to the dead-letter topic.
    pub dead_letters: u64,
    /// High-value transactions.
    pub high_value: u64,
    /// Transactions over the fixed anomaly threshold.
    pub fixed_anomalies: u64,
    /// Transactions far from their customer's running mean.
    pub statistical_anomalies: u64,
    /// Transactions older than their partition's watermark.
    pub late: u64,
    /// Events skipped because the sinks held them already (a replay after a restart).
    pub replayed: u64,
}

impl TopicCounts {
    fn add(&mut self, other: &TopicCounts) {
        self.events += other.events;
        self.dead_letters += other.dead_letters;
        self.high_value += other.high_value;
        self.fixed_anomalies += other.fixed_anomalies;
        self.statistical_anomalies += other.statistical_anomalies;
        self.late += other.late;
        self.replayed += other.replayed;
    }
}

/// Cumulative histogram over [`LATENCY_BUCKETS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Observations `<=` each bound.
    pub buckets: Vec<u64>,
    /// All observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; LATENCY_BUCKETS.len()],
            count: 0,
            sum: 0.0,
        }
    }
}

impl Histogram {
    /// Adds one observation (negative ones, from clocks apart, count as 0).
    pub fn observe(&mut self, seconds: f64) {
        let seconds = if seconds.is_finite() {
            seconds.max(0.0)
        } else {
            0.0
        };
        for (bound, n) in LATENCY_BUCKETS.iter().zip(self.buckets.iter_mut()) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Everything counted so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Per input topic.
    pub topics: BTreeMap<String, TopicCounts>,
    /// Batches written.
    pub batches: u64,
    /// Sessions that failed and were restarted, by what failed (`kafka`, `lake`, `postgres`, ...).
    pub failures: BTreeMap<String, u64>,
    /// Anomaly alerts by outcome (`sent`, `suppressed`, `failed`).
    pub alerts: BTreeMap<&'static str, u64>,
    /// Consumer lag per assigned (topic, partition), from librdkafka's statistics.
    pub lag: BTreeMap<(String, i32), i64>,
    /// Event produced (Kafka timestamp) to every sink holding it.
    pub latency: Histogram,
    /// Time to write one batch to every sink and commit its offsets.
    pub batch_duration: Histogram,
    /// Unix time of the last offset commit.
    pub last_commit_unix: Option<f64>,
    /// Partitions assigned to this process by the group (all input topics).
    pub assigned_partitions: u64,
}

/// What one batch adds, recorded at once when it is durable.
#[derive(Debug, Clone, Default)]
pub struct BatchRecord {
    /// Per input topic.
    pub topics: BTreeMap<String, TopicCounts>,
    /// Latency of each event handled for the first time, in seconds.
    pub latencies: Vec<f64>,
    /// Alert outcomes.
    pub alerts_sent: u64,
    /// Alerts over the rate limit.
    pub alerts_suppressed: u64,
    /// Alerts whose delivery failed.
    pub alerts_failed: u64,
}

/// Shared, thread-safe counters of one stream process.
#[derive(Debug, Clone, Default)]
pub struct StreamMetrics {
    inner: Arc<Mutex<Snapshot>>,
}

impl StreamMetrics {
    /// Empty counters.
    pub fn new() -> StreamMetrics {
        StreamMetrics::default()
    }

    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // A panic while holding the lock leaves counters that are still valid numbers.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    /// Adds a batch whose effects every sink holds.
    pub fn record_batch(&self, record: &BatchRecord) {
        let mut s = self.lock();
        for (topic, counts) in &record.topics {
            s.topics.entry(topic.clone()).or_default().add(counts);
        }
        for latency in &record.latencies {
            s.latency.observe(*latency);
        }
        for (outcome, n) in [
            ("sent", record.alerts_sent),
            ("suppressed", record.alerts_suppressed),
            ("failed", record.alerts_failed),
        ] {
            if n > 0 {
                *s.alerts.entry(outcome).or_default() += n;
            }
        }
    }

    /// Adds a written batch's duration and the commit time.
    pub fn record_commit(&self, seconds: f64, unix: f64) {
        let mut s = self.lock();
        s.batches += 1;
        s.batch_duration.observe(seconds);
        s.last_commit_unix = Some(unix);
    }

    /// Counts a failed session by what failed.
    pub fn record_failure(&self, what: &str) {
        *self.lock().failures.entry(what.to_string()).or_default() += 1;
    }

    /// Replaces the consumer lag with librdkafka's latest report (only the partitions it
    /// fetches: a revoked partition's lag is another process's).
    pub fn set_lag(&self, lag: BTreeMap<(String, i32), i64>) {
        self.lock().lag = lag;
    }

    /// Sets the number of partitions the group assigned to this process.
    pub fn set_assigned(&self, partitions: u64) {
        self.lock().assigned_partitions = partitions;
    }

    /// Makes each topic appear (with zeros) before its first event, so rates are 0, not absent.
    pub fn declare_topics(&self, topics: &[&str]) {
        let mut s = self.lock();
        for topic in topics {
            s.topics.entry((*topic).to_string()).or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(0.7);
        h.observe(-1.0);
        h.observe(1e6);
        assert_eq!(h.count, 4);
        assert_eq!(h.buckets[0], 2, "0.003 and the negative one");
        let one = LATENCY_BUCKETS.iter().position(|b| *b == 1.0).unwrap_or(0);
        assert_eq!(h.buckets[one], 3);
        assert_eq!(
            h.buckets[LATENCY_BUCKETS.len() - 1],
            3,
            "1e6 s only in +Inf"
        );
        assert!((h.sum - (0.003 + 0.7 + 1e6)).abs() < 1e-6);
        assert!(LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn batches_add_up_per_topic() {
        let metrics = StreamMetrics::new();
        metrics.declare_topics(&["a", "b"]);
        let mut record = BatchRecord::default();
        record.topics.insert(
            "a".into(),
            TopicCounts {
                events: 3,
                dead_letters: 1,
                fixed_anomalies: 1,
                ..TopicCounts::default()
            },
        );
        record.latencies = vec![0.1, 0.2];
        record.alerts_sent = 1;
        metrics.record_batch(&record);
        metrics.record_batch(&record);
        metrics.record_commit(0.05, 1.0e9);
        metrics.record_failure("postgres");
        let s = metrics.snapshot();
        assert_eq!(s.topics["a"].events, 6);
        assert_eq!(s.topics["a"].dead_letters, 2);
        assert_eq!(s.topics["a"].fixed_anomalies, 2);
        assert_eq!(s.topics["b"], TopicCounts::default());
        assert_eq!(s.latency.count, 4);
        assert_eq!(s.alerts.get("sent"), Some(&2));
        assert_eq!(s.alerts.get("failed"), None);
        assert_eq!(s.batches, 1);
        assert_eq!(s.failures["postgres"], 1);
        assert_eq!(s.last_commit_unix, Some(1.0e9));
    }
}
