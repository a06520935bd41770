//! The serde structs of a `streams/*.yml` file. Every struct denies unknown keys, so a typo is
//! an error naming the file, the line and the valid keys; defaults come from named functions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One stream: where its events come from, how they are processed, where they go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// The stream's name (default: the file's stem). Names the default consumer group.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Bootstrap brokers, `host:port` each.
    pub brokers: Vec<String>,
    /// Topic names and how missing topics are created.
    #[serde(default)]
    pub topics: TopicsConfig,
    /// The consumer group and its settings.
    #[serde(default)]
    pub consumer: ConsumerConfig,
    /// librdkafka properties passed through unchanged to every client (`security.protocol`,
    /// `sasl.mechanism`, `ssl.ca.location`, ...). Secrets belong in `kafka_properties_env`.
    #[serde(default)]
    pub kafka_properties: BTreeMap<String, String>,
    /// librdkafka properties whose values are read from environment variables at start:
    /// property name to variable name (`sasl.password: KAFKA_PASSWORD`). Never logged.
    #[serde(default)]
    pub kafka_properties_env: BTreeMap<String, String>,
    /// Micro-batching: a batch is written when it holds `max_events` or is `max_wait_ms` old.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Processing of transaction events.
    #[serde(default)]
    pub processor: ProcessorConfig,
    /// Where processed events go.
    #[serde(default)]
    pub sinks: SinksConfig,
    /// The process's Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// The stream process's own `/metrics` endpoint (events, dead letters, anomalies, consumer lag,
/// end-to-end latency): each `dataflow stream` process of a group serves its own, like any
/// Kafka consumer application, and Prometheus sums them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to listen on (port 0: any free port, logged at start); `--metrics-listen`
    /// replaces it.
    #[serde(default = "default_metrics_listen")]
    pub listen: String,
    /// Whether to serve at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How often librdkafka reports the consumer lag, in milliseconds.
    #[serde(default = "default_lag_interval_ms")]
    pub lag_interval_ms: u64,
}

fn default_metrics_listen() -> String {
    "127.0.0.1:9465".to_string()
}

fn default_lag_interval_ms() -> u64 {
    5_000
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: default_metrics_listen(),
            enabled: true,
            lag_interval_ms: default_lag_interval_ms(),
        }
    }
}

/// Topic names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// Transaction events (JSON).
    #[serde(default = "default_transactions_topic")]
    pub transactions: String,
    /// Customer events (JSON: logins, profile updates, others).
    #[serde(default = "default_customer_events_topic")]
    pub customer_events: String,
    /// Where malformed and invalid events go, with the error and their origin in headers.
    #[serde(default = "default_dead_letter_topic")]
    pub dead_letter: String,
    /// Create missing topics at start (with the admin API: brokers that do not auto-create
    /// topics need this).
    #[serde(default = "default_true")]
    pub create: bool,
    /// Partitions of topics created at start.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Replication factor of topics created at start.
    #[serde(default = "default_replication_factor")]
    pub replication_factor: i32,
}

fn default_transactions_topic() -> String {
    "transaction_events".to_string()
}

fn default_customer_events_topic() -> String {
    "customer_events".to_string()
}

fn default_dead_letter_topic() -> String {
    "dataflow_dead_letter".to_string()
}

fn default_true() -> bool {
    true
}

fn default_partitions() -> i32 {
    3
}

fn default_replication_factor() -> i32 {
    1
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            transactions: default_transactions_topic(),
            customer_events: default_customer_events_topic(),
            dead_letter: default_dead_letter_topic(),
            create: true,
            partitions: default_partitions(),
            replication_factor: default_replication_factor(),
        }
    }
}

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetReset {
    /// From the oldest retained event.
    Earliest,
    /// Only events published after the group starts.
    Latest,
}

/// Consumer group settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// The consumer group (default `dataflow-stream-<name>`). Processes sharing it share the
    /// partitions.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Where a group without committed offsets starts.
    #[serde(default = "default_offset_reset")]
    pub auto_offset_reset: OffsetReset,
    /// The group session timeout: a processor silent this long loses its partitions.
    #[serde(default = "default_session_timeout_ms")]
    pub session_timeout_ms: u64,
}

fn default_offset_reset() -> OffsetReset {
    OffsetReset::Earliest
}

fn default_session_timeout_ms() -> u64 {
    10_000
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            group_id: None,
            auto_offset_reset: default_offset_reset(),
            session_timeout_ms: default_session_timeout_ms(),
        }
    }
}

/// Micro-batch limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Events per batch at most.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// A batch is written at the latest this long after its first event arrived.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
}

fn default_max_events() -> usize {
    5_000
}

fn default_max_wait_ms() -> u64 {
    500
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: default_max_events(),
            max_wait_ms: default_max_wait_ms(),
        }
    }
}

/// Flags computed for each transaction.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorConfig {
    /// `is_high_value` when the amount is above this (currency units).
    #[serde(default = "default_high_value_threshold")]
    pub high_value_threshold: f64,
    /// The fixed anomaly rule: an amount above this is an anomaly.
    #[serde(default = "default_fixed_anomaly_threshold")]
    pub fixed_anomaly_threshold: f64,
    /// The statistical anomaly rule (per customer).
    #[serde(default)]
    pub statistical: StatisticalConfig,
    /// Event-time tumbling windows of transaction counts and sums by status and category
    /// (written to PostgreSQL).
    #[serde(default)]
    pub windows: WindowConfig,
    /// Customers whose state is kept in memory at most; beyond it the least recently used are
    /// dropped and reloaded from PostgreSQL when they come back. Without the PostgreSQL sink
    /// the state exists nowhere else, so nothing is dropped.
    #[serde(default = "default_state_cache_customers")]
    pub state_cache_customers: usize,
}

