//! Introspective macros (`dbt_utils.star`, `get_column_values`, `union_relations`, `unpivot`,
//! `get_relations_by_pattern`, `get_query_results_as_dict`, ...) need the warehouse while
//! rendering, as in dbt. Rendering stays synchronous: a macro asks
//! [`Introspection`] for an answer; an unknown one is recorded as a [`Request`] and a
//! placeholder is rendered (dbt's parse-time behaviour). Before the model is built, the runner
//! answers the requests from the session and renders the model again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use dataflow_engine::datafusion::arrow::array::{Array, StringArray};
use dataflow_engine::datafusion::arrow::compute::cast;
use dataflow_engine::datafusion::arrow::datatypes::DataType;
use dataflow_engine::datafusion::prelude::SessionContext;

/// A question for the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Request {
    /// The columns of a relation (table or view name).
    Columns(String),
    /// The first column of a query's rows, as text.
    Values(String),
    /// The relations (tables and views) the session holds.
    Relations,
    /// Every column of a query's rows, with typed values.
    Table(String),
}

/// A query's rows by column: name and values (numbers, booleans, text, null).
pub type QueryColumns = Vec<(String, Vec<serde_json::Value>)>;

/// Relations that are dataflow's or dbt's own bookkeeping, never a project's data.
fn internal(name: &str) -> bool {
    name.starts_with("__") || name.starts_with("_dataflow") || name.starts_with("dbt_test__audit")
}

/// A column: name and SQL type.
pub type Column = (String, String);

/// Answers shared by every render of one invocation.
#[derive(Debug, Default)]
pub struct Introspection {
    columns: Mutex<BTreeMap<String, Vec<Column>>>,
    values: Mutex<BTreeMap<String, Vec<Option<String>>>>,
    relations: Mutex<Option<Vec<String>>>,
    tables: Mutex<BTreeMap<String, QueryColumns>>,
}

/// What one render asked and could not be told.
pub type Misses = Arc<Mutex<Vec<Request>>>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The SQL type DataFusion accepts in `cast(... as <type>)` for an Arrow type.
pub fn sql_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => "int unsigned".into(),
        DataType::UInt64 => "bigint unsigned".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        _ => "varchar".into(),
    }
}

impl Introspection {
    /// The columns of `relation`, or `None` (and a recorded miss) when not known yet.
    pub fn columns(&self, relation: &str, misses: &Misses) -> Option<Vec<Column>> {
        let found = lock(&self.columns).get(relation).cloned();
        if found.is_none() {
            lock(misses).push(Request::Columns(relation.to_string()));
        }
        found
    }

    /// The values of a query, or `None` (and a recorded miss) when not known yet.
    pub fn values(&self, sql: &str, misses: &Misses) -> Option<Vec<Option<String>>> {
        let found = lock(&self.values).get(sql).cloned();
        if found.is_none() {
            lock(misses).push(Request::Values(sql.to_string()));
        }
        found
    }

    /// The relations of the session (sorted), or `None` (and a recorded miss) when not known.
    pub fn relations(&self, misses: &Misses) -> Option<Vec<String>> {
        let found = lock(&self.relations).clone();
        if found.is_none() {
            lock(misses).push(Request::Relations);
        }
        found
    }

    /// A query's columns and typed values, or `None` (and a recorded miss) when not known.
    pub fn table(&self, sql: &str, misses: &Misses) -> Option<QueryColumns> {
        let found = lock(&self.tables).get(sql).cloned();
        if found.is_none() {
            lock(misses).push(Request::Table(sql.to_string()));
        }
        found
    }

