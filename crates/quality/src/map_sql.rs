//! The SQL condition that marks a value unexpected, per column map expectation (nulls are
//! skipped unless the expectation is about nulls, as in GE).

use dataflow_engine::datafusion::arrow::datatypes::DataType;
use serde_json::Value;

use crate::sql::{self, ident};
use crate::suite::Expectation;

fn kwarg_bool(e: &Expectation, key: &str) -> bool {
    e.kwargs.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The SQL condition that marks a row unexpected, and whether nulls are the subject (then
/// percentages are of all rows, not of non-null rows).
pub(crate) fn unexpected_condition(
    e: &Expectation,
    column: &str,
    data_type: &DataType,
) -> std::result::Result<(String, bool), String> {
    let c = ident(column);
    // Regular expressions see a number's text, as GE's do.
    let text = if sql::is_text(data_type) {
        c.clone()
    } else {
        format!("cast({c} as varchar)")
    };
    let non_null =
        |condition: String| Ok((format!("{c} is not null and not ({condition})"), false));
    let text_list = |key: &str| -> std::result::Result<Vec<String>, String> {
        e.kwargs
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(sql::string)
                    .collect()
            })
            .ok_or_else(|| format!("`{key}` must be a list of strings"))
    };
    match e.expectation_type.as_str() {
        "expect_column_values_to_not_be_null" => Ok((format!("{c} is null"), true)),
        "expect_column_values_to_be_null" => Ok((format!("{c} is not null"), true)),
        "expect_column_values_to_be_in_set" | "expect_column_values_to_not_be_in_set" => {
            let values: Vec<String> = e
                .kwargs
                .get("value_set")
                .and_then(Value::as_array)
                .ok_or("`value_set` must be a list")?
                .iter()
                .filter_map(|v| sql::literal_for(v, data_type))
                .collect();
            let member = if values.is_empty() {
                "false".to_string()
            } else {
                format!("{c} in ({})", values.join(", "))
            };
            if e.expectation_type == "expect_column_values_to_be_in_set" {
                non_null(member)
            } else {
                non_null(format!("not ({member})"))
            }
        }
        "expect_column_values_to_be_between" | "expect_column_value_lengths_to_be_between" => {
            let value = if e.expectation_type.contains("lengths") {
                format!("character_length({c})")
            } else {
                c.clone()
            };
            let bound = |key: &str| -> std::result::Result<Option<String>, String> {
                match e.kwargs.get(key) {
                    None => Ok(None),
                    Some(v) => {
                        let target = if e.expectation_type.contains("lengths") {
                            &DataType::Int64
                        } else {
                            data_type
                        };
                        sql::literal_for(v, target).map(Some).ok_or_else(|| {
                            format!("`{key}` {v} cannot be compared with column `{column}` of type {data_type}")
                        })
                    }
                }
            };
            let (min, max) = (bound("min_value")?, bound("max_value")?);
            if min.is_none() && max.is_none() {
                return Err("min_value and max_value cannot both be None".into());
            }
            let mut parts = Vec::new();
            if let Some(min) = min {
                let op = if kwarg_bool(e, "strict_min") {
                    ">"
                } else {
                    ">="
                };
                parts.push(format!("{value} {op} {min}"));
            }
            if let Some(max) = max {
                let op = if kwarg_bool(e, "strict_max") {
                    "<"
                } else {
                    "<="
                };
                parts.push(format!("{value} {op} {max}"));
            }
            non_null(parts.join(" and "))
        }
        "expect_column_value_lengths_to_equal" => {
            let value = e
                .kwargs
                .get("value")
                .and_then(Value::as_f64)
                .ok_or("`value` must be a number")?;
            non_null(format!("character_length({c}) = {value}"))
        }
        "expect_column_values_to_match_regex" | "expect_column_values_to_not_match_regex" => {
            let regex = e
                .kwargs
                .get("regex")
                .and_then(Value::as_str)
                .ok_or("`regex` must be a string")?;
            let matches = format!("regexp_like({text}, {})", sql::string(regex));
            if e.expectation_type.contains("not_match") {
                non_null(format!("not {matches}"))
            } else {
                non_null(matches)
            }
        }
        "expect_column_values_to_match_regex_list" => {
            let each: Vec<String> = text_list("regex_list")?
                .into_iter()
                .map(|r| format!("regexp_like({text}, {r})"))
                .collect();
            let all = e.kwargs.get("match_on").and_then(Value::as_str) == Some("all");
            non_null(each.join(if all { " and " } else { " or " }))
        }
        "expect_column_values_to_not_match_regex_list" => {
            let each: Vec<String> = text_list("regex_list")?
                .into_iter()
                .map(|r| format!("regexp_like({text}, {r})"))
                .collect();
            non_null(format!("not ({})", each.join(" or ")))
        }
        other => Err(format!("`{other}` is not a column map expectation")),
    }
}
