//! The orchestrator on PostgreSQL (`DATAFLOW_TEST_POSTGRES_URL`; each test in a schema of its
//! own): every behavioural test of the other modules runs here again on PostgreSQL, under the
//! same name (`cargo test retry_delay` runs both), and two schedulers sharing one database run
//! every task instance of a run exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;

use dataflow_orchestrator::clock::SystemClock;
use dataflow_orchestrator::executor::Scheduler;
use dataflow_orchestrator::spec::load_dags;
use dataflow_orchestrator::state::{RunState, TaskState};
use dataflow_orchestrator::store::Store;

use crate::common::{PgSchema, Project, TestResult, create_run, read, wait_for};
use crate::{clearing, concurrency, history, notifications, retries, runs, schedulers, sensors};

/// One `#[tokio::test]` per pair, running the body (`async fn(Option<&str>)`) on a fresh
/// schema; skipped (with a note) when no server is configured, an error when `CI=true`.
macro_rules! on_postgres {
    ($($name:ident => $body:path),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() -> TestResult {
                let Some(schema) = PgSchema::create().await? else {
                    return Ok(());
                };
                $body(Some(&schema.url)).await?;
                schema.drop_schema().await
            }
        )*
    };
}

on_postgres! {
    trigger_rules_after_failures_and_skips => runs::trigger_rules_on,
    failing_leaf_fails_the_run => runs::failing_leaf_fails_the_run_on,
    handled_failure_before_a_successful_leaf_is_a_successful_run =>
        runs::handled_failure_before_a_successful_leaf_is_a_successful_run_on,
    templates_are_rendered_with_the_run_context =>
        runs::templates_are_rendered_with_the_run_context_on,
    attempt_logs_hold_the_output => runs::attempt_logs_hold_the_output_on,
    execution_timeout_stops_the_process_group =>
        runs::execution_timeout_stops_the_process_group_on,
    failed_attempt_waits_for_its_retry_delay =>
        retries::failed_attempt_waits_for_its_retry_delay_on,
    exhausted_retries_fail_the_task_and_the_run =>
        retries::exhausted_retries_fail_the_task_and_the_run_on,
    exponential_backoff_doubles_the_delay_up_to_the_cap =>
        retries::exponential_backoff_doubles_the_delay_up_to_the_cap_on,
    waiting_sensor_releases_its_slot_and_succeeds_when_the_file_appears =>
        sensors::waiting_sensor_releases_its_slot_and_succeeds_when_the_file_appears_on,
    sensor_timeout_fails_the_task => sensors::sensor_timeout_fails_the_task_on,
    sensor_timeout_with_soft_fail_skips => sensors::sensor_timeout_with_soft_fail_skips_on,
    clearing_a_failed_task_reruns_it_and_its_downstream =>
        clearing::clearing_a_failed_task_reruns_it_and_its_downstream_on,
    worker_slots_bound_parallel_attempts => concurrency::worker_slots_bound_parallel_attempts_on,
    pool_with_one_slot_serializes_its_tasks_by_priority =>
        concurrency::pool_with_one_slot_serializes_its_tasks_by_priority_on,
    failures_retries_sla_misses_and_run_ends_are_posted =>
        notifications::failures_retries_sla_misses_and_run_ends_are_posted_on,
    instances_of_a_run_the_pass_skipped_are_not_claimed =>
        schedulers::instances_of_a_run_the_pass_skipped_are_not_claimed_on,
    stopping_at_once_hands_back_only_its_own_tasks =>
        schedulers::stopping_at_once_hands_back_only_its_own_tasks_on,
    stage_runs_round_trip => history::stage_runs_round_trip_on,
    quality_results_round_trip => history::quality_results_round_trip_on,
}

/// Tasks that start only once `release` exists (so the test can hold both schedulers' slots
/// full before any finishes), then append their id to `shared.txt`.
fn many_tasks(count: usize) -> String {
    let mut yaml = String::from("dag_id: shared\ntasks:\n");
    for i in 0..count {
        yaml.push_str(&format!(
            "  - id: t{i:02}\n    type: shell\n    command: 'n=0; while [ ! -f release ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done; echo \"$DATAFLOW_TASK_ID\" >> shared.txt'\n"
        ));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_run_each_task_exactly_once() -> TestResult {
    let Some(schema) = PgSchema::create().await? else {
        return Ok(());
    };
    const TASKS: usize = 40;
    let project = Project::new()?;
    project.pipeline("shared", &many_tasks(TASKS))?;
    let bag = Arc::new(load_dags(&project.dir)?);
    let mut opts = project.options();
    opts.workers = 2;
    // Each scheduler has its own connection, as two processes would.
    let (store_a, store_b) = (
        Store::open(&schema.url).await?,
        Store::open(&schema.url).await?,
    );
    let mut a = Scheduler::start(
        store_a.clone(),
        bag.clone(),
        opts.clone(),
        Arc::new(SystemClock),
    )
    .await?;
    let mut b = Scheduler::start(store_b, bag.clone(), opts, Arc::new(SystemClock)).await?;
    let ids: BTreeSet<String> = [a.id().to_string(), b.id().to_string()].into();
    let dag = bag.get("shared")?;
    let run = create_run(
        &store_a,
        dag,
        "manual__shared",
        serde_json::Value::Null,
        chrono::Utc::now(),
    )
    .await?;

    let monitor = Store::open(&schema.url).await?;
    let release = async {
        // Both schedulers hold task instances: each has its 2 slots busy with waiting tasks.
        wait_for(&monitor, run.pk, "both schedulers to claim tasks", |tis| {
            let owners: BTreeSet<&str> = tis
                .iter()
                .filter(|t| matches!(t.state, TaskState::Queued | TaskState::Running))
                .filter_map(|t| t.owner.as_deref())
                .collect();
            owners.len() == 2
        })
        .await?;
        std::fs::write(project.path("release"), "")?;
        TestResult::Ok(())
    };
    let timeout = crate::common::PATIENCE;
    let runs = [run.pk];
    let (done_a, done_b, released) = tokio::join!(
        tokio::time::timeout(timeout, a.run_until_done(&runs)),
        tokio::time::timeout(timeout, b.run_until_done(&runs)),
        release,
    );
    released?;
    let done_a = done_a.map_err(|_| "scheduler A did not finish in time")??;
    let done_b = done_b.map_err(|_| "scheduler B did not finish in time")??;
    assert_eq!(done_a[0].state, RunState::Success);
    assert_eq!(done_b[0].state, RunState::Success);
    a.stop().await?;
    b.stop().await?;

    // Every task wrote its id exactly once.
    let text = read(&project.path("shared.txt"))?;
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    let expected: Vec<String> = (0..TASKS).map(|i| format!("t{i:02}")).collect();
    assert_eq!(lines, expected);

    // One attempt per task instance, each run by one of the two schedulers, both of which ran
    // some.
    let mut owners = BTreeSet::new();
    for ti in monitor.tasks(run.pk).await? {
        assert_eq!(ti.state, TaskState::Success, "{}", ti.task_id);
        assert_eq!(ti.try_number, 1, "{}", ti.task_id);
        let attempts = monitor.attempts(ti.pk).await?;
        assert_eq!(attempts.len(), 1, "{}: {attempts:?}", ti.task_id);
        assert_eq!(attempts[0].state, "success");
        let owner = attempts[0].owner.clone().ok_or("attempt without owner")?;
        assert!(ids.contains(&owner), "unknown owner {owner}");
        owners.insert(owner);
    }
    assert_eq!(owners, ids);
    drop((store_a, monitor));
    schema.drop_schema().await
}
