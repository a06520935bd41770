//! dateutil's default `parserinfo`: the words it knows (jumps, weekdays, months, `h`/`m`/`s`,
//! AM/PM, UTC names), two-digit years, and month lengths.

pub(super) fn lower(token: &str) -> String {
    token.to_lowercase()
}

pub(super) fn jump(token: &str) -> bool {
    const JUMP: &[&str] = &[
        " ", ".", ",", ";", "-", "/", "'", "at", "on", "and", "ad", "m", "t", "of", "st", "nd",
        "rd", "th",
    ];
    JUMP.contains(&lower(token).as_str())
}

/// Monday is 0.
pub(super) fn weekday(token: &str) -> Option<u32> {
    const WEEKDAYS: &[&[&str]] = &[
        &["mon", "monday"],
        &["tue", "tuesday"],
        &["wed", "wednesday"],
        &["thu", "thursday"],
        &["fri", "friday"],
        &["sat", "saturday"],
        &["sun", "sunday"],
    ];
    let token = lower(token);
    (0u32..)
        .zip(WEEKDAYS)
        .find(|(_, names)| names.contains(&token.as_str()))
        .map(|(i, _)| i)
}

/// January is 1.
pub(super) fn month(token: &str) -> Option<u64> {
    const MONTHS: &[&[&str]] = &[
        &["jan", "january"],
        &["feb", "february"],
        &["mar", "march"],
        &["apr", "april"],
        &["may"],
        &["jun", "june"],
        &["jul", "july"],
        &["aug", "august"],
        &["sep", "sept", "september"],
        &["oct", "october"],
        &["nov", "november"],
        &["dec", "december"],
    ];
    let token = lower(token);
    (1u64..)
        .zip(MONTHS)
        .find(|(_, names)| names.contains(&token.as_str()))
        .map(|(i, _)| i)
}

/// 0 hour, 1 minute, 2 second.
pub(super) fn hms(token: &str) -> Option<u8> {
    match lower(token).as_str() {
        "h" | "hour" | "hours" => Some(0),
        "m" | "minute" | "minutes" => Some(1),
        "s" | "second" | "seconds" => Some(2),
        _ => None,
    }
}

/// 0 AM, 1 PM.
pub(super) fn ampm(token: &str) -> Option<u8> {
    match lower(token).as_str() {
        "am" | "a" => Some(0),
        "pm" | "p" => Some(1),
        _ => None,
    }
}

pub(super) fn utczone(token: &str) -> bool {
    matches!(lower(token).as_str(), "utc" | "gmt" | "z")
}

/// `parserinfo.tzoffset`: it looks the name up among lower-cased names without lowering it,
/// so only `z` is known to be UTC here (`validate` settles `Z`, `UTC` and `GMT` later).
pub(super) fn tzoffset(token: &str) -> Option<i64> {
    (token == "z").then_some(0)
}

/// `parserinfo.convertyear`: a two-digit year without a century is within 50 years of now.
pub(super) fn convert_year(year: u64, century_specified: bool, this_year: i32) -> u64 {
    let this_year = u64::try_from(this_year).unwrap_or(0);
    if year >= 100 || century_specified {
        return year;
    }
    let mut year = year + this_year / 100 * 100;
    if year >= this_year + 50 {
        year -= 100;
    } else if year + 50 < this_year {
        year += 100;
    }
    year
}

pub(super) fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
