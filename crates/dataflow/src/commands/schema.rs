//! The schema step of a checkpoint validation: the data's columns against the schema
//! registered in the lake table `_dataflow_schemas` on its first check.

use std::sync::Arc;

use dataflow_engine::datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use dataflow_engine::datafusion::arrow::compute::cast;
use dataflow_engine::datafusion::arrow::datatypes::{DataType, Field, Schema};
use dataflow_engine::datafusion::prelude::SessionContext;
use dataflow_engine::{Lake, collect_sql, register_lake_table};
use dataflow_quality::schema_check::{Column, SchemaChange, SchemaPolicy};

/// The lake table of registered schemas.
const SCHEMAS: &str = "_dataflow_schemas";

/// Every registered (data, column, type), in column order.
async fn registered(ctx: &SessionContext) -> anyhow::Result<Vec<(String, String, String)>> {
    if !ctx.table_exist(SCHEMAS)? {
        return Ok(Vec::new());
    }
    let batches = collect_sql(
        ctx,
        &format!("select data, column_name, column_type from {SCHEMAS} order by data, position"),
    )
    .await?;
    let mut out = Vec::new();
    for batch in &batches {
        let text = |i: usize| cast(batch.column(i), &DataType::Utf8);
        let (data, name, kind) = (text(0)?, text(1)?, text(2)?);
        let (Some(data), Some(name), Some(kind)) = (
            data.as_any().downcast_ref::<StringArray>(),
            name.as_any().downcast_ref::<StringArray>(),
            kind.as_any().downcast_ref::<StringArray>(),
        ) else {
            continue;
        };
        for row in 0..batch.num_rows() {
            if data.is_valid(row) {
                out.push((
                    data.value(row).to_string(),
                    name.value(row).to_string(),
                    kind.value(row).to_string(),
                ));
            }
        }
    }
    Ok(out)
}

/// One registered column.
struct Registered {
    data: String,
    name: String,
    kind: String,
    position: i64,
}

/// Replaces the registration of `data` with `columns` (one Delta version).
async fn register(
    ctx: &SessionContext,
    lake: &Lake,
    all: Vec<(String, String, String)>,
    data: &str,
    columns: &[Column],
) -> anyhow::Result<()> {
    // Other datasets' rows are kept in their order (positions only order within a dataset).
    let mut rows: Vec<Registered> = all
        .into_iter()
        .filter(|(d, _, _)| d != data)
        .enumerate()
        .map(|(i, (data, name, kind))| Registered {
            data,
            name,
            kind,
            position: i as i64,
        })
        .collect();
    rows.extend(columns.iter().enumerate().map(|(i, (n, t))| Registered {
        data: data.to_string(),
        name: n.clone(),
        kind: t.clone(),
        position: i as i64,
    }));
    let text = |f: &dyn Fn(&Registered) -> String| {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("data", DataType::Utf8, false),
            Field::new("column_name", DataType::Utf8, false),
            Field::new("column_type", DataType::Utf8, false),
            Field::new("position", DataType::Int64, false),
        ])),
        vec![
            text(&|r| r.data.clone()),
            text(&|r| r.name.clone()),
            text(&|r| r.kind.clone()),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.position),
            )),
        ],
    )?;
    lake.replace(SCHEMAS, vec![batch]).await?;
    register_lake_table(ctx, lake, SCHEMAS).await?;
    Ok(())
}

/// Checks `table` (known as `data`) against its registered schema; registers it the first
/// time and after accepted changes. Returns a failure message when the policy rejects a change.
pub async fn check(
    ctx: &SessionContext,
    lake: &Lake,
    data: &str,
    table: &str,
    policy: SchemaPolicy,
) -> anyhow::Result<Option<String>> {
    let frame = ctx.table(table).await?;
    let current: Vec<Column> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    let all = registered(ctx).await?;
    let before: Vec<Column> = all
        .iter()
        .filter(|(d, _, _)| d == data)
        .map(|(_, n, t)| (n.clone(), t.clone()))
        .collect();
    if before.is_empty() {
        register(ctx, lake, all, data, &current).await?;
        println!("    schema: registered {} columns", current.len());
        return Ok(None);
    }
    let change = SchemaChange::between(&before, &current);
    if change.is_empty() {
        println!("    schema: unchanged ({} columns)", current.len());
        return Ok(None);
    }
    if change.rejected_by(policy) {
        println!("    schema: REJECTED change {}", change.describe());
        return Ok(Some(format!(
            "schema of {data} changed ({}), not allowed by {policy:?}",
            change.describe()
        )));
    }
    register(ctx, lake, all, data, &current).await?;
    println!("    schema: accepted change {}", change.describe());
    Ok(None)
}
