//! One attempt of one task: renders its settings with the run context, then runs it — a
//! process (shell and every `dataflow` subcommand task), an HTTP request, a sensor poke, a
//! webhook, or a trigger of another DAG — and says how it went.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::process::{ProcessEnd, ProcessSpec, run_process};
use crate::spec::{DagBag, HttpMethod, ModelsCommand, TaskKind};
use crate::store::{NewRun, Store};
use crate::template::RunContext;

/// How an attempt went, before retries are considered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done.
    Success,
    /// The task asked to be skipped.
    Skipped(String),
    /// It failed.
    Failed {
        /// What went wrong.
        error: String,
        /// The process's exit code.
        exit_code: Option<i64>,
        /// It ran past `execution_timeout`.
        timed_out: bool,
        /// Whether another attempt may help (false for a bad template or a failed triggered
        /// run, where retrying repeats the same answer).
        retryable: bool,
    },
    /// A sensor's condition does not hold yet.
    NotYet(String),
}

impl Outcome {
    fn failed(error: impl Into<String>) -> Outcome {
        Outcome::Failed {
            error: error.into(),
            exit_code: None,
            timed_out: false,
            retryable: true,
        }
    }
}

/// What an attempt needs from its surroundings.
pub struct AttemptEnv<'a> {
    /// The project directory: working directory of processes, base of relative paths.
    pub project_dir: &'a Path,
    /// The `dataflow` executable that runs ingest, checkpoint, models and SQL tasks.
    pub dataflow_exe: &'a Path,
    /// The store, for `trigger_dag`.
    pub store: &'a Store,
    /// The project's DAGs, for `trigger_dag`.
    pub bag: &'a DagBag,
    /// HTTP client for http tasks, sensors and webhooks.
    pub http: &'a reqwest::Client,
    /// The attempt's log file.
    pub log: &'a std::fs::File,
    /// Kill the attempt after this long.
    pub timeout: Option<Duration>,
    /// The run context.
    pub ctx: &'a RunContext,
    /// The clock's current time, for triggered runs.
    pub now: DateTime<Utc>,
}

impl AttemptEnv<'_> {
    fn log_line(&self, line: &str) {
        let mut log = self.log;
        let _ = writeln!(log, "{line}");
    }
}

