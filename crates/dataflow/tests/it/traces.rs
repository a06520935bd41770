//! OpenTelemetry traces through the binary, received by real OTLP receivers started here: an
//! HTTP/1.1 server on a `TcpListener` answering `POST /v1/traces` (protobuf decoded with
//! opentelemetry-proto), and a tonic gRPC server implementing the collector's `TraceService`.
//! `dataflow dags test` runs a one-task DAG (an ingest) with the `OTEL_*` variables pointing at
//! a receiver; the test checks the span tree: the root `dag_run` span, its `task_attempt`, and
//! under the attempt the child process's `run` span and its `ingest` span — ids derived from the
//! run, one trace across processes, `service.name` = `dataflow`. Also: a command given a
//! `TRACEPARENT` joins that trace, and its JSON log lines (stderr and `--log-file`) carry the
//! trace and span ids.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

use crate::support::TestProject;

/// One received span with its resource's service name, ids as lowercase hex.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    start: u64,
    end: u64,
    attributes: HashMap<String, String>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

fn collect(inbox: &Inbox, request: ExportTraceServiceRequest) {
    let mut got = inbox.lock().expect("inbox");
    for rs in request.resource_spans {
        let resource = attributes(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                got.push(Received {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    start: span.start_time_unix_nano,
                    end: span.end_time_unix_nano,
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf body, keep-alive connections.
fn http_receiver() -> (String, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the HTTP receiver");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let inbox = Inbox::default();
    let shared = inbox.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let inbox = shared.clone();
            std::thread::spawn(move || serve_http(stream, &inbox));
        }
    });
    (endpoint, inbox)
}

fn serve_http(stream: TcpStream, inbox: &Inbox) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let protobuf =
            headers.get("content-type").map(String::as_str) == Some("application/x-protobuf");
        let status = if !request_line.starts_with("POST /v1/traces ") {
            "404 Not Found"
        } else if !protobuf {
            "415 Unsupported Media Type"
        } else {
            match ExportTraceServiceRequest::decode(&body[..]) {
                Ok(request) => {
                    collect(inbox, request);
                    "200 OK"
                }
                Err(_) => "400 Bad Request",
            }
        };
        let reply = ExportTraceServiceResponse::default().encode_to_vec();
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(&reply).is_err() {
            return;
        }
    }
}

/// The gRPC collector service.
struct Collector(Inbox);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        collect(&self.0, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver on its own runtime (dropped with the returned runtime).
fn grpc_receiver() -> (String, Inbox, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the gRPC receiver");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let inbox = Inbox::default();
    let service = TraceServiceServer::new(Collector(inbox.clone()));
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (endpoint, inbox, runtime)
}

/// Waits until a span named `name` has arrived, and returns everything received.
fn wait_for_span(inbox: &Inbox, name: &str) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans = inbox.lock().expect("inbox").clone();
        if spans.iter().any(|s| s.name == name) || Instant::now() > deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn one<'a>(spans: &'a [Received], what: impl Fn(&Received) -> bool, label: &str) -> &'a Received {
    let found: Vec<&Received> = spans.iter().filter(|s| what(s)).collect();
    assert_eq!(found.len(), 1, "one {label} span expected in {spans:#?}");
    found[0]
}

/// The spans from `span` up to the trace's root, by parent ids.
fn ancestors<'a>(spans: &'a [Received], span: &'a Received) -> Vec<&'a Received> {
    let by_id: HashMap<&str, &Received> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut chain = vec![span];
    let mut at = span;
    while let Some(parent) = by_id.get(at.parent.as_str()) {
        chain.push(parent);
        at = parent;
        assert!(chain.len() < 50, "a cycle in the parent ids");
    }
    chain
}

const DAG: &str = "dag_id: traced\ntasks:\n  - id: load\n    type: ingest\n    source: customers\n";

