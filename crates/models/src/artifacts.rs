//! dbt's artifacts in `target/`: `manifest.json` (schema v12 key fields) and `run_results.json`
//! (schema v6), so tools built for dbt (lineage, CI, orchestrators) can read what ran.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::project::DbtProject;
use crate::render::Compiled;
use crate::schema_tests::SchemaTest;

/// One executed node for `run_results.json`.
#[derive(Debug, Clone)]
pub struct ResultEntry {
    /// The node's `unique_id`.
    pub unique_id: String,
    /// dbt's status word: success, error, skipped, pass, fail, warn.
    pub status: String,
    /// Wall time.
    pub seconds: f64,
    /// Message (error text, row count).
    pub message: Option<String>,
    /// Failing rows, for tests.
    pub failures: Option<u64>,
}

/// The `unique_id` of a model.
pub fn model_id(project: &DbtProject, name: &str) -> String {
    format!("model.{}.{name}", project.name)
}

fn source_id(project: &DbtProject, source: &str, table: &str) -> String {
    format!("source.{}.{source}.{table}", project.name)
}

fn seed_id(project: &DbtProject, name: &str) -> String {
    format!("seed.{}.{name}", project.name)
}

fn relative(project: &DbtProject, path: &Path) -> String {
    path.strip_prefix(&project.dir)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Descriptions and columns documented for each model in schema files.
fn documentation(project: &DbtProject) -> BTreeMap<String, (String, Value)> {
    let mut docs = BTreeMap::new();
    for (_, schema) in &project.schema_files {
        let Some(models) = schema
            .get("models")
            .and_then(serde_yaml_ng::Value::as_sequence)
        else {
            continue;
        };
        for model in models {
            let Some(name) = model.get("name").and_then(serde_yaml_ng::Value::as_str) else {
                continue;
            };
            let description = model
                .get("description")
                .and_then(serde_yaml_ng::Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut columns = serde_json::Map::new();
            for column in model
                .get("columns")
                .and_then(serde_yaml_ng::Value::as_sequence)
                .into_iter()
                .flatten()
            {
                if let Some(column_name) = column.get("name").and_then(serde_yaml_ng::Value::as_str)
                {
                    let text = column
                        .get("description")
                        .and_then(serde_yaml_ng::Value::as_str)
                        .unwrap_or_default();
                    columns.insert(
                        column_name.to_string(),
                        json!({ "name": column_name, "description": text }),
                    );
                }
            }
            docs.insert(name.to_string(), (description, Value::Object(columns)));
        }
    }
    docs
}

/// Writes `target/manifest.json` for the compiled models and their tests.
pub fn write_manifest(
    target: &Path,
    project: &DbtProject,
    models: &[Compiled],
    tests: &[SchemaTest],
    invocation_id: &str,
    generated_at: &str,
) -> Result<()> {
    let mut manifest = manifest(project, models, invocation_id, generated_at);
    add_tests(&mut manifest, project, tests);
    write_json(&target.join("manifest.json"), &manifest)
}

/// The `unique_id` of a test: `test.<project>.<name>`, or for a unit test
/// `unit_test.<project>.<model>.<name>`.
pub fn test_id(project: &DbtProject, name: &str) -> String {
    match project.unit_tests.iter().find(|t| t.spec.name == name) {
        Some(unit) => format!("unit_test.{}.{}.{name}", project.name, unit.spec.model),
        None => format!("test.{}.{name}", project.name),
    }
}

/// A YAML value as JSON (for the manifest).
fn json_of(value: &serde_yaml_ng::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Adds a unit test to the manifest's `unit_tests` (dbt v12), with its edge to its model.
fn add_unit_test(manifest: &mut Value, project: &DbtProject, test: &SchemaTest) {
    let Some(case) = &test.unit else { return };
    let spec = &case.test.spec;
    let id = test_id(project, &test.name);
    let model = model_id(project, &spec.model);
    let fqn: Vec<String> = project
        .models
        .iter()
        .find(|m| m.name == spec.model)
        .map(|m| m.fqn.clone())
        .unwrap_or_else(|| vec![project.name.clone(), spec.model.clone()])
        .into_iter()
        .chain(std::iter::once(spec.name.clone()))
        .collect();
    let given: Vec<Value> = spec
        .given
        .iter()
        .map(|g| {
            json!({"input": g.input, "format": g.format.as_str(),
                   "rows": g.rows.as_ref().map(json_of), "fixture": g.fixture})
        })
        .collect();
    let expect = &spec.expect;
    manifest["unit_tests"][&id] = json!({
        "unique_id": id, "name": spec.name, "resource_type": "unit_test",
        "package_name": project.name, "path": relative(project, &test.file),
        "original_file_path": relative(project, &test.file), "fqn": fqn,
        "model": spec.model, "description": spec.description.clone().unwrap_or_default(),
        "given": given,
        "expect": {"format": expect.format.as_str(), "rows": expect.rows.as_ref().map(json_of),
                   "fixture": expect.fixture},
        "overrides": {
            "macros": spec.overrides.macros.iter().map(|(k, v)| (k.clone(), json_of(v))).collect::<serde_json::Map<_, _>>(),
            "vars": spec.overrides.vars.iter().map(|(k, v)| (k.clone(), json_of(v))).collect::<serde_json::Map<_, _>>(),
            "env_vars": spec.overrides.env_vars.iter().map(|(k, v)| (k.clone(), json_of(v))).collect::<serde_json::Map<_, _>>(),
        },
        "config": {"tags": spec.config.tags, "enabled": spec.config.enabled,
                   "meta": json_of(&spec.config.meta)},
        "depends_on": {"nodes": [model], "macros": []},
    });
    manifest["parent_map"][&id] = json!([model]);
    if let Some(children) = manifest["child_map"][&model].as_array_mut() {
        children.push(Value::from(id.clone()));
    }
    manifest["child_map"][&id] = json!([]);
}

/// Adds test nodes (`resource_type: test`, `test_metadata`, `attached_node`) and unit tests
/// (`unit_tests`) to a manifest, with their edges in `parent_map` / `child_map`.
pub fn add_tests(manifest: &mut Value, project: &DbtProject, tests: &[SchemaTest]) {
    for test in tests {
        if test.unit.is_some() {
            add_unit_test(manifest, project, test);
            continue;
        }
        let id = test_id(project, &test.name);
        let attached = if project.seeds.iter().any(|s| s.name == test.model) {
            seed_id(project, &test.model)
        } else {
            model_id(project, &test.model)
        };
        let severity = match test.severity {
            crate::schema_tests::Severity::Error => "ERROR",
            crate::schema_tests::Severity::Warn => "WARN",
        };
        manifest["nodes"][&id] = json!({
            "unique_id": id, "name": test.name, "resource_type": "test",
            "package_name": project.name, "path": relative(project, &test.file),
            "original_file_path": relative(project, &test.file),
            "fqn": [project.name, test.name],
            "column_name": if test.column.is_empty() { Value::Null } else { Value::from(test.column.clone()) },
            "attached_node": attached,
            "test_metadata": if test.kind == "singular" { Value::Null } else { json!({"name": test.kind, "kwargs": {}}) },
            "config": {"severity": severity, "warn_if": test.warn_if, "error_if": test.error_if,
                       "store_failures": test.store_failures},
            "depends_on": {"nodes": [attached], "macros": []},
            "compiled_code": test.sql,
        });
        manifest["parent_map"][&id] = json!([attached]);
        if let Some(children) = manifest["child_map"][&attached].as_array_mut() {
            children.push(Value::from(id.clone()));
        }
        manifest["child_map"][&id] = json!([]);
    }
}

/// The manifest document (dbt schema v12 key fields) for the compiled models.
pub fn manifest(
    project: &DbtProject,
    models: &[Compiled],
    invocation_id: &str,
    generated_at: &str,
) -> Value {
    let docs = documentation(project);
    let seed_names: Vec<&str> = project.seeds.iter().map(|s| s.name.as_str()).collect();
    let mut nodes = serde_json::Map::new();
    let mut parent_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut child_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for seed in &project.seeds {
        let id = seed_id(project, &seed.name);
        nodes.insert(
            id.clone(),
            json!({
                "unique_id": id, "name": seed.name, "resource_type": "seed", "package_name": project.name,
                "path": relative(project, &seed.path), "original_file_path": relative(project, &seed.path),
                "fqn": [project.name, seed.name], "config": { "column_types": seed.column_types },
                "depends_on": { "nodes": [], "macros": [] },
            }),
        );
        parent_map.entry(id.clone()).or_default();
        child_map.entry(id).or_default();
    }
    let raw: BTreeMap<&str, &str> = project
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.raw_sql.as_str()))
        .collect();
    for model in models {
        let id = model_id(project, &model.name);
        let mut depends: Vec<String> = model
            .refs
            .iter()
            .map(|r| {
                if seed_names.contains(&r.as_str()) {
                    seed_id(project, r)
                } else {
                    model_id(project, r)
                }
            })
            .collect();
        for identifier in &model.sources {
            if let Some(source) = project.sources.iter().find(|s| &s.identifier == identifier) {
                depends.push(source_id(project, &source.source, &source.table));
            }
        }
        depends.sort();
        depends.dedup();
        let (description, columns) = docs.get(&model.name).cloned().unwrap_or_default();
        let fqn: Vec<String> = project
            .models
            .iter()
            .find(|m| m.name == model.name)
            .map(|m| m.fqn.clone())
            .unwrap_or_default();
        nodes.insert(
            id.clone(),
            json!({
                "unique_id": id, "name": model.name, "resource_type": "model", "package_name": project.name,
                "path": relative(project, &model.path), "original_file_path": relative(project, &model.path),
                "fqn": fqn, "description": description, "columns": columns,
                "config": {
                    "materialized": model.config.materialized, "tags": model.config.tags,
                    "enabled": model.config.enabled, "unique_key": model.config.unique_key,
                },
                "tags": model.config.tags, "language": "sql",
                "depends_on": { "nodes": depends, "macros": [] },
                "raw_code": raw.get(model.name.as_str()).copied().unwrap_or_default(),
                "compiled_code": model.sql, "relation_name": model.name,
            }),
        );
        for parent in &depends {
            child_map
                .entry(parent.clone())
                .or_default()
                .push(id.clone());
        }
        child_map.entry(id.clone()).or_default();
        parent_map.insert(id, depends);
    }
    let mut sources = serde_json::Map::new();
    for source in &project.sources {
        let id = source_id(project, &source.source, &source.table);
        sources.insert(
            id.clone(),
            json!({
                "unique_id": id, "name": source.table, "source_name": source.source,
                "resource_type": "source", "package_name": project.name,
                "identifier": source.identifier, "relation_name": source.identifier,
                "fqn": [project.name, source.source, source.table],
            }),
        );
        parent_map.entry(id.clone()).or_default();
        child_map.entry(id).or_default();
    }
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": "dataflow", "generated_at": generated_at, "invocation_id": invocation_id,
            "adapter_type": "datafusion", "project_name": project.name,
        },
        "nodes": nodes, "sources": sources, "macros": {}, "exposures": {}, "metrics": {},
        "unit_tests": {},
        "parent_map": parent_map, "child_map": child_map,
    })
}

