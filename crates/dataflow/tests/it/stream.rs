//! `dataflow produce` and `dataflow stream` against a real Kafka-compatible broker (nisshi,
//! started by scripts/test) and PostgreSQL: end-to-end counts equal the producer's manifest,
//! rejected events reach the dead-letter topic with their origin, and a stream killed at every
//! point of a batch and restarted leaves exactly the lake rows and PostgreSQL metrics of an
//! uninterrupted run. `group`: several processes of one consumer group.

mod group;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use dataflow_stream::kafka::{KafkaSettings, ReadMessage, read_topic};
use serde_json::Value;

use crate::support::{
    Killed, PgSchema, TestProject, http_get, promtool_accepts, sample, wait_until,
};

/// The environment variable naming the test broker (`host:port`).
const BROKERS_VAR: &str = "DATAFLOW_TEST_KAFKA_BROKERS";

/// Longest a `dataflow stream` or `produce` run may take in these tests.
const RUN_TIMEOUT: Duration = Duration::from_secs(420);

/// The test broker; `None` (with a note) when none is configured locally, a failure when
/// `CI=true` (the same handling as [`PgSchema`]).
pub fn kafka_brokers() -> Option<String> {
    match std::env::var(BROKERS_VAR) {
        Ok(brokers) if !brokers.trim().is_empty() => Some(brokers.trim().to_string()),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "{BROKERS_VAR} is not set, and CI=true: the Kafka tests must run in CI \
             (scripts/test starts a broker on loopback and sets it)"
        ),
        _ => {
            eprintln!(
                "note: {BROKERS_VAR} is not set, so this Kafka test is skipped \
                 (scripts/test starts a broker and sets it)"
            );
            None
        }
    }
}

/// Topic names of one test, unique so tests can share the broker.
pub struct Topics {
    pub transactions: String,
    pub customer_events: String,
}

impl Topics {
    pub fn new() -> Topics {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Topics {
            transactions: format!("tx-{id}"),
            customer_events: format!("cust-{id}"),
        }
    }
}

/// A project with one stream (`streams/shop.yml`) on `topics`, its own consumer group and
/// dead-letter topic, and PostgreSQL metrics when `pg_url` is given.
fn stream_project(brokers: &str, topics: &Topics, pg_url: Option<&str>) -> (TestProject, String) {
    let project = TestProject::new(|_| "name: streams\n".to_string());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dead_letter = format!("dlq-{id}");
    let mut text = format!(
        "brokers: [{brokers}]
topics:
  transactions: {}
  customer_events: {}
  dead_letter: {dead_letter}
  partitions: 3
consumer:
  group_id: group-{id}
  # A restarted processor waits for its killed predecessor's session to expire.
  session_timeout_ms: 6000
batch:
  max_events: 200
  max_wait_ms: 100
metrics:
  # Tests run in parallel: each stream serves its metrics on a free port.
  listen: 127.0.0.1:0
  lag_interval_ms: 500
processor:
  statistical:
    warm_up: 4
    z_threshold: 2.5
  windows:
    size_secs: 60
    allowed_lateness_secs: 1
",
        topics.transactions, topics.customer_events
    );
    if let Some(url) = pg_url {
        text.push_str(&format!("sinks:\n  postgres:\n    url: \"{url}\"\n"));
    }
    let dir = project.path().join("streams");
    std::fs::create_dir_all(&dir).expect("streams dir");
    std::fs::write(dir.join("shop.yml"), text).expect("stream file");
    (project, dead_letter)
}

/// Publishes `count` generated events with `dataflow produce` and returns its manifest.
fn produce(project: &TestProject, count: u64) -> Value {
    let manifest = project.path().join("events-manifest.json");
    project
        .cmd()
        .args([
            "produce",
            "--count",
            &count.to_string(),
            "--customers",
            "200",
            "--products",
            "60",
            "--defect-rate",
            "0.05",
            "--seed",
            "11",
            "--start-time",
            "2024-05-01T10:00:00Z",
            "--manifest",
        ])
        .arg(&manifest)
        .timeout(RUN_TIMEOUT)
        .assert()
        .success();
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    serde_json::from_str(&text).expect("manifest json")
}

