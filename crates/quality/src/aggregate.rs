//! Column aggregate expectations (mean, median, stdev, sum, min, max, distinct values, most
//! common value, quantiles) with GE's answers to the last digit: GE computes them with pandas,
//! so sums are numpy's pairwise sums over the column with nulls as zeros, the deviation is the
//! sample one, a median of an even count averages the middle two, and quantiles use numpy's
//! methods (`nearest` with round-half-even unless `allow_relative_error` names another).
//!
//! The column is read as a stream ([`Column`]): mean, sum, min and max in constant memory,
//! stdev with a second pass; median and quantiles hold the column's numbers and the value-set
//! expectations its values (see [`Needs`]).

mod column;
mod pairwise;

pub use column::{Column, Deviations, Needs};
pub use pairwise::{PairwiseSum, pairwise_sum};

use serde_json::{Map, Value, json};

use crate::sql;
use crate::suite::Expectation;

/// The median of sorted numbers: an even count averages the middle two.
fn median(values: &[f64]) -> Option<f64> {
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// numpy's quantile of the column's sorted numbers with `method`.
fn quantile(column: &Column, q: f64, method: &str) -> Option<Value> {
    let values = column.sorted();
    let n = values.len();
    if n == 0 {
        return None;
    }
    let position = q * (n - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil().min((n - 1) as f64) as usize;
    Some(match method {
        "lower" => column.typed(values[lower]),
        "higher" => column.typed(values[upper]),
        "midpoint" => Value::from((values[lower] + values[upper]) / 2.0),
        "linear" => {
            let fraction = position - lower as f64;
            Value::from(values[lower] + (values[upper] - values[lower]) * fraction)
        }
        // nearest: round half to even, as numpy's around.
        _ => column.typed(values[position.round_ties_even() as usize]),
    })
}

fn bound(e: &Expectation, key: &str) -> Option<f64> {
    e.kwargs.get(key).and_then(Value::as_f64)
}

fn flag(e: &Expectation, key: &str) -> bool {
    e.kwargs.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// `min <= value <= max` with GE's optional bounds and strictness; a missing value fails.
fn within(e: &Expectation, value: Option<f64>) -> bool {
    let Some(value) = value else { return false };
    let above = bound(e, "min_value").is_none_or(|min| {
        if flag(e, "strict_min") {
            value > min
        } else {
            value >= min
        }
    });
    let below = bound(e, "max_value").is_none_or(|max| {
        if flag(e, "strict_max") {
            value < max
        } else {
            value <= max
        }
    });
    above && below
}

/// `min <= text <= max` on ISO date-times (bounds without a time are midnight).
fn within_text(e: &Expectation, value: &str) -> bool {
    let normal = |text: &str| {
        if text.len() == 10 {
            format!("{text}T00:00:00")
        } else {
            text.replace(' ', "T")
        }
    };
    let value = normal(value);
    let above = e
        .kwargs
        .get("min_value")
        .and_then(Value::as_str)
        .is_none_or(|min| {
            let min = normal(min);
            if flag(e, "strict_min") {
                value > min
            } else {
                value >= min
            }
        });
    let below = e
        .kwargs
        .get("max_value")
        .and_then(Value::as_str)
        .is_none_or(|max| {
            let max = normal(max);
            if flag(e, "strict_max") {
                value < max
            } else {
                value <= max
            }
        });
    above && below
}

fn observed(value: Value) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("observed_value".into(), value);
    result
}

fn number(value: Option<f64>) -> Value {
    value.map_or(Value::Null, Value::from)
}

/// Distinct non-null values, sorted as GE sorts them.
fn distinct(column: &Column) -> Vec<Value> {
    let mut values: Vec<Value> = column
        .json
        .iter()
        .filter(|v| !v.is_null())
        .cloned()
        .collect();
    values.sort_by(sql::compare);
    values.dedup();
    values
}

/// Whether two JSON values are equal the way Python compares them (1 == 1.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The set kwarg as GE reads it for this column: for date-time columns, date strings are dates.
fn value_set(e: &Expectation, column: &Column) -> Vec<Value> {
    let set = e
        .kwargs
        .get("value_set")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if sql::is_temporal(&column.data_type) {
        set.into_iter()
            .map(|v| match v.as_str() {
                Some(text) if text.len() == 10 => Value::from(format!("{text}T00:00:00")),
                _ => v,
            })
            .collect()
    } else {
        set
    }
}

/// Evaluates an aggregate expectation on a column: success and GE's `result`.
pub fn evaluate(e: &Expectation, column: &Column) -> Result<(bool, Map<String, Value>), String> {
    let kind = e.expectation_type.as_str();
    let numeric = column.data_type.is_numeric();
    let need_numbers = || {
        if numeric {
            Ok(())
        } else {
            Err(format!(
                "`{kind}` needs a numeric column, got {}",
                column.data_type
            ))
        }
    };
    Ok(match kind {
        "expect_column_mean_to_be_between" => {
            need_numbers()?;
            let mean = column.mean();
            (within(e, mean), observed(number(mean)))
        }
        "expect_column_median_to_be_between" => {
            need_numbers()?;
            let median = median(column.sorted());
            (within(e, median), observed(number(median)))
        }
        "expect_column_stdev_to_be_between" => {
            need_numbers()?;
            let stdev = column.stdev();
            (within(e, stdev), observed(number(stdev)))
        }
        "expect_column_sum_to_be_between" => {
            need_numbers()?;
            let sum = column.sum();
            (within(e, sum.as_f64()), observed(sum))
        }
        "expect_column_min_to_be_between" | "expect_column_max_to_be_between" => {
            let is_min = kind.contains("_min_");
            if numeric {
                let value = column.extreme(is_min);
                (
                    within(e, value),
                    observed(value.map_or(Value::Null, |v| column.typed(v))),
                )
            } else {
                match column.text_extreme(is_min) {
                    Some(text) => (within_text(e, text), observed(Value::from(text))),
                    None => (false, observed(Value::Null)),
                }
            }
        }
        "expect_column_unique_value_count_to_be_between" => {
            let count = distinct(column).len();
            (within(e, Some(count as f64)), observed(Value::from(count)))
        }
        "expect_column_proportion_of_unique_values_to_be_between" => {
            let present = column.json.iter().filter(|v| !v.is_null()).count();
            let unique = distinct(column).len();
            let proportion = if present == 0 {
                Value::from(0)
            } else {
                Value::from(unique as f64 / present as f64)
            };
            (within(e, proportion.as_f64()), observed(proportion))
        }
        "expect_column_distinct_values_to_be_in_set"
        | "expect_column_distinct_values_to_contain_set"
        | "expect_column_distinct_values_to_equal_set" => {
            let values = distinct(column);
            let set = value_set(e, column);
            let unexpected: Vec<Value> = values
                .iter()
                .filter(|v| !set.iter().any(|s| same(s, v)))
                .cloned()
                .collect();
            let mut missing: Vec<Value> = set
                .iter()
                .filter(|s| !values.iter().any(|v| same(s, v)))
                .cloned()
                .collect();
            missing.sort_by(sql::compare);
            let mut result = observed(Value::Null);
            let partial =
                |list: &[Value]| Value::from(list.iter().take(20).cloned().collect::<Vec<_>>());
            let success = match kind {
                "expect_column_distinct_values_to_be_in_set" => {
                    result.insert("unexpected_count".into(), Value::from(unexpected.len()));
                    result.insert("partial_unexpected_list".into(), partial(&unexpected));
                    unexpected.is_empty()
                }
                "expect_column_distinct_values_to_contain_set" => {
                    result.insert("missing_count".into(), Value::from(missing.len()));
                    result.insert("partial_missing_list".into(), partial(&missing));
                    missing.is_empty()
                }
                _ => {
                    result.insert("unexpected_count".into(), Value::from(unexpected.len()));
                    result.insert("missing_count".into(), Value::from(missing.len()));
                    result.insert("partial_unexpected_list".into(), partial(&unexpected));
                    result.insert("partial_missing_list".into(), partial(&missing));
                    unexpected.is_empty() && missing.is_empty()
                }
            };
            (success, result)
        }
        "expect_column_most_common_value_to_be_in_set" => {
            let values: Vec<&Value> = column.json.iter().filter(|v| !v.is_null()).collect();
            let mut counts: Vec<(Value, usize)> = Vec::new();
            for value in values {
                match counts.iter_mut().find(|(v, _)| v == value) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((value.clone(), 1)),
                }
            }
            let top = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
            let mut modes: Vec<Value> = counts
                .into_iter()
                .filter(|(_, n)| *n == top && top > 0)
                .map(|(v, _)| v)
                .collect();
            modes.sort_by(sql::compare);
            let set = value_set(e, column);
            let in_set = |v: &Value| set.iter().any(|s| same(s, v));
            let success = if flag(e, "ties_okay") {
                modes.iter().any(in_set)
            } else {
                modes.len() == 1 && in_set(&modes[0])
            };
            (success, observed(Value::from(modes)))
        }
        "expect_column_quantile_values_to_be_between" => {
            need_numbers()?;
            let ranges = e
                .kwargs
                .get("quantile_ranges")
                .ok_or("`quantile_ranges` is required")?;
            let quantiles: Vec<f64> = ranges["quantiles"]
                .as_array()
                .ok_or("`quantile_ranges.quantiles` must be a list")?
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            let bounds = ranges["value_ranges"]
                .as_array()
                .ok_or("`quantile_ranges.value_ranges` must be a list")?;
            if bounds.len() != quantiles.len() {
                return Err("quantiles and value_ranges must have the same length".into());
            }
            let method = e
                .kwargs
                .get("allow_relative_error")
                .and_then(Value::as_str)
                .unwrap_or("nearest");
            let mut values = Vec::new();
            let mut details = Vec::new();
            for (q, range) in quantiles.iter().zip(bounds) {
                let value = quantile(column, *q, method).unwrap_or(Value::Null);
                let v = value.as_f64();
                let lo = range.get(0).and_then(Value::as_f64);
                let hi = range.get(1).and_then(Value::as_f64);
                let ok =
                    v.is_some_and(|v| lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi));
                details.push(Value::from(ok));
                values.push(value);
            }
            let success = details.iter().all(|d| d.as_bool() == Some(true));
            let mut result = observed(json!({"quantiles": quantiles, "values": values}));
            result.insert("details".into(), json!({"success_details": details}));
            (success, result)
        }
        other => return Err(format!("`{other}` is not a column aggregate expectation")),
    })
}
