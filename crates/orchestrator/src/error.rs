//! Errors of the orchestrator: bad pipeline files (the user's), metadata-store and network
//! failures (external, retryable), and task failures.

use std::path::PathBuf;

use dataflow_core::ErrorKind;

/// Errors raised by the orchestrator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pipeline file is not valid: syntax, unknown keys, bad cron, cycles, unknown upstreams.
    #[error("{path}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Spec {
        /// The pipeline file.
        path: PathBuf,
        /// The 1-based line the problem is on, where known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A value given on the command line is not valid (unknown DAG, bad date).
    #[error("{0}")]
    Usage(String),
    /// The metadata store failed (connection, query, migration).
    #[error("metadata store {target}: {message}")]
    Store {
        /// The database: a SQLite file or `host:port/dbname` (never a password).
        target: String,
        /// What failed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Project configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] dataflow_core::Error),
}

impl Error {
    /// The classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Spec { .. } | Error::Usage(_) => ErrorKind::Config,
            Error::Store { .. } | Error::Io { .. } => ErrorKind::External,
            Error::Config(err) => err.kind(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
