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
    let validator = Validator::new(ctx, format(args.result_format), None);
    let started = std::time::Instant::now();
    let result = validator.validate(&suite, &args.table).await?;
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
    let statistics = &result["statistics"];
    let output = args.output.clone().unwrap_or_else(|| {
        project
            .dir
            .join("target/validations")
            .join(format!("{}.{}.json", suite.name, args.table))
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
        args.table,
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