    /// Answers `requests` from the session. Columns are always read fresh (a relation rebuilt
    /// in this run may have changed); an error names the relation or query.
    pub async fn resolve(&self, ctx: &SessionContext, requests: &[Request]) -> Result<(), String> {
        for request in requests {
            match request {
                Request::Columns(relation) => {
                    let frame = ctx.table(relation.as_str()).await.map_err(|e| {
                        format!("reading the columns of relation `{relation}`: {e}")
                    })?;
                    let columns = frame
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| (f.name().clone(), sql_type(f.data_type())))
                        .collect();
                    lock(&self.columns).insert(relation.clone(), columns);
                }
                Request::Values(sql) => {
                    let failed = |e: &dyn std::fmt::Display| format!("{e}\nquery: {sql}");
                    let batches = ctx
                        .sql(sql)
                        .await
                        .map_err(|e| failed(&e))?
                        .collect()
                        .await
                        .map_err(|e| failed(&e))?;
                    let mut values = Vec::new();
                    for batch in &batches {
                        let text =
                            cast(batch.column(0), &DataType::Utf8).map_err(|e| failed(&e))?;
                        let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
                            continue;
                        };
                        values.extend(
                            (0..text.len())
                                .map(|i| text.is_valid(i).then(|| text.value(i).to_string())),
                        );
                    }
                    lock(&self.values).insert(sql.clone(), values);
                }
                Request::Relations => {
                    let state = ctx.state();
                    let options = &state.config().options().catalog;
                    let mut names: Vec<String> = ctx
                        .catalog(&options.default_catalog)
                        .and_then(|c| c.schema(&options.default_schema))
                        .map(|s| s.table_names())
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|n| !internal(n))
                        .collect();
                    names.sort();
                    *lock(&self.relations) = Some(names);
                }
                Request::Table(sql) => {
                    let failed = |e: &dyn std::fmt::Display| format!("{e}\nquery: {sql}");
                    let frame = ctx.sql(sql).await.map_err(|e| failed(&e))?;
                    let schema = frame.schema().as_arrow().clone();
                    let batches = frame.collect().await.map_err(|e| failed(&e))?;
                    let mut columns: QueryColumns = schema
                        .fields()
                        .iter()
                        .map(|f| (f.name().clone(), Vec::new()))
                        .collect();
                    for batch in &batches {
                        for (i, (_, values)) in columns.iter_mut().enumerate() {
                            values.extend(json_values(batch.column(i)).map_err(|e| failed(&e))?);
                        }
                    }
                    lock(&self.tables).insert(sql.clone(), columns);
                }
            }
        }
        Ok(())
    }
}

/// A column's values as JSON: integers, floats and booleans as such, the rest as text.
fn json_values(
    array: &dataflow_engine::datafusion::arrow::array::ArrayRef,
) -> Result<Vec<serde_json::Value>, dataflow_engine::datafusion::arrow::error::ArrowError> {
    use dataflow_engine::datafusion::arrow::array::{BooleanArray, Float64Array, Int64Array};
    use serde_json::Value;
    let data_type = array.data_type();
    let values: Vec<Value> = if data_type.is_integer() {
        let cast = cast(array, &DataType::Int64)?;
        let ints = cast.as_any().downcast_ref::<Int64Array>();
        (0..array.len())
            .map(|i| match ints {
                Some(a) if a.is_valid(i) => Value::from(a.value(i)),
                _ => Value::Null,
            })
            .collect()
    } else if data_type.is_floating()
        || matches!(
            data_type,
            DataType::Decimal128(..) | DataType::Decimal256(..)
        )
    {
        let cast = cast(array, &DataType::Float64)?;
        let floats = cast.as_any().downcast_ref::<Float64Array>();
        (0..array.len())
            .map(|i| match floats {
                Some(a) if a.is_valid(i) => Value::from(a.value(i)),
                _ => Value::Null,
            })
            .collect()
    } else if data_type == &DataType::Boolean {
        let bools = array.as_any().downcast_ref::<BooleanArray>();
        (0..array.len())
            .map(|i| match bools {
                Some(a) if a.is_valid(i) => Value::from(a.value(i)),
                _ => Value::Null,
            })
            .collect()
    } else {
        let cast = cast(array, &DataType::Utf8)?;
        let text = cast.as_any().downcast_ref::<StringArray>();
        (0..array.len())
            .map(|i| match text {
                Some(a) if a.is_valid(i) => Value::from(a.value(i)),
                _ => Value::Null,
            })
            .collect()
    };
    Ok(values)
}