/// Runs one attempt of a task (its settings already rendered). `on_start` receives the process
/// group of a process task as soon as it starts.
pub async fn run_attempt(
    kind: &TaskKind,
    env: &AttemptEnv<'_>,
    on_start: impl AsyncFnOnce(i64),
) -> Outcome {
    match kind {
        TaskKind::Noop {} => Outcome::Success,
        TaskKind::Shell {
            command,
            env: vars,
            cwd,
        } => {
            let cwd = cwd
                .as_deref()
                .map(|c| env.project_dir.join(c))
                .unwrap_or_else(|| env.project_dir.to_path_buf());
            let mut all = context_env(env.ctx, env);
            all.extend(vars.clone());
            let spec = ProcessSpec {
                program: Path::new("/bin/sh"),
                args: vec!["-c".to_string(), command.clone()],
                env: all,
                cwd: &cwd,
                timeout: env.timeout,
            };
            process_outcome(&spec, env, on_start, true).await
        }
        TaskKind::Ingest { source, sources } => {
            let mut args = vec!["ingest".to_string()];
            for s in source.iter().chain(sources) {
                args.push("--source".to_string());
                args.push(s.clone());
            }
            dataflow(args, env, on_start).await
        }
        TaskKind::Checkpoint { checkpoint } => {
            dataflow(
                vec!["checkpoint".into(), "run".into(), checkpoint.clone()],
                env,
                on_start,
            )
            .await
        }
        TaskKind::Models {
            command,
            select,
            exclude,
            full_refresh,
            threads,
        } => {
            dataflow(
                models_args(*command, select, exclude, *full_refresh, *threads),
                env,
                on_start,
            )
            .await
        }
        TaskKind::Sql { sql } => {
            dataflow(
                vec!["query".into(), sql.clone(), "--format".into(), "csv".into()],
                env,
                on_start,
            )
            .await
        }
        TaskKind::Http {
            url,
            method,
            headers,
            body,
            expected_status,
        } => match http_request(env, *method, url, headers, body.as_deref()).await {
            Ok((status, text)) if status_ok(status, expected_status) => {
                env.log_line(&format!("{method:?} {url} → {status}\n{}", excerpt(&text)));
                Outcome::Success
            }
            Ok((status, text)) => Outcome::failed(format!(
                "{method:?} {url} answered {status}, expected {}: {}",
                describe_expected(expected_status),
                excerpt(&text)
            )),
            Err(e) => Outcome::failed(e),
        },
        TaskKind::FileSensor { path } => poke_file(env.project_dir, path),
        TaskKind::SqlSensor { sql } => poke_sql(env, sql).await,
        TaskKind::SqlCheck { sql } => match poke_sql(env, sql).await {
            Outcome::NotYet(reason) => Outcome::failed(format!("check failed: {reason}")),
            other => other,
        },
        TaskKind::HttpSensor {
            url,
            expected_status,
        } => match http_request(env, HttpMethod::Get, url, &BTreeMap::new(), None).await {
            Ok((status, _)) if status_ok(status, expected_status) => Outcome::Success,
            Ok((status, _)) => Outcome::NotYet(format!("{url} answered {status}")),
            Err(e) => Outcome::NotYet(e),
        },
        TaskKind::TriggerDag {
            trigger_dag_id,
            conf,
            wait_for_completion,
        } => trigger(env, trigger_dag_id, conf, *wait_for_completion).await,
        TaskKind::Notify { url, message } => {
            let payload = serde_json::json!({
                "text": message,
                "dag_id": env.ctx.dag_id,
                "run_id": env.ctx.run_id,
                "task_id": env.ctx.task_id,
                "logical_date": env.ctx.logical_date,
            });
            match env.http.post(url).json(&payload).send().await {
                Ok(resp) if resp.status().is_success() => Outcome::Success,
                Ok(resp) => Outcome::failed(format!("webhook {url} answered {}", resp.status())),
                Err(e) => Outcome::failed(format!("webhook {url}: {e}")),
            }
        }
    }
}

/// The arguments of a `dataflow models` task.
fn models_args(
    command: ModelsCommand,
    select: &[String],
    exclude: &[String],
    full_refresh: bool,
    threads: Option<u16>,
) -> Vec<String> {
    let mut args = vec!["models".to_string(), command.as_str().to_string()];
    if !select.is_empty() {
        args.push("--select".into());
        args.extend(select.iter().cloned());
    }
    if !exclude.is_empty() {
        args.push("--exclude".into());
        args.extend(exclude.iter().cloned());
    }
    if full_refresh {
        args.push("--full-refresh".into());
    }
    if let Some(t) = threads {
        args.push("--threads".into());
        args.push(t.to_string());
    }
    args
}

