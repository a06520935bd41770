//! Mocked rows: a `given` input's or the `expect`ed rows, read from YAML mappings, CSV text or
//! a fixture file, then typed by the columns of the relation they stand for. A column the rows
//! leave out is NULL of its type, as in dbt.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dataflow_engine::datafusion::arrow::array::{
    ArrayRef, RecordBatch, StringArray, new_null_array,
};
use dataflow_engine::datafusion::arrow::compute::{CastOptions, cast_with_options};
use dataflow_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_yaml_ng::Value;

use crate::project::DbtProject;
use crate::unit::spec::Format;

/// Rows as written, before they are typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    /// Named columns and their values as text (`None` is NULL).
    Table {
        /// Column names as written, in order of first appearance.
        columns: Vec<String>,
        /// One value per column per row.
        rows: Vec<Vec<Option<String>>>,
    },
    /// A query returning the rows (Jinja not rendered yet).
    Sql(String),
}

/// Reads the rows of a `given` input or of `expect`.
pub fn read(
    project: &DbtProject,
    format: Format,
    rows: Option<&Value>,
    fixture: Option<&str>,
) -> Result<Rows, String> {
    let text = match (rows, fixture) {
        (Some(_), Some(_)) => return Err("give `rows` or `fixture`, not both".to_string()),
        (None, Some(name)) => {
            let extension = if format == Format::Sql { "sql" } else { "csv" };
            if format == Format::Dict {
                return Err(format!(
                    "fixture `{name}` needs `format: csv` or `format: sql` (dict rows are inline)"
                ));
            }
            let path = find_fixture(project, name, extension)?;
            std::fs::read_to_string(&path)
                .map_err(|e| format!("reading fixture {}: {e}", path.display()))?
        }
        (None, None) => {
            return Ok(Rows::Table {
                columns: Vec::new(),
                rows: Vec::new(),
            });
        }
        (Some(Value::Null), None) if format == Format::Dict => {
            return Ok(Rows::Table {
                columns: Vec::new(),
                rows: Vec::new(),
            });
        }
        (Some(rows), None) => match (format, rows) {
            (Format::Dict, Value::Sequence(items)) => return dict_rows(items),
            (Format::Dict, _) => {
                return Err(
                    "`rows` must be a list of mappings such as `- {id: 1, name: a}` (or set \
                     `format: csv` / `format: sql` for text)"
                        .to_string(),
                );
            }
            (_, Value::String(text)) => text.clone(),
            (format, _) => {
                return Err(format!(
                    "with `format: {}`, `rows` must be text (a YAML block such as `rows: |`)",
                    format.as_str()
                ));
            }
        },
    };
    match format {
        Format::Sql => Ok(Rows::Sql(text)),
        _ => csv_rows(&text),
    }
}

/// `<test path>/fixtures/**/<name>.<extension>`.
fn find_fixture(project: &DbtProject, name: &str, extension: &str) -> Result<PathBuf, String> {
    let file = format!("{name}.{extension}");
    fn search(dir: &Path, file: &str) -> Option<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if let Some(found) = search(&path, file) {
                    return Some(found);
                }
            } else if path.file_name().is_some_and(|n| n == file) {
                return Some(path);
            }
        }
        None
    }
    project
        .test_paths
        .iter()
        .find_map(|dir| search(&dir.join("fixtures"), &file))
        .ok_or_else(|| {
            let places: Vec<String> = project
                .test_paths
                .iter()
                .map(|p| {
                    p.strip_prefix(&project.dir)
                        .unwrap_or(p)
                        .join("fixtures")
                        .display()
                        .to_string()
                })
                .collect();
            format!(
                "fixture `{name}` not found: no {file} under {}",
                places.join(", ")
            )
        })
}

/// A YAML scalar as the text of a value.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(
            serde_json::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
    }
}

