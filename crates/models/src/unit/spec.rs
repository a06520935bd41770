//! The `unit_tests:` entries of property files (dbt 1.8+), read strictly: a misspelt key is an
//! error with the file and line, as for the rest of a project's YAML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::error::{Error, Result};

/// How a `given` input's or the `expect`ed rows are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A list of mappings, one per row (the default).
    #[default]
    Dict,
    /// CSV text with a header, inline in `rows` or in a fixture file.
    Csv,
    /// A query returning the rows, inline in `rows` or in a fixture file.
    Sql,
}

impl Format {
    /// The name dbt uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Dict => "dict",
            Format::Csv => "csv",
            Format::Sql => "sql",
        }
    }
}

/// One mocked input of the model under test.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Given {
    /// `ref('model')`, `source('source', 'table')` or `this` (an incremental model's table).
    pub input: String,
    /// How `rows` (or the fixture) is written.
    #[serde(default)]
    pub format: Format,
    /// The rows: a list of mappings (`dict`), or text (`csv`, `sql`). Absent means no rows.
    #[serde(default)]
    pub rows: Option<Value>,
    /// The name of a file under a test path's `fixtures/` folder holding the rows
    /// (`<name>.csv` or `<name>.sql`), instead of `rows`.
    #[serde(default)]
    pub fixture: Option<String>,
}

/// The rows the model must return.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// How `rows` (or the fixture) is written.
    #[serde(default)]
    pub format: Format,
    /// The rows; only the columns named are compared.
    #[serde(default)]
    pub rows: Option<Value>,
    /// A fixture file instead of `rows`.
    #[serde(default)]
    pub fixture: Option<String>,
}

/// What the unit test changes in the model's Jinja context.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Macro (or context value) name to the value it returns, e.g. `is_incremental: true`,
    /// `dbt_utils.star: "id, name"`, `invocation_id: 123`.
    #[serde(default)]
    pub macros: BTreeMap<String, Value>,
    /// `var()` values.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// `env_var()` values.
    #[serde(default)]
    pub env_vars: BTreeMap<String, Value>,
}

/// A unit test's `config:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// Tags, for `--select tag:...`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub tags: Vec<String>,
    /// A disabled unit test is not run.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Free-form metadata (kept in the manifest).
    #[serde(default)]
    pub meta: Value,
}

impl Default for UnitConfig {
    fn default() -> Self {
        UnitConfig {
            tags: Vec::new(),
            enabled: true,
            meta: Value::Null,
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

/// `tags: nightly` or `tags: [nightly, finance]`.
fn one_or_many<'de, D>(deserializer: D) -> std::result::Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tags {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Tags::deserialize(deserializer)? {
        Tags::One(tag) => vec![tag],
        Tags::Many(tags) => tags,
    })
}

/// One entry of `unit_tests:` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitTestSpec {
    /// The test's name, unique in the project.
    pub name: String,
    /// The model under test.
    pub model: String,
    /// What the test checks.
    #[serde(default)]
    pub description: Option<String>,
    /// The mocked inputs: every `ref` and `source` the model reads.
    #[serde(default)]
    pub given: Vec<Given>,
    /// The rows the model must return.
    pub expect: Expect,
    /// Macro, var and env_var overrides.
    #[serde(default)]
    pub overrides: Overrides,
    /// Tags and enabled.
    #[serde(default)]
    pub config: UnitConfig,
    /// Versions of a versioned model to test; dataflow has no versioned models, so this is
    /// accepted and not used.
    #[serde(default)]
    pub versions: Option<Value>,
}

/// A unit test and the property file that declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitTest {
    /// The definition.
    pub spec: UnitTestSpec,
    /// The property file.
    pub file: PathBuf,
}

/// The part of a property file this module reads.
#[derive(Debug, Deserialize)]
struct PropertyFile {
    #[serde(default)]
    unit_tests: Option<Vec<UnitTestSpec>>,
}

