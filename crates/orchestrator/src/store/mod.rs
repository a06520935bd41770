//! The metadata store: DAGs, runs, task instances, attempts, schedulers and SLA misses in
//! SQLite (the default, a file in the project) or PostgreSQL (by URL), with the same schema
//! and migrations in `migrations/`. `db` is the one API over both; the other modules are the
//! orchestrator's queries, written once against it.

pub mod db;
mod migrate;
mod quality;
pub mod records;
mod runs;
mod schedulers;
mod sla;
mod tasks;

pub use db::{Backend, Db, Row, Tx, Value};
pub use quality::QualityResult;
pub use records::{AttemptRecord, RunRecord, TaskRecord};
pub use runs::NewRun;
pub use schedulers::Recovered;
pub use sla::SlaMiss;
pub use tasks::Finish;

use crate::error::Result;

/// The orchestrator's view of the metadata store.
#[derive(Debug, Clone)]
pub struct Store {
    /// The database.
    pub db: Db,
}

impl Store {
    /// Connects to the store at `url` and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(Store { db })
    }
}
