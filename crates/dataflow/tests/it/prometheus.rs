//! A real Prometheus (Debian's `prometheus`, started here on loopback) scraping
//! `dataflow serve` while the production pipeline runs: the alert rules load and are healthy,
//! and every Grafana panel query and every alert rule's expression (its threshold removed) is
//! valid and returns data through Prometheus's HTTP API. The streaming dashboard and stream
//! alerts read a `dataflow stream` process (a second scrape target) consuming events from the
//! test broker; without a broker (outside CI) they are listed as skipped rather than passing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::stream::{Topics, kafka_brokers};
use crate::support::{Killed, dataflow, free_port, http_get, wait_until, which};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `query` on Prometheus: the result vector, or the error Prometheus gave.
fn query(prometheus: &str, query: &str) -> Result<Vec<Value>, String> {
    let (status, body) = http_get(
        prometheus,
        &format!("/api/v1/query?query={}", percent_encode(query)),
    )
    .ok_or("no answer from Prometheus")?;
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || json["status"] != "success" {
        return Err(format!("HTTP {status}: {body}"));
    }
    Ok(json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Grafana's interval variables, as a dashboard viewed over the last hour would set them.
fn grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$__interval", "15s")
}

/// An alert expression without its final threshold comparison (`... > 0.1` → `...`), so it
/// returns data when the metrics exist, whether or not the alert fires.
fn without_threshold(expr: &str) -> String {
    let expr = expr.trim();
    for op in [" > ", " < ", " == ", " >= ", " <= ", " != "] {
        if let Some(at) = expr.rfind(op) {
            let rest = expr[at + op.len()..].trim();
            if rest.parse::<f64>().is_ok() {
                return expr[..at].trim().to_string();
            }
        }
    }
    expr.to_string()
}

/// (dashboard file, panel title, expr) of every panel target.
fn dashboard_queries() -> Vec<(String, String, String)> {
    let dir = repo().join("deploy/grafana/dashboards");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dashboards")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for panel in json["panels"].as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push((
                    name.clone(),
                    panel["title"].as_str().unwrap_or_default().to_string(),
                    target["expr"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

/// (group, alert, expr) of every rule.
fn rule_queries() -> Vec<(String, String, String)> {
    let path = repo().join("deploy/prometheus/rules/dataflow.rules.yml");
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("rules")).expect("yaml");
    let mut out = Vec::new();
    for group in yaml["groups"].as_sequence().into_iter().flatten() {
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            out.push((
                group["name"].as_str().unwrap_or_default().to_string(),
                rule["alert"].as_str().unwrap_or_default().to_string(),
                rule["expr"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// What has data only from a `dataflow stream` process.
fn needs_the_stream(file_or_group: &str) -> bool {
    file_or_group == "streaming.json" || file_or_group == "dataflow_stream"
}

/// Starts `dataflow stream` in `project` on fresh topics of `brokers`; returns the process and
/// its metrics address.
fn start_stream(project: &Path, brokers: &str) -> (Killed, String) {
    let topics = Topics::new();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = project.join("streams");
    std::fs::create_dir_all(&dir).expect("streams dir");
    std::fs::write(
        dir.join("shop.yml"),
        format!(
            "brokers: [{brokers}]\ntopics:\n  transactions: {}\n  customer_events: {}\n  \
             dead_letter: dlq-{id}\n  partitions: 2\nconsumer:\n  group_id: group-{id}\n\
             batch:\n  max_events: 200\n  max_wait_ms: 100\n\
             metrics:\n  listen: 127.0.0.1:0\n  lag_interval_ms: 500\n",
            topics.transactions, topics.customer_events
        ),
    )
    .expect("stream file");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("dataflow"))
        .arg("--project-dir")
        .arg(project)
        .arg("stream")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("stream");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the stream prints its metrics address");
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"))
        .to_string();
    (Killed(child), address)
}

/// The single value of an instant query, if any.
fn scalar(prometheus: &str, expr: &str) -> Option<f64> {
    query(prometheus, expr)
        .ok()
        .and_then(|r| r.first().cloned())
        .and_then(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()))
}

#[test]
fn every_dashboard_panel_and_alert_expression_returns_data_from_a_real_prometheus() {
    let Some(prometheus_bin) = which("prometheus") else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "prometheus must be installed in CI (scripts/test installs it)"
        );
        eprintln!("note: prometheus is not installed; scripts/test installs it");
        return;
    };
    let dir = tempfile::tempdir().expect("test setup");
    let demo = dir.path().join("demo");
    dataflow()
        .args([
            "demo",
            "--customers",
            "300",
            "--transactions",
            "3000",
            "--dir",
        ])
        .arg(&demo)
        .assert()
        .success();

    // dataflow serve with its scheduler, on a free port.
    let mut serve = Command::new(assert_cmd::cargo::cargo_bin("dataflow"))
        .arg("--project-dir")
        .arg(&demo)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    BufReader::new(serve.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("serve prints its address");
    let _serve = Killed(serve);
    let target = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("address")
        .to_string();

    // A stream consuming events, scraped as its own target.
    let stream = kafka_brokers().map(|brokers| start_stream(&demo, &brokers));
    let stream_job = match &stream {
        Some((_, address)) => {
            format!(
                "  - job_name: dataflow-stream\n    static_configs:\n      - targets: ['{address}']\n"
            )
        }
        None => String::new(),
    };

    // Prometheus scraping them every second, with the repository's rules.
    let port = free_port();
    let prometheus = format!("127.0.0.1:{port}");
    let rules = repo()
        .join("deploy/prometheus/rules/dataflow.rules.yml")
        .canonicalize()
        .expect("rules");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: dataflow\n    static_configs:\n      - targets: ['{target}']\n{stream_job}",
            rules.display()
        ),
    )
    .expect("config");
    let _prometheus = Killed(
        Command::new(prometheus_bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prometheus}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    wait_until("Prometheus to be ready", || {
        http_get(&prometheus, "/-/ready").is_some_and(|(s, _)| s == 200)
    });

    // Another pipeline run while Prometheus scrapes, so counters move between samples.
    dataflow()
        .arg("--project-dir")
        .arg(&demo)
        .args([
            "dags",
            "trigger",
            "production_data_pipeline",
            "--run-id",
            "scraped",
        ])
        .assert()
        .success();
    if stream.is_some() {
        dataflow()
            .arg("--project-dir")
            .arg(&demo)
            .args([
                "produce", "--count", "2000", "--rate", "1000", "--seed", "5",
            ])
            .assert()
            .success();
    }
    wait_until("the triggered run to finish and be scraped", || {
        scalar(
            &prometheus,
            "sum(dataflow_dag_runs_total{dag_id=\"production_data_pipeline\"})",
        )
        .is_some_and(|n| n >= 2.0)
    });
    if stream.is_some() {
        wait_until("every produced event to be scraped", || {
            scalar(&prometheus, "sum(dataflow_stream_events_total)") == Some(2000.0)
        });
    }
    // A few more scrapes after the run, for rate() windows.
    std::thread::sleep(Duration::from_secs(3));

    // The rules loaded, and their last evaluation had no error.
    let (_, body) = http_get(&prometheus, "/api/v1/rules").expect("rules API");
    let json: Value = serde_json::from_str(&body).expect("rules json");
    let groups = json["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(groups.len(), 4, "{body}");
    for rule in groups
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
    {
        assert_eq!(rule["health"], "ok", "{rule}");
    }

    let mut problems = Vec::new();
    let mut checked = 0;
    let mut skipped = Vec::new();
    let panels = dashboard_queries()
        .into_iter()
        .map(|(f, t, e)| (f, t, grafana_variables(&e)));
    let alerts = rule_queries()
        .into_iter()
        .map(|(g, a, e)| (g, a, without_threshold(&e)));
    for (place, name, expr) in panels.chain(alerts) {
        if stream.is_none() && needs_the_stream(&place) {
            skipped.push(format!("{place}: {name}"));
            continue;
        }
        checked += 1;
        match query(&prometheus, &expr) {
            Ok(result) if result.is_empty() => {
                problems.push(format!("{place}: {name}: no data for `{expr}`"));
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{place}: {name}: `{expr}` failed: {e}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 25, "only {checked} expressions checked");
    if !skipped.is_empty() {
        eprintln!(
            "checked {checked} expressions; skipped without a Kafka broker: {}",
            skipped.join(", ")
        );
    }
}

#[test]
fn thresholds_are_removed_from_alert_expressions() {
    assert_eq!(without_threshold("a / b > 0.1"), "a / b");
    assert_eq!(without_threshold("x == 0\n"), "x");
    assert_eq!(
        without_threshold("rate(x[5m]) > bool y"),
        "rate(x[5m]) > bool y"
    );
    assert_eq!(without_threshold("up"), "up");
}