/// Applies `unit_tests:` config from `dbt_project.yml` to the tests of one property file (its
/// parsed `tree`), as dbt does: levels are the project, the file's folders under its model
/// path, the model, then the test's name; `+tags` add up, `+meta` keys merge (deeper wins),
/// and `+enabled` holds unless the test's own `config:` sets it. The test's own tags and meta
/// come on top.
pub fn apply_project_config(
    tests: &mut [UnitTest],
    tree: &Value,
    config: &Value,
    project: &str,
    folders: &[String],
) {
    let Some(root) = config.get(project) else {
        return;
    };
    let entries = tree.get("unit_tests").and_then(Value::as_sequence);
    for (index, test) in tests.iter_mut().enumerate() {
        let own = entries
            .and_then(|e| e.get(index))
            .and_then(|e| e.get("config"));
        let mut levels = vec![root];
        let mut node = root;
        let path = folders
            .iter()
            .map(String::as_str)
            .chain([test.spec.model.as_str(), test.spec.name.as_str()]);
        for part in path {
            match node.get(part) {
                Some(child) if child.is_mapping() => {
                    node = child;
                    levels.push(node);
                }
                _ => break,
            }
        }
        let (mut tags, mut meta, mut enabled) = (Vec::new(), serde_yaml_ng::Mapping::new(), None);
        for level in levels {
            if let Some(value) = level.get("+enabled").and_then(Value::as_bool) {
                enabled = Some(value);
            }
            match level.get("+tags") {
                Some(Value::String(tag)) => tags.push(tag.clone()),
                Some(Value::Sequence(list)) => {
                    tags.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
                }
                _ => {}
            }
            if let Some(map) = level.get("+meta").and_then(Value::as_mapping) {
                meta.extend(map.clone());
            }
        }
        let own_config = &mut test.spec.config;
        if own.and_then(|c| c.get("enabled")).is_none()
            && let Some(enabled) = enabled
        {
            own_config.enabled = enabled;
        }
        for tag in std::mem::take(&mut own_config.tags) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        own_config.tags = tags;
        if let Some(own_meta) = own_config.meta.as_mapping() {
            meta.extend(own_meta.clone());
        }
        if !meta.is_empty() {
            own_config.meta = Value::Mapping(meta);
        }
    }
}

/// Reads the `unit_tests:` of one property file's text; a malformed entry is an error with
/// the file and line.
pub fn parse(path: &Path, text: &str) -> Result<Vec<UnitTest>> {
    if !text.contains("unit_tests") {
        return Ok(Vec::new());
    }
    let file: PropertyFile = serde_yaml_ng::from_str(text).map_err(|e| Error::Project {
        path: path.to_path_buf(),
        message: format!("unit_tests: {e}"),
    })?;
    Ok(file
        .unit_tests
        .unwrap_or_default()
        .into_iter()
        .map(|spec| UnitTest {
            spec,
            file: path.to_path_buf(),
        })
        .collect())
}

/// Unit test names must be unique: dbt refuses a project with two of one name.
pub fn check_unique(tests: &[UnitTest]) -> Result<()> {
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for test in tests {
        if let Some(first) = seen.insert(&test.spec.name, &test.file) {
            return Err(Error::Project {
                path: test.file.clone(),
                message: format!(
                    "two unit tests are named `{}` (the other is in {})",
                    test.spec.name,
                    first.display()
                ),
            });
        }
    }
    Ok(())
}

/// What a `given` input reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `ref('name')`: a model or seed.
    Ref(String),
    /// `source('source', 'table')`.
    Source(String, String),
    /// `this`: the model's own table, for incremental models.
    This,
}

