//! Airflow-compatible schedules and data intervals.
//!
//! A pipeline's `schedule` is `none` (manual runs only), `@once`, a preset such as `@daily`, an
//! interval such as `15m`, or a cron expression. Every scheduled run covers a *data interval*
//! `[start, end)` and, as in Airflow, becomes due at the **end** of its interval: the run for
//! 2024-01-01 of a `@daily` pipeline starts just after midnight on 2024-01-02. Its logical date
//! is the interval's start.
//!
//! - Cron schedules: the intervals run from one tick to the next, `[tick_i, tick_{i+1})`.
//! - `Interval(d)`: `[start_date + k·d, start_date + (k+1)·d)`.
//! - `@once`: a single empty interval `[start_date, start_date]`, due at `start_date`.
//! - `None`: never scheduled; [`Schedule::manual_interval`] still gives manual runs an interval.
//!
//! All times are UTC. Cron ticks are whole seconds; times with fractions of a second are
//! handled exactly (a tick is never reported at a fractional instant).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{format_duration, parse_duration};

/// The most intervals [`Schedule::due_intervals`] and [`Schedule::intervals_between`] return in
/// one call, so a tiny interval over a long range cannot exhaust memory. A caller that gets this
/// many asks again from the end of the last one.
pub const MAX_INTERVALS: usize = 10_000;

/// The presets and the cron expressions they stand for (Airflow's list).
const PRESETS: [(&str, &str); 8] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@quarterly", "0 0 1 */3 *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

/// The accepted forms, quoted in parse errors.
const ACCEPTED_FORMS: &str = "expected `none`, `@once`, a preset (@hourly, @daily, @midnight, \
     @weekly, @monthly, @quarterly, @yearly, @annually), an interval such as `15m`, `1h` or \
     `30s`, or a cron expression with 5 fields (minute hour day-of-month month day-of-week), \
     optionally with a leading seconds field";

/// The span of data a run covers: `[start, end)`, or the single instant `start == end` for
/// `@once` and some manual runs. A run's logical date is `start`; it becomes due at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataInterval {
    /// The first instant covered, also the run's logical date.
    pub start: DateTime<Utc>,
    /// The first instant after the interval, when the run becomes due.
    pub end: DateTime<Utc>,
}

impl DataInterval {
    /// An interval from `start` to `end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        DataInterval { start, end }
    }

    /// The interval `[at, at]`, covering a single instant.
    pub fn instant(at: DateTime<Utc>) -> Self {
        DataInterval { start: at, end: at }
    }
}

impl fmt::Display for DataInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            self.start
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            self.end
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        )
    }
}

/// A parsed cron expression with the text it was written as (`@daily` or `0 0 * * *`).
#[derive(Debug, Clone)]
pub struct CronSchedule {
    /// The text as written, trimmed: a preset name or the expression.
    text: String,
    /// The expression given to croner (the preset's expansion for a preset).
    expression: String,
    /// The parsed expression, boxed: it is several hundred bytes.
    cron: Box<croner::Cron>,
}

