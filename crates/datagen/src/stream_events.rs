//! Real-time events for `dataflow produce`: JSON transaction and customer events, generated one
//! at a time from the same world (customers, products, prices, categories) and the same kind of
//! defects as the batch tables, plus the defect only a stream has: malformed JSON.
//!
//! Every event either is valid or carries exactly one defect, and [`EventManifest`] counts them,
//! so a test knows how many events a correct processor accepts, how many it must dead-letter,
//! and how many are high-value or anomalous. The same options always give the same events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tables::roll;
use crate::world::World;

/// Defects that make an event invalid: a processor must send it to the dead-letter topic.
pub const DEAD_LETTER_DEFECTS: &[&str] = &[
    "malformed_json",
    "missing_field",
    "wrong_type",
    "negative_amount",
    "null_amount",
    "bad_currency",
    "unknown_status",
    "bad_timestamp",
];

/// Defects of transaction events. `huge_amount` and `unknown_customer` are valid events (the
/// first is the fixed-rule anomaly); the rest are dead-lettered.
const TRANSACTION_DEFECTS: &[&str] = &[
    "malformed_json",
    "missing_field",
    "wrong_type",
    "negative_amount",
    "null_amount",
    "bad_currency",
    "unknown_status",
    "bad_timestamp",
    "huge_amount",
    "unknown_customer",
];

/// Defects of customer events.
const CUSTOMER_DEFECTS: &[&str] = &[
    "malformed_json",
    "missing_field",
    "wrong_type",
    "bad_timestamp",
    "unknown_customer",
];

/// Customer event types and their weights.
const CUSTOMER_EVENT_TYPES: &[(&str, u32)] = &[
    ("login", 30),
    ("profile_update", 15),
    ("page_view", 25),
    ("product_view", 15),
    ("add_to_cart", 10),
    ("search", 5),
];

const CURRENCIES: &[(&str, u32)] = &[("USD", 80), ("EUR", 12), ("GBP", 8)];

/// Amounts above this (in currency units) are high-value by default.
pub const HIGH_VALUE_AMOUNT: i64 = 1_000;
/// Amounts above this are anomalies under the fixed rule.
pub const FIXED_ANOMALY_AMOUNT: i64 = 10_000;

/// Which topic an event belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTopic {
    /// Transaction events.
    Transactions,
    /// Customer events (logins, profile updates, clickstream).
    CustomerEvents,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct EventOptions {
    /// Seed; the same options give the same events.
    pub seed: u64,
    /// Distinct customers (ids `1..=customers`).
    pub customers: u64,
    /// Products (they set prices and categories).
    pub products: u64,
    /// Share of events that are customer events (the rest are transactions), 0 to 1.
    pub customer_event_share: f64,
    /// Probability that an event carries a defect.
    pub defect_rate: f64,
    /// Event time of the first event, milliseconds since the epoch (UTC).
    pub start_millis: i64,
    /// Event time step between consecutive events, in milliseconds.
    pub step_millis: i64,
}

/// One generated event.
#[derive(Debug, Clone)]
pub struct GeneratedEvent {
    /// Its topic.
    pub topic: EventTopic,
    /// The message key: the customer id, so one customer's events stay in one partition.
    pub key: String,
    /// The message value (JSON, or not, for `malformed_json`).
    pub payload: Vec<u8>,
    /// The defect it carries.
    pub defect: Option<&'static str>,
}

/// Counts of what was generated for one topic.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TopicCounts {
    /// Events generated.
    pub events: u64,
    /// Events a correct processor accepts.
    pub valid: u64,
    /// Events a correct processor sends to the dead-letter topic.
    pub dead_letter: u64,
    /// Count of each injected defect, by name.
    pub defects: BTreeMap<String, u64>,
    /// Valid events by `event_type`.
    pub event_types: BTreeMap<String, u64>,
    /// Valid transactions with an amount above [`HIGH_VALUE_AMOUNT`].
    #[serde(default)]
    pub high_value: u64,
    /// Valid transactions with an amount above [`FIXED_ANOMALY_AMOUNT`].
    #[serde(default)]
    pub fixed_anomalies: u64,
    /// Sum of the amounts of valid transactions, in cents.
    #[serde(default)]
    pub amount_cents: i64,
}

