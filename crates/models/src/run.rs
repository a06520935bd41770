//! Building models in ref order on DataFusion: views are registered in the session, tables are
//! written to the lake as a new Delta version (a failed model leaves the previous version).
//! A model whose upstream failed is skipped, as dbt does.

use std::path::Path;
use std::time::Instant;

use dataflow_engine::datafusion::prelude::SessionContext;
use dataflow_engine::{Lake, register_lake_table};
use tracing::{debug, warn};

use crate::error::{Error, Result};
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
    for model in models {
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
            let batches = frame.collect().await.map_err(|e| sql_error(&e))?;
            let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
            let exists = lake.load(&model.name).await?.is_some();
            let incremental =
                model.materialization == Materialization::Incremental && exists && !full_refresh;
            if !incremental {
                lake.replace(&model.name, batches).await?;
            } else if model.config.unique_key.is_empty() {
                lake.append(&model.name, batches).await?;
            } else {
                lake.merge(ctx, &model.name, batches, &model.config.unique_key)
                    .await?;
            }
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

/// Builds `models` (already in ref order), calling `report` after each.
pub async fn run(
    ctx: &SessionContext,
    lake: &Lake,
    models: &[Compiled],
    full_refresh: bool,
    project_dir: &Path,
    mut report: impl FnMut(usize, &NodeResult),
) -> Vec<NodeResult> {
    let mut results: Vec<NodeResult> = Vec::with_capacity(models.len());
    for (position, model) in models.iter().enumerate() {
        let started = Instant::now();
        let upstream_failed = model.refs.iter().any(|r| {
            results
                .iter()
                .any(|done| &done.name == r && done.status != Status::Success)
        });
        let (status, rows) = if upstream_failed {
            (Status::Skipped, None)
        } else {
            match build(ctx, lake, model, full_refresh, project_dir).await {
                Ok(rows) => (Status::Success, rows),
                Err(err) => {
                    warn!(model = %model.name, error = %err, "model failed");
                    (Status::Error(err.to_string()), None)
                }
            }
        };
        let result = NodeResult {
            name: model.name.clone(),
            materialization: model.materialization,
            status,
            rows,
            seconds: started.elapsed().as_secs_f64(),
        };
        debug!(model = %result.name, status = ?result.status, seconds = result.seconds, "model done");
        report(position, &result);
        results.push(result);
    }
    results
}

/// Re-creates the run's views in `ctx` (views live in the session, not in the lake), so tests
/// and queries can read them without rebuilding tables.
pub async fn register_views(ctx: &SessionContext, models: &[Compiled]) -> Result<()> {
    for model in models
        .iter()
        .filter(|m| m.materialization == Materialization::View)
    {
        let statement = format!("CREATE OR REPLACE VIEW {} AS {}", model.name, model.sql);
        let sql_error = |e: &dyn std::fmt::Display| Error::Sql {
            model: model.name.clone(),
            path: model.path.clone(),
            message: e.to_string(),
            sql: model.sql.clone(),
        };
        let frame = ctx.sql(&statement).await.map_err(|e| sql_error(&e))?;
        frame.collect().await.map_err(|e| sql_error(&e))?;
    }
    Ok(())
}

/// The outcome of one schema test.
#[derive(Debug, Clone, PartialEq)]
pub enum TestStatus {
    /// No failing rows.
    Pass,
    /// Failing rows, error severity.
    Fail(u64),
    /// Failing rows, warn severity.
    Warn(u64),
    /// The test query itself failed.
    Error(String),
}

/// One schema test's result.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// Test name.
    pub name: String,
    /// Outcome.
    pub status: TestStatus,
    /// Up to five failing rows, as a text table.
    pub sample: String,
    /// Wall time.
    pub seconds: f64,
}

async fn count_and_sample(
    ctx: &SessionContext,
    sql: &str,
) -> std::result::Result<(u64, String), String> {
    use dataflow_engine::datafusion::arrow::array::{Array, Int64Array};
    let count_sql = format!("select count(*) as failures from ({sql}) as dbt_test");
    let batches = ctx
        .sql(&count_sql)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let failures = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| if a.is_empty() { 0 } else { a.value(0) })
        })
        .unwrap_or(0) as u64;
    if failures == 0 {
        return Ok((0, String::new()));
    }
    let sample = ctx
        .sql(&format!("select * from ({sql}) as dbt_test limit 5"))
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let text = dataflow_engine::datafusion::arrow::util::pretty::pretty_format_batches(&sample)
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok((failures, text))
}

/// Applies severity, `error_if` and `warn_if` to a failure count, as dbt does.
fn classify(
    test: &crate::schema_tests::SchemaTest,
    failures: u64,
) -> std::result::Result<TestStatus, String> {
    use crate::schema_tests::{Severity, threshold_met};
    if test.severity == Severity::Error && threshold_met(&test.error_if, failures)? {
        return Ok(TestStatus::Fail(failures));
    }
    if threshold_met(&test.warn_if, failures)? {
        return Ok(TestStatus::Warn(failures));
    }
    Ok(TestStatus::Pass)
}

