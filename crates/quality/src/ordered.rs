//! Column map expectations that look at values one by one in Rust rather than in SQL:
//! `be_increasing` / `be_decreasing` (each value against the previous non-null one, as GE
//! does), `match_strftime_format` (Python's strptime directives, through chrono),
//! `be_dateutil_parseable` (python-dateutil's parser, ported in [`crate::dateutil`]),
//! `be_json_parseable` (Python's json, which also takes NaN and Infinity), and the dtype checks
//! `be_of_type` / `be_in_type_list` (pandas' dtype names for the column's Arrow type).

use chrono::format::{Parsed, StrftimeItems, parse};
use dataflow_engine::datafusion::arrow::datatypes::DataType;
use serde_json::Value;

use crate::sql;
use crate::suite::Expectation;

/// The expectations this module evaluates row by row.
pub fn is_row_check(kind: &str) -> bool {
    matches!(
        kind,
        "expect_column_values_to_be_increasing"
            | "expect_column_values_to_be_decreasing"
            | "expect_column_values_to_match_strftime_format"
            | "expect_column_values_to_be_dateutil_parseable"
            | "expect_column_values_to_be_json_parseable"
    )
}

/// Whether the text matches a strftime format completely and names a real date.
fn matches_format(text: &str, format: &str) -> bool {
    let mut parsed = Parsed::new();
    if parse(&mut parsed, text, StrftimeItems::new(format)).is_err() {
        return false;
    }
    if parsed.year().is_some() && parsed.month().is_some() && parsed.day().is_some() {
        return parsed.to_naive_date().is_ok();
    }
    true
}

/// Python's `json.loads`: standard JSON, plus the bare constants NaN, Infinity, -Infinity.
fn json_parseable(text: &str) -> bool {
    if serde_json::from_str::<Value>(text).is_ok() {
        return true;
    }
    // Replace the Python-only constants outside strings with a number and try again.
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        let constant = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|k| rest.starts_with(k));
        match constant {
            Some(k) => {
                out.push('0');
                rest = &rest[k.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    serde_json::from_str::<Value>(&out).is_ok()
}

/// GE's error for `be_dateutil_parseable` on a column that does not hold text.
const DATEUTIL_NOT_TEXT: &str = "Values passed to expect_column_values_to_be_dateutil_parseable \
    must be of type string.\nIf you want to validate a column of dates or timestamps, please \
    call the expectation before converting from string format.";

/// Positions of the unexpected values of `values`, a column of `data_type` (nulls are never
/// unexpected).
pub fn unexpected(
    e: &Expectation,
    values: &[Value],
    data_type: &DataType,
) -> Result<Vec<usize>, String> {
    let kind = e.expectation_type.as_str();
    let strictly = e.kwargs.get("strictly").and_then(Value::as_bool) == Some(true);
    let mut found = Vec::new();
    match kind {
        "expect_column_values_to_be_increasing" | "expect_column_values_to_be_decreasing" => {
            let increasing = kind.ends_with("increasing");
            let mut previous: Option<&Value> = None;
            for (i, value) in values.iter().enumerate() {
                if value.is_null() {
                    continue;
                }
                if let Some(previous) = previous {
                    let order = sql::compare(value, previous);
                    let order = if increasing { order } else { order.reverse() };
                    if order.is_lt() || (strictly && order.is_eq()) {
                        found.push(i);
                    }
                }
                previous = Some(value);
            }
        }
        "expect_column_values_to_match_strftime_format" => {
            let format = e
                .kwargs
                .get("strftime_format")
                .and_then(Value::as_str)
                .ok_or("`strftime_format` must be a string")?;
            for (i, value) in values.iter().enumerate() {
                if let Some(text) = value.as_str()
                    && !matches_format(text, format)
                {
                    found.push(i);
                }
            }
        }
        "expect_column_values_to_be_dateutil_parseable" => {
            // GE raises on the first non-null value that is not a Python str (dates and
            // timestamps included), failing the whole expectation.
            if !sql::is_text(data_type) && values.iter().any(|v| !v.is_null()) {
                return Err(DATEUTIL_NOT_TEXT.into());
            }
            let (default, this_year) = crate::dateutil::today();
            for (i, value) in values.iter().enumerate() {
                if let Some(text) = value.as_str()
                    && crate::dateutil::parse(text, default, this_year).is_none()
                {
                    found.push(i);
                }
            }
        }
        "expect_column_values_to_be_json_parseable" => {
            for (i, value) in values.iter().enumerate() {
                if let Some(text) = value.as_str()
                    && !json_parseable(text)
                {
                    found.push(i);
                }
            }
        }
        other => return Err(format!("`{other}` is not a row-by-row expectation")),
    }
    Ok(found)
}

/// pandas' name for the dtype of a column of this Arrow type.
pub fn dtype_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Boolean => "bool".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "str".into(),
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => "datetime64".into(),
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => "object".into(),
        other => other.to_string(),
    }
}

/// A `type_` as numpy resolves it (`int` is int64, `float` float64); pandas' extension names
/// (`Int64`, `string`) stay distinct and so do not match a plain dtype, as in GE.
fn resolve(name: &str) -> String {
    match name {
        "int" | "int_" | "long" => "int64".into(),
        "float" | "double" | "float_" => "float64".into(),
        "bool_" | "boolean_" => "bool".into(),
        other if other.starts_with("datetime64") => "datetime64".into(),
        other => other.to_string(),
    }
}

/// `be_of_type` / `be_in_type_list`: success and the observed dtype.
pub fn type_check(e: &Expectation, data_type: &DataType) -> Result<(bool, String), String> {
    let observed = dtype_name(data_type);
    let wanted: Vec<String> = match e.expectation_type.as_str() {
        "expect_column_values_to_be_of_type" => vec![
            e.kwargs
                .get("type_")
                .and_then(Value::as_str)
                .ok_or("`type_` must be a string")?
                .to_string(),
        ],
        _ => e
            .kwargs
            .get("type_list")
            .and_then(Value::as_array)
            .ok_or("`type_list` must be a list")?
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
    };
    let success = wanted.iter().any(|t| resolve(t) == observed);
    Ok((success, observed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strptime_semantics() {
        assert!(matches_format("2024-03-05 08:15:00", "%Y-%m-%d %H:%M:%S"));
        assert!(!matches_format("2024-02-30 10:00:00", "%Y-%m-%d %H:%M:%S"));
        assert!(!matches_format("2024-03-05T08:15:00", "%Y-%m-%d %H:%M:%S"));
        assert!(!matches_format("2024-01-01 09:00:00", "%Y-%m-%d"));
    }

    #[test]
    fn python_json_constants() {
        assert!(json_parseable("{\"k\": [1, 2]}"));
        assert!(json_parseable("[NaN, -Infinity]"));
        assert!(json_parseable("\"NaN in a string\""));
        assert!(!json_parseable("{'k': 1}"));
        assert!(!json_parseable("undefined"));
    }
}
