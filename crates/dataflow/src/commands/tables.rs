//! `dataflow tables`: what is in the lake.

use comfy_table::Table;
use dataflow_core::config::Project;

/// Runs the command.
pub async fn run(project: &Project) -> anyhow::Result<()> {
    let lake = super::open_lake(project)?;
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["table", "version", "files", "rows"]);
    for info in lake.tables().await? {
        table.add_row([
            info.name,
            info.version.to_string(),
            info.files.to_string(),
            info.rows.map_or("?".to_string(), |r| r.to_string()),
        ]);
    }
    println!("{table}");
    println!("lake: {}", lake.url());
    Ok(())
}