impl TopicCounts {
    fn count(&mut self, defect: Option<&'static str>) {
        self.events += 1;
        match defect {
            Some(d) => {
                *self.defects.entry(d.to_string()).or_default() += 1;
                if DEAD_LETTER_DEFECTS.contains(&d) {
                    self.dead_letter += 1;
                } else {
                    self.valid += 1;
                }
            }
            None => self.valid += 1,
        }
    }

    /// The count of one defect (0 when none was injected).
    pub fn defect(&self, name: &str) -> u64 {
        self.defects.get(name).copied().unwrap_or(0)
    }
}

/// The manifest of a stream of generated events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EventManifest {
    /// The seed.
    pub seed: u64,
    /// Probability that an event carries a defect.
    pub defect_rate: f64,
    /// Event time of the first event, milliseconds since the epoch.
    pub start_millis: i64,
    /// Transaction events.
    pub transactions: TopicCounts,
    /// Customer events.
    pub customer_events: TopicCounts,
}

/// Generates events one at a time (an endless iterator: take as many as needed).
#[derive(Debug)]
pub struct EventGenerator {
    options: EventOptions,
    world: World,
    rng: Rng,
    index: u64,
    manifest: EventManifest,
}

impl EventGenerator {
    /// A generator; fails on options that make no sense.
    pub fn new(options: EventOptions) -> Result<EventGenerator> {
        if options.customers == 0 || options.products == 0 {
            return Err(Error::Options(
                "events need at least one customer and one product".into(),
            ));
        }
        for (name, value) in [
            ("--defect-rate", options.defect_rate),
            ("--customer-event-share", options.customer_event_share),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::Options(format!(
                    "{name} must be between 0 and 1, got {value}"
                )));
            }
        }
        let world = World {
            seed: options.seed,
            customers: options.customers,
            products: options.products,
            start_day: 0,
            end_day: 0,
        };
        let manifest = EventManifest {
            seed: options.seed,
            defect_rate: options.defect_rate,
            start_millis: options.start_millis,
            ..EventManifest::default()
        };
        Ok(EventGenerator {
            rng: Rng::new(options.seed, 11),
            options,
            world,
            index: 0,
            manifest,
        })
    }

    /// What has been generated so far.
    pub fn manifest(&self) -> &EventManifest {
        &self.manifest
    }

    /// The next event.
    pub fn next_event(&mut self) -> GeneratedEvent {
        self.index += 1;
        let index = self.index;
        // Event times advance by the step, with up to two seconds of disorder.
        let jitter = self.rng.below(2_000) as i64;
        let millis = self.options.start_millis + index as i64 * self.options.step_millis - jitter;
        let customer = self.world.skewed_customer(&mut self.rng);
        if self.rng.chance(self.options.customer_event_share) {
            self.customer_event(index, customer, millis)
        } else {
            self.transaction(index, customer, millis)
        }
    }

    fn transaction(&mut self, index: u64, customer: i64, millis: i64) -> GeneratedEvent {
        let rng = &mut self.rng;
        let defect = roll(rng, self.options.defect_rate, TRANSACTION_DEFECTS, true);
        let product = 1 + rng.below(self.world.products);
        let quantity = *rng.weighted(&[(1i64, 70u32), (2, 20), (3, 10)]);
        let mut cents = self.world.price_cents(product) * quantity;
        let status = *rng.weighted(crate::words::STATUSES);
        let currency = *rng.weighted(CURRENCIES);
        let mut key_customer = customer;
        if defect == Some("huge_amount") {
            // $10,000.01 to $500,000: over the fixed anomaly threshold.
            cents = rng.range(1_000_001, 50_000_000);
        }
        if defect == Some("unknown_customer") {
            key_customer = self.world.unknown_customer(rng);
        }
        let mut event = json!({
            "event_type": "transaction",
            "transaction_id": format!("t{}-{index}", self.options.seed),
            "customer_id": key_customer,
            "amount": cents as f64 / 100.0,
            "currency": currency,
            "status": status,
            "category": self.world.category(product),
            "event_time": format_millis(millis),
        });
        apply_field_defect(
            rng,
            defect,
            &mut event,
            &["transaction_id", "customer_id", "amount"],
        );
        match defect {
            Some("negative_amount") => event["amount"] = json!(-(cents as f64) / 100.0),
            Some("null_amount") => event["amount"] = Value::Null,
            Some("bad_currency") => {
                event["currency"] = json!(*rng.pick(&["usd", "US$", "", "DOLLARS", "12"]))
            }
            Some("unknown_status") => {
                event["status"] = json!(*rng.pick(&["done", "COMPLETED?", "", "unknown"]))
            }
            _ => {}
        }
        let payload = finish(rng, defect, &event);
        let counts = &mut self.manifest.transactions;
        counts.count(defect);
        if defect.is_none_or(|d| !DEAD_LETTER_DEFECTS.contains(&d)) {
            *counts
                .event_types
                .entry("transaction".to_string())
                .or_default() += 1;
            counts.amount_cents += cents;
            if cents > HIGH_VALUE_AMOUNT * 100 {
                counts.high_value += 1;
            }
            if cents > FIXED_ANOMALY_AMOUNT * 100 {
                counts.fixed_anomalies += 1;
            }
        }
        GeneratedEvent {
            topic: EventTopic::Transactions,
            key: key_customer.to_string(),
            payload,
            defect,
        }
    }

    fn customer_event(&mut self, index: u64, customer: i64, millis: i64) -> GeneratedEvent {
        let rng = &mut self.rng;
        let defect = roll(rng, self.options.defect_rate, CUSTOMER_DEFECTS, true);
        let event_type = *rng.weighted(CUSTOMER_EVENT_TYPES);
        let mut key_customer = customer;
        if defect == Some("unknown_customer") {
            key_customer = self.world.unknown_customer(rng);
        }
        let mut event = json!({
            "event_type": event_type,
            "event_id": format!("c{}-{index}", self.options.seed),
            "customer_id": key_customer,
            "event_time": format_millis(millis),
            "session_id": self.world.session_id(key_customer, millis / 1000),
        });
        if event_type == "profile_update" {
            let segment = *rng.weighted(crate::words::SEGMENTS);
            event["changes"] = json!({ "customer_segment": segment });
        }
        apply_field_defect(rng, defect, &mut event, &["event_id", "customer_id"]);
        let payload = finish(rng, defect, &event);
        let counts = &mut self.manifest.customer_events;
        counts.count(defect);
        if defect.is_none_or(|d| !DEAD_LETTER_DEFECTS.contains(&d)) {
            *counts
                .event_types
                .entry(event_type.to_string())
                .or_default() += 1;
        }
        GeneratedEvent {
            topic: EventTopic::CustomerEvents,
            key: key_customer.to_string(),
            payload,
            defect,
        }
    }
}

