//! The `orchestrator:` section of `dataflow.yml`: where run history is kept, how many tasks run
//! at once, concurrency pools, and where task logs go.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Settings of the scheduler and executor.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrchestratorConfig {
    /// The metadata store: a SQLite file (relative to the project directory) or a
    /// `postgres://user@host:port/db` URL. Passwords belong in `PGPASSWORD`, not here.
    #[serde(default = "default_metadata_url")]
    pub metadata_url: String,
    /// Tasks one scheduler process runs at once (worker slots).
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Named concurrency pools and their slots, shared by every scheduler on the same store.
    /// Tasks without a pool use `default_pool` (128 slots unless declared here).
    #[serde(default)]
    pub pools: BTreeMap<String, u32>,
    /// Where per-attempt task logs are written, relative to the project directory.
    #[serde(default = "default_logs_dir")]
    pub logs_dir: String,
    /// Seconds without a heartbeat after which another scheduler takes over a scheduler's tasks.
    #[serde(default = "default_scheduler_timeout_secs")]
    pub scheduler_timeout_secs: u64,
}

fn default_metadata_url() -> String {
    "target/dataflow.db".to_string()
}

fn default_workers() -> u32 {
    8
}

fn default_logs_dir() -> String {
    "target/logs".to_string()
}

fn default_scheduler_timeout_secs() -> u64 {
    15
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        OrchestratorConfig {
            metadata_url: default_metadata_url(),
            workers: default_workers(),
            pools: BTreeMap::new(),
            logs_dir: default_logs_dir(),
            scheduler_timeout_secs: default_scheduler_timeout_secs(),
        }
    }
}
