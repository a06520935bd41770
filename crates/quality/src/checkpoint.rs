//! Checkpoints: YAML files binding suites to data with a policy per validation — `fail` the
//! run, `warn` only, or `quarantine`: rows failing any row-level expectation go to
//! `<data>_quarantine` with the failed expectations listed per row, the other rows to
//! `<data>_clean`, while table-level and aggregate failures still fail the run.

use std::path::{Path, PathBuf};

use dataflow_engine::datafusion::arrow::datatypes::DataType;
use serde::Deserialize;
use serde_json::Value;

use crate::catalog::Family;
use crate::error::{Error, Result};
use crate::sql::{ident, string};
use crate::suite::Suite;

/// What a failing validation does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The checkpoint fails (exit 1).
    #[default]
    Fail,
    /// Reported only.
    Warn,
    /// Failing rows are moved aside; table-level failures still fail.
    Quarantine,
}

/// One suite run against one dataset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationConfig {
    /// The suite file, relative to the project directory.
    pub suite: String,
    /// A lake table, saved view, or CSV/Parquet file.
    pub data: String,
    /// What a failure does.
    #[serde(default)]
    pub on_failure: Policy,
    /// Where quarantined rows go (default `<data>_quarantine`).
    #[serde(default)]
    pub quarantine_table: Option<String>,
    /// Where clean rows go (default `<data>_clean`).
    #[serde(default)]
    pub clean_table: Option<String>,
    /// Check the columns against the schema registered on the first run.
    #[serde(default)]
    pub schema_policy: Option<crate::schema_check::SchemaPolicy>,
}

/// What happens after the validations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    /// Keep every result in the lake table `_dataflow_validations` and under
    /// `target/validations/<checkpoint>/`.
    #[serde(default = "yes")]
    pub store_results: bool,
    /// Rebuild the data docs (`target/data_docs/index.html`) from the stored results.
    #[serde(default = "yes")]
    pub data_docs: bool,
    /// Post a JSON summary of the checkpoint's results to a webhook.
    #[serde(default)]
    pub webhook: Option<WebhookAction>,
}

/// A webhook told about a checkpoint's results.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAction {
    /// Where the JSON is posted (a Slack-style `text` field plus the results).
    pub url: String,
    /// When to post: `failure` (a validation failed, the default) or `always`.
    #[serde(default)]
    pub on: WebhookWhen,
}

/// When a checkpoint's webhook fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookWhen {
    /// Only when a validation failed (including warn-only failures).
    #[default]
    Failure,
    /// After every run.
    Always,
}

fn yes() -> bool {
    true
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            store_results: true,
            data_docs: true,
            webhook: None,
        }
    }
}

/// A checkpoint file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The validations, run in order.
    pub validations: Vec<ValidationConfig>,
    /// After-run actions.
    #[serde(default)]
    pub actions: Actions,
    /// Compare each validation's metrics with earlier runs.
    #[serde(default)]
    pub anomaly_detection: Option<crate::anomaly::AnomalyConfig>,
    /// The file it came from.
    #[serde(skip)]
    pub path: PathBuf,
    /// Its name (the file stem).
    #[serde(skip)]
    pub name: String,
}

