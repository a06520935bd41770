//! CSV reader: RFC 4180 with a header row mapped to declared columns by name. A line with the
//! wrong number of fields, an unparseable value or a null in a required column is quarantined
//! with its exact line number and raw text; the load goes on.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::FileExt;
use std::path::Path;

use dataflow_core::config::SourceConfig;

use super::{Output, file_error, null_reason};
use crate::batch::BadRow;
use crate::error::Result;
use crate::parse::{Cell, parse_cell};

/// Reads one CSV file into `out`.
pub fn read(
    path: &Path,
    display: &str,
    source_name: &str,
    source: &SourceConfig,
    out: &mut Output<'_>,
) -> Result<()> {
    let bad_file = file_error(source_name, display);
    let file = File::open(path).map_err(|e| bad_file(format!("cannot open: {e}")))?;
    let raw_file = file.try_clone().map_err(|e| bad_file(e.to_string()))?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(source.csv.delimiter as u8)
        .buffer_capacity(1 << 20)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let mut record = ::csv::ByteRecord::new();

    // Map declared columns to field positions.
    let positions: Vec<usize> = if source.csv.header {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(bad_file(format!("cannot read header: {e}"))),
        }
        let header: Vec<String> = record
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f)
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_string()
            })
            .collect();
        let mut positions = Vec::with_capacity(source.columns.len());
        let mut missing = Vec::new();
        for column in &source.columns {
            match header.iter().position(|h| h == &column.name) {
                Some(p) => positions.push(p),
                None => missing.push(column.name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(bad_file(format!(
                "header lacks declared column(s) {}; header has: {}",
                missing.join(", "),
                header.join(", ")
            )));
        }
        positions
    } else {
        (0..source.columns.len()).collect()
    };
    let expected_fields = if source.csv.header {
        record.len()
    } else {
        source.columns.len()
    };

    let types: Vec<_> = source.columns.iter().map(|c| c.column_type).collect();
    let mut cells: Vec<Cell> = Vec::with_capacity(types.len());
    loop {
        let start = reader.position().byte();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(bad_file(format!("unreadable after byte {start}: {e}")));
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let end = reader.position().byte();
        let raw = || raw_text(&raw_file, start, end);
        if record.len() != expected_fields {
            out.bad(BadRow {
                line_number: line,
                column: None,
                raw_value: None,
                raw_record: raw(),
                reason: format!("expected {expected_fields} fields, found {}", record.len()),
            })?;
            continue;
        }
        cells.clear();
        let mut problem = None;
        for (index, (&position, &column_type)) in positions.iter().zip(&types).enumerate() {
            let text = record.get(position).unwrap_or_default();
            match parse_cell(text, column_type) {
                Ok(Cell::Null) if !source.columns[index].nullable => {
                    problem = Some((index, null_reason(&source.columns[index].name), text));
                    break;
                }
                Ok(cell) => cells.push(cell),
                Err(reason) => {
                    problem = Some((index, reason, text));
                    break;
                }
            }
        }
        if let Some((index, reason, text)) = problem {
            out.bad(BadRow {
                line_number: line,
                column: Some(source.columns[index].name.clone()),
                raw_value: Some(String::from_utf8_lossy(text).into_owned()),
                raw_record: raw(),
                reason,
            })?;
            continue;
        }
        let record = &record;
        out.raw().append(
            cells
                .iter()
                .zip(&positions)
                .map(|(cell, &p)| (*cell, record.get(p).unwrap_or_default())),
        );
        out.row_done()?;
    }
    Ok(())
}

/// The exact bytes of a record, without its line terminator.
fn raw_text(file: &File, start: u64, end: u64) -> String {
    let len = end.saturating_sub(start).min(1 << 20) as usize;
    let mut buffer = vec![0u8; len];
    if file.read_exact_at(&mut buffer, start).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buffer);
    text.trim_matches(|c| c == '\n' || c == '\r').to_string()
}