/// Runs `dataflow stream` until it has been idle for 3 seconds; returns its summary line.
fn stream_until_idle(project: &TestProject) -> String {
    let out = project
        .cmd()
        .args(["stream", "--idle-exit-secs", "3"])
        .timeout(RUN_TIMEOUT)
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

fn number(value: &Value, path: &[&str]) -> u64 {
    let mut node = value;
    for key in path {
        node = &node[*key];
    }
    node.as_u64()
        .unwrap_or_else(|| panic!("{} in {value}", path.join(".")))
}

/// Every message of a topic (blocking reads with their own timeout).
fn read_all(brokers: &str, topic: &str) -> Vec<ReadMessage> {
    read_topic(&KafkaSettings::brokers(brokers), topic)
        .unwrap_or_else(|e| panic!("reading {topic}: {e}"))
}

fn header<'a>(message: &'a ReadMessage, key: &str) -> &'a str {
    message
        .headers
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("header {key} in {:?}", message.headers))
}

#[test]
fn stream_counts_equal_the_producer_manifest() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let topics = Topics::new();
    let (project, dead_letter) = stream_project(&brokers, &topics, None);
    let manifest = produce(&project, 4_000);
    let summary = stream_until_idle(&project);
    assert!(summary.contains("4000 messages"), "{summary}");

    let valid = number(&manifest, &["transactions", "valid"]);
    assert_eq!(project.count("stream_transactions"), valid);
    let flags = project.query(
        "select count(*) filter (where is_high_value) as high_value,
                count(*) filter (where is_fixed_anomaly) as fixed,
                cast(sum(amount * 100) as bigint) as cents,
                count(distinct transaction_id) as ids
         from stream_transactions",
    );
    assert_eq!(
        flags[0]["high_value"].as_u64(),
        Some(number(&manifest, &["transactions", "high_value"]))
    );
    assert_eq!(
        flags[0]["fixed"].as_u64(),
        Some(number(&manifest, &["transactions", "fixed_anomalies"]))
    );
    assert_eq!(
        flags[0]["cents"].as_u64(),
        Some(number(&manifest, &["transactions", "amount_cents"]))
    );
    assert_eq!(
        flags[0]["ids"].as_u64(),
        Some(valid),
        "no transaction twice"
    );
    let by_type: BTreeMap<String, u64> = project
        .query("select event_type, count(*) as n from stream_customer_events group by 1")
        .iter()
        .map(|r| {
            (
                r["event_type"].as_str().unwrap_or_default().to_string(),
                r["n"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let expected: BTreeMap<String, u64> =
        serde_json::from_value(manifest["customer_events"]["event_types"].clone())
            .expect("event types");
    assert_eq!(by_type, expected);
    // Rows are partitioned by event date and hour.
    let hours = project.query(
        "select count(*) as n from stream_transactions
         where event_date <> cast(event_time as date) or event_hour <> extract(hour from event_time)",
    );
    assert_eq!(hours[0]["n"].as_u64(), Some(0));
    assert!(
        project
            .path()
            .join("lake/stream_transactions/event_date=2024-05-01")
            .is_dir()
    );

    // Dead letters: exactly the rejected events, each with its error and origin.
    let letters = read_all(&brokers, &dead_letter);
    let rejected = number(&manifest, &["transactions", "dead_letter"])
        + number(&manifest, &["customer_events", "dead_letter"]);
    assert_eq!(letters.len() as u64, rejected);
    let malformed = letters
        .iter()
        .filter(|m| header(m, "dataflow.error.kind") == "malformed_json")
        .count() as u64;
    assert_eq!(
        malformed,
        number(&manifest, &["transactions", "defects", "malformed_json"])
            + number(&manifest, &["customer_events", "defects", "malformed_json"])
    );
    let origins: BTreeSet<(String, String, String)> = letters
        .iter()
        .map(|m| {
            assert!(!header(m, "dataflow.error.message").is_empty());
            (
                header(m, "dataflow.source.topic").to_string(),
                header(m, "dataflow.source.partition").to_string(),
                header(m, "dataflow.source.offset").to_string(),
            )
        })
        .collect();
    assert_eq!(origins.len(), letters.len(), "each rejected event once");

    // Nothing new: a second run reads nothing. A new consumer group re-reads everything from
    // the start into the same lake: the Delta transaction ids skip every replayed batch.
    let again = stream_until_idle(&project);
    assert!(again.contains("0 messages"), "{again}");
    let file = project.path().join("streams/shop.yml");
    let text = std::fs::read_to_string(&file).expect("stream file");
    std::fs::write(&file, text.replace("group_id: group-", "group_id: replay-")).expect("edit");
    let replay = stream_until_idle(&project);
    assert!(replay.contains("4000 messages"), "{replay}");
    assert!(replay.contains(" 0 transactions"), "{replay}");
    assert!(replay.contains(" 0 dead-lettered"), "{replay}");
    assert_eq!(project.count("stream_transactions"), valid);
    assert_eq!(read_all(&brokers, &dead_letter).len() as u64, rejected);
}

/// The lake rows of a project, without the processing time, in a stable order.
fn lake_rows(project: &TestProject) -> (Vec<Value>, Vec<Value>) {
    let transactions = project.query(
        "select transaction_id, customer_id, cast(amount as varchar) as amount, currency, status,
                category, cast(event_time as varchar) as event_time, is_high_value,
                is_fixed_anomaly, is_statistical_anomaly, is_anomaly, amount_z_score,
                _kafka_partition, _kafka_offset, cast(event_date as varchar) as event_date,
                event_hour
         from stream_transactions order by _kafka_partition, _kafka_offset",
    );
    let events = project.query(
        "select event_id, customer_id, event_type, cast(event_time as varchar) as event_time,
                session_id, details, _kafka_partition, _kafka_offset
         from stream_customer_events order by _kafka_partition, _kafka_offset",
    );
    (transactions, events)
}

/// The metrics table as text, one JSON object per customer, without `updated_at`.
fn pg_metrics(url: &str) -> String {
    let sql = "select coalesce(string_agg(row_to_json(m)::text, E'\\n' order by customer_id), '')
               from (select customer_id, transaction_count, total_amount_cents, total_amount,
                            high_value_count, anomaly_count, fixed_anomaly_count,
                            statistical_anomaly_count, amount_mean, amount_m2,
                            last_transaction_time, login_count, last_login_time,
                            profile_update_count, last_profile_update_time, other_event_count,
                            last_event_time
                     from real_time_customer_metrics) m";
    pg_text(url, sql)
}

/// One text value from PostgreSQL.
fn pg_text(url: &str, sql: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let db = dataflow_orchestrator::store::Db::connect(url).await?;
            let row = db.query(sql, &[]).await?;
            Ok::<_, dataflow_orchestrator::Error>(row[0].str(0)?.to_string())
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Offsets applied to PostgreSQL so far (0 before the table exists).
fn pg_progress(url: &str) -> i64 {
    let sql = "select coalesce(sum(last_offset + 1), 0)::text from dataflow_stream_offsets";
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let db = dataflow_orchestrator::store::Db::connect(url).await.ok()?;
            let rows = db.query(sql, &[]).await.ok()?;
            rows.first()?.str(0).ok()?.parse().ok()
        })
        .unwrap_or(0)
}

/// Runs `dataflow stream` with `DATAFLOW_STREAM_ABORT_AFTER` set, which aborts the process at
/// that point of a batch (like `kill -9` there), and checks that it did die.
fn stream_aborting_at(project: &TestProject, point: &str) {
    let out = project
        .cmd()
        .args(["stream", "--idle-exit-secs", "3"])
        .env("DATAFLOW_STREAM_ABORT_AFTER", point)
        .timeout(RUN_TIMEOUT)
        .output()
        .expect("run stream");
    assert!(
        !out.status.success(),
        "the stream should have aborted after {point}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `dataflow stream` and sends it SIGKILL once PostgreSQL shows progress past
/// `progress_above` (and before the end). Returns the progress seen at the kill.
fn kill_mid_stream(project: &TestProject, url: &str, progress_above: i64) -> i64 {
    let bin = assert_cmd::cargo::cargo_bin("dataflow");
    let mut child = std::process::Command::new(bin)
        .arg("--project-dir")
        .arg(project.path())
        .arg("stream")
        .env_remove("RUST_LOG")
        .env_remove("DATAFLOW_STREAM_ABORT_AFTER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn stream");
    let started = Instant::now();
    let mut progress = pg_progress(url);
    while progress <= progress_above && started.elapsed() < RUN_TIMEOUT {
        std::thread::sleep(Duration::from_millis(20));
        progress = pg_progress(url);
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    progress
}

#[test]
fn killing_the_stream_at_any_point_then_restarting_equals_an_uninterrupted_run() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let (Some(pg_a), Some(pg_b)) = (PgSchema::create(), PgSchema::create()) else {
        return;
    };
    let topics = Topics::new();
    let (uninterrupted, dead_letter_a) = stream_project(&brokers, &topics, Some(&pg_a.url));
    let (interrupted, dead_letter_b) = stream_project(&brokers, &topics, Some(&pg_b.url));
    // Smaller batches for the interrupted run: more points to die at, and batch boundaries
    // that differ from the uninterrupted run's (the results must not depend on them). And a
    // state cache of 20 of the 200 customers: states keep being dropped and reloaded from
    // PostgreSQL, which must not change a flag or a total either.
    let file = interrupted.path().join("streams/shop.yml");
    let text = std::fs::read_to_string(&file).expect("stream file");
    let text = text
        .replace("max_events: 200", "max_events: 50")
        .replace("processor:\n", "processor:\n  state_cache_customers: 20\n");
    assert!(text.contains("state_cache_customers: 20"));
    std::fs::write(&file, text).expect("edit");
    let total = 6_000;
    let manifest = produce(&uninterrupted, total);

    let summary = stream_until_idle(&uninterrupted);
    assert!(summary.contains(&format!("{total} messages")), "{summary}");

    // Die at each point of a batch: after its dead letters were published, after its lake
    // commits, after its PostgreSQL transaction (before the Kafka offsets are committed).
    stream_aborting_at(&interrupted, "dead_letters:2");
    stream_aborting_at(&interrupted, "lake:2");
    stream_aborting_at(&interrupted, "postgres:3");
    // And a real kill -9 while batches are flowing.
    let before = pg_progress(&pg_b.url);
    let at_kill = kill_mid_stream(&interrupted, &pg_b.url, before + 200);
    assert!(
        at_kill < total as i64,
        "the kill landed after the end ({at_kill} of {total} applied)"
    );
    stream_until_idle(&interrupted);

    assert_same_effect(
        &brokers,
        &manifest,
        &Run {
            project: &uninterrupted,
            pg_url: &pg_a.url,
            dead_letter: &dead_letter_a,
        },
        &Run {
            project: &interrupted,
            pg_url: &pg_b.url,
            dead_letter: &dead_letter_b,
        },
    );
    pg_a.drop_schema();
    pg_b.drop_schema();
}

/// One stream run of a comparison: its project (lake), PostgreSQL schema and dead-letter topic.
struct Run<'a> {
    project: &'a TestProject,
    pg_url: &'a str,
    dead_letter: &'a str,
}

/// Asserts that `other` (interrupted, rebalanced...) left exactly the lake rows and PostgreSQL
/// rows (`real_time_customer_metrics`, `real_time_window_metrics`) of `uninterrupted`, which
/// match the producer's `manifest`; and each rejected event on its dead-letter topic at least
/// once (a crash may publish one twice), exactly once by origin.
fn assert_same_effect(brokers: &str, manifest: &Value, uninterrupted: &Run, other: &Run) {
    let (a_transactions, a_events) = lake_rows(uninterrupted.project);
    let (b_transactions, b_events) = lake_rows(other.project);
    assert_eq!(
        a_transactions.len() as u64,
        number(manifest, &["transactions", "valid"])
    );
    assert_eq!(
        a_events.len() as u64,
        number(manifest, &["customer_events", "valid"])
    );
    assert_eq!(a_transactions, b_transactions, "stream_transactions differ");
    assert_eq!(a_events, b_events, "stream_customer_events differ");
    let statistical = a_transactions
        .iter()
        .filter(|r| r["is_statistical_anomaly"] == Value::Bool(true))
        .count();
    assert!(statistical > 0, "the statistical rule fired on this data");

    let metrics_a = pg_metrics(uninterrupted.pg_url);
    let metrics_b = pg_metrics(other.pg_url);
    assert!(!metrics_a.is_empty());
    assert_eq!(metrics_a, metrics_b, "real_time_customer_metrics differ");
    let windows = "select coalesce(string_agg(row_to_json(w)::text, E'\\n'
                        order by window_start, status, category), '')
                   from (select window_start, window_end, status, category, transactions,
                                amount_cents, amount, late_transactions, late_amount_cents
                         from real_time_window_metrics) w";
    assert_eq!(
        pg_text(uninterrupted.pg_url, windows),
        pg_text(other.pg_url, windows),
        "real_time_window_metrics differ"
    );
    let window_totals = pg_text(
        uninterrupted.pg_url,
        "select sum(transactions + late_transactions)::text || ',' ||
                sum(amount_cents + late_amount_cents)::text || ',' ||
                (sum(late_transactions) > 0)::text
         from real_time_window_metrics",
    );
    assert_eq!(
        window_totals,
        format!(
            "{},{},true",
            number(manifest, &["transactions", "valid"]),
            number(manifest, &["transactions", "amount_cents"])
        ),
        "every valid transaction in one window, some of them late"
    );
    let totals = pg_text(
        uninterrupted.pg_url,
        "select sum(transaction_count)::text || ',' || sum(total_amount_cents)::text
         from real_time_customer_metrics",
    );
    assert_eq!(
        totals,
        format!(
            "{},{}",
            number(manifest, &["transactions", "valid"]),
            number(manifest, &["transactions", "amount_cents"])
        )
    );

    // Dead letters: exactly once uninterrupted; otherwise at least once, and exactly once by
    // origin (the same origins).
    let rejected = number(manifest, &["transactions", "dead_letter"])
        + number(manifest, &["customer_events", "dead_letter"]);
    let origins = |run: &Run| -> (usize, BTreeSet<(String, String, String)>) {
        let letters = read_all(brokers, run.dead_letter);
        let origins = letters
            .iter()
            .map(|m| {
                (
                    header(m, "dataflow.source.topic").to_string(),
                    header(m, "dataflow.source.partition").to_string(),
                    header(m, "dataflow.source.offset").to_string(),
                )
            })
            .collect();
        (letters.len(), origins)
    };
    let (letters_a, origins_a) = origins(uninterrupted);
    assert_eq!(
        letters_a as u64, rejected,
        "dead letters of the uninterrupted run"
    );
    assert_eq!(origins_a.len() as u64, rejected, "each rejected event once");
    let (letters_b, origins_b) = origins(other);
    assert_eq!(origins_b, origins_a, "the same events dead-lettered");
    if letters_b as u64 > rejected {
        eprintln!(
            "note: {} dead letters published twice (at least once is the promise)",
            letters_b as u64 - rejected
        );
    }
}

#[test]
fn a_bad_stream_file_is_a_usage_error_with_its_line() {
    let project = TestProject::new(|_| "name: streams\n".to_string());
    let dir = project.path().join("streams");
    std::fs::create_dir_all(&dir).expect("streams dir");
    std::fs::write(
        dir.join("shop.yml"),
        "brokers: [127.0.0.1:9]\nbatch:\n  max_event: 10\n",
    )
    .expect("stream file");
    project
        .cmd()
        .arg("stream")
        .timeout(RUN_TIMEOUT)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("streams/shop.yml"))
        .stderr(predicates::str::contains("unknown field `max_event`"))
        .stderr(predicates::str::contains("line 3"));
}

