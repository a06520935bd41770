//! Logging setup: `tracing` to stderr, pretty or one JSON object per line, filtered by
//! `RUST_LOG`-style directives. Every line carries the `run` span and so the run id.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line (for Elasticsearch, Loki, ...).
    Json,
}

const DEFAULT_FILTER: &str = "warn,dataflow=info,dataflow_core=info,dataflow_engine=info,dataflow_ingest=info,dataflow_datagen=info";

/// Installs the global subscriber. `level` (from `--log-level`) wins over `RUST_LOG`.
pub fn init(format: LogFormat, level: Option<&str>) -> anyhow::Result<()> {
    let directives = match level {
        Some(level) => level.to_string(),
        None => std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_string()),
    };
    let filter = EnvFilter::try_new(&directives)
        .map_err(|e| anyhow::anyhow!("invalid log filter `{directives}`: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}