fn dict_rows(items: &[Value]) -> Result<Rows, String> {
    let mut columns: Vec<String> = Vec::new();
    let mut maps = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Mapping(map) = item else {
            return Err(format!(
                "row {} of `rows` is not a mapping such as `{{id: 1, name: a}}`",
                i + 1
            ));
        };
        let mut row = Vec::with_capacity(map.len());
        for (key, value) in map {
            let key = scalar(key).unwrap_or_default();
            if !columns.iter().any(|c| c.eq_ignore_ascii_case(&key)) {
                columns.push(key.clone());
            }
            row.push((key, scalar(value)));
        }
        maps.push(row);
    }
    let rows = maps
        .into_iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| {
                    row.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(c))
                        .and_then(|(_, v)| v.clone())
                })
                .collect()
        })
        .collect();
    Ok(Rows::Table { columns, rows })
}

/// Splits CSV text into records: quoted fields may hold commas, quotes (`""`) and newlines.
/// An unquoted empty field or `null` is NULL (`None`); a quoted one is text.
fn csv_records(text: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut records = Vec::new();
    let mut record: Vec<Option<String>> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let finish = |field: &mut String, quoted: &mut bool| -> Option<String> {
        let value = std::mem::take(field);
        let was_quoted = std::mem::replace(quoted, false);
        if !was_quoted && (value.trim().is_empty() || value.trim().eq_ignore_ascii_case("null")) {
            None
        } else {
            Some(value)
        }
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
                quoted = true;
            }
            ',' => record.push(finish(&mut field, &mut quoted)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                let blank = record.is_empty() && field.trim().is_empty() && !quoted;
                let value = finish(&mut field, &mut quoted);
                if !blank {
                    record.push(value);
                    records.push(std::mem::take(&mut record));
                }
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("CSV: a quoted field is not closed (line {line})"));
    }
    if !field.trim().is_empty() || quoted || !record.is_empty() {
        record.push(finish(&mut field, &mut quoted));
        records.push(record);
    }
    Ok(records)
}

fn csv_rows(text: &str) -> Result<Rows, String> {
    let mut records = csv_records(text)?.into_iter();
    let Some(header) = records.next() else {
        return Ok(Rows::Table {
            columns: Vec::new(),
            rows: Vec::new(),
        });
    };
    let columns: Vec<String> = header
        .into_iter()
        .map(|c| c.unwrap_or_default().trim().to_string())
        .collect();
    if let Some(blank) = columns.iter().position(String::is_empty) {
        return Err(format!("CSV: header column {} has no name", blank + 1));
    }
    let mut rows = Vec::new();
    for (i, record) in records.enumerate() {
        if record.len() != columns.len() {
            return Err(format!(
                "CSV: row {} has {} values, the header {} columns",
                i + 1,
                record.len(),
                columns.len()
            ));
        }
        rows.push(record);
    }
    Ok(Rows::Table { columns, rows })
}

/// The schema with every field nullable (a mocked column may be left out, so NULL).
pub fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Casts text to `data_type`; an error names the first value that does not convert.
fn typed_column(
    values: Vec<Option<String>>,
    data_type: &DataType,
    column: &str,
) -> Result<ArrayRef, String> {
    let text_type = matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let integer = data_type.is_integer();
    let values: Vec<Option<String>> = values
        .into_iter()
        .map(|v| {
            v.map(|v| {
                if text_type {
                    return v;
                }
                let v = v.trim().to_string();
                // `1.0` written for an integer column is 1, as a SQL cast reads it.
                match v.strip_suffix(".0") {
                    Some(whole) if integer && whole.parse::<i64>().is_ok() => whole.to_string(),
                    _ => v,
                }
            })
        })
        .collect();
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let array: ArrayRef = Arc::new(StringArray::from(values.clone()));
    cast_with_options(&array, data_type, &options).map_err(|err| {
        let bad = values.iter().enumerate().find_map(|(i, v)| {
            let one: ArrayRef = Arc::new(StringArray::from(vec![v.clone()]));
            cast_with_options(&one, data_type, &options)
                .is_err()
                .then(|| (i + 1, v.clone().unwrap_or_default()))
        });
        match bad {
            Some((row, value)) => {
                format!("column `{column}`, row {row}: `{value}` is not a {data_type}")
            }
            None => format!("column `{column}`: {err}"),
        }
    })
}

