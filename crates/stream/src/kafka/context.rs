//! The consumer's context: logs rebalances and raises a flag the stream loop checks, so the
//! state cached for partitions it may no longer own is dropped before the next batch; and
//! takes the consumer lag from librdkafka's periodic statistics (`statistics.interval.ms`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Statistics};

use crate::metrics::StreamMetrics;

/// Raised on every rebalance; taken (and lowered) by the stream loop.
#[derive(Debug, Clone, Default)]
pub struct RebalanceFlag(Arc<AtomicBool>);

impl RebalanceFlag {
    /// Whether a rebalance happened since the last call.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }

    fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The stream consumer's context.
#[derive(Debug, Clone, Default)]
pub struct StreamContext {
    /// Raised on each rebalance.
    pub rebalanced: RebalanceFlag,
    /// Set while partitions are assigned to this consumer (lowered when they are revoked).
    pub assigned: Arc<AtomicBool>,
    /// Where the consumer lag goes.
    pub metrics: StreamMetrics,
}

impl ClientContext for StreamContext {
    fn stats(&self, statistics: Statistics) {
        self.metrics.set_lag(consumer_lag(&statistics));
    }
}

/// The lag of each partition this consumer fetches. librdkafka lists every partition of the
/// subscribed topics; those not assigned here (fetch state `none`, or `stopping`/`stopped`
/// once a rebalance took them away) or whose lag is not known yet (`-1`) are left out. The lag
/// is the high watermark minus the committed offset.
pub fn consumer_lag(statistics: &Statistics) -> BTreeMap<(String, i32), i64> {
    let mut lag = BTreeMap::new();
    for (topic, t) in &statistics.topics {
        for (partition, p) in &t.partitions {
            let fetched = !matches!(p.fetch_state.as_str(), "none" | "stopping" | "stopped");
            if *partition < 0 || !fetched || p.consumer_lag < 0 {
                continue;
            }
            lag.insert((topic.clone(), *partition), p.consumer_lag);
        }
    }
    lag
}

impl ConsumerContext for StreamContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(partitions = list.count(), "partitions assigned");
                self.metrics.set_assigned(list.count() as u64);
                if list.count() > 0 {
                    self.assigned.store(true, Ordering::Release);
                }
            }
            Rebalance::Revoke(list) => {
                tracing::info!(partitions = list.count(), "partitions revoked");
                self.assigned.store(false, Ordering::Release);
                self.metrics.set_assigned(0);
            }
            Rebalance::Error(err) => tracing::warn!(error = %err, "rebalance error"),
        }
        self.rebalanced.raise();
    }
}
