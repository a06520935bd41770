//! Views that outlive the command that created them. DataFusion views live in a session; the
//! lake keeps their definitions in the Delta table `_dataflow_views` (name, SQL, creation
//! order), so `dataflow query`, `validate` and later runs see a project's view models too.
//! Every session re-creates them in order; a view that no longer plans (its upstream changed)
//! is skipped with a warning naming it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::context::SessionContext;
use tracing::warn;

use crate::error::{Error, Result};
use crate::lake::Lake;

/// The lake table holding view definitions.
pub const VIEWS_TABLE: &str = "_dataflow_views";

/// One saved view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedView {
    /// View name.
    pub name: String,
    /// Its query.
    pub sql: String,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.schema().index_of(name).ok().map(|i| batch.column(i))
}

/// The saved views, in creation order.
pub async fn saved_views(ctx: &SessionContext) -> Result<Vec<SavedView>> {
    if !ctx.table_exist(VIEWS_TABLE)? {
        return Ok(Vec::new());
    }
    let batches = ctx
        .sql(&format!(
            "select name, cast(sql as varchar) as sql from {VIEWS_TABLE} order by position"
        ))
        .await?
        .collect()
        .await?;
    let mut views = Vec::new();
    for batch in &batches {
        let cast = |name: &str| {
            column(batch, name)
                .and_then(|c| datafusion::arrow::compute::cast(c, &DataType::Utf8).ok())
        };
        let (Some(names), Some(sqls)) = (cast("name"), cast("sql")) else {
            continue;
        };
        let (Some(names), Some(sqls)) = (
            names.as_any().downcast_ref::<StringArray>(),
            sqls.as_any().downcast_ref::<StringArray>(),
        ) else {
            continue;
        };
        for row in 0..batch.num_rows() {
            if names.is_valid(row) && sqls.is_valid(row) {
                views.push(SavedView {
                    name: names.value(row).to_string(),
                    sql: sqls.value(row).to_string(),
                });
            }
        }
    }
    Ok(views)
}

/// Re-creates the saved views in `ctx`. A name that is now a lake table is left to the table.
pub async fn register_saved_views(ctx: &SessionContext, lake_tables: &[String]) -> Result<()> {
    for view in saved_views(ctx).await? {
        if lake_tables.contains(&view.name) {
            continue;
        }
        let statement = format!("CREATE OR REPLACE VIEW {} AS {}", view.name, view.sql);
        let created = async { ctx.sql(&statement).await?.collect().await }.await;
        if let Err(err) = created {
            warn!(view = %view.name, error = %err, "a saved view no longer plans; skipped");
        }
    }
    Ok(())
}

/// Replaces the saved views: `keep` (in order) plus earlier ones not in `drop` or `keep`, as
/// one Delta version.
pub async fn save_views(
    ctx: &SessionContext,
    lake: &Lake,
    keep: &[SavedView],
    drop: &[String],
) -> Result<()> {
    let mut views: Vec<SavedView> = saved_views(ctx)
        .await?
        .into_iter()
        .filter(|v| !drop.contains(&v.name) && !keep.iter().any(|k| k.name == v.name))
        .collect();
    views.extend(keep.iter().cloned());
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("sql", DataType::Utf8, false),
        Field::new("position", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                views.iter().map(|v| v.name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                views.iter().map(|v| v.sql.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(0..views.len() as i64)),
        ],
    )
    .map_err(|e| Error::Sql(e.into()))?;
    lake.replace(VIEWS_TABLE, vec![batch]).await?;
    crate::session::register_lake_table(ctx, lake, VIEWS_TABLE).await?;
    Ok(())
}