fn default_state_cache_customers() -> usize {
    1_000_000
}

/// Event-time tumbling windows. Each transactions partition has a watermark: the latest event
/// time it has seen minus `allowed_lateness_secs`; an event older than its partition's
/// watermark is late, and counted in its window's `late_transactions` instead.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Whether windows are computed (they need the PostgreSQL sink).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Window length.
    #[serde(default = "default_window_secs")]
    pub size_secs: u64,
    /// How far behind its partition's latest event time an event may be and still count.
    #[serde(default = "default_allowed_lateness_secs")]
    pub allowed_lateness_secs: u64,
}

fn default_window_secs() -> u64 {
    60
}

fn default_allowed_lateness_secs() -> u64 {
    60
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            enabled: true,
            size_secs: default_window_secs(),
            allowed_lateness_secs: default_allowed_lateness_secs(),
        }
    }
}

fn default_high_value_threshold() -> f64 {
    1_000.0
}

fn default_fixed_anomaly_threshold() -> f64 {
    10_000.0
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            high_value_threshold: default_high_value_threshold(),
            fixed_anomaly_threshold: default_fixed_anomaly_threshold(),
            statistical: StatisticalConfig::default(),
            windows: WindowConfig::default(),
            state_cache_customers: default_state_cache_customers(),
        }
    }
}

/// An amount far from the customer's running mean, in running standard deviations.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticalConfig {
    /// Whether the rule runs.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// An anomaly when `|amount - mean| / stddev` is above this.
    #[serde(default = "default_z_threshold")]
    pub z_threshold: f64,
    /// The rule fires only once the customer has at least this many earlier transactions.
    #[serde(default = "default_warm_up")]
    pub warm_up: u64,
}

fn default_z_threshold() -> f64 {
    3.0
}

fn default_warm_up() -> u64 {
    10
}

impl Default for StatisticalConfig {
    fn default() -> Self {
        StatisticalConfig {
            enabled: true,
            z_threshold: default_z_threshold(),
            warm_up: default_warm_up(),
        }
    }
}

/// The sinks.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    /// Delta tables in the project's lake (always written: they also record which offsets are
    /// done).
    #[serde(default)]
    pub lake: LakeSinkConfig,
    /// Per-customer real-time metrics in PostgreSQL (optional).
    #[serde(default)]
    pub postgres: Option<PostgresSinkConfig>,
    /// Anomaly alerts posted to a webhook (optional).
    #[serde(default)]
    pub alerts: Option<AlertSinkConfig>,
}

/// Anomaly alerts: one JSON POST per batch with its new anomalies, rate-limited.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSinkConfig {
    /// The URL receiving the alerts.
    pub webhook: String,
    /// At most this many alerts a minute; the rest are counted as suppressed.
    #[serde(default = "default_max_per_minute")]
    pub max_per_minute: u32,
    /// How long one POST may take.
    #[serde(default = "default_alert_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_max_per_minute() -> u32 {
    600
}

fn default_alert_timeout_ms() -> u64 {
    5_000
}

/// Lake table names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSinkConfig {
    /// Processed transaction events.
    #[serde(default = "default_transactions_table")]
    pub transactions_table: String,
    /// Processed customer events.
    #[serde(default = "default_customer_events_table")]
    pub customer_events_table: String,
    /// Compact each table's small files (Delta OPTIMIZE, per partition) after this many
    /// commits of this process; 0 turns it off.
    #[serde(default = "default_compact_every_commits")]
    pub compact_every_commits: u64,
    /// After each compaction, delete the data files that no longer belong to the table
    /// (Delta VACUUM).
    #[serde(default = "default_true")]
    pub vacuum: bool,
    /// How long removed files are kept for readers of older versions (time travel further
    /// back stops working), in hours.
    #[serde(default = "default_vacuum_retention_hours")]
    pub vacuum_retention_hours: u64,
}

fn default_vacuum_retention_hours() -> u64 {
    168
}

fn default_compact_every_commits() -> u64 {
    100
}

fn default_transactions_table() -> String {
    "stream_transactions".to_string()
}

fn default_customer_events_table() -> String {
    "stream_customer_events".to_string()
}

impl Default for LakeSinkConfig {
    fn default() -> Self {
        LakeSinkConfig {
            transactions_table: default_transactions_table(),
            customer_events_table: default_customer_events_table(),
            compact_every_commits: default_compact_every_commits(),
            vacuum: true,
            vacuum_retention_hours: default_vacuum_retention_hours(),
        }
    }
}

/// The PostgreSQL sink. The password belongs in `PGPASSWORD` or in the variable `url_env`
/// names, not in the file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSinkConfig {
    /// `postgres://user@host:port/db` (exactly one of `url` and `url_env`).
    #[serde(default)]
    pub url: Option<String>,
    /// The environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// The upserted per-customer table.
    #[serde(default = "default_metrics_table")]
    pub metrics_table: String,
    /// The window aggregates (`processor.windows`).
    #[serde(default = "default_windows_table")]
    pub windows_table: String,
}

fn default_windows_table() -> String {
    "real_time_window_metrics".to_string()
}

fn default_metrics_table() -> String {
    "real_time_customer_metrics".to_string()
}
