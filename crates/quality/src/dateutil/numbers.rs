//! Numbers as Python reads the tokens dateutil hands it: `str.isdigit`, `int(text)`,
//! `float(text)`, `Decimal(text)`, and dateutil's seconds and minutes helpers.

use super::info::lower;

/// `str.isdigit` on a token (only ASCII digits reach the parser's digit checks).
pub(super) fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

/// `int(text)` of a token: digits only; huge values saturate (they fail later as dateutil's
/// do, with an out-of-range date).
pub(super) fn int(text: &str) -> Option<u64> {
    is_digits(text).then(|| {
        text.bytes().fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
    })
}

/// Characters `start..end` of a token (Python's slice, which never fails).
pub(super) fn slice(text: &str, start: usize, end: Option<usize>) -> String {
    let chars = text.chars().skip(start);
    match end {
        Some(end) => chars.take(end.saturating_sub(start)).collect(),
        None => chars.collect(),
    }
}

/// A non-negative decimal number as `Decimal(token)` holds it: integer part and fraction.
#[derive(Debug, Clone, Copy)]
pub(super) struct Num {
    pub(super) int: u64,
    /// The fraction as `numerator / 10^digits` (up to 36 digits, which is exact enough for
    /// `int(60 * fraction)`).
    numerator: u128,
    digits: u32,
}

impl Num {
    /// `Decimal(token)` for the tokens a date string holds: `12`, `12.5`, `5.`, `.5`. `NaN`
    /// and `Infinity` parse in Python but dateutil rejects them, so they are `None` here.
    pub(super) fn parse(token: &str) -> Option<Num> {
        let (whole, fraction) = token.split_once('.').unwrap_or((token, ""));
        if (whole.is_empty() && fraction.is_empty())
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !fraction.chars().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let kept: String = fraction.chars().take(36).collect();
        Some(Num {
            int: if whole.is_empty() { 0 } else { int(whole)? },
            numerator: kept.parse().unwrap_or(0),
            digits: kept.len() as u32,
        })
    }

    pub(super) fn has_fraction(&self) -> bool {
        self.numerator != 0
    }

    /// `int(60 * (value % 1))`.
    pub(super) fn sixtieths(&self) -> u64 {
        let scaled = self.numerator * 60 / 10u128.pow(self.digits);
        scaled as u64
    }

    pub(super) fn above(&self, n: u64) -> bool {
        self.int > n || (self.int == n && self.has_fraction())
    }

    pub(super) fn at_most(&self, n: u64) -> bool {
        !self.above(n)
    }
}

/// `float(token)` succeeds: a number, or one of the words Python reads as a float.
pub(super) fn is_float(token: &str) -> bool {
    Num::parse(token).is_some() || matches!(lower(token).as_str(), "nan" | "inf" | "infinity")
}

/// `_parsems`: seconds and microseconds from `S` or `S.ffffff`.
pub(super) fn seconds_micros(text: &str) -> Option<(u64, u64)> {
    match text.split_once('.') {
        None => Some((int(text)?, 0)),
        Some((seconds, fraction)) => {
            if fraction.contains('.') {
                return None;
            }
            let padded: String = fraction.chars().chain("000000".chars()).take(6).collect();
            Some((int(seconds)?, int(&padded)?))
        }
    }
}

/// `_parse_min_sec`: minutes, and seconds from the fraction of a minute.
pub(super) fn minutes_seconds(value: Num) -> (u64, Option<u64>) {
    (value.int, value.has_fraction().then(|| value.sixtieths()))
}
