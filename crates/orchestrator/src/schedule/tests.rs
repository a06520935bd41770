//! Tests of schedule parsing and data-interval arithmetic, on fixed UTC dates.

use chrono::{TimeDelta, TimeZone};

use super::*;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap()
}

fn interval(start: DateTime<Utc>, end: DateTime<Utc>) -> DataInterval {
    DataInterval { start, end }
}

fn cron(text: &str) -> Schedule {
    let schedule = parse(text).unwrap();
    assert!(
        matches!(schedule, Schedule::Cron(_)),
        "{text}: {schedule:?}"
    );
    schedule
}

fn starts(intervals: &[DataInterval]) -> Vec<DateTime<Utc>> {
    intervals.iter().map(|i| i.start).collect()
}

fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

// ---- parsing ----

#[test]
fn parses_none_and_once() {
    for text in ["", "  ", "none", "None", "NULL", "null"] {
        assert_eq!(parse(text), Ok(Schedule::None), "{text:?}");
    }
    assert_eq!(parse("@once"), Ok(Schedule::Once));
    assert_eq!(parse(" @ONCE "), Ok(Schedule::Once));
    assert!(!Schedule::None.is_scheduled());
    assert!(Schedule::Once.is_scheduled());
    assert_eq!(Schedule::default(), Schedule::None);
}

#[test]
fn presets_expand_to_airflow_expressions_and_keep_their_name() {
    let expected = [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@quarterly", "0 0 1 */3 *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ];
    for (name, expression) in expected {
        let Schedule::Cron(schedule) = cron(name) else {
            unreachable!()
        };
        assert_eq!(schedule.expression(), expression);
        assert_eq!(schedule.text(), name);
        assert_eq!(Schedule::Cron(schedule).to_string(), name);
    }
    // Case does not matter; the text is kept as written.
    assert_eq!(cron("@Daily").to_string(), "@Daily");
}

#[test]
fn presets_tick_where_airflow_does() {
    let from = utc(2024, 1, 10, 7, 30, 0);
    let first = |text: &str| cron(text).first_interval(from).unwrap();
    assert_eq!(
        first("@hourly"),
        interval(utc(2024, 1, 10, 8, 0, 0), utc(2024, 1, 10, 9, 0, 0))
    );
    assert_eq!(
        first("@daily"),
        interval(utc(2024, 1, 11, 0, 0, 0), utc(2024, 1, 12, 0, 0, 0))
    );
    assert_eq!(first("@midnight"), first("@daily"));
    // 2024-01-14 is a Sunday.
    assert_eq!(
        first("@weekly"),
        interval(utc(2024, 1, 14, 0, 0, 0), utc(2024, 1, 21, 0, 0, 0))
    );
    assert_eq!(
        first("@monthly"),
        interval(utc(2024, 2, 1, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0))
    );
    assert_eq!(
        first("@quarterly"),
        interval(utc(2024, 4, 1, 0, 0, 0), utc(2024, 7, 1, 0, 0, 0))
    );
    assert_eq!(
        first("@yearly"),
        interval(utc(2025, 1, 1, 0, 0, 0), utc(2026, 1, 1, 0, 0, 0))
    );
    assert_eq!(first("@annually"), first("@yearly"));
}

#[test]
fn bad_cron_errors_name_the_expression_and_croners_reason() {
    let err = parse("61 * * * *").unwrap_err();
    assert!(
        err.contains("invalid cron expression `61 * * * *`"),
        "{err}"
    );
    assert!(err.contains("out of bounds"), "{err}");
    assert!(
        err.contains("the minute field's 61 is outside 0-59"),
        "{err}"
    );
    for (text, hint) in [
        ("0 25 * * *", "the hour field's 25 is outside 0-23"),
        (
            "0 0 1-32 * *",
            "the day-of-month field's 32 is outside 1-31",
        ),
        ("0 0 * 1,13 *", "the month field's 13 is outside 1-12"),
        ("0 0 * * 8/2", "the day-of-week field's 8 is outside 0-7"),
        ("60 0 0 * * *", "the second field's 60 is outside 0-59"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(hint), "{text}: {err}");
    }

    let err = parse("0 0 * * * * * *").unwrap_err();
    assert!(err.contains("`0 0 * * * * * *`"), "{err}");
    assert!(err.contains("between 5 and 7 fields"), "{err}");

    let err = parse("0 0 * * MONDAY").unwrap_err();
    assert!(err.contains("`0 0 * * MONDAY`"), "{err}");
    assert!(err.contains("illegal character"), "{err}");

    let err = parse("0 0 30 2 *").unwrap_err();
    assert!(
        err.contains("`0 0 30 2 *`") && err.contains("never fires"),
        "{err}"
    );

    let err = parse("@fortnightly").unwrap_err();
    assert!(
        err.contains("unknown schedule preset `@fortnightly`"),
        "{err}"
    );
    assert!(err.contains("@quarterly"), "{err}");

    let err = parse("0 0 *").unwrap_err();
    assert!(err.contains("invalid schedule `0 0 *`"), "{err}");
    assert!(err.contains("cron expression with 5 fields"), "{err}");
}

