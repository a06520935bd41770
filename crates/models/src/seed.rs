//! Seeds: CSV files in `seeds/` loaded as lake tables, types inferred, `+column_types` applied.

use dataflow_engine::datafusion::prelude::SessionContext;
use dataflow_engine::{Lake, register_lake_table};

use crate::error::{Error, Result};

/// Loads one CSV seed into the lake as table `<name>` (types inferred, `column_types` applied),
/// replacing its previous contents in one version. Returns the row count.
pub async fn load_seed(
    ctx: &SessionContext,
    lake: &Lake,
    seed: &crate::project::Seed,
) -> Result<u64> {
    use dataflow_engine::datafusion::prelude::CsvReadOptions;
    let error = |e: &dyn std::fmt::Display| Error::Project {
        path: seed.path.clone(),
        message: e.to_string(),
    };
    let path = seed.path.to_string_lossy().into_owned();
    let options = || {
        CsvReadOptions::new()
            .has_header(true)
            .file_extension(".csv")
    };
    let inferred = ctx
        .read_csv(path.clone(), options())
        .await
        .map_err(|e| error(&e))?;
    let fields: Vec<String> = inferred
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for column in seed.column_types.keys() {
        if !fields.contains(column) {
            return Err(error(&format!(
                "column_types names `{column}`, which is not a column; columns: {}",
                fields.join(", ")
            )));
        }
    }
    // Columns with declared types are read as text and cast, so `01` stays `01` as varchar.
    let schema = dataflow_engine::datafusion::arrow::datatypes::Schema::new(
        inferred
            .schema()
            .fields()
            .iter()
            .map(|f| {
                if seed.column_types.contains_key(f.name()) {
                    dataflow_engine::datafusion::arrow::datatypes::Field::new(
                        f.name(),
                        dataflow_engine::datafusion::arrow::datatypes::DataType::Utf8,
                        true,
                    )
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
    );
    let frame = ctx
        .read_csv(path, options().schema(&schema))
        .await
        .map_err(|e| error(&e))?;
    let staging = format!("__dataflow_seed_{}", seed.name);
    ctx.register_table(staging.as_str(), frame.into_view())
        .map_err(|e| error(&e))?;
    let projection: Vec<String> = fields
        .iter()
        .map(|f| match seed.column_types.get(f) {
            // `2021-01-01 00:00` (no seconds) is a timestamp to dbt's loaders; add the seconds.
            Some(t) if t.to_ascii_lowercase().contains("timestamp") => format!(
                "cast(case when \"{f}\" ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ T][0-9]{{2}}:[0-9]{{2}}$' \
                 then \"{f}\" || ':00' else \"{f}\" end as {t}) as \"{f}\""
            ),
            Some(t) => format!("cast(\"{f}\" as {t}) as \"{f}\""),
            None => format!("\"{f}\""),
        })
        .collect();
    let sql = format!("select {} from {staging}", projection.join(", "));
    let result = async {
        let frame = ctx.sql(&sql).await.map_err(|e| error(&e))?;
        frame.collect().await.map_err(|e| error(&e))
    }
    .await;
    ctx.deregister_table(staging.as_str())
        .map_err(|e| error(&e))?;
    let batches = result?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    lake.replace(&seed.name, batches).await?;
    register_lake_table(ctx, lake, &seed.name).await?;
    Ok(rows)
}
