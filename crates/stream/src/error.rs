//! Errors of the stream layer, classified like every other crate's: bad configuration (the
//! user's), a broker, lake or database failure (external, retried with backoff), or a bug.

use std::path::PathBuf;

use dataflow_core::ErrorKind;

/// Errors from configuration, Kafka, the sinks and the processor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `streams/*.yml` file is not valid, or no stream matches what was asked for.
    #[error("{path}: {message}")]
    Config {
        /// The file (or the `streams` folder).
        path: PathBuf,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// A command-line value or environment variable is not valid.
    #[error("{0}")]
    Usage(String),
    /// A Kafka operation failed (broker unreachable, topic creation, delivery, commit).
    #[error("kafka: {context}: {source}")]
    Kafka {
        /// What was being done.
        context: String,
        /// The client's error.
        source: rdkafka::error::KafkaError,
    },
    /// The broker refused something or answered unexpectedly.
    #[error("kafka: {0}")]
    Broker(String),
    /// A lake write failed (boxed: the engine's error is large).
    #[error(transparent)]
    Lake(Box<dataflow_engine::Error>),
    /// A PostgreSQL statement failed (shown with the server's message, detail, hint and
    /// context, or the client's cause).
    #[error("postgres ({target}): {context}: {}", postgres_message(.source))]
    Postgres {
        /// `host:port/dbname`.
        target: String,
        /// What was being done.
        context: String,
        /// The driver's error.
        source: tokio_postgres::Error,
    },
    /// A batch's PostgreSQL transaction, run in the background, did not commit: the batch is
    /// not durable and its offsets must not be committed (the pipeline returns the cause).
    #[error("postgres: a batch's transaction did not commit: {0}")]
    NotCommitted(String),
    /// Another processor wrote a partition this one thought it owned (a rebalance the
    /// processor has not seen yet): its state is reloaded from the sinks.
    #[error(
        "partition {topic}/{partition} was written by another processor (expected offset {expected}, found {found})"
    )]
    Ownership {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The last applied offset this processor expected.
        expected: i64,
        /// The last applied offset found.
        found: i64,
    },
    /// Generating events failed.
    #[error(transparent)]
    Generator(#[from] dataflow_datagen::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A bug in dataflow.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<dataflow_engine::Error> for Error {
    fn from(err: dataflow_engine::Error) -> Error {
        Error::Lake(Box::new(err))
    }
}

impl Error {
    /// Whose fault the error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } | Error::Usage(_) => ErrorKind::Config,
            Error::Kafka { .. }
            | Error::Broker(_)
            | Error::Postgres { .. }
            | Error::NotCommitted(_)
            | Error::Io { .. } => ErrorKind::External,
            Error::Ownership { .. } => ErrorKind::External,
            Error::Lake(err) => err.kind(),
            Error::Generator(err) => err.kind(),
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// What failed, as the `dataflow_stream_failures_total` metric labels it.
    pub fn component(&self) -> &'static str {
        match self {
            Error::Config { .. } | Error::Usage(_) => "config",
            Error::Kafka { .. } | Error::Broker(_) => "kafka",
            Error::Postgres { .. } | Error::NotCommitted(_) => "postgres",
            Error::Ownership { .. } => "ownership",
            Error::Io { .. } => "io",
            Error::Lake(_) => "lake",
            Error::Generator(_) => "generator",
            Error::Internal(_) => "internal",
        }
    }

    /// Whether the stream should restart from its committed offsets and try again.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    pub(crate) fn kafka(
        context: impl Into<String>,
    ) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
        let context = context.into();
        move |source| Error::Kafka { context, source }
    }
}

/// What a PostgreSQL error says: the server's message with its SQLSTATE, detail, hint and
/// where it happened, when the server sent one; else the client's error and its causes
/// (tokio_postgres shows only "db error" or "error communicating with the server").
pub fn postgres_message(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        for (label, part) in [
            ("detail", db.detail()),
            ("hint", db.hint()),
            ("where", db.where_()),
        ] {
            if let Some(part) = part {
                text.push_str(&format!("; {label}: {part}"));
            }
        }
        return text;
    }
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}

/// Result alias for the stream layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
