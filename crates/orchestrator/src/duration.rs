//! Typed durations for pipeline YAML: `30s`, `5m`, `1h30m`, `500ms`, `1d`, `1w`, or a bare
//! number of seconds.
//!
//! [`parse_duration`] reads the text form, [`format_duration`] writes the compact form back
//! (`1h30m`, `45s`, `250ms`, `0s`), and [`DurationSpec`] is the serde field type that accepts
//! either a string or a non-negative integer number of seconds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The accepted forms, quoted in every error message.
const ACCEPTED_FORMS: &str = "expected a whole number of seconds (`90`) or numbers with units \
     w, d, h, m, s, ms (also us, ns), largest unit first, such as `30s`, `5m`, `2h`, `1d`, \
     `1w`, `1h30m` or `500ms`";

/// Units from largest to smallest: suffix and length in nanoseconds.
const UNITS: [(&str, u128); 8] = [
    ("w", 7 * 24 * 3_600 * NANOS_PER_SEC),
    ("d", 24 * 3_600 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses a duration such as `30s`, `5m`, `2h`, `1d`, `1w`, `1h30m`, `500ms`, or a bare
/// integer meaning seconds.
///
/// Parts may be separated by whitespace (`1h 30m`) and must come largest unit first, each unit
/// at most once, so a typo such as `30m1h` or `5m5m` is an error rather than a surprise.
///
/// # Errors
///
/// A message naming the text and the accepted forms when it is empty, has an unknown unit, a
/// negative or fractional number, or overflows.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("invalid duration `{text}`: {why}; {ACCEPTED_FORMS}");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| invalid("the number is too large"));
    }

    let mut total: u128 = 0;
    // Index into `UNITS` that the next part's unit must be at or after.
    let mut next_unit = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid("expected a number"));
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(letters);
        if unit.is_empty() {
            return Err(invalid(&format!("`{number}` has no unit")));
        }
        let Some(position) = UNITS.iter().position(|(suffix, _)| *suffix == unit) else {
            return Err(invalid(&format!("unknown unit `{unit}`")));
        };
        if position < next_unit {
            return Err(invalid(&format!(
                "unit `{unit}` is repeated or out of order"
            )));
        }
        next_unit = position + 1;
        let value: u128 = number
            .parse()
            .map_err(|_| invalid("the number is too large"))?;
        total = value
            .checked_mul(UNITS[position].1)
            .and_then(|nanos| total.checked_add(nanos))
            .ok_or_else(|| invalid("the duration is too large"))?;
        rest = after.trim_start();
    }

    let secs =
        u64::try_from(total / NANOS_PER_SEC).map_err(|_| invalid("the duration is too large"))?;
    // The remainder is below one second, so it fits in a u32.
    let nanos =
        u32::try_from(total % NANOS_PER_SEC).map_err(|_| invalid("the duration is too large"))?;
    Ok(Duration::new(secs, nanos))
}

/// Writes a duration in the compact form that [`parse_duration`] reads back: `1h30m`, `45s`,
/// `250ms`, `1w2d`, and `0s` for zero.
pub fn format_duration(d: Duration) -> String {
    let mut remaining = d.as_nanos();
    if remaining == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (suffix, nanos) in UNITS {
        let count = remaining / nanos;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(suffix);
            remaining %= nanos;
        }
    }
    out
}

/// A duration in pipeline YAML: a string such as `"5m"` or `"1h30m"`, or a non-negative
/// integer number of seconds. It is written back in the compact string form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    /// The duration.
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl From<Duration> for DurationSpec {
    fn from(d: Duration) -> Self {
        DurationSpec(d)
    }
}

impl From<DurationSpec> for Duration {
    fn from(spec: DurationSpec) -> Self {
        spec.0
    }
}

