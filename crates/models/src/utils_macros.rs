//! The remaining commonly used `dbt_utils` macros: listing relations by pattern or prefix,
//! a query's results as a dict, `nullcheck` / `nullcheck_table`, `group_by`, and the logging
//! helpers `pretty_time`, `pretty_log_format` and `log_info`. The ones that read the warehouse
//! are answered from the session like `star` (see [`crate::introspect`]).

use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

use crate::introspect::{Introspection, Misses};
use crate::macros::Args;
use crate::relation_macros::quote;

/// A relation returned by `get_relations_by_pattern` / `_prefix`: renders as its name, with
/// dbt's `identifier`, `name`, `schema` and `database` attributes.
#[derive(Debug)]
struct Relation {
    name: String,
}

impl Object for Relation {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "identifier" | "name" | "table" => Some(Value::from(self.name.clone())),
            "schema" => Some(Value::from("lake")),
            "database" => Some(Value::from("dataflow")),
            "type" => Some(Value::from("table")),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "render" => Ok(Value::from(self.name.clone())),
            other => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("a relation has no method `{other}`"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// `get_query_results_as_dict` before its query has run (dbt's parse time): every column is
/// an empty list, so templates that index it render (and are rendered again once answered).
#[derive(Debug)]
struct PendingResults;

impl Object for PendingResults {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from(Vec::<Value>::new()))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Empty
    }
}

