//! Running a suite against a table of a DataFusion session and shaping the answer like GE's
//! validation result. Column map expectations are one counting query plus one query for the
//! unexpected rows (the first 20, or all for `COMPLETE`), so memory stays bounded by the result.

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
    index_columns: Vec<String>,
}

/// One expectation's outcome before it is shaped as JSON.
pub(crate) struct Outcome {
    pub(crate) success: bool,
    pub(crate) result: Map<String, Value>,
    pub(crate) exception: Option<String>,
}

impl Outcome {
    pub(crate) fn exception(message: String) -> Outcome {
        Outcome {
            success: false,
            result: Map::new(),
            exception: Some(message),
        }
    }
}

/// The counts of a row-by-row expectation.
struct Tally {
    elements: i64,
    /// Rows not tested (nulls, or rows left out by `ignore_row_if`).
    missing: i64,
    unexpected: i64,
    /// `not_be_null` / `be_null`: nulls are the subject, percentages are of all rows.
    about_nulls: bool,
}

/// The unexpected rows found (the first 20, or all for COMPLETE), in table order.
struct Found {
    /// As GE prints them.
    shown: Vec<Value>,
    /// As GE counts them in `partial_unexpected_counts`.
    counted: Vec<Value>,
    indexes: Vec<Value>,
    has_index: bool,
}

/// What the table looks like.
pub(crate) struct TableInfo {
    pub(crate) name: String,
    pub(crate) columns: Vec<(String, DataType)>,
    pub(crate) rows: i64,
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

impl Validator {
    /// A validator over `ctx` producing `format` results. `index_column`, if set, is reported
    /// in `unexpected_index_list` and left out of the table's columns.
    pub fn new(ctx: SessionContext, format: ResultFormat, index_column: Option<String>) -> Self {
        Validator {
            ctx,
            format,
            index_column,
            index_columns: Vec::new(),
        }
    }

    /// GE's `unexpected_index_column_names`: each unexpected row is reported by these columns'
    /// values (and the tested columns'), as `{"id": 7, "email": null}`.
    pub fn with_index_columns(mut self, columns: Vec<String>) -> Self {
        self.index_columns = columns;
        self
    }

    /// What the unexpected-rows query selects after the tested columns, and its ordering.
    fn index_select(&self) -> (String, String) {
        let order = self
            .index_column
            .as_deref()
            .map(|i| format!(" order by {}", ident(i)))
            .unwrap_or_default();
        let extra: Vec<String> = if self.index_columns.is_empty() {
            self.index_column.iter().map(|i| ident(i)).collect()
        } else {
            self.index_columns.iter().map(|i| ident(i)).collect()
        };
        // Aliased: an index column may also be the tested column.
        let select = extra
            .iter()
            .enumerate()
            .map(|(k, c)| format!(", {c} as __dataflow_index_{k}"))
            .collect::<String>();
        (select, order)
    }

    fn has_index(&self) -> bool {
        !self.index_columns.is_empty() || self.index_column.is_some()
    }

