//! Ingest: a project's sources into the lake. Files (CSV, JSON lines, Parquet; local paths, globs
//! or object-store URLs) are parsed against the declared schema; good rows land in `raw_<source>`
//! with lineage columns, bad rows in `quarantine_<source>` with file, line, column, raw text and
//! reason. Loads are atomic and idempotent (see [`load`]).

pub mod batch;
pub mod error;
pub mod files;
pub mod load;
pub mod parse;
pub mod read;
pub mod reader;

pub use error::{Error, Result};
pub use load::{
    FileOutcome, FileReport, SourceReport, ingest_source, quarantine_table_name, raw_table_name,
};
