//! Shared helpers: a project in a temporary directory with one pipeline file, a store (SQLite
//! in the directory, or a PostgreSQL schema of its own), a scheduler over it, and bounded waits
//! on the store instead of sleeps with expectations about timing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use dataflow_orchestrator::clock::{Clock, ManualClock, SystemClock};
use dataflow_orchestrator::executor::{Scheduler, SchedulerOptions};
use dataflow_orchestrator::spec::{Dag, DagBag, load_dags};
use dataflow_orchestrator::state::{RunState, TaskState};
use dataflow_orchestrator::store::{AttemptRecord, Db, NewRun, RunRecord, Store, TaskRecord};

/// Errors of test code: anything, with a message.
pub type TestError = Box<dyn std::error::Error + Send + Sync>;

/// The result of a test or helper.
pub type TestResult<T = ()> = Result<T, TestError>;

/// The safety net of every wait: far beyond what any test needs, even on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The environment variable naming the PostgreSQL server of the tests.
pub const PG_URL_VAR: &str = "DATAFLOW_TEST_POSTGRES_URL";

/// The instant the manual clocks start at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// A project directory with `pipelines/`, logs and a SQLite store path inside a temporary
/// directory that lives as long as the value.
pub struct Project {
    /// Keeps the directory alive.
    _dir: tempfile::TempDir,
    /// The project directory (canonical, so paths in logs and messages compare equal).
    pub dir: PathBuf,
}

impl Project {
    /// A new, empty project.
    pub fn new() -> TestResult<Project> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().canonicalize()?;
        std::fs::create_dir_all(path.join("pipelines"))?;
        Ok(Project {
            _dir: dir,
            dir: path,
        })
    }

    /// Writes `pipelines/<name>.yml` and returns its path.
    pub fn pipeline(&self, name: &str, yaml: &str) -> TestResult<PathBuf> {
        let path = self.dir.join("pipelines").join(format!("{name}.yml"));
        std::fs::write(&path, yaml)?;
        Ok(path)
    }

    /// A path inside the project.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The URL of a SQLite store in the project.
    pub fn sqlite_url(&self) -> String {
        format!("sqlite:{}", self.dir.join("meta/orchestrator.db").display())
    }

    /// Scheduler options for this project: 4 workers, `dataflow` unavailable, short sleeps.
    pub fn options(&self) -> SchedulerOptions {
        SchedulerOptions {
            project_dir: self.dir.clone(),
            logs_dir: self.dir.join("logs"),
            dataflow_exe: PathBuf::from("/bin/false"),
            workers: 4,
            pools: BTreeMap::new(),
            // Two schedulers in one test must never think each other dead on a slow machine.
            scheduler_timeout: Duration::from_secs(600),
            max_sleep: Duration::from_millis(200),
        }
    }
}

/// A project, its DAGs, a store and a scheduler, ready to run.
pub struct Harness {
    /// The project.
    pub project: Project,
    /// Its DAGs.
    pub bag: Arc<DagBag>,
    /// The store the scheduler uses.
    pub store: Store,
    /// The scheduler.
    pub scheduler: Scheduler,
    /// The manual clock, when the harness was built with one.
    pub clock: Option<Arc<ManualClock>>,
}

/// How to build a harness.
pub struct Setup<'a> {
    /// The pipeline file's text.
    pub yaml: &'a str,
    /// The store URL; a SQLite file in the project when `None`.
    pub url: Option<&'a str>,
    /// Use a manual clock starting at [`t0`] (else the system clock).
    pub manual_clock: bool,
    /// Changes to the default options.
    pub tweak: &'a dyn Fn(&mut SchedulerOptions),
}

