//! The command line: global options and one subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logging::LogFormat;

/// dataflow: ingest, validate, transform, orchestrate, stream and observe e-commerce data from
/// one binary.
#[derive(Debug, Parser)]
#[command(name = "dataflow", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The project directory (holds dataflow.yml).
    #[arg(long, global = true, env = "DATAFLOW_PROJECT_DIR", default_value = ".")]
    pub project_dir: PathBuf,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `debug` or `info,dataflow_ingest=debug` (default: RUST_LOG or info).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Also write the log, as JSON lines, to this file (rotated by size).
    #[arg(long, global = true, env = "DATAFLOW_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Size at which the log file is rotated to FILE.1 (FILE.1 to FILE.2, ...).
    #[arg(
        long,
        global = true,
        env = "DATAFLOW_LOG_FILE_MAX_MB",
        default_value_t = 50
    )]
    pub log_file_max_mb: u64,
    /// Rotated log files kept (FILE.1 to FILE.N); older ones are deleted.
    #[arg(
        long,
        global = true,
        env = "DATAFLOW_LOG_FILE_KEEP",
        default_value_t = 5
    )]
    pub log_file_keep: u32,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the example e-commerce project end to end on generated data.
    Demo(DemoArgs),
    /// Generate deterministic synthetic e-commerce data with injected defects.
    Generate(GenerateArgs),
    /// Load the project's sources into the lake (atomic, idempotent).
    Ingest(IngestArgs),
    /// Build dbt-style SQL models into the lake (run, compile, ls).
    Models(ModelsArgs),
    /// Run SQL over the lake tables and print the result.
    Query(QueryArgs),
    /// List the lake's tables with versions, files and rows.
    Tables(TablesArgs),
    /// Pipelines (DAGs): list, show, trigger, backfill, pause, unpause, test.
    Dags(DagsArgs),
    /// DAG runs: list and show, with task states.
    Runs(RunsArgs),
    /// Task instances: clear them so they run again.
    Tasks(TasksArgs),
    /// Print the log of a task attempt.
    Logs(LogsArgs),
    /// Run the scheduler in the foreground (SIGTERM: finish running tasks, then stop; a
    /// second SIGTERM stops them and hands them back).
    Scheduler(SchedulerArgs),
    /// Alerts from the metadata store: evaluate the alert conditions and deliver them to the
    /// webhook and Alertmanager of `alerts:` in dataflow.yml, or list them.
    Alerts(AlertsArgs),
    /// One screen for operators: last runs per DAG, failing checks, stale tables, open alerts.
    Status,
    /// Serve /metrics (Prometheus), /health and /ready over HTTP, and run the scheduler in the
    /// same process (unless --no-scheduler or `serve.scheduler: false`).
    Serve(ServeArgs),
    /// Validate a lake table against a Great Expectations suite (GE 1.x/0.x JSON or YAML).
    Validate(ValidateArgs),
    /// Run a checkpoint (checkpoints/NAME.yml): suites on datasets, with fail, warn or
    /// quarantine policies.
    Checkpoint(CheckpointArgs),
    /// Data quality tools: profile a table and suggest a suite.
    Quality(QualityArgs),
    /// Process a stream (streams/NAME.yml) continuously: read its Kafka topics as a consumer
    /// group member, validate and flag events, write micro-batches to the lake and PostgreSQL
    /// (SIGTERM: write and commit the open batch, then stop).
    Stream(StreamArgs),
    /// Publish generated transaction and customer events (with defects, malformed JSON
    /// included) to a stream's Kafka topics.
    Produce(ProduceArgs),
}

/// Options of `quality`.
#[derive(Debug, Args)]
pub struct QualityArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: QualityAction,
}

