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
    /// The test's type (`unique`, `accepted_range`, ...; `singular` for a test file).
    pub kind: String,
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
    /// dbt's `warn_if` condition on the failure count (default `!= 0`).
    pub warn_if: String,
    /// dbt's `error_if` condition on the failure count (default `!= 0`).
    pub error_if: String,
    /// Keep the failing rows in the lake table `dbt_test__audit__<test name>`.
    pub store_failures: bool,
    /// Why the test cannot run (unknown test, missing argument): reported as the test's error,
    /// so one bad declaration does not stop every other test.
    pub problem: Option<String>,
    /// A column list the SQL needs, read from the lake when the test runs.
    pub columns_from: Option<crate::utils_tests::ColumnSpec>,
    /// The Jinja the test was rendered from (custom and singular tests), and what its
    /// introspective macros still need: answered and rendered again before it runs.
    pub rerender: Option<(crate::project::Model, Vec<crate::introspect::Request>)>,
    /// A unit test (`kind` is `unit`): run on mocked inputs instead of `sql`.
    pub unit: Option<std::sync::Arc<crate::unit::UnitCase>>,
}

/// Answers a test's introspection questions from the session and renders it again (like
/// [`crate::run::settle`] for models).
pub async fn settle_test(
    ctx: &dataflow_engine::datafusion::prelude::SessionContext,
    project: &DbtProject,
    render: &crate::render::RenderContext,
    mut test: SchemaTest,
) -> SchemaTest {
    for _ in 0..4 {
        let Some((model, pending)) = test.rerender.clone() else {
            return test;
        };
        if pending.is_empty() {
            return test;
        }
        if let Err(message) = render.introspection.resolve(ctx, &pending).await {
            test.problem = Some(format!("introspective macro: {message}"));
            return test;
        }
        match crate::render::compile(project, &model, render, &Default::default()) {
            Ok(compiled) => {
                test.sql = compiled.sql;
                test.rerender = Some((model, compiled.pending));
            }
            Err(err) => {
                test.problem = Some(err.to_string());
                return test;
            }
        }
    }
    test
}

/// Evaluates a dbt threshold such as `>10`, `!= 0` or `>=5` against a failure count.
pub fn threshold_met(condition: &str, failures: u64) -> std::result::Result<bool, String> {
    let condition = condition.trim();
    let (op, number) = ["!=", "<>", ">=", "<=", "==", ">", "<", "="]
        .iter()
        .find_map(|op| condition.strip_prefix(op).map(|rest| (*op, rest.trim())))
        .ok_or_else(|| format!("invalid threshold `{condition}`, expected e.g. `>10` or `!=0`"))?;
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid threshold `{condition}`: `{number}` is not a count"))?;
    Ok(match op {
        "!=" | "<>" => failures != number,
        ">=" => failures >= number,
        "<=" => failures <= number,
        ">" => failures > number,
        "<" => failures < number,
        _ => failures == number,
    })
}

fn config_value<'a>(args: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let args = args?;
    args.get("config")
        .and_then(|c| c.get(key))
        .or_else(|| args.get(key))
}

/// A YAML value as a SQL literal (strings quoted).
pub(crate) fn quote_literal(value: &Value) -> String {
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

/// Reads a test's argument, from the test mapping or its `arguments:` block (dbt 1.10+).
fn argument<'a>(args: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let args = args?;
    args.get(key)
        .or_else(|| args.get("arguments").and_then(|a| a.get(key)))
}

