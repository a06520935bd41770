//! Reading `streams/*.yml`: strict YAML (unknown keys, wrong types and missing fields are errors
//! with file, line and the valid keys) and semantic checks that point at the offending line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dataflow_core::config::locate;

use super::spec::StreamSpec;
use crate::error::{Error, Result};

/// The folder of stream files in a project.
pub const STREAMS_DIR: &str = "streams";

/// librdkafka properties dataflow sets itself; a file may not override them.
const RESERVED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "session.timeout.ms",
];

/// A loaded, validated stream.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Its name (the `name` key or the file's stem).
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// The validated contents.
    pub spec: StreamSpec,
}

impl Stream {
    /// The consumer group: `consumer.group_id` or `dataflow-stream-<name>`.
    pub fn group_id(&self) -> String {
        self.spec
            .consumer
            .group_id
            .clone()
            .unwrap_or_else(|| format!("dataflow-stream-{}", self.name))
    }
}

/// Loads every `streams/*.yml` / `*.yaml` file of a project, sorted by name. Names must be
/// unique.
pub fn load_streams(project_dir: &Path) -> Result<Vec<Stream>> {
    let dir = project_dir.join(STREAMS_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yml") | Some("yaml")
            )
        })
        .collect();
    files.sort();
    let mut streams: Vec<Stream> = Vec::new();
    for file in files {
        let stream = load_stream_file(&file)?;
        if let Some(other) = streams.iter().find(|s| s.name == stream.name) {
            return Err(Error::Config {
                path: file,
                message: format!(
                    "stream `{}` is already defined in {}",
                    stream.name,
                    other.file.display()
                ),
            });
        }
        streams.push(stream);
    }
    Ok(streams)
}

/// The stream called `name`, or the project's only stream when `name` is `None`.
pub fn find_stream(project_dir: &Path, name: Option<&str>) -> Result<Stream> {
    let dir = project_dir.join(STREAMS_DIR);
    let mut streams = load_streams(project_dir)?;
    let names: Vec<String> = streams.iter().map(|s| s.name.clone()).collect();
    match name {
        Some(name) => match streams.iter().position(|s| s.name == name) {
            Some(index) => Ok(streams.swap_remove(index)),
            None => Err(Error::Config {
                path: dir,
                message: format!(
                    "no stream `{name}`{}",
                    if names.is_empty() {
                        " (the folder holds no stream files)".to_string()
                    } else {
                        format!("; streams: {}", names.join(", "))
                    }
                ),
            }),
        },
        None => match streams.len() {
            1 => Ok(streams.remove(0)),
            0 => Err(Error::Config {
                path: dir,
                message: "no stream files (streams/*.yml)".to_string(),
            }),
            _ => Err(Error::Config {
                path: dir,
                message: format!("several streams, name one of: {}", names.join(", ")),
            }),
        },
    }
}

/// Loads and validates one stream file.
pub fn load_stream_file(file: &Path) -> Result<Stream> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        path: file.to_path_buf(),
        source,
    })?;
    parse_stream(file, &text)
}

/// Parses and validates the text of a stream file.
pub fn parse_stream(file: &Path, text: &str) -> Result<Stream> {
    let spec: StreamSpec = serde_yaml_ng::from_str(text).map_err(|err| Error::Config {
        path: file.to_path_buf(),
        message: err.to_string(),
    })?;
    let name = spec.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut problems: Vec<(Vec<&str>, String)> = Vec::new();
    if !is_identifier(&name, true) {
        problems.push((
            vec!["name"],
            format!("stream name `{name}` must be letters, digits, `_` and `-`"),
        ));
    }
    check_brokers(&spec, &mut problems);
    check_topics(&spec, &mut problems);
    check_properties(&spec, &mut problems);
    check_numbers(&spec, &mut problems);
    check_sinks(&spec, &mut problems);
    if problems.is_empty() {
        return Ok(Stream {
            name,
            file: file.to_path_buf(),
            spec,
        });
    }
    let message = problems
        .into_iter()
        .map(|(keys, message)| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            let line = locate(text, &keys)
                .map(|l| format!(" at line {l}"))
                .unwrap_or_default();
            format!("{}: {message}{line}", keys.join("."))
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(Error::Config {
        path: file.to_path_buf(),
        message,
    })
}

type Problems<'a> = Vec<(Vec<&'a str>, String)>;