/// `quality` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum QualityAction {
    /// Column statistics of a table (or CSV/Parquet file) and a suggested suite (GE 1.x JSON).
    Profile {
        /// A lake table, saved view, or CSV/Parquet file.
        data: String,
        /// Where to write the suggested suite (default target/profiles/<data>.json).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Checkpoint results recorded in the metadata store, newest first.
    Results {
        /// Only results of this dataset (table or file).
        #[arg(long)]
        data: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// Options of `alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: AlertsAction,
}

/// `alerts` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum AlertsAction {
    /// Evaluate every condition now; record new and resolved alerts; send what is due.
    Evaluate,
    /// Alerts firing now and those resolved in the last day.
    List,
}

/// Options of `checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: CheckpointAction,
}

/// `checkpoint` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum CheckpointAction {
    /// Run checkpoints/NAME.yml.
    Run {
        /// The checkpoint's name (its file stem).
        name: String,
    },
}

/// GE's result formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultFormatArg {
    /// `success` only.
    BooleanOnly,
    /// Counts and the first 20 unexpected values.
    Basic,
    /// BASIC plus value counts.
    Summary,
    /// Every unexpected value.
    Complete,
}

/// Options of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The expectation suite file (relative paths not found from the current directory are
    /// looked up in the project directory).
    #[arg(long)]
    pub suite: PathBuf,
    /// What to validate: a lake table (or saved view) name, or a CSV, JSON lines or Parquet
    /// file. A file of a declared source (its `path` names the file) is read with the source's
    /// schema and rules, bad rows left out and counted as `ingest` would quarantine them,
    /// without loading it; other CSV and Parquet files with inferred types.
    #[arg(long, alias = "table")]
    pub data: String,
    /// Read the file with this source's schema even when the source's path does not name it.
    #[arg(long)]
    pub source: Option<String>,
    /// GE's result_format.
    #[arg(long, value_enum, default_value_t = ResultFormatArg::Summary)]
    pub result_format: ResultFormatArg,
    /// GE's unexpected_index_column_names: report each unexpected row by these columns
    /// (comma-separated), e.g. `--index-columns id`.
    #[arg(long, value_delimiter = ',')]
    pub index_columns: Vec<String>,
    /// Where to write the GE-shaped validation result (default
    /// target/validations/<suite>.<table>.json).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Output format of generated files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataFormat {
    /// CSV with a header row.
    Csv,
    /// Snappy Parquet.
    Parquet,
}

/// Options of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output directory.
    #[arg(long, default_value = "data/incoming")]
    pub out: PathBuf,
    /// Seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Distinct customers.
    #[arg(long, default_value_t = 10_000)]
    pub customers: u64,
    /// Transactions.
    #[arg(long, default_value_t = 100_000)]
    pub transactions: u64,
    /// Products.
    #[arg(long, default_value_t = 1_000)]
    pub products: u64,
    /// Clickstream events (default: as many as transactions).
    #[arg(long)]
    pub events: Option<u64>,
    /// File format.
    #[arg(long, value_enum, default_value_t = DataFormat::Csv)]
    pub format: DataFormat,
    /// Probability that a row carries a defect.
    #[arg(long, default_value_t = 0.015)]
    pub defect_rate: f64,
    /// First day of the generated period (YYYY-MM-DD).
    #[arg(long, default_value = "2022-01-01")]
    pub start_date: String,
    /// Last day of the generated period (YYYY-MM-DD, or `today`).
    #[arg(long, default_value = "2024-12-31")]
    pub end_date: String,
}

/// Options of `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Only these sources (default: all).
    #[arg(long = "source", value_name = "NAME")]
    pub sources: Vec<String>,
}

/// Result format of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per row.
    Json,
}

/// Options of `query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL statement.
    pub sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = QueryFormat::Table)]
    pub format: QueryFormat,
}

/// Options of `tables`.
#[derive(Debug, Args)]
pub struct TablesArgs {}

/// Options of `dags`.
#[derive(Debug, Args)]
pub struct DagsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: DagsAction,
}

