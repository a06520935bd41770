//! Incremental models: `incremental_strategy` (`append`, `merge`, `delete+insert`) and
//! `on_schema_change` (`ignore`, `fail`, `append_new_columns`, `sync_all_columns`), with dbt's
//! semantics. Every outcome is one Delta commit: a plain append or merge when the columns match,
//! otherwise one rewrite of the table with its new columns.

use std::collections::BTreeSet;
use std::sync::Arc;

use dataflow_engine::Lake;
use dataflow_engine::datafusion::arrow::array::RecordBatch;
use dataflow_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use dataflow_engine::datafusion::common::ScalarValue;
use dataflow_engine::datafusion::logical_expr::{Expr, JoinType, cast, ident, lit};
use dataflow_engine::datafusion::prelude::{DataFrame, SessionContext};

use crate::error::{Error, Result};
use crate::project::ModelConfig;
use crate::render::Compiled;

const STRATEGIES: [&str; 3] = ["append", "merge", "delete+insert"];
const SCHEMA_CHANGES: [&str; 4] = ["ignore", "fail", "append_new_columns", "sync_all_columns"];

/// Checks `incremental_strategy` and `on_schema_change` when a model is compiled, so a typo is a
/// configuration error naming the model file, not a surprise on the second run.
pub fn validate_config(config: &ModelConfig) -> std::result::Result<(), String> {
    if let Some(strategy) = &config.incremental_strategy {
        if !STRATEGIES.contains(&strategy.as_str()) {
            return Err(format!(
                "unknown incremental_strategy `{strategy}`, expected one of: {}",
                STRATEGIES.join(", ")
            ));
        }
        if strategy != "append" && config.unique_key.is_empty() {
            return Err(format!(
                "incremental_strategy `{strategy}` needs a unique_key"
            ));
        }
    }
    if !SCHEMA_CHANGES.contains(&config.on_schema_change.as_str()) {
        return Err(format!(
            "unknown on_schema_change `{}`, expected one of: {}",
            config.on_schema_change,
            SCHEMA_CHANGES.join(", ")
        ));
    }
    Ok(())
}

/// The strategy in effect: the configured one, else merge with a `unique_key`, else append.
fn strategy(config: &ModelConfig) -> &str {
    match &config.incremental_strategy {
        Some(strategy) => strategy,
        None if config.unique_key.is_empty() => "append",
        None => "merge",
    }
}

/// Broad type families: a change within one (Utf8 to Utf8View, ns to µs) is not a schema change.
fn family(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => "int".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => "int".into(),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "float".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        other => other.to_string(),
    }
}

/// How the model's new rows differ from the table's columns.
struct SchemaDiff {
    added: Vec<Arc<Field>>,
    removed: Vec<String>,
    changed: Vec<String>,
}