/// Writes `target/run_results.json`.
pub fn write_run_results(
    target: &Path,
    results: &[ResultEntry],
    invocation_id: &str,
    generated_at: &str,
    elapsed: f64,
) -> Result<()> {
    let entries: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "unique_id": r.unique_id, "status": r.status, "execution_time": r.seconds,
                "message": r.message, "failures": r.failures, "thread_id": "Thread-1",
                "adapter_response": {}, "timing": [],
            })
        })
        .collect();
    let document = json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": "dataflow", "generated_at": generated_at, "invocation_id": invocation_id,
        },
        "results": entries, "elapsed_time": elapsed, "args": {},
    });
    write_json(&target.join("run_results.json"), &document)
}

/// Writes `target/sources.json` (dbt's sources artifact, schema v3) for a freshness run.
pub fn write_sources(
    target: &Path,
    project: &DbtProject,
    results: &[crate::freshness::FreshnessResult],
    invocation_id: &str,
    generated_at: &str,
    elapsed: f64,
) -> Result<()> {
    let period = |p: Option<crate::freshness::Period>| {
        p.map(|p| {
            let unit = match p.period {
                crate::freshness::PeriodUnit::Minute => "minute",
                crate::freshness::PeriodUnit::Hour => "hour",
                crate::freshness::PeriodUnit::Day => "day",
            };
            json!({"count": p.count, "period": unit})
        })
    };
    let entries: Vec<Value> = results
        .iter()
        .map(|r| {
            let (source, table) = r.name.split_once('.').unwrap_or((&r.name, ""));
            let message = match &r.status {
                crate::freshness::FreshnessStatus::Error(m)
                | crate::freshness::FreshnessStatus::RuntimeError(m) => Some(m.clone()),
                _ => None,
            };
            json!({
                "unique_id": source_id(project, source, table),
                "max_loaded_at": r.max_loaded_at, "snapshotted_at": generated_at,
                "max_loaded_at_time_ago_in_s": r.age_seconds, "status": r.status.as_str(),
                "criteria": {
                    "warn_after": period(r.criteria.warn_after),
                    "error_after": period(r.criteria.error_after),
                    "filter": r.criteria.filter,
                },
                "error": message, "execution_time": r.seconds, "thread_id": "Thread-1",
                "adapter_response": {}, "timing": [],
            })
        })
        .collect();
    let document = json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json",
            "dbt_version": "dataflow", "generated_at": generated_at, "invocation_id": invocation_id,
        },
        "results": entries, "elapsed_time": elapsed,
    });
    write_json(&target.join("sources.json"), &document)
}

/// Writes JSON to `path` atomically (temp file, then rename).
pub fn write_json(path: &Path, value: &Value) -> Result<()> {
    let io = |e: std::io::Error| Error::Project {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Project {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // Write then rename, so readers never see half a file.
    let temp = path.with_extension("json.partial");
    std::fs::write(&temp, text).map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)
}
