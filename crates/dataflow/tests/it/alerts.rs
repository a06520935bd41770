//! `dataflow alerts evaluate` against a real Prometheus Alertmanager (Debian's
//! `prometheus-alertmanager`, started here on loopback) and a webhook listener: a quality
//! drop and a stale table fire once, are not re-sent while they last, resolve once; the
//! Alertmanager holds them and routes its own notifications (firing, then resolved); a
//! webhook that is down fails the evaluation and gets the alert at the next one; `dataflow
//! status` lists what is open.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use dataflow_orchestrator::store::{QualityResult, Stage, StageRun, StageStatus, Store};
use serde_json::Value;

use crate::support::{Killed, dataflow, free_port, http_get, wait_until, which};

/// Requests received by [`Receiver`]: (path, JSON body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// An HTTP listener that records every POST and answers 200.
pub(crate) struct Receiver {
    pub(crate) url: String,
    received: Received,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let received: Received = Arc::default();
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(request) = read_request(stream) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(request);
                }
            }
        });
        Receiver { url, received }
    }

    pub(crate) fn bodies(&self, path: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

fn read_request(mut stream: TcpStream) -> Option<(String, Value)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()?;
    Some((path, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

fn store_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("target/dataflow.db").display())
}

/// A quality result for raw_orders with `score`, validated now.
fn record_quality(dir: &Path, score: f64) {
    runtime().block_on(async {
        let store = Store::open(&store_url(dir)).await.expect("store");
        store
            .record_quality_result(&QualityResult {
                run_id: uuid::Uuid::new_v4().to_string(),
                checkpoint: "orders".to_string(),
                suite: "orders_suite".to_string(),
                data: "raw_orders".to_string(),
                validated_at: Utc::now(),
                success: score >= 0.8,
                evaluated: 5,
                successful: 4,
                success_percent: 80.0,
                data_quality_score: Some(score),
                result: "{}".to_string(),
            })
            .await
            .expect("record");
    });
}

/// A successful load of `table` `hours_ago`.
fn record_load(dir: &Path, table: &str, hours_ago: i64) {
    runtime().block_on(async {
        let store = Store::open(&store_url(dir)).await.expect("store");
        let ended = Utc::now() - chrono::Duration::hours(hours_ago);
        store
            .record_stage_runs(&[StageRun {
                run_id: "load".to_string(),
                stage: Stage::Ingest,
                name: table.to_string(),
                target: Some(table.to_string()),
                status: StageStatus::Success,
                started_at: ended - chrono::Duration::seconds(1),
                ended_at: ended,
                records: Some(100),
                quarantined: Some(0),
                error_kind: None,
                error: None,
            }])
            .await
            .expect("record");
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn project(webhook: &str, alertmanager: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let mut yaml = format!("name: alerting\nalerts:\n  webhook: {webhook}\n");
    if let Some(am) = alertmanager {
        yaml.push_str(&format!("  alertmanager: {am}\n"));
    }
    std::fs::write(dir.path().join("dataflow.yml"), yaml).expect("config");
    dir
}

fn evaluate(dir: &Path) -> String {
    let out = dataflow()
        .arg("--project-dir")
        .arg(dir)
        .args(["alerts", "evaluate"])
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

/// The names of the alerts in a webhook body with `status`.
fn names(body: &Value, status: &str) -> Vec<String> {
    let mut names: Vec<String> = body["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"] == status)
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn alerts_reach_a_webhook_and_a_real_alertmanager_once_and_resolve() {
    let Some(alertmanager_bin) = which("prometheus-alertmanager") else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "prometheus-alertmanager must be installed in CI (scripts/test installs it)"
        );
        eprintln!("note: prometheus-alertmanager is not installed; scripts/test installs it");
        return;
    };
    let receiver = Receiver::start();
    let work = tempfile::tempdir().expect("dir");
    let am = format!("127.0.0.1:{}", free_port());
    let config = work.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: test\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: test\n    webhook_configs:\n      - url: {}/am\n        send_resolved: true\n",
            receiver.url
        ),
    )
    .expect("config");
    let _alertmanager = Killed(
        Command::new(alertmanager_bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                work.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={am}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager"),
    );
    wait_until("Alertmanager to be ready", || {
        http_get(&am, "/-/ready").is_some()
    });

    let dir = project(
        &format!("{}/hook", receiver.url),
        Some(&format!("http://{am}")),
    );
    let d = dir.path();
    record_quality(d, 0.5);
    record_load(d, "raw_orders", 3);
    record_load(d, "raw_customers", 0);

    let out = evaluate(d);
    assert!(
        out.contains("2 firing: 2 new, 0 repeated, 0 resolved"),
        "{out}"
    );
    assert!(out.contains("webhook: 2 notifications sent"), "{out}");
    assert!(out.contains("alertmanager: 2 alerts posted"), "{out}");
    let hooks = receiver.bodies("/hook");
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        names(&hooks[0], "firing"),
        ["DataQualityDegradation", "DataStale"]
    );
    assert_eq!(hooks[0]["version"], "4");

    // Alertmanager holds both, with our labels, and notifies its own receiver.
    let active: Value = serde_json::from_str(
        &http_get(&am, "/api/v2/alerts")
            .map(|(_, b)| b)
            .unwrap_or_default(),
    )
    .unwrap_or(Value::Null);
    let mut held: Vec<String> = active
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{} {}",
                a["labels"]["alertname"].as_str().unwrap_or_default(),
                a["labels"]["table"].as_str().unwrap_or_default()
            )
        })
        .collect();
    held.sort();
    assert_eq!(
        held,
        ["DataQualityDegradation raw_orders", "DataStale raw_orders"],
        "{active}"
    );
    wait_until("Alertmanager's firing notifications", || {
        let mut fired: Vec<String> = receiver
            .bodies("/am")
            .iter()
            .flat_map(|b| names(b, "firing"))
            .collect();
        fired.sort();
        fired.dedup();
        fired == ["DataQualityDegradation", "DataStale"]
    });

    // Still true a moment later: nothing new for the webhook.
    let out = evaluate(d);
    assert!(
        out.contains("2 firing: 0 new, 0 repeated, 0 resolved"),
        "{out}"
    );
    assert_eq!(receiver.bodies("/hook").len(), 1);

    let status = dataflow()
        .arg("--project-dir")
        .arg(d)
        .arg("status")
        .assert()
        .success();
    let text = String::from_utf8_lossy(&status.get_output().stdout).into_owned();
    assert!(text.contains("Open alerts: 2"), "{text}");
    assert!(text.contains("1 stale"), "{text}");
    assert!(text.contains("raw_orders"), "{text}");
    assert!(text.contains("1 failing"), "{text}");

    // Quality recovers: one resolve, to the webhook and through Alertmanager.
    record_quality(d, 0.95);
    let out = evaluate(d);
    assert!(
        out.contains("1 firing: 0 new, 0 repeated, 1 resolved"),
        "{out}"
    );
    let hooks = receiver.bodies("/hook");
    assert_eq!(hooks.len(), 2);
    assert_eq!(names(&hooks[1], "resolved"), ["DataQualityDegradation"]);
    assert_eq!(hooks[1]["alerts"].as_array().map(Vec::len), Some(1));
    wait_until("Alertmanager's resolved notification", || {
        receiver
            .bodies("/am")
            .iter()
            .any(|b| names(b, "resolved") == ["DataQualityDegradation"])
    });
    let out = evaluate(d);
    assert!(
        out.contains("1 firing: 0 new, 0 repeated, 0 resolved"),
        "{out}"
    );
    assert_eq!(receiver.bodies("/hook").len(), 2);
}

#[test]
fn a_webhook_that_is_down_fails_the_evaluation_and_gets_the_alert_next_time() {
    // Nothing listens on the closed port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .to_string();
    let dir = project(&format!("http://{closed}/hook"), None);
    let d = dir.path();
    record_quality(d, 0.4);
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["alerts", "evaluate"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicates::str::contains(format!("http://{closed}/hook")));

    let receiver = Receiver::start();
    std::fs::write(
        d.join("dataflow.yml"),
        format!(
            "name: alerting\nalerts:\n  webhook: {}/hook\n",
            receiver.url
        ),
    )
    .expect("config");
    let out = evaluate(d);
    assert!(out.contains("1 firing: 1 new"), "{out}");
    assert_eq!(
        names(&receiver.bodies("/hook")[0], "firing"),
        ["DataQualityDegradation"]
    );
    // A typo'd threshold is a configuration error naming the key.
    std::fs::write(
        d.join("dataflow.yml"),
        "name: alerting\nalerts:\n  freshness_max: two hours\n",
    )
    .expect("config");
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["alerts", "evaluate"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("alerts.freshness_max"));
}
