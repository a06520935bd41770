//! `dataflow serve` through the binary: `/metrics` exports what earlier batch commands
//! recorded in the metadata store (checked against the lake, and by `promtool check metrics`),
//! OpenMetrics on request, `/health` and `/ready`, a hosted scheduler whose runs show up in
//! the metrics, a clean exit on SIGTERM, and clear errors for a taken port or an unreachable
//! store.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestProject, dataflow, promtool_accepts, sample};

/// A running `dataflow serve`, killed when dropped (a failing test leaves none behind).
struct Serve {
    child: Child,
    address: String,
}

impl Serve {
    /// Starts `dataflow serve --listen 127.0.0.1:0 ARGS` and reads the address it prints.
    fn start(dir: &Path, args: &[&str]) -> Serve {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("dataflow"))
            .arg("--project-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("test setup");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("serve prints its address");
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Serve { child, address }
    }

    /// `GET path` with extra headers: (status, body).
    fn get(&self, path: &str, headers: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).expect("connect to serve");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{headers}Connection: close\r\n\r\n",
            self.address
        )
        .expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, format!("{head}\r\n\r\n{body}"))
    }

    /// The body of `GET /metrics`.
    fn metrics(&self) -> String {
        let (status, response) = self.get("/metrics", "");
        assert_eq!(status, 200, "{response}");
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn metrics_export_what_batch_commands_recorded() {
    let project = TestProject::new(|c| c);
    project.generate_small();
    project.ingest();
    let serve = Serve::start(project.path(), &["--no-scheduler"]);

    let (status, body) = serve.get("/health", "");
    assert_eq!(status, 200, "{body}");
    let (status, body) = serve.get("/ready", "");
    assert_eq!(status, 200, "{body}");

    let metrics = serve.metrics();
    for table in ["customers", "transactions", "products"] {
        let raw = format!("raw_{table}");
        let loaded = sample(
            &metrics,
            &format!("dataflow_records_processed_total{{stage=\"ingest\",table=\"{raw}\"}}"),
        );
        assert_eq!(loaded, Some(project.count(&raw) as f64), "{raw}\n{metrics}");
        let quarantined = sample(
            &metrics,
            &format!("dataflow_rows_quarantined_total{{stage=\"ingest\",table=\"{raw}\"}}"),
        );
        assert_eq!(
            quarantined,
            Some(project.count(&format!("quarantine_{table}")) as f64),
            "{raw}"
        );
        let age = sample(
            &metrics,
            &format!("dataflow_data_freshness_seconds{{table=\"{raw}\"}}"),
        )
        .unwrap_or(-1.0);
        assert!((0.0..600.0).contains(&age), "{raw} loaded {age} s ago");
    }
    assert_eq!(
        sample(
            &metrics,
            "dataflow_stage_runs_total{stage=\"ingest\",status=\"success\"}"
        ),
        Some(4.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "dataflow_metadata_store_up{backend=\"sqlite\"}"),
        Some(1.0)
    );
    assert!(sample(&metrics, "dataflow_process_resident_memory_bytes").unwrap_or(0.0) > 0.0);
    assert!(metrics.contains("dataflow_build_info{version=\""));
    promtool_accepts(&metrics);

    // A second ingest with no new files loads nothing: counters stay, nothing fresher.
    project.ingest();
    let again = serve.metrics();
    assert_eq!(
        sample(
            &again,
            "dataflow_stage_runs_total{stage=\"ingest\",status=\"success\"}"
        ),
        Some(8.0)
    );
    let key = "dataflow_records_processed_total{stage=\"ingest\",table=\"raw_customers\"}";
    assert_eq!(sample(&again, key), sample(&metrics, key));

    let (status, open) = serve.get("/metrics", "Accept: application/openmetrics-text\r\n");
    assert_eq!(status, 200);
    assert!(
        open.contains("application/openmetrics-text; version=1.0.0"),
        "{open}"
    );
    assert!(open.contains("# TYPE dataflow_records_processed counter"));
    assert!(open.ends_with("# EOF\n"));

    let status = serve.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn serve_hosts_the_scheduler_whose_runs_show_in_the_metrics() {
    let dir = tempfile::tempdir().expect("test setup");
    let d = dir.path();
    std::fs::write(d.join("dataflow.yml"), "name: served\n").expect("test setup");
    std::fs::create_dir(d.join("pipelines")).expect("test setup");
    std::fs::write(
        d.join("pipelines/hello.yml"),
        "dag_id: hello\ntasks:\n  - {id: a, type: noop}\n  - {id: b, type: shell, command: 'exit 3', depends_on: [a]}\n",
    )
    .expect("test setup");
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["dags", "trigger", "hello", "--run-id", "r1"])
        .assert()
        .success();
    let serve = Serve::start(d, &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let metrics = loop {
        let metrics = serve.metrics();
        if sample(
            &metrics,
            "dataflow_dag_runs_total{dag_id=\"hello\",state=\"failed\"}",
        ) == Some(1.0)
        {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "the run never failed:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        sample(
            &metrics,
            "dataflow_task_runs_total{dag_id=\"hello\",state=\"success\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "dataflow_task_runs_total{dag_id=\"hello\",state=\"failed\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "dataflow_pipeline_errors_total{kind=\"task\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "dataflow_task_duration_seconds_count{dag_id=\"hello\"}"
        ),
        Some(2.0)
    );
    assert_eq!(sample(&metrics, "dataflow_schedulers_alive"), Some(1.0));
    let (status, body) = serve.get("/ready", "");
    assert_eq!(status, 200, "{body}");
    promtool_accepts(&metrics);
    let status = serve.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_taken_port_or_an_unreachable_store_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("test setup");
    let d = dir.path();
    std::fs::write(d.join("dataflow.yml"), "name: served\n").expect("test setup");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("test setup");
    let address = taken.local_addr().expect("test setup").to_string();
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["serve", "--no-scheduler", "--listen", &address])
        .timeout(Duration::from_secs(60))
        .assert()
        .failure()
        .stderr(predicates::str::contains(format!(
            "cannot listen on {address}"
        )));
    // Nothing listens on port 1: the error names the host and port of the store.
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["serve", "--no-scheduler", "--listen", "127.0.0.1:0"])
        .env(
            "DATAFLOW__ORCHESTRATOR__METADATA_URL",
            "postgres://dataflow@127.0.0.1:1/meta",
        )
        .timeout(Duration::from_secs(60))
        .assert()
        .failure()
        .stderr(predicates::str::contains("127.0.0.1:1"));
}
