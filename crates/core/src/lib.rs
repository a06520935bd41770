//! Shared foundations of dataflow: project configuration, column types, ids, time helpers and
//! the error classification every other crate builds on.
//!
//! Nothing here does I/O beyond reading a project's configuration files.

pub mod config;
pub mod error;
pub mod ids;
pub mod suggest;
pub mod time;
pub mod types;

pub use error::{Error, ErrorKind, Result};