impl Iterator for EventGenerator {
    type Item = GeneratedEvent;

    fn next(&mut self) -> Option<GeneratedEvent> {
        Some(self.next_event())
    }
}

/// The defects both topics share: a missing required field, a field of the wrong type, an
/// event time that is not a timestamp.
fn apply_field_defect(rng: &mut Rng, defect: Option<&str>, event: &mut Value, required: &[&str]) {
    let Some(map) = event.as_object_mut() else {
        return;
    };
    match defect {
        Some("missing_field") => {
            let mut fields: Vec<&str> = required.to_vec();
            fields.push("event_time");
            fields.push("event_type");
            let field = *rng.pick(&fields);
            map.remove(field);
        }
        Some("wrong_type") => {
            map.insert(
                "customer_id".to_string(),
                json!(*rng.pick(&["C-17", "seventeen", "1.5e3x"])),
            );
        }
        Some("bad_timestamp") => {
            let bad = *rng.pick(&["yesterday", "2024-13-45T25:61:00Z", "", "17/03/2024 10:00"]);
            map.insert("event_time".to_string(), json!(bad));
        }
        _ => {}
    }
}

/// Serializes the event; `malformed_json` truncates it, appends garbage or corrupts its bytes.
fn finish(rng: &mut Rng, defect: Option<&str>, event: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(event).unwrap_or_default();
    if defect == Some("malformed_json") {
        match rng.below(4) {
            // A strict prefix of a JSON object is never valid JSON.
            0 => bytes.truncate(1 + rng.below(bytes.len() as u64 - 1) as usize),
            1 => bytes.extend_from_slice(b"}garbage"),
            2 => {
                let mut corrupted = vec![0xFF, 0xFE];
                corrupted.extend_from_slice(&bytes);
                bytes = corrupted;
            }
            _ => bytes = b"event_type=transaction;amount=12.50".to_vec(),
        }
    }
    bytes
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the epoch.
pub fn format_millis(millis: i64) -> String {
    let mut out = Vec::with_capacity(24);
    dataflow_core::time::format_timestamp_secs(millis.div_euclid(1000), &mut out);
    let frac = millis.rem_euclid(1000);
    out.extend_from_slice(format!(".{frac:03}Z").as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(rate: f64) -> EventOptions {
        EventOptions {
            seed: 5,
            customers: 200,
            products: 50,
            customer_event_share: 0.3,
            defect_rate: rate,
            start_millis: 1_714_564_800_000,
            step_millis: 10,
        }
    }

    #[test]
    fn events_are_deterministic_and_counted() {
        let mut a = EventGenerator::new(options(0.1)).unwrap();
        let mut b = EventGenerator::new(options(0.1)).unwrap();
        for _ in 0..5_000 {
            let (x, y) = (a.next_event(), b.next_event());
            assert_eq!((x.payload, x.key), (y.payload, y.key));
        }
        let m = a.manifest();
        assert_eq!(m.transactions.events + m.customer_events.events, 5_000);
        for counts in [&m.transactions, &m.customer_events] {
            assert_eq!(counts.valid + counts.dead_letter, counts.events);
            assert!(counts.defect("malformed_json") > 0);
            assert_eq!(counts.valid, counts.event_types.values().sum::<u64>());
        }
        assert!(m.transactions.fixed_anomalies >= m.transactions.defect("huge_amount"));
        assert!(m.transactions.high_value > m.transactions.fixed_anomalies);
    }

    #[test]
    fn malformed_events_are_not_json_and_valid_ones_are() {
        let mut generator = EventGenerator::new(options(0.3)).unwrap();
        for _ in 0..3_000 {
            let event = generator.next_event();
            let parsed = serde_json::from_slice::<Value>(&event.payload);
            match event.defect {
                Some("malformed_json") => assert!(parsed.is_err(), "{:?}", event.payload),
                _ => assert!(parsed.unwrap().is_object()),
            }
        }
    }

    #[test]
    fn clean_events_have_every_field() {
        let mut generator = EventGenerator::new(options(0.0)).unwrap();
        for _ in 0..500 {
            let event = generator.next_event();
            let value: Value = serde_json::from_slice(&event.payload).unwrap();
            assert!(value["event_time"].as_str().unwrap().ends_with('Z'));
            assert_eq!(value["customer_id"].to_string(), event.key);
        }
        assert_eq!(format_millis(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
    }
}
