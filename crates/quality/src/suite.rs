//! Expectation suites: GE 1.x JSON (`name`, `expectations[].type`, `kwargs`, `meta`, `id`), the
//! 0.x form (`expectation_suite_name`, `expectation_type`), or the same in YAML. Every
//! expectation is checked against the catalog when the suite loads.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::catalog::{self, COMMON, Spec};
use crate::error::{Error, Result};

/// One configured expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// GE's snake_case type.
    pub expectation_type: String,
    /// Its kwargs (null values dropped, as GE drops defaults).
    pub kwargs: Map<String, Value>,
    /// Free-form metadata, echoed in results.
    pub meta: Value,
    /// GE 1.x id, if any.
    pub id: Option<String>,
    /// GE 1.x severity: `critical` (default) fails a checkpoint, `warning` and `info` do not.
    pub severity: String,
    /// The catalog entry.
    pub spec: &'static Spec,
}

/// A loaded suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Suite name.
    pub name: String,
    /// Expectations in file order.
    pub expectations: Vec<Expectation>,
    /// Suite-level metadata.
    pub meta: Value,
    /// The file it came from.
    pub path: PathBuf,
}

impl Suite {
    /// Reads a suite file (`.json`, `.yml` or `.yaml`).
    pub fn load(path: &Path) -> Result<Suite> {
        let suite_error = |message: String| Error::Suite {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| suite_error(e.to_string()))?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        );
        let document: Value = if yaml {
            serde_yaml_ng::from_str(&text).map_err(|e| suite_error(e.to_string()))?
        } else {
            serde_json::from_str(&text).map_err(|e| suite_error(e.to_string()))?
        };
        Suite::from_value(path, &document)
    }

    /// Builds a suite from its parsed document; `path` names it in errors.
    pub fn from_value(path: &Path, document: &Value) -> Result<Suite> {
        let suite_error = |message: String| Error::Suite {
            path: path.to_path_buf(),
            message,
        };
        let object = document
            .as_object()
            .ok_or_else(|| suite_error("a suite must be a mapping".into()))?;
        let name = object
            .get("name")
            .or_else(|| object.get("expectation_suite_name"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                suite_error("missing `name` (or the 0.x `expectation_suite_name`)".into())
            })?
            .to_string();
        let items = object
            .get("expectations")
            .and_then(Value::as_array)
            .ok_or_else(|| suite_error("missing `expectations` (a list)".into()))?;
        let expectations = items
            .iter()
            .enumerate()
            .map(|(i, item)| expectation(path, i + 1, item))
            .collect::<Result<Vec<_>>>()?;
        Ok(Suite {
            name,
            expectations,
            meta: object
                .get("meta")
                .cloned()
                .unwrap_or(Value::Object(Map::new())),
            path: path.to_path_buf(),
        })
    }
}