    /// One unexpected row's index entry: the row index, or an object of the index columns and
    /// the tested columns.
    fn index_entry(&self, batch: &RecordBatch, row: usize, tested: &[String]) -> Value {
        let width = tested.len();
        if self.index_columns.is_empty() {
            return sql::json_value(batch.column(width), row);
        }
        let mut entry = Map::new();
        for (k, name) in self.index_columns.iter().enumerate() {
            entry.insert(name.clone(), sql::json_value(batch.column(width + k), row));
        }
        for (k, name) in tested.iter().enumerate() {
            entry
                .entry(name.clone())
                .or_insert_with(|| sql::json_value(batch.column(k), row));
        }
        Value::Object(entry)
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
        let counted = self.count_all(&info, suite).await;
        let mut results = Vec::with_capacity(suite.expectations.len());
        let mut successful = 0;
        for (i, expectation) in suite.expectations.iter().enumerate() {
            let outcome = self
                .evaluate(&info, expectation, counted.get(&i).copied())
                .await;
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
        config["severity"] = Value::from(expectation.severity.clone());
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

    /// The counts of every SQL column map expectation of a suite in one scan of the table:
    /// rows, non-null values and unexpected values per expectation, by position. Anything
    /// that cannot be counted this way (or a failing combined query) is counted on its own.
    async fn count_all(
        &self,
        info: &TableInfo,
        suite: &Suite,
    ) -> std::collections::HashMap<usize, (i64, i64, i64)> {
        let mut items = vec!["count(*) as total".to_string()];
        let mut positions = Vec::new();
        for (i, e) in suite.expectations.iter().enumerate() {
            let Some(column) = e.kwargs.get("column").and_then(Value::as_str) else {
                continue;
            };
            let Some((_, data_type)) = info.columns.iter().find(|(n, _)| n == column) else {
                continue;
            };
            let kind = e.expectation_type.as_str();
            if e.spec.family != Family::ColumnMap
                || !e.spec.evaluated
                || kind == "expect_column_values_to_be_unique"
                || kind.contains("_of_type")
                || kind.contains("in_type_list")
                || crate::ordered::is_row_check(kind)
            {
                continue;
            }
            let Ok((condition, _)) = crate::map_sql::unexpected_condition(e, column, data_type)
            else {
                continue;
            };
            items.push(format!("count({}) as n{i}", ident(column)));
            items.push(format!(
                "coalesce(sum(case when {condition} then 1 else 0 end), 0) as u{i}"
            ));
            positions.push(i);
        }
        let mut counted = std::collections::HashMap::new();
        if positions.is_empty() {
            return counted;
        }
        let sql = format!("select {} from {}", items.join(", "), info.name);
        let combined = self.query(&sql).await;
        if let Err(message) = &combined {
            tracing::debug!(error = %message, "one-scan counting failed; counting one by one");
        }
        if let Ok(batches) = combined {
            let total = number(&batches, 0);
            for (k, i) in positions.into_iter().enumerate() {
                counted.insert(
                    i,
                    (
                        total,
                        number(&batches, 1 + 2 * k),
                        number(&batches, 2 + 2 * k),
                    ),
                );
            }
        }
        counted
    }

    async fn evaluate(
        &self,
        info: &TableInfo,
        e: &Expectation,
        counted: Option<(i64, i64, i64)>,
    ) -> Outcome {
        if !e.spec.evaluated {
            return Outcome::exception(format!(
                "`{}` is recognised but not evaluated by this version of dataflow",
                e.expectation_type
            ));
        }
        match e.spec.family {
            Family::Table => crate::table::table_expectation(info, e),
            Family::ColumnMap => self.column_map(info, e, counted).await,
            Family::ColumnAggregate => self.column_aggregate(info, e).await,
            Family::ColumnPair | Family::Multicolumn => self.multi_column(info, e).await,
            Family::Query => self.unexpected_rows(info, e).await,
        }
    }

    /// GE's result for a row-by-row expectation: counts, percentages and the value lists the
    /// result format asks for, with `mostly` applied.
    fn shape_map(
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
        let columns = check
            .columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let (extra, order) = self.index_select();
        let select = format!("{columns}{extra}");
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
                if self.has_index() {
                    indexes.push(self.index_entry(batch, row, &check.columns));
                }
            }
        }
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
        let tally = Tally {
            elements,
            missing,
            unexpected: unexpected_count,
            about_nulls: false,
        };
        let found = Found {
            shown,
            counted: counted_values,
            indexes,
            has_index: self.has_index(),
        };
        self.shape_map(e, tally, found, false, &none_positions)
    }