impl Input {
    /// Parses `ref('x')`, `ref('package', 'x')`, `source('s', 't')` or `this`.
    pub fn parse(text: &str) -> Option<Input> {
        let text = text.trim();
        if text == "this" {
            return Some(Input::This);
        }
        let arguments = |inner: &str| -> Vec<String> {
            inner
                .split(',')
                .map(str::trim)
                // `ref('x', v=2)`: versions are not used.
                .filter(|a| !a.contains('='))
                .map(|a| a.trim_matches(|c| c == '\'' || c == '"').to_string())
                .collect()
        };
        let call = |name: &str| {
            text.strip_prefix(name)
                .map(str::trim_start)
                .and_then(|t| t.strip_prefix('('))
                .and_then(|t| t.strip_suffix(')'))
                .map(arguments)
        };
        if let Some(args) = call("ref") {
            return match args.as_slice() {
                [name] | [_, name] if !name.is_empty() => Some(Input::Ref(name.clone())),
                _ => None,
            };
        }
        if let Some(args) = call("source") {
            return match args.as_slice() {
                [source, table] if !source.is_empty() && !table.is_empty() => {
                    Some(Input::Source(source.clone(), table.clone()))
                }
                _ => None,
            };
        }
        None
    }
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Ref(name) => write!(f, "ref('{name}')"),
            Input::Source(source, table) => write!(f, "source('{source}', '{table}')"),
            Input::This => f.write_str("this"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse_like_dbt_writes_them() {
        assert_eq!(Input::parse("ref('a')"), Some(Input::Ref("a".into())));
        assert_eq!(Input::parse(" ref(\"a\") "), Some(Input::Ref("a".into())));
        assert_eq!(
            Input::parse("ref('pkg', 'a')"),
            Some(Input::Ref("a".into()))
        );
        assert_eq!(Input::parse("ref('a', v=2)"), Some(Input::Ref("a".into())));
        assert_eq!(
            Input::parse("source('raw', 'orders')"),
            Some(Input::Source("raw".into(), "orders".into()))
        );
        assert_eq!(Input::parse("this"), Some(Input::This));
        assert_eq!(Input::parse("orders"), None);
        assert_eq!(Input::parse("source('raw')"), None);
        assert_eq!(Input::parse("ref()"), None);
    }

    #[test]
    fn a_misspelt_key_names_the_file_and_line() {
        let yaml = "version: 2\nunit_tests:\n  - name: t\n    model: m\n    given:\n      - input: ref('a')\n        rowz: []\n    expect:\n      rows: []\n";
        let err = parse(Path::new("models/schema.yml"), yaml)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("models/schema.yml: unit_tests"), "{err}");
        assert!(err.contains("rowz") && err.contains("line 7"), "{err}");
    }

    #[test]
    fn defaults_and_tags() {
        let yaml = "unit_tests:\n  - name: t\n    model: m\n    config: {tags: nightly}\n    expect: {format: csv, rows: \"id\\n1\\n\"}\nmodels: []\n";
        let tests = parse(Path::new("s.yml"), yaml).unwrap();
        assert_eq!(tests.len(), 1);
        let spec = &tests[0].spec;
        assert_eq!(spec.config.tags, ["nightly"]);
        assert!(spec.config.enabled);
        assert_eq!(spec.expect.format, Format::Csv);
        assert!(spec.given.is_empty());
        assert!(
            parse(Path::new("s.yml"), "models: []\n")
                .unwrap()
                .is_empty()
        );
    }
    /// `unit_tests:` in dbt_project.yml reaches the tests of property files by folder, model
    /// and name; the test's own config wins for `enabled` and adds to tags and meta.
    #[test]
    fn project_config_by_folder_model_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str, text: &str| {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "dbt_project.yml",
            "name: shop\nunit_tests:\n  shop:\n    +tags: unit\n    +meta: {owner: data}\n    staging:\n      +enabled: false\n      +tags: [staging]\n      orders:\n        keeps_on:\n          +enabled: true\n",
        );
        write("models/staging/orders.sql", "select 1 as id\n");
        write("models/marts/sales.sql", "select 1 as id\n");
        let test = |name: &str, model: &str, config: &str| {
            format!(
                "  - name: {name}\n    model: {model}\n{config}    expect: {{rows: [{{id: 1}}]}}\n"
            )
        };
        write(
            "models/staging/schema.yml",
            &format!(
                "unit_tests:\n{}{}{}",
                test("off_by_folder", "orders", ""),
                test("keeps_on", "orders", ""),
                test(
                    "own_wins",
                    "orders",
                    "    config: {enabled: true, tags: [mine], meta: {owner: me}}\n"
                ),
            ),
        );
        write(
            "models/marts/schema.yml",
            &format!("unit_tests:\n{}", test("plain", "sales", "")),
        );
        let project = crate::project::DbtProject::load(dir.path()).unwrap();
        let config = |name: &str| {
            project
                .unit_tests
                .iter()
                .find(|t| t.spec.name == name)
                .map(|t| t.spec.config.clone())
                .unwrap()
        };
        assert!(!config("off_by_folder").enabled);
        assert_eq!(config("off_by_folder").tags, ["unit", "staging"]);
        assert!(
            config("keeps_on").enabled,
            "the test's own level in the project"
        );
        let own = config("own_wins");
        assert!(own.enabled);
        assert_eq!(own.tags, ["unit", "staging", "mine"]);
        assert_eq!(own.meta["owner"], "me");
        let plain = config("plain");
        assert!(plain.enabled);
        assert_eq!(plain.tags, ["unit"]);
        assert_eq!(plain.meta["owner"], "data");
    }
}
