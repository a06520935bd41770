//! Dependency graph helpers: topological order with the cycle named when there is one, and the
//! downstream closure used by `tasks clear --downstream`.

use std::collections::{BTreeMap, BTreeSet};

use super::dag::Task;

/// Orders tasks so every task comes after its upstreams (stable: file order among equals), or
/// returns the ids along a cycle (`a → b → a`).
pub(crate) fn topological(tasks: Vec<Task>) -> Result<Vec<Task>, Vec<String>> {
    let index: BTreeMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.task_id.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut mark = vec![0u8; tasks.len()];
    let mut order = Vec::with_capacity(tasks.len());
    for start in 0..tasks.len() {
        if mark[start] != 0 {
            continue;
        }
        // Iterative DFS: (task, next upstream to visit).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let upstream = &tasks[node].upstream;
            if *next < upstream.len() {
                let up = upstream[*next].as_str();
                *next += 1;
                let Some(&u) = index.get(up) else { continue };
                match mark[u] {
                    0 => {
                        mark[u] = 1;
                        stack.push((u, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == u).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .rev()
                            .map(|(n, _)| tasks[*n].task_id.clone())
                            .collect();
                        cycle.push(tasks[node].task_id.clone());
                        return Err(close_cycle(cycle));
                    }
                    _ => {}
                }
            } else {
                mark[node] = 2;
                order.push(node);
                stack.pop();
            }
        }
    }
    let mut slots: Vec<Option<Task>> = tasks.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// Turns the DFS stack slice (downstream first) into `a → b → … → a` in dependency order.
fn close_cycle(mut ids: Vec<String>) -> Vec<String> {
    ids.dedup();
    if let Some(first) = ids.first().cloned()
        && ids.last() != Some(&first)
    {
        ids.push(first);
    }
    ids
}

/// The ids of every task downstream of `roots` (not including the roots), transitively.
pub fn downstream_closure(tasks: &[Task], roots: &[String]) -> BTreeSet<String> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut frontier: Vec<String> = roots.to_vec();
    while let Some(id) = frontier.pop() {
        for task in tasks {
            if task.upstream.contains(&id) && found.insert(task.task_id.clone()) {
                frontier.push(task.task_id.clone());
            }
        }
    }
    found
}