    /// `unexpected_rows_expectation`: a query (with `{batch}` standing for the data) returning
    /// the unexpected rows; it passes when there are none.
    async fn unexpected_rows(&self, info: &TableInfo, e: &Expectation) -> Outcome {
        let Some(query) = e
            .kwargs
            .get("unexpected_rows_query")
            .and_then(Value::as_str)
        else {
            return Outcome::exception("`unexpected_rows_query` must be a string".into());
        };
        let query = query.replace("{batch}", &info.name);
        let counted = match self
            .query(&format!("select count(*) from ({query}) as unexpected"))
            .await
        {
            Ok(b) => b,
            Err(message) => return Outcome::exception(format!("{message}\nquery: {query}")),
        };
        let count = number(&counted, 0);
        let sample = match self
            .query(&format!(
                "select * from ({query}) as unexpected limit {PARTIAL}"
            ))
            .await
        {
            Ok(b) => b,
            Err(message) => return Outcome::exception(message),
        };
        let mut rows = Vec::new();
        for batch in &sample {
            let schema = batch.schema();
            for row in 0..batch.num_rows() {
                let object: Map<String, Value> = schema
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(c, f)| (f.name().clone(), sql::json_value(batch.column(c), row)))
                    .collect();
                rows.push(Value::Object(object));
            }
        }
        let mut result = Map::new();
        result.insert("observed_value".into(), Value::from(count));
        result.insert("details".into(), json!({"unexpected_rows": rows}));
        Outcome {
            success: count == 0,
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

    /// A column map expectation decided in Rust over the column in table order.
    async fn row_by_row(
        &self,
        info: &TableInfo,
        e: &Expectation,
        column: &str,
        data_type: &DataType,
    ) -> Outcome {
        let (extra, order) = self.index_select();
        let select = format!("{}{extra}", ident(column));
        let tested = [column.to_string()];
        let batches = match self
            .query(&format!("select {select} from {}{order}", info.name))
            .await
        {
            Ok(b) => b,
            Err(message) => return Outcome::exception(message),
        };
        let (mut values, mut indexes) = (Vec::new(), Vec::new());
        for batch in &batches {
            for row in 0..batch.num_rows() {
                // Nulls stay null here (not NaT): they are skipped, never unexpected.
                values.push(if batch.column(0).is_null(row) {
                    Value::Null
                } else {
                    sql::json_value(batch.column(0), row)
                });
                if self.has_index() {
                    indexes.push(self.index_entry(batch, row, &tested));
                }
            }
        }
        let positions = match crate::ordered::unexpected(e, &values) {
            Ok(p) => p,
            Err(message) => return Outcome::exception(message),
        };
        let shown: Vec<Value> = positions.iter().map(|&i| values[i].clone()).collect();
        let tally = Tally {
            elements: values.len() as i64,
            missing: values.iter().filter(|v| v.is_null()).count() as i64,
            unexpected: positions.len() as i64,
            about_nulls: false,
        };
        let found = Found {
            counted: shown.clone(),
            shown,
            indexes: positions
                .iter()
                .filter_map(|&i| indexes.get(i).cloned())
                .collect(),
            has_index: self.has_index(),
        };
        let nan_distinct = matches!(data_type, DataType::Float32 | DataType::Float64);
        self.shape_map(e, tally, found, nan_distinct, &[])
    }

    async fn column_map(
        &self,
        info: &TableInfo,
        e: &Expectation,
        counted: Option<(i64, i64, i64)>,
    ) -> Outcome {
        let Some(column) = e.kwargs.get("column").and_then(Value::as_str) else {
            return Outcome::exception("`column` must be a string".into());
        };
        let Some((_, data_type)) = info.columns.iter().find(|(n, _)| n == column) else {
            return Outcome::exception(format!(
                "Error: The column \"{column}\" in BatchData does not exist."
            ));
        };
        if matches!(
            e.expectation_type.as_str(),
            "expect_column_values_to_be_of_type" | "expect_column_values_to_be_in_type_list"
        ) {
            return match crate::ordered::type_check(e, data_type) {
                Ok((success, observed)) => {
                    let mut result = Map::new();
                    result.insert("observed_value".into(), Value::from(observed));
                    Outcome {
                        success,
                        result,
                        exception: None,
                    }
                }
                Err(message) => Outcome::exception(message),
            };
        }
        if crate::ordered::is_row_check(&e.expectation_type) {
            return self.row_by_row(info, e, column, data_type).await;
        }
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
            match crate::map_sql::unexpected_condition(e, column, data_type) {
                Ok(condition) => condition,
                Err(message) => return Outcome::exception(message),
            }
        };
        let (elements, non_null, unexpected_count) = match counted {
            Some(counts) => counts,
            None => {
                let counts = format!(
                    "select count(*), count({c}), \
                     coalesce(sum(case when {unexpected} then 1 else 0 end), 0) from {table}"
                );
                let batches = match self.query(&counts).await {
                    Ok(b) => b,
                    Err(message) => return Outcome::exception(message),
                };
                (
                    number(&batches, 0),
                    number(&batches, 1),
                    number(&batches, 2),
                )
            }
        };
        // The unexpected values (and row indexes) in table order.
        let limit = if self.format == ResultFormat::Complete {
            String::new()
        } else {
            format!(" limit {PARTIAL}")
        };
        let (extra, order) = self.index_select();
        let select = format!("{c}{extra}");
        let tested = [column.to_string()];
        // A second pass only when there is something to show.
        let rows = format!("select {select} from {table} where {unexpected}{order}{limit}");
        let batches = if unexpected_count == 0 {
            Vec::new()
        } else {
            match self.query(&rows).await {
                Ok(b) => b,
                Err(message) => return Outcome::exception(message),
            }
        };
        let mut values = Vec::new();
        let mut indexes = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                values.push(sql::json_value(batch.column(0), row));
                if self.has_index() {
                    indexes.push(self.index_entry(batch, row, &tested));
                }
            }
        }
        let tally = Tally {
            elements,
            missing: elements - non_null,
            unexpected: unexpected_count,
            about_nulls,
        };
        let found = Found {
            counted: values.clone(),
            shown: values,
            indexes,
            has_index: self.has_index(),
        };
        let nan_distinct = matches!(data_type, DataType::Float32 | DataType::Float64);
        self.shape_map(e, tally, found, nan_distinct, &[])
    }
}
