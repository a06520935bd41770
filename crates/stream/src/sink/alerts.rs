//! The alert sink: each batch's newly written anomalies are posted to a webhook as one JSON
//! document (the seed's alert fields, plus the rule that fired and where the event came from).
//!
//! Alerts are sent after the dead letters and before the lake commit, for rows the lake does
//! not hold yet, so a replay does not alert again and a crash can repeat an alert but not lose
//! one; receivers can deduplicate on `transaction_id`, and this process also skips transaction
//! ids it alerted on recently. A token bucket limits alerts to `max_per_minute`; the rest are
//! counted as `suppressed` in the next post. A webhook that fails three times is logged and
//! skipped: alerts never stop the stream.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::rows::TransactionRow;
use crate::config::AlertSinkConfig;

/// Transaction ids remembered for deduplication.
const REMEMBERED: usize = 100_000;
/// Attempts per post.
const ATTEMPTS: u32 = 3;

/// A token bucket: `per_minute` tokens, refilled continuously.
#[derive(Debug)]
pub struct RateLimit {
    per_minute: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute: f64::from(per_minute),
            tokens: f64::from(per_minute),
            last: Instant::now(),
        }
    }

    /// Takes a token at `now`, if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_minute / 60.0).min(self.per_minute);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the alert sink did in one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertCounts {
    /// Alerts delivered.
    pub sent: u64,
    /// Alerts over the rate limit (each post reports how many since the last one).
    pub suppressed: u64,
    /// Alerts whose post failed.
    pub failed: u64,
}

/// Posts anomaly alerts.
pub struct AlertSink {
    client: reqwest::Client,
    url: String,
    stream: String,
    limit: RateLimit,
    seen: HashSet<String>,
    order: VecDeque<String>,
    suppressed: u64,
}

impl AlertSink {
    /// A sink posting to `config.webhook`.
    pub fn new(config: &AlertSinkConfig, stream: &str) -> crate::Result<AlertSink> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| crate::Error::Internal(format!("building the alert client: {e}")))?;
        Ok(AlertSink {
            client,
            url: config.webhook.clone(),
            stream: stream.to_string(),
            limit: RateLimit::new(config.max_per_minute),
            seen: HashSet::new(),
            order: VecDeque::new(),
            suppressed: 0,
        })
    }

    /// The alert document of one anomalous transaction.
    pub fn alert(row: &TransactionRow, topic: &str) -> Value {
        let flags = &row.flags;
        let rule = match (flags.is_fixed_anomaly, flags.is_statistical_anomaly) {
            (true, true) => "fixed+statistical",
            (true, false) => "fixed",
            _ => "statistical",
        };
        let mut time = Vec::new();
        dataflow_core::time::format_timestamp_secs(
            row.txn.event_time_micros.div_euclid(1_000_000),
            &mut time,
        );
        json!({
            "alert_type": "transaction_anomaly",
            "rule": rule,
            "transaction_id": row.txn.transaction_id,
            "customer_id": row.txn.customer_id,
            "amount": row.txn.amount_cents as f64 / 100.0,
            "currency": row.txn.currency,
            "category": row.txn.category,
            "status": row.txn.status,
            "event_time": format!("{}Z", String::from_utf8_lossy(&time)),
            "z_score": flags.z_score,
            "is_high_value": flags.is_high_value,
            "source": {"topic": topic, "partition": row.partition, "offset": row.offset},
        })
    }

    /// Posts the anomalies among `rows` not alerted recently, within the rate limit.
    pub async fn send(&mut self, rows: &[TransactionRow], topic: &str) -> AlertCounts {
        let now = Instant::now();
        let mut alerts = Vec::new();
        let mut counts = AlertCounts::default();
        for row in rows.iter().filter(|r| r.flags.is_anomaly()) {
            if self.seen.contains(&row.txn.transaction_id) {
                continue;
            }
            if !self.limit.take(now) {
                self.suppressed += 1;
                counts.suppressed += 1;
                continue;
            }
            self.remember(&row.txn.transaction_id);
            alerts.push(Self::alert(row, topic));
        }
        if alerts.is_empty() {
            return counts;
        }
        let body = json!({
            "stream": self.stream,
            "alerts": alerts,
            "suppressed": self.suppressed,
        });
        let count = alerts.len() as u64;
        for attempt in 1..=ATTEMPTS {
            match self.client.post(&self.url).json(&body).send().await {
                Ok(response) if response.status().is_success() => {
                    counts.sent = count;
                    // The suppressed alerts were reported in this post.
                    self.suppressed = 0;
                    return counts;
                }
                Ok(response) => tracing::warn!(
                    status = response.status().as_u16(),
                    attempt,
                    "the alert webhook refused the alerts"
                ),
                Err(err) => tracing::warn!(error = %err, attempt, "posting alerts failed"),
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        counts.failed = count;
        counts
    }

    fn remember(&mut self, id: &str) {
        if self.seen.insert(id.to_string()) {
            self.order.push_back(id.to_string());
            if self.order.len() > REMEMBERED
                && let Some(old) = self.order.pop_front()
            {
                self.seen.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_refills_over_time() {
        let start = Instant::now();
        let mut limit = RateLimit::new(60);
        limit.last = start;
        let taken = (0..100).filter(|_| limit.take(start)).count();
        assert_eq!(taken, 60);
        assert!(!limit.take(start + Duration::from_millis(500)));
        assert!(limit.take(start + Duration::from_millis(1_600)));
        assert!(!limit.take(start + Duration::from_millis(1_700)));
    }
}
