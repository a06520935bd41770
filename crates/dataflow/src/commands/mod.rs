//! One module per command; `run` dispatches.

mod alerts;
mod anomaly;
mod checkpoint;
mod dags;
mod demo;
mod freshness;
mod generate;
mod ingest;
mod models;
mod models_test;
mod orchestrator;
mod produce;
mod profile;
mod query;
mod runs;
mod scheduler;
mod schema;
mod serve;
mod serve_streams;
mod stages;
mod status;
mod stream;
mod stream_metrics;
mod tables;
mod validate;

use std::collections::HashMap;

use anyhow::Context;
use dataflow_core::config::{Project, load_project, load_project_or_dbt};
use dataflow_core::ids::RunId;
use dataflow_engine::Lake;

use crate::cli::{Cli, Command};

/// Runs the parsed command.
pub async fn run(cli: Cli, run_id: &RunId) -> anyhow::Result<()> {
    let project_dir = cli.project_dir;
    match cli.command {
        Command::Demo(args) => demo::run(args, run_id).await,
        Command::Generate(args) => generate::run(args),
        Command::Ingest(args) => {
            let project = load_project(&project_dir)?;
            ingest::run(&project, &args.sources, run_id).await
        }
        Command::Models(args) => {
            let project = load_project_or_dbt(&project_dir)?;
            models::run(&project, args, run_id).await
        }
        Command::Query(args) => {
            let project = load_project_or_dbt(&project_dir)?;
            query::run(&project, &args.sql, args.format).await
        }
        Command::Checkpoint(args) => {
            let project = load_project_or_dbt(&project_dir)?;
            match args.action {
                crate::cli::CheckpointAction::Run { name } => {
                    checkpoint::run(&project, &name, run_id).await
                }
            }
        }
        Command::Quality(args) => {
            let project = load_project_or_dbt(&project_dir)?;
            match args.action {
                crate::cli::QualityAction::Profile { data, output } => {
                    profile::run(&project, &data, output).await
                }
                crate::cli::QualityAction::Results { data, limit } => {
                    checkpoint::results(&project, data.as_deref(), limit).await
                }
            }
        }
        Command::Validate(args) => {
            let project = load_project_or_dbt(&project_dir)?;
            validate::run(&project, &args).await
        }
        Command::Dags(args) => dags::run(&load_project(&project_dir)?, args.action).await,
        Command::Runs(args) => runs::runs(&load_project(&project_dir)?, args.action).await,
        Command::Tasks(args) => runs::tasks(&load_project(&project_dir)?, args.action).await,
        Command::Logs(args) => runs::logs(&load_project(&project_dir)?, args).await,
        Command::Scheduler(_) => scheduler::run(&load_project(&project_dir)?).await,
        Command::Alerts(args) => {
            let project = load_project(&project_dir)?;
            match args.action {
                crate::cli::AlertsAction::Evaluate => alerts::evaluate(&project).await,
                crate::cli::AlertsAction::List => alerts::list(&project).await,
            }
        }
        Command::Status => status::run(&load_project(&project_dir)?).await,
        Command::Serve(args) => serve::run(&load_project(&project_dir)?, &args).await,
        Command::Stream(args) => stream::run(&load_project(&project_dir)?, args).await,
        Command::Produce(args) => produce::run(&project_dir, args).await,
        Command::Tables(_) => {
            let project = load_project_or_dbt(&project_dir)?;
            tables::run(&project).await
        }
    }
}

/// Opens the project's lake.
pub fn open_lake(project: &Project) -> anyhow::Result<Lake> {
    let options: HashMap<String, String> = project
        .config
        .lake
        .storage_options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let location = project.lake_location();
    Lake::open(&location, options).with_context(|| format!("opening the lake at {location}"))
}
