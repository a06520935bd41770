//! Processing: the flags of each transaction (high value, the fixed anomaly rule, the
//! statistical rule on the customer's running mean and deviation) and the per-customer state
//! behind them, which the PostgreSQL sink stores and reloads.
//!
//! The state of a customer changes only through [`Processor::transaction`] and
//! [`Processor::customer_event`], one event at a time in offset order, so the same events give
//! bit-identical state (and flags) whether they are processed in one run or across restarts.

mod cache;
mod state;
#[cfg(test)]
mod tests;

pub use cache::StateCache;
pub use state::{ActivityState, TransactionState, Welford};

use crate::config::{ProcessorConfig, amount_cents};
use crate::error::{Error, Result};
use crate::event::{CustomerEvent, CustomerEventKind, Transaction};

/// The flags of one transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flags {
    /// The amount is above the high-value threshold.
    pub is_high_value: bool,
    /// The amount is above the fixed anomaly threshold.
    pub is_fixed_anomaly: bool,
    /// The amount is far from the customer's running mean (after the warm-up).
    pub is_statistical_anomaly: bool,
    /// `(amount - mean) / stddev` of the customer's earlier amounts, once warmed up.
    pub z_score: Option<f64>,
}

impl Flags {
    /// Either anomaly rule fired.
    pub fn is_anomaly(&self) -> bool {
        self.is_fixed_anomaly || self.is_statistical_anomaly
    }
}

/// The processor's settings, with thresholds in cents.
#[derive(Debug, Clone)]
pub struct Processor {
    high_value_cents: i64,
    fixed_anomaly_cents: i64,
    statistical: Option<(f64, u64)>,
    /// Window size and allowed lateness, in microseconds.
    windows: Option<(i64, i64)>,
}

/// Where a transaction falls among the event-time windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSlot {
    /// Window start (microseconds since the epoch).
    pub start_micros: i64,
    /// Window end (exclusive).
    pub end_micros: i64,
    /// Older than its partition's watermark.
    pub late: bool,
}

impl Processor {
    /// A processor with the stream's settings.
    pub fn new(config: &ProcessorConfig) -> Result<Processor> {
        let cents = |value: f64, key: &str| {
            amount_cents(value)
                .ok_or_else(|| Error::Usage(format!("processor.{key}: `{value}` is not an amount")))
        };
        Ok(Processor {
            high_value_cents: cents(config.high_value_threshold, "high_value_threshold")?,
            fixed_anomaly_cents: cents(config.fixed_anomaly_threshold, "fixed_anomaly_threshold")?,
            statistical: config
                .statistical
                .enabled
                .then_some((config.statistical.z_threshold, config.statistical.warm_up)),
            windows: config.windows.enabled.then_some((
                config.windows.size_secs as i64 * 1_000_000,
                config.windows.allowed_lateness_secs as i64 * 1_000_000,
            )),
        })
    }

    /// The window of an event at `micros`, given its partition's latest event time so far
    /// (`max_event`, updated here): late when older than that time minus the allowed
    /// lateness. `None` when windows are off.
    pub fn window(&self, micros: i64, max_event: &mut Option<i64>) -> Option<WindowSlot> {
        let (size, lateness) = self.windows?;
        let late = max_event.is_some_and(|max| micros < max - lateness);
        *max_event = (*max_event).max(Some(micros));
        let start = micros - micros.rem_euclid(size);
        Some(WindowSlot {
            start_micros: start,
            end_micros: start + size,
            late,
        })
    }

    /// Flags a transaction against the customer's state, then adds it to that state.
    pub fn transaction(&self, state: &mut TransactionState, txn: &Transaction) -> Flags {
        let amount = txn.amount_cents as f64 / 100.0;
        let is_high_value = txn.amount_cents > self.high_value_cents;
        let is_fixed_anomaly = txn.amount_cents > self.fixed_anomaly_cents;
        let mut z_score = None;
        let mut is_statistical_anomaly = false;
        if let Some((threshold, warm_up)) = self.statistical
            && state.stats.count >= warm_up
            && let Some(z) = state.stats.z_score(amount)
        {
            z_score = Some(z);
            is_statistical_anomaly = z.abs() > threshold;
        }
        let flags = Flags {
            is_high_value,
            is_fixed_anomaly,
            is_statistical_anomaly,
            z_score,
        };
        state.add(txn, &flags, amount);
        flags
    }

    /// Adds a customer event to the customer's activity.
    pub fn customer_event(&self, state: &mut ActivityState, event: &CustomerEvent) {
        let time = Some(event.event_time_micros);
        match event.kind() {
            CustomerEventKind::Login => {
                state.logins += 1;
                state.last_login_micros = state.last_login_micros.max(time);
            }
            CustomerEventKind::ProfileUpdate => {
                state.profile_updates += 1;
                state.last_profile_update_micros = state.last_profile_update_micros.max(time);
            }
            CustomerEventKind::Other => state.other_events += 1,
        }
        state.last_event_micros = state.last_event_micros.max(time);
    }
}
