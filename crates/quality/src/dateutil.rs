//! python-dateutil's `dateutil.parser.parse` (2.9, default `parserinfo`, not fuzzy), ported
//! step for step so that `expect_column_values_to_be_dateutil_parseable` accepts exactly the
//! strings GE accepts: GE calls `parse(value)` and a value is unexpected when it raises.
//!
//! dateutil is forgiving and full of special cases (`0042` is the year 2042, `A001` fails
//! because `A` is "AM" without an hour, `13 PM` passes but `13:00 PM` does not), so rather than
//! a grammar of its own this follows dateutil's code: the lexer ([`lex`]) splits the text
//! into words, numbers and single characters exactly as `_timelex` does, and [`parse`] walks the
//! tokens as `parser._parse` does, resolves day, month and year as `_ymd.resolve_ymd` does,
//! and builds the date-time as `_build_naive` does (missing parts from the default, two-digit
//! years within 50 years of this year, an invalid date is an error).
//!
//! Known differences, all on text no date column holds: only ASCII digits are digits (Python
//! also takes other Unicode decimal digits), letters are Unicode alphabetic characters (a
//! superset of Python's `isalpha`), and a time zone name that is the machine's local zone is
//! not recognised as such (dateutil then attaches the local zone; here the offset stays
//! unknown, which does not change whether the text parses).

mod info;
mod lex;
mod numbers;
mod ymd;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use info::{
    ampm, convert_year, days_in_month, hms, jump, lower, month, tzoffset, utczone, weekday,
};
pub use lex::lex;
use numbers::{Num, int, is_digits, is_float, minutes_seconds, seconds_micros, slice};
use ymd::{Label, Part, Ymd};

/// What `parse` gives: the date-time, with the parts the text leaves out taken from the
/// default, and the UTC offset in seconds when the text names one dateutil knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The wall-clock date and time.
    pub datetime: NaiveDateTime,
    /// Seconds east of UTC (`Z`, `UTC`, `GMT`, `+02:00`, `-0530`, `GMT+3`), if given.
    pub offset_seconds: Option<i64>,
}

/// What `parse` assumes without being told: the default date-time (today at midnight, local
/// time) and this year.
pub fn today() -> (NaiveDateTime, i32) {
    let now = chrono::Local::now().naive_local();
    (now.date().and_time(NaiveTime::MIN), now.year())
}

/// Whether `dateutil.parser.parse(text)` succeeds today, which is GE's test.
pub fn parseable(text: &str) -> bool {
    let (default, this_year) = today();
    parse(text, default, this_year).is_some()
}

/// `dateutil.parser.parse(text, default=default)` run in `this_year` (which places two-digit
/// years); `None` where dateutil raises.
pub fn parse(text: &str, default: NaiveDateTime, this_year: i32) -> Option<Parsed> {
    let found = walk(lex(text), this_year)?;
    build(&found, default)
}

// ---------------------------------------------------------------------------------------
// The parser: `parser._parse` and `_parse_numeric_token`.

/// `parser._result`: what the text said.
#[derive(Default, Debug)]
struct Found {
    year: Option<u64>,
    month: Option<u64>,
    day: Option<u64>,
    weekday: Option<u32>,
    hour: Option<u64>,
    minute: Option<u64>,
    second: Option<u64>,
    microsecond: Option<u64>,
    tzname: Option<String>,
    tzoffset: Option<i64>,
    ampm: Option<u8>,
}

impl Found {
    /// `_could_be_tzname`, with the offset to test given (dateutil passes `None` for a name
    /// in parentheses after an offset).
    fn could_be_tzname(&self, tzoffset: Option<i64>, token: &str) -> bool {
        self.hour.is_some()
            && self.tzname.is_none()
            && tzoffset.is_none()
            && token.chars().count() <= 5
            && (token.chars().all(|c| c.is_ascii_uppercase())
                || matches!(token, "UTC" | "GMT" | "Z" | "z"))
    }

    /// `len(res)`: how many fields were found.
    fn is_empty(&self) -> bool {
        self.year.is_none()
            && self.month.is_none()
            && self.day.is_none()
            && self.weekday.is_none()
            && self.hour.is_none()
            && self.minute.is_none()
            && self.second.is_none()
            && self.microsecond.is_none()
            && self.tzname.is_none()
            && self.tzoffset.is_none()
            && self.ampm.is_none()
    }
}

