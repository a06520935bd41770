//! `dataflow query`: SQL over the lake.

use anyhow::Context;
use dataflow_core::config::Project;
use dataflow_engine::{collect_sql, new_session};

use crate::cli::QueryFormat;
use crate::output;

/// Runs the command.
pub async fn run(project: &Project, sql: &str, format: QueryFormat) -> anyhow::Result<()> {
    let lake = super::open_lake(project)?;
    let ctx = new_session(&lake).await?;
    let batches = collect_sql(&ctx, sql).await.context("query failed")?;
    output::print_batches(&batches, format)
}
