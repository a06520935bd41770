//! Column types as users write them in configuration (`bigint`, `decimal(12,2)`, `timestamp`),
//! parsed strictly so a typo names the valid choices.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A declared column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Text (`string`, `text`, `varchar`).
    String,
    /// 32-bit integer (`int`, `integer`).
    Int32,
    /// 64-bit integer (`bigint`, `long`).
    Int64,
    /// 64-bit float (`double`, `float`).
    Float64,
    /// Exact decimal (`decimal(p,s)`, precision up to 38).
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// `true`/`false` (`boolean`, `bool`).
    Boolean,
    /// Calendar date, `YYYY-MM-DD`.
    Date,
    /// Timestamp in UTC with microsecond precision.
    Timestamp,
}

/// The type names accepted in configuration, for error messages.
pub const VALID_TYPES: &str = "string, int, bigint, double, decimal(p,s), boolean, date, timestamp";

impl FromStr for ColumnType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let simple = match lower.as_str() {
            "string" | "text" | "varchar" | "utf8" => Some(ColumnType::String),
            "int" | "integer" | "int32" => Some(ColumnType::Int32),
            "bigint" | "long" | "int64" => Some(ColumnType::Int64),
            "double" | "float" | "float64" => Some(ColumnType::Float64),
            "boolean" | "bool" => Some(ColumnType::Boolean),
            "date" => Some(ColumnType::Date),
            "timestamp" | "datetime" => Some(ColumnType::Timestamp),
            _ => None,
        };
        if let Some(simple) = simple {
            return Ok(simple);
        }
        if let Some(args) = lower
            .strip_prefix("decimal(")
            .or_else(|| lower.strip_prefix("numeric("))
            .and_then(|rest| rest.strip_suffix(')'))
        {
            let mut parts = args.split(',').map(str::trim);
            let precision = parts.next().and_then(|p| p.parse::<u8>().ok());
            let scale = parts.next().and_then(|s| s.parse::<i8>().ok());
            if let (Some(precision), Some(scale), None) = (precision, scale, parts.next())
                && (1..=38).contains(&precision)
                && scale >= 0
                && scale as u8 <= precision
            {
                return Ok(ColumnType::Decimal { precision, scale });
            }
            return Err(format!(
                "invalid decimal type `{text}`: expected decimal(p,s) with 1 <= p <= 38 and 0 <= s <= p"
            ));
        }
        Err(format!(
            "unknown column type `{text}`, expected one of: {VALID_TYPES}"
        ))
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::String => f.write_str("string"),
            ColumnType::Int32 => f.write_str("int"),
            ColumnType::Int64 => f.write_str("bigint"),
            ColumnType::Float64 => f.write_str("double"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Timestamp => f.write_str("timestamp"),
        }
    }
}

// ColumnType deserializes from its text form with a message that lists the valid names.
impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for ColumnType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_decimals() {
        assert_eq!("BIGINT".parse(), Ok(ColumnType::Int64));
        assert_eq!(
            "decimal(12, 2)".parse(),
            Ok(ColumnType::Decimal {
                precision: 12,
                scale: 2
            })
        );
        assert!("decimal(2,3)".parse::<ColumnType>().is_err());
        let err = "bigintt".parse::<ColumnType>().unwrap_err();
        assert!(err.contains("expected one of"), "{err}");
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "string",
            "int",
            "bigint",
            "double",
            "decimal(9,3)",
            "boolean",
            "date",
            "timestamp",
        ] {
            let parsed: ColumnType = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
    }
}
