//! Retries on a manual clock, one scheduler pass at a time: a failed attempt waits
//! `retry_delay` as `up_for_retry`, passes before then do not run it, and exponential backoff
//! doubles the delay up to `max_retry_delay`. Each body takes the store URL (SQLite when
//! `None`); `postgres.rs` runs them on PostgreSQL too.

use std::time::Duration;

use chrono::TimeDelta;
use dataflow_orchestrator::spec::load_dag_file;
use dataflow_orchestrator::state::{RunState, TaskState};

use crate::common::{Harness, Project, Setup, TestResult, read, t0};

async fn manual(yaml: &str, url: Option<&str>) -> TestResult<Harness> {
    Setup {
        url,
        manual_clock: true,
        ..Setup::new(yaml)
    }
    .build()
    .await
}

const FLAKY: &str = r#"
dag_id: retrying
tasks:
  - id: flaky
    type: shell
    retries: 2
    retry_delay: 10m
    command: 'echo "try $DATAFLOW_TRY_NUMBER" >> tries.txt; test -f fixed'
  - id: after
    type: noop
    depends_on: flaky
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempt_waits_for_its_retry_delay() -> TestResult {
    failed_attempt_waits_for_its_retry_delay_on(None).await
}

/// A flaky task fails twice, waiting `retry_delay` each time, and succeeds on its last try.
pub async fn failed_attempt_waits_for_its_retry_delay_on(url: Option<&str>) -> TestResult {
    let mut h = manual(FLAKY, url).await?;
    let run = h.create_run(serde_json::Value::Null).await?;

    h.tick(run.pk).await?;
    let flaky = h.task(run.pk, "flaky").await?;
    assert_eq!(flaky.state, TaskState::UpForRetry);
    assert_eq!(flaky.try_number, 1);
    assert_eq!(flaky.max_tries, 3);
    assert_eq!(flaky.next_try_at, Some(t0() + TimeDelta::minutes(10)));
    let attempts = h.attempts(run.pk, "flaky").await?;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].state.as_str(), attempts[0].exit_code),
        ("failed", Some(1))
    );
    assert_eq!(h.task(run.pk, "after").await?.state, TaskState::None);

    // Passes before the delay is over leave it alone.
    h.tick(run.pk).await?;
    h.manual()?
        .advance(TimeDelta::minutes(10) - TimeDelta::seconds(1));
    h.tick(run.pk).await?;
    h.tick(run.pk).await?;
    let flaky = h.task(run.pk, "flaky").await?;
    assert_eq!(flaky.state, TaskState::UpForRetry);
    assert_eq!(flaky.try_number, 1);
    assert_eq!(h.attempts(run.pk, "flaky").await?.len(), 1);
    assert_eq!(read(&h.project.path("tries.txt"))?, "try 1");

    // The delay is over: attempt 2 runs, fails, and waits another 10 minutes (no backoff).
    h.manual()?.advance(TimeDelta::seconds(1));
    h.tick(run.pk).await?;
    let flaky = h.task(run.pk, "flaky").await?;
    assert_eq!(flaky.state, TaskState::UpForRetry);
    assert_eq!(flaky.try_number, 2);
    assert_eq!(flaky.next_try_at, Some(t0() + TimeDelta::minutes(20)));
    assert_eq!(read(&h.project.path("tries.txt"))?, "try 1\ntry 2");

    // Fix the cause; the last attempt succeeds and the run finishes.
    std::fs::write(h.project.path("fixed"), "")?;
    h.manual()?.advance(TimeDelta::minutes(10));
    let states = h
        .tick_until(run.pk, "the run to finish", |_, run| run.is_terminal())
        .await?;
    assert_eq!(states.get("flaky"), Some(&TaskState::Success));
    assert_eq!(states.get("after"), Some(&TaskState::Success));
    assert_eq!(h.task(run.pk, "flaky").await?.try_number, 3);
    let run = h.store.run(run.pk).await?.ok_or("no run")?;
    assert_eq!(run.state, RunState::Success);
    let attempts = h.attempts(run.pk, "flaky").await?;
    let summary: Vec<(i64, &str)> = attempts
        .iter()
        .map(|a| (a.attempt, a.state.as_str()))
        .collect();
    assert_eq!(summary, [(1, "failed"), (2, "failed"), (3, "success")]);
    assert_eq!(read(&h.project.path("tries.txt"))?, "try 1\ntry 2\ntry 3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_fail_the_task_and_the_run() -> TestResult {
    exhausted_retries_fail_the_task_and_the_run_on(None).await
}

