//! dbt's generic schema tests declared in schema files: `unique`, `not_null`, `accepted_values`
//! and `relationships`, with `severity`. Each test compiles to a query returning the failing
//! rows, as dbt's do.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::error::{Error, Result};
use crate::project::DbtProject;

/// How a failing test is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Fails the command.
    Error,
    /// Reported, does not fail the command.
    Warn,
}

/// One generic test on one model column.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaTest {
    /// dbt-style unique name, e.g. `not_null_stg_orders_id`.
    pub name: String,
    /// The model under test.
    pub model: String,
    /// The column under test.
    pub column: String,
    /// The schema file that declares it.
    pub file: PathBuf,
    /// SQL returning the failing rows.
    pub sql: String,
    /// What a failure means.
    pub severity: Severity,
}

fn quote_literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!(
            "'{}'",
            serde_yaml_ng::to_string(other).unwrap_or_default().trim()
        ),
    }
}

/// Resolves `ref('x')` or `source('a', 'b')` as written in a `relationships` test.
fn resolve_relation(project: &DbtProject, text: &str) -> Option<String> {
    let text = text.trim();
    let args = |inner: &str| -> Vec<String> {
        inner
            .split(',')
            .map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .collect()
    };
    if let Some(inner) = text.strip_prefix("ref(").and_then(|t| t.strip_suffix(')')) {
        return args(inner).last().cloned();
    }
    if let Some(inner) = text
        .strip_prefix("source(")
        .and_then(|t| t.strip_suffix(')'))
    {
        let parts = args(inner);
        return project
            .sources
            .iter()
            .find(|s| parts.len() == 2 && s.source == parts[0] && s.table == parts[1])
            .map(|s| s.identifier.clone());
    }
    None
}

fn severity_of(config: Option<&Value>) -> Severity {
    let severity = config
        .and_then(|c| {
            c.get("config")
                .and_then(|c| c.get("severity"))
                .or_else(|| c.get("severity"))
        })
        .and_then(Value::as_str)
        .unwrap_or("error");
    if severity.eq_ignore_ascii_case("warn") {
        Severity::Warn
    } else {
        Severity::Error
    }
}

fn build(
    project: &DbtProject,
    file: &Path,
    model: &str,
    column: &str,
    test: &Value,
) -> Result<SchemaTest> {
    let invalid = |message: String| Error::Project {
        path: file.to_path_buf(),
        message: format!("model `{model}`, column `{column}`: {message}"),
    };
    let (kind, args) = match test {
        Value::String(kind) => (kind.clone(), None),
        Value::Mapping(map) if map.len() == 1 => {
            let Some((key, args)) = map.iter().next() else {
                return Err(invalid("empty test".into()));
            };
            (key.as_str().unwrap_or_default().to_string(), Some(args))
        }
        other => return Err(invalid(format!("cannot read test {other:?}"))),
    };
    let kind = kind.trim_start_matches("dbt_utils.").to_string();
    let (name, sql) = match kind.as_str() {
        "not_null" => (
            format!("not_null_{model}_{column}"),
            format!("select * from {model} where {column} is null"),
        ),
        "unique" => (
            format!("unique_{model}_{column}"),
            format!(
                "select {column} as unique_field, count(*) as n_records from {model} \
                 where {column} is not null group by {column} having count(*) > 1"
            ),
        ),
        "accepted_values" => {
            let values = args
                .and_then(|a| a.get("values"))
                .and_then(Value::as_sequence)
                .ok_or_else(|| invalid("accepted_values needs `values: [...]`".into()))?;
            let quote = args
                .and_then(|a| a.get("quote"))
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let list: Vec<String> = values
                .iter()
                .map(|v| {
                    if quote {
                        quote_literal(v)
                    } else {
                        v.as_str().map_or_else(|| quote_literal(v), str::to_string)
                    }
                })
                .collect();
            let suffix: Vec<String> = values
                .iter()
                .map(|v| quote_literal(v).trim_matches('\'').to_string())
                .collect();
            (
                format!("accepted_values_{model}_{column}__{}", suffix.join("__")),
                format!(
                    "select value_field, n_records from (select {column} as value_field, count(*) as n_records \
                     from {model} group by {column}) as counts where value_field not in ({})",
                    list.join(", ")
                ),
            )
        }
        "relationships" => {
            let to = args
                .and_then(|a| a.get("to"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("relationships needs `to: ref('model')`".into()))?;
            let field = args
                .and_then(|a| a.get("field"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("relationships needs `field: column`".into()))?;
            let parent = resolve_relation(project, to).ok_or_else(|| {
                invalid(format!(
                    "cannot resolve `to: {to}`; use ref('model') or source('name', 'table')"
                ))
            })?;
            (
                format!("relationships_{model}_{column}__{field}__{parent}"),
                format!(
                    "select child.{column} as from_field from {model} as child \
                     left join {parent} as parent on child.{column} = parent.{field} \
                     where child.{column} is not null and parent.{field} is null"
                ),
            )
        }
        other => {
            return Err(invalid(format!(
                "unknown test `{other}`; supported: unique, not_null, accepted_values, relationships"
            )));
        }
    };
    Ok(SchemaTest {
        name,
        model: model.to_string(),
        column: column.to_string(),
        file: file.to_path_buf(),
        sql,
        severity: severity_of(args),
    })
}

/// Reads every generic test declared under `models:` in the project's schema files.
pub fn schema_tests(project: &DbtProject) -> Result<Vec<SchemaTest>> {
    let mut tests = Vec::new();
    for (file, schema) in &project.schema_files {
        let Some(models) = schema.get("models").and_then(Value::as_sequence) else {
            continue;
        };
        for model in models {
            let Some(model_name) = model.get("name").and_then(Value::as_str) else {
                continue;
            };
            if !project.models.iter().any(|m| m.name == model_name) {
                return Err(Error::Project {
                    path: file.clone(),
                    message: format!("documents model `{model_name}`, which does not exist"),
                });
            }
            let columns = model
                .get("columns")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default();
            for column in columns {
                let Some(column_name) = column.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let declared = column
                    .get("data_tests")
                    .or_else(|| column.get("tests"))
                    .and_then(Value::as_sequence)
                    .cloned()
                    .unwrap_or_default();
                for test in &declared {
                    tests.push(build(project, file, model_name, column_name, test)?);
                }
            }
        }
    }
    Ok(tests)
}
