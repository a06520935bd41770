//! Every metric dataflow exports, in one place: name, type, help text and label names.
//!
//! Conventions (Prometheus): a `dataflow_` prefix, base units (seconds, bytes) in the name,
//! `_total` on counters, `_timestamp_seconds` on Unix times. Labels are only ever bounded sets —
//! DAG ids, states, stages, table and suite names, error kinds — never run ids, task attempt
//! numbers or row values, so the number of series stays proportional to the project's size.
//!
//! Counters are derived from the history in the metadata store (they only decrease if history
//! is deleted, which Prometheus treats as a counter reset).

/// A metric's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic count; the name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations in cumulative buckets, with `_bucket`, `_sum` and `_count` series.
    Histogram,
}

impl Kind {
    /// The `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family's definition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// The full name (with `_total` for counters).
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Label names, in the order samples give their values.
    pub labels: &'static [&'static str],
}

macro_rules! metrics {
    ($($(#[$doc:meta])* $ident:ident = $name:literal, $kind:ident, [$($label:literal),*], $help:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $ident: Metric = Metric {
                name: $name,
                kind: Kind::$kind,
                help: $help,
                labels: &[$($label),*],
            };
        )*
        /// Every metric, in exposition order.
        pub const ALL: &[Metric] = &[$($ident),*];
    };
}

