//! The `dbt_utils` macros that generate SQL from a relation's columns or a column's values
//! (`star`, `get_filtered_columns_in_relation`, `get_column_values`, `union_relations`,
//! `unpivot`) and the pure-SQL ones that shape rows (`pivot`, `deduplicate`, `date_spine`).

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

use crate::introspect::{Column, Introspection, Misses};
use crate::macros::Args;

/// Quotes an identifier as DataFusion (and dbt's `adapter.quote`) does.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A relation argument as the SQL text `ref()` / `source()` returned.
fn relation(a: &Args, index: usize, name: &str, method: &str) -> Result<String, Error> {
    a.text(index, name, method)
}

fn lowercase(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|s| s.to_lowercase()).collect()
}

/// Columns of `relation` without `except` (case-insensitive), or `None` until known.
fn filtered(
    introspection: &Introspection,
    misses: &Misses,
    relation: &str,
    except: &[String],
) -> Option<Vec<Column>> {
    let except = lowercase(except.to_vec());
    introspection.columns(relation, misses).map(|columns| {
        columns
            .into_iter()
            .filter(|(name, _)| !except.contains(&name.to_lowercase()))
            .collect()
    })
}

/// Renders a relation macro, or `None` when `method` is not one.
pub fn call(
    method: &str,
    a: &Args,
    introspection: &Introspection,
    misses: &Misses,
) -> Option<Result<Value, Error>> {
    let result = match method {
        "star" => star(a, introspection, misses),
        "get_filtered_columns_in_relation" => (|| {
            let from = relation(a, 0, "from", method)?;
            let except = a.list_or_empty(1, "except", method)?;
            let names: Vec<Value> = filtered(introspection, misses, &from, &except)
                .unwrap_or_default()
                .into_iter()
                .map(|(name, _)| Value::from(name))
                .collect();
            Ok(Value::from(names))
        })(),
        "get_column_values" => get_column_values(a, introspection, misses),
        "union_relations" => union_relations(a, introspection, misses),
        "unpivot" => unpivot(a, introspection, misses),
        "pivot" => pivot(a),
        "deduplicate" => (|| {
            let from = relation(a, 0, "relation", method)?;
            let partition = a.text(1, "partition_by", method)?;
            let order = a.text(2, "order_by", method)?;
            Ok(format!(
                "select * exclude (__dbt_row_number) from (select *, row_number() over \
                 (partition by {partition} order by {order}) as __dbt_row_number from {from}) \
                 as __dbt_deduplicated where __dbt_row_number = 1"
            ))
            .map(Value::from_safe_string)
        })(),
        "date_spine" => date_spine(a),
        "get_single_value" => (|| {
            let sql = a.text(0, "sql_statement", method)?;
            let default = a
                .get(1, "default")
                .filter(|v| !v.is_none() && !v.is_undefined());
            Ok(match introspection.values(&sql, misses) {
                Some(values) => match values.into_iter().next().flatten() {
                    Some(value) => Value::from(value),
                    None => default.unwrap_or_else(|| Value::from(())),
                },
                None => default.unwrap_or_else(|| Value::from(())),
            })
        })(),
        _ => return pure_sql(method, a),
    };
    Some(result)
}

