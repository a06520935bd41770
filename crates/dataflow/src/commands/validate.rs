//! `dataflow validate SUITE --table T`: one Great Expectations suite against one lake table.
//! Prints a line per expectation and writes GE's validation result as JSON; exits 1 when an
//! expectation fails.

use anyhow::Context;
use dataflow_core::config::Project;
use dataflow_engine::new_session;
use dataflow_quality::{ResultFormat, Suite, Validator};
use serde_json::Value;

use crate::cli::{ResultFormatArg, ValidateArgs};
use crate::exit::JobFailed;

fn format(arg: ResultFormatArg) -> ResultFormat {
    match arg {
        ResultFormatArg::BooleanOnly => ResultFormat::BooleanOnly,
        ResultFormatArg::Basic => ResultFormat::Basic,
        ResultFormatArg::Summary => ResultFormat::Summary,
        ResultFormatArg::Complete => ResultFormat::Complete,
    }
}

/// What a result line says after the type: the column and the key figure.
fn detail(result: &Value) -> String {
    let config = &result["expectation_config"]["kwargs"];
    let column = config["column"]
        .as_str()
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    let outcome = &result["result"];
    let figure = if let Some(message) = result["exception_info"]["exception_message"].as_str() {
        format!(": {message}")
    } else if let Some(n) = outcome["unexpected_count"].as_u64() {
        let sample: Vec<String> = outcome["partial_unexpected_list"]
            .as_array()
            .map(|a| a.iter().take(5).map(Value::to_string).collect())
            .unwrap_or_default();
        if n == 0 {
            String::new()
        } else {
            format!(": {n} unexpected (e.g. {})", sample.join(", "))
        }
    } else if !outcome["observed_value"].is_null() {
        format!(": observed {}", outcome["observed_value"])
    } else {
        String::new()
    };
    format!("{column}{figure}")
}

/// A short name for the data in file names: the table, or the file's stem.
fn data_label(data: &str) -> String {
    std::path::Path::new(data)
        .file_stem()
        .map_or_else(|| data.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The table name to validate: `data` itself when it is a lake table or view, else a CSV or
/// Parquet file registered as `__dataflow_data`.
pub async fn register_data(
    ctx: &dataflow_engine::datafusion::prelude::SessionContext,
    project: &Project,
    data: &str,
) -> anyhow::Result<String> {
    use dataflow_engine::datafusion::prelude::{CsvReadOptions, ParquetReadOptions};
    let looks_like_file = [".csv", ".parquet"]
        .iter()
        .any(|ext| data.to_ascii_lowercase().ends_with(ext));
    if !looks_like_file {
        return Ok(data.to_string());
    }
    let path = if std::path::Path::new(data).exists() {
        std::path::PathBuf::from(data)
    } else {
        project.dir.join(data)
    };
    if !path.exists() {
        anyhow::bail!(dataflow_core::Error::Usage(format!(
            "--data {data}: no such file (looked in the current and the project directory)"
        )));
    }
    let name = "__dataflow_data";
    let location = path.to_string_lossy().into_owned();
    let lower = location.to_ascii_lowercase();
    let registered = if lower.ends_with(".csv") {
        ctx.register_csv(name, &location, CsvReadOptions::new().has_header(true))
            .await
    } else {
        ctx.register_parquet(name, &location, ParquetReadOptions::default())
            .await
    };
    registered.with_context(|| format!("reading {}", path.display()))?;
    Ok(name.to_string())
}

/// Prints one line per expectation of a GE validation result.
pub fn print_results(result: &Value) {
    let results = result["results"].as_array().cloned().unwrap_or_default();
    let total = results.len();
    for (position, item) in results.iter().enumerate() {
        let status = if item["success"].as_bool() == Some(true) {
            "PASS"
        } else if item["exception_info"]["raised_exception"].as_bool() == Some(true) {
            "ERROR"
        } else {
            "FAIL"
        };
        println!(
            "{:>3} of {total} {status:<5} {}{}",
            position + 1,
            item["expectation_config"]["type"]
                .as_str()
                .unwrap_or_default(),
            detail(item)
        );
    }
}

/// Runs the command.
pub async fn run(project: &Project, args: &ValidateArgs) -> anyhow::Result<()> {
    // A path that does not exist from here is looked up in the project directory.
    let path = if args.suite.is_relative() && !args.suite.exists() {
        project.dir.join(&args.suite)
    } else {
        args.suite.clone()
    };
    let suite = Suite::load(&path)?;
    let lake = super::open_lake(project)?;
    let ctx = new_session(&lake).await.context("opening the lake")?;
    let table = register_data(&ctx, project, &args.data).await?;
    let validator = Validator::new(ctx, format(args.result_format), None)
        .with_index_columns(args.index_columns.clone());
    let started = std::time::Instant::now();
    let result = validator.validate(&suite, &table).await?;
    print_results(&result);
    let statistics = &result["statistics"];
    let total = statistics["evaluated_expectations"].as_u64().unwrap_or(0);
    let output = args.output.clone().unwrap_or_else(|| {
        project.dir.join("target/validations").join(format!(
            "{}.{}.json",
            suite.name,
            data_label(&args.data)
        ))
    });
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let temp = output.with_extension("json.partial");
    std::fs::write(&temp, serde_json::to_string_pretty(&result)?)
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, &output).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "Suite {} on {}: {} of {total} expectations met ({:.1}%) in {:.2}s; result in {}",
        suite.name,
        args.data,
        statistics["successful_expectations"],
        statistics["success_percent"].as_f64().unwrap_or(0.0),
        started.elapsed().as_secs_f64(),
        output.display()
    );
    if result["success"].as_bool() != Some(true) {
        return Err(JobFailed(format!(
            "{} of {total} expectations failed",
            statistics["unsuccessful_expectations"]
        ))
        .into());
    }
    Ok(())
}