/// A task that always fails uses up its retries; it and the run fail.
pub async fn exhausted_retries_fail_the_task_and_the_run_on(url: Option<&str>) -> TestResult {
    let mut h = manual(
        r#"
dag_id: exhausted
tasks:
  - id: broken
    type: shell
    retries: 1
    retry_delay: 30s
    command: "exit 2"
  - id: after
    type: noop
    depends_on: broken
"#,
        url,
    )
    .await?;
    let run = h.create_run(serde_json::Value::Null).await?;
    h.tick(run.pk).await?;
    assert_eq!(h.task(run.pk, "broken").await?.state, TaskState::UpForRetry);
    h.manual()?.advance(TimeDelta::seconds(30));
    let states = h
        .tick_until(run.pk, "the run to finish", |_, run| run.is_terminal())
        .await?;
    assert_eq!(states.get("broken"), Some(&TaskState::Failed));
    assert_eq!(states.get("after"), Some(&TaskState::UpstreamFailed));
    let broken = h.task(run.pk, "broken").await?;
    assert_eq!((broken.try_number, broken.next_try_at), (2, None));
    assert_eq!(h.attempts(run.pk, "broken").await?.len(), 2);
    let run = h.store.run(run.pk).await?.ok_or("no run")?;
    assert_eq!(run.state, RunState::Failed);
    Ok(())
}

const BACKOFF: &str = r#"
dag_id: backoff
tasks:
  - id: backoff
    type: shell
    retries: 4
    retry_delay: 1m
    retry_exponential_backoff: true
    max_retry_delay: 3m
    command: "exit 1"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exponential_backoff_doubles_the_delay_up_to_the_cap() -> TestResult {
    exponential_backoff_doubles_the_delay_up_to_the_cap_on(None).await
}

/// The delays between attempts double from `retry_delay` and stop at `max_retry_delay`.
pub async fn exponential_backoff_doubles_the_delay_up_to_the_cap_on(
    url: Option<&str>,
) -> TestResult {
    let mut h = manual(BACKOFF, url).await?;
    let run = h.create_run(serde_json::Value::Null).await?;
    // 1m, 2m, then 4m and 8m capped at 3m.
    for (attempt, minutes) in [(1, 1), (2, 2), (3, 3), (4, 3)] {
        h.tick(run.pk).await?;
        let ti = h.task(run.pk, "backoff").await?;
        assert_eq!((ti.state, ti.try_number), (TaskState::UpForRetry, attempt));
        let now = h.now();
        assert_eq!(
            ti.next_try_at,
            Some(now + TimeDelta::minutes(minutes)),
            "delay after attempt {attempt}"
        );
        // One second early: nothing runs.
        h.manual()?
            .advance(TimeDelta::minutes(minutes) - TimeDelta::seconds(1));
        h.tick(run.pk).await?;
        assert_eq!(h.task(run.pk, "backoff").await?.try_number, attempt);
        h.manual()?.advance(TimeDelta::seconds(1));
    }
    let states = h
        .tick_until(run.pk, "the run to finish", |_, run| run.is_terminal())
        .await?;
    assert_eq!(states.get("backoff"), Some(&TaskState::Failed));
    assert_eq!(h.attempts(run.pk, "backoff").await?.len(), 5);
    Ok(())
}

#[test]
fn retry_delay_after_failures() -> TestResult {
    let project = Project::new()?;
    let dag = load_dag_file(&project.pipeline("backoff", BACKOFF)?)?;
    let task = dag.task("backoff").ok_or("no task")?;
    let minutes = |n: u64| Duration::from_secs(60 * n);
    assert_eq!(task.retry_delay_after(1), minutes(1));
    assert_eq!(task.retry_delay_after(2), minutes(2));
    assert_eq!(task.retry_delay_after(3), minutes(3));
    assert_eq!(task.retry_delay_after(100), minutes(3));

    let mut uncapped = task.clone();
    uncapped.max_retry_delay = None;
    assert_eq!(uncapped.retry_delay_after(4), minutes(8));
    // Huge failure counts saturate instead of overflowing.
    assert!(uncapped.retry_delay_after(u32::MAX) >= minutes(8));

    let mut flat = task.clone();
    flat.retry_exponential_backoff = false;
    for failures in [1, 2, 5] {
        assert_eq!(flat.retry_delay_after(failures), minutes(1));
    }
    Ok(())
}
