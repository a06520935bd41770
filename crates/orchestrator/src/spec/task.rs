//! What a task does: one variant per task type, tagged by `type` in the YAML. String fields may
//! be Jinja templates rendered with the run context just before each attempt.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::duration::DurationSpec;

/// A task's type and its type-specific settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskKind {
    /// Does nothing and succeeds: a join point or placeholder (Airflow's `EmptyOperator`).
    Noop {},
    /// A shell command run with `sh -c`, its output captured in the attempt log. Exit code 99
    /// marks the task skipped, as Airflow's `BashOperator` does.
    Shell {
        /// The command line.
        command: String,
        /// Extra environment variables.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Working directory, relative to the project directory.
        #[serde(default)]
        cwd: Option<String>,
    },
    /// `dataflow ingest` of the named sources (all sources when none are named).
    Ingest {
        /// One source.
        #[serde(default)]
        source: Option<String>,
        /// Several sources.
        #[serde(default)]
        sources: Vec<String>,
    },
    /// `dataflow checkpoint run NAME`: a quality checkpoint.
    Checkpoint {
        /// The checkpoint's name (a file in `checkpoints/`).
        checkpoint: String,
    },
    /// `dataflow models COMMAND` with a dbt-style selector.
    Models {
        /// build (default), run, test, seed or freshness.
        #[serde(default)]
        command: ModelsCommand,
        /// Selectors (`tag:daily`, `+customer_360`, ...).
        #[serde(default)]
        select: Vec<String>,
        /// Excluded selectors.
        #[serde(default)]
        exclude: Vec<String>,
        /// Rebuild incremental models from scratch.
        #[serde(default)]
        full_refresh: bool,
        /// Models built at once.
        #[serde(default)]
        threads: Option<u16>,
    },
    /// A SQL statement on the lake (`dataflow query`).
    Sql {
        /// The statement.
        sql: String,
    },
    /// A data check (Airflow's `SQLCheckOperator`): fails unless every value of the query's
    /// first row is true, a non-zero number or a non-empty string.
    SqlCheck {
        /// The query.
        sql: String,
    },
    /// An HTTP request that must answer with an expected status.
    Http {
        /// The URL.
        url: String,
        /// The method (default GET).
        #[serde(default)]
        method: HttpMethod,
        /// Request headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Request body.
        #[serde(default)]
        body: Option<String>,
        /// Accepted statuses; any 2xx when empty.
        #[serde(default)]
        expected_status: Vec<u16>,
    },
    /// Waits until a file matching a glob (relative to the project directory) exists.
    FileSensor {
        /// A path or glob.
        path: String,
    },
    /// Waits until a query's first value is true, a non-zero number or a non-empty string.
    SqlSensor {
        /// The query.
        sql: String,
    },
    /// Waits until a URL answers with an expected status.
    HttpSensor {
        /// The URL.
        url: String,
        /// Accepted statuses; any 2xx when empty.
        #[serde(default)]
        expected_status: Vec<u16>,
    },
    /// Creates a run of another DAG, optionally waiting for it to finish.
    TriggerDag {
        /// The DAG to trigger.
        trigger_dag_id: String,
        /// Params for the triggered run.
        #[serde(default)]
        conf: serde_json::Map<String, serde_json::Value>,
        /// Wait until the triggered run finishes (and fail if it fails).
        #[serde(default)]
        wait_for_completion: bool,
    },
    /// Posts a JSON message to a webhook.
    Notify {
        /// The webhook URL.
        url: String,
        /// The message text.
        message: String,
    },
}

/// The `dataflow models` command a models task runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelsCommand {
    /// Seeds, models and tests in DAG order.
    #[default]
    Build,
    /// Models only.
    Run,
    /// Tests only.
    Test,
    /// Seeds only.
    Seed,
    /// Source freshness checks.
    Freshness,
}

impl ModelsCommand {
    /// The subcommand's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelsCommand::Build => "build",
            ModelsCommand::Run => "run",
            ModelsCommand::Test => "test",
            ModelsCommand::Seed => "seed",
            ModelsCommand::Freshness => "freshness",
        }
    }
}

/// HTTP methods of `http` tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    #[default]
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// HEAD.
    Head,
}

/// How a sensor waits between pokes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorMode {
    /// Give the worker slot back between pokes (the default): a waiting sensor holds nothing.
    #[default]
    Reschedule,
    /// Keep the slot and poke in a loop.
    Poke,
}

/// Settings shared by the sensor task types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct SensorSettings {
    /// Time between pokes.
    pub poke_interval: DurationSpec,
    /// Give up after waiting this long in total.
    pub timeout: DurationSpec,
    /// On timeout, mark the task skipped instead of failed.
    pub soft_fail: bool,
    /// Whether the slot is released between pokes.
    pub mode: SensorMode,
}

impl TaskKind {
    /// The YAML `type` of this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            TaskKind::Noop {} => "noop",
            TaskKind::Shell { .. } => "shell",
            TaskKind::Ingest { .. } => "ingest",
            TaskKind::Checkpoint { .. } => "checkpoint",
            TaskKind::Models { .. } => "models",
            TaskKind::Sql { .. } => "sql",
            TaskKind::SqlCheck { .. } => "sql_check",
            TaskKind::Http { .. } => "http",
            TaskKind::FileSensor { .. } => "file_sensor",
            TaskKind::SqlSensor { .. } => "sql_sensor",
            TaskKind::HttpSensor { .. } => "http_sensor",
            TaskKind::TriggerDag { .. } => "trigger_dag",
            TaskKind::Notify { .. } => "notify",
        }
    }

    /// Whether this kind is a sensor (pokes until a condition holds).
    pub fn is_sensor(&self) -> bool {
        matches!(
            self,
            TaskKind::FileSensor { .. } | TaskKind::SqlSensor { .. } | TaskKind::HttpSensor { .. }
        ) || matches!(
            self,
            TaskKind::TriggerDag {
                wait_for_completion: true,
                ..
            }
        )
    }

    /// The task types, for error messages.
    pub const TYPES: &'static [&'static str] = &[
        "noop",
        "shell",
        "ingest",
        "checkpoint",
        "models",
        "sql",
        "sql_check",
        "http",
        "file_sensor",
        "sql_sensor",
        "http_sensor",
        "trigger_dag",
        "notify",
    ];
}
