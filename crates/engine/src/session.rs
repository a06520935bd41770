//! The DataFusion session over the lake: every lake table registered by name, then the saved
//! views (view models of earlier runs), information_schema on, so `SELECT * FROM raw_customers`
//! and `SHOW TABLES` just work.

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;

use crate::error::{Error, Result};
use crate::lake::Lake;

/// A session with every table of `lake` registered under its name. DataFusion's settings
/// come from the environment first (`DATAFUSION_EXECUTION_BATCH_SIZE=32768`: any
/// `datafusion.<section>.<key>` upper-cased with `_`); a bad value is an error naming it.
pub async fn new_session(lake: &Lake) -> Result<SessionContext> {
    let mut config = SessionConfig::from_env()?;
    if std::env::var_os("DATAFUSION_EXECUTION_TARGET_PARTITIONS").is_none() {
        let partitions = target_partitions(config.target_partitions());
        config = config.with_target_partitions(partitions);
    }
    let config = config
        .with_information_schema(true)
        .with_default_catalog_and_schema("dataflow", "lake");
    let ctx = crate::dialect::session_context(config);
    let names = lake.table_names().await?;
    for name in &names {
        register_lake_table(&ctx, lake, name).await?;
    }
    crate::views::register_saved_views(&ctx, &names).await?;
    Ok(ctx)
}

/// Partitions of a hash-partitioned aggregation or join: at least 8, even on fewer cores.
/// With one partition per core, grouping ten million transactions by a million customers
/// probes a hash table far larger than the CPU cache on every row; eight smaller tables
/// (run by the same threads) took 5-8% less CPU on the example project's marts, for 15-20%
/// more peak memory.
fn target_partitions(cores: usize) -> usize {
    cores.max(8)
}

/// Registers (or re-registers, after a write) the latest version of one lake table.
pub async fn register_lake_table(ctx: &SessionContext, lake: &Lake, name: &str) -> Result<bool> {
    let Some(table) = lake.load(name).await? else {
        return Ok(false);
    };
    table
        .update_datafusion_session(&ctx.state())
        .map_err(Error::delta(name))?;
    let provider = table.table_provider().await?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, provider)?;
    Ok(true)
}

/// Runs one SQL statement and collects its result.
pub async fn collect_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let frame = ctx.sql(sql).await?;
    Ok(frame.collect().await?)
}