/// A YAML value as SQL text (strings unquoted).
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn build(
    project: &DbtProject,
    ctx: &crate::render::RenderContext,
    file: &Path,
    model: &str,
    column: Option<&str>,
    test: &Value,
) -> Result<SchemaTest> {
    let place = match column {
        Some(c) => format!("model `{model}`, column `{c}`"),
        None => format!("model `{model}`"),
    };
    let invalid = |message: String| Error::Project {
        path: file.to_path_buf(),
        message: format!("{place}: {message}"),
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
    let namespaced = kind.starts_with("dbt_utils.");
    let kind = kind.trim_start_matches("dbt_utils.").to_string();
    let need =
        |key: &str| argument(args, key).ok_or_else(|| invalid(format!("`{kind}` needs `{key}`")));
    let col = || column.ok_or_else(|| invalid(format!("`{kind}` is a column test")));
    // `where` (in the test or its config) narrows the model under test, as in dbt.
    let filter = args
        .and_then(|a| {
            a.get("config")
                .and_then(|c| c.get("where"))
                .or_else(|| a.get("where"))
        })
        .map(text);
    let relation = match &filter {
        Some(condition) => format!("(select * from {model} where {condition}) as dbt_subquery"),
        None => model.to_string(),
    };
    let column_part = column.map(|c| format!("_{c}")).unwrap_or_default();
    let base_name = format!("{kind}_{model}{column_part}");
    let mut columns_from = None;
    let mut rerender = None;
    let (name, sql) = match kind.as_str() {
        "not_null" => (
            base_name,
            format!("select * from {relation} where {} is null", col()?),
        ),
        "unique" => {
            let c = col()?;
            (
                base_name,
                format!(
                    "select {c} as unique_field, count(*) as n_records from {relation} \
                     where {c} is not null group by {c} having count(*) > 1"
                ),
            )
        }
        "accepted_values" => {
            let c = col()?;
            let values = need("values")?
                .as_sequence()
                .ok_or_else(|| invalid("accepted_values needs `values: [...]`".into()))?;
            let quote = argument(args, "quote")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let list: Vec<String> = values
                .iter()
                .map(|v| if quote { quote_literal(v) } else { text(v) })
                .collect();
            let suffix: Vec<String> = values.iter().map(text).collect();
            (
                format!("{base_name}__{}", suffix.join("__")),
                format!(
                    "select value_field, n_records from (select {c} as value_field, count(*) as n_records \
                     from {relation} group by {c}) as counts where value_field not in ({})",
                    list.join(", ")
                ),
            )
        }
        "relationships" | "relationships_where" => {
            let c = col()?;
            let to = text(need("to")?);
            let field = text(need("field")?);
            let parent = resolve_relation(project, &to).ok_or_else(|| {
                invalid(format!(
                    "cannot resolve `to: {to}`; use ref('model') or source('name', 'table')"
                ))
            })?;
            let from_condition = argument(args, "from_condition").map_or("1=1".to_string(), text);
            let to_condition = argument(args, "to_condition").map_or("1=1".to_string(), text);
            (
                format!("{base_name}__{field}__{parent}"),
                format!(
                    "select child.{c} as from_field from (select * from {relation} where {from_condition}) as child \
                     left join (select * from {parent} where {to_condition}) as parent on child.{c} = parent.{field} \
                     where child.{c} is not null and parent.{field} is null"
                ),
            )
        }
        "accepted_range" => {
            let c = col()?;
            let inclusive = argument(args, "inclusive")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let (ge, le) = if inclusive { (">=", "<=") } else { (">", "<") };
            let mut checks = Vec::new();
            if let Some(min) = argument(args, "min_value") {
                checks.push(format!("{c} {ge} {}", text(min)));
            }
            if let Some(max) = argument(args, "max_value") {
                checks.push(format!("{c} {le} {}", text(max)));
            }
            if checks.is_empty() {
                return Err(invalid(
                    "accepted_range needs `min_value` or `max_value`".into(),
                ));
            }
            (
                base_name,
                format!(
                    "select * from {relation} where not ({})",
                    checks.join(" and ")
                ),
            )
        }
        "expression_is_true" => {
            let expression = text(need("expression")?);
            let predicate = match column {
                Some(c) => format!("{c} {expression}"),
                None => expression,
            };
            (
                base_name,
                format!("select * from {relation} where not ({predicate})"),
            )
        }
        "not_null_proportion" => {
            let c = col()?;
            let at_least = argument(args, "at_least").map_or("0".to_string(), text);
            let at_most = argument(args, "at_most").map_or("1".to_string(), text);
            (
                base_name,
                format!(
                    "select proportion from (select cast(count({c}) as double) / nullif(count(*), 0) as proportion \
                     from {relation}) as p where proportion < {at_least} or proportion > {at_most}"
                ),
            )
        }
        "unique_combination_of_columns" => {
            let columns: Vec<String> = need("combination_of_columns")?
                .as_sequence()
                .ok_or_else(|| invalid("combination_of_columns must be a list".into()))?
                .iter()
                .map(text)
                .collect();
            let list = columns.join(", ");
            (
                format!("{base_name}__{}", columns.join("__")),
                format!(
                    "select {list}, count(*) as n_records from {relation} group by {list} having count(*) > 1"
                ),
            )
        }
        "recency" => {
            let field = text(need("field")?);
            let datepart = text(need("datepart")?);
            let interval = text(need("interval")?);
            // ignore_time_component compares dates; group_by_columns checks each group.
            let dates = argument(args, "ignore_time_component")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let threshold = format!("current_timestamp - interval '{interval} {datepart}'");
            let (newest, threshold) = if dates {
                (
                    format!("cast(max({field}) as date)"),
                    format!("cast({threshold} as date)"),
                )
            } else {
                (format!("max({field})"), threshold)
            };
            let groups: Vec<String> = argument(args, "group_by_columns")
                .and_then(Value::as_sequence)
                .map(|g| g.iter().map(text).collect())
                .unwrap_or_default();
            let (select, group) = if groups.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    format!("{}, ", groups.join(", ")),
                    format!(" group by {}", groups.join(", ")),
                )
            };
            (
                base_name,
                format!(
                    "select * from (select {select}{newest} as most_recent from {relation}{group}) as r \
                     where most_recent is null or most_recent < {threshold}"
                ),
            )
        }
        "equal_rowcount" => {
            let compare = text(need("compare_model")?);
            let other = resolve_relation(project, &compare)
                .ok_or_else(|| invalid(format!("cannot resolve `compare_model: {compare}`")))?;
            (
                format!("{base_name}__{other}"),
                format!(
                    "select a, b from (select (select count(*) from {relation}) as a, \
                     (select count(*) from {other}) as b) as counts where a <> b"
                ),
            )
        }
        // A project's own test of the same name wins, unless the schema file says dbt_utils.
        custom
            if project.custom_tests.iter().any(|t| t == custom)
                && !(namespaced && crate::utils_tests::is_builtin(custom)) =>
        {
            let mut call = format!("{{{{ test_{custom}(model={}", serde_json::json!(relation));
            if let Some(c) = column {
                call.push_str(&format!(", column_name={}", serde_json::json!(c)));
            }
            for (key, value) in args.and_then(Value::as_mapping).into_iter().flatten() {
                let Some(key) = key.as_str() else { continue };
                if matches!(
                    key,
                    "config" | "severity" | "where" | "warn_if" | "error_if" | "store_failures"
                ) {
                    continue;
                }
                let json = serde_json::to_value(value).map_err(|e| invalid(e.to_string()))?;
                call.push_str(&format!(", {key}={json}"));
            }
            call.push_str(") }}");
            let model = crate::project::Model {
                name: base_name.clone(),
                path: file.to_path_buf(),
                fqn: vec![project.name.clone(), base_name.clone()],
                raw_sql: call,
                config: crate::project::ModelConfig::default(),
            };
            let rendered = crate::render::compile(project, &model, ctx, &Default::default())?;
            if !rendered.pending.is_empty() {
                rerender = Some((model, rendered.pending.clone()));
            }
            (base_name, rendered.sql)
        }
        other => {
            let argument = |key: &str| argument(args, key);
            let resolve = |text: &str| resolve_relation(project, text);
            let input = crate::utils_tests::TestInput {
                model,
                relation: &relation,
                column,
                argument: &argument,
                resolve: &resolve,
                base_name: &base_name,
            };
            match crate::utils_tests::build(other, &input) {
                Some(built) => {
                    let built = built.map_err(invalid)?;
                    columns_from = built.columns;
                    (built.name, built.sql)
                }
                None => {
                    const KNOWN: &[&str] = &[
                        "unique",
                        "not_null",
                        "accepted_values",
                        "relationships",
                        "accepted_range",
                        "expression_is_true",
                        "not_null_proportion",
                        "unique_combination_of_columns",
                        "recency",
                        "equal_rowcount",
                        "relationships_where",
                        "not_accepted_values",
                        "not_empty_string",
                        "not_constant",
                        "at_least_one",
                        "cardinality_equality",
                        "fewer_rows_than",
                        "equality",
                        "sequential_values",
                        "mutually_exclusive_ranges",
                    ];
                    let names = KNOWN
                        .iter()
                        .copied()
                        .chain(project.custom_tests.iter().map(String::as_str));
                    let hint = crate::graph::closest(other, names)
                        .map(|c| format!("did you mean `{c}`? "))
                        .unwrap_or_default();
                    return Err(invalid(format!(
                        "unknown test `{other}`; {hint}supported: unique, not_null, accepted_values, \
                         relationships, and dbt_utils' accepted_range, expression_is_true, \
                         not_null_proportion, unique_combination_of_columns, recency, \
                         equal_rowcount, relationships_where, not_accepted_values, \
                         not_empty_string, not_constant, at_least_one, cardinality_equality, \
                         fewer_rows_than, equality, sequential_values, mutually_exclusive_ranges, or a {{% test %}} block in \
                         tests/generic or macros"
                    )));
                }
            }
        }
    };
    Ok(SchemaTest {
        name,
        kind,
        model: model.to_string(),
        column: column.unwrap_or_default().to_string(),
        file: file.to_path_buf(),
        sql,
        severity: severity_of(args),
        warn_if: config_value(args, "warn_if").map_or("!= 0".to_string(), text),
        error_if: config_value(args, "error_if").map_or("!= 0".to_string(), text),
        store_failures: config_value(args, "store_failures")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        problem: None,
        columns_from,
        rerender,
        unit: None,
    })
}

