//! A dbt-style project: `dbt_project.yml`, the models under its model paths, their folder-level
//! configuration (`+materialized`, `+tags`, `+enabled`), sources from schema files, and macros.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::error::{Error, Result};

/// The keys of `dbt_project.yml` that this layer reads; other dbt keys are accepted and ignored.
#[derive(Debug, Clone, Deserialize)]
struct ProjectFile {
    name: String,
    #[serde(
        default = "default_model_paths",
        rename = "model-paths",
        alias = "source-paths"
    )]
    model_paths: Vec<String>,
    #[serde(default = "default_macro_paths", rename = "macro-paths")]
    macro_paths: Vec<String>,
    #[serde(
        default = "default_seed_paths",
        rename = "seed-paths",
        alias = "data-paths"
    )]
    seed_paths: Vec<String>,
    #[serde(default)]
    seeds: Value,
    #[serde(default = "default_test_paths", rename = "test-paths")]
    test_paths: Vec<String>,
    #[serde(default)]
    vars: BTreeMap<String, Value>,
    #[serde(default)]
    models: Value,
    /// Folder-level unit test config (`+enabled`, `+tags`, `+meta`), by the property file's
    /// folders under a model path, then the model, then the test's name, as in dbt.
    #[serde(default)]
    unit_tests: Value,
}

fn default_model_paths() -> Vec<String> {
    vec!["models".to_string()]
}

fn default_test_paths() -> Vec<String> {
    vec!["tests".to_string()]
}

fn default_seed_paths() -> Vec<String> {
    vec!["seeds".to_string()]
}

fn default_macro_paths() -> Vec<String> {
    vec!["macros".to_string()]
}

/// How a model is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialization {
    /// A view, re-planned by every query.
    View,
    /// A lake table, replaced on every run.
    Table,
    /// A lake table that each run appends to, or merges into by `unique_key`.
    Incremental,
    /// Not built: inlined as a CTE into the models that ref it.
    Ephemeral,
}

impl Materialization {
    /// Parses a `materialized` value.
    pub fn parse(text: &str) -> std::result::Result<Materialization, String> {
        match text {
            "view" => Ok(Materialization::View),
            "table" => Ok(Materialization::Table),
            "incremental" => Ok(Materialization::Incremental),
            "ephemeral" => Ok(Materialization::Ephemeral),
            other => Err(format!(
                "unknown materialization `{other}`, expected view, table, incremental or ephemeral"
            )),
        }
    }

    /// The name dbt uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Materialization::View => "view",
            Materialization::Table => "table",
            Materialization::Incremental => "incremental",
            Materialization::Ephemeral => "ephemeral",
        }
    }
}

/// Configuration of one model after folder-level and in-file settings are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// How it is built.
    pub materialized: String,
    /// Tags, for selection.
    pub tags: Vec<String>,
    /// Disabled models are skipped.
    pub enabled: bool,
    /// Columns identifying a row of an incremental model (merge instead of append).
    pub unique_key: Vec<String>,
    /// `incremental_strategy`: `append`, `merge` or `delete+insert` (default: merge with a
    /// `unique_key`, append without).
    pub incremental_strategy: Option<String>,
    /// `on_schema_change`: `ignore` (default), `fail`, `append_new_columns`, `sync_all_columns`.
    pub on_schema_change: String,
    /// For tests: `error` (default) or `warn`.
    pub severity: String,
    /// dataflow extension: also export the built table as Hive-partitioned Parquet.
    pub export: Option<ExportConfig>,
}

/// `config(export={'path': ..., 'partition_by': [...], 'compression': 'snappy'})`: after a table
/// model is built, its rows are written as Hive-partitioned Parquet files under `path` (relative
/// to the project directory), replacing the previous export atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    /// Output directory.
    pub path: String,
    /// Partition columns, outermost first.
    pub partition_by: Vec<String>,
    /// Parquet codec (default snappy).
    pub compression: String,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            materialized: "view".to_string(),
            tags: Vec::new(),
            enabled: true,
            unique_key: Vec::new(),
            incremental_strategy: None,
            on_schema_change: "ignore".to_string(),
            severity: "error".to_string(),
            export: None,
        }
    }
}

