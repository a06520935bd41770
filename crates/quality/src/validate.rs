//! Running a suite against a table of a DataFusion session and shaping the answer like GE's
//! validation result. Column map expectations are one counting query plus one query for the
//! unexpected rows (the first 20, or all for `COMPLETE`), so memory stays bounded by the result.

use std::collections::BTreeMap;

use dataflow_engine::datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use dataflow_engine::datafusion::arrow::datatypes::DataType;
use dataflow_engine::datafusion::prelude::SessionContext;
use serde_json::{Map, Value, json};

use crate::catalog::Family;
use crate::error::{Error, Result};
use crate::sql::{self, ident};
use crate::suite::{Expectation, Suite};

/// GE's `result_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResultFormat {
    /// `success` only.
    BooleanOnly,
    /// Counts and the first 20 unexpected values.
    Basic,
    /// BASIC plus value counts and row indexes.
    Summary,
    /// SUMMARY plus every unexpected value and index.
    Complete,
}

impl ResultFormat {
    /// Parses GE's name.
    pub fn parse(text: &str) -> Option<ResultFormat> {
        match text.to_ascii_uppercase().as_str() {
            "BOOLEAN_ONLY" => Some(ResultFormat::BooleanOnly),
            "BASIC" => Some(ResultFormat::Basic),
            "SUMMARY" => Some(ResultFormat::Summary),
            "COMPLETE" => Some(ResultFormat::Complete),
            _ => None,
        }
    }
}

/// Values GE lists in `partial_unexpected_list`.
const PARTIAL: usize = 20;

/// Validates tables of one session.
#[derive(Clone)]
pub struct Validator {
    ctx: SessionContext,
    format: ResultFormat,
    index_column: Option<String>,
}

/// One expectation's outcome before it is shaped as JSON.
struct Outcome {
    success: bool,
    result: Map<String, Value>,
    exception: Option<String>,
}

impl Outcome {
    fn exception(message: String) -> Outcome {
        Outcome {
            success: false,
            result: Map::new(),
            exception: Some(message),
        }
    }
}

/// What the table looks like.
struct TableInfo {
    name: String,
    columns: Vec<(String, DataType)>,
    rows: i64,
}

fn number(batches: &[RecordBatch], column: usize) -> i64 {
    batches
        .first()
        .filter(|b| b.num_rows() > 0)
        .and_then(|b| {
            dataflow_engine::datafusion::arrow::compute::cast(b.column(column), &DataType::Int64)
                .ok()
        })
        .and_then(|a| {
            a.as_any()
                .downcast_ref::<Int64Array>()
                .filter(|a| a.is_valid(0))
                .map(|a| a.value(0))
        })
        .unwrap_or(0)
}

fn kwarg_f64(e: &Expectation, key: &str) -> Option<f64> {
    e.kwargs.get(key).and_then(Value::as_f64)
}