/// Runs `dags test traced` exporting to `endpoint` over `protocol` and checks the trace.
fn dag_run_is_one_trace(protocol: &str, endpoint: &str, inbox: &Inbox) {
    let project = TestProject::new(|c| c);
    project.generate_small();
    std::fs::create_dir_all(project.path().join("pipelines")).expect("test setup");
    std::fs::write(project.path().join("pipelines/traced.yml"), DAG).expect("test setup");
    project
        .cmd()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .args(["dags", "test", "traced"])
        .assert()
        .success();
    let spans = wait_for_span(inbox, "dag_run");

    let run = one(&spans, |s| s.name == "dag_run", "dag_run");
    assert_eq!(run.parent, "", "the DAG run's span is the root");
    assert_eq!(run.attributes["dag_id"], "traced");
    assert_eq!(run.attributes["state"], "success");
    let run_id = &run.attributes["run_id"];
    assert_eq!(
        run.trace_id,
        dataflow_orchestrator::trace::trace_id("traced", run_id).to_string(),
        "the trace id is derived from the DAG and run ids"
    );
    assert_eq!(
        run.span_id,
        dataflow_orchestrator::trace::run_span_id("traced", run_id).to_string()
    );
    let trace: Vec<Received> = spans
        .iter()
        .filter(|s| s.trace_id == run.trace_id)
        .cloned()
        .collect();

    let attempt = one(&trace, |s| s.name == "task_attempt", "task_attempt");
    assert_eq!(
        attempt.parent, run.span_id,
        "the attempt is a child of the run"
    );
    assert_eq!(attempt.attributes["task_id"], "load");
    assert_eq!(attempt.attributes["attempt"], "1");
    assert_eq!(attempt.attributes["state"], "success");
    assert!(run.start <= attempt.start && attempt.end <= run.end);

    // The child process `dataflow ingest --source customers`: its root `run` span hangs under
    // the attempt (TRACEPARENT), its `ingest` span under that.
    let ingest = one(
        &trace,
        |s| {
            s.name == "ingest"
                && s.attributes.get("source").map(String::as_str) == Some("customers")
        },
        "ingest",
    );
    let chain = ancestors(&trace, ingest);
    let names: Vec<&str> = chain.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["ingest", "run", "task_attempt", "dag_run"],
        "{chain:#?}"
    );
    let child_run = chain[1];
    assert_eq!(child_run.attributes["task_id"], "load");
    assert_eq!(child_run.attributes["dag_id"], "traced");
    // The scheduler's own `task` span (its lines about the attempt) also joins the trace.
    let task = one(&trace, |s| s.name == "task", "scheduler task");
    assert_eq!(task.parent, attempt.span_id);

    for span in &trace {
        assert_eq!(span.service, "dataflow", "service.name of {}", span.name);
    }

    // The attempt's log holds the child's JSON lines, each with the run's trace id.
    let out = project
        .cmd()
        .args(["logs", run_id, "load"])
        .assert()
        .success();
    let log = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let json: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!json.is_empty(), "{log}");
    for line in &json {
        assert_eq!(line["trace_id"], run.trace_id.as_str(), "{line}");
    }
}

#[test]
fn traces_over_http_protobuf() {
    let (endpoint, inbox) = http_receiver();
    dag_run_is_one_trace("http/protobuf", &endpoint, &inbox);
}

#[test]
fn traces_over_grpc() {
    let (endpoint, inbox, _runtime) = grpc_receiver();
    dag_run_is_one_trace("grpc", &endpoint, &inbox);
}

#[test]
fn traceparent_is_joined_and_json_logs_carry_the_ids() {
    let (endpoint, inbox) = http_receiver();
    let project = TestProject::new(|c| c);
    project.generate_small();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let log_file = project.path().join("logs/dataflow.jsonl");
    let out = project
        .cmd()
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{endpoint}/v1/traces"),
        )
        .env("OTEL_SERVICE_NAME", "etl")
        .env("TRACEPARENT", format!("00-{trace_id}-{parent_id}-01"))
        .args(["--log-format", "json", "--log-file"])
        .arg(&log_file)
        .args(["ingest", "--source", "customers"])
        .assert()
        .success();
    let spans = wait_for_span(&inbox, "run");
    let run = one(&spans, |s| s.name == "run", "run");
    assert_eq!(
        (run.trace_id.as_str(), run.parent.as_str()),
        (trace_id, parent_id)
    );
    assert_eq!(run.service, "etl");
    let ingest = one(&spans, |s| s.name == "ingest", "ingest");
    assert_eq!(
        (ingest.trace_id.as_str(), ingest.parent.as_str()),
        (trace_id, run.span_id.as_str())
    );

    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let file = std::fs::read_to_string(&log_file).expect("the log file");
    for (what, text) in [("stderr", stderr.as_str()), ("--log-file", file.as_str())] {
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l}")))
            .collect();
        assert!(lines.len() >= 2, "{what}: {text}");
        for line in &lines {
            assert_eq!(line["trace_id"], trace_id, "{what}: {line}");
            let span_id = line["span_id"].as_str().expect("span_id");
            assert!(
                spans.iter().any(|s| s.span_id == span_id),
                "{what}: a span that was not exported: {line}"
            );
        }
        // A line logged inside the `ingest` span carries that span's id.
        let in_ingest = lines
            .iter()
            .find(|l| l["span"]["name"] == "ingest")
            .unwrap_or_else(|| panic!("{what}: no line in the ingest span: {text}"));
        assert_eq!(in_ingest["span_id"], ingest.span_id.as_str());
    }
}

