//! The metadata store: DAGs, runs, task instances, attempts, schedulers, SLA misses, quality
//! results and stage runs in SQLite (the default, a file in the project) or PostgreSQL (by
//! URL), with the same schema and migrations in `migrations/`. `db` is the one API over both;
//! the other modules are the queries, written once against it.

pub mod db;
mod migrate;
mod quality;
pub mod records;
mod runs;
mod schedulers;
mod sla;
mod stages;
mod tasks;

pub use db::{Backend, Db, Row, Tx, Value};
pub use quality::QualityResult;
pub use records::{AttemptRecord, RunRecord, TaskRecord};
pub use runs::NewRun;
pub use schedulers::Recovered;
pub use sla::SlaMiss;
pub use stages::{Stage, StageRun, StageStatus};
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
