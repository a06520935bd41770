//! JSON-lines reader: one object per line, keys matched to declared columns by name; a missing
//! key or `null` is NULL. Numbers and strings are both accepted where they parse as the column's
//! type. A line that is not a JSON object, or whose values do not fit, is quarantined.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use dataflow_core::config::SourceConfig;
use dataflow_core::types::ColumnType;
use serde_json::Value;

use super::{Output, file_error, null_reason};
use crate::batch::BadRow;
use crate::error::Result;
use crate::parse::{Cell, parse_cell};

/// Reads one JSON-lines file into `out`.
pub fn read(
    path: &Path,
    display: &str,
    source_name: &str,
    source: &SourceConfig,
    out: &mut Output<'_>,
) -> Result<()> {
    let bad_file = file_error(source_name, display);
    let file = File::open(path).map_err(|e| bad_file(format!("cannot open: {e}")))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(1024);
    let mut texts: Vec<String> = Vec::with_capacity(source.columns.len());
    let mut cells: Vec<Cell> = Vec::with_capacity(source.columns.len());
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| bad_file(format!("read failed after line {number}: {e}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        let raw = || String::from_utf8_lossy(trimmed).into_owned();
        let object = match serde_json::from_slice::<Value>(trimmed) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                out.bad(BadRow {
                    line_number: number,
                    column: None,
                    raw_value: None,
                    raw_record: raw(),
                    reason: "not a JSON object".to_string(),
                })?;
                continue;
            }
            Err(e) => {
                out.bad(BadRow {
                    line_number: number,
                    column: None,
                    raw_value: None,
                    raw_record: raw(),
                    reason: format!("invalid JSON: {e}"),
                })?;
                continue;
            }
        };
        texts.clear();
        cells.clear();
        let mut problem = None;
        for column in &source.columns {
            let text = match object.get(&column.name) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                Some(other) if column.column_type == ColumnType::String => other.to_string(),
                Some(other) => {
                    problem = Some((
                        column,
                        format!("expected {}, found {other}", column.column_type),
                        other.to_string(),
                    ));
                    break;
                }
            };
            match parse_cell(text.as_bytes(), column.column_type) {
                Ok(Cell::Null) if !column.nullable => {
                    problem = Some((column, null_reason(&column.name), text));
                    break;
                }
                Ok(cell) => {
                    cells.push(cell);
                    texts.push(text);
                }
                Err(reason) => {
                    problem = Some((column, reason, text));
                    break;
                }
            }
        }
        if let Some((column, reason, value)) = problem {
            out.bad(BadRow {
                line_number: number,
                column: Some(column.name.clone()),
                raw_value: Some(value),
                raw_record: raw(),
                reason,
            })?;
            continue;
        }
        out.raw()
            .append(cells.iter().zip(&texts).map(|(c, t)| (*c, t.as_bytes())));
        out.row_done()?;
    }
    Ok(())
}
