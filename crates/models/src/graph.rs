//! The ref graph: build order from `ref()` calls, with unknown refs and cycles reported by name.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::render::Compiled;

/// Indexes of `models` in an order where every model comes after the models it refs. Refs to
/// `external` names (seeds) are allowed and impose no order.
pub fn build_order(models: &[Compiled], external: &BTreeSet<String>) -> Result<Vec<usize>> {
    let index: BTreeMap<&str, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    let mut upstream: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); models.len()];
    for (i, model) in models.iter().enumerate() {
        for name in &model.refs {
            match index.get(name.as_str()) {
                Some(&j) => {
                    upstream[i].insert(j);
                }
                None if external.contains(name) => {}
                None => {
                    let known = index
                        .keys()
                        .copied()
                        .chain(external.iter().map(String::as_str));
                    let hint = closest(name, known)
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default();
                    return Err(Error::Graph(format!(
                        "{}: model `{}` refs `{name}`, which is not a model or seed of this \
                         project{hint}",
                        located(model, name),
                        model.name
                    )));
                }
            }
        }
    }
    let mut order = Vec::with_capacity(models.len());
    let mut done = vec![false; models.len()];
    // Repeatedly take every model whose upstreams are done, in name order (deterministic).
    while order.len() < models.len() {
        let ready: Vec<usize> = (0..models.len())
            .filter(|&i| !done[i] && upstream[i].iter().all(|&j| done[j]))
            .collect();
        if ready.is_empty() {
            return Err(Error::Graph(describe_cycle(models, &upstream, &done)));
        }
        for i in ready {
            done[i] = true;
            order.push(i);
        }
    }
    Ok(order)
}

/// `path:line` of the first `ref('name')` in a model's file (just the path if not found).
fn located(model: &Compiled, name: &str) -> String {
    let line = std::fs::read_to_string(&model.path).ok().and_then(|text| {
        text.lines().position(|l| {
            l.contains("ref(")
                && (l.contains(&format!("'{name}'")) || l.contains(&format!("\"{name}\"")))
        })
    });
    match line {
        Some(line) => format!("{}:{}", model.path.display(), line + 1),
        None => model.path.display().to_string(),
    }
}

/// One cycle among the models not yet ordered, as `a -> b -> a` with where each ref is.
fn describe_cycle(models: &[Compiled], upstream: &[BTreeSet<usize>], done: &[bool]) -> String {
    let Some(start) = (0..models.len()).find(|&i| !done[i]) else {
        return "dependency cycle among models".to_string();
    };
    // Every unfinished model has an unfinished upstream, so walking them must revisit one.
    let mut path = vec![start];
    let mut current = start;
    while let Some(&next) = upstream[current].iter().find(|&&j| !done[j]) {
        if let Some(at) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<usize> = path[at..].to_vec();
            cycle.push(next);
            // Walked child -> parent; print parent -> child, the way data flows.
            cycle.reverse();
            let names: Vec<&str> = cycle.iter().map(|&i| models[i].name.as_str()).collect();
            let refs: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    format!(
                        "  {} refs {} at {}",
                        models[w[1]].name,
                        models[w[0]].name,
                        located(&models[w[1]], &models[w[0]].name)
                    )
                })
                .collect();
            return format!(
                "dependency cycle: {}\n{}",
                names.join(" -> "),
                refs.join("\n")
            );
        }
        path.push(next);
        current = next;
    }
    "dependency cycle among models".to_string()
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    dataflow_core::suggest::closest_within(name, candidates, limit)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_find_their_model() {
        let names = ["stg_orders", "stg_customers", "customer_360"];
        assert_eq!(closest("stg_order", names.into_iter()), Some("stg_orders"));
        assert_eq!(
            closest("customer360", names.into_iter()),
            Some("customer_360")
        );
        assert_eq!(closest("payments", names.into_iter()), None);
    }
}
