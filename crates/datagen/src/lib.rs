//! Deterministic synthetic e-commerce data (customers, products, transactions, events) with the
//! defects a real feed has, and a `manifest.json` that counts every injected defect exactly.
//!
//! The same seed and options always produce byte-identical files, on any machine.

pub mod error;
pub mod manifest;
pub mod rng;
pub mod sink;
pub mod tables;
mod words;
pub mod world;

use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use manifest::{Manifest, STRUCTURAL_DEFECTS, TableManifest};

use sink::{Columns, CsvSink, ParquetSink, Sink};
use tables::Progress;
use world::World;

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// CSV with a header row.
    Csv,
    /// Snappy-compressed Parquet.
    Parquet,
}

impl OutputFormat {
    fn name(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Seed; the same seed and options give the same files.
    pub seed: u64,
    /// Distinct customers.
    pub customers: u64,
    /// Products.
    pub products: u64,
    /// Transactions.
    pub transactions: u64,
    /// Clickstream events.
    pub events: u64,
    /// Probability that a row carries a defect (0 for clean data).
    pub defect_rate: f64,
    /// File format.
    pub format: OutputFormat,
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// First day of the period, `YYYY-MM-DD`.
    pub start_date: String,
    /// Last day of the period, `YYYY-MM-DD`.
    pub end_date: String,
}

impl GenerateOptions {
    /// Total rows to generate before defects, for progress bars.
    pub fn total_rows(&self) -> u64 {
        self.customers + self.products + self.transactions + self.events
    }
}

fn parse_day(text: &str, what: &str) -> Result<i32> {
    dataflow_core::time::parse_date(text.as_bytes())
        .ok_or_else(|| Error::Options(format!("{what} `{text}` is not a date (YYYY-MM-DD)")))
}

type TableFn<S> = fn(&World, u64, f64, &mut S, &mut TableManifest, Progress<'_>) -> Result<()>;

fn write_table<S: Sink>(
    sink: &mut S,
    world: &World,
    count: u64,
    rate: f64,
    manifest: &mut TableManifest,
    progress: Progress<'_>,
    table: TableFn<S>,
) -> Result<()> {
    table(world, count, rate, sink, manifest, progress)
}

fn generate_one(
    options: &GenerateOptions,
    world: &World,
    name: &str,
    columns: Columns,
    count: u64,
    progress: Progress<'_>,
) -> Result<TableManifest> {
    let file = format!("{name}.{}", options.format.name());
    let path = options.out.join(&file);
    let mut manifest = TableManifest::new(file);
    let rate = options.defect_rate;
    macro_rules! run {
        ($sink:expr) => {{
            let mut sink = $sink;
            let table: TableFn<_> = match name {
                "customers" => |w, _, r, s, m, p| tables::customers(w, r, s, m, p),
                "products" => |w, _, r, s, m, p| tables::products(w, r, s, m, p),
                "transactions" => tables::transactions,
                _ => tables::events,
            };
            write_table(
                &mut sink,
                world,
                count,
                rate,
                &mut manifest,
                progress,
                table,
            )?;
            sink.finish()?;
        }};
    }
    match options.format {
        OutputFormat::Csv => run!(CsvSink::create(&path, columns)?),
        OutputFormat::Parquet => run!(ParquetSink::create(&path, columns)?),
    }
    manifest.finish();
    Ok(manifest)
}

/// Generates all four tables into `options.out` (in parallel) and writes `manifest.json`.
/// On failure no output file of this run is left behind.
pub fn generate(options: &GenerateOptions, progress: Progress<'_>) -> Result<Manifest> {
    if !(0.0..=1.0).contains(&options.defect_rate) {
        return Err(Error::Options(format!(
            "--defect-rate must be between 0 and 1, got {}",
            options.defect_rate
        )));
    }
    if options.customers == 0 && (options.transactions > 0 || options.events > 0) {
        return Err(Error::Options(
            "transactions and events need at least one customer".into(),
        ));
    }
    if options.products == 0 && options.transactions > 0 {
        return Err(Error::Options(
            "transactions need at least one product".into(),
        ));
    }
    let start_day = parse_day(&options.start_date, "start date")?;
    let end_day = parse_day(&options.end_date, "end date")?;
    if end_day < start_day + 31 {
        return Err(Error::Options(format!(
            "the period {}..{} must span at least 31 days",
            options.start_date, options.end_date
        )));
    }
    std::fs::create_dir_all(&options.out).map_err(|source| Error::Io {
        path: options.out.clone(),
        source,
    })?;
    let world = World {
        seed: options.seed,
        customers: options.customers,
        products: options.products,
        start_day,
        end_day,
    };
    let jobs: [(&str, Columns, u64); 4] = [
        ("transactions", tables::TRANSACTIONS, options.transactions),
        ("events", tables::EVENTS, options.events),
        ("customers", tables::CUSTOMERS, options.customers),
        ("products", tables::PRODUCTS, options.products),
    ];
    let results: Vec<(String, Result<TableManifest>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(name, columns, count)| {
                let world = &world;
                let handle = scope
                    .spawn(move || generate_one(options, world, name, columns, *count, progress));
                (name.to_string(), handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, handle)| {
                let result = handle.join().unwrap_or_else(|_| {
                    Err(Error::Internal(format!("generator for {name} panicked")))
                });
                (name, result)
            })
            .collect()
    });
    let mut manifest = Manifest {
        seed: options.seed,
        format: options.format.name().to_string(),
        defect_rate: options.defect_rate,
        start_date: options.start_date.clone(),
        end_date: options.end_date.clone(),
        tables: Default::default(),
    };
    let mut failure = None;
    for (name, result) in results {
        match result {
            Ok(table) => {
                manifest.tables.insert(name, table);
            }
            Err(err) => failure = Some(err),
        }
    }
    if let Some(err) = failure {
        remove_outputs(options);
        return Err(err);
    }
    write_manifest(&options.out, &manifest)?;
    Ok(manifest)
}

/// Removes every file this run may have written, finished or not.
fn remove_outputs(options: &GenerateOptions) {
    for name in ["customers", "products", "transactions", "events"] {
        let file = format!("{name}.{}", options.format.name());
        let _ = std::fs::remove_file(options.out.join(&file));
        let _ = std::fs::remove_file(options.out.join(format!("{file}.partial")));
    }
}

fn write_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    let path = out.join("manifest.json");
    let temp = out.join("manifest.json.partial");
    let text =
        serde_json::to_string_pretty(manifest).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&temp, text).map_err(|source| Error::Io {
        path: temp.clone(),
        source,
    })?;
    std::fs::rename(&temp, &path).map_err(|source| Error::Io { path, source })
}

/// Reads a `manifest.json`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Options(format!("{}: {e}", path.display())))
}