/// The `N` of `stream shop: N messages` in a run's summary line.
fn messages_in(summary: &str) -> u64 {
    summary
        .lines()
        .find(|l| l.contains(" messages in "))
        .and_then(|l| l.strip_prefix("stream shop: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no message count in {summary:?}"))
}

#[test]
fn sigterm_writes_and_commits_the_open_batch_before_stopping() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let topics = Topics::new();
    let (project, _) = stream_project(&brokers, &topics, None);
    let file = project.path().join("streams/shop.yml");
    let text = std::fs::read_to_string(&file).expect("stream file");
    // Small batches, so the stream is still busy when the signal arrives.
    std::fs::write(&file, text.replace("max_events: 200", "max_events: 25")).expect("edit");
    let manifest = produce(&project, 3_000);
    let bin = assert_cmd::cargo::cargo_bin("dataflow");
    let out = project.path().join("stream-stdout.txt");
    let mut child = std::process::Command::new(bin)
        .arg("--project-dir")
        .arg(project.path())
        .arg("stream")
        .env_remove("RUST_LOG")
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn stream");
    // Wait until some batches are in the lake, then ask it to stop.
    let started = Instant::now();
    while started.elapsed() < RUN_TIMEOUT {
        let versions =
            std::fs::read_dir(project.path().join("lake/stream_transactions/_delta_log"))
                .map(|d| d.count())
                .unwrap_or(0);
        if versions > 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the stream did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    let first = messages_in(&std::fs::read_to_string(&out).expect("stdout"));
    assert!(
        first > 0 && first < 3_000,
        "SIGTERM after {first} of 3000 messages"
    );
    // Everything read before the signal was committed: the next run reads only the rest.
    let second = messages_in(&stream_until_idle(&project));
    assert_eq!(first + second, 3_000);
    assert_eq!(
        project.count("stream_transactions"),
        number(&manifest, &["transactions", "valid"])
    );
}