/// `dags` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum DagsAction {
    /// List the project's DAGs with schedule, pause state and latest run.
    List,
    /// Print a DAG's tasks as a graph.
    Show {
        /// The DAG.
        dag_id: String,
    },
    /// Create a manual run; a running scheduler executes it.
    Trigger {
        /// The DAG.
        dag_id: String,
        /// Params for the run, as a JSON object (`{"full_refresh": true}`).
        #[arg(long)]
        conf: Option<String>,
        /// The logical date (default: now).
        #[arg(long)]
        logical_date: Option<String>,
        /// The run's id (default: `manual__<logical date>`).
        #[arg(long)]
        run_id: Option<String>,
    },
    /// Create and run (in the foreground) one run per schedule interval between two dates.
    Backfill {
        /// The DAG.
        dag_id: String,
        /// First logical date (inclusive).
        #[arg(long)]
        start: String,
        /// Last logical date (inclusive).
        #[arg(long)]
        end: String,
        /// Params for the runs, as a JSON object.
        #[arg(long)]
        conf: Option<String>,
    },
    /// Stop scheduling a DAG.
    Pause {
        /// The DAG.
        dag_id: String,
    },
    /// Resume scheduling a DAG.
    Unpause {
        /// The DAG.
        dag_id: String,
    },
    /// Run one DAG run in the foreground, without a scheduler; exit 1 if it fails.
    Test {
        /// The DAG.
        dag_id: String,
        /// The logical date (default: now).
        #[arg(long)]
        logical_date: Option<String>,
        /// Params for the run, as a JSON object.
        #[arg(long)]
        conf: Option<String>,
    },
}

/// Options of `runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: RunsAction,
}

/// `runs` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum RunsAction {
    /// List runs, newest first.
    List {
        /// Only this DAG's runs.
        #[arg(long)]
        dag: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Show a run's task instances with states, tries and durations.
    Show {
        /// The run's id.
        run_id: String,
        /// The DAG, when several DAGs have a run with this id.
        #[arg(long)]
        dag: Option<String>,
    },
}

/// Options of `tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TasksAction,
}

/// `tasks` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum TasksAction {
    /// Clear task instances of a run so they run again (the run is reopened).
    Clear {
        /// The run's id.
        run_id: String,
        /// Task ids (a mapped task's base id clears every item).
        #[arg(required = true)]
        task_ids: Vec<String>,
        /// Also clear every task downstream of them.
        #[arg(long)]
        downstream: bool,
        /// The DAG, when several DAGs have a run with this id.
        #[arg(long)]
        dag: Option<String>,
    },
}

/// Options of `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run's id.
    pub run_id: String,
    /// The task's id.
    pub task_id: String,
    /// The attempt (default: the latest).
    #[arg(long)]
    pub attempt: Option<i64>,
    /// The DAG, when several DAGs have a run with this id.
    #[arg(long)]
    pub dag: Option<String>,
}

/// Options of `scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, `host:port` (default: `serve.listen` in dataflow.yml,
    /// 127.0.0.1:9464); port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<String>,
    /// Do not run the scheduler in this process (metrics only).
    #[arg(long)]
    pub no_scheduler: bool,
    /// Run this stream (`streams/NAME.yml`) in the process too, its metrics on `/metrics`;
    /// repeat for several (default: `serve.streams` in dataflow.yml).
    #[arg(long = "stream", value_name = "NAME")]
    pub streams: Vec<String>,
    /// Brokers replacing the hosted streams' files' (`host:port[,host:port...]`).
    #[arg(long, env = "DATAFLOW_KAFKA_BROKERS")]
    pub brokers: Option<String>,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory for the demo project, data and lake (re-created on each run).
    #[arg(long, default_value = "dataflow-demo")]
    pub dir: PathBuf,
    /// Distinct customers to generate.
    #[arg(long, default_value_t = 10_000)]
    pub customers: u64,
    /// Transactions to generate.
    #[arg(long, default_value_t = 100_000)]
    pub transactions: u64,
    /// Seed for the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Options of `models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ModelsAction,
    /// Variables as YAML, overriding `vars:` in dbt_project.yml, e.g. `{start_date: 2024-01-01}`.
    #[arg(long, global = true)]
    pub vars: Option<String>,
    /// Models to include, dbt syntax: names, `tag:x`, `path:dir`, `+model`, `model+`, `@model`;
    /// spaces are unions, commas intersections.
    #[arg(long, short = 's', global = true, num_args = 1..)]
    pub select: Vec<String>,
    /// Models to leave out, same syntax as --select.
    #[arg(long, global = true, num_args = 1..)]
    pub exclude: Vec<String>,
    /// Rebuild incremental models from scratch.
    #[arg(long, global = true)]
    pub full_refresh: bool,
    /// Models (or tests) built at once; independent models run in parallel. Default: the
    /// number of CPU cores.
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

