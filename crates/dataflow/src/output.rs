//! What commands print on stdout: result tables, CSV, JSON and run summaries.

use comfy_table::Table;
use dataflow_engine::datafusion::arrow::array::RecordBatch;
use dataflow_engine::datafusion::arrow::util::pretty::pretty_format_batches;
use dataflow_ingest::SourceReport;

use crate::cli::QueryFormat;

/// Prints query results.
pub fn print_batches(batches: &[RecordBatch], format: QueryFormat) -> anyhow::Result<()> {
    match format {
        QueryFormat::Table => {
            println!("{}", pretty_format_batches(batches)?);
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            println!("{rows} row{}", if rows == 1 { "" } else { "s" });
        }
        QueryFormat::Csv => {
            let mut writer = dataflow_engine::datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(std::io::stdout());
            for batch in batches {
                writer.write(batch)?;
            }
        }
        QueryFormat::Json => {
            // Nulls are written as `null`, so every row has every column.
            let mut writer = dataflow_engine::datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, dataflow_engine::datafusion::arrow::json::writer::LineDelimited>(
                    std::io::stdout(),
                );
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

/// Prints one line per source after an ingest.
pub fn print_ingest_summary(results: &[(String, Result<SourceReport, dataflow_ingest::Error>)]) {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "source",
        "table",
        "files new",
        "files skipped",
        "rows loaded",
        "rows quarantined",
        "version",
        "seconds",
        "status",
    ]);
    for (name, result) in results {
        match result {
            Ok(r) => table.add_row([
                name.clone(),
                r.table.clone(),
                r.files_loaded().to_string(),
                r.files_skipped().to_string(),
                r.rows_loaded.to_string(),
                r.rows_quarantined.to_string(),
                r.version.map_or("-".to_string(), |v| v.to_string()),
                format!("{:.2}", r.seconds),
                "ok".to_string(),
            ]),
            Err(_) => table.add_row([
                name.clone(),
                dataflow_ingest::raw_table_name(name),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "FAILED".into(),
            ]),
        };
    }
    println!("{table}");
}