#[test]
fn anomalies_are_alerted_once_and_rate_limited() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let receiver = crate::alerts::Receiver::start();
    let topics = Topics::new();
    let (project, _) = stream_project(&brokers, &topics, None);
    let file = project.path().join("streams/shop.yml");
    let text = std::fs::read_to_string(&file).expect("stream file");
    let with_alerts = |max_per_minute: u32| {
        format!(
            "{text}sinks:\n  alerts:\n    webhook: {}/alerts\n    max_per_minute: {max_per_minute}\n",
            receiver.url
        )
    };
    std::fs::write(&file, with_alerts(100_000)).expect("edit");
    produce(&project, 3_000);
    stream_until_idle(&project);

    let anomalies = project.query(
        "select transaction_id, is_fixed_anomaly, is_statistical_anomaly
         from stream_transactions where is_anomaly order by transaction_id",
    );
    assert!(!anomalies.is_empty());
    let bodies = receiver.bodies("/alerts");
    let alerts: Vec<&Value> = bodies
        .iter()
        .flat_map(|b| b["alerts"].as_array().into_iter().flatten())
        .collect();
    let mut alerted: Vec<&str> = alerts
        .iter()
        .map(|a| a["transaction_id"].as_str().unwrap_or_default())
        .collect();
    alerted.sort_unstable();
    let expected: Vec<&str> = anomalies
        .iter()
        .map(|r| r["transaction_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(alerted, expected, "one alert per anomaly");
    for alert in &alerts {
        let rule = alert["rule"].as_str().unwrap_or_default();
        assert!(
            ["fixed", "statistical", "fixed+statistical"].contains(&rule),
            "{alert}"
        );
        assert_eq!(alert["alert_type"], "transaction_anomaly");
        assert!(alert["amount"].is_number() && alert["customer_id"].is_number());
        assert!(alert["source"]["offset"].is_number());
    }
    assert!(bodies.iter().all(|b| b["stream"] == "shop"));

    // A new consumer group replays everything: the lake already holds it, so no alert again.
    // With a limit of 5 a minute, a fresh lake gets 5 alerts and counts the rest.
    let posts_before = bodies.len();
    std::fs::write(
        &file,
        with_alerts(5).replace("group_id: group-", "group_id: replay-"),
    )
    .expect("edit");
    let replay = stream_until_idle(&project);
    assert_eq!(receiver.bodies("/alerts").len(), posts_before, "{replay}");
    std::fs::remove_dir_all(project.path().join("lake")).expect("remove lake");
    std::fs::write(
        &file,
        with_alerts(5).replace("group_id: group-", "group_id: limited-"),
    )
    .expect("edit");
    let limited = stream_until_idle(&project);
    let sent: usize = receiver.bodies("/alerts")[posts_before..]
        .iter()
        .map(|b| b["alerts"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(sent, 5, "{limited}");
    assert!(
        limited.contains(&format!(
            "alerts: 5 sent, {} suppressed, 0 failed",
            anomalies.len() - 5
        )),
        "{limited}"
    );
}

/// The sum of every sample of `name` (a counter or gauge, all label values) in a scrape.
fn total(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

#[test]
fn the_metrics_endpoint_counts_each_event_once() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let topics = Topics::new();
    let (project, _) = stream_project(&brokers, &topics, None);
    let manifest = produce(&project, 2_000);
    let (child, address, _) = spawn_serving(&project, &["stream"]);
    let scrape = || {
        http_get(&address, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    };
    // Every event counted once; the lag reported and, once everything is committed, zero.
    let mut metrics = String::new();
    wait_until("every event in the metrics and no lag", || {
        metrics = scrape();
        let lag_series = metrics
            .lines()
            .filter(|l| l.starts_with("dataflow_stream_consumer_lag{"))
            .count();
        total(&metrics, "dataflow_stream_events_total") == 2_000.0
            && lag_series == 6
            && total(&metrics, "dataflow_stream_consumer_lag") == 0.0
    });
    let rejected = number(&manifest, &["transactions", "dead_letter"])
        + number(&manifest, &["customer_events", "dead_letter"]);
    assert_eq!(
        total(&metrics, "dataflow_stream_dead_letters_total"),
        rejected as f64
    );
    assert_eq!(
        total(&metrics, "dataflow_stream_high_value_total"),
        number(&manifest, &["transactions", "high_value"]) as f64
    );
    let series = |topic: &str, rest: &str| format!("{{stream=\"shop\",topic=\"{topic}\"{rest}}}");
    assert_eq!(
        sample(
            &metrics,
            &format!(
                "dataflow_stream_anomalies_total{}",
                series(&topics.transactions, ",rule=\"fixed\"")
            )
        ),
        Some(number(&manifest, &["transactions", "fixed_anomalies"]) as f64)
    );
    assert_eq!(
        sample(
            &metrics,
            &format!(
                "dataflow_stream_events_total{}",
                series(&topics.customer_events, "")
            )
        ),
        Some(number(&manifest, &["customer_events", "events"]) as f64)
    );
    assert_eq!(
        sample(
            &metrics,
            "dataflow_stream_latency_seconds_count{stream=\"shop\"}"
        ),
        Some(2_000.0),
        "one latency per event"
    );
    assert_eq!(total(&metrics, "dataflow_stream_replayed_total"), 0.0);
    assert!(total(&metrics, "dataflow_stream_batches_total") >= 1.0);
    assert!(metrics.contains("dataflow_build_info{"), "{metrics}");
    assert!(
        metrics.contains("dataflow_process_resident_memory_bytes "),
        "{metrics}"
    );
    promtool_accepts(&metrics);
    drop(child);
}

#[test]
fn serve_hosts_a_stream_whose_counters_are_on_its_metrics() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let topics = Topics::new();
    let (project, _) = stream_project(&brokers, &topics, None);
    project
        .cmd()
        .args([
            "serve",
            "--no-scheduler",
            "--listen",
            "127.0.0.1:0",
            "--stream",
            "nope",
        ])
        .timeout(RUN_TIMEOUT)
        .assert()
        .failure()
        .stderr(predicates::str::contains("nope"));
    let manifest = produce(&project, 1_000);
    let (mut child, address, out) = spawn_serving(
        &project,
        &[
            "serve",
            "--no-scheduler",
            "--listen",
            "127.0.0.1:0",
            "--stream",
            "shop",
        ],
    );
    assert!(
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("; streams shop"),
        "serve names its streams"
    );
    let mut metrics = String::new();
    wait_until("the hosted stream's events on serve's /metrics", || {
        metrics = http_get(&address, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        total(&metrics, "dataflow_stream_events_total") == 1_000.0
    });
    assert!(
        metrics.contains("dataflow_metadata_store_up{"),
        "serve's own families too"
    );
    assert_eq!(
        total(&metrics, "dataflow_stream_dead_letters_total"),
        (number(&manifest, &["transactions", "dead_letter"])
            + number(&manifest, &["customer_events", "dead_letter"])) as f64
    );
    promtool_accepts(&metrics);
    // SIGTERM: the stream commits and the process exits cleanly with its summary.
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let mut status = None;
    wait_until("serve to stop after SIGTERM", || {
        status = child.0.try_wait().expect("wait");
        status.is_some()
    });
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(stdout.contains("stream shop: 1000 messages"), "{stdout}");
    assert_eq!(
        project.count("stream_transactions"),
        number(&manifest, &["transactions", "valid"])
    );
}

/// Starts `dataflow ARGS` in `project`, its stdout in a file, and waits until it prints the
/// address it serves HTTP on (`http://ADDR/...`): the process, the address and the file.
fn spawn_serving(project: &TestProject, args: &[&str]) -> (Killed, String, std::path::PathBuf) {
    let out = project.path().join(format!("{}-stdout.txt", args[0]));
    let child = Killed(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("dataflow"))
            .arg("--project-dir")
            .arg(project.path())
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dataflow"),
    );
    let mut address = String::new();
    wait_until("the address it serves on", || {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        match text.split("http://").nth(1) {
            Some(rest) => {
                address = rest.split('/').next().unwrap_or_default().to_string();
                true
            }
            None => false,
        }
    });
    (child, address, out)
}
