//! Where in the compiled SQL an engine error points: the parser's `Line: N, Column: M`, or the
//! first mention of the field, table or function the planner could not resolve. Errors show the
//! compiled SQL with line numbers and a caret there, so a long model is not a guessing game.

/// A 1-based line and column in the compiled SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column (in characters), from 1.
    pub column: usize,
}

/// Lines of context shown around the position.
const CONTEXT: usize = 3;
/// Compiled SQL longer than this is cut when no position is known.
const MAX_LINES: usize = 60;

/// The number after `label` in `text`, e.g. `Line: 12`.
fn number_after(text: &str, label: &str) -> Option<usize> {
    let start = text.find(label)? + label.len();
    let digits: String = text[start..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The name following `marker` in `message`, without quotes, qualifiers or trailing punctuation.
fn name_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let word: String = message[start..]
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',')
        .collect();
    let word = word.trim_end_matches(['.', ':']);
    let last = word.rsplit('.').next().unwrap_or(word);
    let name = last.trim_matches(|c| c == '\'' || c == '"' || c == '`');
    (!name.is_empty()).then(|| name.to_string())
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first whole-word, case-insensitive occurrence of `name` in `sql`.
fn find_word(sql: &str, name: &str) -> Option<Position> {
    let needle = name.to_lowercase();
    for (index, line) in sql.lines().enumerate() {
        let lower = line.to_lowercase();
        let mut from = 0;
        while let Some(found) = lower[from..].find(&needle) {
            let at = from + found;
            let before = lower[..at].chars().next_back();
            let after = lower[at + needle.len()..].chars().next();
            if !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char) {
                return Some(Position {
                    line: index + 1,
                    column: lower[..at].chars().count() + 1,
                });
            }
            from = at + needle.len().max(1);
        }
    }
    None
}

/// Where `message` points in `sql`, if it can be told.
pub fn locate(sql: &str, message: &str) -> Option<Position> {
    if let (Some(line), Some(column)) = (
        number_after(message, "Line:"),
        number_after(message, "Column:"),
    ) && line >= 1
    {
        return Some(Position { line, column });
    }
    const MARKERS: [&str; 5] = [
        "No field named",
        "table '",
        "Invalid function '",
        "Invalid function",
        "not found:",
    ];
    MARKERS.iter().find_map(|marker| {
        let marker = marker.trim_end_matches('\'');
        name_after(message, marker).and_then(|name| find_word(sql, &name))
    })
}

/// The compiled SQL with line numbers: around the error position with a caret when it is
/// known, else the whole statement (cut after 60 lines).
pub fn excerpt(sql: &str, message: &str) -> String {
    let lines: Vec<&str> = sql.lines().collect();
    let width = lines.len().to_string().len();
    let numbered = |index: usize| format!("{:>width$} | {}", index + 1, lines[index]);
    let mut out = String::from("compiled SQL:\n");
    match locate(sql, message).filter(|p| p.line <= lines.len()) {
        Some(position) => {
            let first = position.line.saturating_sub(CONTEXT + 1);
            let last = (position.line + CONTEXT).min(lines.len());
            for index in first..last {
                out.push_str(&numbered(index));
                out.push('\n');
                if index + 1 == position.line {
                    let pad = " ".repeat(width + 3 + position.column.saturating_sub(1));
                    out.push_str(&format!(
                        "{pad}^ line {}, column {}\n",
                        position.line, position.column
                    ));
                }
            }
        }
        None => {
            for index in 0..lines.len().min(MAX_LINES) {
                out.push_str(&numbered(index));
                out.push('\n');
            }
            if lines.len() > MAX_LINES {
                out.push_str(&format!(
                    "... {} more lines (the whole statement is under target/compiled/)\n",
                    lines.len() - MAX_LINES
                ));
            }
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "select\n  id,\n  amount_cents\nfrom orders\nwhere id > 1";

    #[test]
    fn parser_positions_are_used_as_given() {
        let message = "SQL error: ParserError(\"Expected: end of statement, found: x at Line: 4, Column: 6\")";
        assert_eq!(locate(SQL, message), Some(Position { line: 4, column: 6 }));
    }

    #[test]
    fn unknown_fields_point_at_their_first_mention() {
        let message = "Schema error: No field named amount_cents. Valid fields are orders.id.";
        assert_eq!(locate(SQL, message), Some(Position { line: 3, column: 3 }));
        let text = excerpt(SQL, message);
        assert!(
            text.contains("3 |   amount_cents\n      ^ line 3, column 3"),
            "{text}"
        );
    }

    #[test]
    fn qualified_names_and_tables_are_found_as_whole_words() {
        let message = "Schema error: No field named o.\"id\".";
        assert_eq!(locate(SQL, message), Some(Position { line: 2, column: 3 }));
        let message = "Error during planning: table 'datafusion.public.orders' not found";
        assert_eq!(locate(SQL, message), Some(Position { line: 4, column: 6 }));
    }

    #[test]
    fn unknown_positions_show_the_numbered_statement() {
        let text = excerpt(SQL, "Arrow error: Divide by zero error");
        assert!(
            text.starts_with("compiled SQL:\n1 | select\n2 |   id,"),
            "{text}"
        );
        assert!(!text.contains('^'));
    }
}
