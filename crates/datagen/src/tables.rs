//! The four generated tables, with the defects a real e-commerce feed has. Each defect either
//! changes the row being written or adds one extra line after it, so the clean data stays the
//! same whatever the defect rate and the manifest's counts are exact.

use crate::error::Result;
use crate::manifest::TableManifest;
use crate::rng::Rng;
use crate::sink::{Columns, Kind, Sink};
use crate::words;
use crate::world::World;

/// Columns of `customers`.
pub const CUSTOMERS: Columns = &[
    ("customer_id", Kind::Int64),
    ("email", Kind::Str),
    ("first_name", Kind::Str),
    ("last_name", Kind::Str),
    ("registration_date", Kind::Date),
    ("last_login_date", Kind::Timestamp),
    ("customer_segment", Kind::Str),
];

/// Columns of `products`.
pub const PRODUCTS: Columns = &[
    ("product_id", Kind::Int64),
    ("product_name", Kind::Str),
    ("product_category", Kind::Str),
    ("price", Kind::Money { precision: 10 }),
];

/// Columns of `transactions`.
pub const TRANSACTIONS: Columns = &[
    ("transaction_id", Kind::Int64),
    ("customer_id", Kind::Int64),
    ("product_id", Kind::Int64),
    ("transaction_amount", Kind::Money { precision: 12 }),
    ("transaction_date", Kind::Timestamp),
    ("payment_method", Kind::Str),
    ("status", Kind::Str),
];

/// Columns of `events`.
pub const EVENTS: Columns = &[
    ("event_id", Kind::Int64),
    ("customer_id", Kind::Int64),
    ("event_type", Kind::Str),
    ("event_timestamp", Kind::Timestamp),
    ("session_id", Kind::Str),
];

/// Defects that need CSV (they cannot be represented in typed Parquet).
const CSV_ONLY: &[&str] = &["wrong_field_count", "unparseable_number"];

/// Reports progress in rows.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

const PROGRESS_EVERY: u64 = 16_384;

/// Rolls whether this row gets a defect, and which one.
pub(crate) fn roll(
    rng: &mut Rng,
    rate: f64,
    defects: &[&'static str],
    csv: bool,
) -> Option<&'static str> {
    if !rng.chance(rate) {
        return None;
    }
    loop {
        let defect = *rng.pick(defects);
        if csv || !CSV_ONLY.contains(&defect) {
            return Some(defect);
        }
    }
}

