//! One data source of a project: where its files are, their format and the declared schema
//! (column types, nullability, primary key) that ingest enforces row by row.

use serde::{Deserialize, Serialize};

use crate::types::ColumnType;

/// How a source is reached. Only files exist today; databases, REST and Kafka come later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// Files on a local path or in an object store.
    #[default]
    File,
}

/// The format of a file source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Comma-separated values with a header row (RFC 4180).
    Csv,
    /// One JSON object per line.
    Json,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Json => "jsonl",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// A source definition under `sources:` in `dataflow.yml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// How the source is reached.
    #[serde(default, rename = "type")]
    pub source_type: SourceType,
    /// File format.
    pub format: FileFormat,
    /// A file, directory or glob (`data/*.csv`), relative to the project directory, or a URL
    /// (`s3://bucket/prefix/*.csv`, `file:///abs/path`).
    pub path: String,
    /// What the source holds.
    #[serde(default)]
    pub description: Option<String>,
    /// Columns that identify a row. Checked by the quality layer, recorded in the lake.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// CSV options; only for `format: csv`.
    #[serde(default)]
    pub csv: CsvOptions,
    /// Overrides the project's `ingest.max_bad_row_fraction` for this source.
    #[serde(default)]
    pub max_bad_row_fraction: Option<f64>,
    /// The declared schema, in column order.
    pub columns: Vec<ColumnConfig>,
}

/// CSV dialect options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Field delimiter, one ASCII character.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Whether the first line names the columns. Without a header, fields are taken in the
    /// declared column order.
    #[serde(default = "default_true")]
    pub header: bool,
}

fn default_delimiter() -> char {
    ','
}

fn default_true() -> bool {
    true
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: default_delimiter(),
            header: true,
        }
    }
}

/// One declared column.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Column name as it appears in the file header or JSON key.
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// Whether nulls (empty fields) are allowed; a null in a non-nullable column quarantines the row.
    #[serde(default = "default_true")]
    pub nullable: bool,
    /// What the column means.
    #[serde(default)]
    pub description: Option<String>,
}

impl SourceConfig {
    /// Checks what serde cannot: unique column names, a known primary key, a sane threshold.
    /// Returns the problems as (key path, message) pairs.
    pub fn validate(&self, name: &str) -> Vec<(Vec<String>, String)> {
        let mut problems = Vec::new();
        let at = |key: &str| vec!["sources".to_string(), name.to_string(), key.to_string()];
        if self.columns.is_empty() {
            problems.push((
                at("columns"),
                "a source needs at least one column".to_string(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for column in &self.columns {
            if !seen.insert(column.name.as_str()) {
                problems.push((
                    at("columns"),
                    format!("column `{}` is declared twice", column.name),
                ));
            }
            if column.name.starts_with('_') {
                problems.push((
                    at("columns"),
                    format!(
                        "column `{}`: names starting with `_` are reserved for dataflow's own columns",
                        column.name
                    ),
                ));
            }
        }
        for key in &self.primary_key {
            if !self.columns.iter().any(|c| &c.name == key) {
                let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
                problems.push((
                    at("primary_key"),
                    format!(
                        "primary key column `{key}` is not a declared column; declared: {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        if let Some(fraction) = self.max_bad_row_fraction
            && !(0.0..=1.0).contains(&fraction)
        {
            problems.push((
                at("max_bad_row_fraction"),
                format!("must be between 0 and 1, got {fraction}"),
            ));
        }
        if !self.csv.delimiter.is_ascii() {
            problems.push((
                at("csv"),
                "delimiter must be one ASCII character".to_string(),
            ));
        }
        if self.format != FileFormat::Csv && !self.csv.header {
            problems.push((
                at("csv"),
                "csv options apply only to `format: csv`".to_string(),
            ));
        }
        problems
    }
}