impl CronSchedule {
    /// Parses a cron expression or a preset name such as `@daily`.
    ///
    /// # Errors
    ///
    /// A message with the expression and croner's reason when it is not valid or never fires.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let expression = preset(text).unwrap_or(text);
        let cron = croner::Cron::from_str(expression)
            .map(Box::new)
            .map_err(|err| {
                // croner does not say which field is wrong; name it when a number is out of range.
                let field = out_of_range(expression)
                    .map(|hint| format!("{hint} ("))
                    .unwrap_or_default();
                let close = if field.is_empty() { "" } else { ")" };
                format!("invalid cron expression `{text}`: {field}{err}{close}; {ACCEPTED_FORMS}")
            })?;
        let schedule = CronSchedule {
            text: text.to_string(),
            expression: expression.to_string(),
            cron,
        };
        // `0 0 30 2 *` parses but never fires; say so now rather than never running.
        if schedule.tick_at_or_after(DateTime::UNIX_EPOCH).is_none() {
            return Err(format!(
                "invalid cron expression `{text}`: it never fires (no matching date)"
            ));
        }
        Ok(schedule)
    }

    /// The text as written: a preset name such as `@daily` or the expression.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cron expression: the preset's expansion for a preset, otherwise the text.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first tick at or after `t`.
    fn tick_at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // croner keeps the fraction of a second of its starting point, so start from whole
        // seconds: round up for an inclusive forward search.
        let floor = floor_second(t);
        let start = if floor == t {
            t
        } else {
            floor.checked_add_signed(TimeDelta::seconds(1))?
        };
        self.cron.find_next_occurrence(&start, true).ok()
    }

    /// The first tick strictly after `t`.
    fn tick_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&floor_second(t), false).ok()
    }

    /// The last tick at or before `t`.
    fn tick_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&floor_second(t), true)
            .ok()
    }

    /// The last tick strictly before `t`.
    fn tick_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let floor = floor_second(t);
        if floor == t {
            self.cron.find_previous_occurrence(&t, false).ok()
        } else {
            self.cron.find_previous_occurrence(&floor, true).ok()
        }
    }

    /// The interval starting at the first tick at or after `t`.
    fn interval_from(&self, t: DateTime<Utc>) -> Option<DataInterval> {
        let start = self.tick_at_or_after(t)?;
        let end = self.tick_after(start)?;
        Some(DataInterval { start, end })
    }

    /// The latest interval whose end is at or before `now`.
    fn latest_complete(&self, now: DateTime<Utc>) -> Option<DataInterval> {
        let end = self.tick_at_or_before(now)?;
        let start = self.tick_before(end)?;
        Some(DataInterval { start, end })
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronSchedule {}

/// When a pipeline runs by itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Schedule {
    /// Never scheduled: runs only when triggered by hand.
    #[default]
    None,
    /// One run, due at the start date.
    Once,
    /// A cron expression or preset; intervals run from one tick to the next.
    Cron(CronSchedule),
    /// A fixed interval, aligned to the start date. Never zero.
    Interval(Duration),
}

/// Parses a schedule: `none`, `null` or empty; `@once`; a preset (`@hourly`, `@daily`,
/// `@midnight`, `@weekly`, `@monthly`, `@quarterly`, `@yearly`, `@annually`); an interval such
/// as `15m` or `1h`; or a 5-field cron expression (6 fields with a leading seconds field).
///
/// # Errors
///
/// A message naming the text and the accepted forms; for a bad cron expression it includes
/// croner's reason.
pub fn parse(text: &str) -> Result<Schedule, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    match lower.as_str() {
        "" | "none" | "null" => return Ok(Schedule::None),
        "@once" => return Ok(Schedule::Once),
        _ => {}
    }
    if preset(trimmed).is_some() {
        return CronSchedule::parse(trimmed).map(Schedule::Cron);
    }
    if trimmed.starts_with('@') {
        return Err(format!(
            "unknown schedule preset `{trimmed}`; {ACCEPTED_FORMS}"
        ));
    }
    // A cron expression has at least five fields; anything shorter is an interval.
    if trimmed.split_whitespace().count() >= 5 {
        return CronSchedule::parse(trimmed).map(Schedule::Cron);
    }
    let interval = parse_duration(trimmed)
        .map_err(|_| format!("invalid schedule `{trimmed}`; {ACCEPTED_FORMS}"))?;
    if interval.is_zero() {
        return Err(format!(
            "invalid schedule `{trimmed}`: an interval must be greater than zero"
        ));
    }
    Ok(Schedule::Interval(interval))
}

/// The cron expression a preset stands for, matched without regard to case.
fn preset(text: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, expression)| *expression)
}

