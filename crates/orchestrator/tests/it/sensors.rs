//! File sensors in reschedule mode on a manual clock: a waiting sensor gives its worker slot
//! back (`up_for_reschedule`, same try number across pokes), succeeds once the file appears,
//! and on timeout fails, or is skipped with `soft_fail`. Each body takes the store URL (SQLite
//! when `None`); `postgres.rs` runs them on PostgreSQL too.

use chrono::TimeDelta;
use dataflow_orchestrator::state::{RunState, TaskState};

use crate::common::{Harness, Setup, TestResult, t0};

async fn manual(yaml: &str, workers: usize, url: Option<&str>) -> TestResult<Harness> {
    Setup {
        url,
        manual_clock: true,
        tweak: &move |o| o.workers = workers,
        ..Setup::new(yaml)
    }
    .build()
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_sensor_releases_its_slot_and_succeeds_when_the_file_appears() -> TestResult {
    waiting_sensor_releases_its_slot_and_succeeds_when_the_file_appears_on(None).await
}

/// A sensor waiting for a file gives its only slot to another task, then succeeds once the
/// file is there.
pub async fn waiting_sensor_releases_its_slot_and_succeeds_when_the_file_appears_on(
    url: Option<&str>,
) -> TestResult {
    // One worker slot: `other` can only run while the sensor waits if the sensor gave it back.
    let mut h = manual(
        r#"
dag_id: sensing
tasks:
  - id: wait_for_file
    type: file_sensor
    path: "incoming/*.csv"
    poke_interval: 5m
    timeout: 1h
    priority_weight: 10
  - id: other
    type: shell
    command: "touch other.ran"
  - id: load
    type: noop
    depends_on: wait_for_file
"#,
        1,
        url,
    )
    .await?;
    let run = h.create_run(serde_json::Value::Null).await?;

    // The sensor goes first (higher priority), finds nothing and gives its slot back.
    h.tick(run.pk).await?;
    let sensor = h.task(run.pk, "wait_for_file").await?;
    assert_eq!(sensor.state, TaskState::UpForReschedule);
    assert_eq!(sensor.try_number, 1);
    assert_eq!(sensor.next_try_at, Some(t0() + TimeDelta::minutes(5)));
    assert_eq!(sensor.owner, None);
    let attempts = h.attempts(run.pk, "wait_for_file").await?;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].state, "waiting");

    // `other` takes the only slot while the sensor waits.
    let states = h
        .tick_until(run.pk, "`other` to run", |s, _| {
            s.get("other") == Some(&TaskState::Success)
        })
        .await?;
    assert_eq!(
        states.get("wait_for_file"),
        Some(&TaskState::UpForReschedule)
    );
    assert!(h.project.path("other.ran").exists());

    // Next poke: still nothing, same try number, one attempt.
    h.manual()?.advance(TimeDelta::minutes(5));
    h.tick(run.pk).await?;
    let sensor = h.task(run.pk, "wait_for_file").await?;
    assert_eq!(sensor.state, TaskState::UpForReschedule);
    assert_eq!(sensor.try_number, 1);
    assert_eq!(sensor.next_try_at, Some(t0() + TimeDelta::minutes(10)));
    assert_eq!(h.attempts(run.pk, "wait_for_file").await?.len(), 1);

    // The file appears; before the poke interval is over nothing happens.
    std::fs::create_dir_all(h.project.path("incoming"))?;
    std::fs::write(h.project.path("incoming/orders.csv"), "id\n1\n")?;
    h.manual()?.advance(TimeDelta::minutes(4));
    h.tick(run.pk).await?;
    assert_eq!(
        h.task(run.pk, "wait_for_file").await?.state,
        TaskState::UpForReschedule
    );
    h.manual()?.advance(TimeDelta::minutes(1));
    let states = h
        .tick_until(run.pk, "the run to finish", |_, run| run.is_terminal())
        .await?;
    assert_eq!(states.get("wait_for_file"), Some(&TaskState::Success));
    assert_eq!(states.get("load"), Some(&TaskState::Success));
    let sensor = h.task(run.pk, "wait_for_file").await?;
    assert_eq!((sensor.try_number, sensor.waiting_since), (1, None));
    let attempts = h.attempts(run.pk, "wait_for_file").await?;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].state, "success");
    let run = h.store.run(run.pk).await?.ok_or("no run")?;
    assert_eq!(run.state, RunState::Success);
    Ok(())
}

