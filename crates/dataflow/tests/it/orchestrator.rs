//! The orchestrator through the binary: `kill -9` of `dataflow scheduler` at several points,
//! then a restart — the run resumes, finished tasks are not run again, the interrupted task
//! runs again as a new attempt, and the outputs equal an uninterrupted run's; two scheduler
//! processes on one store run each task of a run exactly once. Both on the project's SQLite
//! file and, with `DATAFLOW__ORCHESTRATOR__METADATA_URL`, on a PostgreSQL schema of their own
//! (when `DATAFLOW_TEST_POSTGRES_URL` is set; required in CI). Plus the commands around runs:
//! trigger, runs show, logs, tasks clear, dags test exit codes.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{PgSchema, dataflow};

/// The setting that points a project's run history at another store.
const METADATA_URL_VAR: &str = "DATAFLOW__ORCHESTRATOR__METADATA_URL";

const CRASH_DAG: &str = r#"
dag_id: crash
tasks:
  - id: first
    type: shell
    command: echo first >> out.txt
  - id: slow
    type: shell
    depends_on: first
    # Marks its start, works for a while, then records its single effect. An attempt started
    # before the kill works for 30 s, so the restarted scheduler has ample time to stop it
    # (an effect recorded twice means the orphan outlived recovery), however loaded the
    # machine; attempts started after the restart take a second.
    command: >
      echo "slow started $DATAFLOW_TRY_NUMBER" >> trace.txt &&
      if [ -f restarted ]; then sleep 1; else sleep 30; fi && echo slow >> out.txt
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

/// `dataflow --project-dir DIR` with the store at `url` (the project's SQLite file when
/// `None`).
fn cli(dir: &Path, url: Option<&str>) -> assert_cmd::Command {
    let mut cmd = dataflow();
    cmd.arg("--project-dir").arg(dir);
    if let Some(url) = url {
        cmd.env(METADATA_URL_VAR, url);
    }
    cmd
}

/// A `dataflow scheduler` process, SIGKILLed and reaped when dropped, so a failing test leaves
/// none behind.
struct SchedulerProcess(Child);

