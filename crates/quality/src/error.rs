//! Errors of the quality layer: every one names the suite file and, where it applies, the
//! expectation (by position and type).

use std::path::PathBuf;

use dataflow_core::ErrorKind;

/// Errors while loading or running expectation suites.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A suite file is missing, unreadable or not a suite.
    #[error("{path}: {message}")]
    Suite {
        /// The suite file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One expectation of a suite is invalid (unknown type, bad or missing kwarg).
    #[error("{path}: expectation #{index} ({expectation_type}): {message}")]
    Expectation {
        /// The suite file.
        path: PathBuf,
        /// 1-based position in the suite.
        index: usize,
        /// Its type.
        expectation_type: String,
        /// What is wrong.
        message: String,
    },
    /// The table to validate cannot be read.
    #[error("table `{table}`: {message}")]
    Table {
        /// The table.
        table: String,
        /// The engine's message.
        message: String,
    },
}

impl Error {
    /// Whose fault the error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Suite { .. } | Error::Expectation { .. } => ErrorKind::Config,
            Error::Table { .. } => ErrorKind::Data,
        }
    }
}

/// Result alias for the quality layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
