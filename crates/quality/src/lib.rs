//! Great-Expectations-compatible data quality on DataFusion: expectation suites in GE 1.x JSON,
//! GE 0.x JSON or YAML, evaluated against any table of a session, with results shaped like GE's
//! validation results (`success`, `statistics`, `results[]` with `expectation_config`,
//! `result`, `exception_info`) for each `result_format`.
//!
//! Suites are checked against the expectation [`catalog`] when they load ([`suite`]); the
//! [`validate::Validator`] runs them (map, pair and multicolumn expectations as SQL, aggregates
//! streamed through [`aggregate`], the checks SQL cannot say in [`ordered`], with
//! python-dateutil's parser ported in [`dateutil`]); [`checkpoint`], [`anomaly`],
//! [`schema_check`], [`profile`] and [`data_docs`] build on the results.

pub mod aggregate;
pub mod anomaly;
pub mod catalog;
pub mod checkpoint;
mod counts;
pub mod data_docs;
pub mod dateutil;
pub mod error;
mod map_sql;
pub mod multi;
pub mod ordered;
pub mod profile;
pub mod schema_check;
pub mod sql;
pub mod suite;
mod table;
pub mod validate;

pub use error::{Error, Result};
pub use suite::{Expectation, Suite};
pub use validate::{ResultFormat, Validator};
