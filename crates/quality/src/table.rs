//! Table expectations: row count, column list, set and count, column existence.

use serde_json::{Map, Value};

use crate::suite::Expectation;
use crate::validate::{Outcome, TableInfo};

fn kwarg_f64(e: &Expectation, key: &str) -> Option<f64> {
    e.kwargs.get(key).and_then(Value::as_f64)
}

fn kwarg_bool(e: &Expectation, key: &str) -> bool {
    e.kwargs.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// `min <= value <= max` with GE's optional bounds and strictness.
fn within(e: &Expectation, value: f64) -> bool {
    let above = kwarg_f64(e, "min_value").is_none_or(|min| {
        if kwarg_bool(e, "strict_min") {
            value > min
        } else {
            value >= min
        }
    });
    let below = kwarg_f64(e, "max_value").is_none_or(|max| {
        if kwarg_bool(e, "strict_max") {
            value < max
        } else {
            value <= max
        }
    });
    above && below
}

pub(crate) fn table_expectation(info: &TableInfo, e: &Expectation) -> Outcome {
    let names: Vec<String> = info.columns.iter().map(|(n, _)| n.clone()).collect();
    let strings = |key: &str| -> Vec<String> {
        e.kwargs
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let observed = |value: Value| {
        let mut result = Map::new();
        result.insert("observed_value".into(), value);
        result
    };
    let (success, result) = match e.expectation_type.as_str() {
        "expect_table_row_count_to_be_between" => (
            within(e, info.rows as f64),
            observed(Value::from(info.rows)),
        ),
        "expect_table_row_count_to_equal" => (
            kwarg_f64(e, "value") == Some(info.rows as f64),
            observed(Value::from(info.rows)),
        ),
        "expect_table_column_count_to_equal" => (
            kwarg_f64(e, "value") == Some(names.len() as f64),
            observed(Value::from(names.len())),
        ),
        "expect_table_column_count_to_be_between" => (
            within(e, names.len() as f64),
            observed(Value::from(names.len())),
        ),
        "expect_table_columns_to_match_ordered_list" => {
            let expected = strings("column_list");
            (expected == names, observed(Value::from(names.clone())))
        }
        "expect_table_columns_to_match_set" => {
            let expected = strings("column_set");
            let exact = e
                .kwargs
                .get("exact_match")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let all_present = expected.iter().all(|c| names.contains(c));
            let no_extra = names.iter().all(|c| expected.contains(c));
            let mut sorted = names.clone();
            sorted.sort();
            (
                all_present && (!exact || no_extra),
                observed(Value::from(sorted)),
            )
        }
        "expect_column_to_exist" => {
            let column = e
                .kwargs
                .get("column")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let position = names.iter().position(|n| n == column);
            let at_index = match e.kwargs.get("column_index").and_then(Value::as_i64) {
                // GE checks existence only for index 0, and counts negative indexes from the end.
                None | Some(0) => true,
                Some(i) if i > 0 => position == Some(i as usize),
                Some(i) => position.is_some_and(|p| p as i64 == names.len() as i64 + i),
            };
            (position.is_some() && at_index, Map::new())
        }
        other => return Outcome::exception(format!("`{other}` is not a table expectation")),
    };
    Outcome {
        success,
        result,
        exception: None,
    }
}
