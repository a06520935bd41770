//! DAG runs end to end with the real scheduler: trigger rules deciding what runs after failures
//! and skips, the run's final state from its leaves, templates rendered with the run context
//! and params, attempt logs, and `execution_timeout` stopping a process group. Each body takes
//! the store URL (SQLite when `None`); `postgres.rs` runs them on PostgreSQL too.

use std::time::Duration;

use dataflow_orchestrator::state::{RunState, TaskState};

use crate::common::{Setup, TestResult, expect, read};

/// Failures and skips flowing through every kind of trigger rule.
pub const TRIGGER_RULES: &str = r#"
dag_id: rules
tasks:
  - id: ok
    type: shell
    command: "true"
  - id: boom
    type: shell
    command: "echo this task fails >&2; exit 1"
  - id: after_boom
    type: noop
    depends_on: boom
  - id: on_failure
    type: shell
    command: "touch on_failure.ran"
    trigger_rule: one_failed
    depends_on: [ok, boom]
  - id: cleanup
    type: noop
    trigger_rule: all_done
    depends_on: [ok, boom]
  - id: guarded
    type: noop
    trigger_rule: none_failed
    depends_on: [ok, boom]
  - id: only_on_failure
    type: noop
    trigger_rule: one_failed
    depends_on: ok
  - id: skipper
    type: shell
    command: "exit 99"
  - id: after_skip
    type: noop
    depends_on: skipper
  - id: tolerant
    type: noop
    trigger_rule: none_failed
    depends_on: [ok, skipper]
"#;

