//! dbt-compatible SQL projects on DataFusion: `dbt_project.yml`, models with Jinja (`ref`,
//! `source`, `config`, `var`, macros), the ref graph, and `view`/`table` materializations into
//! the lake.
//!
//! This is the first slice of the layer: incremental and ephemeral models, seeds, tests,
//! selection and the dbt artifacts come next.

pub mod error;
pub mod graph;
pub mod macros;
pub mod project;
pub mod render;
pub mod run;
pub mod schema_tests;
pub mod select;

pub use error::{Error, Result};
pub use graph::build_order;
pub use project::{DbtProject, Materialization, Model, ModelConfig, SourceTable};
pub use render::{Compiled, RenderContext, compile};
pub use run::{
    NodeResult, Status, TestResult, TestStatus, register_views, run, test, write_compiled,
};
pub use schema_tests::{SchemaTest, Severity, schema_tests};
pub use select::select;

/// Renders every enabled model and returns them in build order.
pub fn compile_project(project: &DbtProject, ctx: &RenderContext) -> Result<Vec<Compiled>> {
    let mut compiled = Vec::new();
    for model in &project.models {
        let model = compile(project, model, ctx)?;
        if model.config.enabled {
            compiled.push(model);
        }
    }
    let order = build_order(&compiled)?;
    Ok(order.into_iter().map(|i| compiled[i].clone()).collect())
}