#[test]
fn parses_intervals() {
    assert_eq!(
        parse("15m"),
        Ok(Schedule::Interval(Duration::from_secs(900)))
    );
    assert_eq!(
        parse("1h"),
        Ok(Schedule::Interval(Duration::from_secs(3_600)))
    );
    assert_eq!(
        parse("30s"),
        Ok(Schedule::Interval(Duration::from_secs(30)))
    );
    assert_eq!(
        parse(" 1h 30m "),
        Ok(Schedule::Interval(Duration::from_secs(5_400)))
    );
    assert_eq!(
        parse("1d"),
        Ok(Schedule::Interval(Duration::from_secs(86_400)))
    );
    assert_eq!(parse("90m").unwrap().to_string(), "1h30m");

    let err = parse("0s").unwrap_err();
    assert!(
        err.contains("`0s`") && err.contains("greater than zero"),
        "{err}"
    );
    let err = parse("0").unwrap_err();
    assert!(err.contains("greater than zero"), "{err}");
    let err = parse("15x").unwrap_err();
    assert!(err.contains("invalid schedule `15x`"), "{err}");
    assert!(err.contains("`15m`"), "{err}");
    assert!("daily".parse::<Schedule>().is_err());
}

#[test]
fn accepts_cron_with_seconds() {
    let schedule = cron("30 */5 * * * *");
    assert_eq!(
        schedule.first_interval(utc(2024, 1, 1, 0, 1, 0)),
        Some(interval(
            utc(2024, 1, 1, 0, 5, 30),
            utc(2024, 1, 1, 0, 10, 30)
        ))
    );
    assert_eq!(schedule.to_string(), "30 */5 * * * *");
}

// ---- intervals and due-ness ----

#[test]
fn hourly_intervals_follow_ticks() {
    let hourly = cron("@hourly");
    let ten = utc(2024, 3, 1, 10, 0, 0);
    // A start on a tick starts the first interval; a start just after it waits for the next.
    let first = hourly.first_interval(ten).unwrap();
    assert_eq!(first, interval(ten, ten + hours(1)));
    assert_eq!(
        hourly.first_interval(ten + TimeDelta::milliseconds(500)),
        Some(interval(ten + hours(1), ten + hours(2)))
    );
    assert_eq!(
        hourly.first_interval(ten - TimeDelta::nanoseconds(1)),
        Some(first)
    );
    assert_eq!(
        hourly.next_interval(&first),
        Some(interval(ten + hours(1), ten + hours(2)))
    );
    let taken: Vec<_> = hourly.iter_intervals(ten).take(3).collect();
    assert_eq!(starts(&taken), vec![ten, ten + hours(1), ten + hours(2)]);
}

#[test]
fn an_interval_is_due_exactly_at_its_end() {
    let hourly = cron("@hourly");
    let start = utc(2024, 3, 1, 10, 0, 0);
    let end = start + hours(1);
    for catchup in [true, false] {
        let before = hourly.due_intervals(start, None, end - TimeDelta::microseconds(1), catchup);
        assert_eq!(before, vec![], "catchup {catchup}");
        let at = hourly.due_intervals(start, None, end, catchup);
        assert_eq!(at, vec![interval(start, end)], "catchup {catchup}");
        let later = hourly.due_intervals(start, None, end + TimeDelta::minutes(59), catchup);
        assert_eq!(later, vec![interval(start, end)], "catchup {catchup}");
    }
    assert_eq!(hourly.next_due_at(start, None), Some(end));
}