/// Replaces `dbt_test__audit__<test>` with the test's failing rows.
async fn store_failures(
    ctx: &SessionContext,
    lake: &Lake,
    test: &crate::schema_tests::SchemaTest,
) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| Error::Sql {
        model: test.name.clone(),
        path: test.file.clone(),
        message: e.to_string(),
        sql: test.sql.clone(),
    };
    let frame = ctx.sql(&test.sql).await.map_err(|e| failed(&e))?;
    let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
    let mut batches = frame.collect().await.map_err(|e| failed(&e))?;
    if batches.is_empty() {
        // No failures: the audit table still exists, empty, with the test's columns.
        batches.push(dataflow_engine::datafusion::arrow::array::RecordBatch::new_empty(schema));
    }
    let table = format!("dbt_test__audit__{}", test.name);
    lake.replace(&table, batches).await?;
    Ok(())
}

/// Runs schema tests, calling `report` after each.
pub async fn test(
    ctx: &SessionContext,
    lake: &Lake,
    tests: &[crate::schema_tests::SchemaTest],
    mut report: impl FnMut(usize, &TestResult),
) -> Vec<TestResult> {
    let mut results = Vec::with_capacity(tests.len());
    for (position, schema_test) in tests.iter().enumerate() {
        let started = Instant::now();
        let outcome = match count_and_sample(ctx, &schema_test.sql).await {
            Ok((n, sample)) => classify(schema_test, n).map(|status| (status, sample, n)),
            Err(message) => Err(message),
        };
        let outcome = match outcome {
            Ok((status, sample, n)) if schema_test.store_failures => {
                match store_failures(ctx, lake, schema_test).await {
                    Ok(()) => Ok((status, sample)),
                    Err(err) => Err(format!("storing {n} failures: {err}")),
                }
            }
            Ok((status, sample, _)) => Ok((status, sample)),
            Err(message) => Err(message),
        };
        let (status, sample) = match outcome {
            Ok(result) => result,
            Err(message) => (
                TestStatus::Error(format!("{message}\ncompiled SQL:\n{}", schema_test.sql)),
                String::new(),
            ),
        };
        let result = TestResult {
            name: schema_test.name.clone(),
            status,
            sample,
            seconds: started.elapsed().as_secs_f64(),
        };
        report(position, &result);
        results.push(result);
    }
    results
}

/// Loads one CSV seed into the lake as table `<name>` (types inferred, `column_types` applied),
/// replacing its previous contents in one version. Returns the row count.
pub async fn load_seed(
    ctx: &SessionContext,
    lake: &Lake,
    seed: &crate::project::Seed,
) -> Result<u64> {
    use dataflow_engine::datafusion::prelude::CsvReadOptions;
    let error = |e: &dyn std::fmt::Display| Error::Project {
        path: seed.path.clone(),
        message: e.to_string(),
    };
    let path = seed.path.to_string_lossy().into_owned();
    let options = || {
        CsvReadOptions::new()
            .has_header(true)
            .file_extension(".csv")
    };
    let inferred = ctx
        .read_csv(path.clone(), options())
        .await
        .map_err(|e| error(&e))?;
    let fields: Vec<String> = inferred
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for column in seed.column_types.keys() {
        if !fields.contains(column) {
            return Err(error(&format!(
                "column_types names `{column}`, which is not a column; columns: {}",
                fields.join(", ")
            )));
        }
    }
    // Columns with declared types are read as text and cast, so `01` stays `01` as varchar.
    let schema = dataflow_engine::datafusion::arrow::datatypes::Schema::new(
        inferred
            .schema()
            .fields()
            .iter()
            .map(|f| {
                if seed.column_types.contains_key(f.name()) {
                    dataflow_engine::datafusion::arrow::datatypes::Field::new(
                        f.name(),
                        dataflow_engine::datafusion::arrow::datatypes::DataType::Utf8,
                        true,
                    )
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
    );
    let frame = ctx
        .read_csv(path, options().schema(&schema))
        .await
        .map_err(|e| error(&e))?;
    let staging = format!("__dataflow_seed_{}", seed.name);
    ctx.register_table(staging.as_str(), frame.into_view())
        .map_err(|e| error(&e))?;
    let projection: Vec<String> = fields
        .iter()
        .map(|f| match seed.column_types.get(f) {
            Some(t) => format!("cast(\"{f}\" as {t}) as \"{f}\""),
            None => format!("\"{f}\""),
        })
        .collect();
    let sql = format!("select {} from {staging}", projection.join(", "));
    let result = async {
        let frame = ctx.sql(&sql).await.map_err(|e| error(&e))?;
        frame.collect().await.map_err(|e| error(&e))
    }
    .await;
    ctx.deregister_table(staging.as_str())
        .map_err(|e| error(&e))?;
    let batches = result?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    lake.replace(&seed.name, batches).await?;
    register_lake_table(ctx, lake, &seed.name).await?;
    Ok(rows)
}