fn kwarg_bool(e: &Expectation, key: &str) -> bool {
    e.kwargs.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// `min <= value <= max` with GE's optional bounds and strictness.
fn within(e: &Expectation, value: f64) -> bool {
    let above = kwarg_f64(e, "min_value").is_none_or(|min| {
        if kwarg_bool(e, "strict_min") {
            value > min
        } else {
            value >= min
        }
    });
    let below = kwarg_f64(e, "max_value").is_none_or(|max| {
        if kwarg_bool(e, "strict_max") {
            value < max
        } else {
            value <= max
        }
    });
    above && below
}

impl Validator {
    /// A validator over `ctx` producing `format` results. `index_column`, if set, is reported
    /// in `unexpected_index_list` and left out of the table's columns.
    pub fn new(ctx: SessionContext, format: ResultFormat, index_column: Option<String>) -> Self {
        Validator {
            ctx,
            format,
            index_column,
        }
    }

    async fn query(&self, sql: &str) -> std::result::Result<Vec<RecordBatch>, String> {
        self.ctx
            .sql(sql)
            .await
            .map_err(|e| e.to_string())?
            .collect()
            .await
            .map_err(|e| e.to_string())
    }

    async fn table_info(&self, table: &str) -> Result<TableInfo> {
        let failed = |message: String| Error::Table {
            table: table.to_string(),
            message,
        };
        let frame = self
            .ctx
            .table(table)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let columns = frame
            .schema()
            .fields()
            .iter()
            .filter(|f| Some(f.name()) != self.index_column.as_ref())
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let counted = self
            .query(&format!("select count(*) from {table}"))
            .await
            .map_err(failed)?;
        Ok(TableInfo {
            name: table.to_string(),
            columns,
            rows: number(&counted, 0),
        })
    }

    /// Validates `table` against `suite`; the JSON is GE's `ExpectationSuiteValidationResult`.
    pub async fn validate(&self, suite: &Suite, table: &str) -> Result<Value> {
        let info = self.table_info(table).await?;
        let mut results = Vec::with_capacity(suite.expectations.len());
        let mut successful = 0;
        for expectation in &suite.expectations {
            let outcome = self.evaluate(&info, expectation).await;
            if outcome.success {
                successful += 1;
            }
            results.push(self.shape(expectation, outcome));
        }
        let evaluated = suite.expectations.len();
        let percent = if evaluated == 0 {
            100.0
        } else {
            successful as f64 / evaluated as f64 * 100.0
        };
        Ok(json!({
            "success": successful == evaluated,
            "results": results,
            "suite_name": suite.name,
            "suite_parameters": {},
            "statistics": {
                "evaluated_expectations": evaluated,
                "successful_expectations": successful,
                "unsuccessful_expectations": evaluated - successful,
                "success_percent": percent,
            },
            "meta": {"active_batch_definition": {"data_asset_name": table}},
        }))
    }

    fn shape(&self, expectation: &Expectation, outcome: Outcome) -> Value {
        let mut config = json!({
            "type": expectation.expectation_type,
            "kwargs": expectation.kwargs,
            "meta": expectation.meta,
        });
        if let Some(id) = &expectation.id {
            config["id"] = Value::from(id.clone());
        }
        let result = if self.format == ResultFormat::BooleanOnly {
            Map::new()
        } else {
            outcome.result
        };
        json!({
            "success": outcome.success,
            "expectation_config": config,
            "result": result,
            "meta": {},
            "exception_info": {
                "raised_exception": outcome.exception.is_some(),
                "exception_traceback": null,
                "exception_message": outcome.exception,
            },
        })
    }

    async fn evaluate(&self, info: &TableInfo, e: &Expectation) -> Outcome {
        if !e.spec.evaluated {
            return Outcome::exception(format!(
                "`{}` is recognised but not evaluated by this version of dataflow",
                e.expectation_type
            ));
        }
        match e.spec.family {
            Family::Table => table_expectation(info, e),
            Family::ColumnMap => self.column_map(info, e).await,
            Family::ColumnAggregate => self.column_aggregate(info, e).await,
            Family::ColumnPair | Family::Multicolumn => self.multi_column(info, e).await,
            _ => Outcome::exception(format!("`{}` is not evaluated yet", e.expectation_type)),
        }
    }

    /// The SQL condition that marks a row unexpected, and whether nulls are the subject (then
    /// percentages are of all rows, not of non-null rows).
    fn unexpected_condition(
        e: &Expectation,
        column: &str,
        data_type: &DataType,
    ) -> std::result::Result<(String, bool), String> {
        let c = ident(column);
        // Regular expressions see a number's text, as GE's do.
        let text = if sql::is_text(data_type) {
            c.clone()
        } else {
            format!("cast({c} as varchar)")
        };
        let non_null =
            |condition: String| Ok((format!("{c} is not null and not ({condition})"), false));
        let text_list = |key: &str| -> std::result::Result<Vec<String>, String> {
            e.kwargs
                .get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(sql::string)
                        .collect()
                })
                .ok_or_else(|| format!("`{key}` must be a list of strings"))
        };
        match e.expectation_type.as_str() {
            "expect_column_values_to_not_be_null" => Ok((format!("{c} is null"), true)),
            "expect_column_values_to_be_null" => Ok((format!("{c} is not null"), true)),
            "expect_column_values_to_be_in_set" | "expect_column_values_to_not_be_in_set" => {
                let values: Vec<String> = e
                    .kwargs
                    .get("value_set")
                    .and_then(Value::as_array)
                    .ok_or("`value_set` must be a list")?
                    .iter()
                    .filter_map(|v| sql::literal_for(v, data_type))
                    .collect();
                let member = if values.is_empty() {
                    "false".to_string()
                } else {
                    format!("{c} in ({})", values.join(", "))
                };
                if e.expectation_type == "expect_column_values_to_be_in_set" {
                    non_null(member)
                } else {
                    non_null(format!("not ({member})"))
                }
            }
            "expect_column_values_to_be_between" | "expect_column_value_lengths_to_be_between" => {
                let value = if e.expectation_type.contains("lengths") {
                    format!("character_length({c})")
                } else {
                    c.clone()
                };
                let bound = |key: &str| -> std::result::Result<Option<String>, String> {
                    match e.kwargs.get(key) {
                        None => Ok(None),
                        Some(v) => {
                            let target = if e.expectation_type.contains("lengths") {
                                &DataType::Int64
                            } else {
                                data_type
                            };
                            sql::literal_for(v, target).map(Some).ok_or_else(|| {
                                format!("`{key}` {v} cannot be compared with column `{column}` of type {data_type}")
                            })
                        }
                    }
                };
                let (min, max) = (bound("min_value")?, bound("max_value")?);
                if min.is_none() && max.is_none() {
                    return Err("min_value and max_value cannot both be None".into());
                }
                let mut parts = Vec::new();
                if let Some(min) = min {
                    let op = if kwarg_bool(e, "strict_min") {
                        ">"
                    } else {
                        ">="
                    };
                    parts.push(format!("{value} {op} {min}"));
                }
                if let Some(max) = max {
                    let op = if kwarg_bool(e, "strict_max") {
                        "<"
                    } else {
                        "<="
                    };
                    parts.push(format!("{value} {op} {max}"));
                }
                non_null(parts.join(" and "))
            }
            "expect_column_value_lengths_to_equal" => {
                let value = e
                    .kwargs
                    .get("value")
                    .and_then(Value::as_f64)
                    .ok_or("`value` must be a number")?;
                non_null(format!("character_length({c}) = {value}"))
            }
            "expect_column_values_to_match_regex" | "expect_column_values_to_not_match_regex" => {
                let regex = e
                    .kwargs
                    .get("regex")
                    .and_then(Value::as_str)
                    .ok_or("`regex` must be a string")?;
                let matches = format!("regexp_like({text}, {})", sql::string(regex));
                if e.expectation_type.contains("not_match") {
                    non_null(format!("not {matches}"))
                } else {
                    non_null(matches)
                }
            }
            "expect_column_values_to_match_regex_list" => {
                let each: Vec<String> = text_list("regex_list")?
                    .into_iter()
                    .map(|r| format!("regexp_like({text}, {r})"))
                    .collect();
                let all = e.kwargs.get("match_on").and_then(Value::as_str) == Some("all");
                non_null(each.join(if all { " and " } else { " or " }))
            }
            "expect_column_values_to_not_match_regex_list" => {
                let each: Vec<String> = text_list("regex_list")?
                    .into_iter()
                    .map(|r| format!("regexp_like({text}, {r})"))
                    .collect();
                non_null(format!("not ({})", each.join(" or ")))
            }
            other => Err(format!("`{other}` is not a column map expectation")),
        }
    }

    async fn multi_column(&self, info: &TableInfo, e: &Expectation) -> Outcome {
        let check = match crate::multi::row_check(e) {
            Ok(check) => check,
            Err(message) => return Outcome::exception(message),
        };
        if let Some(missing) = check
            .columns
            .iter()
            .find(|c| !info.columns.iter().any(|(n, _)| n == *c))
        {
            return Outcome::exception(format!(
                "Error: The column \"{missing}\" in BatchData does not exist."
            ));
        }
        let (table, ignored) = (&info.name, &check.ignored);
        // Rows left out by ignore_row_if are missing; the rest are tested.
        let source = match &check.window {
            Some(window) => format!("(select *, {window} from {table} where not ({ignored})) as t"),
            None => format!("(select * from {table} where not ({ignored})) as t"),
        };
        let counts = format!(
            "select count(*), coalesce(sum(case when {ignored} then 1 else 0 end), 0) from {table}"
        );
        let tested = format!("select count(*) from {source} where {}", check.unexpected);
        let (counted, unexpected_rows) =
            match (self.query(&counts).await, self.query(&tested).await) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(message), _) | (_, Err(message)) => return Outcome::exception(message),
            };
        let (elements, missing) = (number(&counted, 0), number(&counted, 1));
        let unexpected_count = number(&unexpected_rows, 0);
        let base = elements - missing;
        let columns = check
            .columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let index = self.index_column.as_deref().map(ident);
        let (select, order) = match &index {
            Some(i) => (format!("{columns}, {i}"), format!(" order by {i}")),
            None => (columns, String::new()),
        };
        let limit = if self.format == ResultFormat::Complete {
            String::new()
        } else {
            format!(" limit {PARTIAL}")
        };
        let rows = format!(
            "select {select} from {source} where {}{order}{limit}",
            check.unexpected
        );
        let batches = match self.query(&rows).await {
            Ok(b) => b,
            Err(message) => return Outcome::exception(message),
        };
        let width = check.columns.len();
        let (mut shown, mut counted_values, mut indexes) = (Vec::new(), Vec::new(), Vec::new());
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let values = (0..width)
                    .map(|c| sql::json_value(batch.column(c), row))
                    .collect();
                let (printed, listed) = crate::multi::shape(&check, values);
                shown.push(printed);
                counted_values.push(listed);
                if index.is_some() {
                    indexes.push(sql::json_value(batch.column(width), row));
                }
            }
        }
        let mostly = kwarg_f64(e, "mostly").unwrap_or(1.0);
        let success = base == 0 || (base - unexpected_count) as f64 / base as f64 >= mostly;
        let percent = |part: i64, whole: i64| {
            if whole == 0 {
                Value::Null
            } else {
                Value::from(part as f64 / whole as f64 * 100.0)
            }
        };
        let mut result = Map::new();
        result.insert("element_count".into(), Value::from(elements));
        result.insert("unexpected_count".into(), Value::from(unexpected_count));
        result.insert("unexpected_percent".into(), percent(unexpected_count, base));
        let partial: Vec<Value> = shown.iter().take(PARTIAL).cloned().collect();
        result.insert("partial_unexpected_list".into(), Value::from(partial));
        result.insert("missing_count".into(), Value::from(missing));
        result.insert("missing_percent".into(), percent(missing, elements));
        result.insert(
            "unexpected_percent_total".into(),
            percent(unexpected_count, elements)
                .as_f64()
                .map_or(Value::from(0.0), Value::from),
        );
        result.insert(
            "unexpected_percent_nonmissing".into(),
            percent(unexpected_count, base),
        );
        if self.format >= ResultFormat::Summary {
            let counted: Vec<Value> = if self.format == ResultFormat::Complete {
                counted_values.clone()
            } else {
                counted_values.iter().take(PARTIAL).cloned().collect()
            };
            // Nulls of non-float columns are Python's None when GE sorts the counts.
            let none_positions: Vec<bool> = check
                .columns
                .iter()
                .map(|c| {
                    !info
                        .columns
                        .iter()
                        .any(|(n, t)| n == c && matches!(t, DataType::Float32 | DataType::Float64))
                })
                .collect();
            if let Some(counts) = value_counts(&counted, false, &none_positions) {
                result.insert("partial_unexpected_counts".into(), counts);
            }
            if index.is_some() {
                let partial_indexes: Vec<Value> = indexes.iter().take(PARTIAL).cloned().collect();
                result.insert(
                    "partial_unexpected_index_list".into(),
                    Value::from(partial_indexes),
                );
            }
        }
        if self.format == ResultFormat::Complete {
            result.insert("unexpected_list".into(), Value::from(shown));
            if index.is_some() {
                result.insert("unexpected_index_list".into(), Value::from(indexes));
            }
        }
        Outcome {
            success,
            result,
            exception: None,
        }
    }

    async fn column_aggregate(&self, info: &TableInfo, e: &Expectation) -> Outcome {
        let Some(column) = e.kwargs.get("column").and_then(Value::as_str) else {
            return Outcome::exception("`column` must be a string".into());
        };
        let Some((_, data_type)) = info.columns.iter().find(|(n, _)| n == column) else {
            return Outcome::exception(format!(
                "Error: The column \"{column}\" in BatchData does not exist."
            ));
        };
        // The column in table order (pandas sums in that order).
        let order = self
            .index_column
            .as_deref()
            .map(|i| format!(" order by {}", ident(i)))
            .unwrap_or_default();
        let batches = match self
            .query(&format!(
                "select {} from {}{order}",
                ident(column),
                info.name
            ))
            .await
        {
            Ok(b) => b,
            Err(message) => return Outcome::exception(message),
        };
        let arrays: Vec<_> = batches.iter().map(|b| b.column(0).clone()).collect();
        // Numeric statistics need only the numbers (8 bytes a row); value sets need values.
        let with_values = !matches!(
            e.expectation_type.as_str(),
            "expect_column_mean_to_be_between"
                | "expect_column_median_to_be_between"
                | "expect_column_stdev_to_be_between"
                | "expect_column_sum_to_be_between"
                | "expect_column_quantile_values_to_be_between"
                | "expect_column_min_to_be_between"
                | "expect_column_max_to_be_between"
        );
        let values = match crate::aggregate::Column::from_arrays(&arrays, data_type, with_values) {
            Ok(values) => values,
            Err(message) => return Outcome::exception(message),
        };
        match crate::aggregate::evaluate(e, &values) {
            Ok((success, result)) => Outcome {
                success,
                result,
                exception: None,
            },
            Err(message) => Outcome::exception(message),
        }
    }

    async fn column_map(&self, info: &TableInfo, e: &Expectation) -> Outcome {
        let Some(column) = e.kwargs.get("column").and_then(Value::as_str) else {
            return Outcome::exception("`column` must be a string".into());
        };
        let Some((_, data_type)) = info.columns.iter().find(|(n, _)| n == column) else {
            return Outcome::exception(format!(
                "Error: The column \"{column}\" in BatchData does not exist."
            ));
        };
        let c = ident(column);
        let unique = e.expectation_type == "expect_column_values_to_be_unique";
        // Every row of a duplicated value is unexpected, as in GE: count each value's rows.
        let table = if unique {
            format!(
                "(select *, count({c}) over (partition by {c}) as __dataflow_copies from {}) as t",
                info.name
            )
        } else {
            info.name.clone()
        };
        if e.expectation_type.ends_with("values_to_be_between") && sql::is_text(data_type) {
            return Outcome::exception(
                "Column values, min_value, and max_value must either be None or of the same type."
                    .into(),
            );
        }
        let (unexpected, about_nulls) = if unique {
            (format!("{c} is not null and __dataflow_copies > 1"), false)
        } else {
            match Self::unexpected_condition(e, column, data_type) {
                Ok(condition) => condition,
                Err(message) => return Outcome::exception(message),
            }
        };
        let counts = format!(
            "select count(*), count({c}), coalesce(sum(case when {unexpected} then 1 else 0 end), 0) \
             from {table}"
        );
        let batches = match self.query(&counts).await {
            Ok(b) => b,
            Err(message) => return Outcome::exception(message),
        };
        let (elements, non_null, unexpected_count) = (
            number(&batches, 0),
            number(&batches, 1),
            number(&batches, 2),
        );
        let missing = elements - non_null;
        let base = if about_nulls { elements } else { non_null };
        let mostly = kwarg_f64(e, "mostly").unwrap_or(1.0);
        let success = if base == 0 {
            true
        } else {
            (base - unexpected_count) as f64 / base as f64 >= mostly
        };
        let percent = |part: i64, whole: i64| {
            if whole == 0 {
                Value::Null
            } else {
                Value::from(part as f64 / whole as f64 * 100.0)
            }
        };
        // The unexpected values (and row indexes) in table order.
        let limit = if self.format == ResultFormat::Complete {
            String::new()
        } else {
            format!(" limit {PARTIAL}")
        };
        let index = self.index_column.as_deref().map(ident);
        let order = index
            .as_deref()
            .map(|i| format!(" order by {i}"))
            .unwrap_or_default();
        let select = match &index {
            Some(i) => format!("{c}, {i}"),
            None => c.clone(),
        };
        let rows = format!("select {select} from {table} where {unexpected}{order}{limit}");
        let batches = match self.query(&rows).await {
            Ok(b) => b,
            Err(message) => return Outcome::exception(message),
        };
        let mut values = Vec::new();
        let mut indexes = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                values.push(sql::json_value(batch.column(0), row));
                if index.is_some() {
                    indexes.push(sql::json_value(batch.column(1), row));
                }
            }
        }
        let mut result = Map::new();
        result.insert("element_count".into(), Value::from(elements));
        result.insert("unexpected_count".into(), Value::from(unexpected_count));
        let nonmissing = percent(unexpected_count, base);
        result.insert("unexpected_percent".into(), nonmissing.clone());
        let partial: Vec<Value> = values.iter().take(PARTIAL).cloned().collect();
        result.insert(
            "partial_unexpected_list".into(),
            Value::from(partial.clone()),
        );
        if !about_nulls {
            result.insert("missing_count".into(), Value::from(missing));
            result.insert("missing_percent".into(), percent(missing, elements));
            result.insert(
                "unexpected_percent_total".into(),
                percent(unexpected_count, elements)
                    .as_f64()
                    .map_or(Value::from(0.0), Value::from),
            );
            result.insert("unexpected_percent_nonmissing".into(), nonmissing);
        }
        if self.format >= ResultFormat::Summary {
            let counted = if self.format == ResultFormat::Complete {
                &values
            } else {
                &partial
            };
            let nan_distinct = matches!(data_type, DataType::Float32 | DataType::Float64);
            if let Some(counts) = value_counts(counted, nan_distinct, &[]) {
                result.insert("partial_unexpected_counts".into(), counts);
            }
            if index.is_some() {
                let partial_indexes: Vec<Value> = indexes.iter().take(PARTIAL).cloned().collect();
                result.insert(
                    "partial_unexpected_index_list".into(),
                    Value::from(partial_indexes),
                );
            }
        }
        if self.format == ResultFormat::Complete {
            result.insert("unexpected_list".into(), Value::from(values));
            if index.is_some() {
                result.insert("unexpected_index_list".into(), Value::from(indexes));
            }
        }
        Outcome {
            success,
            result,
            exception: None,
        }
    }
}

