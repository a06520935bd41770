//! Per-customer state: running transaction totals with Welford's mean and deviation, and
//! customer activity. Both are what `real_time_customer_metrics` stores for the customer.

use super::Flags;
use crate::event::Transaction;

/// Welford's running mean and sum of squared deviations, updated one value at a time (stable,
/// and the same sequence of values always gives the same bits).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Welford {
    /// Values seen.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// The sum of squared deviations from the mean.
    pub m2: f64,
}

impl Welford {
    /// Adds a value.
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
    }

    /// The sample standard deviation, once there are two values.
    pub fn stddev(&self) -> Option<f64> {
        (self.count >= 2).then(|| (self.m2 / (self.count - 1) as f64).max(0.0).sqrt())
    }

    /// How many deviations `value` is from the mean; `None` without a (non-zero) deviation.
    pub fn z_score(&self, value: f64) -> Option<f64> {
        let stddev = self.stddev()?;
        (stddev > 0.0).then(|| (value - self.mean) / stddev)
    }
}

/// A customer's transactions so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransactionState {
    /// Count, mean and deviation of the amounts (currency units).
    pub stats: Welford,
    /// Sum of the amounts in cents.
    pub total_cents: i64,
    /// High-value transactions.
    pub high_value: i64,
    /// Transactions flagged by the fixed rule.
    pub fixed_anomalies: i64,
    /// Transactions flagged by the statistical rule.
    pub statistical_anomalies: i64,
    /// Transactions flagged by either rule.
    pub anomalies: i64,
    /// The latest event time of a transaction (microseconds).
    pub last_transaction_micros: Option<i64>,
}

impl TransactionState {
    pub(super) fn add(&mut self, txn: &Transaction, flags: &Flags, amount: f64) {
        self.stats.add(amount);
        self.total_cents += txn.amount_cents;
        self.high_value += i64::from(flags.is_high_value);
        self.fixed_anomalies += i64::from(flags.is_fixed_anomaly);
        self.statistical_anomalies += i64::from(flags.is_statistical_anomaly);
        self.anomalies += i64::from(flags.is_anomaly());
        self.last_transaction_micros = self
            .last_transaction_micros
            .max(Some(txn.event_time_micros));
    }
}

/// A customer's logins, profile updates and other events so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ActivityState {
    /// `login` events.
    pub logins: i64,
    /// The latest login (microseconds).
    pub last_login_micros: Option<i64>,
    /// `profile_update` events.
    pub profile_updates: i64,
    /// The latest profile update.
    pub last_profile_update_micros: Option<i64>,
    /// Events of any other type.
    pub other_events: i64,
    /// The latest customer event of any type.
    pub last_event_micros: Option<i64>,
}
