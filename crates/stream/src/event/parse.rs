//! Parsing and validating one message: JSON, then each field's presence, type and range. The
//! first problem found is the event's error; it goes to the dead-letter topic with it.

use serde_json::{Map, Value};

use super::model::{CustomerEvent, Invalid, InvalidKind, Transaction};

/// Transaction statuses a transaction event may carry.
pub const STATUSES: &[&str] = &["pending", "completed", "failed", "refunded", "cancelled"];

/// Event times before this are out of range (2000-01-01T00:00:00Z, microseconds).
const MIN_EVENT_MICROS: i64 = 946_684_800_000_000;
/// Event times from this on are out of range (2100-01-01T00:00:00Z).
const MAX_EVENT_MICROS: i64 = 4_102_444_800_000_000;
/// Amounts above this (currency units) are out of range.
const MAX_AMOUNT: f64 = 1e12;
/// Longest id accepted.
const MAX_ID_LEN: usize = 128;

/// Parses a message of the transactions topic.
pub fn parse_transaction(payload: &[u8]) -> Result<Transaction, Invalid> {
    let object = parse_object(payload)?;
    let event_type = required_str(&object, "event_type")?;
    if event_type != "transaction" {
        return Err(Invalid::field(
            "event_type",
            format!("`{event_type}` on the transactions topic (expected `transaction`)"),
        ));
    }
    let transaction_id = id(&object, "transaction_id")?;
    let customer_id = customer_id(&object)?;
    let amount_cents = amount(&object)?;
    let currency = required_str(&object, "currency")?;
    if !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(Invalid::field(
            "currency",
            format!("`{currency}` is not a three-letter ISO 4217 code"),
        ));
    }
    let status = required_str(&object, "status")?;
    if !STATUSES.contains(&status) {
        return Err(Invalid::field(
            "status",
            format!("`{status}` is not one of {}", STATUSES.join(", ")),
        ));
    }
    let category = optional_str(&object, "category")?;
    let event_time_micros = event_time(&object)?;
    Ok(Transaction {
        transaction_id: transaction_id.to_string(),
        customer_id,
        amount_cents,
        currency: currency.to_string(),
        status: status.to_string(),
        category: category.map(str::to_string),
        event_time_micros,
    })
}

/// Parses a message of the customer events topic.
pub fn parse_customer_event(payload: &[u8]) -> Result<CustomerEvent, Invalid> {
    let mut object = parse_object(payload)?;
    let event_type = required_str(&object, "event_type")?;
    if event_type.is_empty()
        || event_type.len() > 64
        || !event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Invalid::field(
            "event_type",
            format!("`{event_type}` is not a lowercase event name"),
        ));
    }
    let event_type = event_type.to_string();
    let event_id = id(&object, "event_id")?.to_string();
    let customer_id = customer_id(&object)?;
    let event_time_micros = event_time(&object)?;
    let session_id = optional_str(&object, "session_id")?.map(str::to_string);
    // Whatever else the event carries (a profile update's changes) is kept as JSON.
    for key in [
        "event_type",
        "event_id",
        "customer_id",
        "event_time",
        "session_id",
    ] {
        object.remove(key);
    }
    let details = (!object.is_empty()).then(|| Value::Object(object).to_string());
    Ok(CustomerEvent {
        event_id,
        customer_id,
        event_type,
        event_time_micros,
        session_id,
        details,
    })
}

fn parse_object(payload: &[u8]) -> Result<Map<String, Value>, Invalid> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Invalid {
            kind: InvalidKind::MalformedJson,
            field: None,
            message: format!("the event is a JSON {}, not an object", json_type(&other)),
        }),
        Err(err) => Err(Invalid {
            kind: InvalidKind::MalformedJson,
            field: None,
            message: format!("not valid JSON: {err}"),
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn required<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a Value, Invalid> {
    match object.get(field) {
        None => Err(Invalid::field(field, "missing".to_string())),
        Some(Value::Null) => Err(Invalid::field(field, "null".to_string())),
        Some(value) => Ok(value),
    }
}

fn required_str<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, Invalid> {
    let value = required(object, field)?;
    value.as_str().ok_or_else(|| {
        Invalid::field(
            field,
            format!("expected a string, got a {}", json_type(value)),
        )
    })
}

fn optional_str<'a>(
    object: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, Invalid> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(Invalid::field(
            field,
            format!("expected a string, got a {}", json_type(other)),
        )),
    }
}

fn id<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, Invalid> {
    let text = required_str(object, field)?;
    if text.trim().is_empty() || text.len() > MAX_ID_LEN {
        return Err(Invalid::field(
            field,
            format!("must be 1 to {MAX_ID_LEN} characters, not blank"),
        ));
    }
    Ok(text)
}

fn customer_id(object: &Map<String, Value>) -> Result<i64, Invalid> {
    let value = required(object, "customer_id")?;
    match value.as_i64() {
        Some(id) if id > 0 => Ok(id),
        Some(id) => Err(Invalid::field(
            "customer_id",
            format!("must be positive, got {id}"),
        )),
        None => Err(Invalid::field(
            "customer_id",
            format!("expected an integer, got {value}"),
        )),
    }
}

fn amount(object: &Map<String, Value>) -> Result<i64, Invalid> {
    let value = required(object, "amount")?;
    let Some(amount) = value.as_f64() else {
        return Err(Invalid::field(
            "amount",
            format!("expected a number, got a {}", json_type(value)),
        ));
    };
    if amount < 0.0 {
        return Err(Invalid::field(
            "amount",
            format!("must not be negative, got {amount}"),
        ));
    }
    if amount > MAX_AMOUNT {
        return Err(Invalid::field(
            "amount",
            format!("{amount} is above the largest accepted amount ({MAX_AMOUNT})"),
        ));
    }
    crate::config::amount_cents(amount).ok_or_else(|| {
        Invalid::field(
            "amount",
            format!("{amount} has more than two decimal places"),
        )
    })
}

fn event_time(object: &Map<String, Value>) -> Result<i64, Invalid> {
    let text = required_str(object, "event_time")?;
    let micros = dataflow_core::time::parse_timestamp_micros(text.as_bytes()).ok_or_else(|| {
        Invalid::field(
            "event_time",
            format!("`{text}` is not an ISO 8601 timestamp"),
        )
    })?;
    if !(MIN_EVENT_MICROS..MAX_EVENT_MICROS).contains(&micros) {
        return Err(Invalid::field(
            "event_time",
            format!("`{text}` is outside 2000-01-01 to 2099-12-31"),
        ));
    }
    Ok(micros)
}
