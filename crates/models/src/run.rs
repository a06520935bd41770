//! Building models in ref order on DataFusion: views are registered in the session, tables are
//! written to the lake as a new Delta version (a failed model leaves the previous version).
//! A model whose upstream failed is skipped, as dbt does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use dataflow_engine::datafusion::prelude::SessionContext;
use dataflow_engine::{Lake, register_lake_table};
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info_span, warn};

use crate::error::{Error, Result};
use crate::introspect::Introspection;
use crate::project::Materialization;
use crate::render::Compiled;

/// What happened to one model.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Built.
    Success,
    /// Failed with this message.
    Error(String),
    /// Not built because an upstream model failed.
    Skipped,
}

/// One model's result.
#[derive(Debug, Clone)]
pub struct NodeResult {
    /// Model name.
    pub name: String,
    /// How it was built.
    pub materialization: Materialization,
    /// Outcome.
    pub status: Status,
    /// Rows written (tables only).
    pub rows: Option<u64>,
    /// The SQL that was built (after introspection), when it was built.
    pub sql: Option<String>,
    /// Wall time.
    pub seconds: f64,
}

/// Writes each model's compiled SQL to `target/compiled/<project>/<model path>`.
pub fn write_compiled(
    target: &Path,
    project_dir: &Path,
    project: &str,
    models: &[Compiled],
) -> Result<()> {
    for model in models.iter().filter(|m| m.render_error.is_none()) {
        let relative = model.path.strip_prefix(project_dir).unwrap_or(&model.path);
        let path = target.join("compiled").join(project).join(relative);
        let io = |e: std::io::Error| Error::Project {
            path: path.clone(),
            message: e.to_string(),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, format!("{}\n", model.sql)).map_err(io)?;
    }
    Ok(())
}

/// `dir/.name.suffix` for `dir/name`: where an export is staged or its old version parked.
fn hidden_sibling(target: &Path, suffix: &str) -> std::path::PathBuf {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("export");
    target.with_file_name(format!(".{name}.{suffix}"))
}

/// Writes a built table as Hive-partitioned Parquet under `export.path`: into a fresh sibling
/// directory first, then swapped in, so readers never see a half-written export.
async fn export_parquet(
    ctx: &SessionContext,
    model: &Compiled,
    export: &crate::project::ExportConfig,
    project_dir: &Path,
) -> Result<()> {
    let target = project_dir.join(&export.path);
    let io = |e: std::io::Error| Error::Project {
        path: target.clone(),
        message: e.to_string(),
    };
    let staging = hidden_sibling(&target, "partial");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io)?;
    }
    std::fs::create_dir_all(&staging).map_err(io)?;
    let partition = if export.partition_by.is_empty() {
        String::new()
    } else {
        format!(" PARTITIONED BY ({})", export.partition_by.join(", "))
    };
    let statement = format!(
        "COPY (SELECT * FROM {}) TO '{}/' STORED AS PARQUET{partition} OPTIONS ('format.compression' '{}')",
        model.name,
        staging.display(),
        export.compression
    );
    let sql_error = |e: &dyn std::fmt::Display| Error::Sql {
        model: model.name.clone(),
        path: model.path.clone(),
        message: format!("export to {}: {e}", target.display()),
        sql: statement.clone(),
    };
    let frame = ctx.sql(&statement).await.map_err(|e| sql_error(&e))?;
    frame.collect().await.map_err(|e| sql_error(&e))?;
    let previous = hidden_sibling(&target, "previous");
    if previous.exists() {
        std::fs::remove_dir_all(&previous).map_err(io)?;
    }
    if target.exists() {
        std::fs::rename(&target, &previous).map_err(io)?;
    }
    std::fs::rename(&staging, &target).map_err(io)?;
    if previous.exists() {
        std::fs::remove_dir_all(&previous).map_err(io)?;
    }
    Ok(())
}

