//! dbt node selection: `--select` / `--exclude` with names, `tag:`, `path:`, `fqn:`, graph
//! operators (`+model`, `model+`, `2+model`, `model+1`, `@model`), unions (spaces) and
//! intersections (commas); for tests also test names, `test_type:` and `test_name:`.

use std::collections::{BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::render::Compiled;
use crate::schema_tests::SchemaTest;

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

/// A selector atom (no spaces, no commas) taken apart.
struct Atom<'s> {
    spec: &'s str,
    /// `@name`: the model, its descendants and all their ancestors.
    at: bool,
    /// `n+name`: ancestors (to depth n; `None` for all).
    up: Option<Option<usize>>,
    /// The method and value, e.g. `tag:nightly` or a name.
    core: &'s str,
    /// `name+n`: descendants.
    down: Option<Option<usize>>,
}

impl<'s> Atom<'s> {
    fn parse(spec: &'s str) -> Result<Atom<'s>> {
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
        Ok(Atom {
            spec,
            at,
            up,
            core,
            down,
        })
    }

    fn has_graph_operators(&self) -> bool {
        self.at || self.up.is_some() || self.down.is_some()
    }

    /// `test_type:unit` / `test_name:unique`: methods that select tests, never models.
    fn test_method(&self) -> Result<Option<(&'s str, &'s str)>> {
        let Some((method, value)) = self.core.split_once(':') else {
            return Ok(None);
        };
        if !matches!(method, "test_type" | "test_name") {
            return Ok(None);
        }
        if self.has_graph_operators() {
            return Err(Error::Graph(format!(
                "invalid selector `{}`: graph operators apply to models, not to `{method}:`",
                self.spec
            )));
        }
        if method == "test_type" && !matches!(value, "unit" | "data" | "generic" | "singular") {
            return Err(Error::Graph(format!(
                "invalid selector `{}`: test_type is unit, data, generic or singular",
                self.spec
            )));
        }
        Ok(Some((method, value)))
    }

    /// Whether the core names things by a method or a pattern (so matching nothing is fine).
    fn is_pattern(&self) -> bool {
        self.core.contains(':') || self.core.contains('*')
    }

    /// Whether the core (a name or glob) matches `name`.
    fn names(&self, name: &str) -> bool {
        if self.core.contains('*') {
            glob_match(self.core, name)
        } else {
            self.core == name
        }
    }

    /// The models the atom selects, graph operators applied.
    fn models(&self, graph: &Graph<'_>) -> BTreeSet<usize> {
        let core = self.core;
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
            } else {
                self.names(&model.name)
            }
        };
        let base: BTreeSet<usize> = graph
            .models
            .iter()
            .enumerate()
            .filter(|(_, m)| matches(m))
            .map(|(i, _)| i)
            .collect();
        let mut selected = base.clone();
        if let Some(depth) = self.up {
            selected.extend(graph.walk(&base, depth, true));
        }
        if let Some(depth) = self.down {
            selected.extend(graph.walk(&base, depth, false));
        }
        if self.at {
            let descendants = graph.walk(&base, None, false);
            selected.extend(graph.walk(&descendants, None, true));
        }
        selected
    }

    fn matches_nothing(&self, graph: &Graph<'_>) -> Error {
        let known: Vec<&str> = graph.models.iter().map(|m| m.name.as_str()).collect();
        Error::Graph(format!(
            "selector `{}` matches no model; models: {}",
            self.spec,
            known.join(", ")
        ))
    }
}