/// The first number outside its field's range in a 5- or 6-field cron expression, described
/// (`the hour field's 25 is outside 0-23`); `None` when every number is in range.
fn out_of_range(expression: &str) -> Option<String> {
    const FIVE: [(&str, u32, u32); 5] = [
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day-of-month", 1, 31),
        ("month", 1, 12),
        ("day-of-week", 0, 7),
    ];
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let names: Vec<(&str, u32, u32)> = match fields.len() {
        5 => FIVE.to_vec(),
        6 => std::iter::once(("second", 0, 59)).chain(FIVE).collect(),
        _ => return None,
    };
    for (field, (name, low, high)) in fields.iter().zip(names) {
        // `1-5/2,10`: the numbers before any step; names (JAN, MON) and `*`, `?`, `L` are skipped.
        let numbers = field
            .split(',')
            .filter_map(|part| part.split('/').next())
            .flat_map(|range| range.split('-'))
            .filter_map(|n| n.parse::<u32>().ok());
        for n in numbers {
            if n < low || n > high {
                return Some(format!("the {name} field's {n} is outside {low}-{high}"));
            }
        }
    }
    None
}

/// `t` without its fraction of a second.
fn floor_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t)
}

/// `t + n·step`, or `None` on overflow.
fn add_steps(t: DateTime<Utc>, step: TimeDelta, n: i64) -> Option<DateTime<Utc>> {
    let total = i128::from(n).checked_mul(step.num_nanoseconds().map(i128::from)?)?;
    let total = i64::try_from(total).ok()?;
    t.checked_add_signed(TimeDelta::nanoseconds(total))
}

impl Schedule {
    /// Parses a schedule; see [`parse`].
    ///
    /// # Errors
    ///
    /// As [`parse`].
    pub fn parse(text: &str) -> Result<Schedule, String> {
        parse(text)
    }

    /// Whether the scheduler creates runs by itself (everything but [`Schedule::None`]).
    pub fn is_scheduled(&self) -> bool {
        !matches!(self, Schedule::None)
    }

    /// The first interval at or after `start_date`, aligned to the schedule: for cron, it starts
    /// at the first tick at or after `start_date`; for an interval, at `start_date` itself.
    /// `@once` gives `[start_date, start_date]`; `None` gives nothing.
    pub fn first_interval(&self, start_date: DateTime<Utc>) -> Option<DataInterval> {
        match self {
            Schedule::None => None,
            Schedule::Once => Some(DataInterval::instant(start_date)),
            Schedule::Cron(cron) => cron.interval_from(start_date),
            Schedule::Interval(d) => {
                let end = start_date.checked_add_signed(TimeDelta::from_std(*d).ok()?)?;
                Some(DataInterval {
                    start: start_date,
                    end,
                })
            }
        }
    }

    /// The interval after `after`: it starts where `after` ends (for cron, at the first tick at
    /// or after that end). `None` for `@once` and unscheduled pipelines.
    pub fn next_interval(&self, after: &DataInterval) -> Option<DataInterval> {
        match self {
            Schedule::None | Schedule::Once => None,
            Schedule::Cron(cron) => cron.interval_from(after.end),
            Schedule::Interval(_) => self.first_interval(after.end),
        }
    }