/// Environment variables every process task sees: the run context, like Airflow's
/// `AIRFLOW_CTX_*`, and `TRACEPARENT` naming the attempt's span, so a `dataflow` child's spans
/// (or any OpenTelemetry-aware program's) join the run's trace under it.
fn context_env(ctx: &RunContext, env: &AttemptEnv<'_>) -> BTreeMap<String, String> {
    let attempt = crate::trace::AttemptIds {
        dag_id: &ctx.dag_id,
        run_id: &ctx.run_id,
        task_id: &ctx.task_id,
        attempt: ctx.try_number,
    };
    BTreeMap::from([
        (crate::trace::TRACEPARENT.to_string(), attempt.traceparent()),
        (
            "DATAFLOW_BIN".to_string(),
            env.dataflow_exe.to_string_lossy().into_owned(),
        ),
        (
            "DATAFLOW_PROJECT_DIR".to_string(),
            env.project_dir.to_string_lossy().into_owned(),
        ),
        ("DATAFLOW_DAG_ID".to_string(), ctx.dag_id.clone()),
        ("DATAFLOW_RUN_ID".to_string(), ctx.run_id.clone()),
        ("DATAFLOW_TASK_ID".to_string(), ctx.task_id.clone()),
        (
            "DATAFLOW_TRY_NUMBER".to_string(),
            ctx.try_number.to_string(),
        ),
        ("DATAFLOW_DS".to_string(), ctx.ds.clone()),
        (
            "DATAFLOW_LOGICAL_DATE".to_string(),
            ctx.logical_date.clone(),
        ),
        (
            "DATAFLOW_DATA_INTERVAL_START".to_string(),
            ctx.data_interval_start.clone(),
        ),
        (
            "DATAFLOW_DATA_INTERVAL_END".to_string(),
            ctx.data_interval_end.clone(),
        ),
    ])
}

async fn dataflow(
    args: Vec<String>,
    env: &AttemptEnv<'_>,
    on_start: impl AsyncFnOnce(i64),
) -> Outcome {
    let mut full = vec![
        "--project-dir".to_string(),
        env.project_dir.to_string_lossy().into_owned(),
        "--log-format".to_string(),
        "json".to_string(),
    ];
    full.extend(args);
    let spec = ProcessSpec {
        program: env.dataflow_exe,
        args: full,
        env: context_env(env.ctx, env),
        cwd: env.project_dir,
        timeout: env.timeout,
    };
    process_outcome(&spec, env, on_start, false).await
}

