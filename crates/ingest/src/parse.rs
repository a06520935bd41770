//! Strict parsing of text fields into typed cells: what a CSV field or JSON string may hold for
//! each declared column type, and the reason when it holds something else.

use dataflow_core::time;
use dataflow_core::types::ColumnType;

/// One parsed field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// Empty field.
    Null,
    /// Text; the caller keeps the bytes.
    Text,
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Decimal, as an unscaled integer at the column's scale.
    Decimal(i128),
    /// Boolean.
    Bool(bool),
    /// Days since the epoch.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

fn parse_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.first()? {
        b'-' => (true, &bytes[1..]),
        b'+' => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(b - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// Parses a decimal with at most `scale` fraction digits and `precision` digits in all.
pub fn parse_decimal(bytes: &[u8], precision: u8, scale: i8) -> Result<i128, &'static str> {
    let (negative, rest) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let (whole, fraction) = match rest.iter().position(|&b| b == b'.') {
        Some(dot) => (&rest[..dot], &rest[dot + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    if whole.is_empty() && fraction.is_empty() {
        return Err("not a number");
    }
    if !whole.iter().chain(fraction).all(u8::is_ascii_digit) {
        return Err("not a number");
    }
    let scale = scale.max(0) as usize;
    if fraction.len() > scale {
        return Err("too many decimal places");
    }
    let significant = whole.iter().skip_while(|&&b| b == b'0').count();
    if significant + scale > usize::from(precision) {
        return Err("too many digits for the declared precision");
    }
    let mut value: i128 = 0;
    for &b in whole.iter().chain(fraction) {
        value = value * 10 + i128::from(b - b'0');
    }
    for _ in fraction.len()..scale {
        value *= 10;
    }
    Ok(if negative { -value } else { value })
}

/// Parses `bytes` as `column_type`. Empty text is NULL. Text columns keep their bytes untouched
/// (padding included: cleaning is the models' job); other types ignore surrounding spaces.
pub fn parse_cell(bytes: &[u8], column_type: ColumnType) -> Result<Cell, String> {
    if bytes.is_empty() {
        return Ok(Cell::Null);
    }
    if column_type == ColumnType::String {
        return match std::str::from_utf8(bytes) {
            Ok(_) => Ok(Cell::Text),
            Err(_) => Err("invalid UTF-8".to_string()),
        };
    }
    let text = trim(bytes);
    if text.is_empty() {
        return Ok(Cell::Null);
    }
    let fail = |what: &str| {
        Err(format!(
            "cannot parse `{}` as {column_type}{what}",
            String::from_utf8_lossy(bytes)
        ))
    };
    match column_type {
        ColumnType::String => Ok(Cell::Text),
        ColumnType::Int64 => parse_int(text).map(Cell::Int).map_or_else(|| fail(""), Ok),
        ColumnType::Int32 => match parse_int(text) {
            Some(v) if i32::try_from(v).is_ok() => Ok(Cell::Int(v)),
            Some(_) => fail(": out of range"),
            None => fail(""),
        },
        ColumnType::Float64 => match std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
        {
            Some(v) => Ok(Cell::Float(v)),
            None => fail(""),
        },
        ColumnType::Decimal { precision, scale } => match parse_decimal(text, precision, scale) {
            Ok(v) => Ok(Cell::Decimal(v)),
            Err(why) => fail(&format!(": {why}")),
        },
        ColumnType::Boolean => match text.to_ascii_lowercase().as_slice() {
            b"true" | b"t" | b"yes" | b"y" | b"1" => Ok(Cell::Bool(true)),
            b"false" | b"f" | b"no" | b"n" | b"0" => Ok(Cell::Bool(false)),
            _ => fail(""),
        },
        ColumnType::Date => time::parse_date(text)
            .map(Cell::Date)
            .map_or_else(|| fail(""), Ok),
        ColumnType::Timestamp => time::parse_timestamp_micros(text)
            .map(Cell::Timestamp)
            .map_or_else(|| fail(""), Ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEC: ColumnType = ColumnType::Decimal {
        precision: 6,
        scale: 2,
    };

    #[test]
    fn integers_are_strict_and_checked() {
        assert_eq!(parse_cell(b" 42 ", ColumnType::Int64), Ok(Cell::Int(42)));
        assert_eq!(
            parse_cell(b"-9223372036854775808", ColumnType::Int64),
            Ok(Cell::Int(i64::MIN))
        );
        assert!(parse_cell(b"9223372036854775808", ColumnType::Int64).is_err());
        assert!(parse_cell(b"C42", ColumnType::Int64).is_err());
        assert!(parse_cell(b"3000000000", ColumnType::Int32).is_err());
        assert_eq!(parse_cell(b"", ColumnType::Int64), Ok(Cell::Null));
    }

    #[test]
    fn decimals_respect_scale_and_precision() {
        assert_eq!(parse_cell(b"12.5", DEC), Ok(Cell::Decimal(1250)));
        assert_eq!(parse_cell(b"-0.01", DEC), Ok(Cell::Decimal(-1)));
        assert_eq!(parse_cell(b"1234", DEC), Ok(Cell::Decimal(123_400)));
        assert_eq!(parse_cell(b".5", DEC), Ok(Cell::Decimal(50)));
        let err = parse_cell(b"12.345", DEC).unwrap_err();
        assert!(err.contains("too many decimal places"), "{err}");
        assert!(parse_cell(b"12345", DEC).is_err());
        assert!(parse_cell(b"12.3.4", DEC).is_err());
        assert!(parse_cell(b"1,234.56", DEC).is_err());
        assert!(parse_cell(b"USD 45.00", DEC).is_err());
        assert!(parse_cell(b"-", DEC).is_err());
    }

    #[test]
    fn text_keeps_padding_and_rejects_bad_utf8() {
        assert_eq!(parse_cell(b"  a@b.co ", ColumnType::String), Ok(Cell::Text));
        assert!(parse_cell(&[0xff, 0xfe], ColumnType::String).is_err());
    }

    #[test]
    fn dates_timestamps_booleans() {
        assert_eq!(
            parse_cell(b"1970-01-02", ColumnType::Date),
            Ok(Cell::Date(1))
        );
        assert!(parse_cell(b"2023-02-30", ColumnType::Date).is_err());
        assert_eq!(
            parse_cell(b"1970-01-01T00:00:01", ColumnType::Timestamp),
            Ok(Cell::Timestamp(1_000_000))
        );
        assert_eq!(
            parse_cell(b"Yes", ColumnType::Boolean),
            Ok(Cell::Bool(true))
        );
        assert!(parse_cell(b"maybe", ColumnType::Boolean).is_err());
    }
}
