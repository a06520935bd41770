//! dbt's cross-database macros (`dbt.datediff`, `dbt.type_string`, ...) and the common
//! `dbt_utils` macros, rendered to SQL that DataFusion runs. Both namespaces are one Rust object
//! so `{{ dbt.datediff(...) }}` and `{{ dbt_utils.datediff(...) }}` behave alike.

use std::sync::Arc;

use minijinja::value::{Kwargs, Object, Value};
use minijinja::{Error, ErrorKind, State};

/// The `dbt` / `dbt_utils` namespace object, with the answers introspective macros need.
#[derive(Debug)]
pub struct CrossDbMacros {
    /// Columns and values read from the session so far.
    pub introspection: Arc<crate::introspect::Introspection>,
    /// What this render asked and could not be told yet.
    pub misses: crate::introspect::Misses,
    /// A unit test's macro overrides, by bare macro name: the value the macro returns.
    pub overrides: std::collections::BTreeMap<String, Value>,
}

/// Positional arguments followed by optional keyword arguments, looked up either way.
pub(crate) struct Args {
    positional: Vec<Value>,
    kwargs: Option<Kwargs>,
}

impl Args {
    pub(crate) fn new(args: &[Value]) -> Args {
        match args.split_last() {
            Some((last, rest)) if last.is_kwargs() => Args {
                positional: rest.to_vec(),
                kwargs: Kwargs::try_from(last.clone()).ok(),
            },
            _ => Args {
                positional: args.to_vec(),
                kwargs: None,
            },
        }
    }

    pub(crate) fn get(&self, index: usize, name: &str) -> Option<Value> {
        if let Some(value) = self.positional.get(index) {
            return Some(value.clone());
        }
        self.kwargs
            .as_ref()
            .and_then(|k| k.get::<Option<Value>>(name).ok().flatten())
    }

    /// An optional argument as text; `none` counts as absent.
    pub(crate) fn optional_text(&self, index: usize, name: &str) -> Option<String> {
        self.get(index, name)
            .filter(|v| !v.is_none() && !v.is_undefined())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    }

    /// An optional boolean argument.
    pub(crate) fn flag(&self, index: usize, name: &str, default: bool) -> bool {
        self.get(index, name)
            .filter(|v| !v.is_none() && !v.is_undefined())
            .map_or(default, |v| v.is_true())
    }

    /// An optional list argument; absent or `none` is empty, one string is a list of one.
    pub(crate) fn list_or_empty(
        &self,
        index: usize,
        name: &str,
        method: &str,
    ) -> Result<Vec<String>, Error> {
        match self.get(index, name) {
            None => Ok(Vec::new()),
            Some(v) if v.is_none() || v.is_undefined() => Ok(Vec::new()),
            Some(v) if v.as_str().is_some() => Ok(vec![v.as_str().unwrap_or_default().to_string()]),
            Some(_) => self.list(index, name, method),
        }
    }

    pub(crate) fn text(&self, index: usize, name: &str, method: &str) -> Result<String, Error> {
        self.get(index, name)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::MissingArgument,
                    format!("{method}() needs `{name}`"),
                )
            })
    }

    pub(crate) fn list(
        &self,
        index: usize,
        name: &str,
        method: &str,
    ) -> Result<Vec<String>, Error> {
        let value = self.get(index, name).ok_or_else(|| {
            Error::new(
                ErrorKind::MissingArgument,
                format!("{method}() needs `{name}`"),
            )
        })?;
        let items = value.try_iter().map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{method}(): `{name}` must be a list"),
            )
        })?;
        Ok(items
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect())
    }
}

/// Days between two dates or timestamps as DataFusion SQL.
fn day_number(expr: &str) -> String {
    format!("cast(cast({expr} as date) as bigint)")
}

/// `datediff(first, second, part)`: whole `part`s from `first` to `second`, like dbt.
pub fn datediff(first: &str, second: &str, part: &str) -> Result<String, Error> {
    let part = part
        .trim_matches(|c| c == '\'' || c == '"')
        .to_ascii_lowercase();
    let years = format!("(date_part('year', {second}) - date_part('year', {first}))");
    let months =
        format!("({years} * 12 + date_part('month', {second}) - date_part('month', {first}))");
    let days = format!("({} - {})", day_number(second), day_number(first));
    // Boundaries crossed, as dbt's postgres implementation counts them (10:59 to 11:00 is one
    // hour), not elapsed time truncated.
    let hours = format!("({days} * 24 + date_part('hour', {second}) - date_part('hour', {first}))");
    let minutes =
        format!("({hours} * 60 + date_part('minute', {second}) - date_part('minute', {first}))");
    let seconds = format!(
        "({minutes} * 60 + floor(date_part('second', {second})) - floor(date_part('second', {first})))"
    );
    // Weeks start on Sunday; a partial week counts when the weekday wraps, as in dbt-postgres.
    let week = format!(
        "({days} / 7 + case when date_part('dow', {first}) <= date_part('dow', {second}) \
         then case when {first} <= {second} then 0 else -1 end \
         else case when {first} <= {second} then 1 else 0 end end)"
    );
    Ok(match part.as_str() {
        "day" => days,
        "week" => format!("cast({week} as bigint)"),
        "month" => format!("cast({months} as bigint)"),
        "quarter" => format!(
            "cast(({years} * 4 + date_part('quarter', {second}) - date_part('quarter', {first})) as bigint)"
        ),
        "year" => format!("cast({years} as bigint)"),
        "hour" => format!("cast({hours} as bigint)"),
        "minute" => format!("cast({minutes} as bigint)"),
        "second" => format!("cast({seconds} as bigint)"),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("datediff: unsupported date part `{other}`"),
            ));
        }
    })
}

