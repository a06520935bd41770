//! Comparing the rows a model returned with the expected rows, as dbt does: both sides are
//! sorted (NULLs last) and compared as multisets, and a difference is shown the way dbt's
//! (daff's) table diff shows it: `+++` a row only in the actual rows, `---` a row only
//! expected, `→` a row with changed cells (`expected→actual`), unchanged rows around them as
//! context.

use std::collections::HashMap;

use dataflow_engine::datafusion::arrow::array::{Array, RecordBatch};
use dataflow_engine::datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices,
};
use dataflow_engine::datafusion::arrow::datatypes::SchemaRef;
use dataflow_engine::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// One row as text, `None` for NULL.
pub type Row = Vec<Option<String>>;

/// The rows of `batches` as text, sorted on every column with NULLs last.
pub fn sorted_rows(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<Row>, String> {
    let batch = concat_batches(schema, batches).map_err(|e| e.to_string())?;
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let cell = |row: usize, column: usize| -> Option<String> {
        (!batch.column(column).is_null(row)).then(|| formatters[column].value(row).to_string())
    };
    let row = |i: usize| -> Row { (0..batch.num_columns()).map(|c| cell(i, c)).collect() };
    let sort_columns: Vec<SortColumn> = batch
        .columns()
        .iter()
        .map(|c| SortColumn {
            values: c.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    if batch.num_columns() > 0
        && let Ok(indices) = lexsort_to_indices(&sort_columns, None)
    {
        return Ok(indices.values().iter().map(|&i| row(i as usize)).collect());
    }
    // Types without an order: sort the text, NULLs last.
    let mut rows: Vec<Row> = (0..batch.num_rows()).map(row).collect();
    rows.sort_by(|a, b| {
        a.iter()
            .map(|v| (v.is_none(), v))
            .cmp(b.iter().map(|v| (v.is_none(), v)))
    });
    Ok(rows)
}

/// A difference between expected and actual rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// Rows missing, unexpected or changed.
    pub differences: usize,
    /// The table diff, one line per row.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Line {
    /// Expected row `e` equals actual row `a`.
    Same(usize, usize),
    /// Expected row `e` became actual row `a`.
    Changed(usize, usize),
    /// Expected row `e` is missing.
    Removed(usize),
    /// Actual row `a` was not expected.
    Added(usize),
    /// Unchanged rows left out.
    Elided,
}

impl Line {
    fn actual(self) -> Option<usize> {
        match self {
            Line::Same(_, a) | Line::Changed(_, a) | Line::Added(a) => Some(a),
            Line::Removed(_) | Line::Elided => None,
        }
    }

    fn is_change(self) -> bool {
        !matches!(self, Line::Same(..) | Line::Elided)
    }
}

/// Compares sorted rows as multisets; `None` when they are equal.
pub fn compare(columns: &[String], expected: &[Row], actual: &[Row]) -> Option<Diff> {
    // Equal rows pair up first, each actual row once.
    let mut unmatched: HashMap<&Row, Vec<usize>> = HashMap::new();
    for (a, row) in actual.iter().enumerate().rev() {
        unmatched.entry(row).or_default().push(a);
    }
    let mut taken = vec![false; actual.len()];
    let mut lines: Vec<Option<Line>> = expected
        .iter()
        .enumerate()
        .map(|(e, row)| {
            let a = unmatched.get_mut(row).and_then(Vec::pop)?;
            taken[a] = true;
            Some(Line::Same(e, a))
        })
        .collect();
    // A missing row pairs with the unexpected row sharing most cells (at least half), as a
    // changed row.
    let width = columns.len();
    for (e, line) in lines.iter_mut().enumerate() {
        if line.is_some() {
            continue;
        }
        let best = actual
            .iter()
            .enumerate()
            .filter(|(a, _)| !taken[*a])
            .map(|(a, row)| {
                let same = row.iter().zip(&expected[e]).filter(|(x, y)| x == y).count();
                (a, same)
            })
            .filter(|&(_, same)| same >= 1 && 2 * same >= width)
            .max_by(|x, y| x.1.cmp(&y.1).then(y.0.cmp(&x.0)));
        *line = Some(match best {
            Some((a, _)) => {
                taken[a] = true;
                Line::Changed(e, a)
            }
            None => Line::Removed(e),
        });
    }
    let mut lines: Vec<Line> = lines.into_iter().flatten().collect();
    // Unexpected rows go after the last line whose actual row sorts before them.
    for a in (0..actual.len()).filter(|&a| !taken[a]) {
        let at = lines
            .iter()
            .rposition(|l| l.actual().is_some_and(|x| x < a))
            .map_or(0, |i| i + 1);
        lines.insert(at, Line::Added(a));
    }
    // Within a run of missing and unexpected rows, the missing come first.
    let mut start = 0;
    while start < lines.len() {
        let end = lines[start..]
            .iter()
            .position(|l| !matches!(l, Line::Removed(_) | Line::Added(_)))
            .map_or(lines.len(), |n| start + n);
        lines[start..end].sort_by_key(|l| matches!(l, Line::Added(_)));
        start = end + 1;
    }
    let differences = lines.iter().filter(|l| l.is_change()).count();
    if differences == 0 {
        return None;
    }
    Some(Diff {
        differences,
        text: render(columns, expected, actual, &with_context(&lines)),
    })
}

/// Keeps unchanged rows next to a change; each run of others becomes one `...` line.
fn with_context(lines: &[Line]) -> Vec<Line> {
    let near_change = |i: usize| {
        lines[i.saturating_sub(1)..(i + 2).min(lines.len())]
            .iter()
            .any(|l| l.is_change())
    };
    let mut out: Vec<Line> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.is_change() || near_change(i) {
            out.push(*line);
        } else if out.last() != Some(&Line::Elided) {
            out.push(Line::Elided);
        }
    }
    out
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "NULL".to_string())
}