#[test]
fn catchup_runs_every_missed_interval_and_no_catchup_only_the_latest() {
    let daily = cron("@daily");
    let now = utc(2024, 5, 10, 9, 15, 0);
    let start_date = utc(2024, 5, 7, 0, 0, 0); // three days before today's midnight

    let all = daily.due_intervals(start_date, None, now, true);
    assert_eq!(
        all,
        vec![
            interval(utc(2024, 5, 7, 0, 0, 0), utc(2024, 5, 8, 0, 0, 0)),
            interval(utc(2024, 5, 8, 0, 0, 0), utc(2024, 5, 9, 0, 0, 0)),
            interval(utc(2024, 5, 9, 0, 0, 0), utc(2024, 5, 10, 0, 0, 0)),
        ]
    );
    let latest = daily.due_intervals(start_date, None, now, false);
    assert_eq!(
        latest,
        vec![interval(
            utc(2024, 5, 9, 0, 0, 0),
            utc(2024, 5, 10, 0, 0, 0)
        )]
    );
}

#[test]
fn resumes_after_the_last_run() {
    let daily = cron("@daily");
    let start_date = utc(2024, 5, 1, 0, 0, 0);
    let now = utc(2024, 5, 10, 9, 15, 0);
    let last = interval(utc(2024, 5, 6, 0, 0, 0), utc(2024, 5, 7, 0, 0, 0));

    let due = daily.due_intervals(start_date, Some(&last), now, true);
    assert_eq!(
        starts(&due),
        vec![
            utc(2024, 5, 7, 0, 0, 0),
            utc(2024, 5, 8, 0, 0, 0),
            utc(2024, 5, 9, 0, 0, 0)
        ]
    );
    let due = daily.due_intervals(start_date, Some(&last), now, false);
    assert_eq!(starts(&due), vec![utc(2024, 5, 9, 0, 0, 0)]);

    // Nothing after the latest complete interval: nothing is due, with or without catchup.
    let latest = interval(utc(2024, 5, 9, 0, 0, 0), utc(2024, 5, 10, 0, 0, 0));
    assert_eq!(
        daily.due_intervals(start_date, Some(&latest), now, true),
        vec![]
    );
    assert_eq!(
        daily.due_intervals(start_date, Some(&latest), now, false),
        vec![]
    );
    assert_eq!(
        daily.next_due_at(start_date, Some(&latest)),
        Some(utc(2024, 5, 11, 0, 0, 0))
    );
    // A last run not on a tick (say from an older schedule) resumes at the next tick.
    let odd = interval(utc(2024, 5, 8, 6, 0, 0), utc(2024, 5, 9, 6, 0, 0));
    assert_eq!(
        daily.next_interval(&odd),
        Some(interval(
            utc(2024, 5, 10, 0, 0, 0),
            utc(2024, 5, 11, 0, 0, 0)
        ))
    );
}

#[test]
fn no_catchup_never_goes_before_the_start_date() {
    let daily = cron("@daily");
    let start_date = utc(2024, 5, 9, 12, 0, 0);
    // The latest complete interval [05-09, 05-10) starts before start_date: not run.
    assert_eq!(
        daily.due_intervals(start_date, None, utc(2024, 5, 10, 9, 0, 0), false),
        vec![]
    );
    assert_eq!(
        daily.due_intervals(start_date, None, utc(2024, 5, 11, 0, 0, 0), false),
        vec![interval(
            utc(2024, 5, 10, 0, 0, 0),
            utc(2024, 5, 11, 0, 0, 0)
        )]
    );
    assert_eq!(
        daily.next_due_at(start_date, None),
        Some(utc(2024, 5, 11, 0, 0, 0))
    );
}

