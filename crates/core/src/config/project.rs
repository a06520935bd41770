//! The top level of `dataflow.yml`: project name, lake location, ingest defaults and sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::alerts::AlertsConfig;
use super::orchestrator::OrchestratorConfig;
use super::serve::ServeConfig;
use super::source::SourceConfig;

/// The contents of `dataflow.yml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Project name, used in logs and artifacts.
    pub name: String,
    /// Free-text description of the project.
    #[serde(default)]
    pub description: Option<String>,
    /// Where the lake lives.
    #[serde(default)]
    pub lake: LakeConfig,
    /// Defaults for every ingest.
    #[serde(default)]
    pub ingest: IngestDefaults,
    /// Data sources, by name. Each lands in the lake as `raw_<name>`.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// Scheduler, executor and metadata store settings.
    #[serde(default)]
    pub orchestrator: OrchestratorConfig,
    /// The `dataflow serve` process: HTTP listener and hosted scheduler.
    #[serde(default)]
    pub serve: ServeConfig,
    /// Alert delivery and thresholds of `dataflow alerts evaluate`.
    #[serde(default)]
    pub alerts: AlertsConfig,
}

/// Lake location and storage options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// A directory (relative to the project directory) or a URL such as `s3://bucket/lake`.
    #[serde(default = "default_lake_location")]
    pub location: String,
    /// Options passed to the object store (e.g. `AWS_REGION`); secrets belong in the environment.
    #[serde(default)]
    pub storage_options: BTreeMap<String, String>,
}

fn default_lake_location() -> String {
    "lake".to_string()
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            location: default_lake_location(),
            storage_options: BTreeMap::new(),
        }
    }
}

/// Defaults applied to every source unless the source overrides them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestDefaults {
    /// The ingest of a source fails when more than this fraction of its rows are bad.
    #[serde(default = "default_max_bad_row_fraction")]
    pub max_bad_row_fraction: f64,
    /// Rows per Arrow record batch while loading.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
}

fn default_max_bad_row_fraction() -> f64 {
    0.05
}

fn default_batch_rows() -> usize {
    65_536
}

impl Default for IngestDefaults {
    fn default() -> Self {
        IngestDefaults {
            max_bad_row_fraction: default_max_bad_row_fraction(),
            batch_rows: default_batch_rows(),
        }
    }
}

/// A loaded project: its directory and validated configuration.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project directory; relative paths in the configuration resolve against it.
    pub dir: PathBuf,
    /// The configuration file that was loaded.
    pub file: PathBuf,
    /// The validated configuration.
    pub config: ProjectConfig,
}

impl Project {
    /// Resolves a path from the configuration against the project directory. URLs
    /// (`s3://…`, `file://…`) and absolute paths are returned unchanged.
    pub fn resolve(&self, location: &str) -> String {
        if location.contains("://") || Path::new(location).is_absolute() {
            location.to_string()
        } else {
            self.dir.join(location).to_string_lossy().into_owned()
        }
    }

    /// The lake location, resolved against the project directory.
    pub fn lake_location(&self) -> String {
        self.resolve(&self.config.lake.location)
    }
}