/// Resolves one selector atom to models. Test selectors (`test_type:`, `test_name:`, a unit
/// test's name) select no model.
fn atom(graph: &Graph<'_>, spec: &str) -> Result<BTreeSet<usize>> {
    let atom = Atom::parse(spec)?;
    if atom.test_method()?.is_some() {
        return Ok(BTreeSet::new());
    }
    let selected = atom.models(graph);
    if selected.is_empty() && !atom.is_pattern() {
        let unit_test = graph
            .models
            .iter()
            .any(|m| m.unit_tests.iter().any(|t| t == atom.core));
        if !unit_test {
            return Err(atom.matches_nothing(graph));
        }
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

/// Evaluates a selector expression: spaces are unions, commas intersections.
fn evaluate<T: Ord + Clone>(
    text: &str,
    mut atom: impl FnMut(&str) -> Result<BTreeSet<T>>,
) -> Result<BTreeSet<T>> {
    let mut union = BTreeSet::new();
    for term in text.split_whitespace() {
        let mut intersection: Option<BTreeSet<T>> = None;
        for spec in term.split(',').filter(|s| !s.is_empty()) {
            let set = atom(spec)?;
            intersection = Some(match intersection {
                Some(current) => current.intersection(&set).cloned().collect(),
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
        evaluate(&select.join(" "), |spec| atom(&graph, spec))?
    };
    if !exclude.is_empty() {
        for i in evaluate(&exclude.join(" "), |spec| atom(&graph, spec))? {
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

/// A node a test selector may pick.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Model(usize),
    Test(usize),
}

fn is_type(test: &SchemaTest, test_type: &str) -> bool {
    match test_type {
        "unit" => test.kind == "unit",
        "singular" => test.kind == "singular",
        "generic" => !matches!(test.kind.as_str(), "unit" | "singular"),
        // data tests: generic and singular.
        _ => test.kind != "unit",
    }
}

fn unit_tags(test: &SchemaTest) -> &[String] {
    test.unit
        .as_ref()
        .map_or(&[], |case| case.test.spec.config.tags.as_slice())
}

/// Resolves one selector atom to models and tests, as dbt's `test` and `build` select: tests
/// chosen directly (by name, `test_type:`, `test_name:`, a unit test's `tag:`) and the tests of
/// the models (or seeds) chosen.
fn test_atom(graph: &Graph<'_>, tests: &[SchemaTest], spec: &str) -> Result<BTreeSet<Node>> {
    let atom = Atom::parse(spec)?;
    if let Some((method, value)) = atom.test_method()? {
        return Ok(tests
            .iter()
            .enumerate()
            .filter(|(_, t)| match method {
                "test_type" => is_type(t, value),
                _ => t.kind == value,
            })
            .map(|(i, _)| Node::Test(i))
            .collect());
    }
    let models = atom.models(graph);
    let model_names: BTreeSet<&str> = models
        .iter()
        .map(|&i| graph.models[i].name.as_str())
        .collect();
    let tag = atom.core.strip_prefix("tag:");
    let plain = !atom.core.contains(':');
    let direct = |t: &SchemaTest| match tag {
        Some(tag) => unit_tags(t).iter().any(|x| x == tag),
        // A test by its name, or the tests of a seed named.
        None => plain && (atom.names(&t.name) || atom.names(&t.model)),
    };
    let mut selected: BTreeSet<Node> = models.iter().map(|&i| Node::Model(i)).collect();
    selected.extend(
        tests
            .iter()
            .enumerate()
            .filter(|(_, t)| model_names.contains(t.model.as_str()) || direct(t))
            .map(|(i, _)| Node::Test(i)),
    );
    if selected.is_empty() && !atom.is_pattern() {
        return Err(atom.matches_nothing(graph));
    }
    Ok(selected)
}

/// The tests `--select` (default: all) and `--exclude` pick among `tests`, in their order: as
/// in dbt, a selector picks tests by name, by `test_type:` (`unit`, `data`, `generic`,
/// `singular`) or `test_name:` (the generic test, e.g. `unique`), unit tests by `tag:`, and
/// every test of the models (or seeds) it selects. `models` is every compiled model.
pub fn select_tests(
    models: &[Compiled],
    tests: &[SchemaTest],
    select: &[String],
    exclude: &[String],
) -> Result<Vec<SchemaTest>> {
    let graph = Graph::new(models);
    let mut chosen: BTreeSet<Node> = if select.is_empty() {
        (0..tests.len()).map(Node::Test).collect()
    } else {
        evaluate(&select.join(" "), |spec| test_atom(&graph, tests, spec))?
    };
    if !exclude.is_empty() {
        for node in evaluate(&exclude.join(" "), |spec| test_atom(&graph, tests, spec))? {
            chosen.remove(&node);
        }
    }
    Ok(tests
        .iter()
        .enumerate()
        .filter(|(i, _)| chosen.contains(&Node::Test(*i)))
        .map(|(_, t)| t.clone())
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
            unit_tests: Vec::new(),
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

    fn test(name: &str, kind: &str, model: &str) -> SchemaTest {
        SchemaTest {
            name: name.into(),
            kind: kind.into(),
            model: model.into(),
            column: String::new(),
            file: "models/schema.yml".into(),
            sql: String::new(),
            severity: crate::schema_tests::Severity::Error,
            warn_if: "!= 0".into(),
            error_if: "!= 0".into(),
            store_failures: false,
            problem: None,
            columns_from: None,
            rerender: None,
            unit: None,
        }
    }

    fn pick_tests(select_text: &str, exclude_text: &str) -> Vec<String> {
        let mut models = project();
        models[2].unit_tests = vec!["b_adds_up".into()];
        let tests = vec![
            test("not_null_a_id", "not_null", "a"),
            test("unique_b_id", "unique", "b"),
            test("b_adds_up", "unit", "b"),
            test("c_rows", "singular", "c"),
            test("not_null_seed_x", "not_null", "seed"),
        ];
        let words = |t: &str| -> Vec<String> {
            t.split('|')
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect()
        };
        let chosen = select_tests(&models, &tests, &words(select_text), &words(exclude_text))
            .expect("valid selectors");
        // Model selection ignores test selectors (a seed is not a model: that stays an error).
        for text in words(select_text).into_iter().filter(|t| t != "seed") {
            select(&models, &[text], &[]).expect("a test selector is not a model error");
        }
        chosen.into_iter().map(|t| t.name).collect()
    }

    #[test]
    fn tests_by_type_name_and_model() {
        assert_eq!(pick_tests("test_type:unit", ""), ["b_adds_up"]);
        assert_eq!(
            pick_tests("test_type:data", ""),
            ["not_null_a_id", "unique_b_id", "c_rows", "not_null_seed_x"]
        );
        assert_eq!(pick_tests("test_type:singular", ""), ["c_rows"]);
        assert_eq!(
            pick_tests("test_name:not_null", ""),
            ["not_null_a_id", "not_null_seed_x"]
        );
        assert_eq!(pick_tests("b_adds_up", ""), ["b_adds_up"]);
        assert_eq!(pick_tests("b", ""), ["unique_b_id", "b_adds_up"]);
        assert_eq!(pick_tests("b,test_type:unit", ""), ["b_adds_up"]);
        assert_eq!(
            pick_tests("+b", "test_type:unit"),
            ["not_null_a_id", "unique_b_id"]
        );
        assert_eq!(pick_tests("seed", ""), ["not_null_seed_x"]);
        assert_eq!(pick_tests("", "test_type:data").len(), 1);
        let models = project();
        assert!(
            select(&models, &["test_type:unit".into()], &[])
                .unwrap()
                .is_empty()
        );
        assert!(select(&models, &["+test_type:unit".into()], &[]).is_err());
        assert!(select(&models, &["test_type:nope".into()], &[]).is_err());
        assert!(select_tests(&models, &[], &["nope".into()], &[]).is_err());
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
