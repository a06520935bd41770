//! dbt node selection: `--select` / `--exclude` with names, `tag:`, `path:`, `fqn:`, graph
//! operators (`+model`, `model+`, `2+model`, `model+1`, `@model`), unions (spaces) and
//! intersections (commas).

use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::render::Compiled;

struct Graph<'a> {
    models: &'a [Compiled],
    by_name: HashMap<&'a str, usize>,
    children: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    fn new(models: &'a [Compiled]) -> Graph<'a> {
        let by_name: HashMap<&str, usize> = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.as_str(), i))
            .collect();
        let mut children = vec![Vec::new(); models.len()];
        for (i, model) in models.iter().enumerate() {
            for parent in &model.refs {
                if let Some(&p) = by_name.get(parent.as_str()) {
                    children[p].push(i);
                }
            }
        }
        Graph {
            models,
            by_name,
            children,
        }
    }

    fn parents(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.models[i]
            .refs
            .iter()
            .filter_map(|r| self.by_name.get(r.as_str()).copied())
    }

    /// Nodes reachable from `start` within `depth` steps (None: unlimited), upwards or downwards.
    fn walk(&self, start: &BTreeSet<usize>, depth: Option<usize>, up: bool) -> BTreeSet<usize> {
        let mut seen = start.clone();
        let mut frontier: Vec<usize> = start.iter().copied().collect();
        let mut steps = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| steps < d) {
            let mut next = Vec::new();
            for &node in &frontier {
                let neighbours: Vec<usize> = if up {
                    self.parents(node).collect()
                } else {
                    self.children[node].clone()
                };
                for n in neighbours {
                    if seen.insert(n) {
                        next.push(n);
                    }
                }
            }
            frontier = next;
            steps += 1;
        }
        seen
    }
}

fn parse_depth(text: &str, spec: &str) -> Result<Option<usize>> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<usize>().map(Some).map_err(|_| {
        Error::Graph(format!(
            "invalid selector `{spec}`: `{text}` is not a depth"
        ))
    })
}

/// Resolves one selector atom (no spaces, no commas).
fn atom(graph: &Graph<'_>, spec: &str) -> Result<BTreeSet<usize>> {
    let (at, rest) = match spec.strip_prefix('@') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    // `2+name` / `+name`: digits then `+` at the start; `name+` / `name+3`: `+` then digits
    // at the end. Digits that are part of a name (`customer_360`) are not a depth.
    let digits_then_plus = rest
        .find('+')
        .filter(|&i| rest[..i].chars().all(|c| c.is_ascii_digit()));
    let (up, rest) = match digits_then_plus {
        Some(i) => (Some(parse_depth(&rest[..i], spec)?), &rest[i + 1..]),
        None => (None, rest),
    };
    let plus_then_digits = rest
        .rfind('+')
        .filter(|&i| rest[i + 1..].chars().all(|c| c.is_ascii_digit()));
    let (core, down) = match plus_then_digits {
        Some(i) => (&rest[..i], Some(parse_depth(&rest[i + 1..], spec)?)),
        None => (rest, None),
    };
    if core.is_empty() || core.contains('+') {
        return Err(Error::Graph(format!("invalid selector `{spec}`")));
    }
    let matches = |model: &Compiled| -> bool {
        if let Some(tag) = core.strip_prefix("tag:") {
            model.config.tags.iter().any(|t| t == tag)
        } else if let Some(path) = core.strip_prefix("path:") {
            model
                .path
                .to_string_lossy()
                .replace('\\', "/")
                .contains(path.trim_end_matches('/'))
        } else if let Some(name) = core.strip_prefix("fqn:") {
            model.name == name
        } else if core.contains('*') {
            glob_match(core, &model.name)
        } else {
            model.name == core
        }
    };
    let base: BTreeSet<usize> = graph
        .models
        .iter()
        .enumerate()
        .filter(|(_, m)| matches(m))
        .map(|(i, _)| i)
        .collect();
    if base.is_empty() && !core.contains(':') && !core.contains('*') {
        let known: Vec<&str> = graph.models.iter().map(|m| m.name.as_str()).collect();
        return Err(Error::Graph(format!(
            "selector `{spec}` matches no model; models: {}",
            known.join(", ")
        )));
    }
    let mut selected = base.clone();
    if let Some(depth) = up {
        selected.extend(graph.walk(&base, depth, true));
    }
    if let Some(depth) = down {
        selected.extend(graph.walk(&base, depth, false));
    }
    if at {
        let descendants = graph.walk(&base, None, false);
        selected.extend(graph.walk(&descendants, None, true));
    }
    Ok(selected)
}

fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(stripped) = rest.strip_prefix(part) else {
                return false;
            };
            rest = stripped;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(found) = rest.find(part) {
            rest = &rest[found + part.len()..];
        } else {
            return false;
        }
    }
    rest.is_empty()
}