    /// Intervals from `first_interval(start_date)` onwards, in order, without end. Stops only
    /// where time runs out (or at once for `@once` and `None`).
    pub fn iter_intervals(
        &self,
        start_date: DateTime<Utc>,
    ) -> impl Iterator<Item = DataInterval> + '_ {
        std::iter::successors(self.first_interval(start_date), move |previous| {
            self.next_interval(previous)
        })
    }

    /// The intervals to run now, in order: every interval after `last` (or from
    /// `first_interval(start_date)` when nothing has run) whose end is at or before `now`.
    ///
    /// With `catchup` off only the latest complete interval is returned, as Airflow does, and
    /// nothing if it is not after `last`. `@once` gives its interval if it has not run and `now`
    /// is at or after `start_date`. At most [`MAX_INTERVALS`] are returned; the rest come on the
    /// next call, after these have run.
    pub fn due_intervals(
        &self,
        start_date: DateTime<Utc>,
        last: Option<&DataInterval>,
        now: DateTime<Utc>,
        catchup: bool,
    ) -> Vec<DataInterval> {
        let next = match self {
            Schedule::None => return Vec::new(),
            Schedule::Once => {
                return if last.is_none() && now >= start_date {
                    vec![DataInterval::instant(start_date)]
                } else {
                    Vec::new()
                };
            }
            Schedule::Cron(_) | Schedule::Interval(_) => match last {
                Some(last) => self.next_interval(last),
                None => self.first_interval(start_date),
            },
        };
        let Some(next) = next else {
            return Vec::new();
        };
        if catchup {
            std::iter::successors(Some(next), |previous| self.next_interval(previous))
                .take_while(|interval| interval.end <= now)
                .take(MAX_INTERVALS)
                .collect()
        } else {
            self.latest_complete(next, now).into_iter().collect()
        }
    }

    /// The latest interval ending at or before `now`, among `next` and those after it.
    fn latest_complete(&self, next: DataInterval, now: DateTime<Utc>) -> Option<DataInterval> {
        if next.end > now {
            return None;
        }
        let latest = match self {
            Schedule::None | Schedule::Once => None,
            Schedule::Cron(cron) => cron.latest_complete(now),
            Schedule::Interval(d) => {
                // Stay aligned to `next.start`: the number of whole steps that fit before `now`.
                let step = TimeDelta::from_std(*d).ok()?;
                let elapsed = now.signed_duration_since(next.start);
                let steps = i64::try_from(
                    i128::from(elapsed.num_nanoseconds()?) / i128::from(step.num_nanoseconds()?),
                )
                .ok()?;
                let start = add_steps(next.start, step, steps.checked_sub(1)?)?;
                let end = add_steps(next.start, step, steps)?;
                Some(DataInterval { start, end })
            }
        };
        // `next` is complete, so the latest complete interval is `next` or one after it.
        Some(
            latest
                .filter(|latest| latest.start >= next.start)
                .unwrap_or(next),
        )
    }

    /// Every interval whose start is within `[from, to]`, both ends included, for a backfill:
    /// cron intervals start at ticks, fixed intervals are aligned to `from`. Empty for `@once`
    /// and `None`, and at most [`MAX_INTERVALS`] long (continue from the last one's end).
    pub fn intervals_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DataInterval> {
        match self {
            Schedule::None | Schedule::Once => Vec::new(),
            Schedule::Cron(_) | Schedule::Interval(_) => self
                .iter_intervals(from)
                .take_while(|interval| interval.start <= to)
                .take(MAX_INTERVALS)
                .collect(),
        }
    }

    /// When the next interval after `last` (or the first one, when nothing has run) becomes
    /// due: its end, for a scheduler to sleep until. `@once` is due at `start_date` until it
    /// has run; `None` never is.
    pub fn next_due_at(
        &self,
        start_date: DateTime<Utc>,
        last: Option<&DataInterval>,
    ) -> Option<DateTime<Utc>> {
        match (self, last) {
            (Schedule::None, _) | (Schedule::Once, Some(_)) => None,
            (Schedule::Once, None) => Some(start_date),
            (_, Some(last)) => self.next_interval(last).map(|next| next.end),
            (_, None) => self.first_interval(start_date).map(|first| first.end),
        }
    }

    /// The interval of a run triggered by hand for `logical_date` (Airflow's
    /// `infer_manual_data_interval`): for cron, the interval ending at the latest tick at or
    /// before `logical_date`; for an interval `d`, `[logical_date - d, logical_date]`;
    /// otherwise, or when there is no such tick, `[logical_date, logical_date]`.
    pub fn manual_interval(&self, logical_date: DateTime<Utc>) -> DataInterval {
        let inferred = match self {
            Schedule::None | Schedule::Once => None,
            Schedule::Cron(cron) => cron.latest_complete(logical_date),
            Schedule::Interval(d) => TimeDelta::from_std(*d)
                .ok()
                .and_then(|step| logical_date.checked_sub_signed(step))
                .map(|start| DataInterval {
                    start,
                    end: logical_date,
                }),
        };
        inferred.unwrap_or_else(|| DataInterval::instant(logical_date))
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::None => f.write_str("none"),
            Schedule::Once => f.write_str("@once"),
            Schedule::Cron(cron) => f.write_str(cron.text()),
            Schedule::Interval(d) => f.write_str(&format_duration(*d)),
        }
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Schedule::None => serializer.serialize_none(),
            other => serializer.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Schedule::None),
            Some(text) => parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests;
