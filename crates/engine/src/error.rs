//! Errors of the engine layer, classified so callers know whose fault they are.

use dataflow_core::ErrorKind;
use deltalake::kernel::transaction::TransactionError;

/// Errors from the lake and the SQL engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Delta Lake operation failed.
    #[error("lake table `{table}`: {source}")]
    Delta {
        /// The table.
        table: String,
        /// The Delta error.
        source: deltalake::DeltaTableError,
    },
    /// A SQL statement failed to plan or run.
    #[error("{0}")]
    Sql(#[from] datafusion::error::DataFusionError),
    /// A lake location is not valid.
    #[error("invalid lake location `{location}`: {message}")]
    Location {
        /// The location as configured.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// An I/O error on the lake.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// Whose fault the error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Location { .. } => ErrorKind::Config,
            Error::Sql(err) => match err.find_root() {
                datafusion::error::DataFusionError::SQL(..)
                | datafusion::error::DataFusionError::Plan(_)
                | datafusion::error::DataFusionError::SchemaError(..) => ErrorKind::Config,
                datafusion::error::DataFusionError::IoError(_)
                | datafusion::error::DataFusionError::ObjectStore(_) => ErrorKind::External,
                _ => ErrorKind::Internal,
            },
            Error::Delta { source, .. } => match source {
                deltalake::DeltaTableError::ObjectStore { .. }
                | deltalake::DeltaTableError::Io { .. } => ErrorKind::External,
                // Another writer committed first and the commit cannot be reconciled with
                // it (e.g. two stream processes recording the same Kafka partition around a
                // rebalance): reading the table again and retrying may succeed.
                deltalake::DeltaTableError::VersionAlreadyExists(_)
                | deltalake::DeltaTableError::Transaction {
                    source:
                        TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_),
                } => ErrorKind::External,
                _ => ErrorKind::Internal,
            },
            Error::Io { .. } => ErrorKind::External,
        }
    }

    pub(crate) fn delta(table: &str) -> impl FnOnce(deltalake::DeltaTableError) -> Error + '_ {
        move |source| Error::Delta {
            table: table.to_string(),
            source,
        }
    }
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
