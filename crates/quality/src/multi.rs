//! Column pair and multicolumn expectations as row conditions over several columns:
//! `column_pair_values_a_to_be_greater_than_b`, `column_pair_values_to_be_equal`,
//! `compound_columns_to_be_unique`, `select_column_values_to_be_unique_within_record`,
//! `multicolumn_sum_to_equal`, with GE's `ignore_row_if` defaults (a pair skips a row only
//! when both values are missing; multicolumn when all are) and its null semantics (a
//! comparison with a null is unexpected; nulls compare equal in compound uniqueness).

use serde_json::Value;

use crate::sql::ident;
use crate::suite::Expectation;

/// How a multi-column expectation reads the table.
pub struct RowCheck {
    /// The columns, in kwarg order.
    pub columns: Vec<String>,
    /// SQL condition: the row is left out (counted as missing).
    pub ignored: String,
    /// SQL condition on kept rows: the row is unexpected.
    pub unexpected: String,
    /// Whether values print as `[a, b]` (pairs) or `{column: value}` (multicolumn).
    pub pair: bool,
    /// A window column the condition needs (compound uniqueness counts copies).
    pub window: Option<String>,
}

fn columns(e: &Expectation) -> Result<Vec<String>, String> {
    if let (Some(a), Some(b)) = (
        e.kwargs.get("column_A").and_then(Value::as_str),
        e.kwargs.get("column_B").and_then(Value::as_str),
    ) {
        return Ok(vec![a.to_string(), b.to_string()]);
    }
    let list: Vec<String> = e
        .kwargs
        .get("column_list")
        .and_then(Value::as_array)
        .ok_or("`column_list` must be a list of column names")?
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    if list.is_empty() {
        return Err("`column_list` is empty".into());
    }
    Ok(list)
}

fn joined(columns: &[String], each: impl Fn(&str) -> String, glue: &str) -> String {
    columns
        .iter()
        .map(|c| each(&ident(c)))
        .collect::<Vec<_>>()
        .join(glue)
}

/// Builds the row check of expectation `e`.
pub fn row_check(e: &Expectation) -> Result<RowCheck, String> {
    let columns = columns(e)?;
    let pair = e.kwargs.contains_key("column_A");
    let default_ignore = if pair {
        "both_values_are_missing"
    } else {
        "all_values_are_missing"
    };
    let ignore = e
        .kwargs
        .get("ignore_row_if")
        .and_then(Value::as_str)
        .unwrap_or(default_ignore);
    let all_null = joined(&columns, |c| format!("{c} is null"), " and ");
    let any_null = joined(&columns, |c| format!("{c} is null"), " or ");
    let ignored = match ignore {
        "both_values_are_missing" | "all_values_are_missing" => all_null,
        "either_value_is_missing" | "any_value_is_missing" => any_null,
        "neither" | "never" => "false".to_string(),
        other => return Err(format!("unknown ignore_row_if `{other}`")),
    };
    let (a, b) = (
        ident(&columns[0]),
        ident(columns.get(1).unwrap_or(&columns[0])),
    );
    let mut window = None;
    let unexpected = match e.expectation_type.as_str() {
        "expect_column_pair_values_a_to_be_greater_than_b" => {
            let op = if e.kwargs.get("or_equal").and_then(Value::as_bool) == Some(true) {
                ">="
            } else {
                ">"
            };
            // A comparison with a null is not true, so the row is unexpected.
            format!("not coalesce({a} {op} {b}, false)")
        }
        "expect_column_pair_values_to_be_equal" => format!("not coalesce({a} = {b}, false)"),
        "expect_compound_columns_to_be_unique" => {
            // Nulls compare equal here: a window partition groups them together.
            window = Some(format!(
                "count(*) over (partition by {}) as __dataflow_copies",
                joined(&columns, |c| c.to_string(), ", ")
            ));
            "__dataflow_copies > 1".to_string()
        }
        "expect_select_column_values_to_be_unique_within_record" => {
            let mut same = Vec::new();
            for (i, x) in columns.iter().enumerate() {
                for y in &columns[i + 1..] {
                    same.push(format!("({} is not distinct from {})", ident(x), ident(y)));
                }
            }
            if same.is_empty() {
                "false".to_string()
            } else {
                same.join(" or ")
            }
        }
        "expect_multicolumn_sum_to_equal" => {
            let total = e
                .kwargs
                .get("sum_total")
                .and_then(Value::as_f64)
                .ok_or("`sum_total` must be a number")?;
            // Any null makes the sum null, and the row unexpected (pandas skipna=False).
            format!(
                "not coalesce(({}) = {total}, false)",
                joined(&columns, |c| c.to_string(), " + ")
            )
        }
        other => {
            return Err(format!(
                "`{other}` is not a pair or multicolumn expectation"
            ));
        }
    };
    Ok(RowCheck {
        columns,
        ignored,
        unexpected,
        pair,
        window,
    })
}

/// One unexpected row as GE prints it, and as the value counted in `partial_unexpected_counts`.
pub fn shape(check: &RowCheck, values: Vec<Value>) -> (Value, Value) {
    let listed = Value::from(values.clone());
    if check.pair {
        return (listed.clone(), listed);
    }
    let object: serde_json::Map<String, Value> =
        check.columns.iter().cloned().zip(values).collect();
    (Value::Object(object), listed)
}