/// A declared test that cannot be built, kept so the run reports it.
fn broken(
    file: &Path,
    model: &str,
    column: Option<&str>,
    test: &Value,
    error: Error,
) -> SchemaTest {
    let kind = match test {
        Value::String(kind) => kind.clone(),
        Value::Mapping(map) => map
            .keys()
            .next()
            .and_then(Value::as_str)
            .unwrap_or("test")
            .to_string(),
        _ => "test".to_string(),
    };
    let kind = kind.trim_start_matches("dbt_utils.");
    let column_part = column.map(|c| format!("_{c}")).unwrap_or_default();
    SchemaTest {
        name: format!("{kind}_{model}{column_part}"),
        kind: kind.to_string(),
        model: model.to_string(),
        column: column.unwrap_or_default().to_string(),
        file: file.to_path_buf(),
        sql: String::new(),
        severity: Severity::Error,
        warn_if: "!= 0".to_string(),
        error_if: "!= 0".to_string(),
        store_failures: false,
        problem: Some(error.to_string()),
        columns_from: None,
        rerender: None,
        unit: None,
    }
}

/// The tests a model or column declares, under `data_tests:` (dbt 1.8+) or `tests:`.
fn declared_tests(node: &Value) -> &[Value] {
    node.get("data_tests")
        .or_else(|| node.get("tests"))
        .and_then(Value::as_sequence)
        .map_or(&[], Vec::as_slice)
}