/// `_parse`: the fields the tokens give, or `None` where dateutil gives up.
fn walk(mut l: Vec<String>, this_year: i32) -> Option<Found> {
    let mut res = Found::default();
    let mut ymd = Ymd::default();
    let len = l.len();
    let mut i = 0;
    while i < len {
        let token = l[i].clone();
        if is_float(&token) {
            i = numeric_token(&l, i, &mut ymd, &mut res)?;
        } else if let Some(day) = weekday(&token) {
            res.weekday = Some(day);
        } else if let Some(value) = month(&token) {
            ymd.append(Part::Month(value), Some(Label::Month))?;
            if i + 1 < len {
                if l[i + 1] == "-" || l[i + 1] == "/" {
                    // Jan-01[-99]
                    let sep = l[i + 1].clone();
                    ymd.append(Part::Text(l.get(i + 2)?), None)?;
                    if i + 3 < len && l[i + 3] == sep {
                        ymd.append(Part::Text(l.get(i + 4)?), None)?;
                        i += 2;
                    }
                    i += 2;
                } else if i + 4 < len
                    && l[i + 1] == " "
                    && l[i + 3] == " "
                    && lower(&l[i + 2]) == "of"
                {
                    // Jan of 01: clearly a year.
                    if is_digits(&l[i + 4]) {
                        let year = convert_year(int(&l[i + 4])?, false, this_year).to_string();
                        ymd.append(Part::Text(&year), Some(Label::Year))?;
                    }
                    i += 4;
                }
            }
        } else if let Some(value) = ampm(&token) {
            // Not fuzzy: AM/PM needs an hour of a 12-hour clock before it.
            let hour = res.hour.filter(|h| *h <= 12)?;
            res.hour = Some(adjust_ampm(hour, value));
            res.ampm = Some(value);
        } else if res.could_be_tzname(res.tzoffset, &token) {
            res.tzoffset = tzoffset(&token);
            res.tzname = Some(token.clone());
            // GMT+3 means "my time +3 is GMT": the sign is turned round.
            if i + 1 < len && (l[i + 1] == "+" || l[i + 1] == "-") {
                l[i + 1] = if l[i + 1] == "+" { "-" } else { "+" }.to_string();
                res.tzoffset = None;
                if utczone(&token) {
                    res.tzname = None;
                }
            }
        } else if res.hour.is_some() && (token == "+" || token == "-") {
            let sign: i128 = if token == "+" { 1 } else { -1 };
            let next = l.get(i + 1)?;
            let (hours, minutes) = if next.chars().count() == 4 {
                // -0300
                (int(&slice(next, 0, Some(2)))?, int(&slice(next, 2, None))?)
            } else if i + 2 < len && l[i + 2] == ":" {
                // -03:00
                let minutes = int(l.get(i + 3)?)?;
                i += 2;
                (int(next)?, minutes)
            } else if next.chars().count() <= 2 {
                // -[0]3
                (int(&slice(next, 0, Some(2)))?, 0)
            } else {
                return None;
            };
            let seconds = sign * (i128::from(hours) * 3600 + i128::from(minutes) * 60);
            res.tzoffset = Some(i64::try_from(seconds).unwrap_or(i64::MAX));
            // -0300 (BRST)
            if i + 5 < len
                && jump(&l[i + 2])
                && l[i + 3] == "("
                && l[i + 5] == ")"
                && l[i + 4].chars().count() >= 3
                && res.could_be_tzname(None, &l[i + 4])
            {
                res.tzname = Some(l[i + 4].clone());
                i += 4;
            }
            i += 1;
        } else if !jump(&token) {
            return None;
        }
        i += 1;
    }
    let (year, month, day) = ymd.resolve()?;
    res.year = year.map(|y| convert_year(y, ymd.century_specified, this_year));
    res.month = month;
    res.day = day;
    // parserinfo.validate
    let utc_name = matches!(res.tzname.as_deref(), Some("Z" | "z"));
    if (res.tzoffset == Some(0) && res.tzname.as_deref().is_none_or(str::is_empty)) || utc_name {
        res.tzname = Some("UTC".into());
        res.tzoffset = Some(0);
    } else if res.tzoffset != Some(0) && res.tzname.as_deref().is_some_and(utczone) {
        res.tzoffset = Some(0);
    }
    Some(res)
}