fn expression(graph: &Graph<'_>, text: &str) -> Result<BTreeSet<usize>> {
    let mut union = BTreeSet::new();
    for term in text.split_whitespace() {
        let mut intersection: Option<BTreeSet<usize>> = None;
        for spec in term.split(',').filter(|s| !s.is_empty()) {
            let set = atom(graph, spec)?;
            intersection = Some(match intersection {
                Some(current) => current.intersection(&set).copied().collect(),
                None => set,
            });
        }
        union.extend(intersection.unwrap_or_default());
    }
    Ok(union)
}

/// Filters `models` (in build order) by `--select` (default: all) and `--exclude`; keeps order.
pub fn select(models: &[Compiled], select: &[String], exclude: &[String]) -> Result<Vec<Compiled>> {
    let graph = Graph::new(models);
    let mut chosen: BTreeSet<usize> = if select.is_empty() {
        (0..models.len()).collect()
    } else {
        expression(&graph, &select.join(" "))?
    };
    if !exclude.is_empty() {
        for i in expression(&graph, &exclude.join(" "))? {
            chosen.remove(&i);
        }
    }
    Ok(models
        .iter()
        .enumerate()
        .filter(|(i, _)| chosen.contains(i))
        .map(|(_, m)| m.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Materialization, ModelConfig};

    fn model(name: &str, refs: &[&str], tags: &[&str], path: &str) -> Compiled {
        Compiled {
            name: name.into(),
            path: path.into(),
            sql: String::new(),
            refs: refs.iter().map(|r| r.to_string()).collect(),
            sources: vec![],
            config: ModelConfig {
                tags: tags.iter().map(|t| t.to_string()).collect(),
                ..ModelConfig::default()
            },
            materialization: Materialization::View,
            pending: Vec::new(),
            render_error: None,
        }
    }

    // a -> b -> c -> d, and e -> c
    fn project() -> Vec<Compiled> {
        vec![
            model("a", &[], &["staging"], "models/staging/a.sql"),
            model("e", &[], &["staging"], "models/staging/e.sql"),
            model("b", &["a"], &[], "models/intermediate/b.sql"),
            model("c", &["b", "e"], &["marts"], "models/marts/c.sql"),
            model("d", &["c"], &["marts"], "models/marts/d.sql"),
        ]
    }

    fn names(selected: &[Compiled]) -> Vec<&str> {
        selected.iter().map(|m| m.name.as_str()).collect()
    }

    fn sel(select_text: &str, exclude_text: &str) -> Vec<String> {
        let models = project();
        let to_vec = |t: &str| {
            if t.is_empty() {
                vec![]
            } else {
                vec![t.to_string()]
            }
        };
        let chosen = select(&models, &to_vec(select_text), &to_vec(exclude_text)).unwrap();
        names(&chosen).into_iter().map(str::to_string).collect()
    }

    #[test]
    fn names_tags_paths_and_globs() {
        assert_eq!(sel("b", ""), ["b"]);
        assert_eq!(sel("tag:staging", ""), ["a", "e"]);
        assert_eq!(sel("path:models/marts", ""), ["c", "d"]);
        assert_eq!(sel("*", "tag:marts"), ["a", "e", "b"]);
        assert_eq!(sel("", ""), ["a", "e", "b", "c", "d"]);
    }

    #[test]
    fn names_with_digits_are_not_depths() {
        let models = vec![
            model("360_base", &[], &[], "models/360_base.sql"),
            model(
                "customer_360",
                &["360_base"],
                &[],
                "models/customer_360.sql",
            ),
            model("features", &["customer_360"], &[], "models/features.sql"),
        ];
        let pick = |text: &str| -> Vec<String> {
            select(&models, &[text.to_string()], &[])
                .expect("valid selector")
                .iter()
                .map(|m| m.name.clone())
                .collect()
        };
        assert_eq!(pick("customer_360"), ["customer_360"]);
        assert_eq!(pick("360_base"), ["360_base"]);
        assert_eq!(pick("customer_360+"), ["customer_360", "features"]);
        assert_eq!(pick("1+customer_360"), ["360_base", "customer_360"]);
        assert_eq!(pick("360_base+1"), ["360_base", "customer_360"]);
        assert!(select(&models, &["a+b+c".to_string()], &[]).is_err());
    }

    #[test]
    fn graph_operators() {
        assert_eq!(sel("+c", ""), ["a", "e", "b", "c"]);
        assert_eq!(sel("1+c", ""), ["e", "b", "c"]);
        assert_eq!(sel("b+", ""), ["b", "c", "d"]);
        assert_eq!(sel("b+1", ""), ["b", "c"]);
        assert_eq!(sel("@b", ""), ["a", "e", "b", "c", "d"]);
    }

    #[test]
    fn unions_intersections_and_exclusions() {
        assert_eq!(sel("a d", ""), ["a", "d"]);
        assert_eq!(sel("+d,tag:staging", ""), ["a", "e"]);
        assert_eq!(sel("+d", "a e"), ["b", "c", "d"]);
    }

    #[test]
    fn unknown_names_and_bad_selectors_are_errors() {
        let models = project();
        let err = select(&models, &["nope".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("matches no model"), "{err}");
        assert!(select(&models, &["x+y+".into()], &[]).is_err());
        // Non-ASCII names are errors, not panics.
        assert!(select(&models, &["modèle+".into()], &[]).is_err());
    }
}
