//! Reading `dataflow.yml`: strict YAML deserialization with file and line in every error,
//! semantic validation, and `DATAFLOW__SECTION__KEY` environment overrides.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::project::{Project, ProjectConfig};
use crate::error::{Error, Result};

/// The name of the project file in a project directory.
pub const PROJECT_FILE: &str = "dataflow.yml";

/// Parses YAML text into `T`, reporting errors as `file: message at line L column C`.
pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_yaml_ng::from_str(text).map_err(|err| Error::Invalid {
        path: path.to_path_buf(),
        message: err.to_string(),
    })
}

/// Applies `DATAFLOW__SECTION__KEY=value` variables to a parsed YAML tree: `DATAFLOW__LAKE__LOCATION`
/// sets `lake.location`. Values are parsed as YAML scalars, so numbers and booleans keep their type.
pub fn apply_env_overrides(
    value: &mut serde_yaml_ng::Value,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Vec<String> {
    let mut applied = Vec::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("DATAFLOW__") else {
            continue;
        };
        let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(String::is_empty) {
            continue;
        }
        let parsed: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&raw).unwrap_or(serde_yaml_ng::Value::String(raw.clone()));
        set_path(value, &keys, parsed);
        applied.push(keys.join("."));
    }
    applied
}

fn set_path(node: &mut serde_yaml_ng::Value, keys: &[String], value: serde_yaml_ng::Value) {
    let Some((first, rest)) = keys.split_first() else {
        *node = value;
        return;
    };
    if !node.is_mapping() {
        *node = serde_yaml_ng::Value::Mapping(Default::default());
    }
    if let Some(map) = node.as_mapping_mut() {
        let child = map
            .entry(serde_yaml_ng::Value::String(first.clone()))
            .or_insert(serde_yaml_ng::Value::Null);
        set_path(child, rest, value);
    }
}

/// Finds the 1-based line of a key path (`["sources", "customers", "columns"]`) in YAML text,
/// by indentation. Good enough to point a user at the place a semantic check complains about.
pub fn locate(text: &str, keys: &[String]) -> Option<usize> {
    let mut depth = 0;
    let mut min_indent = 0usize;
    let mut found = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if depth > 0 && indent < min_indent {
            break;
        }
        let key = &keys[depth];
        let bare = trimmed.trim_start_matches("- ");
        if bare.starts_with(&format!("{key}:")) || bare.starts_with(&format!("\"{key}\":")) {
            found = Some(number + 1);
            depth += 1;
            min_indent = indent + 1;
            if depth == keys.len() {
                break;
            }
        }
    }
    found
}

/// Loads and validates the project in `dir`.
pub fn load_project(dir: &Path) -> Result<Project> {
    load_project_file(dir, PROJECT_FILE)
}

/// Loads the project in `dir`, or, when `dir` has no `dataflow.yml` but is a dbt project
/// (`dbt_project.yml`), a project with every default: the lake in `dir/lake`, no sources. So a
/// plain dbt project runs unchanged.
pub fn load_project_or_dbt(dir: &Path) -> Result<Project> {
    if !dir.join(PROJECT_FILE).exists() && dir.join("dbt_project.yml").exists() {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "dbt".to_string());
        return Ok(Project {
            dir: dir.to_path_buf(),
            file: dir.join("dbt_project.yml"),
            config: ProjectConfig {
                name,
                description: None,
                lake: Default::default(),
                ingest: Default::default(),
                sources: Default::default(),
                orchestrator: Default::default(),
                serve: Default::default(),
                alerts: Default::default(),
            },
        });
    }
    load_project(dir)
}

fn load_project_file(dir: &Path, name: &str) -> Result<Project> {
    let file = dir.join(name);
    let text = std::fs::read_to_string(&file).map_err(|source| Error::Read {
        path: file.clone(),
        source,
    })?;
    // Parse the file as written first, so errors carry its line numbers.
    let mut config: ProjectConfig = parse_yaml(&file, &text)?;
    let overrides: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("DATAFLOW__"))
        .collect();
    if !overrides.is_empty() {
        let mut tree: serde_yaml_ng::Value = parse_yaml(&file, &text)?;
        apply_env_overrides(&mut tree, overrides);
        config = serde_yaml_ng::from_value(tree).map_err(|err| Error::Invalid {
            path: file.clone(),
            message: format!("after applying DATAFLOW__* environment overrides: {err}"),
        })?;
    }
    validate(&file, &text, &config)?;
    Ok(Project {
        dir: dir.to_path_buf(),
        file,
        config,
    })
}

