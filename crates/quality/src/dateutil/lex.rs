//! dateutil's lexer (`_timelex`): runs of letters, runs of digits with the dots and commas
//! that may be decimal points, each space as `" "`, every other character on its own.

fn is_word(c: char) -> bool {
    c.is_alphabetic()
}

fn is_num(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_space(c: char) -> bool {
    // Python's isspace also counts the ASCII separators 0x1c..0x1f.
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Word,
    Num,
    WordDot,
    NumDot,
}

/// `_timelex.split`: runs of letters, runs of digits (with the dots and commas that may be
/// decimal points, split again where they were separators), each space as `" "`, and every
/// other character on its own.
pub fn lex(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().filter(|c| *c != '\0').collect();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < chars.len() {
        let first = chars[pos];
        pos += 1;
        let mut state = if is_word(first) {
            State::Word
        } else if is_num(first) {
            State::Num
        } else {
            tokens.push(if is_space(first) {
                " ".to_string()
            } else {
                first.to_string()
            });
            continue;
        };
        let mut token = first.to_string();
        let mut seen_letters = false;
        while let Some(&c) = chars.get(pos) {
            let take = match state {
                State::Word => {
                    seen_letters = true;
                    if is_word(c) {
                        true
                    } else if c == '.' {
                        state = State::WordDot;
                        true
                    } else {
                        false
                    }
                }
                State::Num => {
                    if is_num(c) {
                        true
                    } else if c == '.' || (c == ',' && token.chars().count() >= 2) {
                        state = State::NumDot;
                        true
                    } else {
                        false
                    }
                }
                State::WordDot => {
                    seen_letters = true;
                    if c == '.' || is_word(c) {
                        true
                    } else if is_num(c) && token.ends_with('.') {
                        state = State::NumDot;
                        true
                    } else {
                        false
                    }
                }
                State::NumDot => {
                    if c == '.' || is_num(c) {
                        true
                    } else if is_word(c) && token.ends_with('.') {
                        state = State::WordDot;
                        true
                    } else {
                        false
                    }
                }
            };
            if !take {
                break;
            }
            token.push(c);
            pos += 1;
        }
        let dotted = matches!(state, State::WordDot | State::NumDot);
        let mut rest = Vec::new();
        if dotted && (seen_letters || token.matches('.').count() > 1 || token.ends_with(['.', ',']))
        {
            // re.split("([.,])", token): the pieces and the separators, empty pieces dropped
            // (but the first).
            let mut pieces = vec![String::new()];
            for c in token.chars() {
                if c == '.' || c == ',' {
                    pieces.push(c.to_string());
                    pieces.push(String::new());
                } else if let Some(last) = pieces.last_mut() {
                    last.push(c);
                }
            }
            token = pieces.remove(0);
            rest = pieces.into_iter().filter(|p| !p.is_empty()).collect();
        }
        if state == State::NumDot && !token.contains('.') {
            token = token.replace(',', ".");
        }
        tokens.push(token);
        tokens.extend(rest);
    }
    tokens
}
