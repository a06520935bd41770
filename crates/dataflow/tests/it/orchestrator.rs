//! The orchestrator through the binary: `kill -9` of `dataflow scheduler` at several points,
//! then a restart — the run resumes, finished tasks are not run again, the interrupted task
//! runs again as a new attempt, and the outputs equal an uninterrupted run's. Plus the
//! commands around runs: trigger, runs show, logs, tasks clear, dags test exit codes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::dataflow;

const CRASH_DAG: &str = r#"
dag_id: crash
tasks:
  - id: first
    type: shell
    command: echo first >> out.txt
  - id: slow
    type: shell
    depends_on: first
    # Marks its start, works for a while, then records its single effect.
    command: echo "slow started $DATAFLOW_TRY_NUMBER" >> trace.txt && sleep 3 && echo slow >> out.txt
  - id: last
    type: shell
    depends_on: slow
    command: echo last >> out.txt
"#;

fn project(dag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("test setup");
    std::fs::write(dir.path().join("dataflow.yml"), "name: orchestrated\n").expect("test setup");
    std::fs::create_dir(dir.path().join("pipelines")).expect("test setup");
    std::fs::write(dir.path().join("pipelines/dag.yml"), dag).expect("test setup");
    dir
}

fn scheduler(dir: &Path) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("dataflow"))
        .arg("--project-dir")
        .arg(dir)
        .arg("scheduler")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("test setup")
}

fn runs_show(dir: &Path, run_id: &str) -> String {
    let out = dataflow()
        .arg("--project-dir")
        .arg(dir)
        .args(["runs", "show", run_id])
        .output()
        .expect("test setup");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn kill_9_at_several_points_then_restart_finishes_the_run_exactly_once() {
    // Kill points: while `slow` runs, and as soon as `first` is recorded as finished. (A kill
    // after a task's effect but before its end is recorded re-runs it: tasks are at least once,
    // which is why ingest and models are idempotent.)
    for kill_point in ["slow running", "first done"] {
        let dir = project(CRASH_DAG);
        let d = dir.path();
        dataflow()
            .arg("--project-dir")
            .arg(d)
            .args(["dags", "trigger", "crash", "--run-id", "r1"])
            .assert()
            .success();
        let mut child = scheduler(d);
        match kill_point {
            "slow running" => wait_for("slow to start", Duration::from_secs(60), || {
                read(&d.join("trace.txt")).contains("slow started 1")
            }),
            // Between tasks: `first` is recorded as done, `slow` may not have started.
            _ => wait_for("first to be recorded", Duration::from_secs(60), || {
                runs_show(d, "r1")
                    .lines()
                    .any(|l| l.contains("| first") && l.contains("success"))
            }),
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let mut child = scheduler(d);
        wait_for("the run to succeed", Duration::from_secs(90), || {
            runs_show(d, "r1").contains("crash r1 [manual] success")
        });
        child.kill().unwrap();
        child.wait().unwrap();

        // Same effects as an uninterrupted run: each task's output exactly once, in order.
        assert_eq!(
            read(&d.join("out.txt")),
            "first\nslow\nlast\n",
            "{kill_point}"
        );
        let show = runs_show(d, "r1");
        let first_row = show.lines().find(|l| l.contains("| first")).unwrap();
        assert!(first_row.contains("1/1"), "first ran once: {show}");
        if kill_point == "slow running" {
            // The interrupted attempt is recorded as orphaned; a second attempt finished it.
            let slow_row = show.lines().find(|l| l.contains("| slow")).unwrap();
            assert!(
                slow_row.contains("2/2"),
                "slow ran again as attempt 2: {show}"
            );
            assert!(read(&d.join("trace.txt")).contains("slow started 2"));
            let log = dataflow()
                .arg("--project-dir")
                .arg(d)
                .args(["logs", "r1", "slow", "--attempt", "2"])
                .output()
                .unwrap();
            assert!(String::from_utf8_lossy(&log.stdout).contains("success"));
        }
    }
}

#[test]
fn dags_test_reports_failure_and_clear_reruns_downstream() {
    let dag = r#"
dag_id: flaky
tasks:
  - id: check
    type: shell
    command: test -f ok.marker
  - id: after
    type: shell
    depends_on: check
    command: echo after >> out.txt
  - id: cleanup
    type: noop
    depends_on: check
    trigger_rule: all_done
"#;
    let dir = project(dag);
    let d = dir.path();
    let out = dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["dags", "test", "flaky"])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("of flaky: failed"), "{text}");
    assert!(text.contains("upstream_failed"), "{text}");
    let run_id = text.split_whitespace().nth(1).unwrap().to_string();
    // Fix the cause, clear the failed task and its downstream, run the scheduler.
    std::fs::write(d.join("ok.marker"), "").unwrap();
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["tasks", "clear", &run_id, "check", "--downstream"])
        .assert()
        .success()
        .stdout(predicates::str::contains("cleared 3 task instance(s)"));
    let mut child = scheduler(d);
    wait_for(
        "the cleared run to succeed",
        Duration::from_secs(60),
        || runs_show(d, &run_id).contains("] success"),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(read(&d.join("out.txt")), "after\n");
    // A typo in a task id gets a suggestion.
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["logs", &run_id, "chek"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("did you mean `check`"));
}

#[test]
fn a_bad_pipeline_file_is_an_error_with_file_and_line() {
    let dir = project("dag_id: broken\ntasks:\n  - id: a\n    type: shel\n    command: true\n");
    dataflow()
        .arg("--project-dir")
        .arg(dir.path())
        .args(["dags", "list"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("dag.yml:4"))
        .stderr(predicates::str::contains("shel"));
}

#[test]
fn the_scheduler_picks_up_new_pipeline_files_and_drains_on_sigterm() {
    let dir = project("dag_id: idle\ntasks:\n  - {id: nothing, type: noop}\n");
    let d = dir.path();
    let mut child = scheduler(d);
    // A new file while the scheduler runs: a DAG due every second.
    std::fs::write(
        d.join("pipelines/ticker.yml"),
        "dag_id: ticker\nschedule: '* * * * * *'\nstart_date: 2024-01-01\ncatchup: false\n\
         max_active_runs: 1\ntasks:\n  - {id: tick, type: shell, command: 'echo tick >> ticks.txt'}\n",
    )
    .unwrap();
    wait_for(
        "a scheduled run of the new DAG",
        Duration::from_secs(60),
        || read(&d.join("ticks.txt")).contains("tick"),
    );
    // SIGTERM while a task runs: the task finishes, then the scheduler exits cleanly.
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["dags", "pause", "ticker"])
        .assert()
        .success();
    std::fs::write(
        d.join("pipelines/slow.yml"),
        "dag_id: slow\ntasks:\n  - id: work\n    type: shell\n    command: echo started > started.txt && sleep 2 && echo done > done.txt\n",
    )
    .unwrap();
    dataflow()
        .arg("--project-dir")
        .arg(d)
        .args(["dags", "trigger", "slow", "--run-id", "s1"])
        .assert()
        .success();
    wait_for("the slow task to start", Duration::from_secs(60), || {
        d.join("started.txt").exists()
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(read(&d.join("done.txt")), "done\n");
    assert!(runs_show(d, "s1").contains("| work"));
    assert!(
        runs_show(d, "s1")
            .lines()
            .any(|l| l.contains("| work") && l.contains("success")),
        "{}",
        runs_show(d, "s1")
    );
}