/// The `dbt_utils` macros that are plain SQL templates.
fn pure_sql(method: &str, a: &Args) -> Option<Result<Value, Error>> {
    let sql = |text: String| Ok(Value::from_safe_string(text));
    let result = match method {
        "string_literal" => a.text(0, "value", method).map(|v| literal(&v)).and_then(sql),
        "safe_add" | "safe_subtract" => a.list(0, "field_list", method).and_then(|fields| {
            let op = if method == "safe_add" { " + " } else { " - " };
            let terms: Vec<String> = fields.iter().map(|f| format!("coalesce({f}, 0)")).collect();
            sql(format!("({})", terms.join(op)))
        }),
        "generate_series" => a.text(0, "upper_bound", method).and_then(|n| {
            sql(format!(
                "select unnest(generate_series(1, {n})) as generated_number"
            ))
        }),
        "haversine_distance" => (|| {
            let (lat1, lon1) = (a.text(0, "lat1", method)?, a.text(1, "lon1", method)?);
            let (lat2, lon2) = (a.text(2, "lat2", method)?, a.text(3, "lon2", method)?);
            // dbt_utils: miles on a 3961-mile radius; km multiplies by 1.60934.
            let factor = match a.optional_text(4, "unit").as_deref() {
                None | Some("mi") => "",
                Some("km") => " * 1.60934",
                Some(other) => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("haversine_distance(): unit must be mi or km, got `{other}`"),
                    ));
                }
            };
            sql(format!(
                "(2 * 3961 * asin(sqrt(power(sin(radians(({lat2} - {lat1}) / 2)), 2) + \
                 cos(radians({lat1})) * cos(radians({lat2})) * \
                 power(sin(radians(({lon2} - {lon1}) / 2)), 2))){factor})"
            ))
        })(),
        "get_url_host" => a.text(0, "field", method).and_then(|f| {
            sql(format!(
                "split_part(split_part(regexp_replace({f}, '^(android-app|https?)://', ''), '/', 1), '?', 1)"
            ))
        }),
        "get_url_path" => a.text(0, "field", method).and_then(|f| {
            sql(format!(
                "split_part(regexp_replace(regexp_replace({f}, '^(android-app|https?)://', ''), '^[^/]*/?', ''), '?', 1)"
            ))
        }),
        "get_url_parameter" => (|| {
            let field = a.text(0, "field", method)?;
            let parameter = a.text(1, "url_parameter", method)?;
            let marker = literal(&format!("{}=", parameter.trim_matches('\'')));
            sql(format!(
                "nullif(split_part(split_part({field}, {marker}, 2), '&', 1), '')"
            ))
        })(),
        "width_bucket" => (|| {
            let expr = a.text(0, "expr", method)?;
            let (min, max) = (a.text(1, "min_value", method)?, a.text(2, "max_value", method)?);
            let n = a.text(3, "num_buckets", method)?;
            sql(format!(
                "(case when {expr} < {min} then 0 when {expr} >= {max} then {n} + 1 \
                 else cast(floor(({expr} - {min}) * {n} / ({max} - {min})) as bigint) + 1 end)"
            ))
        })(),
        // slugify(none) is '' in dbt_utils.
        "slugify" => Ok(Value::from(slugify(
            &a.optional_text(0, "string").unwrap_or_default(),
        ))),
        _ => return None,
    };
    Some(result)
}

fn star(a: &Args, introspection: &Introspection, misses: &Misses) -> Result<Value, Error> {
    let from = relation(a, 0, "from", "star")?;
    let alias = a.optional_text(1, "relation_alias");
    let except = a.list_or_empty(2, "except", "star")?;
    let prefix = a.optional_text(3, "prefix").unwrap_or_default();
    let suffix = a.optional_text(4, "suffix").unwrap_or_default();
    let quoted = a.flag(5, "quote_identifiers", true);
    let Some(columns) = filtered(introspection, misses, &from, &except) else {
        // Parse time, as dbt: a placeholder until the relation can be read.
        return Ok(Value::from_safe_string("*".to_string()));
    };
    if columns.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("star(): relation `{from}` has no columns left after `except`"),
        ));
    }
    let name = |text: &str| {
        if quoted {
            quote(text)
        } else {
            text.to_string()
        }
    };
    let items: Vec<String> = columns
        .iter()
        .map(|(column, _)| {
            let qualified = match &alias {
                Some(alias) => format!("{alias}.{}", name(column)),
                None => name(column),
            };
            if prefix.is_empty() && suffix.is_empty() {
                qualified
            } else {
                format!(
                    "{qualified} as {}",
                    name(&format!("{prefix}{column}{suffix}"))
                )
            }
        })
        .collect();
    Ok(Value::from_safe_string(items.join(",\n  ")))
}

