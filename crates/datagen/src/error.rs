//! Errors of the generator.

use std::path::PathBuf;

/// Errors while generating data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing an output file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The options make no sense (e.g. zero customers with transactions).
    #[error("{0}")]
    Options(String),
    /// Encoding Arrow or Parquet failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whose fault the error is.
    pub fn kind(&self) -> dataflow_core::ErrorKind {
        match self {
            Error::Io { .. } => dataflow_core::ErrorKind::External,
            Error::Options(_) => dataflow_core::ErrorKind::Config,
            Error::Internal(_) => dataflow_core::ErrorKind::Internal,
        }
    }
}

/// Result alias for the generator.
pub type Result<T, E = Error> = std::result::Result<T, E>;