#[test]
fn month_end_cron_skips_short_months() {
    let month_end = cron("0 0 31 * *");
    let first = month_end.first_interval(utc(2024, 1, 15, 0, 0, 0)).unwrap();
    assert_eq!(
        first,
        interval(utc(2024, 1, 31, 0, 0, 0), utc(2024, 3, 31, 0, 0, 0))
    );
    let due = month_end.due_intervals(
        utc(2024, 1, 15, 0, 0, 0),
        None,
        utc(2024, 12, 31, 0, 0, 0),
        true,
    );
    assert_eq!(
        starts(&due),
        vec![
            utc(2024, 1, 31, 0, 0, 0),
            utc(2024, 3, 31, 0, 0, 0),
            utc(2024, 5, 31, 0, 0, 0),
            utc(2024, 7, 31, 0, 0, 0),
            utc(2024, 8, 31, 0, 0, 0),
            utc(2024, 10, 31, 0, 0, 0),
        ]
    );
    assert_eq!(due.last().unwrap().end, utc(2024, 12, 31, 0, 0, 0));
    // Without catchup only the interval that ended on 12-31.
    let latest = month_end.due_intervals(
        utc(2024, 1, 15, 0, 0, 0),
        None,
        utc(2025, 1, 2, 0, 0, 0),
        false,
    );
    assert_eq!(
        latest,
        vec![interval(
            utc(2024, 10, 31, 0, 0, 0),
            utc(2024, 12, 31, 0, 0, 0)
        )]
    );
}

#[test]
fn every_fifteen_minutes() {
    let quarter = cron("*/15 * * * *");
    let from = utc(2024, 6, 1, 10, 7, 0);
    assert_eq!(
        quarter.first_interval(from),
        Some(interval(
            utc(2024, 6, 1, 10, 15, 0),
            utc(2024, 6, 1, 10, 30, 0)
        ))
    );
    let due = quarter.due_intervals(from, None, utc(2024, 6, 1, 11, 0, 0), true);
    assert_eq!(
        starts(&due),
        vec![
            utc(2024, 6, 1, 10, 15, 0),
            utc(2024, 6, 1, 10, 30, 0),
            utc(2024, 6, 1, 10, 45, 0)
        ]
    );
    let latest = quarter.due_intervals(from, None, utc(2024, 6, 1, 11, 14, 59), false);
    assert_eq!(
        latest,
        vec![interval(
            utc(2024, 6, 1, 10, 45, 0),
            utc(2024, 6, 1, 11, 0, 0)
        )]
    );
    let between = quarter.intervals_between(utc(2024, 6, 1, 10, 0, 0), utc(2024, 6, 1, 11, 0, 0));
    assert_eq!(between.len(), 5);
    assert!(
        between
            .iter()
            .all(|i| i.end - i.start == TimeDelta::minutes(15))
    );
}

#[test]
fn once_runs_a_single_instant_at_the_start_date() {
    let once = Schedule::Once;
    let start = utc(2024, 7, 1, 12, 0, 0);
    let only = DataInterval::instant(start);
    assert_eq!(once.first_interval(start), Some(only));
    assert_eq!(once.next_interval(&only), None);
    assert_eq!(
        once.due_intervals(start, None, start - TimeDelta::seconds(1), true),
        vec![]
    );
    assert_eq!(once.due_intervals(start, None, start, true), vec![only]);
    assert_eq!(
        once.due_intervals(start, None, start + days(30), false),
        vec![only]
    );
    assert_eq!(
        once.due_intervals(start, Some(&only), start + days(30), true),
        vec![]
    );
    assert_eq!(once.next_due_at(start, None), Some(start));
    assert_eq!(once.next_due_at(start, Some(&only)), None);
    assert_eq!(once.intervals_between(start, start + days(1)), vec![]);
}

#[test]
fn none_is_never_scheduled() {
    let none = Schedule::None;
    let start = utc(2024, 7, 1, 12, 0, 0);
    assert_eq!(none.first_interval(start), None);
    assert_eq!(
        none.due_intervals(start, None, start + days(9), true),
        vec![]
    );
    assert_eq!(none.next_due_at(start, None), None);
    assert_eq!(none.intervals_between(start, start + days(9)), vec![]);
    assert_eq!(none.iter_intervals(start).count(), 0);
}

// ---- fixed intervals ----