/// Runs [`TRIGGER_RULES`] on the store at `url` (SQLite when `None`) and checks every state.
pub async fn trigger_rules_on(url: Option<&str>) -> TestResult {
    let mut h = Setup {
        url,
        ..Setup::new(TRIGGER_RULES)
    }
    .build()
    .await?;
    let run = h.run(serde_json::Value::Null).await?;
    assert_eq!(run.state, RunState::Failed);
    assert!(run.ended_at.is_some());
    assert_eq!(
        h.states(run.pk).await?,
        expect(&[
            ("ok", TaskState::Success),
            ("boom", TaskState::Failed),
            ("after_boom", TaskState::UpstreamFailed),
            ("on_failure", TaskState::Success),
            ("cleanup", TaskState::Success),
            ("guarded", TaskState::UpstreamFailed),
            ("only_on_failure", TaskState::Skipped),
            ("skipper", TaskState::Skipped),
            ("after_skip", TaskState::Skipped),
            ("tolerant", TaskState::Success),
        ])
    );
    assert!(h.project.path("on_failure.ran").exists());
    let boom = h.attempts(run.pk, "boom").await?;
    assert_eq!(boom.len(), 1);
    assert_eq!(boom[0].state, "failed");
    assert_eq!(boom[0].exit_code, Some(1));
    assert!(
        boom[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("exited with code 1")),
        "{:?}",
        boom[0].error
    );
    let skipper = h.attempts(run.pk, "skipper").await?;
    assert_eq!(skipper.len(), 1);
    assert_eq!(skipper[0].state, "skipped");
    // Tasks a trigger rule decided never ran.
    assert!(h.attempts(run.pk, "after_boom").await?.is_empty());
    assert!(h.attempts(run.pk, "after_skip").await?.is_empty());
    h.scheduler.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_rules_after_failures_and_skips() -> TestResult {
    trigger_rules_on(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_leaf_fails_the_run() -> TestResult {
    failing_leaf_fails_the_run_on(None).await
}

/// A failing leaf fails the run, though another leaf succeeded.
pub async fn failing_leaf_fails_the_run_on(url: Option<&str>) -> TestResult {
    let mut h = Setup::new(
        r#"
dag_id: leaf
tasks:
  - id: a
    type: noop
  - id: b
    type: shell
    command: "exit 3"
    depends_on: a
  - id: c
    type: noop
    depends_on: a
"#,
    )
    .on(url)
    .build()
    .await?;
    let run = h.run(serde_json::Value::Null).await?;
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(
        h.states(run.pk).await?,
        expect(&[
            ("a", TaskState::Success),
            ("b", TaskState::Failed),
            ("c", TaskState::Success),
        ])
    );
    assert_eq!(h.attempts(run.pk, "b").await?[0].exit_code, Some(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_failure_before_a_successful_leaf_is_a_successful_run() -> TestResult {
    handled_failure_before_a_successful_leaf_is_a_successful_run_on(None).await
}

/// A failure handled by a `one_failed` leaf that succeeds is a successful run.
pub async fn handled_failure_before_a_successful_leaf_is_a_successful_run_on(
    url: Option<&str>,
) -> TestResult {
    // Airflow's rule: the leaves decide. The failure was handled by `on_failure`.
    let mut h = Setup::new(
        r#"
dag_id: handled
tasks:
  - id: boom
    type: shell
    command: "exit 1"
  - id: on_failure
    type: noop
    trigger_rule: one_failed
    depends_on: boom
"#,
    )
    .on(url)
    .build()
    .await?;
    let run = h.run(serde_json::Value::Null).await?;
    assert_eq!(
        h.states(run.pk).await?,
        expect(&[
            ("boom", TaskState::Failed),
            ("on_failure", TaskState::Success)
        ])
    );
    assert_eq!(run.state, RunState::Success);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_rendered_with_the_run_context() -> TestResult {
    templates_are_rendered_with_the_run_context_on(None).await
}

/// Commands, map items and environment are rendered with the run context and params.
pub async fn templates_are_rendered_with_the_run_context_on(url: Option<&str>) -> TestResult {
    let mut h = Setup::new(
        r#"
dag_id: templated
params:
  x: default-x
  y: default-y
tasks:
  - id: write
    type: shell
    command: "echo '{{ ds }} {{ params.x }} {{ params.y }} {{ run_id }}' > out.txt"
  - id: each
    type: shell
    map: [alpha, beta]
    command: "echo '{{ item }} {{ ds_nodash }} {{ task_id }}' > item-{{ item }}.txt"
  - id: env
    type: shell
    command: 'echo "$DATAFLOW_DS $DATAFLOW_TASK_ID $DATAFLOW_TRY_NUMBER $GREETING" > env.txt'
    env:
      GREETING: "hello-{{ params.x }}"
"#,
    )
    .on(url)
    .build()
    .await?;
    let run = h.run(serde_json::json!({ "x": "from-conf" })).await?;
    assert_eq!(run.state, RunState::Success);
    let p = &h.project;
    assert_eq!(
        read(&p.path("out.txt"))?,
        "2024-01-02 from-conf default-y manual__it"
    );
    assert_eq!(
        read(&p.path("item-alpha.txt"))?,
        "alpha 20240102 each[alpha]"
    );
    assert_eq!(read(&p.path("item-beta.txt"))?, "beta 20240102 each[beta]");
    assert_eq!(
        read(&p.path("env.txt"))?,
        "2024-01-02 env 1 hello-from-conf"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_logs_hold_the_output() -> TestResult {
    attempt_logs_hold_the_output_on(None).await
}

/// An attempt's log holds its stdout, stderr and outcome.
pub async fn attempt_logs_hold_the_output_on(url: Option<&str>) -> TestResult {
    let mut h = Setup::new(
        r#"
dag_id: logged
tasks:
  - id: talk
    type: shell
    command: "echo to-stdout; echo to-stderr >&2"
  - id: fail
    type: shell
    command: "echo last words; exit 7"
"#,
    )
    .on(url)
    .build()
    .await?;
    let run = h.run(serde_json::Value::Null).await?;
    let talk = h.attempts(run.pk, "talk").await?;
    assert_eq!(talk.len(), 1);
    let path = std::path::PathBuf::from(&talk[0].log_path);
    assert!(
        path.starts_with(h.project.path("logs")),
        "{}",
        path.display()
    );
    assert!(
        path.ends_with("logged/manual__it/talk/attempt=1.log"),
        "{}",
        path.display()
    );
    let log = std::fs::read_to_string(&path)?;
    for needle in ["attempt 1 of 1", "to-stdout", "to-stderr", "success"] {
        assert!(log.contains(needle), "`{needle}` not in the log:\n{log}");
    }
    let fail = h.attempts(run.pk, "fail").await?;
    let log = std::fs::read_to_string(&fail[0].log_path)?;
    for needle in ["last words", "exited with code 7"] {
        assert!(log.contains(needle), "`{needle}` not in the log:\n{log}");
    }
    Ok(())
}

/// Whether a process has exited (gone, or a zombie nobody reaped yet).
fn exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // `pid (comm) S …`: the state follows the last `)`.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_timeout_stops_the_process_group() -> TestResult {
    execution_timeout_stops_the_process_group_on(None).await
}

/// `execution_timeout` stops the whole process group and fails the task.
pub async fn execution_timeout_stops_the_process_group_on(url: Option<&str>) -> TestResult {
    let mut h = Setup::new(
        r#"
dag_id: slow
tasks:
  - id: sleepy
    type: shell
    execution_timeout: 1s
    command: "echo $$ > shell.pid; sleep 30 & echo $! > child.pid; wait"
  - id: after
    type: noop
    depends_on: sleepy
"#,
    )
    .on(url)
    .build()
    .await?;
    let started = std::time::Instant::now();
    let run = h.run(serde_json::Value::Null).await?;
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(
        h.states(run.pk).await?,
        expect(&[
            ("sleepy", TaskState::Failed),
            ("after", TaskState::UpstreamFailed)
        ])
    );
    let attempts = h.attempts(run.pk, "sleepy").await?;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].state, "timeout");
    assert!(
        attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("execution_timeout of 1s exceeded")),
        "{:?}",
        attempts[0].error
    );
    // Not the 30 s the command would take.
    assert!(started.elapsed() < Duration::from_secs(29));
    for file in ["shell.pid", "child.pid"] {
        let pid: i32 = read(&h.project.path(file))?.parse()?;
        // The signal was sent before the attempt was recorded; allow the kernel a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !exited(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(exited(pid), "process {pid} ({file}) still runs");
    }
    Ok(())
}