fn timing_out(soft_fail: bool) -> String {
    format!(
        r#"
dag_id: timing_out
tasks:
  - id: wait
    type: file_sensor
    path: never.txt
    poke_interval: 1m
    timeout: 3m
    soft_fail: {soft_fail}
  - id: after
    type: noop
    depends_on: wait
"#
    )
}

/// Pokes every minute until the sensor stops waiting; returns the number of pokes.
async fn poke_until_done(h: &mut Harness, run_pk: i64) -> TestResult<u32> {
    let mut pokes = 0;
    loop {
        h.tick(run_pk).await?;
        let sensor = h.task(run_pk, "wait").await?;
        if sensor.state != TaskState::UpForReschedule {
            // A poke happened in this pass if it was rescheduled or finished.
            return Ok(pokes + u32::from(sensor.state.is_terminal()));
        }
        assert_eq!(sensor.try_number, 1);
        pokes += 1;
        assert!(pokes < 20, "the sensor never timed out");
        h.manual()?.advance(TimeDelta::minutes(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_timeout_fails_the_task() -> TestResult {
    sensor_timeout_fails_the_task_on(None).await
}

/// A sensor that waits past its `timeout` fails, and so does its downstream.
pub async fn sensor_timeout_fails_the_task_on(url: Option<&str>) -> TestResult {
    let mut h = manual(&timing_out(false), 2, url).await?;
    let run = h.create_run(serde_json::Value::Null).await?;
    // Pokes at 0, 1, 2 and 3 minutes; the last one has waited the full 3 minutes.
    assert_eq!(poke_until_done(&mut h, run.pk).await?, 4);
    let sensor = h.task(run.pk, "wait").await?;
    assert_eq!(sensor.state, TaskState::Failed);
    assert_eq!(sensor.try_number, 1);
    let attempts = h.attempts(run.pk, "wait").await?;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].state, "timeout");
    assert!(
        attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("sensor timed out after 3m")),
        "{:?}",
        attempts[0].error
    );
    let states = h
        .tick_until(run.pk, "the run to finish", |_, run| run.is_terminal())
        .await?;
    assert_eq!(states.get("after"), Some(&TaskState::UpstreamFailed));
    let run = h.store.run(run.pk).await?.ok_or("no run")?;
    assert_eq!(run.state, RunState::Failed);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_timeout_with_soft_fail_skips() -> TestResult {
    sensor_timeout_with_soft_fail_skips_on(None).await
}

/// With `soft_fail`, a sensor that times out is skipped and the run succeeds.
pub async fn sensor_timeout_with_soft_fail_skips_on(url: Option<&str>) -> TestResult {
    let mut h = manual(&timing_out(true), 2, url).await?;
    let run = h.create_run(serde_json::Value::Null).await?;
    assert_eq!(poke_until_done(&mut h, run.pk).await?, 4);
    let attempts = h.attempts(run.pk, "wait").await?;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].state, "skipped");
    let states = h
        .tick_until(run.pk, "the run to finish", |_, run| run.is_terminal())
        .await?;
    assert_eq!(states.get("wait"), Some(&TaskState::Skipped));
    assert_eq!(states.get("after"), Some(&TaskState::Skipped));
    let run = h.store.run(run.pk).await?.ok_or("no run")?;
    assert_eq!(run.state, RunState::Success);
    Ok(())
}