/// `models` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum ModelsAction {
    /// Load seeds, build models, then run tests.
    Build,
    /// Load the CSV files under seeds/ into lake tables.
    Seed,
    /// Build every enabled model in ref order.
    Run,
    /// Run the schema tests (unique, not_null, accepted_values, relationships) on built models.
    Test,
    /// Render every model's SQL into target/compiled without running it.
    Compile,
    /// List models in build order with their materialization and dependencies.
    Ls,
    /// Check source freshness (`loaded_at_field` against `warn_after`/`error_after`), like
    /// `dbt source freshness`; writes target/sources.json.
    Freshness,
    /// Write a static documentation site (target/index.html: models, columns, tests, SQL,
    /// lineage graph) and target/catalog.json.
    Docs,
}

impl ModelsAction {
    /// The subcommand's name.
    pub fn name(self) -> &'static str {
        match self {
            ModelsAction::Build => "build",
            ModelsAction::Seed => "seed",
            ModelsAction::Run => "run",
            ModelsAction::Test => "test",
            ModelsAction::Compile => "compile",
            ModelsAction::Ls => "ls",
            ModelsAction::Freshness => "freshness",
            ModelsAction::Docs => "docs",
        }
    }
}

/// Options of `stream`.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// The stream (a streams/*.yml file's name); optional when the project has one.
    pub name: Option<String>,
    /// Brokers replacing the stream file's (`host:port[,host:port...]`).
    #[arg(long, env = "DATAFLOW_KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// Stop, after writing and committing, once no event arrived for this many seconds.
    #[arg(long, value_name = "SECS")]
    pub idle_exit_secs: Option<f64>,
    /// Serve this process's Prometheus metrics on `host:port` (port 0: any free port) instead
    /// of the stream file's `metrics.listen` (default 127.0.0.1:9465).
    #[arg(long, value_name = "ADDR", conflicts_with = "no_metrics")]
    pub metrics_listen: Option<String>,
    /// Serve no metrics.
    #[arg(long)]
    pub no_metrics: bool,
}

/// Options of `produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The stream whose brokers and topics to use (default: the project's only stream; with no
    /// streams/ folder, --brokers and the default topic names).
    #[arg(long)]
    pub stream: Option<String>,
    /// Brokers replacing the stream file's (`host:port[,host:port...]`).
    #[arg(long, env = "DATAFLOW_KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// Events to publish.
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    /// Events per second (default: as fast as the broker takes them).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seed: the same seed and options publish the same events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Distinct customers.
    #[arg(long, default_value_t = 10_000)]
    pub customers: u64,
    /// Products (they set prices and categories).
    #[arg(long, default_value_t = 1_000)]
    pub products: u64,
    /// Probability that an event carries a defect (malformed JSON, a missing or invalid
    /// field, a huge amount, an unknown customer).
    #[arg(long, default_value_t = 0.015)]
    pub defect_rate: f64,
    /// Share of events that are customer events (the rest are transactions).
    #[arg(long, default_value_t = 0.3)]
    pub customer_event_share: f64,
    /// Event time of the first event (ISO 8601, UTC unless an offset is given; default: now).
    #[arg(long)]
    pub start_time: Option<String>,
    /// Write the manifest (what was published, and what a processor must find) to this file.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}
