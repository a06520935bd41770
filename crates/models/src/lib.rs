//! dbt-compatible SQL projects on DataFusion: `dbt_project.yml`, models with Jinja (`ref`,
//! `source`, `config`, `var`, macros), the ref graph, and `view`/`table` materializations into
//! the lake.
//!
//! Also incremental and ephemeral models, seeds, data tests and dbt unit tests, selection,
//! and the dbt artifacts.

use std::collections::BTreeSet;

pub mod adapter;
pub mod artifacts;
pub mod docs;
pub mod error;
pub mod freshness;
pub mod graph;
pub mod incremental;
pub mod introspect;
pub mod macros;
pub mod project;
pub(crate) mod relation_macros;
pub mod render;
pub mod run;
pub mod schema_tests;
pub mod seed;
pub mod select;
pub mod sql_position;
pub mod testing;
pub mod unit;
pub(crate) mod utils_macros;
pub mod utils_tests;

pub use error::{Error, Result};
pub use graph::build_order;
pub use project::{DbtProject, Materialization, Model, ModelConfig, Seed, SourceTable};
pub use render::{Compiled, RenderContext, compile};
pub use run::{
    BuildEvent, Introspector, NodeResult, Recompile, RunOptions, Status, register_views, run,
    run_with_unit_tests, settle, write_compiled,
};
pub use schema_tests::{SchemaTest, Severity, schema_tests, singular_tests};
pub use seed::load_seed;
pub use select::{select, select_tests};
pub use testing::{TestResult, TestStatus, test};

/// Renders every enabled model and returns them in build order, ephemeral models inlined as
/// CTEs into the models that ref them. A model whose Jinja fails is returned with its
/// `render_error` (as dbt's run goes on past one broken node); an unknown ref or a cycle is an
/// error for the whole project.
pub fn compile_project(project: &DbtProject, ctx: &RenderContext) -> Result<Vec<Compiled>> {
    let render_all = |ephemeral: &BTreeSet<String>| -> Result<Vec<Compiled>> {
        Ok(project
            .models
            .iter()
            .map(|m| {
                compile(project, m, ctx, ephemeral).unwrap_or_else(|err| Compiled::failed(m, &err))
            })
            .collect())
    };
    let mut compiled = render_all(&BTreeSet::new())?;
    let ephemeral: BTreeSet<String> = compiled
        .iter()
        .filter(|m| m.materialization == Materialization::Ephemeral)
        .map(|m| m.name.clone())
        .collect();
    if !ephemeral.is_empty() {
        // Second pass: ref() to an ephemeral model now names its CTE.
        compiled = render_all(&ephemeral)?;
    }
    compiled.retain(|m| m.config.enabled);
    for model in &mut compiled {
        model.unit_tests = unit_test_names(project, &model.name);
    }
    let seeds: BTreeSet<String> = project.seeds.iter().map(|s| s.name.clone()).collect();
    let order = build_order(&compiled, &seeds)?;
    let ordered: Vec<Compiled> = order.into_iter().map(|i| compiled[i].clone()).collect();
    Ok(inline_ephemeral(ordered))
}

/// Renders one model of `all` (the output of [`compile_project`]) again, e.g. once its
/// introspective macros can be answered, with its ephemeral parents inlined the same way.
pub fn recompile(
    project: &DbtProject,
    ctx: &RenderContext,
    all: &[Compiled],
    name: &str,
) -> Result<Compiled> {
    let model = project
        .models
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::Graph(format!("no model named `{name}`")))?;
    let ephemeral: BTreeSet<String> = all
        .iter()
        .filter(|m| m.materialization == Materialization::Ephemeral)
        .map(|m| m.name.clone())
        .collect();
    let mut fresh = compile(project, model, ctx, &ephemeral)?;
    fresh.unit_tests = unit_test_names(project, name);
    let models: Vec<Compiled> = all
        .iter()
        .map(|m| {
            if m.name == name {
                fresh.clone()
            } else {
                m.clone()
            }
        })
        .collect();
    inline_ephemeral(models)
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::Graph(format!("no model named `{name}`")))
}

/// The enabled unit tests of model `name`.
fn unit_test_names(project: &DbtProject, name: &str) -> Vec<String> {
    project
        .unit_tests
        .iter()
        .filter(|t| t.spec.model == name && t.spec.config.enabled)
        .map(|t| t.spec.name.clone())
        .collect()
}

/// Prepends the CTEs of every (transitively) ref'd ephemeral model, in build order.
fn inline_ephemeral(models: Vec<Compiled>) -> Vec<Compiled> {
    let ephemeral: Vec<&Compiled> = models
        .iter()
        .filter(|m| m.materialization == Materialization::Ephemeral)
        .collect();
    if ephemeral.is_empty() {
        return models;
    }
    let raw: std::collections::HashMap<&str, &Compiled> =
        ephemeral.iter().map(|m| (m.name.as_str(), *m)).collect();
    models
        .iter()
        .map(|model| {
            // Transitive ephemeral parents.
            let mut needed = BTreeSet::new();
            let mut stack: Vec<&str> = model.refs.iter().map(String::as_str).collect();
            while let Some(name) = stack.pop() {
                if let Some(parent) = raw.get(name)
                    && needed.insert(name.to_string())
                {
                    stack.extend(parent.refs.iter().map(String::as_str));
                }
            }
            if needed.is_empty() {
                return model.clone();
            }
            // Build order of `models` puts parents first.
            let ctes: Vec<String> = models
                .iter()
                .filter(|m| needed.contains(&m.name))
                .map(|m| format!("{} as ({})", render::cte_name(&m.name), m.sql))
                .collect();
            let mut out = model.clone();
            out.sql = match leading_with(&model.sql) {
                Some((start, end)) => format!(
                    "{}with {}, {}",
                    &model.sql[..start],
                    ctes.join(", "),
                    &model.sql[end..]
                ),
                None => format!("with {} {}", ctes.join(", "), model.sql),
            };
            out
        })
        .collect()
}

/// Where a statement's leading `WITH` keyword is, after whitespace and comments: the byte range
/// of the keyword and the whitespace after it.
fn leading_with(sql: &str) -> Option<(usize, usize)> {
    let mut i = 0;
    let bytes = sql.as_bytes();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if sql[i..].starts_with("/*") {
            i = sql[i..].find("*/").map_or(bytes.len(), |n| i + n + 2);
        } else {
            break;
        }
    }
    let word = sql.get(i..i + 4)?;
    let after = sql[i + 4..].chars().next()?;
    (word.eq_ignore_ascii_case("with") && after.is_whitespace())
        .then(|| (i, i + 4 + after.len_utf8()))
}

#[cfg(test)]
mod tests {
    use super::leading_with;

    #[test]
    fn finds_with_after_comments_and_ignores_other_statements() {
        assert_eq!(
            leading_with("with a as (select 1) select * from a"),
            Some((0, 5))
        );
        let sql = "-- héllo\n/* note */\nWITH\n  a as (select 1) select * from a";
        let (start, end) = leading_with(sql).unwrap();
        assert_eq!(&sql[start..end], "WITH\n");
        assert_eq!(leading_with("select 1 as within"), None);
        assert_eq!(leading_with("withdrawals"), None);
        assert_eq!(leading_with("é"), None);
    }
}