async fn process_outcome(
    spec: &ProcessSpec<'_>,
    env: &AttemptEnv<'_>,
    on_start: impl AsyncFnOnce(i64),
    exit_99_skips: bool,
) -> Outcome {
    env.log_line(&format!(
        "$ {} {}",
        spec.program.display(),
        spec.args
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    match run_process(spec, env.log, on_start).await {
        Ok(ProcessEnd::Exited(0)) => Outcome::Success,
        Ok(ProcessEnd::Exited(99)) if exit_99_skips => {
            Outcome::Skipped("the command exited with 99 (skip)".to_string())
        }
        Ok(ProcessEnd::Exited(code)) => Outcome::Failed {
            error: format!("exited with code {code}"),
            exit_code: Some(i64::from(code)),
            timed_out: false,
            retryable: true,
        },
        Ok(ProcessEnd::Signalled(signal)) => Outcome::failed(format!("killed by signal {signal}")),
        Ok(ProcessEnd::TimedOut) => Outcome::Failed {
            error: format!(
                "execution_timeout of {} exceeded; the process group was stopped",
                spec.timeout
                    .map(crate::duration::format_duration)
                    .unwrap_or_default()
            ),
            exit_code: None,
            timed_out: true,
            retryable: true,
        },
        Err(e) => Outcome::failed(format!("cannot start {}: {e}", spec.program.display())),
    }
}

fn shell_quote(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn poke_file(project_dir: &Path, pattern: &str) -> Outcome {
    let full: PathBuf = project_dir.join(pattern);
    let text = full.to_string_lossy();
    match glob::glob(&text) {
        Ok(paths) => {
            if paths.filter_map(|p| p.ok()).next().is_some() {
                Outcome::Success
            } else {
                Outcome::NotYet(format!("nothing matches {text}"))
            }
        }
        Err(e) => Outcome::Failed {
            error: format!("bad path pattern `{pattern}`: {e}"),
            exit_code: None,
            timed_out: false,
            retryable: false,
        },
    }
}

/// Runs the query with `dataflow query --format csv` and reads the first value.
async fn poke_sql(env: &AttemptEnv<'_>, sql: &str) -> Outcome {
    let output = tokio::process::Command::new(env.dataflow_exe)
        .arg("--project-dir")
        .arg(env.project_dir)
        .args(["--log-format", "json", "query", "--format", "csv", sql])
        .current_dir(env.project_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    let output = match output {
        Ok(o) => o,
        Err(e) => return Outcome::failed(format!("cannot run the sensor query: {e}")),
    };
    if !output.status.success() {
        return Outcome::failed(format!(
            "sensor query failed: {}",
            excerpt(&String::from_utf8_lossy(&output.stderr))
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    env.log_line(&format!("{sql}\n{}", excerpt(&text)));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let Some(first_row) = lines.next() else {
        return Outcome::NotYet("the query returned no rows".to_string());
    };
    let falsy: Vec<String> = first_row
        .split(',')
        .enumerate()
        .filter_map(|(i, value)| {
            let v = value.trim().trim_matches('"');
            let truthy = !(v.is_empty()
                || v.eq_ignore_ascii_case("false")
                || v.parse::<f64>().is_ok_and(|n| n == 0.0));
            (!truthy).then(|| format!("{} = `{v}`", header.get(i).unwrap_or(&"?")))
        })
        .collect();
    if falsy.is_empty() {
        Outcome::Success
    } else {
        Outcome::NotYet(format!("the query returned {}", falsy.join(", ")))
    }
}

async fn http_request(
    env: &AttemptEnv<'_>,
    method: HttpMethod,
    url: &str,
    headers: &BTreeMap<String, String>,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let method = match method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Delete => reqwest::Method::DELETE,
        HttpMethod::Head => reqwest::Method::HEAD,
    };
    let mut request = env.http.request(method, url);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    if let Some(t) = env.timeout {
        request = request.timeout(t);
    }
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Ok((status, text))
}

fn status_ok(status: u16, expected: &[u16]) -> bool {
    if expected.is_empty() {
        (200..300).contains(&status)
    } else {
        expected.contains(&status)
    }
}

fn describe_expected(expected: &[u16]) -> String {
    if expected.is_empty() {
        "2xx".to_string()
    } else {
        expected
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

fn excerpt(text: &str) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

/// Creates the triggered run (idempotent per triggering run and task, so a retry does not
/// trigger twice) and, when waiting, reports its state.
async fn trigger(
    env: &AttemptEnv<'_>,
    dag_id: &str,
    conf: &serde_json::Map<String, serde_json::Value>,
    wait: bool,
) -> Outcome {
    let dag = match env.bag.get(dag_id) {
        Ok(d) => d,
        Err(e) => {
            return Outcome::Failed {
                error: e.to_string(),
                exit_code: None,
                timed_out: false,
                retryable: false,
            };
        }
    };
    let run_id = format!(
        "triggered__{}__{}__{}",
        env.ctx.dag_id, env.ctx.run_id, env.ctx.task_id
    );
    let existing = match env.store.run_by_id(dag_id, &run_id).await {
        Ok(r) => r,
        Err(e) => return Outcome::failed(e.to_string()),
    };
    let run = match existing {
        Some(run) => run,
        None => {
            let new = NewRun {
                run_id: run_id.clone(),
                run_type: "manual".to_string(),
                logical_date: env.now,
                interval: dag.schedule.manual_interval(env.now),
                conf: conf.clone(),
            };
            match env.store.create_run(dag, &new, env.now).await {
                Ok(Some(run)) => {
                    env.log_line(&format!("triggered {dag_id} run {run_id}"));
                    run
                }
                Ok(None) => return Outcome::NotYet("the triggered run is being created".into()),
                Err(e) => return Outcome::failed(e.to_string()),
            }
        }
    };
    if !wait {
        return Outcome::Success;
    }
    match run.state {
        crate::state::RunState::Success => Outcome::Success,
        crate::state::RunState::Failed => Outcome::Failed {
            error: format!("triggered run {dag_id}/{run_id} failed"),
            exit_code: None,
            timed_out: false,
            retryable: false,
        },
        state => Outcome::NotYet(format!("triggered run {dag_id}/{run_id} is {state}")),
    }
}
