//! Several schedulers on one store (two connections to one SQLite file or PostgreSQL schema,
//! as two processes would have): a scheduler claims only for runs it is advancing, and one
//! stopping at once hands back its own task instances, never another live scheduler's. Each
//! body takes the store URL (SQLite when `None`); `postgres.rs` runs them on PostgreSQL too.

use std::collections::BTreeSet;
use std::sync::Arc;

use dataflow_orchestrator::clock::SystemClock;
use dataflow_orchestrator::executor::{Scheduler, Shutdown};
use dataflow_orchestrator::spec::load_dags;
use dataflow_orchestrator::state::{RunState, TaskState};
use dataflow_orchestrator::store::Store;

use crate::common::{Project, Setup, TestResult, create_run, settle, task, wait_for};

/// A task that runs until the test creates `release` (or a minute passes).
const HELD: &str = r#"
dag_id: held
tasks:
  - id: hold
    type: shell
    command: 'n=0; while [ ! -f release ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_of_a_run_the_pass_skipped_are_not_claimed() -> TestResult {
    instances_of_a_run_the_pass_skipped_are_not_claimed_on(None).await
}

/// A pass that does not advance a run (held back by `max_active_runs`) claims none of its
/// instances, even `scheduled` ones.
pub async fn instances_of_a_run_the_pass_skipped_are_not_claimed_on(
    url: Option<&str>,
) -> TestResult {
    // Run 2 waits behind `max_active_runs: 1`. Its instance is made `scheduled` by hand, as
    // it is when another scheduler started the run between this one's read and its own start
    // attempt; this pass does not advance run 2, so it must not claim for it either.
    let mut h = Setup::new(
        "dag_id: single\nmax_active_runs: 1\ntasks:\n  - id: work\n    type: shell\n    command: \"true\"\n",
    )
    .on(url)
    .build()
    .await?;
    let dag = h.dag()?.clone();
    let first = create_run(
        &h.store,
        &dag,
        "manual__1",
        serde_json::Value::Null,
        h.now(),
    )
    .await?;
    let second = create_run(
        &h.store,
        &dag,
        "manual__2",
        serde_json::Value::Null,
        h.now(),
    )
    .await?;
    let work = task(&h.store, second.pk, "work").await?;
    assert!(
        h.store
            .transition(work.pk, TaskState::None, TaskState::Scheduled, h.now())
            .await?
    );
    h.scheduler.only_runs(BTreeSet::from([first.pk, second.pk]));
    h.scheduler.tick().await?;
    settle(&h.store, first.pk).await?;
    let second_run = h.store.run(second.pk).await?.ok_or("no run")?;
    assert_eq!(second_run.state, RunState::Queued);
    let work = task(&h.store, second.pk, "work").await?;
    assert_eq!((work.state, work.owner), (TaskState::Scheduled, None));

    // Both runs finish: the second once the first is done.
    let done = h.scheduler.run_until_done(&[first.pk, second.pk]).await?;
    assert!(
        done.iter().all(|r| r.state == RunState::Success),
        "{done:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_at_once_hands_back_only_its_own_tasks() -> TestResult {
    stopping_at_once_hands_back_only_its_own_tasks_on(None).await
}

/// A second scheduler stopped at once (two Ctrl-C) leaves the first one's running task alone.
pub async fn stopping_at_once_hands_back_only_its_own_tasks_on(url: Option<&str>) -> TestResult {
    let project = Project::new()?;
    project.pipeline("held", HELD)?;
    let bag = Arc::new(load_dags(&project.dir)?);
    let url = url.map_or_else(|| project.sqlite_url(), str::to_string);
    let store_a = Store::open(&url).await?;
    let mut a = Scheduler::start(
        store_a.clone(),
        bag.clone(),
        project.options(),
        Arc::new(SystemClock),
    )
    .await?;
    let run = create_run(
        &store_a,
        bag.get("held")?,
        "manual__held",
        serde_json::Value::Null,
        chrono::Utc::now(),
    )
    .await?;
    a.only_runs(BTreeSet::from([run.pk]));
    a.tick().await?;
    wait_for(&store_a, run.pk, "`hold` to run", |tis| {
        tis.iter().all(|t| t.state == TaskState::Running)
    })
    .await?;

    // Another scheduler starts and is stopped at once (a second Ctrl-C).
    let store_b = Store::open(&url).await?;
    let mut b = Scheduler::start(
        store_b,
        bag.clone(),
        project.options(),
        Arc::new(SystemClock),
    )
    .await?;
    let shutdown = Shutdown::default();
    shutdown.request();
    shutdown.request();
    b.run(shutdown).await?;

    // A's task is still A's, still running, its attempt not orphaned.
    let hold = task(&store_a, run.pk, "hold").await?;
    assert_eq!(hold.state, TaskState::Running);
    assert_eq!(hold.owner.as_deref(), Some(a.id()));
    let attempts = store_a.attempts(hold.pk).await?;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].state, "running");

    std::fs::write(project.path("release"), "")?;
    let done = tokio::time::timeout(crate::common::PATIENCE, a.run_until_done(&[run.pk]))
        .await
        .map_err(|_| "the run did not finish in time")??;
    assert_eq!(done[0].state, RunState::Success);
    let attempts = store_a.attempts(hold.pk).await?;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].state, "success");
    a.stop().await?;
    Ok(())
}