fn sql_type(name: &str) -> Value {
    Value::from(name)
}

impl Object for CrossDbMacros {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.render_macro(method, args)
    }
}

impl CrossDbMacros {
    /// Whether `method` is one of the macros.
    pub fn has(&self, method: &str) -> bool {
        !matches!(
            self.render_macro(method, &[]),
            Err(e) if e.kind() == ErrorKind::UnknownMethod
        )
    }

    /// Renders macro `method` with `args`.
    pub fn render_macro(&self, method: &str, args: &[Value]) -> Result<Value, Error> {
        if let Some(value) = self.overrides.get(method) {
            return Ok(value.clone());
        }
        let a = Args::new(args);
        let sql = match method {
            "generate_surrogate_key" | "surrogate_key" => {
                let fields = a.list(0, "field_list", method)?;
                let parts: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        format!("coalesce(cast({f} as varchar), '_dbt_utils_surrogate_key_null_')")
                    })
                    .collect();
                format!("md5(cast({} as varchar))", parts.join(" || '-' || "))
            }
            "datediff" => datediff(
                &a.text(0, "first_date", method)?,
                &a.text(1, "second_date", method)?,
                &a.text(2, "datepart", method)?,
            )?,
            "dateadd" => {
                let part = a
                    .text(0, "datepart", method)?
                    .trim_matches('\'')
                    .to_string();
                let interval = a.text(1, "interval", method)?;
                let from = a.text(2, "from_date_or_timestamp", method)?;
                format!("({from} + cast(({interval}) || ' {part}' as interval))")
            }
            "date_trunc" => {
                let part = a
                    .text(0, "datepart", method)?
                    .trim_matches('\'')
                    .to_string();
                format!("date_trunc('{part}', {})", a.text(1, "date", method)?)
            }
            "last_day" => {
                let date = a.text(0, "date", method)?;
                let part = a
                    .text(1, "datepart", method)?
                    .trim_matches('\'')
                    .to_string();
                format!(
                    "cast(date_trunc('{part}', {date}) + interval '1 {part}' - interval '1 day' as date)"
                )
            }
            "concat" => format!("concat({})", a.list(0, "fields", method)?.join(", ")),
            "hash" => format!("md5(cast({} as varchar))", a.text(0, "field", method)?),
            "safe_cast" => format!(
                "try_cast({} as {})",
                a.text(0, "field", method)?,
                a.text(1, "type", method)?
            ),
            "cast" => format!(
                "cast({} as {})",
                a.text(0, "field", method)?,
                a.text(1, "type", method)?
            ),
            "split_part" => format!(
                "split_part({}, {}, {})",
                a.text(0, "string_text", method)?,
                a.text(1, "delimiter_text", method)?,
                a.text(2, "part_number", method)?
            ),
            "listagg" => {
                let measure = a.text(0, "measure", method)?;
                let delimiter = a.get(1, "delimiter_text").map_or("','".to_string(), |d| {
                    let d = d.as_str().map_or_else(|| d.to_string(), str::to_string);
                    if d.starts_with('\'') {
                        d
                    } else {
                        format!("'{}'", d.replace('\'', "''"))
                    }
                });
                let order = a
                    .get(2, "order_by_clause")
                    .filter(|v| !v.is_none() && !v.is_undefined())
                    .map(|v| format!(" {}", v.as_str().unwrap_or_default()))
                    .unwrap_or_default();
                format!("string_agg({measure}, {delimiter}{order})")
            }
            "any_value" => format!("first_value({})", a.text(0, "expression", method)?),
            "bool_or" => format!("bool_or({})", a.text(0, "expression", method)?),
            "safe_divide" => format!(
                "({} / nullif({}, 0))",
                a.text(0, "numerator", method)?,
                a.text(1, "denominator", method)?
            ),
            "current_timestamp" | "current_timestamp_backcompat" => "current_timestamp".to_string(),
            "type_string" => return Ok(sql_type("varchar")),
            "type_int" => return Ok(sql_type("int")),
            "type_bigint" => return Ok(sql_type("bigint")),
            "type_float" => return Ok(sql_type("double")),
            "type_numeric" => return Ok(sql_type("decimal(28,6)")),
            "type_boolean" => return Ok(sql_type("boolean")),
            "type_timestamp" => return Ok(sql_type("timestamp")),
            other => {
                if let Some(result) =
                    crate::relation_macros::call(other, &a, &self.introspection, &self.misses)
                {
                    return result;
                }
                if let Some(result) =
                    crate::utils_macros::call(other, &a, &self.introspection, &self.misses)
                {
                    return result;
                }
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("dbt/dbt_utils macro `{other}` is not available"),
                ));
            }
        };
        Ok(Value::from_safe_string(sql))
    }
}