impl ModelConfig {
    /// Applies `+key: value` (or `key: value`) settings from a config mapping or `config()` call.
    pub fn apply(&mut self, key: &str, value: &Value) {
        match key.trim_start_matches('+') {
            "materialized" => {
                if let Some(text) = value.as_str() {
                    self.materialized = text.to_string();
                }
            }
            "tags" => match value {
                Value::String(tag) => self.tags.push(tag.clone()),
                Value::Sequence(tags) => self
                    .tags
                    .extend(tags.iter().filter_map(|t| t.as_str().map(str::to_string))),
                _ => {}
            },
            "export" => {
                if let Some(path) = value.get("path").and_then(Value::as_str) {
                    self.export = Some(ExportConfig {
                        path: path.to_string(),
                        partition_by: value
                            .get("partition_by")
                            .and_then(Value::as_sequence)
                            .map(|p| {
                                p.iter()
                                    .filter_map(|c| c.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        compression: value
                            .get("compression")
                            .and_then(Value::as_str)
                            .unwrap_or("snappy")
                            .to_string(),
                    });
                }
            }
            "severity" => {
                if let Some(text) = value.as_str() {
                    self.severity = text.to_ascii_lowercase();
                }
            }
            "unique_key" => match value {
                Value::String(key) => self.unique_key = vec![key.clone()],
                Value::Sequence(keys) => {
                    self.unique_key = keys
                        .iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                }
                _ => {}
            },
            "incremental_strategy" => {
                if let Some(text) = value.as_str() {
                    self.incremental_strategy = Some(text.to_ascii_lowercase());
                }
            }
            "on_schema_change" => {
                if let Some(text) = value.as_str() {
                    self.on_schema_change = text.to_ascii_lowercase();
                }
            }
            "enabled" => {
                if let Some(enabled) = value.as_bool() {
                    self.enabled = enabled;
                }
            }
            _ => {}
        }
    }
}

/// One model file.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Model name (file stem).
    pub name: String,
    /// The `.sql` file.
    pub path: PathBuf,
    /// Project name, folders and model name, as dbt's `fqn`.
    pub fqn: Vec<String>,
    /// The SQL with Jinja, as written.
    pub raw_sql: String,
    /// Configuration from `dbt_project.yml` folders (before the model's own `config()`).
    pub config: ModelConfig,
}

/// A CSV seed: `seeds/<name>.csv` loaded as lake table `<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    /// Seed (and table) name.
    pub name: String,
    /// The CSV file.
    pub path: PathBuf,
    /// `+column_types` overrides: column to SQL type.
    pub column_types: BTreeMap<String, String>,
    /// `+enabled` as written: a boolean or Jinja such as `"{{ var('load', false) }}"`,
    /// evaluated with the invocation's vars (see [`crate::render::seed_enabled`]).
    pub enabled: Option<Value>,
}

/// A declared source table: `source('<source>', '<table>')` reads lake table `identifier`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceTable {
    /// Source name.
    pub source: String,
    /// Table name.
    pub table: String,
    /// The lake table it reads.
    pub identifier: String,
    /// Whether the schema file names the identifier (else it was derived).
    pub explicit_identifier: bool,
    /// Column holding each row's load time, for freshness checks.
    pub loaded_at_field: Option<String>,
    /// Freshness criteria (the table's settings over the source's), if any.
    pub freshness: Option<crate::freshness::FreshnessSpec>,
    /// The schema file that declares it.
    pub file: PathBuf,
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct DbtProject {
    /// Project directory.
    pub dir: PathBuf,
    /// Project name.
    pub name: String,
    /// Variables from `vars:`.
    pub vars: BTreeMap<String, Value>,
    /// Models, sorted by name.
    pub models: Vec<Model>,
    /// Declared sources.
    pub sources: Vec<SourceTable>,
    /// Text of all macro files, in path order.
    pub macros: String,
    /// Each macro file and the (0-based) line of `macros` where its text starts.
    pub macro_sources: Vec<(PathBuf, usize)>,
    /// Every schema file under the model paths, parsed.
    pub schema_files: Vec<(PathBuf, Value)>,
    /// CSV seeds, sorted by name.
    pub seeds: Vec<Seed>,
    /// Singular tests (`tests/**/*.sql` outside `tests/generic`): queries returning failing rows.
    pub singular_tests: Vec<Model>,
    /// Names of custom generic tests (`{% test name(model, ...) %}` blocks), callable from
    /// schema files; each is available to Jinja as the macro `test_<name>`.
    pub custom_tests: Vec<String>,
    /// Unit tests (`unit_tests:` in property files), in file order.
    pub unit_tests: Vec<crate::unit::UnitTest>,
    /// The test paths (absolute); unit test fixture files live in their `fixtures/` folders.
    pub test_paths: Vec<PathBuf>,
}

impl DbtProject {
    /// Points sources without an `identifier` at the table dbt would read. dbt reads
    /// `<schema>.<table>`, and the lake has one namespace: the default is `<source>_<table>`
    /// (the name `dataflow ingest` gives a source's raw table is `raw_<name>`), but when no
    /// such table exists and a seed or lake table is named `<table>` (a project whose sources
    /// are its own seeds in another schema), that one is read.
    pub fn resolve_source_identifiers(&mut self, existing: &std::collections::BTreeSet<String>) {
        let seeds: Vec<String> = self.seeds.iter().map(|s| s.name.clone()).collect();
        for source in self.sources.iter_mut().filter(|s| !s.explicit_identifier) {
            let plain = &source.table;
            if !existing.contains(&source.identifier)
                && (existing.contains(plain) || seeds.contains(plain))
            {
                source.identifier = plain.clone();
            }
        }
    }
}

/// Rewrites dbt's `{% test name(...) %}...{% endtest %}` blocks as `test_name` macros, returning
/// the text and the test names.
fn test_blocks_to_macros(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("%}") else {
            out.push_str(&rest[start..]);
            return (out, names);
        };
        let tag = &rest[start..start + end + 2];
        let inner = tag[2..tag.len() - 2].trim_matches(|c: char| c == '-' || c.is_whitespace());
        if let Some(signature) = inner.strip_prefix("test ") {
            let name = signature
                .split('(')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            out.push_str(&tag.replacen("test ", "macro test_", 1));
            names.push(name);
        } else if inner == "endtest" {
            out.push_str(&tag.replacen("endtest", "endmacro", 1));
        } else {
            out.push_str(tag);
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    (out, names)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Project {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn files_with_extension(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_with_extension(&path, extensions, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(path);
        }
    }
}

/// Folder-level config for a model at `folders` under the project's `models:` tree.
fn folder_config(models: &Value, project: &str, folders: &[String]) -> ModelConfig {
    let mut config = ModelConfig::default();
    let mut node = match models.get(project) {
        Some(node) => node,
        None => return config,
    };
    let apply_level = |config: &mut ModelConfig, node: &Value| {
        if let Some(map) = node.as_mapping() {
            for (key, value) in map {
                if let Some(key) = key.as_str()
                    && (key.starts_with('+') || !value.is_mapping())
                {
                    config.apply(key, value);
                }
            }
        }
    };
    apply_level(&mut config, node);
    for folder in folders {
        match node.get(folder.as_str()) {
            Some(child) => {
                node = child;
                apply_level(&mut config, node);
            }
            None => break,
        }
    }
    config
}

#[derive(Debug, Deserialize)]
struct SchemaFile {
    #[serde(default)]
    sources: Vec<SourceEntry>,
}

#[derive(Debug, Deserialize)]
struct SourceEntry {
    name: String,
    #[serde(default)]
    tables: Vec<SourceTableEntry>,
    #[serde(default)]
    loaded_at_field: Option<String>,
    #[serde(default, deserialize_with = "explicit")]
    freshness: Option<Option<crate::freshness::FreshnessSpec>>,
}

#[derive(Debug, Deserialize)]
struct SourceTableEntry {
    name: String,
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    loaded_at_field: Option<String>,
    #[serde(default, deserialize_with = "explicit")]
    freshness: Option<Option<crate::freshness::FreshnessSpec>>,
}

/// dbt model versions (`versions:` / `latest_version:` on a model in a property file) are not
/// implemented: building the model as if unversioned would quietly build the wrong SQL for
/// `ref('m', v=2)`, so they are an error naming the file and model.
fn reject_model_versions(path: &Path, tree: &Value) -> Result<()> {
    let models = tree.get("models").and_then(Value::as_sequence);
    for model in models.into_iter().flatten() {
        let Some(key) = ["versions", "latest_version"]
            .into_iter()
            .find(|k| model.get(*k).is_some())
        else {
            continue;
        };
        let name = model.get("name").and_then(Value::as_str).unwrap_or("?");
        return Err(Error::Project {
            path: path.to_path_buf(),
            message: format!(
                "model `{name}` has `{key}:`; dbt model versions are not supported by dataflow \
                 yet. Make each version its own model (e.g. `{name}_v2.sql`) and ref it by \
                 that name"
            ),
        });
    }
    Ok(())
}

/// Tells `freshness: null` (Some(None): checks turned off) from no `freshness` key (None).
fn explicit<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl DbtProject {
    /// Loads the project in `dir` (which holds `dbt_project.yml`).
    pub fn load(dir: &Path) -> Result<DbtProject> {
        let file = dir.join("dbt_project.yml");
        let text = read(&file)?;
        let project: ProjectFile = serde_yaml_ng::from_str(&text).map_err(|e| Error::Project {
            path: file.clone(),
            message: e.to_string(),
        })?;
        let mut models = Vec::new();
        let mut sources = Vec::new();
        let mut schema_files = Vec::new();
        let mut unit_tests = Vec::new();
        for model_path in &project.model_paths {
            let root = dir.join(model_path);
            let mut sql_files = Vec::new();
            files_with_extension(&root, &["sql"], &mut sql_files);
            for path in sql_files {
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                let folders: Vec<String> = path
                    .parent()
                    .and_then(|p| p.strip_prefix(&root).ok())
                    .map(|rel| {
                        rel.iter()
                            .map(|c| c.to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut fqn = vec![project.name.clone()];
                fqn.extend(folders.iter().cloned());
                fqn.push(name.clone());
                models.push(Model {
                    config: folder_config(&project.models, &project.name, &folders),
                    raw_sql: read(&path)?,
                    name,
                    path,
                    fqn,
                });
            }
        }
        // Property files may sit beside models, seeds, macros or tests, as in dbt.
        let mut yml_files = Vec::new();
        for path in project
            .model_paths
            .iter()
            .chain(&project.seed_paths)
            .chain(&project.macro_paths)
            .chain(&project.test_paths)
        {
            files_with_extension(&dir.join(path), &["yml", "yaml"], &mut yml_files);
        }
        yml_files.sort();
        yml_files.dedup();
        {
            for path in yml_files {
                let text = read(&path)?;
                let invalid = |e: serde_yaml_ng::Error| Error::Project {
                    path: path.clone(),
                    message: e.to_string(),
                };
                let tree: Value = serde_yaml_ng::from_str(&text).map_err(invalid)?;
                reject_model_versions(&path, &tree)?;
                let schema: SchemaFile =
                    serde_yaml_ng::from_value(tree.clone()).map_err(invalid)?;
                let mut parsed = crate::unit::spec::parse(&path, &text)?;
                let folders = project
                    .model_paths
                    .iter()
                    .find_map(|m| path.parent()?.strip_prefix(dir.join(m)).ok())
                    .map(|rel| {
                        rel.iter()
                            .map(|c| c.to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                crate::unit::spec::apply_project_config(
                    &mut parsed,
                    &tree,
                    &project.unit_tests,
                    &project.name,
                    &folders,
                );
                unit_tests.extend(parsed);
                schema_files.push((path.clone(), tree));
                for source in schema.sources {
                    for table in source.tables {
                        let freshness = match (&source.freshness, table.freshness) {
                            (_, Some(None)) => None,
                            (Some(Some(outer)), Some(Some(inner))) => Some(outer.overlay(inner)),
                            (_, Some(Some(inner))) => Some(inner),
                            (Some(outer), None) => outer.clone(),
                            (None, None) => None,
                        };
                        sources.push(SourceTable {
                            explicit_identifier: table.identifier.is_some(),
                            identifier: table
                                .identifier
                                .unwrap_or_else(|| format!("{}_{}", source.name, table.name)),
                            source: source.name.clone(),
                            table: table.name,
                            loaded_at_field: table
                                .loaded_at_field
                                .or_else(|| source.loaded_at_field.clone()),
                            freshness,
                            file: path.clone(),
                        });
                    }
                }
            }
        }
        models.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in models.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(Error::Graph(format!(
                    "two models are named `{}`: {} and {}",
                    pair[0].name,
                    pair[0].path.display(),
                    pair[1].path.display()
                )));
            }
        }
        let mut macro_files = Vec::new();
        for macro_path in &project.macro_paths {
            files_with_extension(&dir.join(macro_path), &["sql"], &mut macro_files);
        }
        // Custom generic tests live in tests/generic or among the macros.
        for test_path in &project.test_paths {
            files_with_extension(
                &dir.join(test_path).join("generic"),
                &["sql"],
                &mut macro_files,
            );
        }
        macro_files.sort();
        let mut macros = String::new();
        let mut custom_tests = Vec::new();
        let mut macro_sources = Vec::new();
        for path in macro_files {
            let (text, tests) = test_blocks_to_macros(&read(&path)?);
            macro_sources.push((path.clone(), macros.lines().count()));
            macros.push_str(&text);
            macros.push('\n');
            custom_tests.extend(tests);
        }
        let mut seed_files = Vec::new();
        for seed_path in &project.seed_paths {
            files_with_extension(&dir.join(seed_path), &["csv"], &mut seed_files);
        }
        let mut seeds: Vec<Seed> = seed_files
            .into_iter()
            .map(|path| {
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                // Settings apply from the project level down through the seed's folders to
                // the seed itself, deeper levels overriding: `seeds: <project>: <folder>: ...`.
                let folders: Vec<String> = project
                    .seed_paths
                    .iter()
                    .find_map(|p| path.parent()?.strip_prefix(dir.join(p)).ok())
                    .map(|rel| {
                        rel.iter()
                            .map(|c| c.to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                let mut levels = Vec::new();
                let mut node = project.seeds.get(project.name.as_str());
                if let Some(n) = node {
                    levels.push(n);
                }
                for step in folders.iter().chain(std::iter::once(&name)) {
                    node = node.and_then(|n| n.get(step.as_str()));
                    match node {
                        Some(n) => levels.push(n),
                        None => break,
                    }
                }
                let setting = |level: &Value, key: &str| {
                    level
                        .get(format!("+{key}").as_str())
                        .or_else(|| level.get(key))
                        .cloned()
                };
                let mut column_types = BTreeMap::new();
                let mut enabled = None;
                for level in levels {
                    if let Some(types) = setting(level, "column_types") {
                        for (k, v) in types.as_mapping().into_iter().flatten() {
                            if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                                column_types.insert(k.to_string(), v.to_string());
                            }
                        }
                    }
                    if let Some(value) = setting(level, "enabled") {
                        enabled = Some(value);
                    }
                }
                Seed {
                    name,
                    path,
                    column_types,
                    enabled,
                }
            })
            .collect();
        seeds.sort_by(|a, b| a.name.cmp(&b.name));
        let mut test_files = Vec::new();
        for test_path in &project.test_paths {
            files_with_extension(&dir.join(test_path), &["sql"], &mut test_files);
        }
        // Generic tests are macros; unit test fixtures are data.
        test_files.retain(|p| {
            !p.components()
                .any(|c| c.as_os_str() == "generic" || c.as_os_str() == "fixtures")
        });
        test_files.sort();
        let mut singular_tests = Vec::new();
        for path in test_files {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            singular_tests.push(Model {
                fqn: vec![project.name.clone(), name.clone()],
                raw_sql: read(&path)?,
                config: ModelConfig::default(),
                name,
                path,
            });
        }
        crate::unit::spec::check_unique(&unit_tests)?;
        Ok(DbtProject {
            test_paths: project.test_paths.iter().map(|p| dir.join(p)).collect(),
            unit_tests,
            custom_tests,
            singular_tests,
            seeds,
            dir: dir.to_path_buf(),
            name: project.name,
            vars: project.vars,
            models,
            sources,
            macros,
            macro_sources,
            schema_files,
        })
    }
}