fn adjust_ampm(hour: u64, ampm: u8) -> u64 {
    match (hour, ampm) {
        (h, 1) if h < 12 => h + 12,
        (12, 0) => 0,
        (h, _) => h,
    }
}

/// `_find_hms_idx`: the position of an `h`/`m`/`s` label that belongs to the number at `idx`.
fn hms_label(idx: usize, tokens: &[String]) -> Option<usize> {
    let len = tokens.len();
    let label = |i: usize| tokens.get(i).and_then(|t| hms(t)).is_some();
    if idx + 1 < len && label(idx + 1) {
        Some(idx + 1)
    } else if idx + 2 < len && tokens[idx + 1] == " " && label(idx + 2) {
        Some(idx + 2)
    } else if idx > 0 && label(idx - 1) {
        Some(idx - 1)
    } else if 1 < idx && idx == len - 1 && tokens[idx - 1] == " " && label(idx - 2) {
        Some(idx - 2)
    } else {
        None
    }
}

/// `_parse_numeric_token`: what a number means from its length and neighbours. Returns the
/// index of the last token it used.
fn numeric_token(tokens: &[String], idx: usize, ymd: &mut Ymd, res: &mut Found) -> Option<usize> {
    let repr = tokens[idx].as_str();
    let value = Num::parse(repr)?;
    let len_li = repr.chars().count();
    let len = tokens.len();
    let mut idx = idx;
    let next_is =
        |i: usize, options: &[&str]| tokens.get(i).is_some_and(|t| options.contains(&t.as_str()));
    if ymd.values.len() == 3
        && (len_li == 2 || len_li == 4)
        && res.hour.is_none()
        && (idx + 1 >= len || (tokens[idx + 1] != ":" && hms(&tokens[idx + 1]).is_none()))
    {
        // 19990101T23[59]
        res.hour = Some(int(&slice(repr, 0, Some(2)))?);
        if len_li == 4 {
            res.minute = Some(int(&slice(repr, 2, None))?);
        }
    } else if len_li == 6 || (len_li > 6 && repr.find('.') == Some(6)) {
        // YYMMDD or HHMMSS[.ss]
        if ymd.values.is_empty() && !repr.contains('.') {
            ymd.append(Part::Text(&slice(repr, 0, Some(2))), None)?;
            ymd.append(Part::Text(&slice(repr, 2, Some(4))), None)?;
            ymd.append(Part::Text(&slice(repr, 4, None)), None)?;
        } else {
            res.hour = Some(int(&slice(repr, 0, Some(2)))?);
            res.minute = Some(int(&slice(repr, 2, Some(4)))?);
            let (second, micro) = seconds_micros(&slice(repr, 4, None))?;
            res.second = Some(second);
            res.microsecond = Some(micro);
        }
    } else if matches!(len_li, 8 | 12 | 14) {
        // YYYYMMDD[HHMM[SS]]
        ymd.append(Part::Text(&slice(repr, 0, Some(4))), Some(Label::Year))?;
        ymd.append(Part::Text(&slice(repr, 4, Some(6))), None)?;
        ymd.append(Part::Text(&slice(repr, 6, Some(8))), None)?;
        if len_li > 8 {
            res.hour = Some(int(&slice(repr, 8, Some(10)))?);
            res.minute = Some(int(&slice(repr, 10, Some(12)))?);
            if len_li > 12 {
                res.second = Some(int(&slice(repr, 12, None))?);
            }
        }
    } else if let Some(at) = hms_label(idx, tokens) {
        // HH[ ]h or MM[ ]m or SS[.ss][ ]s
        let label = hms(&tokens[at])?;
        let which = if at > idx {
            idx = at;
            label
        } else {
            label + 1
        };
        match which {
            0 => {
                res.hour = Some(value.int);
                if value.has_fraction() {
                    res.minute = Some(value.sixtieths());
                }
            }
            1 => {
                (res.minute, res.second) = {
                    let (m, s) = minutes_seconds(value);
                    (Some(m), s)
                }
            }
            2 => {
                let (second, micro) = seconds_micros(repr)?;
                res.second = Some(second);
                res.microsecond = Some(micro);
            }
            _ => {}
        }
    } else if idx + 2 < len && tokens[idx + 1] == ":" {
        // HH:MM[:SS[.ss]]
        res.hour = Some(value.int);
        let (minute, second) = minutes_seconds(Num::parse(&tokens[idx + 2])?);
        res.minute = Some(minute);
        res.second = second;
        if idx + 4 < len && tokens[idx + 3] == ":" {
            let (second, micro) = seconds_micros(&tokens[idx + 4])?;
            res.second = Some(second);
            res.microsecond = Some(micro);
            idx += 2;
        }
        idx += 2;
    } else if next_is(idx + 1, &["-", "/", "."]) {
        // 01-01[-01], 01-Jan[-01]
        let sep = tokens[idx + 1].as_str();
        ymd.append(Part::Text(repr), None)?;
        if idx + 2 < len && !jump(&tokens[idx + 2]) {
            if is_digits(&tokens[idx + 2]) {
                ymd.append(Part::Text(&tokens[idx + 2]), None)?;
            } else {
                let value = month(&tokens[idx + 2])?;
                ymd.append(Part::Month(value), Some(Label::Month))?;
            }
            if idx + 3 < len && tokens[idx + 3] == sep {
                let last = tokens.get(idx + 4)?;
                match month(last) {
                    Some(value) => ymd.append(Part::Month(value), Some(Label::Month))?,
                    None => ymd.append(Part::Text(last), None)?,
                }
                idx += 2;
            }
            idx += 1;
        }
        idx += 1;
    } else if idx + 1 >= len || jump(&tokens[idx + 1]) {
        match tokens.get(idx + 2).and_then(|t| ampm(t)) {
            // 12 am
            Some(half) => {
                res.hour = Some(adjust_ampm(value.int, half));
                idx += 1;
            }
            // A year, month or day.
            None => ymd.append(Part::Number(value), None)?,
        }
        idx += 1;
    } else if let Some(half) = ampm(&tokens[idx + 1]).filter(|_| value.int < 24) {
        // 12am
        res.hour = Some(adjust_ampm(value.int, half));
        idx += 1;
    } else if ymd.could_be_day(value) {
        ymd.append(Part::Number(value), None)?;
    } else {
        return None;
    }
    Some(idx)
}