impl<'a> Setup<'a> {
    /// SQLite, system clock, default options.
    pub fn new(yaml: &'a str) -> Setup<'a> {
        Setup {
            yaml,
            url: None,
            manual_clock: false,
            tweak: &|_| {},
        }
    }

    /// The same, on the store at `url` (SQLite in the project when `None`).
    pub fn on(self, url: Option<&'a str>) -> Setup<'a> {
        Setup { url, ..self }
    }

    /// Builds the harness.
    pub async fn build(self) -> TestResult<Harness> {
        let project = Project::new()?;
        project.pipeline("dag", self.yaml)?;
        let bag = Arc::new(load_dags(&project.dir)?);
        let url = self
            .url
            .map_or_else(|| project.sqlite_url(), str::to_string);
        let store = Store::open(&url).await?;
        let mut opts = project.options();
        (self.tweak)(&mut opts);
        let manual = self.manual_clock.then(|| Arc::new(ManualClock::new(t0())));
        let clock: Arc<dyn Clock> = match &manual {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let scheduler = Scheduler::start(store.clone(), bag.clone(), opts, clock).await?;
        Ok(Harness {
            project,
            bag,
            store,
            scheduler,
            clock: manual,
        })
    }
}

impl Harness {
    /// The only DAG of the project.
    pub fn dag(&self) -> TestResult<&Dag> {
        Ok(self
            .bag
            .dags
            .values()
            .next()
            .ok_or("the project has no DAG")?)
    }

    /// The current time of the harness's clock.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.clock {
            Some(c) => c.now(),
            None => Utc::now(),
        }
    }

    /// The manual clock.
    pub fn manual(&self) -> TestResult<&ManualClock> {
        Ok(self
            .clock
            .as_deref()
            .ok_or("the harness has no manual clock")?)
    }

    /// Creates a manual run with logical date 2024-01-02 and these params.
    pub async fn create_run(&self, conf: serde_json::Value) -> TestResult<RunRecord> {
        create_run(&self.store, self.dag()?, "manual__it", conf, self.now()).await
    }

    /// Creates a run and runs it to its end with `run_until_done`.
    pub async fn run(&mut self, conf: serde_json::Value) -> TestResult<RunRecord> {
        let run = self.create_run(conf).await?;
        self.finish(run.pk).await
    }

    /// Runs an existing run to its end.
    pub async fn finish(&mut self, run_pk: i64) -> TestResult<RunRecord> {
        let done = tokio::time::timeout(PATIENCE, self.scheduler.run_until_done(&[run_pk]))
            .await
            .map_err(|_| "the run did not finish in time")??;
        Ok(done
            .into_iter()
            .next()
            .ok_or("run_until_done returned no run")?)
    }

    /// The state of every task instance of a run.
    pub async fn states(&self, run_pk: i64) -> TestResult<BTreeMap<String, TaskState>> {
        states(&self.store, run_pk).await
    }

    /// One task instance.
    pub async fn task(&self, run_pk: i64, task_id: &str) -> TestResult<TaskRecord> {
        task(&self.store, run_pk, task_id).await
    }

    /// The attempts of one task instance.
    pub async fn attempts(&self, run_pk: i64, task_id: &str) -> TestResult<Vec<AttemptRecord>> {
        let ti = self.task(run_pk, task_id).await?;
        Ok(self.store.attempts(ti.pk).await?)
    }

    /// One scheduler pass, then waits until no task instance of the run is queued or running
    /// (the attempts a pass launches run on spawned tasks).
    pub async fn tick(&mut self, run_pk: i64) -> TestResult {
        self.scheduler.tick().await?;
        settle(&self.store, run_pk).await
    }

    /// Ticks (without moving the clock) until `done` holds for the run's task instances and
    /// the run itself. A finished attempt's task may still be reaped when the next pass starts,
    /// holding its worker slot for that pass, so this does not count passes.
    pub async fn tick_until(
        &mut self,
        run_pk: i64,
        what: &str,
        done: impl Fn(&BTreeMap<String, TaskState>, RunState) -> bool,
    ) -> TestResult<BTreeMap<String, TaskState>> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            self.tick(run_pk).await?;
            let states = self.states(run_pk).await?;
            let run = self.store.run(run_pk).await?.ok_or("the run vanished")?;
            if done(&states, run.state) {
                return Ok(states);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "timed out waiting for {what}: run {}, {states:?}",
                    run.state
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Creates a run of `dag` with logical date 2024-01-02 (interval from the schedule).
pub async fn create_run(
    store: &Store,
    dag: &Dag,
    run_id: &str,
    conf: serde_json::Value,
    now: DateTime<Utc>,
) -> TestResult<RunRecord> {
    let logical = Utc
        .with_ymd_and_hms(2024, 1, 2, 0, 0, 0)
        .single()
        .ok_or("bad date")?;
    let conf = match conf {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        other => return Err(format!("conf must be an object, not {other}").into()),
    };
    let new = NewRun {
        run_id: run_id.to_string(),
        run_type: "manual".to_string(),
        logical_date: logical,
        interval: dag.schedule.manual_interval(logical),
        conf,
    };
    Ok(store
        .create_run(dag, &new, now)
        .await?
        .ok_or("the run exists already")?)
}

/// The state of every task instance of a run.
pub async fn states(store: &Store, run_pk: i64) -> TestResult<BTreeMap<String, TaskState>> {
    Ok(store
        .tasks(run_pk)
        .await?
        .into_iter()
        .map(|t| (t.task_id, t.state))
        .collect())
}

/// One task instance.
pub async fn task(store: &Store, run_pk: i64, task_id: &str) -> TestResult<TaskRecord> {
    Ok(store
        .tasks(run_pk)
        .await?
        .into_iter()
        .find(|t| t.task_id == task_id)
        .ok_or_else(|| format!("no task instance `{task_id}`"))?)
}

/// Polls until `done` holds for the run's task instances (bounded by [`PATIENCE`]).
pub async fn wait_for(
    store: &Store,
    run_pk: i64,
    what: &str,
    done: impl Fn(&[TaskRecord]) -> bool,
) -> TestResult<Vec<TaskRecord>> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let tis = store.tasks(run_pk).await?;
        if done(&tis) {
            return Ok(tis);
        }
        if tokio::time::Instant::now() > deadline {
            let states: Vec<String> = tis
                .iter()
                .map(|t| format!("{}={}", t.task_id, t.state))
                .collect();
            return Err(format!(
                "timed out waiting for {what}; states: {}",
                states.join(", ")
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no task instance of the run is queued or running.
pub async fn settle(store: &Store, run_pk: i64) -> TestResult {
    wait_for(store, run_pk, "running attempts to finish", |tis| {
        tis.iter()
            .all(|t| !matches!(t.state, TaskState::Queued | TaskState::Running))
    })
    .await
    .map(|_| ())
}

/// A task state map from literal pairs, for comparisons.
pub fn expect(pairs: &[(&str, TaskState)]) -> BTreeMap<String, TaskState> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Reads a file a task wrote, trimmed.
pub fn read(path: &Path) -> TestResult<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", path.display()).into())
}

/// A schema of its own on the test PostgreSQL server, and the URL whose connections use it
/// (the same isolation as the store's own tests in `src/store/db/tests.rs`).
pub struct PgSchema {
    admin: Db,
    name: String,
    /// The URL of the schema.
    pub url: String,
}

impl PgSchema {
    /// `None` (with a note) when no server is configured locally; an error when `CI=true`.
    pub async fn create() -> TestResult<Option<PgSchema>> {
        let base = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                return Err(format!(
                    "{PG_URL_VAR} is not set, and CI=true: the PostgreSQL tests must run in CI \
                     (scripts/test starts a server on loopback and sets it)"
                )
                .into());
            }
            _ => {
                eprintln!(
                    "note: {PG_URL_VAR} is not set, so this PostgreSQL test is skipped \
                     (scripts/test starts a server and sets it)"
                );
                return Ok(None);
            }
        };
        let admin = Db::connect(&base).await?;
        let name = format!("dataflow_it_{}", uuid::Uuid::new_v4().simple());
        admin.execute(&format!("CREATE SCHEMA {name}"), &[]).await?;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        Ok(Some(PgSchema { admin, name, url }))
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) -> TestResult {
        let sql = format!("DROP SCHEMA {} CASCADE", self.name);
        self.admin.execute(&sql, &[]).await?;
        Ok(())
    }
}