fn check_brokers(spec: &StreamSpec, problems: &mut Problems<'_>) {
    if spec.brokers.is_empty() {
        problems.push((vec!["brokers"], "at least one broker is needed".into()));
    }
    for broker in &spec.brokers {
        let valid = broker
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            problems.push((vec!["brokers"], format!("`{broker}` is not `host:port`")));
        }
    }
}

fn check_topics(spec: &StreamSpec, problems: &mut Problems<'_>) {
    let topics = &spec.topics;
    let mut seen = BTreeSet::new();
    for (key, topic) in [
        ("transactions", &topics.transactions),
        ("customer_events", &topics.customer_events),
        ("dead_letter", &topics.dead_letter),
    ] {
        let legal = !topic.is_empty()
            && topic.len() <= 249
            && topic != "."
            && topic != ".."
            && topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !legal {
            problems.push((
                vec!["topics", key],
                format!(
                    "`{topic}` is not a legal topic name (1 to 249 of letters, digits, `.`, `_`, `-`)"
                ),
            ));
        }
        if !seen.insert(topic.as_str()) {
            problems.push((
                vec!["topics", key],
                format!("topic `{topic}` is used twice: every topic must differ"),
            ));
        }
    }
    if topics.partitions < 1 {
        problems.push((
            vec!["topics", "partitions"],
            format!("must be at least 1, got {}", topics.partitions),
        ));
    }
    if topics.replication_factor < 1 {
        problems.push((
            vec!["topics", "replication_factor"],
            format!("must be at least 1, got {}", topics.replication_factor),
        ));
    }
}

fn check_properties(spec: &StreamSpec, problems: &mut Problems<'_>) {
    let keys = spec
        .kafka_properties
        .keys()
        .map(|k| ("kafka_properties", k))
        .chain(
            spec.kafka_properties_env
                .keys()
                .map(|k| ("kafka_properties_env", k)),
        );
    for (section, key) in keys {
        if RESERVED_PROPERTIES.contains(&key.as_str()) {
            problems.push((
                vec![section],
                format!(
                    "`{key}` is set by dataflow (use `brokers`, `consumer.group_id`, \
                     `consumer.auto_offset_reset` or `consumer.session_timeout_ms`)"
                ),
            ));
        }
    }
    for (key, var) in &spec.kafka_properties_env {
        if spec.kafka_properties.contains_key(key) {
            problems.push((
                vec!["kafka_properties_env"],
                format!("`{key}` is also in kafka_properties: set it in one place"),
            ));
        }
        if var.is_empty() {
            problems.push((
                vec!["kafka_properties_env"],
                format!("`{key}` names no environment variable"),
            ));
        }
    }
}

fn check_numbers(spec: &StreamSpec, problems: &mut Problems<'_>) {
    if spec.batch.max_events == 0 {
        problems.push((vec!["batch", "max_events"], "must be at least 1".into()));
    }
    if spec.batch.max_wait_ms == 0 {
        problems.push((vec!["batch", "max_wait_ms"], "must be at least 1".into()));
    }
    if spec.processor.state_cache_customers == 0 {
        problems.push((
            vec!["processor", "state_cache_customers"],
            "must be at least 1".into(),
        ));
    }
    if spec.metrics.listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push((
            vec!["metrics", "listen"],
            format!(
                "`{}` is not an address: give ip:port, e.g. 127.0.0.1:9465",
                spec.metrics.listen
            ),
        ));
    }
    if !(100..=3_600_000).contains(&spec.metrics.lag_interval_ms) {
        problems.push((
            vec!["metrics", "lag_interval_ms"],
            format!(
                "must be between 100 and 3600000, got {}",
                spec.metrics.lag_interval_ms
            ),
        ));
    }
    if !(1_000..=3_600_000).contains(&spec.consumer.session_timeout_ms) {
        problems.push((
            vec!["consumer", "session_timeout_ms"],
            format!(
                "must be between 1000 and 3600000, got {}",
                spec.consumer.session_timeout_ms
            ),
        ));
    }
    let processor = &spec.processor;
    for (key, value) in [
        ("high_value_threshold", processor.high_value_threshold),
        ("fixed_anomaly_threshold", processor.fixed_anomaly_threshold),
    ] {
        if amount_cents(value).is_none() {
            problems.push((
                vec!["processor", key],
                format!("must be an amount of at least 0 with at most 2 decimals, got {value}"),
            ));
        }
    }
    let z = processor.statistical.z_threshold;
    if !(z.is_finite() && z > 0.0) {
        problems.push((
            vec!["processor", "statistical", "z_threshold"],
            format!("must be above 0, got {z}"),
        ));
    }
    let windows = &processor.windows;
    if !(1..=86_400).contains(&windows.size_secs) || 86_400 % windows.size_secs != 0 {
        problems.push((
            vec!["processor", "windows", "size_secs"],
            format!(
                "must divide a day (1 to 86400 seconds), got {}",
                windows.size_secs
            ),
        ));
    }
    if windows.allowed_lateness_secs > 7 * 86_400 {
        problems.push((
            vec!["processor", "windows", "allowed_lateness_secs"],
            format!(
                "must be at most a week, got {}",
                windows.allowed_lateness_secs
            ),
        ));
    }
    if processor.statistical.warm_up < 2 {
        problems.push((
            vec!["processor", "statistical", "warm_up"],
            format!(
                "must be at least 2 (a deviation needs two amounts), got {}",
                processor.statistical.warm_up
            ),
        ));
    }
}

