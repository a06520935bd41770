//! CSV reader: RFC 4180 with a header row mapped to declared columns by name. A line with the
//! wrong number of fields, an unparseable value or a null in a required column is quarantined
//! with its exact line number and raw text; the load goes on.
//!
//! The file is cut into chunks of whole records ([`split`]) that worker threads parse into
//! Arrow batches ([`parallel`]); batches and bad rows are handed on in file order, so the
//! result is the same as reading the file on one thread.

mod parallel;
mod split;

use std::fs::File;
use std::path::Path;

use dataflow_core::config::SourceConfig;
use dataflow_core::types::ColumnType;

use super::{Output, file_error, null_reason};
use crate::batch::{BadRow, RawBatchBuilder};
use crate::error::Result;
use crate::parse::{Cell, parse_cell};

/// Bytes per chunk handed to a parsing thread.
const CHUNK_BYTES: usize = 8 << 20;

/// Reads one CSV file into `out`.
pub fn read(
    path: &Path,
    display: &str,
    source_name: &str,
    source: &SourceConfig,
    out: &mut Output<'_>,
) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    read_chunked(
        path,
        display,
        source_name,
        source,
        out,
        CHUNK_BYTES,
        threads,
    )
}

/// [`read`] with a chosen chunk size and number of parsing threads.
pub(crate) fn read_chunked(
    path: &Path,
    display: &str,
    source_name: &str,
    source: &SourceConfig,
    out: &mut Output<'_>,
    chunk_bytes: usize,
    threads: usize,
) -> Result<()> {
    let bad_file = file_error(source_name, display);
    let file = File::open(path).map_err(|e| bad_file(format!("cannot open: {e}")))?;
    let Some(layout) = Layout::read(&file, source, &bad_file)? else {
        return Ok(());
    };
    parallel::run(&file, &layout, source, out, chunk_bytes, threads, &bad_file)
}

/// Where the declared columns are and where the records start.
struct Layout {
    /// Field position of each declared column.
    positions: Vec<usize>,
    /// Fields a record must have.
    expected_fields: usize,
    /// Byte offset of the first record after the header.
    data_start: u64,
    /// Line number of the byte at `data_start`.
    first_line: u64,
    delimiter: u8,
}

impl Layout {
    /// Reads the header, if the source has one. `None` for an empty file.
    fn read(
        file: &File,
        source: &SourceConfig,
        bad_file: &impl Fn(String) -> crate::error::Error,
    ) -> Result<Option<Layout>> {
        let delimiter = source.csv.delimiter as u8;
        if !source.csv.header {
            return Ok(Some(Layout {
                positions: (0..source.columns.len()).collect(),
                expected_fields: source.columns.len(),
                data_start: 0,
                first_line: 1,
                delimiter,
            }));
        }
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(std::io::BufReader::new(file));
        let mut record = ::csv::ByteRecord::new();
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
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
        let position = reader.position();
        Ok(Some(Layout {
            positions,
            expected_fields: record.len(),
            data_start: position.byte(),
            first_line: position.line(),
            delimiter,
        }))
    }
}

/// What parsing one chunk produced. Line numbers of bad rows count from 1 at the chunk's
/// first byte.
#[derive(Default)]
struct Parsed {
    batches: Vec<dataflow_engine::datafusion::arrow::array::RecordBatch>,
    bad: Vec<BadRow>,
    /// `\n` bytes in the chunk, to number the lines of the chunks after it.
    newlines: u64,
}

/// Parses the records of one chunk into batches of at most `batch_rows` good rows.
fn parse_chunk(
    bytes: &[u8],
    layout: &Layout,
    source: &SourceConfig,
    raw: &mut RawBatchBuilder,
    lineage: &crate::batch::Lineage,
    batch_rows: usize,
) -> Result<Parsed> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(layout.delimiter)
        .from_reader(bytes);
    let mut record = ::csv::ByteRecord::new();
    let types: Vec<ColumnType> = source.columns.iter().map(|c| c.column_type).collect();
    let mut cells: Vec<Cell> = Vec::with_capacity(types.len());
    let mut parsed = Parsed {
        newlines: memchr::memchr_iter(b'\n', bytes).count() as u64,
        ..Parsed::default()
    };
    let expected = layout.expected_fields;
    let mut lines = Lines::default();
    loop {
        let start = reader.position().byte() as usize;
        // Reading from memory cannot fail.
        if !reader.read_byte_record(&mut record).unwrap_or(false) {
            break;
        }
        let end = reader.position().byte() as usize;
        let mut line = || lines.of(bytes, start);
        let raw_text = || raw_text(&bytes[start.min(end)..end]);
        if record.len() != expected {
            parsed.bad.push(BadRow {
                line_number: line(),
                column: None,
                raw_value: None,
                raw_record: raw_text(),
                reason: format!("expected {expected} fields, found {}", record.len()),
            });
            continue;
        }
        cells.clear();
        let mut problem = None;
        for (index, (&position, &column_type)) in layout.positions.iter().zip(&types).enumerate() {
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
            parsed.bad.push(BadRow {
                line_number: line(),
                column: Some(source.columns[index].name.clone()),
                raw_value: Some(String::from_utf8_lossy(text).into_owned()),
                raw_record: raw_text(),
                reason,
            });
            continue;
        }
        let record = &record;
        raw.append(
            cells
                .iter()
                .zip(&layout.positions)
                .map(|(cell, &p)| (*cell, record.get(p).unwrap_or_default())),
        );
        if raw.rows() >= batch_rows {
            parsed.batches.push(raw.finish(lineage)?);
        }
    }
    if raw.rows() > 0 {
        parsed.batches.push(raw.finish(lineage)?);
    }
    Ok(parsed)
}

/// Line numbers of records in a chunk, counted from 1 at its first byte. (The csv crate's
/// own count is one short after a CRLF line end, which it consumes with the next record.)
#[derive(Default)]
struct Lines {
    /// Bytes counted so far.
    upto: usize,
    /// `\n` bytes in them.
    newlines: u64,
}

impl Lines {
    /// The line on which the record read from `start` begins.
    fn of(&mut self, bytes: &[u8], start: usize) -> u64 {
        let first = bytes[start.min(bytes.len())..]
            .iter()
            .position(|b| !matches!(b, b'\n' | b'\r'))
            .map_or(bytes.len(), |p| start + p);
        if first >= self.upto {
            self.newlines += memchr::memchr_iter(b'\n', &bytes[self.upto..first]).count() as u64;
            self.upto = first;
        }
        1 + self.newlines
    }
}

/// The exact bytes of a record, without its line terminator (at most 1 MiB).
fn raw_text(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(1 << 20)];
    let text = String::from_utf8_lossy(bytes);
    text.trim_matches(|c| c == '\n' || c == '\r').to_string()
}