impl FromStr for DurationSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_duration(text).map(DurationSpec)
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Accepts a string in the [`parse_duration`] forms or a non-negative integer of seconds.
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a duration such as \"30s\", \"5m\", \"1h30m\" or a whole number of seconds"
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        parse_duration(text).map(DurationSpec).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Self::Value, E> {
        Ok(DurationSpec(Duration::from_secs(secs)))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Self::Value, E> {
        u64::try_from(secs)
            .map(|secs| DurationSpec(Duration::from_secs(secs)))
            .map_err(|_| {
                E::custom(format!(
                    "invalid duration `{secs}`: it is negative; {ACCEPTED_FORMS}"
                ))
            })
    }

    fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Self::Value, E> {
        Err(E::custom(format!(
            "invalid duration `{secs}`: fractional seconds are not accepted, write e.g. \"1500ms\"; \
             {ACCEPTED_FORMS}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn parses_single_units() {
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("2h"), Ok(secs(7_200)));
        assert_eq!(parse_duration("1d"), Ok(secs(86_400)));
        assert_eq!(parse_duration("1w"), Ok(secs(604_800)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_duration("9ns"), Ok(Duration::from_nanos(9)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_compound_bare_and_whitespace() {
        assert_eq!(parse_duration("1h30m"), Ok(secs(5_400)));
        assert_eq!(
            parse_duration("1d2h3m4s5ms"),
            Ok(Duration::new(93_784, 5_000_000))
        );
        assert_eq!(parse_duration("90"), Ok(secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("  1h 30m \n"), Ok(secs(5_400)));
        assert_eq!(parse_duration(" 45 "), Ok(secs(45)));
    }

    #[test]
    fn rejects_bad_text_naming_it_and_the_forms() {
        for bad in [
            "", "  ", "abc", "5x", "m5", "-5m", "1.5h", "30m1h", "5m5m", "1h 30", "5 m", "1M",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains(&format!("`{bad}`")), "{err}");
            assert!(err.contains("1h30m") && err.contains("500ms"), "{err}");
        }
        let err = parse_duration("30m1h").expect_err("out of order");
        assert!(err.contains("out of order"), "{err}");
        let err = parse_duration("5x").expect_err("unknown unit");
        assert!(err.contains("unknown unit `x`"), "{err}");
        let err = parse_duration("99999999999999999999999w").expect_err("overflow");
        assert!(err.contains("too large"), "{err}");
        let err = parse_duration("99999999999999999999999").expect_err("overflow");
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn formats_compactly_and_round_trips() {
        assert_eq!(format_duration(secs(5_400)), "1h30m");
        assert_eq!(format_duration(secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(secs(9 * 86_400)), "1w2d");
        assert_eq!(format_duration(Duration::new(61, 1_500)), "1m1s1us500ns");
        for d in [
            Duration::ZERO,
            secs(1),
            secs(3_601),
            Duration::new(93_784, 5_000_001),
            Duration::MAX,
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Task {
        timeout: DurationSpec,
    }

    #[test]
    fn deserializes_strings_and_integers_from_yaml() {
        let task: Task = serde_yaml_ng::from_str("timeout: 1h30m").expect("string");
        assert_eq!(task.timeout, DurationSpec(secs(5_400)));
        let task: Task = serde_yaml_ng::from_str("timeout: \"500ms\"").expect("quoted");
        assert_eq!(task.timeout.as_duration(), Duration::from_millis(500));
        let task: Task = serde_yaml_ng::from_str("timeout: 120").expect("integer");
        assert_eq!(task.timeout, DurationSpec(secs(120)));
        let task: Task = serde_yaml_ng::from_str("timeout: 0").expect("zero");
        assert_eq!(task.timeout, DurationSpec(Duration::ZERO));
    }

    #[test]
    fn rejects_negative_fractional_and_bad_yaml_values() {
        let err = serde_yaml_ng::from_str::<Task>("timeout: -5").expect_err("negative");
        assert!(err.to_string().contains("negative"), "{err}");
        let err = serde_yaml_ng::from_str::<Task>("timeout: 1.5").expect_err("fraction");
        assert!(err.to_string().contains("1500ms"), "{err}");
        let err = serde_yaml_ng::from_str::<Task>("timeout: 5 minutes").expect_err("bad unit");
        assert!(err.to_string().contains("`5 minutes`"), "{err}");
        let err = serde_yaml_ng::from_str::<Task>("timeout: [1]").expect_err("sequence");
        assert!(err.to_string().contains("a duration such as"), "{err}");
    }

    #[test]
    fn serializes_and_displays_the_compact_form() {
        let task = Task {
            timeout: DurationSpec(secs(5_400)),
        };
        let yaml = serde_yaml_ng::to_string(&task).expect("serialize");
        assert_eq!(yaml.trim(), "timeout: 1h30m");
        let back: Task = serde_yaml_ng::from_str(&yaml).expect("round trip");
        assert_eq!(back, task);
        assert_eq!(
            DurationSpec(Duration::from_millis(250)).to_string(),
            "250ms"
        );
        assert_eq!("2h".parse::<DurationSpec>(), Ok(DurationSpec(secs(7_200))));
        assert_eq!(Duration::from(DurationSpec::from(secs(3))), secs(3));
    }
}
