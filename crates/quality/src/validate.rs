//! Running a suite against a table of a DataFusion session and shaping the answer like GE's
//! validation result. Column map expectations are one counting query plus one query for the
//! unexpected rows (the first 20, or all for `COMPLETE`), so memory stays bounded by the result.
//!
//! This module holds the [`Validator`], the suite loop and the table, aggregate and query
//! expectations; column map expectations live in [`column_map`], pair and multicolumn ones in
//! [`multi_column`], and both are shaped into GE's map result by [`map_result`].

mod column_map;
mod duplicates;
mod map_result;
mod multi_column;

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
pub(crate) const PARTIAL: usize = 20;

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

    /// Runs `sql` on one partition, so rows come in table order (the first unexpected values
    /// of a large table, as GE lists them, and the order the row-by-row checks see). Used for
    /// samples, which stop at the first few matches, and for reading one column.
    async fn query_in_order(&self, sql: &str) -> std::result::Result<Vec<RecordBatch>, String> {
        let mut config = self.ctx.copied_config();
        config.options_mut().execution.target_partitions = 1;
        // The catalogs are shared with `self.ctx`: creating the default one again would
        // replace it, tables and all.
        config
            .options_mut()
            .catalog
            .create_default_catalog_and_schema = false;
        let state = dataflow_engine::datafusion::execution::SessionStateBuilder::new_from_existing(
            self.ctx.state(),
        )
        .with_config(config)
        .build();
        collect(&SessionContext::new_with_state(state), sql).await
    }

    async fn query(&self, sql: &str) -> std::result::Result<Vec<RecordBatch>, String> {
        collect(&self.ctx, sql).await
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
            .query_in_order(&format!(
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

    /// Runs `sql` and hands each batch to `each` as it arrives, holding no more than one.
    async fn for_each_batch(
        &self,
        sql: &str,
        mut each: impl FnMut(&RecordBatch) -> std::result::Result<(), String>,
    ) -> std::result::Result<(), String> {
        let mut stream = self
            .ctx
            .sql(sql)
            .await
            .map_err(|e| e.to_string())?
            .execute_stream()
            .await
            .map_err(|e| e.to_string())?;
        while let Some(batch) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            each(&batch.map_err(|e| e.to_string())?)?;
        }
        Ok(())
    }

    /// A column aggregate expectation: the column streams through [`crate::aggregate::Column`]
    /// (twice for stdev), which keeps only what the expectation needs.
    async fn column_aggregate(&self, info: &TableInfo, e: &Expectation) -> Outcome {
        let Some(column) = e.kwargs.get("column").and_then(Value::as_str) else {
            return Outcome::exception("`column` must be a string".into());
        };
        let Some((_, data_type)) = info.columns.iter().find(|(n, _)| n == column) else {
            return Outcome::exception(format!(
                "Error: The column \"{column}\" in BatchData does not exist."
            ));
        };
        // The column in table order (pandas sums in that order; with an index column,
        // DataFusion sorts by it first).
        let order = self
            .index_column
            .as_deref()
            .map(|i| format!(" order by {}", ident(i)))
            .unwrap_or_default();
        let sql = format!("select {} from {}{order}", ident(column), info.name);
        let needs = crate::aggregate::Needs::of(&e.expectation_type);
        let rows = usize::try_from(info.rows).unwrap_or(0);
        let mut values = crate::aggregate::Column::new(data_type, needs, rows);
        let read = self
            .for_each_batch(&sql, |batch| values.push(batch.column(0)))
            .await;
        if let Err(message) = read {
            return Outcome::exception(message);
        }
        values.finish();
        if needs == crate::aggregate::Needs::Deviation
            && let Some(mut deviations) = values.deviations()
        {
            let read = self
                .for_each_batch(&sql, |batch| deviations.push(batch.column(0)))
                .await;
            if let Err(message) = read {
                return Outcome::exception(message);
            }
            values.set_squares(deviations.finish());
        }
        match crate::aggregate::evaluate(e, &values) {
            Ok((success, result)) => Outcome {
                success,
                result,
                exception: None,
            },
            Err(message) => Outcome::exception(message),
        }
    }
}

/// Runs one statement and collects its rows; an error as its message.
async fn collect(ctx: &SessionContext, sql: &str) -> std::result::Result<Vec<RecordBatch>, String> {
    ctx.sql(sql)
        .await
        .map_err(|e| e.to_string())?
        .collect()
        .await
        .map_err(|e| e.to_string())
}