async fn build(
    ctx: &SessionContext,
    lake: &Lake,
    model: &Compiled,
    full_refresh: bool,
    project_dir: &Path,
) -> Result<Option<u64>> {
    let sql_error = |e: &dyn std::fmt::Display| Error::Sql {
        model: model.name.clone(),
        path: model.path.clone(),
        message: e.to_string(),
        sql: model.sql.clone(),
    };
    match model.materialization {
        Materialization::View => {
            let statement = format!("CREATE OR REPLACE VIEW {} AS {}", model.name, model.sql);
            let frame = ctx.sql(&statement).await.map_err(|e| sql_error(&e))?;
            frame.collect().await.map_err(|e| sql_error(&e))?;
            Ok(None)
        }
        Materialization::Table | Materialization::Incremental => {
            let frame = ctx.sql(&model.sql).await.map_err(|e| sql_error(&e))?;
            let exists = lake.load(&model.name).await?.is_some();
            let incremental =
                model.materialization == Materialization::Incremental && exists && !full_refresh;
            let rows = if incremental {
                // New rows of an incremental run: collected, then appended or merged.
                let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
                let batches = frame.collect().await.map_err(|e| sql_error(&e))?;
                let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
                crate::incremental::write(ctx, lake, model, schema, batches).await?;
                rows
            } else {
                // A full build streams from the query into the table's files.
                lake.replace_from(ctx, &model.name, frame)
                    .await
                    .map_err(|e| sql_error(&e))?
            };
            register_lake_table(ctx, lake, &model.name).await?;
            if let Some(export) = &model.config.export {
                export_parquet(ctx, model, export, project_dir).await?;
            }
            Ok(Some(rows))
        }
        // Inlined into the models that ref it; nothing to build.
        Materialization::Ephemeral => Ok(None),
    }
}

/// Renders a model again by name, once introspection has answered its questions.
pub type Recompile = Arc<dyn Fn(&str) -> Result<Compiled> + Send + Sync>;

/// Answers introspective macros (`dbt_utils.star`, ...) just before a model is built: the
/// shared answers and a way to render a model again with them.
#[derive(Clone)]
pub struct Introspector {
    /// Answers, shared with rendering.
    pub introspection: Arc<Introspection>,
    /// Renders a model again by name.
    pub recompile: Recompile,
}

/// How a run builds its models.
#[derive(Clone)]
pub struct RunOptions {
    /// Rebuild incremental models from scratch.
    pub full_refresh: bool,
    /// Models built at once (at least 1); a model starts when all its upstream models are built.
    pub threads: usize,
    /// The project directory, for exports.
    pub project_dir: PathBuf,
    /// Without it, models with introspective macros build as compiled (with placeholders).
    pub introspector: Option<Introspector>,
}

/// Answers a model's introspection questions from the session and renders it again, until it
/// asks nothing new (a few rounds at most: a macro may depend on another's answer).
pub async fn settle(
    ctx: &SessionContext,
    introspector: Option<&Introspector>,
    mut model: Compiled,
) -> Result<Compiled> {
    const ROUNDS: usize = 4;
    for _ in 0..ROUNDS {
        let Some(introspector) = introspector else {
            return Ok(model);
        };
        if model.pending.is_empty() {
            return Ok(model);
        }
        if let Err(message) = introspector
            .introspection
            .resolve(ctx, &model.pending)
            .await
        {
            return Err(Error::Sql {
                model: model.name.clone(),
                path: model.path.clone(),
                message: format!("introspective macro: {message}"),
                sql: model.sql.clone(),
            });
        }
        model = (introspector.recompile)(&model.name)?;
    }
    Err(Error::Render {
        path: model.path.clone(),
        line: 0,
        message: format!(
            "introspective macros still need answers after {ROUNDS} rounds: {:?}",
            model.pending
        ),
    })
}

/// Builds `models` (given in ref order), up to `options.threads` at a time, calling `report`
/// as each finishes (with its position in finishing order). A model whose upstream failed or
/// was skipped is skipped.
pub async fn run(
    ctx: &SessionContext,
    lake: &Lake,
    models: &[Compiled],
    options: &RunOptions,
    mut report: impl FnMut(usize, &NodeResult),
) -> Vec<NodeResult> {
    let (results, _) = run_inner(ctx, lake, models, options, &[], &mut |event| {
        if let BuildEvent::Model(position, result) = event {
            report(position, result);
        }
    })
    .await;
    results
}

