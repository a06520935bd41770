//! Deterministic synthetic e-commerce data (customers, products, transactions, events) with the
//! defects a real feed has, and a `manifest.json` that counts every injected defect exactly.
//!
//! The same seed and options always produce byte-identical files, on any machine.

pub mod error;
pub mod manifest;
pub mod rng;
pub mod sink;
pub mod stream_events;
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

/// A table generator: world, rows, defect rate, sink, manifest, progress.
type TableFn<S> = fn(&World, u64, f64, &mut S, &mut TableManifest, Progress<'_>) -> Result<()>;

fn table_fn<S: Sink>(name: &str) -> TableFn<S> {
    match name {
        "customers" => tables::customers,
        "products" => tables::products,
        "transactions" => tables::transactions,
        _ => tables::events,
    }
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
    let fill = |manifest: &mut TableManifest| -> Result<()> {
        match options.format {
            OutputFormat::Csv => {
                let mut sink = CsvSink::create(&path, columns)?;
                table_fn(name)(world, count, rate, &mut sink, manifest, progress)?;
                sink.finish()
            }
            OutputFormat::Parquet => {
                let mut sink = ParquetSink::create(&path, columns)?;
                table_fn(name)(world, count, rate, &mut sink, manifest, progress)?;
                sink.finish()
            }
        }
    };
    fill(&mut manifest)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(out: &Path, rate: f64, format: OutputFormat) -> GenerateOptions {
        GenerateOptions {
            seed: 3,
            customers: 500,
            products: 40,
            transactions: 4_000,
            events: 2_000,
            defect_rate: rate,
            format,
            out: out.to_path_buf(),
            start_date: "2023-01-01".into(),
            end_date: "2024-12-31".into(),
        }
    }

    #[test]
    fn manifest_counts_match_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = generate(&options(dir.path(), 0.1, OutputFormat::Csv), &|_| {}).unwrap();
        for (name, table) in &manifest.tables {
            let text = std::fs::read_to_string(dir.path().join(&table.file)).unwrap();
            // Product names may hold quoted commas but never newlines, so lines are records.
            assert_eq!(text.lines().count() as u64 - 1, table.data_rows, "{name}");
            let structural: u64 = STRUCTURAL_DEFECTS.iter().map(|d| table.defect(d)).sum();
            assert_eq!(structural, table.structural_defects, "{name}");
            assert!(table.defects.values().sum::<u64>() > 0, "{name}");
        }
        let customers = &manifest.tables["customers"];
        assert_eq!(
            customers.data_rows,
            500 + customers.defect("duplicate_customer_id") + customers.structural_defects
        );
        assert!(!dir.path().join("customers.csv.partial").exists());
    }

    #[test]
    fn zero_defect_rate_gives_clean_data() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = generate(&options(dir.path(), 0.0, OutputFormat::Csv), &|_| {}).unwrap();
        for table in manifest.tables.values() {
            assert!(table.defects.is_empty());
            assert_eq!(table.data_rows, table.loadable_rows);
        }
        assert_eq!(manifest.tables["transactions"].data_rows, 4_000);
    }

    #[test]
    fn parquet_output_has_no_structural_defects_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = generate(&options(dir.path(), 0.2, OutputFormat::Parquet), &|_| {}).unwrap();
        let table = &manifest.tables["transactions"];
        assert_eq!(table.structural_defects, 0);
        let file = std::fs::File::open(dir.path().join("transactions.parquet")).unwrap();
        let reader =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                file,
            )
            .unwrap()
            .build()
            .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows as u64, table.data_rows);
    }

    #[test]
    fn bad_options_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = options(dir.path(), 0.1, OutputFormat::Csv);
        bad.end_date = "2023-01-15".into();
        assert!(matches!(generate(&bad, &|_| {}), Err(Error::Options(_))));
        bad.end_date = "2023-13-01".into();
        assert!(
            generate(&bad, &|_| {})
                .unwrap_err()
                .to_string()
                .contains("not a date")
        );
    }
}