/// Types `rows` by `schema`: each of the schema's columns takes the rows' column of the same
/// name (case-insensitive) or NULL; a column of the rows that the schema lacks is an error.
pub fn typed(
    schema: &Schema,
    columns: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<RecordBatch, String> {
    for column in columns {
        if !schema
            .fields()
            .iter()
            .any(|f| f.name().eq_ignore_ascii_case(column))
        {
            let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(format!(
                "has no column `{column}`; its columns: {}",
                known.join(", ")
            ));
        }
    }
    let schema = nullable(schema);
    let mut arrays = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let array = match columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(field.name()))
        {
            Some(at) => typed_column(
                rows.iter().map(|r| r.get(at).cloned().flatten()).collect(),
                field.data_type(),
                field.name(),
            )?,
            None => new_null_array(field.data_type(), rows.len()),
        };
        arrays.push(array);
    }
    let options = dataflow_engine::datafusion::arrow::array::RecordBatchOptions::new()
        .with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(schema, arrays, &options).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataflow_engine::datafusion::arrow::util::pretty::pretty_format_batches;

    fn table(rows: Rows) -> (Vec<String>, Vec<Vec<Option<String>>>) {
        match rows {
            Rows::Table { columns, rows } => (columns, rows),
            Rows::Sql(sql) => panic!("not a table: {sql}"),
        }
    }

    #[test]
    fn csv_quotes_nulls_and_blank_lines() {
        let (columns, rows) = table(
            csv_rows("id,name,note\n1,\"a, b\",\n2,null,\"\"\"x\"\"\"\n\n3,c,\"\"\r\n").unwrap(),
        );
        assert_eq!(columns, ["id", "name", "note"]);
        let some = |s: &str| Some(s.to_string());
        assert_eq!(rows[0], [some("1"), some("a, b"), None]);
        assert_eq!(rows[1], [some("2"), None, some("\"x\"")]);
        assert_eq!(rows[2], [some("3"), some("c"), some("")]);
        assert_eq!(rows.len(), 3);
        assert!(
            csv_rows("id,name\n1\n")
                .unwrap_err()
                .contains("row 1 has 1 values")
        );
        assert!(csv_rows("id\n\"open\n").unwrap_err().contains("not closed"));
    }

    #[test]
    fn dict_rows_take_every_key_and_null_for_the_missing() {
        let yaml: Value =
            serde_yaml_ng::from_str("- {id: 1, name: a}\n- {ID: 2, amount: 2.5}\n- {id: ~}\n")
                .unwrap();
        let Value::Sequence(items) = yaml else {
            panic!("a list")
        };
        let (columns, rows) = table(dict_rows(&items).unwrap());
        assert_eq!(columns, ["id", "name", "amount"]);
        assert_eq!(rows[1], [Some("2".into()), None, Some("2.5".into())]);
        assert_eq!(rows[2], [None, None, None]);
    }

    #[test]
    fn typed_rows_fill_missing_columns_with_typed_nulls() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("day", DataType::Date32, true),
            Field::new("ok", DataType::Boolean, true),
        ]);
        let columns = vec!["ID".to_string(), "ok".to_string()];
        let rows = vec![
            vec![Some("1.0".to_string()), Some("true".to_string())],
            vec![Some(" 2".to_string()), None],
        ];
        let batch = typed(&schema, &columns, &rows).unwrap();
        assert_eq!(batch.schema().field(2).data_type(), &DataType::Date32);
        let text = pretty_format_batches(&[batch]).unwrap().to_string();
        assert!(text.contains("| 1  |      |     | true |"), "{text}");
        let err = typed(&schema, &["nope".to_string()], &[vec![None]]).unwrap_err();
        assert!(
            err.contains("no column `nope`") && err.contains("id, name, day, ok"),
            "{err}"
        );
        let err = typed(&schema, &["id".to_string()], &[vec![Some("x".into())]]).unwrap_err();
        assert!(
            err.contains("column `id`, row 1: `x` is not a Int64"),
            "{err}"
        );
    }
}