/// Tests declared on source tables and their columns (`sources: - tables: - columns: -
/// tests:`), run against the lake table the source reads and named as dbt names them
/// (`source_not_null_raw_orders_id`).
fn source_tests(project: &DbtProject, ctx: &crate::render::RenderContext) -> Vec<SchemaTest> {
    let mut tests = Vec::new();
    for (file, schema) in &project.schema_files {
        let sources = schema.get("sources").and_then(Value::as_sequence);
        for source in sources.into_iter().flatten() {
            let Some(source_name) = source.get("name").and_then(Value::as_str) else {
                continue;
            };
            let tables = source.get("tables").and_then(Value::as_sequence);
            for table in tables.into_iter().flatten() {
                let Some(table_name) = table.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let Some(resolved) = project
                    .sources
                    .iter()
                    .find(|s| s.source == source_name && s.table == table_name)
                else {
                    continue;
                };
                let relation = resolved.identifier.as_str();
                let mut declared: Vec<(Option<&str>, &Value)> =
                    declared_tests(table).iter().map(|t| (None, t)).collect();
                for column in table
                    .get("columns")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    if let Some(name) = column.get("name").and_then(Value::as_str) {
                        declared.extend(declared_tests(column).iter().map(|t| (Some(name), t)));
                    }
                }
                for (column, test) in declared {
                    let mut built = build(project, ctx, file, relation, column, test)
                        .unwrap_or_else(|e| broken(file, relation, column, test, e));
                    // dbt's name: `source_<test>_<source>_<table>_<column>...`.
                    let plain = format!("{}_{relation}", built.kind);
                    if let Some(rest) = built.name.strip_prefix(&plain) {
                        built.name =
                            format!("source_{}_{source_name}_{table_name}{rest}", built.kind);
                    }
                    tests.push(built);
                }
            }
        }
    }
    tests
}

