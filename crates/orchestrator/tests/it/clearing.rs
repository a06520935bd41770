//! Clearing: `Store::clear` on a failed task and its downstream reopens the run, and once the
//! cause is fixed the cleared tasks run again (only they) and the run ends in success. The
//! body takes the store URL (SQLite when `None`); `postgres.rs` runs it on PostgreSQL too.

use dataflow_orchestrator::spec::downstream_closure;
use dataflow_orchestrator::state::{RunState, TaskState};

use crate::common::{Setup, TestResult, expect, read};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_a_failed_task_reruns_it_and_its_downstream() -> TestResult {
    clearing_a_failed_task_reruns_it_and_its_downstream_on(None).await
}

/// A failed run, its failed task and downstream cleared, runs them again and succeeds.
pub async fn clearing_a_failed_task_reruns_it_and_its_downstream_on(
    url: Option<&str>,
) -> TestResult {
    let mut h = Setup::new(
        r#"
dag_id: clearing
tasks:
  - id: prepare
    type: shell
    command: "echo prepared >> prepare.log"
  - id: check
    type: shell
    command: "echo checked >> check.log; test -f marker"
    depends_on: prepare
  - id: publish
    type: shell
    command: "echo published >> publish.log"
    depends_on: check
  - id: notify
    type: noop
    depends_on: publish
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
            ("prepare", TaskState::Success),
            ("check", TaskState::Failed),
            ("publish", TaskState::UpstreamFailed),
            ("notify", TaskState::UpstreamFailed),
        ])
    );

    std::fs::write(h.project.path("marker"), "")?;
    let dag = h.dag()?.clone();
    let roots = vec!["check".to_string()];
    let downstream = downstream_closure(&dag.tasks, &roots);
    assert_eq!(
        downstream.iter().map(String::as_str).collect::<Vec<_>>(),
        ["notify", "publish"]
    );
    let targets: Vec<(String, u32)> = roots
        .iter()
        .chain(&downstream)
        .map(|id| Ok((id.clone(), dag.task(id).ok_or("no task")?.retries)))
        .collect::<TestResult<_>>()?;
    assert_eq!(h.store.clear(run.pk, &targets, h.now()).await?, 3);

    let reopened = h.store.run(run.pk).await?.ok_or("no run")?;
    assert_eq!(reopened.state, RunState::Queued);
    assert_eq!(reopened.ended_at, None);
    let check = h.task(run.pk, "check").await?;
    assert_eq!((check.state, check.max_tries), (TaskState::None, 2));

    let run = h.finish(run.pk).await?;
    assert_eq!(run.state, RunState::Success);
    assert!(run.ended_at.is_some());
    assert_eq!(
        h.states(run.pk).await?,
        expect(&[
            ("prepare", TaskState::Success),
            ("check", TaskState::Success),
            ("publish", TaskState::Success),
            ("notify", TaskState::Success),
        ])
    );
    // `prepare` was not cleared and did not run again.
    assert_eq!(read(&h.project.path("prepare.log"))?, "prepared");
    assert_eq!(read(&h.project.path("check.log"))?, "checked\nchecked");
    assert_eq!(read(&h.project.path("publish.log"))?, "published");
    let attempts = h.attempts(run.pk, "check").await?;
    let summary: Vec<(i64, &str)> = attempts
        .iter()
        .map(|a| (a.attempt, a.state.as_str()))
        .collect();
    assert_eq!(summary, [(1, "failed"), (2, "success")]);
    Ok(())
}