fn expectation(path: &Path, index: usize, item: &Value) -> Result<Expectation> {
    let type_name = item
        .get("type")
        .or_else(|| item.get("expectation_type"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let invalid = |message: String| Error::Expectation {
        path: path.to_path_buf(),
        index,
        expectation_type: if type_name.is_empty() {
            "?".to_string()
        } else {
            type_name.to_string()
        },
        message,
    };
    if type_name.is_empty() {
        return Err(invalid(
            "missing `type` (or the 0.x `expectation_type`)".into(),
        ));
    }
    let spec = catalog::find(type_name).ok_or_else(|| {
        let hint = catalog::closest(type_name)
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        invalid(format!("unknown expectation type{hint}"))
    })?;
    let mut kwargs: Map<String, Value> = item
        .get("kwargs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    kwargs.retain(|_, v| !v.is_null());
    for required in spec.required {
        if !kwargs.contains_key(*required) {
            return Err(invalid(format!("missing kwarg `{required}`")));
        }
    }
    for key in kwargs.keys() {
        let known = spec.required.contains(&key.as_str())
            || spec.optional.contains(&key.as_str())
            || COMMON.contains(&key.as_str());
        if !known {
            let mut accepted: Vec<&str> = spec.required.to_vec();
            accepted.extend(spec.optional);
            return Err(invalid(format!(
                "unknown kwarg `{key}`; accepted: {}",
                accepted.join(", ")
            )));
        }
    }
    if let Some(mostly) = kwargs.get("mostly")
        && !mostly.as_f64().is_some_and(|m| (0.0..=1.0).contains(&m))
    {
        return Err(invalid(format!(
            "`mostly` must be a number from 0 to 1, got {mostly}"
        )));
    }
    Ok(Expectation {
        expectation_type: spec.name.to_string(),
        kwargs,
        meta: item
            .get("meta")
            .cloned()
            .unwrap_or(Value::Object(Map::new())),
        id: item.get("id").and_then(Value::as_str).map(str::to_string),
        severity: item
            .get("severity")
            .and_then(Value::as_str)
            .unwrap_or("critical")
            .to_ascii_lowercase(),
        spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(document: Value) -> Result<Suite> {
        Suite::from_value(Path::new("suites/orders.json"), &document)
    }

    #[test]
    fn both_ge_forms_load_alike() {
        let new = load(json!({"name": "s", "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}, "meta": {}}
        ]}))
        .expect("1.x");
        let old = load(json!({"expectation_suite_name": "s", "expectations": [
            {"expectation_type": "expect_column_values_to_not_be_null",
             "kwargs": {"column": "id", "mostly": null}, "meta": {}}
        ]}))
        .expect("0.x");
        assert_eq!(new.expectations, old.expectations);
    }

    #[test]
    fn mistakes_name_the_file_and_the_expectation() {
        let err = load(json!({"name": "s", "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_value_to_be_unique", "kwargs": {"column": "id"}}
        ]}))
        .expect_err("typo");
        assert_eq!(
            err.to_string(),
            "suites/orders.json: expectation #2 (expect_column_value_to_be_unique): unknown \
             expectation type; did you mean `expect_column_values_to_be_unique`?"
        );
        let err = load(json!({"name": "s", "expectations": [
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "id"}}
        ]}))
        .expect_err("missing kwarg");
        assert!(
            err.to_string().ends_with("missing kwarg `value_set`"),
            "{err}"
        );
        let err = load(json!({"name": "s", "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "id", "min": 1}}
        ]}))
        .expect_err("unknown kwarg");
        assert!(
            err.to_string()
                .contains("unknown kwarg `min`; accepted: column, min_value"),
            "{err}"
        );
        let err = load(json!({"name": "s", "expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id", "mostly": 5}}
        ]}))
        .expect_err("bad mostly");
        assert!(
            err.to_string()
                .contains("`mostly` must be a number from 0 to 1"),
            "{err}"
        );
    }

    #[test]
    fn dateutil_parseable_is_in_the_catalog_and_evaluated() {
        let suite = load(json!({"name": "s", "expectations": [
            {"type": "ExpectColumnValuesToBeDateutilParseable",
             "kwargs": {"column": "created_at", "mostly": 0.9, "result_format": "SUMMARY"}}
        ]}))
        .expect("GE's kwargs");
        let spec = suite.expectations[0].spec;
        assert_eq!(spec.name, "expect_column_values_to_be_dateutil_parseable");
        assert!(spec.evaluated);
        let err = load(json!({"name": "s", "expectations": [
            {"type": "expect_column_values_to_be_dateutil_parseable", "kwargs": {"mostly": 0.9}}
        ]}))
        .expect_err("no column");
        assert!(err.to_string().ends_with("missing kwarg `column`"), "{err}");
        let err = load(json!({"name": "s", "expectations": [
            {"type": "expect_column_values_to_be_dateutil_parseable",
             "kwargs": {"column": "created_at", "dayfirst": true}}
        ]}))
        .expect_err("dateutil options are not GE kwargs");
        assert!(
            err.to_string().contains("unknown kwarg `dayfirst`"),
            "{err}"
        );
    }
}
