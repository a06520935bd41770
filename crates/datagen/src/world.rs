//! Attributes that several tables must agree on, computed from the seed and an entity id rather
//! than stored: a customer's registration day, a product's price and category, the skewed choice
//! of which customer buys.

use crate::rng::{Rng, hash3};
use crate::words;

const STREAM_REGISTRATION: u64 = 101;
const STREAM_PRICE: u64 = 102;
const STREAM_CATEGORY: u64 = 103;
const STREAM_SESSION: u64 = 104;

/// The shared parameters of one generation.
#[derive(Debug, Clone)]
pub struct World {
    /// The seed.
    pub seed: u64,
    /// Number of distinct customers (ids `1..=customers`).
    pub customers: u64,
    /// Number of products (ids `1..=products`).
    pub products: u64,
    /// First day of the period (days since the epoch).
    pub start_day: i32,
    /// Last day of the period.
    pub end_day: i32,
}

impl World {
    /// The day customer `id` registered: within the period, leaving the last month for activity.
    pub fn registration_day(&self, id: u64) -> i32 {
        let span = (self.end_day - self.start_day - 30).max(1) as u64;
        self.start_day + (hash3(self.seed, STREAM_REGISTRATION, id) % span) as i32
    }

    /// The list price of product `id` in cents: log-uniform between $4.99 and about $1,500.
    pub fn price_cents(&self, id: u64) -> i64 {
        let h = hash3(self.seed, STREAM_PRICE, id);
        let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
        let dollars = (4.99f64.ln() + unit * (1500f64.ln() - 4.99f64.ln())).exp();
        (dollars * 100.0).round() as i64
    }

    /// The category of product `id`.
    pub fn category(&self, id: u64) -> &'static str {
        let h = hash3(self.seed, STREAM_CATEGORY, id);
        words::CATEGORIES[(h % words::CATEGORIES.len() as u64) as usize]
    }

    /// A customer id, skewed so a few customers buy a lot (P(id <= k) = (k/N)^(2/3)).
    pub fn skewed_customer(&self, rng: &mut Rng) -> i64 {
        let u = rng.unit().powf(1.5);
        1 + ((self.customers as f64 * u) as i64).min(self.customers as i64 - 1)
    }

    /// A customer id that does not exist.
    pub fn unknown_customer(&self, rng: &mut Rng) -> i64 {
        self.customers as i64 + 1 + rng.below(self.customers.max(1000)) as i64
    }

    /// A time within the period, on or after the customer registered (seconds since the epoch).
    pub fn activity_time(&self, rng: &mut Rng, customer: i64) -> i64 {
        let first = if customer >= 1 && customer as u64 <= self.customers {
            self.registration_day(customer as u64).max(self.start_day)
        } else {
            self.start_day
        };
        let day = rng.range(i64::from(first), i64::from(self.end_day));
        day * 86_400 + rng.below(86_400) as i64
    }

    /// A session id shared by a customer's events on one day.
    pub fn session_id(&self, customer: i64, secs: i64) -> String {
        let h = hash3(
            self.seed,
            STREAM_SESSION,
            (customer as u64) << 20 ^ (secs / 86_400) as u64,
        );
        format!("s-{:012x}", h >> 16)
    }
}