// ---------------------------------------------------------------------------------------
// The date-time: `_build_naive` and `_build_tzaware`.

/// Python's `datetime.replace` checks, the month-end fallback for a missing day, and the
/// weekday step forward when only a weekday was named.
fn build(res: &Found, default: NaiveDateTime) -> Option<Parsed> {
    if res.is_empty() {
        // "String does not contain a date"
        return None;
    }
    let year = res
        .year
        .unwrap_or(u64::try_from(default.year()).unwrap_or(0));
    let month = res.month.unwrap_or(u64::from(default.month()));
    if !(1..=12).contains(&month) || !(1..=9999).contains(&year) {
        return None;
    }
    let day = match res.day {
        Some(day) => day,
        None => u64::from(default.day()).min(days_in_month(year, month)),
    };
    let field = |value: Option<u64>, default: u32, most: u64| match value {
        Some(v) if v <= most => u32::try_from(v).ok(),
        Some(_) => None,
        None => Some(default),
    };
    let hour = field(res.hour, default.hour(), 23)?;
    let minute = field(res.minute, default.minute(), 59)?;
    let second = field(res.second, default.second(), 59)?;
    let micro = field(res.microsecond, default.nanosecond() / 1000, 999_999)?;
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )?;
    let mut datetime = date.and_hms_micro_opt(hour, minute, second, micro)?;
    if let (Some(weekday), None) = (res.weekday, res.day) {
        // relativedelta(weekday=...): forward to that weekday; past 9999 is an OverflowError.
        let ahead = (weekday + 7 - datetime.weekday().num_days_from_monday()) % 7;
        datetime = datetime.checked_add_signed(chrono::TimeDelta::days(i64::from(ahead)))?;
        if datetime.year() > 9999 {
            return None;
        }
    }
    // tzoffset(name, seconds) builds a timedelta: beyond 999999999 days it overflows.
    const MOST: i64 = 86_399_999_999_999;
    if res.tzoffset.is_some_and(|o| !(-MOST..=MOST).contains(&o)) {
        return None;
    }
    Some(Parsed {
        datetime,
        offset_seconds: res.tzoffset,
    })
}

#[cfg(test)]
mod tests;
