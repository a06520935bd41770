//! The orchestrator on PostgreSQL (`DATAFLOW_TEST_POSTGRES_URL`; each test in a schema of its
//! own): the end-to-end run works there too, and two schedulers sharing one database run every
//! task instance of a run exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;

use dataflow_orchestrator::clock::SystemClock;
use dataflow_orchestrator::executor::Scheduler;
use dataflow_orchestrator::spec::load_dags;
use dataflow_orchestrator::state::{RunState, TaskState};
use dataflow_orchestrator::store::Store;

use crate::common::{PgSchema, Project, TestResult, create_run, read, wait_for};
use crate::runs::trigger_rules_on;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_rules_on_postgres() -> TestResult {
    let Some(schema) = PgSchema::create().await? else {
        return Ok(());
    };
    trigger_rules_on(Some(&schema.url)).await?;
    schema.drop_schema().await
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
