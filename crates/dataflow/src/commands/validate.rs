//! `dataflow validate --suite S --data T|FILE`: one Great Expectations suite against one lake
//! table, saved view or file (a file of a declared source is read with its schema, in one pass).
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

/// Data registered in a session to validate or profile.
pub struct Registered {
    /// The table to query.
    pub table: String,
    /// For a file of a declared source: the source, and the file read into a temporary Arrow
    /// file (deleted when this is dropped) that backs `table`.
    pub read: Option<(String, dataflow_ingest::read::ArrowFile)>,
}

/// The declared source a file belongs to: `wanted` by name, else the one source whose path
/// names the file (none, or an error when several do).
fn source_of<'a>(
    project: &'a Project,
    path: &std::path::Path,
    wanted: Option<&str>,
) -> anyhow::Result<Option<(&'a str, &'a dataflow_core::config::SourceConfig)>> {
    let sources = &project.config.sources;
    if let Some(name) = wanted {
        return match sources.get_key_value(name) {
            Some((name, source)) => Ok(Some((name.as_str(), source))),
            None => {
                let known: Vec<&str> = sources.keys().map(String::as_str).collect();
                anyhow::bail!(dataflow_core::Error::Usage(format!(
                    "--source {name}: no such source in dataflow.yml (sources: {})",
                    known.join(", ")
                )))
            }
        };
    }
    let matching: Vec<(&str, &dataflow_core::config::SourceConfig)> = sources
        .iter()
        .filter(|(_, source)| {
            dataflow_ingest::files::names_file(source, &project.resolve(&source.path), path)
        })
        .map(|(name, source)| (name.as_str(), source))
        .collect();
    match matching.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        several => {
            let names: Vec<&str> = several.iter().map(|(n, _)| *n).collect();
            anyhow::bail!(dataflow_core::Error::Usage(format!(
                "{} is a file of sources {}: choose one with --source",
                path.display(),
                names.join(" and ")
            )))
        }
    }
}

/// How a file is read.
#[derive(Debug, Clone, Copy)]
pub enum FileTypes<'a> {
    /// Every column of the file, types inferred by DataFusion (CSV and Parquet only). The
    /// schema checks of checkpoints and profiles look at the file as it is.
    Inferred,
    /// A declared source's columns, types and rules, as `ingest` reads it: the named source,
    /// else the one whose path names the file (else inferred types).
    Declared(Option<&'a str>),
}

/// Registers what `data` names: a lake table or view as it is; a file (`__dataflow_data`)
/// either as DataFusion reads it or, with [`FileTypes::Declared`] and a source for it, read
/// with that source's schema and rules into a temporary Arrow file, bad rows left out and
/// counted as `ingest` would quarantine them.
pub async fn register_data(
    ctx: &dataflow_engine::datafusion::prelude::SessionContext,
    project: &Project,
    data: &str,
    types: FileTypes<'_>,
) -> anyhow::Result<Registered> {
    let source = match types {
        FileTypes::Declared(source) => source,
        FileTypes::Inferred => None,
    };
    use dataflow_engine::datafusion::prelude::{CsvReadOptions, ParquetReadOptions};
    let lower = data.to_ascii_lowercase();
    let extensions: &[&str] = match types {
        FileTypes::Inferred => &[".csv", ".parquet"],
        FileTypes::Declared(_) => &[".csv", ".parquet", ".json", ".jsonl", ".ndjson"],
    };
    let looks_like_file = extensions.iter().any(|ext| lower.ends_with(ext));
    if !looks_like_file && source.is_none() {
        return Ok(Registered {
            table: data.to_string(),
            read: None,
        });
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
    let declared = match types {
        FileTypes::Declared(_) => source_of(project, &path, source)?,
        FileTypes::Inferred => None,
    };
    if let Some((source_name, declared)) = declared {
        let spool = project.dir.join("target/tmp");
        let file = dataflow_ingest::read::to_arrow_file(
            source_name,
            declared,
            &path,
            project.config.ingest.batch_rows,
            &spool,
        )
        .await
        .with_context(|| format!("reading {} as source `{source_name}`", path.display()))?;
        // One stream over the file, in file order: DataFusion reads each byte range of a split
        // Arrow file into memory whole (the full file on two partitions), one stream reads a
        // batch at a time; and no round-robin or join split after the scan (a join streams the
        // table past its small side), so the unexpected values listed are the first in the
        // file, as in GE. Hash aggregates still use every core.
        for setting in [
            "set datafusion.optimizer.repartition_file_scans = false",
            "set datafusion.optimizer.enable_round_robin_repartition = false",
            "set datafusion.optimizer.repartition_joins = false",
        ] {
            ctx.sql(setting)
                .await
                .context("configuring the session")?
                .collect()
                .await
                .context("configuring the session")?;
        }
        ctx.register_arrow(
            name,
            &file.path.to_string_lossy(),
            dataflow_engine::datafusion::datasource::file_format::options::ArrowReadOptions::default(),
        )
        .await
        .with_context(|| format!("reading {}", file.path.display()))?;
        return Ok(Registered {
            table: name.to_string(),
            read: Some((source_name.to_string(), file)),
        });
    }
    let location = path.to_string_lossy().into_owned();
    let registered = if lower.ends_with(".csv") {
        ctx.register_csv(name, &location, CsvReadOptions::new().has_header(true))
            .await
    } else if lower.ends_with(".parquet") {
        ctx.register_parquet(name, &location, ParquetReadOptions::default())
            .await
    } else {
        anyhow::bail!(dataflow_core::Error::Usage(format!(
            "--data {data}: a JSON file is read with a declared source's schema; \
             none names this file (pass --source NAME)"
        )));
    };
    registered.with_context(|| format!("reading {}", path.display()))?;
    Ok(Registered {
        table: name.to_string(),
        read: None,
    })
}

/// One line about a file read with a source's schema: rows read, and the bad rows left out.
pub fn read_summary(data: &str, source: &str, read: &dataflow_ingest::read::FileRead) -> String {
    let mut line = format!("Read {data} as source `{source}`: {} rows", read.rows);
    if read.bad_rows > 0 {
        let examples: Vec<String> = read
            .bad_examples
            .iter()
            .map(|b| format!("line {}: {}", b.line_number, b.reason))
            .collect();
        line.push_str(&format!(
            "; {} bad rows left out, as ingest would quarantine them (e.g. {})",
            read.bad_rows,
            examples.join("; ")
        ));
    }
    line
}

/// The result's note about a file read with a source's schema.
fn read_meta(data: &str, source: &str, read: &dataflow_ingest::read::FileRead) -> Value {
    serde_json::json!({
        "file": data,
        "source": source,
        "rows": read.rows,
        "bad_rows": read.bad_rows,
        "bad_row_examples": read.bad_examples.iter().map(|b| serde_json::json!({
            "line_number": b.line_number,
            "column": b.column,
            "raw_value": b.raw_value,
            "reason": b.reason,
        })).collect::<Vec<_>>(),
    })
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
    let started = std::time::Instant::now();
    let types = FileTypes::Declared(args.source.as_deref());
    let registered = register_data(&ctx, project, &args.data, types).await?;
    let validator = Validator::new(ctx, format(args.result_format), None)
        .with_index_columns(args.index_columns.clone());
    let mut result = validator.validate(&suite, &registered.table).await?;
    if let Some((source, file)) = &registered.read {
        println!("{}", read_summary(&args.data, source, &file.read));
        result["meta"]["dataflow_file_read"] = read_meta(&args.data, source, &file.read);
    }
    drop(registered);
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
