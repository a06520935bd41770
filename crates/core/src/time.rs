//! Calendar arithmetic without allocation: civil dates to day numbers and back, and strict
//! parsing and formatting of `YYYY-MM-DD` dates and `YYYY-MM-DDTHH:MM:SS` timestamps.
//!
//! The generator writes millions of these per second and ingest parses as many, so they are
//! plain integer code rather than a general date library.

/// Days from 1970-01-01 to the given proleptic Gregorian date.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day number counted from 1970-01-01.
pub fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    Some(value)
}

/// Parses `YYYY-MM-DD` into a day number; `None` if malformed or not a real date.
pub fn parse_date(text: &[u8]) -> Option<i32> {
    if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let year = digits(&text[0..4])? as i32;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses a timestamp into microseconds since the epoch, UTC.
///
/// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` or with a space instead of `T`, an optional
/// fraction of up to nine digits (kept to microseconds), and an optional `Z` or `±HH:MM` offset.
/// A timestamp without an offset is taken as UTC.
pub fn parse_timestamp_micros(text: &[u8]) -> Option<i64> {
    let days = parse_date(text.get(0..10)?)?;
    let mut micros = i64::from(days) * 86_400_000_000;
    if text.len() == 10 {
        return Some(micros);
    }
    if !matches!(text[10], b'T' | b' ') || text.len() < 19 || text[13] != b':' || text[16] != b':' {
        return None;
    }
    let hour = digits(&text[11..13])?;
    let minute = digits(&text[14..16])?;
    let second = digits(&text[17..19])?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    micros += i64::from(hour * 3600 + minute * 60 + second) * 1_000_000;
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        let mut value = i64::from(digits(&fraction[..len.min(6)])?);
        for _ in len.min(6)..6 {
            value *= 10;
        }
        micros += value;
        rest = &fraction[len..];
    }
    match rest {
        [] | [b'Z'] => Some(micros),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = i64::from(hours * 3600 + minutes * 60) * 1_000_000;
            Some(if *sign == b'+' {
                micros - offset
            } else {
                micros + offset
            })
        }
        _ => None,
    }
}

fn push_two(out: &mut Vec<u8>, value: u32) {
    out.push(b'0' + (value / 10) as u8);
    out.push(b'0' + (value % 10) as u8);
}

/// Appends `YYYY-MM-DD` for a day number.
pub fn format_date(days: i32, out: &mut Vec<u8>) {
    let (year, month, day) = civil_from_days(days);
    let year = year.clamp(0, 9999) as u32;
    push_two(out, year / 100);
    push_two(out, year % 100);
    out.push(b'-');
    push_two(out, month);
    out.push(b'-');
    push_two(out, day);
}

/// Appends `YYYY-MM-DDTHH:MM:SS` for seconds since the epoch (UTC).
pub fn format_timestamp_secs(secs: i64, out: &mut Vec<u8>) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    format_date(days as i32, out);
    out.push(b'T');
    push_two(out, rem / 3600);
    out.push(b':');
    push_two(out, rem / 60 % 60);
    out.push(b':');
    push_two(out, rem % 60);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn parses_dates_strictly() {
        assert_eq!(parse_date(b"2024-02-29"), Some(19_782));
        assert_eq!(parse_date(b"2023-02-29"), None);
        assert_eq!(parse_date(b"2023-13-01"), None);
        assert_eq!(parse_date(b"2023-1-01"), None);
        assert_eq!(parse_date(b"abcd-01-01"), None);
    }

    #[test]
    fn parses_timestamps_with_fractions_and_offsets() {
        let base = parse_timestamp_micros(b"2024-01-02T03:04:05").unwrap();
        assert_eq!(parse_timestamp_micros(b"2024-01-02 03:04:05"), Some(base));
        assert_eq!(parse_timestamp_micros(b"2024-01-02T03:04:05Z"), Some(base));
        assert_eq!(
            parse_timestamp_micros(b"2024-01-02T03:04:05.5"),
            Some(base + 500_000)
        );
        assert_eq!(
            parse_timestamp_micros(b"2024-01-02T04:04:05+01:00"),
            Some(base)
        );
        assert_eq!(parse_timestamp_micros(b"2024-01-02T24:00:00"), None);
        assert_eq!(parse_timestamp_micros(b"2024-01-02T03:04"), None);
    }

    #[test]
    fn formats_what_it_parses() {
        let mut out = Vec::new();
        format_timestamp_secs(1_704_164_645, &mut out);
        assert_eq!(out, b"2024-01-02T03:04:05");
        assert_eq!(parse_timestamp_micros(&out), Some(1_704_164_645_000_000));
    }
}
