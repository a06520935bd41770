//! DAG notifications against a real HTTP listener: a task's retry and final failure, its SLA
//! miss (recorded once in the store) and the failed run each post one JSON message with a
//! readable `text`. The body takes the store URL (SQLite when `None`); `postgres.rs` runs it
//! on PostgreSQL too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{Setup, TestResult};

/// Accepts HTTP POSTs on a loopback port and sends each JSON body down the channel.
fn webhook() -> TestResult<(u16, mpsc::Receiver<serde_json::Value>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_ok()
                && let Ok(json) = serde_json::from_slice(&body)
            {
                let _ = tx.send(json);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    Ok((port, rx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_retries_sla_misses_and_run_ends_are_posted() -> TestResult {
    failures_retries_sla_misses_and_run_ends_are_posted_on(None).await
}

/// A task that misses its SLA, fails, retries and fails again posts each event once.
pub async fn failures_retries_sla_misses_and_run_ends_are_posted_on(
    url: Option<&str>,
) -> TestResult {
    let (port, rx) = webhook()?;
    let yaml = format!(
        r#"
dag_id: notified
notifications:
  - url: http://127.0.0.1:{port}/hook
    on: [failure, retry, sla_miss, run_failure]
default_args:
  sla: 1h
tasks:
  - id: flaky
    type: shell
    retries: 1
    retry_delay: 0s
    command: echo broken >&2; exit 3
"#
    );
    let mut h = Setup::new(&yaml).on(url).build().await?;
    let run = h.run(serde_json::Value::Null).await?;
    assert_eq!(run.state.as_str(), "failed");

    let mut events = Vec::new();
    while let Ok(body) = rx.recv_timeout(Duration::from_secs(5)) {
        events.push(body);
    }
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for expected in ["sla_miss", "retry", "failure", "run_failure"] {
        assert_eq!(
            names.iter().filter(|n| **n == expected).count(),
            1,
            "one {expected} in {names:?}"
        );
    }
    let failure = events
        .iter()
        .find(|e| e["event"] == "failure")
        .ok_or("no failure event")?;
    assert_eq!(failure["dag_id"], "notified");
    assert_eq!(failure["task_id"], "flaky");
    assert_eq!(failure["try_number"], 2);
    assert!(
        failure["text"]
            .as_str()
            .is_some_and(|t| t.contains("task flaky failed") && t.contains("exited with code 3")),
        "{failure}"
    );
    let misses = h.store.sla_misses(Some("notified")).await?;
    assert_eq!(misses.len(), 1);
    assert_eq!(misses[0].task_id, "flaky");
    Ok(())
}