metrics! {
    /// Always 1; the labels say which build answers.
    BUILD_INFO = "dataflow_build_info", Gauge, ["version"],
        "Build information of the dataflow process; the value is always 1.";
    /// Whether the last query of the metadata store succeeded.
    METADATA_STORE_UP = "dataflow_metadata_store_up", Gauge, ["backend"],
        "1 when the metadata store answered this scrape, 0 when it could not be reached.";
    /// Schedulers whose heartbeat is recent.
    SCHEDULERS_ALIVE = "dataflow_schedulers_alive", Gauge, [],
        "Scheduler processes with a recent heartbeat on this metadata store.";
    /// Finished DAG runs.
    DAG_RUNS = "dataflow_dag_runs_total", Counter, ["dag_id", "state"],
        "Finished DAG runs by DAG and final state (success, failed).";
    /// DAG runs not finished yet.
    DAG_RUNS_ACTIVE = "dataflow_dag_runs_active", Gauge, ["dag_id", "state"],
        "DAG runs not finished yet, by DAG and state (queued, running).";
    /// When a DAG last succeeded.
    DAG_LAST_SUCCESS = "dataflow_dag_last_success_timestamp_seconds", Gauge, ["dag_id"],
        "Unix time at which the DAG's latest successful run ended.";
    /// How long finished DAG runs took.
    DAG_RUN_DURATION = "dataflow_dag_run_duration_seconds", Histogram, ["dag_id"],
        "Wall time of finished DAG runs, from start to end.";
    /// Finished task attempts.
    TASK_RUNS = "dataflow_task_runs_total", Counter, ["dag_id", "state"],
        "Finished task attempts by DAG and outcome (success, failed, timeout, skipped, orphaned, or waiting: a sensor poke that reschedules).";
    /// Task instances by current state.
    TASK_INSTANCES = "dataflow_task_instances", Gauge, ["state"],
        "Task instances of all runs by current state (scheduled, queued, running, ...).";
    /// How long task attempts took.
    TASK_DURATION = "dataflow_task_duration_seconds", Histogram, ["dag_id"],
        "Wall time of finished task attempts.";
    /// SLA misses recorded.
    SLA_MISSES = "dataflow_sla_misses_total", Counter, ["dag_id"],
        "Task instances that missed their SLA, by DAG.";
    /// Stage runs by outcome.
    STAGE_RUNS = "dataflow_stage_runs_total", Counter, ["stage", "status"],
        "Stage runs (source ingested, suite validated, seed, model, test, stream batch) by outcome.";
    /// How long stages took.
    STAGE_DURATION = "dataflow_stage_duration_seconds", Histogram, ["stage"],
        "Wall time of stage runs.";
    /// Rows written or checked.
    RECORDS_PROCESSED = "dataflow_records_processed_total", Counter, ["stage", "table"],
        "Rows written (ingest, seed, model, stream) or validated (quality), by stage and table.";
    /// Rows set aside as bad.
    ROWS_QUARANTINED = "dataflow_rows_quarantined_total", Counter, ["stage", "table"],
        "Rows moved to a quarantine table, by stage and table.";
    /// Errors by kind.
    PIPELINE_ERRORS = "dataflow_pipeline_errors_total", Counter, ["kind"],
        "Failed stage runs and task attempts, by error kind (config, data, external, sql, task, timeout, ...).";
    /// When each table was last loaded.
    TABLE_LAST_LOAD = "dataflow_table_last_load_timestamp_seconds", Gauge, ["table"],
        "Unix time of the latest successful load of the table (ingest, seed, model, stream).";
    /// Seconds since each table was last loaded.
    DATA_FRESHNESS = "dataflow_data_freshness_seconds", Gauge, ["table"],
        "Seconds since the latest successful load of the table.";
    /// The latest data quality score.
    DATA_QUALITY_SCORE = "dataflow_data_quality_score", Gauge, ["table", "suite"],
        "Latest data quality score (0-1): the share of rows passing every row-level expectation, or of expectations passed when the suite has none.";
    /// Validations by outcome.
    QUALITY_VALIDATIONS = "dataflow_quality_validations_total", Counter, ["table", "suite", "result"],
        "Expectation suite validations by outcome (success, failure).";
    /// Expectations evaluated.
    EXPECTATIONS_EVALUATED = "dataflow_expectations_evaluated_total", Counter, ["table", "suite"],
        "Expectations evaluated, summed over validations.";
    /// Expectations that failed.
    EXPECTATIONS_FAILED = "dataflow_expectations_failed_total", Counter, ["table", "suite"],
        "Expectations that failed, summed over validations.";
    /// Resident memory of the serving process.
    PROCESS_RESIDENT_MEMORY = "dataflow_process_resident_memory_bytes", Gauge, [],
        "Resident memory of the dataflow process (serve or stream).";
    /// CPU time of the serving process.
    PROCESS_CPU = "dataflow_process_cpu_seconds_total", Counter, [],
        "User and system CPU time of the dataflow process (serve or stream).";
    /// Open file descriptors.
    PROCESS_OPEN_FDS = "dataflow_process_open_fds", Gauge, [],
        "Open file descriptors of the dataflow process (serve or stream).";
    /// Memory of the machine.
    HOST_MEMORY_TOTAL = "dataflow_host_memory_total_bytes", Gauge, [],
        "Total memory of the machine the dataflow process runs on.";
    /// Memory available to new work on the machine.
    HOST_MEMORY_AVAILABLE = "dataflow_host_memory_available_bytes", Gauge, [],
        "Memory available for new work on the machine (MemAvailable).";
    /// When the process started.
    PROCESS_START_TIME = "dataflow_process_start_time_seconds", Gauge, [],
        "Unix time at which the dataflow process (serve or stream) started.";
    /// Stream events handled.
    STREAM_EVENTS = "dataflow_stream_events_total", Counter, ["stream", "topic"],
        "Events read from the topic and handled for the first time (valid or dead-lettered), by a dataflow stream process.";
    /// Stream events sent to the dead-letter topic.
    STREAM_DEAD_LETTERS = "dataflow_stream_dead_letters_total", Counter, ["stream", "topic"],
        "Malformed or invalid events sent to the dead-letter topic, by input topic.";
    /// High-value transactions.
    STREAM_HIGH_VALUE = "dataflow_stream_high_value_total", Counter, ["stream", "topic"],
        "Transactions above the high-value threshold.";
    /// Anomalies by rule.
    STREAM_ANOMALIES = "dataflow_stream_anomalies_total", Counter, ["stream", "topic", "rule"],
        "Anomalous transactions by rule (fixed: above the fixed threshold; statistical: far from the customer's running mean).";
    /// Late events.
    STREAM_LATE_EVENTS = "dataflow_stream_late_events_total", Counter, ["stream", "topic"],
        "Transactions older than their partition's watermark, counted in their window's late columns.";
    /// Events the sinks already held.
    STREAM_REPLAYED = "dataflow_stream_replayed_total", Counter, ["stream", "topic"],
        "Events read again after a restart or rebalance and skipped because every sink held them already.";
    /// Batches written.
    STREAM_BATCHES = "dataflow_stream_batches_total", Counter, ["stream"],
        "Micro-batches written to every sink and committed.";
    /// Failed sessions.
    STREAM_FAILURES = "dataflow_stream_failures_total", Counter, ["stream", "component"],
        "Stream failures by what failed (kafka, consumer, lake, postgres, ownership, ...); a failed session resumes from the committed offsets.";
    /// Anomaly alerts.
    STREAM_ALERTS = "dataflow_stream_alerts_total", Counter, ["stream", "outcome"],
        "Anomaly alerts by outcome (sent, suppressed by the rate limit, failed).";
    /// Consumer lag.
    STREAM_CONSUMER_LAG = "dataflow_stream_consumer_lag", Gauge, ["stream", "topic", "partition"],
        "Events in the partition not processed and committed yet (high watermark minus committed offset), per partition this process consumes.";
    /// Assigned partitions.
    STREAM_ASSIGNED_PARTITIONS = "dataflow_stream_assigned_partitions", Gauge, ["stream"],
        "Input partitions the consumer group currently assigns to this process.";
    /// End-to-end latency.
    STREAM_LATENCY = "dataflow_stream_latency_seconds", Histogram, ["stream"],
        "Time from an event's production (its Kafka timestamp) to every sink holding it (visible in PostgreSQL).";
    /// Batch write time.
    STREAM_BATCH_DURATION = "dataflow_stream_batch_duration_seconds", Histogram, ["stream"],
        "Time to write one micro-batch to every sink and commit its offsets.";
    /// Last commit.
    STREAM_LAST_COMMIT = "dataflow_stream_last_commit_timestamp_seconds", Gauge, ["stream"],
        "Unix time of the stream's latest offset commit.";
    /// How long collecting this scrape took.
    SCRAPE_DURATION = "dataflow_scrape_duration_seconds", Gauge, [],
        "Time spent reading the metadata store for this scrape.";
}

/// Bucket bounds (seconds) of the duration histograms: from sub-second stages to multi-hour
/// runs.
pub const DURATION_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    7200.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        let mut seen = std::collections::BTreeSet::new();
        for m in ALL {
            assert!(m.name.starts_with("dataflow_"), "{}", m.name);
            assert!(seen.insert(m.name), "{} twice", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                m.name
            );
            assert!(!m.help.is_empty());
            for label in m.labels {
                assert!(
                    label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{label}"
                );
                assert_ne!(*label, "le", "{}", m.name);
            }
        }
        assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }
}