impl SchemaDiff {
    fn new(existing: &Schema, new: &Schema) -> SchemaDiff {
        let added = new
            .fields()
            .iter()
            .filter(|f| existing.field_with_name(f.name()).is_err())
            .cloned()
            .collect();
        let removed = existing
            .fields()
            .iter()
            .filter(|f| new.field_with_name(f.name()).is_err())
            .map(|f| f.name().clone())
            .collect();
        let changed = new
            .fields()
            .iter()
            .filter(|f| {
                existing
                    .field_with_name(f.name())
                    .is_ok_and(|old| family(old.data_type()) != family(f.data_type()))
            })
            .map(|f| f.name().clone())
            .collect();
        SchemaDiff {
            added,
            removed,
            changed,
        }
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    fn describe(&self) -> String {
        let names = |list: &[String]| {
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        };
        let added: Vec<String> = self.added.iter().map(|f| f.name().clone()).collect();
        format!(
            "added columns: {}; removed columns: {}; changed types: {}",
            names(&added),
            names(&self.removed),
            names(&self.changed)
        )
    }
}

/// Projects `frame` onto `fields`: existing columns cast to the field's type, missing ones null.
fn project(frame: DataFrame, fields: &[Arc<Field>]) -> Result<DataFrame, String> {
    let available: BTreeSet<String> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let exprs: Vec<Expr> = fields
        .iter()
        .map(|f| {
            let value = if available.contains(f.name()) {
                ident(f.name())
            } else {
                lit(ScalarValue::Null)
            };
            cast(value, f.data_type().clone()).alias(f.name())
        })
        .collect();
    frame.select(exprs).map_err(|e| e.to_string())
}

/// Writes an incremental model's new rows into its existing table.
pub async fn write(
    ctx: &SessionContext,
    lake: &Lake,
    model: &Compiled,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    let failed = |message: String| Error::Sql {
        model: model.name.clone(),
        path: model.path.clone(),
        message,
        sql: model.sql.clone(),
    };
    let batches = if batches.is_empty() {
        vec![RecordBatch::new_empty(schema.clone())]
    } else {
        batches
    };
    let existing = ctx
        .table(model.name.as_str())
        .await
        .map_err(|e| failed(e.to_string()))?;
    let existing_schema: Schema = existing.schema().as_arrow().clone();
    let diff = SchemaDiff::new(&existing_schema, &schema);
    let strategy = strategy(&model.config);
    let keys = &model.config.unique_key;
    let fields: Vec<Arc<Field>> = if diff.is_empty() {
        if strategy == "append" {
            lake.append(&model.name, batches).await?;
            return Ok(());
        }
        if strategy == "merge" {
            lake.merge(ctx, &model.name, batches, keys).await?;
            return Ok(());
        }
        existing_schema.fields().iter().cloned().collect()
    } else {
        match model.config.on_schema_change.as_str() {
            "fail" => {
                return Err(failed(format!(
                    "the model's columns no longer match table `{}` and on_schema_change is \
                     `fail` ({}); run with --full-refresh or set on_schema_change",
                    model.name,
                    diff.describe()
                )));
            }
            "append_new_columns" => existing_schema
                .fields()
                .iter()
                .cloned()
                .chain(diff.added.iter().cloned())
                .collect(),
            "sync_all_columns" => schema.fields().iter().cloned().collect(),
            _ if !diff.removed.is_empty() => {
                // dbt's `ignore` cannot insert rows that lack a table column either.
                return Err(failed(format!(
                    "columns {} of table `{}` are no longer produced by the model \
                     (on_schema_change `ignore`); run with --full-refresh or set \
                     on_schema_change to append_new_columns or sync_all_columns",
                    diff.removed.join(", "),
                    model.name
                )));
            }
            // `ignore`: new columns are dropped, the table keeps its columns.
            _ => existing_schema.fields().iter().cloned().collect(),
        }
    };
    let new_rows = ctx
        .read_batches(batches)
        .map_err(|e| failed(e.to_string()))?;
    let new_rows = project(new_rows, &fields).map_err(&failed)?;
    let unchanged_schema = fields.len() == existing_schema.fields().len()
        && fields
            .iter()
            .zip(existing_schema.fields())
            .all(|(a, b)| a.name() == b.name());
    if unchanged_schema && strategy != "delete+insert" {
        // `ignore` with extra columns only: the table is untouched apart from the new rows.
        let batches = new_rows
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if strategy == "merge" {
            lake.merge(ctx, &model.name, batches, keys).await?;
        } else {
            lake.append(&model.name, batches).await?;
        }
        return Ok(());
    }
    // One rewrite: the kept old rows (all, or those whose key is not in the new rows) and the
    // new rows, both with the final columns, replace the table in one commit.
    let mut kept = project(existing, &fields).map_err(&failed)?;
    if strategy != "append" {
        let renamed: Vec<String> = keys.iter().map(|k| format!("__dataflow_new_{k}")).collect();
        let new_keys = new_rows
            .clone()
            .select(
                keys.iter()
                    .zip(&renamed)
                    .map(|(k, r)| ident(k).alias(r))
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| failed(e.to_string()))?;
        let left: Vec<&str> = keys.iter().map(String::as_str).collect();
        let right: Vec<&str> = renamed.iter().map(String::as_str).collect();
        kept = kept
            .join(new_keys, JoinType::LeftAnti, &left, &right, None)
            .map_err(|e| failed(e.to_string()))?;
    }
    let all = kept.union(new_rows).map_err(|e| failed(e.to_string()))?;
    let batches = all.collect().await.map_err(|e| failed(e.to_string()))?;
    lake.replace(&model.name, batches).await?;
    Ok(())
}