fn render(columns: &[String], expected: &[Row], actual: &[Row], lines: &[Line]) -> String {
    let mut table: Vec<Vec<String>> = vec![
        std::iter::once("@@".to_string())
            .chain(columns.iter().cloned())
            .collect(),
    ];
    for line in lines {
        let (marker, cells): (&str, Vec<String>) = match *line {
            Line::Same(e, _) => ("", expected[e].iter().map(text).collect()),
            Line::Removed(e) => ("---", expected[e].iter().map(text).collect()),
            Line::Added(a) => ("+++", actual[a].iter().map(text).collect()),
            Line::Changed(e, a) => (
                "→",
                expected[e]
                    .iter()
                    .zip(&actual[a])
                    .map(|(x, y)| {
                        if x == y {
                            text(x)
                        } else {
                            format!("{}→{}", text(x), text(y))
                        }
                    })
                    .collect(),
            ),
            Line::Elided => ("...", vec!["...".to_string(); columns.len()]),
        };
        table.push(std::iter::once(marker.to_string()).chain(cells).collect());
    }
    let widths: Vec<usize> = (0..=columns.len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
                .max(3)
        })
        .collect();
    table
        .iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
                .collect();
            cells.join(",").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[&[&str]]) -> Vec<Row> {
        text.iter()
            .map(|r| {
                r.iter()
                    .map(|c| (*c != "∅").then(|| c.to_string()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn equal_multisets_have_no_diff() {
        let columns = ["id".to_string(), "name".to_string()];
        let same = rows(&[&["1", "a"], &["1", "a"], &["2", "∅"]]);
        assert_eq!(compare(&columns, &same, &same), None);
    }

    #[test]
    fn changed_missing_and_unexpected_rows_like_dbt_shows_them() {
        let columns = ["id".to_string(), "name".to_string()];
        let expected = rows(&[
            &["1", "a"],
            &["2", "b"],
            &["3", "c"],
            &["4", "d"],
            &["5", "e"],
            &["6", "x"],
        ]);
        let actual = rows(&[
            &["1", "a"],
            &["2", "B"],
            &["3", "c"],
            &["4", "d"],
            &["5", "e"],
            &["7", "f"],
            &["8", "∅"],
        ]);
        let diff = compare(&columns, &expected, &actual).expect("a diff");
        assert_eq!(diff.differences, 4);
        assert_eq!(
            diff.text,
            "@@ ,id ,name\n\
             ,1  ,a\n\
             →  ,2  ,b→B\n\
             ,3  ,c\n\
             ...,...,...\n\
             ,5  ,e\n\
             ---,6  ,x\n\
             +++,7  ,f\n\
             +++,8  ,NULL"
                .replace("\n,", "\n   ,")
        );
    }

    #[test]
    fn duplicates_count() {
        let columns = ["id".to_string()];
        let expected = rows(&[&["1"], &["1"]]);
        let actual = rows(&[&["1"]]);
        let diff = compare(&columns, &expected, &actual).expect("a diff");
        assert_eq!(diff.differences, 1);
        assert!(diff.text.ends_with("---,1"), "{}", diff.text);
    }
}