fn get_column_values(
    a: &Args,
    introspection: &Introspection,
    misses: &Misses,
) -> Result<Value, Error> {
    let method = "get_column_values";
    let table = relation(a, 0, "table", method)?;
    let column = a.text(1, "column", method)?;
    let order_by = a
        .optional_text(2, "order_by")
        .unwrap_or_else(|| "count(*) desc".to_string());
    let max_records = a.optional_text(3, "max_records");
    let default = a
        .get(4, "default")
        .filter(|v| !v.is_none() && !v.is_undefined());
    let filter = a.optional_text(5, "where");
    let sql = format!(
        "select {column} as value from {table}{} group by {column} order by {order_by}{}",
        filter.map(|w| format!(" where {w}")).unwrap_or_default(),
        max_records
            .map(|n| format!(" limit {n}"))
            .unwrap_or_default()
    );
    match introspection.values(&sql, misses) {
        Some(values) => Ok(Value::from(
            values
                .into_iter()
                .map(|v| v.map_or(Value::from(()), Value::from))
                .collect::<Vec<_>>(),
        )),
        None => Ok(default.unwrap_or_else(|| Value::from(Vec::<Value>::new()))),
    }
}

fn union_relations(
    a: &Args,
    introspection: &Introspection,
    misses: &Misses,
) -> Result<Value, Error> {
    let method = "union_relations";
    let relations = a.list(0, "relations", method)?;
    let include = lowercase(a.list_or_empty(2, "include", method)?);
    let exclude = lowercase(a.list_or_empty(3, "exclude", method)?);
    // source_column_name=none leaves the column out; absent, it is _dbt_source_relation.
    let source_column = match a.get(4, "source_column_name") {
        None => Some("_dbt_source_relation".to_string()),
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(_) => a.optional_text(4, "source_column_name"),
    };
    let filter = a.optional_text(5, "where");
    let mut known = Vec::new();
    for relation in &relations {
        known.push(introspection.columns(relation, misses));
    }
    if known.iter().any(Option::is_none) {
        let parts: Vec<String> = relations
            .iter()
            .map(|r| format!("select * from {r}"))
            .collect();
        return Ok(Value::from_safe_string(parts.join("\nunion all\n")));
    }
    // Every column of every relation, in order of first appearance, typed by its first.
    let mut columns: Vec<Column> = Vec::new();
    for (name, data_type) in known.iter().flatten().flatten() {
        let lower = name.to_lowercase();
        let wanted = (include.is_empty() || include.contains(&lower)) && !exclude.contains(&lower);
        if wanted && !columns.iter().any(|(n, _)| n.to_lowercase() == lower) {
            columns.push((name.clone(), data_type.clone()));
        }
    }
    let parts: Vec<String> = relations
        .iter()
        .zip(known.iter().flatten())
        .map(|(relation, own)| {
            let mut items: Vec<String> = source_column
                .iter()
                .map(|name| format!("cast({} as varchar) as {name}", literal(relation)))
                .collect();
            for (name, data_type) in &columns {
                let present = own.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
                let value = present.map_or("null".to_string(), |(n, _)| quote(n));
                items.push(format!("cast({value} as {data_type}) as {}", quote(name)));
            }
            format!(
                "select\n  {}\nfrom {relation}{}",
                items.join(",\n  "),
                filter
                    .as_ref()
                    .map(|w| format!("\nwhere {w}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    Ok(Value::from_safe_string(parts.join("\nunion all\n")))
}

fn unpivot(a: &Args, introspection: &Introspection, misses: &Misses) -> Result<Value, Error> {
    let method = "unpivot";
    let from = relation(a, 0, "relation", method)?;
    let cast_to = a
        .optional_text(1, "cast_to")
        .unwrap_or_else(|| "varchar".to_string());
    let exclude = a.list_or_empty(2, "exclude", method)?;
    let remove = lowercase(a.list_or_empty(3, "remove", method)?);
    let field_name = a
        .optional_text(4, "field_name")
        .unwrap_or_else(|| "field_name".to_string());
    let value_name = a
        .optional_text(5, "value_name")
        .unwrap_or_else(|| "value".to_string());
    let Some(columns) = introspection.columns(&from, misses) else {
        return Ok(Value::from_safe_string(format!("select * from {from}")));
    };
    let excluded = lowercase(exclude.clone());
    let kept: Vec<String> = exclude.iter().map(|c| quote(c)).collect();
    let parts: Vec<String> = columns
        .iter()
        .filter(|(n, _)| {
            let lower = n.to_lowercase();
            !excluded.contains(&lower) && !remove.contains(&lower)
        })
        .map(|(column, _)| {
            let mut items = kept.clone();
            items.push(format!(
                "cast({} as varchar) as {field_name}",
                literal(column)
            ));
            items.push(format!(
                "cast({} as {cast_to}) as {value_name}",
                quote(column)
            ));
            format!("select\n  {}\nfrom {from}", items.join(",\n  "))
        })
        .collect();
    if parts.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("unpivot(): relation `{from}` has no columns left to unpivot"),
        ));
    }
    Ok(Value::from_safe_string(parts.join("\nunion all\n")))
}

fn pivot(a: &Args) -> Result<Value, Error> {
    let method = "pivot";
    let column = a.text(0, "column", method)?;
    let values = a.list(1, "values", method)?;
    let alias = a.flag(2, "alias", true);
    let agg = a
        .optional_text(3, "agg")
        .unwrap_or_else(|| "sum".to_string());
    let cmp = a.optional_text(4, "cmp").unwrap_or_else(|| "=".to_string());
    let prefix = a.optional_text(5, "prefix").unwrap_or_default();
    let suffix = a.optional_text(6, "suffix").unwrap_or_default();
    let then_value = a
        .optional_text(7, "then_value")
        .unwrap_or_else(|| "1".to_string());
    let else_value = a
        .optional_text(8, "else_value")
        .unwrap_or_else(|| "0".to_string());
    let quoted = a.flag(9, "quote_identifiers", true);
    let distinct = if a.flag(10, "distinct", false) {
        "distinct "
    } else {
        ""
    };
    let items: Vec<String> = values
        .iter()
        .map(|value| {
            let mut item = format!(
                "{agg}({distinct}case when {column} {cmp} {} then {then_value} else {else_value} end)",
                literal(value)
            );
            if alias {
                let name = format!("{prefix}{value}{suffix}");
                let name = if quoted { quote(&name) } else { slugify(&name) };
                item.push_str(&format!(" as {name}"));
            }
            item
        })
        .collect();
    Ok(Value::from_safe_string(items.join(",\n  ")))
}

/// dbt_utils.slugify: lower case, runs of spaces and dashes to `_`, other characters dropped,
/// a leading digit prefixed with `_`.
fn slugify(text: &str) -> String {
    let mut out = String::new();
    let mut in_gap = false;
    for c in text.to_lowercase().chars() {
        if c == ' ' || c == '-' {
            if !in_gap {
                out.push('_');
            }
            in_gap = true;
            continue;
        }
        in_gap = false;
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn date_spine(a: &Args) -> Result<Value, Error> {
    let method = "date_spine";
    let part = a
        .text(0, "datepart", method)?
        .trim_matches(|c| c == '\'' || c == '"')
        .to_lowercase();
    let start = a.text(1, "start_date", method)?;
    let end = a.text(2, "end_date", method)?;
    let step = match part.as_str() {
        "quarter" => "3 months".to_string(),
        "day" | "week" | "month" | "year" | "hour" | "minute" | "second" => format!("1 {part}"),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("date_spine(): unsupported date part `{other}`"),
            ));
        }
    };
    // Like dbt_utils: starts at start_date, stops before end_date.
    Ok(Value::from_safe_string(format!(
        "select date_{part} from (select unnest(generate_series(cast({start} as timestamp), \
         cast({end} as timestamp), interval '{step}')) as date_{part}) as __dbt_spine \
         where date_{part} < cast({end} as timestamp)"
    )))
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugify_like_dbt_utils() {
        assert_eq!(slugify("Credit Card"), "credit_card");
        assert_eq!(slugify("2024 sales!"), "_2024_sales");
        assert_eq!(slugify("a - b"), "a_b");
    }
}