#[test]
fn fixed_intervals_align_to_the_start_date() {
    let every = parse("15m").unwrap();
    let start_date = utc(2024, 6, 1, 10, 7, 0);
    let minutes = |m: i64| start_date + TimeDelta::minutes(m);
    assert_eq!(
        every.first_interval(start_date),
        Some(interval(start_date, minutes(15)))
    );
    let now = utc(2024, 6, 1, 11, 0, 0); // 53 minutes after the start: three complete
    let due = every.due_intervals(start_date, None, now, true);
    assert_eq!(starts(&due), vec![minutes(0), minutes(15), minutes(30)]);
    assert_eq!(
        every.due_intervals(start_date, None, now, false),
        vec![interval(minutes(30), minutes(45))]
    );
    // Resuming after the first interval keeps the alignment.
    let last = interval(minutes(0), minutes(15));
    let now = utc(2024, 6, 1, 12, 0, 0); // 113 minutes: seven complete
    let due = every.due_intervals(start_date, Some(&last), now, true);
    assert_eq!(due.len(), 6);
    assert_eq!(due.last(), Some(&interval(minutes(90), minutes(105))));
    assert_eq!(
        every.due_intervals(start_date, Some(&last), now, false),
        vec![interval(minutes(90), minutes(105))]
    );
    // Due exactly at the end.
    assert_eq!(
        every.due_intervals(
            start_date,
            None,
            minutes(15) - TimeDelta::nanoseconds(1),
            true
        ),
        vec![]
    );
    assert_eq!(
        every.due_intervals(start_date, None, minutes(15), false),
        vec![interval(minutes(0), minutes(15))]
    );
    assert_eq!(
        every.next_due_at(start_date, Some(&last)),
        Some(minutes(30))
    );
}

// ---- backfill ----

#[test]
fn backfill_covers_starts_within_the_range_inclusive() {
    let daily = cron("@daily");
    let between = daily.intervals_between(utc(2024, 2, 27, 0, 0, 0), utc(2024, 3, 2, 0, 0, 0));
    assert_eq!(
        starts(&between),
        vec![
            utc(2024, 2, 27, 0, 0, 0),
            utc(2024, 2, 28, 0, 0, 0),
            utc(2024, 2, 29, 0, 0, 0),
            utc(2024, 3, 1, 0, 0, 0),
            utc(2024, 3, 2, 0, 0, 0),
        ]
    );
    assert!(between.windows(2).all(|w| w[0].end == w[1].start));
    assert_eq!(between.last().unwrap().end, utc(2024, 3, 3, 0, 0, 0));
    // A range starting between ticks begins at the next tick.
    let between = daily.intervals_between(utc(2024, 2, 27, 0, 0, 1), utc(2024, 3, 1, 23, 59, 59));
    assert_eq!(
        starts(&between),
        vec![
            utc(2024, 2, 28, 0, 0, 0),
            utc(2024, 2, 29, 0, 0, 0),
            utc(2024, 3, 1, 0, 0, 0)
        ]
    );

    // UTC has no DST: the March and October switch-over days have 24 hourly intervals each.
    let hourly = cron("@hourly");
    for day in [utc(2024, 3, 31, 0, 0, 0), utc(2024, 10, 27, 0, 0, 0)] {
        let between = hourly.intervals_between(day, day + hours(23));
        assert_eq!(between.len(), 24);
        assert!(between.iter().all(|i| i.end - i.start == hours(1)));
    }

    // Fixed intervals align to `from`.
    let six_hours = parse("6h").unwrap();
    let from = utc(2024, 1, 1, 1, 30, 0);
    let between = six_hours.intervals_between(from, from + days(1));
    assert_eq!(between.len(), 5);
    assert_eq!(between[0], interval(from, from + hours(6)));
    assert_eq!(
        between[4],
        interval(from + days(1), from + days(1) + hours(6))
    );

    assert_eq!(
        daily.intervals_between(utc(2024, 3, 2, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0)),
        vec![]
    );
}

#[test]
fn long_ranges_are_capped() {
    let every_second = cron("* * * * * *");
    let start = utc(2024, 1, 1, 0, 0, 0);
    let due = every_second.due_intervals(start, None, start + days(1), true);
    assert_eq!(due.len(), MAX_INTERVALS);
    assert_eq!(due[0].start, start);
    let between = every_second.intervals_between(start, start + days(1));
    assert_eq!(between.len(), MAX_INTERVALS);
    // Without catchup the latest is found directly, however far behind.
    let latest = every_second.due_intervals(start, None, start + days(1), false);
    assert_eq!(
        latest,
        vec![interval(
            start + days(1) - TimeDelta::seconds(1),
            start + days(1)
        )]
    );
}

// ---- manual runs ----