/// What [`run_with_unit_tests`] reports as it goes.
#[derive(Debug)]
pub enum BuildEvent<'a> {
    /// A unit test ran, just before its model was to be built.
    UnitTest(&'a crate::testing::TestResult),
    /// A model finished (its position in finishing order among the models).
    Model(usize, &'a NodeResult),
}

/// Builds `models` as [`run`] does, running each model's unit tests (from `unit_tests`) just
/// before it is built, once its upstream models are, as `dbt build` does: a model whose unit
/// test fails or errors is not built and is reported skipped, and so are its descendants.
/// Returns the models' and the unit tests' results.
pub async fn run_with_unit_tests(
    ctx: &SessionContext,
    lake: &Lake,
    models: &[Compiled],
    options: &RunOptions,
    unit_tests: &[crate::schema_tests::SchemaTest],
    mut report: impl FnMut(BuildEvent<'_>),
) -> (Vec<NodeResult>, Vec<crate::testing::TestResult>) {
    run_inner(ctx, lake, models, options, unit_tests, &mut report).await
}

/// How one model's task ended.
enum Outcome {
    /// Built: rows written (tables) and the SQL that ran.
    Built(Option<u64>, String),
    /// Rendering, planning or writing failed.
    Failed(Error),
    /// A unit test of the model did not pass.
    Blocked,
}

async fn run_inner(
    ctx: &SessionContext,
    lake: &Lake,
    models: &[Compiled],
    options: &RunOptions,
    unit_tests: &[crate::schema_tests::SchemaTest],
    report: &mut dyn FnMut(BuildEvent<'_>),
) -> (Vec<NodeResult>, Vec<crate::testing::TestResult>) {
    let index: HashMap<&str, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    // Upstream models in this run; models outside it are already built.
    let upstream: Vec<Vec<usize>> = models
        .iter()
        .map(|m| {
            m.refs
                .iter()
                .filter_map(|r| index.get(r.as_str()).copied())
                .collect()
        })
        .collect();
    let threads = options.threads.max(1);
    let mut done: Vec<Option<bool>> = vec![None; models.len()];
    let mut started = vec![false; models.len()];
    let mut results: Vec<NodeResult> = Vec::with_capacity(models.len());
    let mut unit_results = Vec::new();
    let mut running = JoinSet::new();
    let mut tasks: HashMap<tokio::task::Id, usize> = HashMap::new();
    let finish = |i: usize,
                  status: Status,
                  built: Option<(Option<u64>, String)>,
                  seconds,
                  results: &mut Vec<NodeResult>,
                  report: &mut dyn FnMut(BuildEvent<'_>)| {
        let model: &Compiled = &models[i];
        let (rows, sql) = match built {
            Some((rows, sql)) => (rows, Some(sql)),
            None => (None, None),
        };
        let result = NodeResult {
            name: model.name.clone(),
            materialization: model.materialization,
            status,
            rows,
            sql,
            seconds,
        };
        debug!(model = %result.name, status = ?result.status, seconds, "model done");
        report(BuildEvent::Model(results.len(), &result));
        results.push(result);
    };
    loop {
        // Skip what can no longer run and start what is ready, in build order.
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..models.len() {
                if started[i] {
                    continue;
                }
                if upstream[i].iter().any(|&u| done[u] == Some(false)) {
                    started[i] = true;
                    done[i] = Some(false);
                    finish(i, Status::Skipped, None, 0.0, &mut results, &mut *report);
                    changed = true;
                } else if running.len() < threads
                    && upstream[i].iter().all(|&u| done[u] == Some(true))
                {
                    started[i] = true;
                    let (ctx, lake, model) = (ctx.clone(), lake.clone(), models[i].clone());
                    let options = options.clone();
                    let tests: Vec<_> = unit_tests
                        .iter()
                        .filter(|t| t.model == model.name)
                        .cloned()
                        .collect();
                    let build_model = async move {
                        let clock = Instant::now();
                        if let Some(error) = &model.render_error {
                            return (
                                Outcome::Failed(Error::Graph(error.clone())),
                                0.0,
                                Vec::new(),
                            );
                        }
                        // Unit tests first: their inputs' types come from the built parents.
                        let mut unit = Vec::with_capacity(tests.len());
                        for test in &tests {
                            unit.push(crate::testing::run_one(&ctx, &lake, test).await);
                        }
                        if unit
                            .iter()
                            .any(|r| r.status != crate::testing::TestStatus::Pass)
                        {
                            return (Outcome::Blocked, clock.elapsed().as_secs_f64(), unit);
                        }
                        let outcome = match settle(&ctx, options.introspector.as_ref(), model).await
                        {
                            Ok(model) => match build(
                                &ctx,
                                &lake,
                                &model,
                                options.full_refresh,
                                &options.project_dir,
                            )
                            .await
                            {
                                Ok(rows) => Outcome::Built(rows, model.sql),
                                Err(err) => Outcome::Failed(err),
                            },
                            Err(err) => Outcome::Failed(err),
                        };
                        (outcome, clock.elapsed().as_secs_f64(), unit)
                    };
                    // One span per model built: a stage of the trace.
                    let span = info_span!("model", model = %models[i].name);
                    let handle = running.spawn(build_model.instrument(span));
                    tasks.insert(handle.id(), i);
                }
            }
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let (i, outcome, seconds, unit) = match joined {
            Ok((id, (outcome, seconds, unit))) => (tasks.get(&id).copied(), outcome, seconds, unit),
            Err(err) => (
                tasks.get(&err.id()).copied(),
                Outcome::Failed(Error::Graph(format!("the model's task failed: {err}"))),
                0.0,
                Vec::new(),
            ),
        };
        for result in unit {
            report(BuildEvent::UnitTest(&result));
            unit_results.push(result);
        }
        let Some(i) = i else { continue };
        let (status, built) = match outcome {
            Outcome::Built(rows, sql) => (Status::Success, Some((rows, sql))),
            Outcome::Failed(err) => {
                warn!(model = %models[i].name, error = %err, "model failed");
                (Status::Error(err.to_string()), None)
            }
            Outcome::Blocked => {
                warn!(model = %models[i].name, "a unit test failed; model not built");
                (Status::Skipped, None)
            }
        };
        done[i] = Some(status == Status::Success);
        finish(i, status, built, seconds, &mut results, &mut *report);
    }
    (results, unit_results)
}

/// Re-creates the run's views in `ctx` (views live in the session, not in the lake), so tests
/// and queries can read them without rebuilding tables.
///
/// A view that cannot be created (its upstream did not build) is left out with a warning and
/// returned, so the rest of the project can still be tested.
pub async fn register_views(
    ctx: &SessionContext,
    models: &[Compiled],
    introspector: Option<&Introspector>,
) -> Vec<(String, Error)> {
    let mut failed = Vec::new();
    // Ephemeral models become views here too, so tests and queries can read them.
    for model in models.iter().filter(|m| {
        matches!(
            m.materialization,
            Materialization::View | Materialization::Ephemeral
        ) && m.render_error.is_none()
    }) {
        let created = async {
            let model = &settle(ctx, introspector, model.clone()).await?;
            let statement = format!("CREATE OR REPLACE VIEW {} AS {}", model.name, model.sql);
            let sql_error = |e: &dyn std::fmt::Display| Error::Sql {
                model: model.name.clone(),
                path: model.path.clone(),
                message: e.to_string(),
                sql: model.sql.clone(),
            };
            let frame = ctx.sql(&statement).await.map_err(|e| sql_error(&e))?;
            frame.collect().await.map_err(|e| sql_error(&e))?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(err) = created {
            warn!(model = %model.name, error = %err, "view not created");
            failed.push((model.name.clone(), err));
        }
    }
    failed
}
