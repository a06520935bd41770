//! The error type shared by configuration and the thin layers above it, and the classification
//! (user, external, internal) that decides exit codes and retries everywhere.

use std::path::PathBuf;

/// Who is at fault for an error, which decides exit codes and whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad configuration or arguments: fix the input, do not retry. Exit code 2.
    Config,
    /// Bad data: the job ran and the data failed a check. Exit code 1.
    Data,
    /// An external system (file system, network, database) failed; may succeed on retry.
    External,
    /// A bug in dataflow.
    Internal,
}

impl ErrorKind {
    /// The process exit code for an error of this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Config => 2,
            ErrorKind::Data | ErrorKind::External | ErrorKind::Internal => 1,
        }
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::External)
    }
}

/// Errors raised while loading and validating project configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A configuration file is not valid: syntax, unknown keys, wrong types.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// A value given on the command line or in the environment is not valid.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Read { .. } | Error::Invalid { .. } | Error::Usage(_) => ErrorKind::Config,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