#[test]
fn without_otel_variables_logs_have_no_trace_ids() {
    let project = TestProject::new(|c| c);
    project.generate_small();
    let out = project
        .cmd()
        .env(
            "TRACEPARENT",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .args(["--log-format", "json", "ingest", "--source", "customers"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for line in stderr.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(value.get("trace_id").is_none(), "{line}");
    }
}

#[test]
fn checkpoint_suites_and_models_are_stage_spans() {
    let (endpoint, inbox) = http_receiver();
    let project = crate::models::shop();
    crate::models::write(
        &project,
        "suites/rows.yml",
        "name: orders_rows\nexpectations:\n  - type: expect_column_values_to_not_be_null\n    kwargs: {column: id}\n",
    );
    crate::models::write(
        &project,
        "checkpoints/nightly.yml",
        "validations:\n  - suite: suites/rows.yml\n    data: raw_orders\n    on_failure: warn\n",
    );
    for args in [&["checkpoint", "run", "nightly"][..], &["models", "run"]] {
        project
            .cmd()
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .args(args)
            .assert()
            .success();
    }
    let spans = wait_for_span(&inbox, "model");
    let suite = one(&spans, |s| s.name == "suite", "suite");
    assert_eq!(suite.attributes["suite"], "orders_rows");
    assert_eq!(suite.attributes["data"], "raw_orders");
    assert_eq!(suite.attributes["checkpoint"], "nightly");
    let models: Vec<&Received> = spans.iter().filter(|s| s.name == "model").collect();
    let mut names: Vec<&str> = models
        .iter()
        .map(|s| s.attributes["model"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["customer_totals", "stg_orders"]);
    // Each stage span hangs under its command's root `run` span.
    for stage in models.iter().copied().chain([suite]) {
        let chain = ancestors(&spans, stage);
        assert_eq!(
            chain.last().map(|s| s.name.as_str()),
            Some("run"),
            "{chain:#?}"
        );
        assert_eq!(chain.last().map(|s| s.parent.as_str()), Some(""));
    }
}

/// `dataflow scheduler` exporting to `endpoint`, in the background.
fn scheduler(dir: &std::path::Path, endpoint: &str) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dataflow"))
        .arg("--project-dir")
        .arg(dir)
        .arg("scheduler")
        .env_remove("RUST_LOG")
        .env_remove("TRACEPARENT")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the scheduler")
}

#[test]
fn a_run_finished_by_another_scheduler_is_still_one_trace() {
    let (endpoint, inbox) = http_receiver();
    let dir = tempfile::tempdir().expect("test setup");
    let d = dir.path();
    std::fs::write(d.join("dataflow.yml"), "name: restarted\n").expect("test setup");
    std::fs::create_dir(d.join("pipelines")).expect("test setup");
    std::fs::write(
        d.join("pipelines/dag.yml"),
        "dag_id: restart\ntasks:\n  - id: work\n    type: shell\n    command: \
         if [ \"$DATAFLOW_TRY_NUMBER\" = 1 ]; then touch started && sleep 60; fi\n",
    )
    .expect("test setup");
    crate::support::dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["dags", "trigger", "restart", "--run-id", "r1"])
        .assert()
        .success();
    // The first scheduler dies (SIGKILL) while attempt 1 runs; the second takes it back.
    let mut first = scheduler(d, &endpoint);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.join("started").exists() {
        assert!(Instant::now() < deadline, "attempt 1 did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let mut second = scheduler(d, &endpoint);
    wait_for_span(&inbox, "dag_run");
    // SIGTERM: the second scheduler drains and exits, exporting what it still holds.
    std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .expect("kill -TERM");
    second.wait().expect("the scheduler stops");
    let spans = inbox.lock().expect("inbox").clone();

    let run = one(&spans, |s| s.name == "dag_run", "dag_run");
    assert_eq!(
        run.trace_id,
        dataflow_orchestrator::trace::trace_id("restart", "r1").to_string()
    );
    assert_eq!(run.attributes["state"], "success");
    let attempts: Vec<&Received> = spans.iter().filter(|s| s.name == "task_attempt").collect();
    let state = |n: &str| {
        attempts
            .iter()
            .find(|s| s.attributes["attempt"] == n)
            .map(|s| {
                (
                    s.attributes["state"].as_str(),
                    s.parent.as_str(),
                    s.trace_id.as_str(),
                )
            })
    };
    let under_run = (run.span_id.as_str(), run.trace_id.as_str());
    assert_eq!(
        state("1"),
        Some(("orphaned", under_run.0, under_run.1)),
        "{attempts:#?}"
    );
    assert_eq!(
        state("2"),
        Some(("success", under_run.0, under_run.1)),
        "{attempts:#?}"
    );
}