fn title(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Generates `customers`: `count` must equal `world.customers`, whose ids other tables use.
pub fn customers<S: Sink>(
    world: &World,
    count: u64,
    rate: f64,
    sink: &mut S,
    manifest: &mut TableManifest,
    progress: Progress<'_>,
) -> Result<()> {
    const DEFECTS: &[&str] = &[
        "invalid_email",
        "padded_email",
        "null_first_name",
        "blank_first_name",
        "duplicate_customer_id",
        "unknown_segment",
        "mixed_case_segment",
        "login_before_registration",
        "out_of_range_registration_date",
        "wrong_field_count",
        "unparseable_number",
    ];
    let firsts: Vec<String> = words::FIRST_NAMES.iter().map(|w| title(w)).collect();
    let lasts: Vec<String> = words::LAST_NAMES.iter().map(|w| title(w)).collect();
    let csv = sink.supports_malformed();
    let mut rng = Rng::new(world.seed, 1);
    let mut email = String::with_capacity(64);
    for id in 1..=count {
        let defect = roll(&mut rng, rate, DEFECTS, csv);
        let first_index = rng.below(firsts.len() as u64) as usize;
        let last_index = rng.below(lasts.len() as u64) as usize;
        let domain = *rng.pick(words::EMAIL_DOMAINS);
        email.clear();
        email.push_str(words::FIRST_NAMES[first_index]);
        email.push('.');
        email.push_str(&words::LAST_NAMES[last_index].replace('\'', ""));
        email.push_str(itoa::Buffer::new().format(id));
        email.push('@');
        email.push_str(domain);
        let registered = world.registration_day(id);
        let login_day = rng.range(i64::from(registered), i64::from(world.end_day));
        let mut login = login_day * 86_400 + rng.below(86_400) as i64;
        let mut segment = *rng.weighted(words::SEGMENTS);
        let mut segment_text = String::new();
        let mut first: Option<&str> = Some(&firsts[first_index]);
        let mut reg_out = registered;
        let mut email_out = email.clone();
        match defect {
            Some("invalid_email") => {
                let at = email.find('@').unwrap_or(email.len());
                email_out = match rng.below(5) {
                    0 => email.replacen('@', "", 1),
                    1 => email[..=at.min(email.len() - 1)].to_string(),
                    2 => email[at..].to_string(),
                    3 => email.replacen('.', " ", 1),
                    _ => format!(
                        "{}@{}",
                        &email[..at],
                        domain.split('.').next().unwrap_or("")
                    ),
                };
            }
            Some("padded_email") => email_out = format!("  {email} "),
            Some("null_first_name") => first = None,
            Some("blank_first_name") => first = Some("   "),
            Some("unknown_segment") => segment = *rng.pick(words::UNKNOWN_SEGMENTS),
            Some("mixed_case_segment") => {
                segment_text = match rng.below(3) {
                    0 => title(segment),
                    1 => segment.to_uppercase(),
                    _ => format!(" {} ", title(segment)),
                };
            }
            Some("login_before_registration") => {
                login =
                    (i64::from(registered) - rng.range(1, 400)) * 86_400 + rng.below(86_400) as i64;
            }
            Some("out_of_range_registration_date") => {
                reg_out = if rng.chance(0.5) {
                    rng.range(-25_567, -7_306) as i32 // 1900..1950
                } else {
                    rng.range(47_482, 51_134) as i32 // 2100..2110
                };
            }
            _ => {}
        }
        let segment_out = if segment_text.is_empty() {
            segment
        } else {
            &segment_text
        };
        sink.int(id as i64);
        sink.str(&email_out);
        match first {
            Some(name) => sink.str(name),
            None => sink.null(),
        }
        sink.str(&lasts[last_index]);
        sink.date(reg_out);
        sink.ts(login);
        sink.str(segment_out);
        sink.end_row()?;
        manifest.data_rows += 1;
        if let Some(defect) = defect {
            manifest.count(defect);
            match defect {
                "duplicate_customer_id" => {
                    // The same customer registered again later with another address.
                    sink.int(id as i64);
                    sink.str(&email.replacen('@', ".alt@", 1));
                    sink.str(&firsts[first_index]);
                    sink.str(&lasts[last_index]);
                    sink.date(registered);
                    sink.ts(login);
                    sink.str(segment);
                    sink.end_row()?;
                    manifest.data_rows += 1;
                }
                "wrong_field_count" => {
                    let line = if rng.chance(0.5) {
                        format!("{id},{email},{}", lasts[last_index])
                    } else {
                        format!(
                            "{id},{email},{},{},,,{segment},extra",
                            firsts[first_index], lasts[last_index]
                        )
                    };
                    sink.raw_line(line.as_bytes())?;
                    manifest.data_rows += 1;
                }
                "unparseable_number" => {
                    let line = format!(
                        "C{id},{email},{},{},,,{segment}",
                        firsts[first_index], lasts[last_index]
                    );
                    sink.raw_line(line.as_bytes())?;
                    manifest.data_rows += 1;
                }
                _ => {}
            }
        }
        if id % PROGRESS_EVERY == 0 {
            progress(PROGRESS_EVERY);
        }
    }
    progress(count % PROGRESS_EVERY);
    Ok(())
}

/// Generates `products`: `count` must equal `world.products`.
pub fn products<S: Sink>(
    world: &World,
    count: u64,
    rate: f64,
    sink: &mut S,
    manifest: &mut TableManifest,
    progress: Progress<'_>,
) -> Result<()> {
    const DEFECTS: &[&str] = &[
        "negative_price",
        "null_category",
        "wrong_field_count",
        "unparseable_number",
    ];
    let csv = sink.supports_malformed();
    let mut rng = Rng::new(world.seed, 2);
    for id in 1..=count {
        let defect = roll(&mut rng, rate, DEFECTS, csv);
        let mut name = format!("{} {}", rng.pick(words::ADJECTIVES), rng.pick(words::NOUNS));
        if rng.chance(0.3) {
            name.push_str(", ");
            let color: &&str = rng.pick(words::COLORS);
            name.push_str(color);
        }
        let category = world.category(id);
        let mut price = world.price_cents(id);
        sink.int(id as i64);
        sink.str(&name);
        if defect == Some("null_category") {
            sink.null();
        } else {
            sink.str(category);
        }
        if defect == Some("negative_price") {
            price = -price;
        }
        sink.cents(price);
        sink.end_row()?;
        manifest.data_rows += 1;
        if let Some(defect) = defect {
            manifest.count(defect);
            let line = match defect {
                "wrong_field_count" => Some(format!("{id},\"{name}\"")),
                "unparseable_number" => Some(format!(
                    "{id},\"{name}\",{category},${}.99",
                    price.abs() / 100
                )),
                _ => None,
            };
            if let Some(line) = line {
                sink.raw_line(line.as_bytes())?;
                manifest.data_rows += 1;
            }
        }
        if id % PROGRESS_EVERY == 0 {
            progress(PROGRESS_EVERY);
        }
    }
    progress(count % PROGRESS_EVERY);
    Ok(())
}

/// Generates `transactions`.
pub fn transactions<S: Sink>(
    world: &World,
    count: u64,
    rate: f64,
    sink: &mut S,
    manifest: &mut TableManifest,
    progress: Progress<'_>,
) -> Result<()> {
    const DEFECTS: &[&str] = &[
        "negative_amount",
        "huge_amount",
        "null_amount",
        "unknown_customer",
        "out_of_range_date",
        "wrong_field_count",
        "unparseable_number",
    ];
    const QUANTITIES: &[(i64, u32)] = &[(1, 70), (2, 20), (3, 10)];
    let csv = sink.supports_malformed();
    let mut rng = Rng::new(world.seed, 3);
    for id in 1..=count {
        let defect = roll(&mut rng, rate, DEFECTS, csv);
        let mut customer = world.skewed_customer(&mut rng);
        let product = 1 + rng.below(world.products) as i64;
        let quantity = *rng.weighted(QUANTITIES);
        let mut amount = Some(world.price_cents(product as u64) * quantity);
        let mut when = world.activity_time(&mut rng, customer);
        let payment = *rng.weighted(words::PAYMENT_METHODS);
        let status = *rng.weighted(words::STATUSES);
        match defect {
            Some("negative_amount") => amount = amount.map(|a| -a),
            // $100k to $5M, in cents.
            Some("huge_amount") => amount = Some(rng.range(10_000_000, 500_000_000)),
            Some("null_amount") => amount = None,
            Some("unknown_customer") => customer = world.unknown_customer(&mut rng),
            Some("out_of_range_date") => {
                let day = if rng.chance(0.5) {
                    rng.range(15_340, 16_070) // 2012..2013
                } else {
                    rng.range(23_742, 24_472) // 2035..2036
                };
                when = day * 86_400 + rng.below(86_400) as i64;
            }
            _ => {}
        }
        sink.int(id as i64);
        sink.int(customer);
        sink.int(product);
        match amount {
            Some(cents) => sink.cents(cents),
            None => sink.null(),
        }
        sink.ts(when);
        sink.str(payment);
        sink.str(status);
        sink.end_row()?;
        manifest.data_rows += 1;
        if let Some(defect) = defect {
            manifest.count(defect);
            let line = match defect {
                "wrong_field_count" => {
                    Some(format!("{id},{customer},{product},{payment},{status}"))
                }
                "unparseable_number" => {
                    let bad = match rng.below(3) {
                        0 => "\"1,234.56\"".to_string(),
                        1 => "12.3.4".to_string(),
                        _ => "USD 45.00".to_string(),
                    };
                    let mut ts = Vec::new();
                    dataflow_core::time::format_timestamp_secs(when, &mut ts);
                    Some(format!(
                        "{id},{customer},{product},{bad},{},{payment},{status}",
                        String::from_utf8_lossy(&ts)
                    ))
                }
                _ => None,
            };
            if let Some(line) = line {
                sink.raw_line(line.as_bytes())?;
                manifest.data_rows += 1;
            }
        }
        if id % PROGRESS_EVERY == 0 {
            progress(PROGRESS_EVERY);
        }
    }
    progress(count % PROGRESS_EVERY);
    Ok(())
}

/// Generates `events`.
pub fn events<S: Sink>(
    world: &World,
    count: u64,
    rate: f64,
    sink: &mut S,
    manifest: &mut TableManifest,
    progress: Progress<'_>,
) -> Result<()> {
    const DEFECTS: &[&str] = &[
        "unknown_customer",
        "out_of_range_timestamp",
        "wrong_field_count",
    ];
    let csv = sink.supports_malformed();
    let mut rng = Rng::new(world.seed, 4);
    for id in 1..=count {
        let defect = roll(&mut rng, rate, DEFECTS, csv);
        let mut customer = world.skewed_customer(&mut rng);
        let event_type = *rng.weighted(words::EVENT_TYPES);
        let mut when = world.activity_time(&mut rng, customer);
        let session = world.session_id(customer, when);
        match defect {
            Some("unknown_customer") => customer = world.unknown_customer(&mut rng),
            Some("out_of_range_timestamp") => when = rng.range(0, 86_400 * 365),
            _ => {}
        }
        sink.int(id as i64);
        sink.int(customer);
        sink.str(event_type);
        sink.ts(when);
        sink.str(&session);
        sink.end_row()?;
        manifest.data_rows += 1;
        if let Some(defect) = defect {
            manifest.count(defect);
            if defect == "wrong_field_count" {
                sink.raw_line(format!("{id},{customer},{event_type}").as_bytes())?;
                manifest.data_rows += 1;
            }
        }
        if id % PROGRESS_EVERY == 0 {
            progress(PROGRESS_EVERY);
        }
    }
    progress(count % PROGRESS_EVERY);
    Ok(())
}