/// SQL `ILIKE`: `%` any run, `_` one character, `\` escapes; case-insensitive.
fn ilike(pattern: &str, text: &str) -> bool {
    fn matches(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| matches(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && matches(rest, &t[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                t.first() == rest.first() && matches(&rest[1..], &t[1..])
            }
            Some((c, rest)) => t.first() == Some(c) && matches(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    matches(&p, &t)
}

/// Relations whose name is like `table_pattern` and not like `exclude`. The lake has one
/// namespace, so the schema pattern is not applied (as `ref` and `source` ignore schemas).
fn relations_like(
    introspection: &Introspection,
    misses: &Misses,
    table_pattern: &str,
    exclude: &str,
) -> Value {
    let names = introspection.relations(misses).unwrap_or_default();
    Value::from(
        names
            .into_iter()
            .filter(|n| ilike(table_pattern, n) && (exclude.is_empty() || !ilike(exclude, n)))
            .map(|name| Value::from_object(Relation { name }))
            .collect::<Vec<_>>(),
    )
}

/// A column given to `nullcheck`: a column object or mapping (name and type), or a name.
fn column_of(value: &Value) -> (String, Option<String>) {
    let attribute = |key: &str| {
        value
            .get_attr(key)
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    match value.as_str() {
        Some(name) => (name.to_string(), None),
        None => (
            attribute("name")
                .or_else(|| attribute("column"))
                .unwrap_or_else(|| value.to_string()),
            attribute("data_type").or_else(|| attribute("dtype")),
        ),
    }
}

fn is_string_type(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    ["char", "text", "string", "utf8"]
        .iter()
        .any(|s| t.contains(s))
}

/// `nullif(col, '')` for text columns, the column itself otherwise, as dbt_utils.nullcheck.
fn nullcheck(columns: &[(String, Option<String>)]) -> String {
    columns
        .iter()
        .map(|(name, data_type)| {
            let quoted = quote(name);
            match data_type {
                Some(t) if is_string_type(t) => format!("nullif({quoted}, '') as {quoted}"),
                _ => quoted,
            }
        })
        .collect::<Vec<_>>()
        .join(",\n  ")
}

/// The current UTC time formatted with strftime's common directives.
pub fn strftime(format: &str, unix_micros: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let secs = unix_micros.div_euclid(1_000_000);
    let micros = unix_micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = dataflow_core::time::civil_from_days(days as i32);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let weekday = days.rem_euclid(7) as usize;
    let year_day = days - i64::from(dataflow_core::time::days_from_civil(year, 1, 1)) + 1;
    let month_name = MONTHS[(month as usize).saturating_sub(1) % 12];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('H') => out.push_str(&format!("{hour:02}")),
            Some('I') => out.push_str(&format!("{:02}", (hour + 11) % 12 + 1)),
            Some('p') => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            Some('M') => out.push_str(&format!("{minute:02}")),
            Some('S') => out.push_str(&format!("{second:02}")),
            Some('f') => out.push_str(&format!("{micros:06}")),
            Some('j') => out.push_str(&format!("{year_day:03}")),
            Some('B') => out.push_str(month_name),
            Some('b') => out.push_str(&month_name[..3]),
            Some('A') => out.push_str(DAYS[weekday]),
            Some('a') => out.push_str(&DAYS[weekday][..3]),
            Some('Z') => out.push_str("UTC"),
            Some('z') => out.push_str("+0000"),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn pretty_time(a: &Args) -> String {
    let format = a
        .optional_text(0, "format")
        .unwrap_or_else(|| "%H:%M:%S".to_string());
    strftime(&format, now_micros())
}

fn pretty_log_format(a: &Args, method: &str) -> Result<String, Error> {
    let message = a.text(0, "message", method)?;
    Ok(format!(
        "{} + {message}",
        strftime("%H:%M:%S", now_micros())
    ))
}

/// Renders one of these macros, or `None` when `method` is not one.
pub fn call(
    method: &str,
    a: &Args,
    introspection: &Introspection,
    misses: &Misses,
) -> Option<Result<Value, Error>> {
    let result = match method {
        "get_relations_by_pattern" => (|| {
            a.text(0, "schema_pattern", method)?;
            let table = a.text(1, "table_pattern", method)?;
            let exclude = a.optional_text(2, "exclude").unwrap_or_default();
            Ok(relations_like(introspection, misses, &table, &exclude))
        })(),
        "get_relations_by_prefix" => (|| {
            a.text(0, "schema", method)?;
            let prefix = a.text(1, "prefix", method)?;
            let exclude = a.optional_text(2, "exclude").unwrap_or_default();
            Ok(relations_like(
                introspection,
                misses,
                &format!("{prefix}%"),
                &exclude,
            ))
        })(),
        "get_query_results_as_dict" => (|| {
            let sql = a.text(0, "query", method)?;
            // Parse time, as dbt (execute is false): no results until the query can run.
            let Some(columns) = introspection.table(&sql, misses) else {
                return Ok(Value::from_object(PendingResults));
            };
            let dict: std::collections::BTreeMap<String, Value> = columns
                .into_iter()
                .map(|(name, values)| {
                    let values: Vec<Value> = values
                        .into_iter()
                        .map(|v| Value::from(minijinja::value::Serde(v)))
                        .collect();
                    (name, Value::from(values))
                })
                .collect();
            Ok(Value::from(dict))
        })(),
        "group_by" => (|| {
            let n = a.text(0, "n", method)?;
            let n: usize = n.trim().parse().map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("group_by(): `n` must be a count of columns, got `{n}`"),
                )
            })?;
            let positions: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            Ok(Value::from_safe_string(format!(
                "group by {}",
                positions.join(",")
            )))
        })(),
        "nullcheck" => (|| {
            let value = a.get(0, "cols").ok_or_else(|| {
                Error::new(ErrorKind::MissingArgument, "nullcheck() needs `cols`")
            })?;
            let columns: Vec<(String, Option<String>)> = value
                .try_iter()
                .map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "nullcheck(): `cols` must be a list of columns",
                    )
                })?
                .map(|c| column_of(&c))
                .collect();
            Ok(Value::from_safe_string(nullcheck(&columns)))
        })(),
        "nullcheck_table" => (|| {
            let relation = a.text(0, "relation", method)?;
            Ok(Value::from_safe_string(
                match introspection.columns(&relation, misses) {
                    Some(columns) => {
                        let columns: Vec<(String, Option<String>)> =
                            columns.into_iter().map(|(n, t)| (n, Some(t))).collect();
                        format!("select {} from {relation}", nullcheck(&columns))
                    }
                    None => format!("select * from {relation}"),
                },
            ))
        })(),
        "pretty_time" => Ok(Value::from(pretty_time(a))),
        "pretty_log_format" => pretty_log_format(a, method).map(Value::from),
        "log_info" => pretty_log_format(a, method).map(|line| {
            tracing::info!(target: "dbt", "{line}");
            Value::from("")
        }),
        _ => return None,
    };
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ilike_like_sql() {
        assert!(ilike("raw_%", "RAW_orders"));
        assert!(ilike("%orders", "stg_orders"));
        assert!(ilike("stg\\_o_ders", "stg_orders"));
        assert!(!ilike("stg\\_%", "stgxorders"));
        assert!(!ilike("raw_%", "stg_raw_orders"));
        assert!(ilike("%", ""));
    }

    #[test]
    fn strftime_formats_like_python() {
        // 2024-02-29 13:05:09.000042 UTC, a Thursday.
        let micros = 1_709_211_909_000_042;
        assert_eq!(strftime("%H:%M:%S", micros), "13:05:09");
        assert_eq!(
            strftime("%Y-%m-%d %a %b %j %I%p %f %%", micros),
            "2024-02-29 Thu Feb 060 01PM 000042 %"
        );
    }

    #[test]
    fn nullcheck_only_touches_text() {
        let columns = vec![
            ("name".to_string(), Some("varchar".to_string())),
            ("id".to_string(), Some("bigint".to_string())),
            ("note".to_string(), None),
        ];
        assert_eq!(
            nullcheck(&columns),
            "nullif(\"name\", '') as \"name\",\n  \"id\",\n  \"note\""
        );
    }
}
