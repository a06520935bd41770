//! The scheduler loop. Each pass: heartbeat and recover dead schedulers' tasks, create runs
//! that are due, start queued runs within `max_active_runs`, decide each waiting task instance
//! by its trigger rule, release retries and rescheduled sensors whose time has come, record
//! SLA misses, finish runs, then claim scheduled instances into free worker slots and pools
//! and launch them. A finished attempt wakes the loop, so a downstream task starts within
//! milliseconds of its upstream finishing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::attempt::{AttemptEnv, Outcome, run_attempt};
use super::notify::notify;
use super::process::{KILL_GRACE, kill_group};
use crate::clock::Clock;
use crate::error::Result;
use crate::spec::{Dag, DagBag, NotifyEvent, Task};
use crate::state::{Decision, RunState, TaskState, decide};
use crate::store::{Finish, NewRun, RunRecord, SlaMiss, Store, TaskRecord};
use crate::template::{RunContext, render_kind};

/// Slots of `default_pool` unless the project declares it.
const DEFAULT_POOL_SLOTS: u32 = 128;

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The project directory.
    pub project_dir: PathBuf,
    /// Where attempt logs go.
    pub logs_dir: PathBuf,
    /// The `dataflow` executable for ingest, checkpoint, models and SQL tasks.
    pub dataflow_exe: PathBuf,
    /// Worker slots of this process.
    pub workers: usize,
    /// Pool sizes.
    pub pools: BTreeMap<String, u32>,
    /// Another scheduler is dead after this long without a heartbeat.
    pub scheduler_timeout: Duration,
    /// The longest the loop sleeps between passes.
    pub max_sleep: Duration,
}

/// Asks a running scheduler to stop: the first request lets running tasks finish; the second
/// stops them and hands them back to the store for another scheduler (or the next start).
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    requests: Arc<std::sync::atomic::AtomicU32>,
    notify: Arc<Notify>,
}

impl Shutdown {
    /// Requests a stop (call twice to stop at once).
    pub fn request(&self) {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_one();
    }

