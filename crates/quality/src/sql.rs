//! SQL text for expectations: quoted identifiers, literals from suite kwargs, and Arrow values
//! back to JSON for results.

use dataflow_engine::datafusion::arrow::array::{Array, ArrayRef};
use dataflow_engine::datafusion::arrow::datatypes::DataType;
use dataflow_engine::datafusion::arrow::util::display::array_value_to_string;
use dataflow_engine::datafusion::common::ScalarValue;
use serde_json::Value;

/// A quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal.
pub fn string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Whether a column of this type holds numbers.
pub fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_numeric()
}

/// Whether a column of this type holds text.
pub fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Whether a column of this type holds dates or timestamps.
pub fn is_temporal(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

/// A kwarg value as a literal comparable with a column of `data_type`, or `None` when it can
/// never equal a value of that column (GE compares Python values: `1` never equals `"1"`).
pub fn literal_for(value: &Value, data_type: &DataType) -> Option<String> {
    match value {
        Value::Number(n) if is_numeric(data_type) => Some(n.to_string()),
        Value::String(s) if is_text(data_type) => Some(string(s)),
        Value::String(s) if is_temporal(data_type) => {
            let target = if matches!(data_type, DataType::Date32 | DataType::Date64) {
                "date"
            } else {
                "timestamp"
            };
            Some(format!("cast({} as {target})", string(s)))
        }
        Value::Bool(b) if *data_type == DataType::Boolean => Some(b.to_string()),
        _ => None,
    }
}

/// Row `row` of an Arrow array as JSON, the way GE prints values.
pub fn json_value(array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) {
        // pandas prints a missing date or time as NaT, and GE reports it so.
        if is_temporal(array.data_type()) {
            return Value::from("NaT");
        }
        return Value::Null;
    }
    if is_temporal(array.data_type()) {
        // ISO 8601 as pandas prints timestamps: 2024-06-30T00:00:00.
        return array_value_to_string(array, row).map_or(Value::Null, Value::from);
    }
    let Ok(scalar) = ScalarValue::try_from_array(array, row) else {
        return Value::Null;
    };
    match scalar {
        ScalarValue::Boolean(Some(b)) => Value::Bool(b),
        ScalarValue::Int8(Some(v)) => Value::from(v),
        ScalarValue::Int16(Some(v)) => Value::from(v),
        ScalarValue::Int32(Some(v)) => Value::from(v),
        ScalarValue::Int64(Some(v)) => Value::from(v),
        ScalarValue::UInt8(Some(v)) => Value::from(v),
        ScalarValue::UInt16(Some(v)) => Value::from(v),
        ScalarValue::UInt32(Some(v)) => Value::from(v),
        ScalarValue::UInt64(Some(v)) => Value::from(v),
        ScalarValue::Float32(Some(v)) => Value::from(f64::from(v)),
        ScalarValue::Float64(Some(v)) => Value::from(v),
        // Decimals print as numbers, as pandas' floats do.
        ScalarValue::Decimal128(Some(v), _, scale) => {
            Value::from(v as f64 / 10f64.powi(i32::from(scale)))
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Value::String(s),
        other => Value::String(other.to_string()),
    }
}

/// Orders JSON values as GE sorts them: numbers numerically, text lexicographically.
pub fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        // Lists compare element by element, as Python compares tuples.
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(a, b)| compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}