impl Checkpoint {
    /// Loads `checkpoints/<name>.yml` (or `.yaml`) from the project directory.
    pub fn load(project_dir: &Path, name: &str) -> Result<Checkpoint> {
        let dir = project_dir.join("checkpoints");
        let path = ["yml", "yaml"]
            .iter()
            .map(|ext| dir.join(format!("{name}.{ext}")))
            .find(|p| p.exists())
            .ok_or_else(|| {
                let known: Vec<String> = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.path()
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                    })
                    .collect();
                Error::Suite {
                    path: dir.join(format!("{name}.yml")),
                    message: format!(
                        "no such checkpoint; checkpoints here: {}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                }
            })?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Suite {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut checkpoint: Checkpoint =
            serde_yaml_ng::from_str(&text).map_err(|e| Error::Suite {
                path: path.clone(),
                message: e.to_string(),
            })?;
        if checkpoint.validations.is_empty() {
            return Err(Error::Suite {
                path,
                message: "a checkpoint needs at least one validation".into(),
            });
        }
        checkpoint.name = name.to_string();
        checkpoint.path = path;
        Ok(checkpoint)
    }
}

/// Whether an expectation judges rows one by one (so failing rows can be set aside).
pub fn is_row_level(family: Family, kind: &str) -> bool {
    matches!(
        family,
        Family::ColumnMap | Family::ColumnPair | Family::Multicolumn
    ) && !matches!(
        kind,
        "expect_column_values_to_be_of_type" | "expect_column_values_to_be_in_type_list"
    ) && !crate::ordered::is_row_check(kind)
}

/// A query over `table` returning every row with `_failed_expectations`: the critical
/// row-level expectations of `suite` it fails (`type(column)`, `; `-separated, empty when none),
/// and `_row_quality_score`, the share of those checks it passes (1.0 when it fails none).
/// Expectations on missing columns are left out (the validation reports them).
pub fn failures_query(suite: &Suite, table: &str, columns: &[(String, DataType)]) -> String {
    let has = |c: &str| columns.iter().any(|(n, _)| n == c);
    let mut labels = Vec::new();
    let mut failed_counts = Vec::new();
    let mut windows = Vec::new();
    let mut joins = Vec::new();
    let mut dup_columns = Vec::new();
    for (position, e) in suite.expectations.iter().enumerate() {
        // Warning and info expectations are reported, they do not move rows.
        if !is_row_level(e.spec.family, &e.expectation_type) || e.severity != "critical" {
            continue;
        }
        let short = e.expectation_type.trim_start_matches("expect_").to_string();
        let condition = if let Some(column) = e.kwargs.get("column").and_then(Value::as_str) {
            let Some((_, data_type)) = columns.iter().find(|(n, _)| n == column) else {
                continue;
            };
            if e.expectation_type == "expect_column_values_to_be_unique" {
                // The duplicated values alone, joined back (a window over the whole table
                // would sort every column).
                let (c, copies) = (ident(column), format!("__dataflow_copies_{position}"));
                joins.push(format!(
                    "left join (select {c} as __dataflow_key_{position}, count(*) as {copies} \
                     from {table} where {c} is not null group by {c} having count(*) > 1) \
                     as __dataflow_dups_{position} \
                     on __dataflow_rows.{c} = __dataflow_dups_{position}.__dataflow_key_{position}"
                ));
                dup_columns.push(copies.clone());
                format!("{c} is not null and {copies} is not null")
            } else {
                match crate::map_sql::unexpected_condition(e, column, data_type) {
                    Ok((condition, _)) => condition,
                    Err(_) => continue,
                }
            }
            .replace('\n', " ")
        } else {
            let Ok(check) = crate::multi::row_check(e) else {
                continue;
            };
            if !check.columns.iter().all(|c| has(c)) {
                continue;
            }
            if let Some(window) = &check.window {
                // Copies are counted among the rows the expectation tests.
                let copies = format!("__dataflow_copies_{position}");
                windows.push(window.replace("__dataflow_copies", &copies).replace(
                    "count(*) over",
                    &format!("count(case when not ({}) then 1 end) over", check.ignored),
                ));
                format!(
                    "not ({}) and {}",
                    check.ignored,
                    check.unexpected.replace("__dataflow_copies", &copies)
                )
            } else {
                format!("not ({}) and ({})", check.ignored, check.unexpected)
            }
        };
        let column_part = e
            .kwargs
            .get("column")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| crate::multi::row_check(e).ok().map(|c| c.columns.join(",")))
            .unwrap_or_default();
        labels.push(format!(
            "case when {condition} then {} end",
            string(&format!("{short}({column_part})"))
        ));
        failed_counts.push(format!("case when {condition} then 1 else 0 end"));
    }
    let source = if windows.is_empty() && joins.is_empty() {
        table.to_string()
    } else {
        let extra: Vec<&str> = windows
            .iter()
            .chain(&dup_columns)
            .map(String::as_str)
            .collect();
        format!(
            "(select __dataflow_rows.*, {} from {table} as __dataflow_rows {}) as t",
            extra.join(", "),
            joins.join(" ")
        )
    };
    let failures = if labels.is_empty() {
        "''".to_string()
    } else {
        format!("concat_ws('; ', {})", labels.join(", "))
    };
    // The brief's row quality score: the share of row-level checks the row passes.
    let score = if failed_counts.is_empty() {
        "1.0".to_string()
    } else {
        format!(
            "1.0 - cast(({}) as double) / {}",
            failed_counts.join(" + "),
            failed_counts.len()
        )
    };
    let keep: Vec<String> = columns.iter().map(|(n, _)| ident(n)).collect();
    format!(
        "select {}, {failures} as _failed_expectations, {score} as _row_quality_score from {source}",
        keep.join(", ")
    )
}