#[test]
fn manual_intervals_follow_airflow() {
    let daily = cron("@daily");
    let expected = interval(utc(2024, 1, 4, 0, 0, 0), utc(2024, 1, 5, 0, 0, 0));
    assert_eq!(daily.manual_interval(utc(2024, 1, 5, 13, 0, 0)), expected);
    assert_eq!(daily.manual_interval(utc(2024, 1, 5, 0, 0, 0)), expected);
    assert_eq!(
        daily.manual_interval(utc(2024, 1, 5, 0, 0, 0) + TimeDelta::milliseconds(1)),
        expected
    );
    assert_eq!(
        daily.manual_interval(utc(2024, 1, 5, 0, 0, 0) - TimeDelta::milliseconds(1)),
        interval(utc(2024, 1, 3, 0, 0, 0), utc(2024, 1, 4, 0, 0, 0))
    );

    // A cron with no tick at or before the date: the instant itself.
    let later = cron("0 0 0 1 1 * 2030");
    let at = utc(2024, 1, 5, 13, 0, 0);
    assert_eq!(later.manual_interval(at), DataInterval::instant(at));

    let hourly_interval = parse("1h").unwrap();
    assert_eq!(
        hourly_interval.manual_interval(at),
        interval(at - hours(1), at)
    );
    assert_eq!(
        Schedule::None.manual_interval(at),
        DataInterval::instant(at)
    );
    assert_eq!(
        Schedule::Once.manual_interval(at),
        DataInterval::instant(at)
    );
}

// ---- text forms ----

#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct Pipeline {
    #[serde(default)]
    schedule: Schedule,
}

#[test]
fn deserializes_from_yaml_strings_and_null() {
    let read = |yaml: &str| serde_yaml_ng::from_str::<Pipeline>(yaml).map(|p| p.schedule);
    assert_eq!(read("schedule: null").unwrap(), Schedule::None);
    assert_eq!(read("schedule: ~").unwrap(), Schedule::None);
    assert_eq!(read("{}").unwrap(), Schedule::None);
    assert_eq!(read("schedule: none").unwrap(), Schedule::None);
    assert_eq!(read("schedule: \"@once\"").unwrap(), Schedule::Once);
    assert_eq!(read("schedule: \"@daily\"").unwrap(), cron("@daily"));
    assert_eq!(
        read("schedule: \"*/15 * * * *\"").unwrap(),
        cron("*/15 * * * *")
    );
    assert_eq!(
        read("schedule: 15m").unwrap(),
        Schedule::Interval(Duration::from_secs(900))
    );
    let err = read("schedule: \"61 * * * *\"").unwrap_err().to_string();
    assert!(
        err.contains("`61 * * * *`") && err.contains("out of bounds"),
        "{err}"
    );
}

#[test]
fn serializes_and_displays_the_text() {
    let write = |schedule: Schedule| {
        serde_yaml_ng::to_string(&Pipeline { schedule })
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(write(Schedule::None), "schedule: null");
    assert_eq!(write(Schedule::Once), "schedule: '@once'");
    assert_eq!(write(cron("@daily")), "schedule: '@daily'");
    assert_eq!(write(cron(" 0 6 * * 1-5 ")), "schedule: 0 6 * * 1-5");
    assert_eq!(write(parse("1h30m").unwrap()), "schedule: 1h30m");
    for text in ["none", "@once", "@weekly", "0 6 * * 1-5", "15m"] {
        let schedule = parse(text).unwrap();
        assert_eq!(schedule.to_string(), text);
        let yaml = serde_yaml_ng::to_string(&Pipeline {
            schedule: schedule.clone(),
        })
        .unwrap();
        assert_eq!(
            serde_yaml_ng::from_str::<Pipeline>(&yaml).unwrap().schedule,
            schedule
        );
        // Runs store their DAG as JSON.
        let json = serde_json::to_string(&Pipeline {
            schedule: schedule.clone(),
        })
        .unwrap();
        assert_eq!(
            serde_json::from_str::<Pipeline>(&json).unwrap().schedule,
            schedule
        );
    }
    assert_eq!(
        interval(utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 2, 0, 0, 0)).to_string(),
        "[2024-01-01T00:00:00Z, 2024-01-02T00:00:00Z)"
    );
}
