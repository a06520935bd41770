//! `dataflow quality profile DATA`: column statistics and a suggested suite.

use std::path::PathBuf;

use anyhow::Context;
use comfy_table::Table;
use dataflow_core::config::Project;
use dataflow_engine::new_session;
use dataflow_quality::profile;

/// Runs the command.
pub async fn run(project: &Project, data: &str, output: Option<PathBuf>) -> anyhow::Result<()> {
    let lake = super::open_lake(project)?;
    let ctx = new_session(&lake).await.context("opening the lake")?;
    let types = super::validate::FileTypes::Inferred;
    let registered = super::validate::register_data(&ctx, project, data, types).await?;
    let profiled = profile::profile(&ctx, &registered.table)
        .await
        .map_err(|e| anyhow::anyhow!("profiling {data}: {e}"))?;
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["column", "type", "nulls", "distinct", "min", "max", "mean"]);
    let short = |v: &serde_json::Value| {
        let text = match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.chars().take(28).collect::<String>()
    };
    for c in &profiled.columns {
        table.add_row([
            c.name.clone(),
            c.data_type.to_string(),
            c.nulls.to_string(),
            c.distinct.to_string(),
            short(&c.min),
            short(&c.max),
            c.mean.map(|m| format!("{m:.4}")).unwrap_or_default(),
        ]);
    }
    println!("{data}: {} rows", profiled.rows);
    println!("{table}");
    let mut suite = profile::suggest(&profiled);
    let label = std::path::Path::new(data)
        .file_stem()
        .map_or(data.to_string(), |s| s.to_string_lossy().into_owned());
    suite["name"] = serde_json::Value::from(format!("{label}_profiled"));
    let path = output.unwrap_or_else(|| {
        project
            .dir
            .join("target/profiles")
            .join(format!("{label}.json"))
    });
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&suite)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "Suggested suite ({} expectations): {} — review it, then run it with `dataflow validate --suite {} --data {data}`",
        suite["expectations"].as_array().map_or(0, Vec::len),
        path.display(),
        path.display()
    );
    Ok(())
}
