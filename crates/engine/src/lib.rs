//! The storage and SQL engine of dataflow: the lake (a directory or bucket of Delta Lake tables),
//! atomic table writes with application transaction ids, and a DataFusion session that sees every
//! lake table by name.

pub mod compact;
pub mod dialect;
pub mod error;
pub mod lake;
pub mod schema;
pub mod session;
pub mod string_agg;
pub mod utc;
pub mod views;
pub mod window;
pub mod writer;

pub use dialect::session_context;
pub use error::{Error, Result};
pub use lake::{Lake, TableInfo};
pub use session::{collect_sql, new_session, register_lake_table};
pub use writer::{AppTransaction, TableWriter, transaction_version};

/// Re-exported so higher layers use the exact Arrow and DataFusion versions of the engine.
pub use datafusion;
/// Re-exported Delta Lake crate.
pub use deltalake;