fn validate(file: &Path, text: &str, config: &ProjectConfig) -> Result<()> {
    let mut messages = Vec::new();
    if !(0.0..=1.0).contains(&config.ingest.max_bad_row_fraction) {
        messages.push(format!(
            "ingest.max_bad_row_fraction must be between 0 and 1, got {}",
            config.ingest.max_bad_row_fraction
        ));
    }
    if config.ingest.batch_rows == 0 {
        messages.push("ingest.batch_rows must be at least 1".to_string());
    }
    for (name, source) in &config.sources {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            messages.push(format!(
                "sources.{name}: source names must be lowercase letters, digits and `_`"
            ));
        }
        for (keys, message) in source.validate(name) {
            let line = locate(text, &keys)
                .map(|l| format!(" at line {l}"))
                .unwrap_or_default();
            messages.push(format!("{}: {message}{line}", keys.join(".")));
        }
    }
    if messages.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid {
            path: file.to_path_buf(),
            message: messages.join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: shop
sources:
  customers:
    format: csv
    path: data/customers.csv
    primary_key: [customer_id]
    columns:
      - name: customer_id
        type: bigint
        nullable: false
      - name: email
        type: string
";

    fn write(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PROJECT_FILE), text).unwrap();
        dir
    }

    #[test]
    fn loads_a_valid_project() {
        let dir = write(GOOD);
        let project = load_project(dir.path()).unwrap();
        assert_eq!(project.config.sources["customers"].columns.len(), 2);
        assert_eq!(project.config.lake.location, "lake");
    }

    #[test]
    fn unknown_key_names_file_line_and_choices() {
        let dir = write(&GOOD.replace("    path:", "    pathh:"));
        let err = load_project(dir.path()).unwrap_err().to_string();
        assert!(err.contains("dataflow.yml"), "{err}");
        assert!(err.contains("unknown field `pathh`"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("`format`"), "{err}");
    }

    #[test]
    fn bad_type_lists_valid_types() {
        let dir = write(&GOOD.replace("type: bigint", "type: bigintt"));
        let err = load_project(dir.path()).unwrap_err().to_string();
        assert!(err.contains("unknown column type `bigintt`"), "{err}");
        assert!(err.contains("line 8"), "{err}");
    }

    #[test]
    fn missing_required_field_is_an_error() {
        let dir = write(&GOOD.replace("    format: csv\n", ""));
        let err = load_project(dir.path()).unwrap_err().to_string();
        assert!(err.contains("missing field `format`"), "{err}");
    }

    #[test]
    fn unknown_primary_key_points_at_its_line() {
        let dir = write(&GOOD.replace("[customer_id]", "[customer_idd]"));
        let err = load_project(dir.path()).unwrap_err().to_string();
        assert!(err.contains("customer_idd"), "{err}");
        assert!(err.contains("at line 6"), "{err}");
    }

    #[test]
    fn env_overrides_set_nested_keys() {
        let mut tree: serde_yaml_ng::Value = serde_yaml_ng::from_str(GOOD).unwrap();
        let applied = apply_env_overrides(
            &mut tree,
            [
                (
                    "DATAFLOW__LAKE__LOCATION".to_string(),
                    "s3://b/lake".to_string(),
                ),
                (
                    "DATAFLOW__INGEST__BATCH_ROWS".to_string(),
                    "1024".to_string(),
                ),
                ("OTHER".to_string(), "x".to_string()),
            ],
        );
        assert_eq!(applied, vec!["lake.location", "ingest.batch_rows"]);
        let config: ProjectConfig = serde_yaml_ng::from_value(tree).unwrap();
        assert_eq!(config.lake.location, "s3://b/lake");
        assert_eq!(config.ingest.batch_rows, 1024);
    }
}
