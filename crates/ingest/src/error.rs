//! Errors of the ingest layer. Row-level problems are not errors (they go to quarantine); these
//! are problems with a whole file or source.

use dataflow_core::ErrorKind;

/// Errors while ingesting a source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No file matched the source's path.
    #[error("source `{source_name}`: no files match `{path}`")]
    NoFiles {
        /// The source.
        source_name: String,
        /// The configured path.
        path: String,
    },
    /// A file cannot be read as the declared format (bad header, missing columns, not Parquet).
    #[error("source `{source_name}`: {file}: {message}")]
    BadFile {
        /// The source.
        source_name: String,
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The lake table's schema is not the declared one.
    #[error("table `{table}`: {message}")]
    SchemaMismatch {
        /// The table.
        table: String,
        /// Both schemas.
        message: String,
    },
    /// Too many rows were bad; nothing was loaded into the raw table.
    #[error(
        "source `{source_name}`: {bad} of {total} rows ({percent:.2}%) are bad, more than the allowed {allowed_percent:.2}%; nothing was loaded (see table `{quarantine}`)"
    )]
    TooManyBadRows {
        /// The source.
        source_name: String,
        /// Bad rows.
        bad: u64,
        /// All rows read.
        total: u64,
        /// Bad rows in percent.
        percent: f64,
        /// The threshold in percent.
        allowed_percent: f64,
        /// Where the bad rows are.
        quarantine: String,
    },
    /// Reading a file or object failed.
    #[error("{context}: {message}")]
    Io {
        /// What was being read.
        context: String,
        /// The error.
        message: String,
    },
    /// The lake failed.
    #[error(transparent)]
    Engine(Box<dataflow_engine::Error>),
    /// Building Arrow data failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<dataflow_engine::Error> for Error {
    fn from(err: dataflow_engine::Error) -> Self {
        Error::Engine(Box::new(err))
    }
}

impl Error {
    /// Whose fault the error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoFiles { .. }
            | Error::BadFile { .. }
            | Error::SchemaMismatch { .. }
            | Error::TooManyBadRows { .. } => ErrorKind::Data,
            Error::Io { .. } => ErrorKind::External,
            Error::Engine(err) => err.kind(),
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn internal(err: impl std::fmt::Display) -> Error {
        Error::Internal(err.to_string())
    }
}

/// Result alias for ingest.
pub type Result<T, E = Error> = std::result::Result<T, E>;
