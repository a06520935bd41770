//! The consumer's context: logs rebalances and raises a flag the stream loop checks, so the
//! state cached for partitions it may no longer own is dropped before the next batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};

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
    /// Set once partitions were assigned to this consumer.
    pub assigned: Arc<AtomicBool>,
}

impl ClientContext for StreamContext {}

impl ConsumerContext for StreamContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(partitions = list.count(), "partitions assigned");
                if list.count() > 0 {
                    self.assigned.store(true, Ordering::Release);
                }
            }
            Rebalance::Revoke(list) => {
                tracing::info!(partitions = list.count(), "partitions revoked")
            }
            Rebalance::Error(err) => tracing::warn!(error = %err, "rebalance error"),
        }
        self.rebalanced.raise();
    }
}
