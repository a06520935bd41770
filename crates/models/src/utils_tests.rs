//! More of dbt_utils' generic tests: `not_accepted_values`, `not_empty_string`, `not_constant`,
//! `at_least_one`, `cardinality_equality`, `fewer_rows_than`, `equality`, `sequential_values`.
//! Each is a query returning the failing rows, as dbt_utils writes them.

use serde_yaml_ng::Value;

use crate::schema_tests::{quote_literal as literal, text};

/// A column list resolved when the test runs (dbt_utils reads it from the warehouse): the
/// columns of `relation` without `exclude`, numbers rounded to `precision` digits. The test's
/// SQL holds [`COLUMNS`] where the list goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// The relation whose columns are listed.
    pub relation: String,
    /// Only these columns, in this order (all when empty).
    pub only: Vec<String>,
    /// Columns left out (case-insensitive).
    pub exclude: Vec<String>,
    /// Round numeric columns to this many digits.
    pub precision: Option<i64>,
}

/// Where a [`ColumnSpec`]'s list goes in a test's SQL.
pub const COLUMNS: &str = "__dataflow_columns__";

/// A rendered test.
pub(crate) struct Built {
    pub name: String,
    pub sql: String,
    pub columns: Option<ColumnSpec>,
}

/// What a test needs to render.
pub(crate) struct TestInput<'a> {
    /// The model under test (its name, for reading its columns).
    pub model: &'a str,
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

/// Renders test `kind`, or `None` when it is not one of these.
pub(crate) fn build(kind: &str, input: &TestInput) -> Option<Result<Built, String>> {
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
    let mut columns = None;
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
                let groups: Vec<String> = (input.argument)("group_by_columns")
                    .and_then(Value::as_sequence)
                    .map(|g| g.iter().map(text).collect())
                    .unwrap_or_default();
                let sql = if groups.is_empty() {
                    format!(
                        "select count({c}) as filler_column from {relation} having count({c}) = 0"
                    )
                } else {
                    let g = groups.join(", ");
                    format!(
                        "select {g}, count({c}) as filler_column from {relation} group by {g} \
                         having count({c}) = 0"
                    )
                };
                (base, sql)
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
                let names = |key: &str| -> Vec<String> {
                    (input.argument)(key)
                        .and_then(Value::as_sequence)
                        .map(|c| c.iter().map(text).collect())
                        .unwrap_or_default()
                };
                let compare = names("compare_columns");
                let exclude = names("exclude_columns");
                let precision = (input.argument)("precision").and_then(Value::as_i64);
                // dbt_utils compares the listed columns, else model A's columns by name.
                let list = if compare.is_empty() || precision.is_some() || !exclude.is_empty() {
                    columns = Some(ColumnSpec {
                        relation: input.model.to_string(),
                        only: compare,
                        exclude,
                        precision,
                    });
                    COLUMNS.to_string()
                } else {
                    compare.join(", ")
                };
                (
                    format!("{base}__{to}"),
                    format!(
                        "select * from ((select {list} from {relation}) except all \
                         (select {list} from {to})) as a_minus_b \
                         union all select * from ((select {list} from {to}) except all \
                         (select {list} from {relation})) as b_minus_a"
                    ),
                )
            }
            "mutually_exclusive_ranges" => {
                let lower = text(need("lower_bound_column")?);
                let upper = text(need("upper_bound_column")?);
                let partition = (input.argument)("partition_by").map(text);
                let gaps = (input.argument)("gaps").map_or("allowed".to_string(), text);
                let zero_length = (input.argument)("zero_length_range_allowed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let next_op = match gaps.as_str() {
                    "allowed" => "<=",
                    "not_allowed" => "=",
                    "required" => "<",
                    other => {
                        return Err(format!(
                            "gaps must be allowed, not_allowed or required, got `{other}`"
                        ));
                    }
                };
                let bound_op = if zero_length { "<=" } else { "<" };
                let over = partition
                    .as_ref()
                    .map(|p| format!("partition by {p} "))
                    .unwrap_or_default();
                let keep = partition
                    .as_ref()
                    .map(|p| format!("{p}, "))
                    .unwrap_or_default();
                (
                    base,
                    format!(
                        "select * from (select *, coalesce(lower_bound {bound_op} upper_bound, false) \
                         as lower_bound_check, coalesce(upper_bound {next_op} next_lower_bound, \
                         is_last_record, false) as upper_bound_check from (select {keep}\
                         {lower} as lower_bound, {upper} as upper_bound, lead({lower}) over \
                         ({over}order by {lower}, {upper}) as next_lower_bound, row_number() over \
                         ({over}order by {lower} desc, {upper} desc) = 1 as is_last_record \
                         from {relation}) as window_functions) as calc \
                         where not (lower_bound_check and upper_bound_check)"
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
        Err(message) => Some(Err(message)),
        Ok((name, sql)) => Some(Ok(Built { name, sql, columns })),
    }
}

/// Whether `kind` is one of the dbt_utils tests built in here.
pub(crate) fn is_builtin(kind: &str) -> bool {
    const BUILTIN: &[&str] = &[
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
    BUILTIN.contains(&kind)
}