fn check_sinks(spec: &StreamSpec, problems: &mut Problems<'_>) {
    let lake = &spec.sinks.lake;
    for (key, table) in [
        ("transactions_table", &lake.transactions_table),
        ("customer_events_table", &lake.customer_events_table),
    ] {
        if !is_identifier(table, false) {
            problems.push((
                vec!["sinks", "lake", key],
                format!("`{table}` must be lowercase letters, digits and `_`"),
            ));
        }
    }
    if lake.transactions_table == lake.customer_events_table {
        problems.push((
            vec!["sinks", "lake", "customer_events_table"],
            "must differ from transactions_table".into(),
        ));
    }
    if let Some(pg) = &spec.sinks.postgres {
        match (&pg.url, &pg.url_env) {
            (Some(_), Some(_)) | (None, None) => problems.push((
                vec!["sinks", "postgres"],
                "set exactly one of `url` and `url_env`".into(),
            )),
            (Some(url), None) if !is_postgres_url(url) => problems.push((
                vec!["sinks", "postgres", "url"],
                "must start with postgres:// or postgresql://".into(),
            )),
            _ => {}
        }
        for (key, table) in [
            ("metrics_table", &pg.metrics_table),
            ("windows_table", &pg.windows_table),
        ] {
            if !is_identifier(table, false) {
                problems.push((
                    vec!["sinks", "postgres", key],
                    format!("`{table}` must be lowercase letters, digits and `_`"),
                ));
            }
        }
        if pg.metrics_table == pg.windows_table {
            problems.push((
                vec!["sinks", "postgres", "windows_table"],
                "must differ from metrics_table".into(),
            ));
        }
    }
    if let Some(alerts) = &spec.sinks.alerts {
        let url = &alerts.webhook;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.push((
                vec!["sinks", "alerts", "webhook"],
                format!("`{url}` must be an http:// or https:// URL"),
            ));
        }
        if alerts.max_per_minute == 0 {
            problems.push((
                vec!["sinks", "alerts", "max_per_minute"],
                "must be at least 1".into(),
            ));
        }
        if alerts.timeout_ms == 0 {
            problems.push((
                vec!["sinks", "alerts", "timeout_ms"],
                "must be at least 1".into(),
            ));
        }
    }
}

/// Whether `url` names a PostgreSQL server.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn is_identifier(text: &str, dashes: bool) -> bool {
    !text.is_empty()
        && text.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '_'
                || (dashes && (c == '-' || c.is_ascii_uppercase()))
        })
}

/// An amount in currency units as whole cents, if it has at most 2 decimals and is not negative.
pub fn amount_cents(value: f64) -> Option<i64> {
    if !value.is_finite() || !(0.0..=1e15).contains(&value) {
        return None;
    }
    let cents = (value * 100.0).round();
    ((value * 100.0 - cents).abs() < 1e-6).then_some(cents as i64)
}