    fn level(&self) -> u32 {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// State shared with running attempts.
struct Shared {
    id: String,
    store: Store,
    /// The project's DAGs; `run` reloads them from the pipeline files as they change.
    bag: std::sync::RwLock<Arc<DagBag>>,
    opts: SchedulerOptions,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    wake: Notify,
    /// Process groups of attempts running in this process.
    pgids: std::sync::Mutex<HashMap<i64, i64>>,
}

impl Shared {
    fn bag(&self) -> Arc<DagBag> {
        self.bag
            .read()
            .map(|b| b.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}

/// The pipeline files of a project with their modification times, to notice edits.
fn pipeline_files(project_dir: &std::path::Path) -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
    let dir = project_dir.join(crate::spec::PIPELINES_DIR);
    let mut files: Vec<(PathBuf, Option<std::time::SystemTime>)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let modified = e.metadata().and_then(|m| m.modified()).ok();
                    (e.path(), modified)
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// One scheduler process.
pub struct Scheduler {
    shared: Arc<Shared>,
    hostname: String,
    inflight: JoinSet<()>,
    only_runs: Option<BTreeSet<i64>>,
    last_heartbeat: Option<Instant>,
}

impl Scheduler {
    /// Registers a scheduler with the store and takes back what dead schedulers held.
    pub async fn start(
        store: Store,
        bag: Arc<DagBag>,
        opts: SchedulerOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Scheduler> {
        let id = uuid::Uuid::now_v7().to_string();
        let hostname = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".to_string());
        let now = clock.now();
        store.sync_dags(&bag, now).await?;
        store
            .register_scheduler(&id, &hostname, std::process::id(), now)
            .await?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let mut scheduler = Scheduler {
            shared: Arc::new(Shared {
                id,
                store,
                bag: std::sync::RwLock::new(bag),
                opts,
                clock,
                http,
                wake: Notify::new(),
                pgids: std::sync::Mutex::new(HashMap::new()),
            }),
            hostname,
            inflight: JoinSet::new(),
            only_runs: None,
            last_heartbeat: None,
        };
        scheduler.heartbeat().await?;
        Ok(scheduler)
    }

    /// This scheduler's id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Marks this scheduler stopped in the store (after `run_until_done`).
    pub async fn stop(&mut self) -> Result<()> {
        self.inflight.shutdown().await;
        self.shared
            .store
            .stop_scheduler(&self.shared.id, self.shared.clock.now())
            .await
    }

    /// Restricts the scheduler to these runs (`dags test`, `dags backfill`).
    pub fn only_runs(&mut self, runs: BTreeSet<i64>) {
        self.only_runs = Some(runs);
    }

    /// Heartbeat, and recovery of dead schedulers' task instances (stopping their processes
    /// when they ran on this host).
    async fn heartbeat(&mut self) -> Result<()> {
        let now = self.shared.clock.now();
        self.shared.store.heartbeat(&self.shared.id, now).await?;
        let timeout = chrono::Duration::from_std(self.shared.opts.scheduler_timeout)
            .unwrap_or(chrono::Duration::seconds(15));
        let recovered = self
            .shared
            .store
            .recover_orphans(&self.shared.id, &self.hostname, timeout, now)
            .await?;
        for r in recovered {
            if let Some(pgid) = r.pgid {
                kill_group(pgid);
            }
            crate::trace::emit_orphaned(&r, now);
            tracing::warn!(
                task_id = %r.task_id,
                dead_scheduler = %r.owner,
                "took back a task instance from a stopped scheduler; it runs again as a new attempt"
            );
        }
        self.last_heartbeat = Some(Instant::now());
        Ok(())
    }

    /// Creates the runs that are due for every unpaused scheduled DAG. Returns when the next
    /// one falls due.
    pub async fn create_due_runs(&self) -> Result<Option<DateTime<Utc>>> {
        let store = &self.shared.store;
        let now = self.shared.clock.now();
        let paused = store.paused().await?;
        let mut next_due: Option<DateTime<Utc>> = None;
        let bag = self.shared.bag();
        for dag in bag.dags.values() {
            let Some(start) = dag.start_date else {
                continue;
            };
            if paused.contains(&dag.dag_id) || !dag.schedule.is_scheduled() {
                continue;
            }
            let last = store.last_scheduled_interval(&dag.dag_id).await?;
            for interval in dag
                .schedule
                .due_intervals(start, last.as_ref(), now, dag.catchup)
            {
                if dag.end_date.is_some_and(|end| interval.start > end) {
                    continue;
                }
                let new = NewRun {
                    run_id: NewRun::run_id_for("scheduled", interval.start),
                    run_type: "scheduled".to_string(),
                    logical_date: interval.start,
                    interval,
                    conf: serde_json::Map::new(),
                };
                if let Some(run) = store.create_run(dag, &new, now).await? {
                    tracing::info!(dag_id = %dag.dag_id, run_id = %run.run_id, "created scheduled run");
                }
            }
            let last = store.last_scheduled_interval(&dag.dag_id).await?;
            if let Some(due) = dag.schedule.next_due_at(start, last.as_ref())
                && dag.end_date.is_none_or(|end| due <= end)
            {
                next_due = Some(next_due.map_or(due, |n| n.min(due)));
            }
        }
        Ok(next_due)
    }

    /// One pass over the active runs: start, advance and finish them, then launch what is
    /// ready. Finished attempts are reaped first.
    pub async fn tick(&mut self) -> Result<()> {
        while let Some(done) = self.inflight.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "an attempt task panicked");
            }
        }
        let beat_due = self
            .last_heartbeat
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if beat_due {
            self.heartbeat().await?;
        }
        let store = self.shared.store.clone();
        let now = self.shared.clock.now();
        let paused = store.paused().await?;
        let runs = store.active_runs().await?;
        let mut running: HashMap<String, u32> = HashMap::new();
        for (run, _) in &runs {
            if run.state == RunState::Running {
                *running.entry(run.dag_id.clone()).or_default() += 1;
            }
        }
        let mut specs: HashMap<i64, (RunRecord, Arc<Dag>)> = HashMap::new();
        for (mut run, dag) in runs {
            if let Some(only) = &self.only_runs {
                if !only.contains(&run.pk) {
                    continue;
                }
            } else if paused.contains(&run.dag_id) {
                continue;
            }
            if run.state == RunState::Queued {
                let active = running.entry(run.dag_id.clone()).or_default();
                if *active >= dag.max_active_runs {
                    continue;
                }
                if store
                    .set_run_state(run.pk, &[RunState::Queued], RunState::Running, now)
                    .await?
                {
                    *active += 1;
                    run.state = RunState::Running;
                    tracing::info!(dag_id = %run.dag_id, run_id = %run.run_id, "run started");
                } else {
                    continue;
                }
            }
            self.advance(&run, &dag, now).await?;
            specs.insert(run.pk, (run, Arc::new(dag)));
        }
        self.launch(&specs, now).await
    }

    /// Decides waiting task instances of one run and finishes the run when all are done.
    async fn advance(&self, run: &RunRecord, dag: &Dag, now: DateTime<Utc>) -> Result<()> {
        let store = &self.shared.store;
        let tis = store.tasks(run.pk).await?;
        let mut states: HashMap<&str, TaskState> =
            tis.iter().map(|t| (t.task_id.as_str(), t.state)).collect();
        let by_id: HashMap<&str, &TaskRecord> =
            tis.iter().map(|t| (t.task_id.as_str(), t)).collect();
        for task in &dag.tasks {
            let Some(ti) = by_id.get(task.task_id.as_str()) else {
                continue;
            };
            let state = states
                .get(task.task_id.as_str())
                .copied()
                .unwrap_or(ti.state);
            match state {
                TaskState::None => {
                    let ups: Vec<TaskState> = task
                        .upstream
                        .iter()
                        .map(|u| states.get(u.as_str()).copied().unwrap_or(TaskState::None))
                        .collect();
                    let to = match decide(task.trigger_rule, &ups) {
                        Decision::Wait => continue,
                        Decision::Run => TaskState::Scheduled,
                        Decision::Skip => TaskState::Skipped,
                        Decision::UpstreamFailed => TaskState::UpstreamFailed,
                    };
                    if store.transition(ti.pk, TaskState::None, to, now).await? {
                        states.insert(task.task_id.as_str(), to);
                        if to != TaskState::Scheduled {
                            tracing::info!(dag_id = %run.dag_id, run_id = %run.run_id, task_id = %task.task_id, state = %to, "task not run");
                        }
                    }
                }
                TaskState::UpForRetry | TaskState::UpForReschedule
                    if ti.next_try_at.is_none_or(|at| at <= now)
                        && store
                            .transition(ti.pk, state, TaskState::Scheduled, now)
                            .await? =>
                {
                    states.insert(task.task_id.as_str(), TaskState::Scheduled);
                }
                _ => {}
            }
            self.check_sla(
                run,
                dag,
                task,
                states.get(task.task_id.as_str()).copied(),
                now,
            )
            .await?;
        }
        if states.values().all(|s| s.is_terminal()) {
            let failed = dag.leaves().iter().any(|leaf| {
                matches!(
                    states.get(leaf),
                    Some(TaskState::Failed | TaskState::UpstreamFailed)
                )
            });
            let end = if failed {
                RunState::Failed
            } else {
                RunState::Success
            };
            if store
                .set_run_state(run.pk, &[RunState::Running], end, now)
                .await?
            {
                tracing::info!(dag_id = %run.dag_id, run_id = %run.run_id, state = %end, "run finished");
                crate::trace::emit_run(
                    &run.dag_id,
                    &run.run_id,
                    &run.run_type,
                    run.started_at.unwrap_or(run.created_at),
                    now,
                    end.as_str(),
                );
                let event = if failed {
                    NotifyEvent::RunFailure
                } else {
                    NotifyEvent::RunSuccess
                };
                let body = serde_json::json!({
                    "run_id": run.run_id,
                    "state": end.as_str(),
                    "logical_date": run.logical_date.to_rfc3339(),
                });
                notify(&self.shared.http, dag, event, body).await;
            }
        }
        Ok(())
    }

    async fn check_sla(
        &self,
        run: &RunRecord,
        dag: &Dag,
        task: &Task,
        state: Option<TaskState>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(sla) = task.sla else { return Ok(()) };
        if matches!(state, Some(TaskState::Success | TaskState::Skipped)) {
            return Ok(());
        }
        let deadline =
            run.interval_end + chrono::Duration::from_std(sla).unwrap_or(chrono::Duration::MAX / 2);
        if now <= deadline {
            return Ok(());
        }
        let miss = SlaMiss {
            dag_id: run.dag_id.clone(),
            run_id: run.run_id.clone(),
            task_id: task.task_id.clone(),
            deadline,
            detected_at: now,
        };
        if self.shared.store.record_sla_miss(&miss).await? {
            tracing::warn!(
                dag_id = %run.dag_id, run_id = %run.run_id, task_id = %task.task_id,
                deadline = %deadline.to_rfc3339(),
                "SLA missed: the task had not finished by its deadline"
            );
            let body = serde_json::json!({
                "run_id": run.run_id,
                "task_id": task.task_id,
                "deadline": deadline.to_rfc3339(),
                "logical_date": run.logical_date.to_rfc3339(),
            });
            notify(&self.shared.http, dag, NotifyEvent::SlaMiss, body).await;
        }
        Ok(())
    }

    /// Claims scheduled instances into free slots and launches their attempts.
    async fn launch(
        &mut self,
        specs: &HashMap<i64, (RunRecord, Arc<Dag>)>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let store = self.shared.store.clone();
        let mut free = self.shared.opts.workers.saturating_sub(self.inflight.len()) as i64;
        if free == 0 {
            return Ok(());
        }
        // Only runs this pass started or advanced: `specs` is already limited to `only_runs`
        // and unpaused DAGs. A run it skipped (queued behind `max_active_runs`, or started by
        // another scheduler a moment ago) has no spec here, and an instance claimed for it
        // would stay queued under this scheduler's name forever.
        let only: Option<Vec<i64>> = Some(specs.keys().copied().collect());
        for pool in store.pools_with_work().await? {
            if free <= 0 {
                break;
            }
            let slots = self
                .shared
                .opts
                .pools
                .get(&pool)
                .copied()
                .unwrap_or(DEFAULT_POOL_SLOTS);
            let claimed = store
                .claim(
                    &self.shared.id,
                    &pool,
                    i64::from(slots),
                    free,
                    now,
                    only.as_deref(),
                )
                .await?;
            for ti in claimed {
                let Some((run, dag)) = specs.get(&ti.run_pk).cloned() else {
                    continue;
                };
                free -= 1;
                let shared = self.shared.clone();
                self.inflight
                    .spawn(async move { execute(shared, ti, run, dag).await });
            }
        }
        Ok(())
    }

    /// Runs passes until every given run has finished (`dags test`, backfills).
    pub async fn run_until_done(&mut self, runs: &[i64]) -> Result<Vec<RunRecord>> {
        self.only_runs(runs.iter().copied().collect());
        loop {
            self.tick().await?;
            let mut finished = Vec::new();
            for pk in runs {
                if let Some(run) = self.shared.store.run(*pk).await?
                    && run.state.is_terminal()
                {
                    finished.push(run);
                }
            }
            if finished.len() == runs.len() && self.inflight.is_empty() {
                return Ok(finished);
            }
            self.wait(self.shared.opts.max_sleep, None).await;
        }
    }

    /// The scheduler loop, until `shutdown` is requested: creates runs on schedule and runs
    /// everything. On the first request it stops claiming and waits for running attempts;
    /// on a second it stops them and hands them back.
    pub async fn run(&mut self, shutdown: Shutdown) -> Result<()> {
        tracing::info!(scheduler = %self.shared.id, dags = self.shared.bag().dags.len(), "scheduler started");
        let mut files = pipeline_files(&self.shared.opts.project_dir);
        let mut checked = Instant::now();
        loop {
            let level = shutdown.level();
            if level >= 2 {
                self.hand_back().await?;
                break;
            }
            let next_due = if level == 0 {
                if checked.elapsed() >= Duration::from_secs(2) {
                    checked = Instant::now();
                    let now_files = pipeline_files(&self.shared.opts.project_dir);
                    if now_files != files {
                        files = now_files;
                        self.reload().await;
                    }
                }
                let next = self.create_due_runs().await?;
                self.tick().await?;
                next
            } else {
                while let Some(done) = self.inflight.try_join_next() {
                    let _ = done;
                }
                if self.inflight.is_empty() {
                    break;
                }
                None
            };
            let until_due = next_due.map(|due| {
                (due - self.shared.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            });
            let sleep = until_due.map_or(self.shared.opts.max_sleep, |d| {
                d.min(self.shared.opts.max_sleep)
            });
            self.wait(sleep, Some(&shutdown)).await;
        }
        self.shared
            .store
            .stop_scheduler(&self.shared.id, self.shared.clock.now())
            .await?;
        tracing::info!(scheduler = %self.shared.id, "scheduler stopped");
        Ok(())
    }

    /// Loads the pipeline files again after an edit. A file that no longer loads keeps the
    /// DAGs as they were (the error is logged); runs already created keep their own spec.
    async fn reload(&self) {
        match crate::spec::load_dags(&self.shared.opts.project_dir) {
            Ok(bag) => {
                let now = self.shared.clock.now();
                if let Err(e) = self.shared.store.sync_dags(&bag, now).await {
                    tracing::error!(error = %e, "cannot record the reloaded DAGs");
                    return;
                }
                tracing::info!(
                    dags = bag.dags.len(),
                    "pipeline files changed; DAGs reloaded"
                );
                if let Ok(mut current) = self.shared.bag.write() {
                    *current = Arc::new(bag);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "pipeline files changed but do not load; keeping the previous DAGs");
            }
        }
    }

    async fn wait(&self, sleep: Duration, shutdown: Option<&Shutdown>) {
        let stop = async {
            match shutdown {
                Some(s) => s.notify.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.shared.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = stop => {}
        }
    }

    /// Stops this process's running attempts and returns their instances to the store as
    /// orphaned, so the next scheduler runs them again.
    async fn hand_back(&mut self) -> Result<()> {
        let pgids: Vec<i64> = self
            .shared
            .pgids
            .lock()
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        for pgid in pgids {
            kill_group(pgid);
        }
        self.inflight.abort_all();
        let now = self.shared.clock.now();
        // Only this scheduler's instances: other schedulers sharing the store are alive.
        let released = self
            .shared
            .store
            .release_owner(&self.shared.id, now)
            .await?;
        for r in &released {
            crate::trace::emit_orphaned(r, now);
        }
        tracing::warn!(count = released.len(), "handed running task instances back");
        Ok(())
    }
}

/// One attempt, from start to its recorded end.
async fn execute(shared: Arc<Shared>, ti: TaskRecord, run: RunRecord, dag: Arc<Dag>) {
    let store = &shared.store;
    let id = shared.id.as_str();
    let Some(task) = dag.task(&ti.task_id) else {
        tracing::error!(task_id = %ti.task_id, run_id = %run.run_id, "task instance without a task in the run's spec");
        return;
    };
    let task_dir = shared
        .opts
        .logs_dir
        .join(&dag.dag_id)
        .join(&run.run_id)
        .join(&task.task_id);
    let log_path = |attempt: i64| {
        task_dir
            .join(format!("attempt={attempt}.log"))
            .to_string_lossy()
            .into_owned()
    };
    let started = shared.clock.now();
    let attempt = match store.start_attempt(ti.pk, id, log_path, started).await {
        Ok(Some(n)) => n,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, task_id = %task.task_id, "cannot start the attempt");
            return;
        }
    };
    let trace = crate::trace::AttemptIds {
        dag_id: &dag.dag_id,
        run_id: &run.run_id,
        task_id: &task.task_id,
        attempt,
    };
    // Created under the attempt's span, so with tracing on the scheduler's lines about the
    // attempt carry its trace.
    let span = {
        let _cx = trace.context().attach();
        tracing::info_span!("task", dag_id = %dag.dag_id, run_id = %run.run_id, task_id = %task.task_id, attempt)
    };
    let _ = std::fs::create_dir_all(&task_dir);
    let path = log_path(attempt);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .or_else(|_| std::fs::File::create("/dev/null"));
    let Ok(log) = log else {
        tracing::error!(path = %path, "cannot open the attempt log");
        return;
    };
    {
        use std::io::Write;
        let mut l = &log;
        let _ = writeln!(
            l,
            "[{}] {} attempt {attempt} of {} on scheduler {id}",
            started.to_rfc3339(),
            task.task_id,
            ti.max_tries
        );
    }
    tracing::info!(parent: &span, "attempt started");
    let ctx = RunContext::new(
        &dag,
        &run.run_id,
        task,
        run.logical_date,
        (run.interval_start, run.interval_end),
        &run.conf,
        attempt,
    );
    let outcome = match render_kind(&task.kind, &ctx) {
        Err(e) => Outcome::Failed {
            error: e,
            exit_code: None,
            timed_out: false,
            retryable: false,
        },
        Ok(kind) => attempt_with_timeout(&shared, task, &kind, &ctx, &log, ti.pk).await,
    };
    let now = shared.clock.now();
    let finish = to_finish(task, &ti, attempt, outcome, started, now);
    {
        use std::io::Write;
        let mut l = &log;
        let _ = writeln!(l, "[{}] {}", now.to_rfc3339(), describe(&finish));
    }
    if let Ok(mut map) = shared.pgids.lock() {
        map.remove(&ti.pk);
    }
    let recorded = store.finish_attempt(ti.pk, id, attempt, &finish, now).await;
    let (state, error) = match &recorded {
        Ok(false) => ("taken_over", None),
        _ => crate::trace::finish_state(&finish),
    };
    trace.emit(started, now, state, error);
    match recorded {
        Ok(true) => {
            tracing::info!(parent: &span, outcome = %describe(&finish), "attempt finished");
            if let Finish::Failed {
                error, retry_at, ..
            } = &finish
            {
                let event = if retry_at.is_some() {
                    NotifyEvent::Retry
                } else {
                    NotifyEvent::Failure
                };
                let body = serde_json::json!({
                    "run_id": run.run_id,
                    "task_id": task.task_id,
                    "try_number": attempt,
                    "error": error,
                    "retry_at": retry_at.map(|t| t.to_rfc3339()),
                    "log": log_path(attempt),
                    "logical_date": run.logical_date.to_rfc3339(),
                });
                notify(&shared.http, &dag, event, body).await;
            }
        }
        Ok(false) => {
            tracing::warn!(parent: &span, "attempt result dropped: the task instance was taken over")
        }
        Err(e) => tracing::error!(parent: &span, error = %e, "cannot record the attempt's end"),
    }
    shared.wake.notify_one();
}

async fn attempt_with_timeout(
    shared: &Arc<Shared>,
    task: &Task,
    kind: &crate::spec::TaskKind,
    ctx: &RunContext,
    log: &std::fs::File,
    ti_pk: i64,
) -> Outcome {
    let bag = shared.bag();
    let env = AttemptEnv {
        project_dir: &shared.opts.project_dir,
        dataflow_exe: &shared.opts.dataflow_exe,
        store: &shared.store,
        bag: &bag,
        http: &shared.http,
        log,
        timeout: task.execution_timeout,
        ctx,
        now: shared.clock.now(),
    };
    let on_start = async |pgid: i64| {
        if let Ok(mut map) = shared.pgids.lock() {
            map.insert(ti_pk, pgid);
        }
        let _ = shared.store.set_pgid(ti_pk, &shared.id, Some(pgid)).await;
    };
    let body = async {
        match task.sensor {
            // Poke mode keeps the slot: loop here until the condition holds or time runs out.
            Some(settings) if settings.mode == crate::spec::SensorMode::Poke => {
                let began = Instant::now();
                loop {
                    match run_attempt(kind, &env, async |_| {}).await {
                        Outcome::NotYet(reason) if began.elapsed() < settings.timeout.0 => {
                            let mut l = log;
                            let _ =
                                std::io::Write::write_fmt(&mut l, format_args!("poke: {reason}\n"));
                            tokio::time::sleep(settings.poke_interval.0).await;
                        }
                        other => return other,
                    }
                }
            }
            _ => run_attempt(kind, &env, on_start).await,
        }
    };
    match task.execution_timeout {
        Some(limit) => {
            match tokio::time::timeout(limit + KILL_GRACE + Duration::from_secs(1), body).await {
                Ok(o) => o,
                Err(_) => Outcome::Failed {
                    error: format!(
                        "execution_timeout of {} exceeded",
                        crate::duration::format_duration(limit)
                    ),
                    exit_code: None,
                    timed_out: true,
                    retryable: true,
                },
            }
        }
        None => body.await,
    }
}

/// Turns an outcome into the recorded end: retries when allowed, sensor timeouts, reschedules.
fn to_finish(
    task: &Task,
    ti: &TaskRecord,
    attempt: i64,
    outcome: Outcome,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Finish {
    match outcome {
        Outcome::Success => Finish::Success,
        Outcome::Skipped(reason) => Finish::Skipped { reason },
        Outcome::Failed {
            error,
            exit_code,
            timed_out,
            retryable,
        } => {
            let retry_at = (retryable && attempt < ti.max_tries).then(|| {
                let failures = u32::try_from(attempt).unwrap_or(u32::MAX);
                now + chrono::Duration::from_std(task.retry_delay_after(failures))
                    .unwrap_or(chrono::Duration::zero())
            });
            Finish::Failed {
                error,
                exit_code,
                timed_out,
                retry_at,
            }
        }
        Outcome::NotYet(reason) => {
            let Some(settings) = task.sensor else {
                return Finish::Failed {
                    error: reason,
                    exit_code: None,
                    timed_out: false,
                    retry_at: None,
                };
            };
            let since = ti.waiting_since.unwrap_or(started);
            let waited = (now - since).to_std().unwrap_or(Duration::ZERO);
            if waited >= settings.timeout.0 {
                let message = format!(
                    "sensor timed out after {}: {reason}",
                    crate::duration::format_duration(settings.timeout.0)
                );
                if settings.soft_fail {
                    Finish::Skipped { reason: message }
                } else {
                    Finish::Failed {
                        error: message,
                        exit_code: None,
                        timed_out: true,
                        retry_at: None,
                    }
                }
            } else {
                let next = now
                    + chrono::Duration::from_std(settings.poke_interval.0)
                        .unwrap_or(chrono::Duration::seconds(60));
                Finish::Reschedule { at: next }
            }
        }
    }
}

fn describe(finish: &Finish) -> String {
    match finish {
        Finish::Success => "success".to_string(),
        Finish::Skipped { reason } => format!("skipped: {reason}"),
        Finish::Failed {
            error,
            retry_at: Some(at),
            ..
        } => format!("failed, retry at {}: {error}", at.to_rfc3339()),
        Finish::Failed { error, .. } => format!("failed: {error}"),
        Finish::Reschedule { at } => {
            format!("condition not met; poke again at {}", at.to_rfc3339())
        }
    }
}
