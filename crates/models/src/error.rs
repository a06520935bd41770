//! Errors of the models layer: every one names the model file (and line, where known).

use std::path::PathBuf;

use dataflow_core::ErrorKind;

/// Errors while loading, compiling or running a dbt-style project.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `dbt_project.yml` or a schema file is missing or invalid.
    #[error("{path}: {message}")]
    Project {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model's Jinja does not render.
    #[error("{}: {message}", at_line(path, *line))]
    Render {
        /// The model file.
        path: PathBuf,
        /// 1-based line in the model file (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The ref graph is broken: an unknown model or a cycle.
    #[error("{0}")]
    Graph(String),
    /// A model's SQL failed to plan or run.
    #[error("model `{model}` ({path}): {message}\n{}", crate::sql_position::excerpt(.sql, .message))]
    Sql {
        /// The model.
        model: String,
        /// Its file.
        path: PathBuf,
        /// The engine's message.
        message: String,
        /// The compiled SQL.
        sql: String,
    },
    /// The lake failed.
    #[error(transparent)]
    Engine(Box<dataflow_engine::Error>),
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
            Error::Project { .. } | Error::Render { .. } | Error::Graph(_) => ErrorKind::Config,
            Error::Sql { .. } => ErrorKind::Data,
            Error::Engine(err) => err.kind(),
        }
    }
}

/// `path:line`, or just `path` when the line is unknown (0).
fn at_line(path: &std::path::Path, line: usize) -> String {
    if line == 0 {
        path.display().to_string()
    } else {
        format!("{}:{line}", path.display())
    }
}

/// Result alias for the models layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
