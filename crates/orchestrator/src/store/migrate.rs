//! Schema migrations, embedded in the binary: one list per dialect, applied in order and
//! recorded in `schema_migrations`.
//!
//! Each migration and the row recording it are applied in one transaction, after taking the
//! database's write lock (`BEGIN IMMEDIATE` on SQLite, a transaction-scoped advisory lock on
//! PostgreSQL) and checking again whether another process applied it meanwhile, so schedulers
//! starting together never apply a migration twice.

/// One migration: its name (recorded in `schema_migrations.version`) and its SQL.
pub(crate) type Migration = (&'static str, &'static str);

/// The SQLite migrations, oldest first. Names are the file names without `.sql`.
pub(crate) const SQLITE: &[Migration] = &[
    (
        "0001_orchestrator",
        include_str!("../../migrations/sqlite/0001_orchestrator.sql"),
    ),
    (
        "0002_quality_results",
        include_str!("../../migrations/sqlite/0002_quality_results.sql"),
    ),
    (
        "0003_stage_runs",
        include_str!("../../migrations/sqlite/0003_stage_runs.sql"),
    ),
    (
        "0004_alerts",
        include_str!("../../migrations/sqlite/0004_alerts.sql"),
    ),
];

/// The PostgreSQL migrations, oldest first; the same names as [`SQLITE`].
pub(crate) const POSTGRES: &[Migration] = &[
    (
        "0001_orchestrator",
        include_str!("../../migrations/postgres/0001_orchestrator.sql"),
    ),
    (
        "0002_quality_results",
        include_str!("../../migrations/postgres/0002_quality_results.sql"),
    ),
    (
        "0003_stage_runs",
        include_str!("../../migrations/postgres/0003_stage_runs.sql"),
    ),
    (
        "0004_alerts",
        include_str!("../../migrations/postgres/0004_alerts.sql"),
    ),
];

/// Creates the table recording applied migrations; valid in both dialects.
pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    TEXT PRIMARY KEY,
    applied_at BIGINT NOT NULL
)";

/// Key of the PostgreSQL advisory lock serialising migrations ("dataflow" in ASCII).
pub(crate) const PG_LOCK_KEY: i64 = 0x6461_7461_666c_6f77;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_list_the_same_migrations() {
        let sqlite: Vec<_> = SQLITE.iter().map(|(name, _)| *name).collect();
        let postgres: Vec<_> = POSTGRES.iter().map(|(name, _)| *name).collect();
        assert_eq!(sqlite, postgres);
        let mut sorted = sqlite.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, sqlite, "names must be unique and in order");
    }
}
