//! `dataflow models docs`: a static documentation site in `target/index.html` — every model,
//! seed and source with its description, columns (types from the lake, descriptions and tests
//! from schema files), SQL as written and compiled, and a lineage graph — plus dbt's
//! `target/catalog.json`. One self-contained file: open it from disk or serve `target/`.

pub mod layout;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dataflow_engine::datafusion::prelude::SessionContext;
use serde_json::{Value, json};

use crate::artifacts::write_json;
use crate::error::{Error, Result};
use crate::project::{DbtProject, Materialization};
use crate::render::Compiled;
use crate::schema_tests::SchemaTest;
use layout::{GraphNode, escape};

/// Column names and types of each relation, by `unique_id`.
pub type Catalog = BTreeMap<String, Vec<(String, String)>>;

const PAGE: &str = include_str!("page.html");

/// Reads the columns of every built model, seed and source from the session. Views are
/// planned (not run); models whose upstream is not built yet are left out, as dbt does.
pub async fn catalog(
    ctx: &SessionContext,
    project: &DbtProject,
    models: &[Compiled],
    introspector: Option<&crate::run::Introspector>,
) -> Catalog {
    let mut catalog = Catalog::new();
    let mut relations: Vec<(String, String)> = Vec::new();
    for model in models {
        if model.materialization == Materialization::View {
            let Ok(model) = crate::run::settle(ctx, introspector, model.clone()).await else {
                continue;
            };
            let statement = format!("CREATE OR REPLACE VIEW {} AS {}", model.name, model.sql);
            if let Ok(frame) = ctx.sql(&statement).await {
                let _ = frame.collect().await;
            }
        }
        if model.materialization != Materialization::Ephemeral {
            relations.push((
                crate::artifacts::model_id(project, &model.name),
                model.name.clone(),
            ));
        }
    }
    for seed in &project.seeds {
        relations.push((
            format!("seed.{}.{}", project.name, seed.name),
            seed.name.clone(),
        ));
    }
    for source in &project.sources {
        relations.push((
            format!("source.{}.{}.{}", project.name, source.source, source.table),
            source.identifier.clone(),
        ));
    }
    for (id, relation) in relations {
        if let Ok(frame) = ctx.table(relation.as_str()).await {
            let columns = frame
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().to_string()))
                .collect();
            catalog.insert(id, columns);
        }
    }
    catalog
}

/// dbt's `catalog.json` (schema v1) for `catalog`.
fn catalog_json(catalog: &Catalog, manifest: &Value) -> Value {
    let mut nodes = serde_json::Map::new();
    let mut sources = serde_json::Map::new();
    for (id, columns) in catalog {
        let name = id.rsplit('.').next().unwrap_or(id);
        let columns: serde_json::Map<String, Value> = columns
            .iter()
            .enumerate()
            .map(|(index, (column, data_type))| {
                (
                    column.clone(),
                    json!({"type": data_type, "index": index + 1, "name": column, "comment": null}),
                )
            })
            .collect();
        let entry = json!({
            "metadata": {"type": "table", "schema": "main", "name": name},
            "columns": columns, "stats": {}, "unique_id": id,
        });
        if id.starts_with("source.") {
            sources.insert(id.clone(), entry);
        } else {
            nodes.insert(id.clone(), entry);
        }
    }
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json",
            "dbt_version": "dataflow", "generated_at": manifest["metadata"]["generated_at"],
            "invocation_id": manifest["metadata"]["invocation_id"],
        },
        "nodes": nodes, "sources": sources, "errors": null,
    })
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default()
}

/// One node of the page's data: what the sidebar, detail view and graph need.
fn page_node(node: &Value, manifest: &Value, catalog: &Catalog, tests: &[SchemaTest]) -> Value {
    let id = text(&node["unique_id"]);
    let name = text(&node["name"]);
    let kind = text(&node["resource_type"]);
    let documented = node["columns"].as_object().cloned().unwrap_or_default();
    let mut columns: Vec<Value> = Vec::new();
    let mut seen = Vec::new();
    let tests_of = |column: &str| -> Vec<String> {
        tests
            .iter()
            .filter(|t| kind == "model" && t.model == name && t.column == column)
            .map(|t| t.name.clone())
            .collect()
    };
    for (column, data_type) in catalog.get(&id).into_iter().flatten() {
        seen.push(column.clone());
        columns.push(json!({
            "name": column, "type": data_type,
            "description": documented.get(column).map(|c| text(&c["description"])).unwrap_or_default(),
            "tests": tests_of(column),
        }));
    }
    for (column, doc) in &documented {
        if !seen.contains(column) {
            columns.push(json!({
                "name": column, "type": "", "description": text(&doc["description"]),
                "tests": tests_of(column),
            }));
        }
    }
    let model_tests: Vec<String> = tests
        .iter()
        .filter(|t| kind == "model" && t.model == name && t.column.is_empty())
        .map(|t| t.name.clone())
        .collect();
    json!({
        "id": id, "name": name, "kind": kind,
        "label": if kind == "source" { format!("{}.{}", text(&node["source_name"]), name) } else { name.clone() },
        "materialized": node["config"]["materialized"], "path": node["original_file_path"],
        "description": node["description"], "tags": node["tags"], "identifier": node["identifier"],
        "columns": columns, "tests": model_tests,
        "raw_code": node["raw_code"], "compiled_code": node["compiled_code"],
        "parents": ids(&manifest["parent_map"][&id]), "children": ids(&manifest["child_map"][&id]),
    })
}

/// Writes `target/index.html` and `target/catalog.json`; returns the page's path.
pub fn write_site(
    target: &Path,
    manifest: &Value,
    catalog: &Catalog,
    tests: &[SchemaTest],
) -> Result<PathBuf> {
    let mut entries: Vec<&Value> = Vec::new();
    for group in ["nodes", "sources"] {
        if let Some(map) = manifest[group].as_object() {
            entries.extend(map.values());
        }
    }
    let nodes: Vec<Value> = entries
        .iter()
        .map(|n| page_node(n, manifest, catalog, tests))
        .collect();
    let graph_nodes: Vec<GraphNode> = nodes
        .iter()
        .map(|n| GraphNode {
            id: text(&n["id"]),
            name: text(&n["label"]),
            kind: text(&n["kind"]),
        })
        .collect();
    let index: BTreeMap<&str, usize> = graph_nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut edges = Vec::new();
    for (child, node) in nodes.iter().enumerate() {
        for parent in ids(&node["parents"]) {
            if let Some(&parent) = index.get(parent.as_str()) {
                edges.push((parent, child));
            }
        }
    }
    let project = text(&manifest["metadata"]["project_name"]);
    let data = json!({
        "project": project, "generated_at": manifest["metadata"]["generated_at"], "nodes": nodes,
    });
    // `</` inside a script element would end it early.
    let data = data.to_string().replace("</", "<\\/");
    let page = PAGE
        .replace("__TITLE__", &escape(&project))
        .replace("__SVG__", &layout::svg(&graph_nodes, &edges))
        .replace("__DATA__", &data);
    let path = target.join("index.html");
    let io = |e: std::io::Error| Error::Project {
        path: path.clone(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(target).map_err(io)?;
    let temp = target.join("index.html.partial");
    std::fs::write(&temp, page).map_err(io)?;
    std::fs::rename(&temp, &path).map_err(io)?;
    write_json(
        &target.join("catalog.json"),
        &catalog_json(catalog, manifest),
    )?;
    Ok(path)
}
