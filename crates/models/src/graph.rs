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
                    return Err(Error::Graph(format!(
                        "{}: model `{}` refs `{name}`, which is not a model of this project",
                        model.path.display(),
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
            let stuck: Vec<String> = (0..models.len())
                .filter(|&i| !done[i])
                .map(|i| format!("{} ({})", models[i].name, models[i].path.display()))
                .collect();
            return Err(Error::Graph(format!(
                "dependency cycle among models: {}",
                stuck.join(", ")
            )));
        }
        for i in ready {
            done[i] = true;
            order.push(i);
        }
    }
    Ok(order)
}
