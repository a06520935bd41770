//! GE's `partial_unexpected_counts`, built and ordered the way pandas and Python do it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::sql;

/// Values GE lists.
const PARTIAL: usize = 20;

/// GE's `partial_unexpected_counts`: pandas' `value_counts().head(20)` (count descending, ties
/// in order of first appearance), then sorted by count and value. GE leaves the field out when
/// nulls are mixed with other values (it cannot sort them); float nulls are NaN, and NaN never
/// equals NaN, so each counts on its own.
pub(crate) fn value_counts(
    values: &[Value],
    nan_distinct: bool,
    none_positions: &[bool],
) -> Option<Value> {
    let nulls = values.iter().filter(|v| v.is_null()).count();
    if nulls > 0 && nulls < values.len() {
        return None;
    }
    let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut counts: Vec<(Value, usize)> = Vec::new();
    for value in values {
        let key = value.to_string();
        match first_seen.get(&key) {
            Some(&at) if !(nan_distinct && value.is_null()) => counts[at].1 += 1,
            _ => {
                first_seen.insert(key, counts.len());
                counts.push((value.clone(), 1));
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts.truncate(PARTIAL);
    if ties_compare_none(&counts, none_positions) {
        return None;
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| sql::compare(&a.0, &b.0)));
    Some(Value::from(
        counts
            .into_iter()
            .take(PARTIAL)
            .map(|(value, count)| json!({"value": value, "count": count}))
            .collect::<Vec<_>>(),
    ))
}

/// Whether sorting counted row values would compare a Python `None` with a value: rows (lists)
/// with equal counts are ordered by value, and a null from a non-float column is `None`, which
/// Python cannot order, so GE drops the field (a float null is NaN and compares quietly).
fn ties_compare_none(counts: &[(Value, usize)], none_positions: &[bool]) -> bool {
    let has_none = |value: &Value| {
        value.as_array().is_some_and(|items| {
            items
                .iter()
                .enumerate()
                .any(|(i, v)| v.is_null() && none_positions.get(i).copied().unwrap_or(false))
        })
    };
    counts.iter().enumerate().any(|(i, (value, n))| {
        has_none(value)
            && counts
                .iter()
                .enumerate()
                .any(|(j, (_, m))| i != j && m == n)
    })
}