/// GE's `partial_unexpected_counts`: pandas' `value_counts().head(20)` (count descending, ties
/// in order of first appearance), then sorted by count and value. GE leaves the field out when
/// nulls are mixed with other values (it cannot sort them); float nulls are NaN, and NaN never
/// equals NaN, so each counts on its own.
fn value_counts(values: &[Value], nan_distinct: bool, none_positions: &[bool]) -> Option<Value> {
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

fn table_expectation(info: &TableInfo, e: &Expectation) -> Outcome {
    let names: Vec<String> = info.columns.iter().map(|(n, _)| n.clone()).collect();
    let strings = |key: &str| -> Vec<String> {
        e.kwargs
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let observed = |value: Value| {
        let mut result = Map::new();
        result.insert("observed_value".into(), value);
        result
    };
    let (success, result) = match e.expectation_type.as_str() {
        "expect_table_row_count_to_be_between" => (
            within(e, info.rows as f64),
            observed(Value::from(info.rows)),
        ),
        "expect_table_row_count_to_equal" => (
            kwarg_f64(e, "value") == Some(info.rows as f64),
            observed(Value::from(info.rows)),
        ),
        "expect_table_column_count_to_equal" => (
            kwarg_f64(e, "value") == Some(names.len() as f64),
            observed(Value::from(names.len())),
        ),
        "expect_table_column_count_to_be_between" => (
            within(e, names.len() as f64),
            observed(Value::from(names.len())),
        ),
        "expect_table_columns_to_match_ordered_list" => {
            let expected = strings("column_list");
            (expected == names, observed(Value::from(names.clone())))
        }
        "expect_table_columns_to_match_set" => {
            let expected = strings("column_set");
            let exact = e
                .kwargs
                .get("exact_match")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let all_present = expected.iter().all(|c| names.contains(c));
            let no_extra = names.iter().all(|c| expected.contains(c));
            let mut sorted = names.clone();
            sorted.sort();
            (
                all_present && (!exact || no_extra),
                observed(Value::from(sorted)),
            )
        }
        "expect_column_to_exist" => {
            let column = e
                .kwargs
                .get("column")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let position = names.iter().position(|n| n == column);
            let at_index = match e.kwargs.get("column_index").and_then(Value::as_i64) {
                // GE checks existence only for index 0, and counts negative indexes from the end.
                None | Some(0) => true,
                Some(i) if i > 0 => position == Some(i as usize),
                Some(i) => position.is_some_and(|p| p as i64 == names.len() as i64 + i),
            };
            (position.is_some() && at_index, Map::new())
        }
        other => return Outcome::exception(format!("`{other}` is not a table expectation")),
    };
    Outcome {
        success,
        result,
        exception: None,
    }
}
