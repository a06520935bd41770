//! Reader tests on small hand-written files: quoting, line endings, header mapping, bad rows.

use dataflow_core::config::SourceConfig;
use dataflow_engine::datafusion::arrow::array::{Array, AsArray, RecordBatch};
use dataflow_engine::datafusion::arrow::datatypes::Int64Type;
use tokio::sync::mpsc;

use super::{FileCounts, Message, Output};
use crate::batch::Lineage;

fn source(yaml: &str) -> SourceConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

const ORDERS: &str = "
format: csv
path: x
columns:
  - {name: id, type: bigint, nullable: false}
  - {name: note, type: string}
  - {name: amount, type: \"decimal(8,2)\"}
";

fn run_csv(source: &SourceConfig, text: &str) -> (FileCounts, Vec<RecordBatch>, Vec<RecordBatch>) {
    read_csv(source, text, 2, |path, out| {
        super::csv::read(path, "in.csv", "orders", source, out)
    })
}

/// Writes `text` to a file, reads it with `read` into an output of `batch_rows`-row batches,
/// and returns the counts, the good-row batches and the quarantine batches.
fn read_csv(
    source: &SourceConfig,
    text: &str,
    batch_rows: usize,
    read: impl FnOnce(&std::path::Path, &mut Output<'_>) -> crate::error::Result<()>,
) -> (FileCounts, Vec<RecordBatch>, Vec<RecordBatch>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.csv");
    std::fs::write(&path, text).unwrap();
    let lineage = Lineage {
        loaded_at_micros: 0,
        source_file: "in.csv".into(),
        batch_id: "b".into(),
    };
    let (tx, mut rx) = mpsc::channel(100_000);
    let mut out = Output::new("orders", source, &lineage, &tx, batch_rows);
    read(&path, &mut out).unwrap();
    let counts = out.finish().unwrap();
    drop(tx);
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    while let Ok(message) = rx.try_recv() {
        match message {
            Message::Rows(b) => rows.push(b),
            Message::Quarantine(b) => bad.push(b),
        }
    }
    (counts, rows, bad)
}

/// The `line_number` column of quarantine batches.
fn line_numbers(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("line_number")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b.column_by_name(column).unwrap().as_string::<i32>().clone();
            (0..array.len())
                .map(move |i| array.is_valid(i).then(|| array.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn quoted_fields_crlf_and_reordered_header() {
    let source = source(ORDERS);
    let text = "amount,id,note\r\n1.50,1,\"hello, world\"\r\n2,2,\"two\nlines\"\r\n,3,\r\n";
    let (counts, rows, bad) = run_csv(&source, text);
    assert_eq!(counts, FileCounts { good: 3, bad: 0 });
    assert!(bad.is_empty());
    assert_eq!(rows.len(), 2, "batches of 2 rows");
    assert_eq!(
        strings(&rows, "note"),
        vec![Some("hello, world".into()), Some("two\nlines".into()), None]
    );
    let ids: Vec<i64> = rows
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
}

#[test]
fn bad_rows_keep_line_numbers_and_exact_text() {
    let source = source(ORDERS);
    let text = "id,note,amount\n1,ok,1.00\n2,\"multi\nline\",abc\n,missing id,3\n4,too,many,fields\n5,fine,2.5\n";
    let (counts, _rows, bad) = run_csv(&source, text);
    assert_eq!(counts, FileCounts { good: 2, bad: 3 });
    assert_eq!(
        strings(&bad, "raw_record"),
        vec![
            Some("2,\"multi\nline\",abc".into()),
            Some(",missing id,3".into()),
            Some("4,too,many,fields".into()),
        ]
    );
    let lines = line_numbers(&bad);
    assert_eq!(lines, vec![3, 5, 6]);
    let reasons = strings(&bad, "reason");
    assert_eq!(
        reasons[0].as_deref(),
        Some("cannot parse `abc` as decimal(8,2): not a number")
    );
    assert_eq!(reasons[1].as_deref(), Some("null in required column `id`"));
    assert_eq!(reasons[2].as_deref(), Some("expected 3 fields, found 4"));
    assert_eq!(strings(&bad, "column_name")[0].as_deref(), Some("amount"));
}

#[test]
fn a_header_missing_a_declared_column_is_a_file_error() {
    let source = source(ORDERS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.csv");
    std::fs::write(&path, "id,amount\n1,2\n").unwrap();
    let lineage = Lineage {
        loaded_at_micros: 0,
        source_file: "in.csv".into(),
        batch_id: "b".into(),
    };
    let (tx, _rx) = mpsc::channel(16);
    let mut out = Output::new("orders", &source, &lineage, &tx, 2);
    let err = super::csv::read(&path, "in.csv", "orders", &source, &mut out).unwrap_err();
    assert!(
        err.to_string()
            .contains("header lacks declared column(s) note"),
        "{err}"
    );
}

/// Reads `text` with chosen chunk size and threads; returns the good rows as text and the bad
/// rows' (line, raw record, reason).
fn run_chunked(
    source: &SourceConfig,
    text: &str,
    chunk_bytes: usize,
    threads: usize,
) -> (FileCounts, Vec<String>, Vec<(i64, String, String)>) {
    let (counts, good, quarantined) = read_csv(source, text, 3, |path, out| {
        super::csv::read_chunked(path, "in.csv", "orders", source, out, chunk_bytes, threads)
    });
    let mut rows = Vec::new();
    for b in &good {
        assert!(b.num_rows() <= 3, "batches keep the batch size");
        let ids = b.column(0).as_primitive::<Int64Type>().clone();
        let notes = b.column(1).as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            rows.push(format!(
                "{}:{:?}",
                ids.value(i),
                notes.is_valid(i).then(|| notes.value(i))
            ));
        }
    }
    let lines = line_numbers(&quarantined);
    let raw = strings(&quarantined, "raw_record");
    let reasons = strings(&quarantined, "reason");
    let bad = lines
        .into_iter()
        .zip(raw.into_iter().zip(reasons))
        .map(|(line, (raw, reason))| (line, raw.unwrap(), reason.unwrap()))
        .collect();
    (counts, rows, bad)
}

#[test]
fn chunks_on_several_threads_read_like_one_pass() {
    let source = source(ORDERS);
    let mut text = String::from("note,id,amount\r\n");
    for i in 0..200 {
        match i % 7 {
            0 => text.push_str(&format!("\"multi\nline {i}\",{i},1.25\r\n")),
            1 => text.push_str(&format!("x,{i}\r\n")),
            2 => text.push_str(&format!("\"quote \"\"{i}\"\"\",{i},abc\r\n")),
            3 => text.push_str(&format!("plain,{i},2\n")),
            4 => text.push_str("\"a,b\",,3\n"),
            _ => text.push_str(&format!(",{i},\r\n")),
        }
    }
    let whole = run_chunked(&source, &text, 1 << 20, 1);
    assert_eq!(whole.0.good + whole.0.bad, 200);
    assert_eq!(whole.1.len() as u64, whole.0.good);
    // Record i starts on line 2 + i + (records before it that span two lines).
    let line_of = |i: i64| 2 + i + (i + 6) / 7;
    let expected_bad: Vec<i64> = (0..200)
        .filter(|i| matches!(i % 7, 1 | 2 | 4))
        .map(line_of)
        .collect();
    assert_eq!(
        whole.2.iter().map(|b| b.0).collect::<Vec<_>>(),
        expected_bad
    );
    assert_eq!(whole.2[1].1, "\"quote \"\"2\"\"\",2,abc");
    for (chunk_bytes, threads) in [(1, 2), (5, 3), (64, 2), (300, 4), (4096, 8)] {
        let chunked = run_chunked(&source, &text, chunk_bytes, threads);
        assert_eq!(
            chunked, whole,
            "chunks of {chunk_bytes} on {threads} threads"
        );
    }
}

#[test]
fn a_file_without_header_numbers_lines_from_one() {
    let source = source(&format!("{ORDERS}csv: {{header: false}}\n"));
    let text = "1,a,2\n2,b\n3,c,x\n";
    let (counts, rows, bad) = run_chunked(&source, text, 4, 2);
    assert_eq!(counts, FileCounts { good: 1, bad: 2 });
    assert_eq!(rows, vec!["1:Some(\"a\")".to_string()]);
    assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![2, 3]);
}
