//! More of dbt_utils' generic tests: `not_accepted_values`, `not_empty_string`, `not_constant`,
//! `at_least_one`, `cardinality_equality`, `fewer_rows_than`, `equality`, `sequential_values`.
//! Each is a query returning the failing rows, as dbt_utils writes them.

use serde_yaml_ng::Value;

/// What a test needs to render.
pub(crate) struct TestInput<'a> {
    /// The relation under test (the model, or a `where`-filtered subquery of it).
    pub relation: &'a str,
    /// The column, for column tests.
    pub column: Option<&'a str>,
    /// Reads an argument of the test.
    pub argument: &'a dyn Fn(&str) -> Option<&'a Value>,
    /// Resolves `ref('x')` / `source('a', 'b')` to a relation.
    pub resolve: &'a dyn Fn(&str) -> Option<String>,
    /// The test's default name.
    pub base_name: &'a str,
}

fn text(value: &Value) -> String {
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

fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => text(other),
    }
}

/// Renders test `kind`, or `None` when it is not one of these.
pub(crate) fn build(kind: &str, input: &TestInput) -> Option<Result<(String, String), String>> {
    let relation = input.relation;
    let need = |key: &str| (input.argument)(key).ok_or_else(|| format!("`{kind}` needs `{key}`"));
    let column = || {
        input
            .column
            .ok_or_else(|| format!("`{kind}` is a column test"))
    };
    let other = |key: &str| -> Result<String, String> {
        let written = text(need(key)?);
        (input.resolve)(&written).ok_or_else(|| {
            format!(
                "cannot resolve `{key}: {written}`; use ref('model') or source('name', 'table')"
            )
        })
    };
    let base = input.base_name.to_string();
    let result = (|| -> Result<(String, String), String> {
        Ok(match kind {
            "not_accepted_values" => {
                let c = column()?;
                let values = need("values")?
                    .as_sequence()
                    .ok_or("not_accepted_values needs `values: [...]`")?;
                let list: Vec<String> = values.iter().map(literal).collect();
                (
                    base,
                    format!(
                        "select {c} as value_field, count(*) as n_records from {relation} \
                         where {c} in ({}) group by {c}",
                        list.join(", ")
                    ),
                )
            }
            "not_empty_string" => {
                let c = column()?;
                let trim = (input.argument)("trim_whitespace")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let value = if trim {
                    format!("trim({c})")
                } else {
                    c.to_string()
                };
                (
                    base,
                    format!("select {c} from {relation} where {value} = ''"),
                )
            }
            "not_constant" => {
                let c = column()?;
                (
                    base,
                    format!(
                        "select count(distinct {c}) as filler_column from {relation} \
                         having count(distinct {c}) = 1"
                    ),
                )
            }
            "at_least_one" => {
                let c = column()?;
                (
                    base,
                    format!(
                        "select count({c}) as filler_column from {relation} having count({c}) = 0"
                    ),
                )
            }
            "cardinality_equality" => {
                let c = column()?;
                let field = text(need("field")?);
                let to = other("to")?;
                let counts = |col: &str, rel: &str| {
                    format!("select {col} as value, count(*) as n from {rel} group by {col}")
                };
                (
                    format!("{base}__{field}__{to}"),
                    format!(
                        "select * from (({a}) except ({b})) as left_only \
                         union all select * from (({b}) except ({a})) as right_only",
                        a = counts(c, relation),
                        b = counts(&field, &to)
                    ),
                )
            }
            "fewer_rows_than" => {
                let to = other("compare_model")?;
                (
                    format!("{base}__{to}"),
                    format!(
                        "select a as row_count, b as compare_row_count from \
                         (select (select count(*) from {relation}) as a, \
                         (select count(*) from {to}) as b) as counts where a >= b"
                    ),
                )
            }
            "equality" => {
                let to = other("compare_model")?;
                let columns = (input.argument)("compare_columns")
                    .and_then(Value::as_sequence)
                    .map(|c| c.iter().map(text).collect::<Vec<_>>().join(", "))
                    .unwrap_or_else(|| "*".to_string());
                (
                    format!("{base}__{to}"),
                    format!(
                        "select * from ((select {columns} from {relation}) except all \
                         (select {columns} from {to})) as a_minus_b \
                         union all select * from ((select {columns} from {to}) except all \
                         (select {columns} from {relation})) as b_minus_a"
                    ),
                )
            }
            "sequential_values" => {
                let c = column()?;
                let interval = (input.argument)("interval").map_or("1".to_string(), text);
                let datepart = (input.argument)("datepart").map(text);
                let expected = match &datepart {
                    Some(part) => format!("previous_{c} + cast('{interval} {part}' as interval)"),
                    None => format!("previous_{c} + {interval}"),
                };
                let partition = (input.argument)("group_by_columns")
                    .and_then(Value::as_sequence)
                    .map(|g| {
                        format!(
                            "partition by {} ",
                            g.iter().map(text).collect::<Vec<_>>().join(", ")
                        )
                    })
                    .unwrap_or_default();
                (
                    base,
                    format!(
                        "select * from (select {c}, lag({c}) over ({partition}order by {c}) \
                         as previous_{c} from {relation}) as windowed \
                         where previous_{c} is not null and {c} <> {expected}"
                    ),
                )
            }
            _ => return Err(String::new()),
        })
    })();
    match result {
        Err(message) if message.is_empty() => None,
        other => Some(other),
    }
}
