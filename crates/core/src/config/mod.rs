//! Project configuration: the `dataflow.yml` file of a project directory, its sources and
//! lake location, loaded strictly (unknown keys, wrong types and missing fields are errors
//! naming file, line and the valid choices) and layered with `DATAFLOW__*` environment variables.

mod alerts;
mod load;
mod orchestrator;
mod project;
mod serve;
mod source;

pub use alerts::AlertsConfig;
pub use load::{
    PROJECT_FILE, apply_env_overrides, load_project, load_project_or_dbt, locate, parse_yaml,
};
pub use orchestrator::OrchestratorConfig;
pub use project::{IngestDefaults, LakeConfig, Project, ProjectConfig};
pub use serve::ServeConfig;
pub use source::{ColumnConfig, CsvOptions, FileFormat, SourceConfig, SourceType};
