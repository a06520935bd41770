//! GE's result of a row-by-row expectation (column map, pair or multicolumn): element, missing
//! and unexpected counts, the percentages GE computes (and in its order of operations), the
//! partial and complete lists, `partial_unexpected_counts` and the index lists, each only in
//! the result formats where GE has it, with `mostly` deciding success.

use serde_json::{Map, Value};

use super::{Outcome, PARTIAL, ResultFormat, Validator};
use crate::suite::Expectation;

/// The counts of a row-by-row expectation.
pub(super) struct Tally {
    pub(super) elements: i64,
    /// Rows not tested (nulls, or rows left out by `ignore_row_if`).
    pub(super) missing: i64,
    pub(super) unexpected: i64,
    /// `not_be_null` / `be_null`: nulls are the subject, percentages are of all rows.
    pub(super) about_nulls: bool,
}

/// The unexpected rows found (the first 20, or all for COMPLETE), in table order.
pub(super) struct Found {
    /// As GE prints them.
    pub(super) shown: Vec<Value>,
    /// As GE counts them in `partial_unexpected_counts`.
    pub(super) counted: Vec<Value>,
    pub(super) indexes: Vec<Value>,
    pub(super) has_index: bool,
}

/// A number kwarg (`mostly`).
fn kwarg_f64(e: &Expectation, key: &str) -> Option<f64> {
    e.kwargs.get(key).and_then(Value::as_f64)
}

impl Validator {
    /// GE's result for a row-by-row expectation: counts, percentages and the value lists the
    /// result format asks for, with `mostly` applied.
    pub(super) fn shape_map(
        &self,
        e: &Expectation,
        tally: Tally,
        found: Found,
        nan_distinct: bool,
        none_positions: &[bool],
    ) -> Outcome {
        let base = if tally.about_nulls {
            tally.elements
        } else {
            tally.elements - tally.missing
        };
        let mostly = kwarg_f64(e, "mostly").unwrap_or(1.0);
        let success = base == 0 || (base - tally.unexpected) as f64 / base as f64 >= mostly;
        let percent = |part: i64, whole: i64| {
            if whole == 0 {
                Value::Null
            } else {
                Value::from(part as f64 / whole as f64 * 100.0)
            }
        };
        let nonmissing = percent(tally.unexpected, base);
        let mut result = Map::new();
        result.insert("element_count".into(), Value::from(tally.elements));
        result.insert("unexpected_count".into(), Value::from(tally.unexpected));
        result.insert("unexpected_percent".into(), nonmissing.clone());
        let partial: Vec<Value> = found.shown.iter().take(PARTIAL).cloned().collect();
        result.insert("partial_unexpected_list".into(), Value::from(partial));
        if !tally.about_nulls {
            result.insert("missing_count".into(), Value::from(tally.missing));
            result.insert(
                "missing_percent".into(),
                percent(tally.missing, tally.elements),
            );
            result.insert(
                "unexpected_percent_total".into(),
                percent(tally.unexpected, tally.elements)
                    .as_f64()
                    .map_or(Value::from(0.0), Value::from),
            );
            result.insert("unexpected_percent_nonmissing".into(), nonmissing);
        }
        if self.format >= ResultFormat::Summary {
            // SUMMARY counts the first 20 unexpected values; COMPLETE all of them.
            let counted: Vec<Value> = if self.format == ResultFormat::Complete {
                found.counted.clone()
            } else {
                found.counted.iter().take(PARTIAL).cloned().collect()
            };
            if let Some(counts) =
                crate::counts::value_counts(&counted, nan_distinct, none_positions)
            {
                result.insert("partial_unexpected_counts".into(), counts);
            }
            if found.has_index {
                let partial_indexes: Vec<Value> =
                    found.indexes.iter().take(PARTIAL).cloned().collect();
                result.insert(
                    "partial_unexpected_index_list".into(),
                    Value::from(partial_indexes),
                );
            }
        }
        // (GE leaves the names out of `be_null` results.)
        if !self.index_columns.is_empty()
            && self.format >= ResultFormat::Summary
            && e.expectation_type != "expect_column_values_to_be_null"
        {
            result.insert(
                "unexpected_index_column_names".into(),
                Value::from(self.index_columns.clone()),
            );
        }
        if self.format == ResultFormat::Complete {
            result.insert("unexpected_list".into(), Value::from(found.shown));
            if found.has_index {
                result.insert("unexpected_index_list".into(), Value::from(found.indexes));
            }
        }
        Outcome {
            success,
            result,
            exception: None,
        }
    }
}