impl SchedulerProcess {
    /// Starts `dataflow scheduler` in the project, on the store at `url`.
    fn start(dir: &Path, url: Option<&str>) -> SchedulerProcess {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("dataflow"));
        cmd.arg("--project-dir")
            .arg(dir)
            .arg("scheduler")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = url {
            cmd.env(METADATA_URL_VAR, url);
        }
        SchedulerProcess(cmd.spawn().expect("test setup"))
    }

    /// SIGKILL, and wait until the process is gone (what dropping it does).
    fn kill(self) {
        drop(self);
    }
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn runs_show(dir: &Path, url: Option<&str>, run_id: &str) -> String {
    let out = cli(dir, url)
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

/// With a store URL, the project's default SQLite file was never created: every invocation
/// used the URL.
fn assert_store_is(dir: &Path, url: Option<&str>) {
    let sqlite = dir.join("target/dataflow.db");
    assert_eq!(sqlite.exists(), url.is_none(), "{}", sqlite.display());
}

/// Where `dataflow scheduler` is killed in [`kill_9_then_restart`].
const KILL_POINTS: [&str; 2] = ["slow running", "first done"];

/// Kills the scheduler with SIGKILL at `kill_point`, restarts it, and checks the run finished
/// exactly once, on the store at `url` (the project's SQLite file when `None`).
fn kill_9_then_restart(kill_point: &str, url: Option<&str>) {
    let dir = project(CRASH_DAG);
    let d = dir.path();
    cli(d, url)
        .args(["dags", "trigger", "crash", "--run-id", "r1"])
        .assert()
        .success();
    let child = SchedulerProcess::start(d, url);
    match kill_point {
        "slow running" => wait_for("slow to start", Duration::from_secs(60), || {
            read(&d.join("trace.txt")).contains("slow started 1")
        }),
        // Between tasks: `first` is recorded as done, `slow` may not have started.
        _ => wait_for("first to be recorded", Duration::from_secs(60), || {
            runs_show(d, url, "r1")
                .lines()
                .any(|l| l.contains("| first") && l.contains("success"))
        }),
    }
    child.kill(); // SIGKILL
    std::fs::write(d.join("restarted"), "").expect("test setup");

    let child = SchedulerProcess::start(d, url);
    wait_for("the run to succeed", Duration::from_secs(90), || {
        runs_show(d, url, "r1").contains("crash r1 [manual] success")
    });
    child.kill();

    // Same effects as an uninterrupted run: each task's output exactly once, in order.
    assert_eq!(
        read(&d.join("out.txt")),
        "first\nslow\nlast\n",
        "{kill_point}"
    );
    let show = runs_show(d, url, "r1");
    let first_row = show
        .lines()
        .find(|l| l.contains("| first"))
        .expect("a row for `first`");
    assert!(first_row.contains("1/1"), "first ran once: {show}");
    if kill_point == "slow running" {
        // The interrupted attempt is recorded as orphaned; a second attempt finished it.
        let slow_row = show
            .lines()
            .find(|l| l.contains("| slow"))
            .expect("a row for `slow`");
        assert!(
            slow_row.contains("2/2"),
            "slow ran again as attempt 2: {show}"
        );
        assert!(read(&d.join("trace.txt")).contains("slow started 2"));
        let log = cli(d, url)
            .args(["logs", "r1", "slow", "--attempt", "2"])
            .output()
            .expect("test setup");
        assert!(String::from_utf8_lossy(&log.stdout).contains("success"));
    }
    assert_store_is(d, url);
}

#[test]
fn kill_9_at_several_points_then_restart_finishes_the_run_exactly_once() {
    // Kill points: while `slow` runs, and as soon as `first` is recorded as finished. (A kill
    // after a task's effect but before its end is recorded re-runs it: tasks are at least once,
    // which is why ingest and models are idempotent.)
    for kill_point in KILL_POINTS {
        kill_9_then_restart(kill_point, None);
    }
}

#[test]
fn kill_9_at_several_points_then_restart_finishes_the_run_exactly_once_on_postgres() {
    // A fresh schema per kill point, as the SQLite version has a fresh project.
    for kill_point in KILL_POINTS {
        let Some(schema) = PgSchema::create() else {
            return;
        };
        kill_9_then_restart(kill_point, Some(&schema.url));
        schema.drop_schema();
    }
}

/// How many independent tasks the two schedulers share.
const SHARED_TASKS: usize = 30;

/// Independent tasks that record which scheduler process started them (`started/<id>` holds
/// its pid), wait until `release` exists (so the test can see both schedulers hold tasks
/// before any finishes; at most a minute), then append their id to `shared.txt`.
fn shared_tasks() -> String {
    let mut yaml = String::from("dag_id: shared\ntasks:\n");
    for i in 0..SHARED_TASKS {
        yaml.push_str(&format!(
            "  - id: t{i:02}\n    type: shell\n    command: 'echo $PPID > \"started/$DATAFLOW_TASK_ID\"; n=0; while [ ! -f release ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done; echo \"$DATAFLOW_TASK_ID\" >> shared.txt'\n"
        ));
    }
    yaml
}

/// The pids of the scheduler processes that started tasks so far.
fn starters(dir: &Path) -> BTreeSet<u32> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|pid| pid.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Two `dataflow scheduler` processes on the store at `url` (the project's SQLite file when
/// `None`) run a run of [`SHARED_TASKS`] independent tasks: both run some, each task runs once.
fn two_schedulers_share_a_run(url: Option<&str>) {
    let dir = project(&shared_tasks());
    let d = dir.path();
    // Four slots each: the schedulers have to keep claiming as tasks finish.
    std::fs::write(
        d.join("dataflow.yml"),
        "name: orchestrated\norchestrator:\n  workers: 4\n",
    )
    .expect("test setup");
    std::fs::create_dir(d.join("started")).expect("test setup");
    cli(d, url)
        .args(["dags", "trigger", "shared", "--run-id", "r1"])
        .assert()
        .success();
    let a = SchedulerProcess::start(d, url);
    let b = SchedulerProcess::start(d, url);
    let pids = BTreeSet::from([a.0.id(), b.0.id()]);
    wait_for(
        "both schedulers to start tasks",
        Duration::from_secs(60),
        || starters(&d.join("started")) == pids,
    );
    std::fs::write(d.join("release"), "").expect("test setup");
    wait_for("the run to succeed", Duration::from_secs(120), || {
        runs_show(d, url, "r1").contains("shared r1 [manual] success")
    });
    a.kill();
    b.kill();

    // Every task appended its id exactly once, and ran as one attempt of one try.
    let text = read(&d.join("shared.txt"));
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    let expected: Vec<String> = (0..SHARED_TASKS).map(|i| format!("t{i:02}")).collect();
    assert_eq!(lines, expected);
    let show = runs_show(d, url, "r1");
    for id in &expected {
        let row = show
            .lines()
            .find(|l| l.starts_with(&format!("| {id} ")))
            .unwrap_or_else(|| panic!("no row for {id}: {show}"));
        assert!(
            row.contains("success") && row.contains(" 1/1 "),
            "{id} ran once: {show}"
        );
    }
    assert_eq!(starters(&d.join("started")), pids);
    assert_store_is(d, url);
}

#[test]
fn two_scheduler_processes_run_each_task_exactly_once() {
    two_schedulers_share_a_run(None);
}

#[test]
fn two_scheduler_processes_run_each_task_exactly_once_on_postgres() {
    let Some(schema) = PgSchema::create() else {
        return;
    };
    two_schedulers_share_a_run(Some(&schema.url));
    schema.drop_schema();
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
    let child = SchedulerProcess::start(d, None);
    wait_for(
        "the cleared run to succeed",
        Duration::from_secs(60),
        || runs_show(d, None, &run_id).contains("] success"),
    );
    child.kill();
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
    let mut child = SchedulerProcess::start(d, None);
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
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(read(&d.join("done.txt")), "done\n");
    assert!(runs_show(d, None, "s1").contains("| work"));
    assert!(
        runs_show(d, None, "s1")
            .lines()
            .any(|l| l.contains("| work") && l.contains("success")),
        "{}",
        runs_show(d, None, "s1")
    );
}