/// Reads every generic test declared under `models:` in the project's schema files.
pub fn schema_tests(
    project: &DbtProject,
    ctx: &crate::render::RenderContext,
) -> Result<Vec<SchemaTest>> {
    let mut tests = Vec::new();
    for (file, schema) in &project.schema_files {
        // Tests on models and, as dbt does, on seeds (lake tables of the same name).
        let models = schema.get("models").and_then(Value::as_sequence);
        let seeds = schema.get("seeds").and_then(Value::as_sequence);
        for model in models.into_iter().chain(seeds).flatten() {
            let Some(model_name) = model.get("name").and_then(Value::as_str) else {
                continue;
            };
            let known = project.models.iter().any(|m| m.name == model_name)
                || project.seeds.iter().any(|s| s.name == model_name);
            if !known {
                // dbt warns about properties of a node that does not exist, and goes on.
                tracing::warn!(
                    file = %file.display(),
                    "schema file documents `{model_name}`, which is not a model or seed; ignored"
                );
                continue;
            }
            for test in declared_tests(model) {
                let built = build(project, ctx, file, model_name, None, test);
                tests.push(built.unwrap_or_else(|e| broken(file, model_name, None, test, e)));
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
                for test in declared_tests(&column) {
                    let built = build(project, ctx, file, model_name, Some(column_name), test);
                    tests.push(
                        built.unwrap_or_else(|e| {
                            broken(file, model_name, Some(column_name), test, e)
                        }),
                    );
                }
            }
        }
    }
    tests.extend(source_tests(project, ctx));
    // Two tests may render the same name; keep names unique as dbt does.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for test in &mut tests {
        let count = seen.entry(test.name.clone()).or_default();
        *count += 1;
        if *count > 1 {
            test.name = format!("{}_{count}", test.name);
        }
    }
    tests.extend(unit_tests(project, ctx));
    Ok(tests)
}

/// The project's enabled unit tests, as tests of their models. A unit test that cannot run
/// (unknown model or input, malformed rows, missing fixture) carries the problem, naming its
/// property file, and is that test's ERROR.
pub fn unit_tests(project: &DbtProject, ctx: &crate::render::RenderContext) -> Vec<SchemaTest> {
    let shared = std::sync::Arc::new(project.clone());
    project
        .unit_tests
        .iter()
        .filter(|t| t.spec.config.enabled)
        // A disabled model's unit tests are off too.
        .filter(|t| {
            project
                .models
                .iter()
                .find(|m| m.name == t.spec.model)
                .is_none_or(|m| m.config.enabled)
        })
        .map(|test| SchemaTest {
            name: test.spec.name.clone(),
            kind: "unit".to_string(),
            model: test.spec.model.clone(),
            column: String::new(),
            file: test.file.clone(),
            sql: String::new(),
            severity: Severity::Error,
            warn_if: "!= 0".to_string(),
            error_if: "!= 0".to_string(),
            store_failures: false,
            problem: crate::unit::check(project, test).err().map(|problem| {
                Error::Project {
                    path: test.file.clone(),
                    message: format!("unit test `{}`: {problem}", test.spec.name),
                }
                .to_string()
            }),
            columns_from: None,
            rerender: None,
            unit: Some(std::sync::Arc::new(crate::unit::UnitCase {
                test: test.clone(),
                project: shared.clone(),
                render: ctx.clone(),
            })),
        })
        .collect()
}

/// Renders the project's singular tests: each file is a query whose rows are failures.
pub fn singular_tests(
    project: &DbtProject,
    ctx: &crate::render::RenderContext,
) -> Result<Vec<(SchemaTest, Vec<String>)>> {
    let mut tests = Vec::new();
    for file in &project.singular_tests {
        let compiled = crate::render::compile(project, file, ctx, &Default::default())?;
        // `{{ config(enabled=false) }}` turns a singular test off.
        if !compiled.config.enabled {
            continue;
        }
        tests.push((
            SchemaTest {
                name: file.name.clone(),
                kind: "singular".to_string(),
                model: compiled.refs.first().cloned().unwrap_or_default(),
                column: String::new(),
                file: file.path.clone(),
                sql: compiled.sql,
                severity: if compiled.config.severity == "warn" {
                    Severity::Warn
                } else {
                    Severity::Error
                },
                warn_if: "!= 0".to_string(),
                error_if: "!= 0".to_string(),
                store_failures: false,
                problem: None,
                columns_from: None,
                rerender: (!compiled.pending.is_empty())
                    .then(|| (file.clone(), compiled.pending.clone())),
                unit: None,
            },
            compiled.refs,
        ));
    }
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::threshold_met;

    #[test]
    fn thresholds_follow_dbt() {
        assert_eq!(threshold_met("!= 0", 0), Ok(false));
        assert_eq!(threshold_met("!=0", 3), Ok(true));
        assert_eq!(threshold_met(">10", 10), Ok(false));
        assert_eq!(threshold_met("> 10", 11), Ok(true));
        assert_eq!(threshold_met(">=5", 5), Ok(true));
        assert_eq!(threshold_met("<2", 1), Ok(true));
        assert_eq!(threshold_met("=3", 3), Ok(true));
        assert!(threshold_met("lots", 1).is_err());
        assert!(threshold_met(">x", 1).is_err());
    }
}
