//! `dataflow generate`: synthetic data with a progress bar and a one-line summary per table.

use std::time::Instant;

use dataflow_datagen::{GenerateOptions, OutputFormat, generate};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{DataFormat, GenerateArgs};

/// Turns `today` into a date; passes anything else through.
pub fn resolve_date(text: &str) -> String {
    if text == "today" {
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0) as i32;
        let mut out = Vec::new();
        dataflow_core::time::format_date(days, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    } else {
        text.to_string()
    }
}

/// Builds generator options from the arguments.
pub fn options(args: &GenerateArgs) -> GenerateOptions {
    GenerateOptions {
        seed: args.seed,
        customers: args.customers,
        products: args.products,
        transactions: args.transactions,
        events: args.events.unwrap_or(args.transactions),
        defect_rate: args.defect_rate,
        format: match args.format {
            DataFormat::Csv => OutputFormat::Csv,
            DataFormat::Parquet => OutputFormat::Parquet,
        },
        out: args.out.clone(),
        start_date: resolve_date(&args.start_date),
        end_date: resolve_date(&args.end_date),
    }
}

/// Generates with a progress bar (drawn only on a terminal) and returns the manifest.
pub fn generate_with_progress(
    options: &GenerateOptions,
) -> anyhow::Result<dataflow_datagen::Manifest> {
    let bar = ProgressBar::new(options.total_rows());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} generating [{bar:40}] {human_pos}/{human_len} rows ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let progress = |rows: u64| bar.inc(rows);
    let manifest = generate(options, &progress);
    bar.finish_and_clear();
    Ok(manifest?)
}

/// Runs the command.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let options = options(&args);
    let started = Instant::now();
    let manifest = generate_with_progress(&options)?;
    let seconds = started.elapsed().as_secs_f64();
    for (name, table) in &manifest.tables {
        let defects: u64 = table.defects.values().sum();
        println!(
            "{name:<13} {:>12} rows  {:>8} defects ({} structural)  {}",
            table.data_rows,
            defects,
            table.structural_defects,
            options.out.join(&table.file).display()
        );
    }
    let rows: u64 = manifest.tables.values().map(|t| t.data_rows).sum();
    println!(
        "generated {rows} rows in {seconds:.2}s ({:.0} rows/s); manifest: {}",
        rows as f64 / seconds.max(1e-9),
        options.out.join("manifest.json").display()
    );
    Ok(())
}
