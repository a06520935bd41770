//! The port against the real python-dateutil: `tests/fixtures/dateutil/cases.json` holds what
//! dateutil said about each string (`scripts/dateutil-cases.py` records it).

use serde_json::Value;

use super::*;

fn fixture() -> Value {
    let text = include_str!("../../tests/fixtures/dateutil/cases.json");
    serde_json::from_str(text).expect("cases.json is JSON")
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").expect("an ISO date-time")
}

#[test]
fn answers_like_python_dateutil() {
    let fixture = fixture();
    let default = at(fixture["default"].as_str().expect("default"));
    let this_year = fixture["this_year"].as_i64().expect("this_year") as i32;
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut problems = Vec::new();
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let ours = parse(text, default, this_year);
        let theirs = case["parsed"].as_object().map(|p| Parsed {
            datetime: at(p["datetime"].as_str().expect("datetime")),
            offset_seconds: p["offset_seconds"].as_i64(),
        });
        if ours != theirs {
            problems.push(format!("{text:?}: ours {ours:?}, dateutil {theirs:?}"));
        }
        // GE's verdict (parsed with today as the default); none of the cases depends on today.
        let expected = case["parseable"].as_bool().expect("parseable");
        if parseable(text) != expected {
            problems.push(format!(
                "{text:?}: parseable {}, dateutil {expected}",
                !expected
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} differ from dateutil:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

#[test]
fn tokens_split_like_timelex() {
    let tokens = |text: &str| lex(text);
    assert_eq!(
        tokens("2024-01-05T10:00:00.5Z"),
        [
            "2024", "-", "01", "-", "05", "T", "10", ":", "00", ":", "00.5", "Z"
        ]
    );
    // A dot between letters, or more than one dot, separates; one between digits is a point.
    assert_eq!(tokens("Sep.20.2009"), ["Sep", ".", "20", ".", "2009"]);
    assert_eq!(tokens("a.m."), ["a", ".", "m", "."]);
    assert_eq!(tokens("1.2.3"), ["1", ".", "2", ".", "3"]);
    // A comma after two digits is a decimal comma.
    assert_eq!(tokens("10,5"), ["10.5"]);
    assert_eq!(tokens("2024, Jan"), ["2024", ",", " ", "Jan"]);
    // Each space is its own token.
    assert_eq!(tokens("Jan  5"), ["Jan", " ", " ", "5"]);
}

#[test]
fn dateutil_quirks_that_ge_inherits() {
    let default = at("2001-02-03T00:00:00");
    let year = 2026;
    let parsed = |text: &str| parse(text, default, year).map(|p| p.datetime.to_string());
    // A four-digit number without a century is a year near now.
    assert_eq!(parsed("0042").as_deref(), Some("2042-02-03 00:00:00"));
    // `A` is "AM", which needs an hour before it.
    assert_eq!(parsed("A001"), None);
    // An hour with AM/PM must be on a 12-hour clock, except right before the AM/PM word.
    assert_eq!(parsed("13:00 PM"), None);
    assert_eq!(parsed("13 PM").as_deref(), Some("2001-02-03 13:00:00"));
    // Two-digit years stay within 50 years of this year.
    assert_eq!(parsed("1/5/76").as_deref(), Some("1976-01-05 00:00:00"));
    assert_eq!(parsed("1/5/75").as_deref(), Some("2075-01-05 00:00:00"));
    // A day past the end of the month is an error, a missing day falls back to the month end.
    assert_eq!(parsed("Feb 30 2024"), None);
    assert_eq!(
        parse("Feb 2023", at("2001-01-31T00:00:00"), year).map(|p| p.datetime.to_string()),
        Some("2023-02-28 00:00:00".into())
    );
    // GMT+3 means three hours *behind* GMT, as in POSIX zone strings.
    assert_eq!(
        parse("10:00 GMT+3", default, year).and_then(|p| p.offset_seconds),
        Some(-10_800)
    );
    // A weekday alone moves forward to that day.
    assert_eq!(parsed("Sat").as_deref(), Some("2001-02-03 00:00:00"));
    assert_eq!(parsed("Sun").as_deref(), Some("2001-02-04 00:00:00"));
}
