//! A layered layout of the lineage graph, drawn as SVG: each node sits one column right of its
//! deepest parent, and the order inside a column follows the barycenter of its neighbours, so
//! edges mostly run straight and rarely cross.

use std::fmt::Write as _;

/// Box size and gaps, in SVG units.
const WIDTH: f64 = 190.0;
const HEIGHT: f64 = 30.0;
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 14.0;
const MARGIN: f64 = 10.0;
/// Characters of a name that fit in a box.
const LABEL_CHARS: usize = 24;

/// A node to draw.
#[derive(Debug, Clone)]
pub struct GraphNode {
    /// Unique id (used by the page's script).
    pub id: String,
    /// Label.
    pub name: String,
    /// `model`, `seed` or `source`, used as a CSS class.
    pub kind: String,
}

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Column of each node: 0 for nodes without parents, else one more than the deepest parent.
fn depths(count: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; count];
    let mut children = vec![Vec::new(); count];
    for &(parent, child) in edges {
        indegree[child] += 1;
        children[parent].push(child);
    }
    let mut depth = vec![0usize; count];
    let mut ready: Vec<usize> = (0..count).filter(|&i| indegree[i] == 0).collect();
    while let Some(node) = ready.pop() {
        for &child in &children[node] {
            depth[child] = depth[child].max(depth[node] + 1);
            indegree[child] -= 1;
            if indegree[child] == 0 {
                ready.push(child);
            }
        }
    }
    depth
}

/// Reorders each column by the mean row of each node's neighbours in the column before it.
fn sweep(columns: &mut [Vec<usize>], neighbours: &[Vec<usize>], row: &mut [f64]) {
    for column in columns.iter_mut() {
        let mut keyed: Vec<(f64, usize)> = column
            .iter()
            .map(|&n| {
                let placed: Vec<f64> = neighbours[n].iter().map(|&m| row[m]).collect();
                let key = if placed.is_empty() {
                    row[n]
                } else {
                    placed.iter().sum::<f64>() / placed.len() as f64
                };
                (key, n)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        *column = keyed.into_iter().map(|(_, n)| n).collect();
        for (position, &n) in column.iter().enumerate() {
            row[n] = position as f64;
        }
    }
}

/// Draws the graph as an SVG element; `edges` are (parent, child) indexes into `nodes`.
pub fn svg(nodes: &[GraphNode], edges: &[(usize, usize)]) -> String {
    let depth = depths(nodes.len(), edges);
    let column_count = depth.iter().max().map_or(0, |d| d + 1);
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); column_count];
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by(|&a, &b| nodes[a].name.cmp(&nodes[b].name));
    for n in order {
        columns[depth[n]].push(n);
    }
    let mut row = vec![0.0; nodes.len()];
    for column in &columns {
        for (position, &n) in column.iter().enumerate() {
            row[n] = position as f64;
        }
    }
    let mut parents = vec![Vec::new(); nodes.len()];
    let mut children = vec![Vec::new(); nodes.len()];
    for &(parent, child) in edges {
        parents[child].push(parent);
        children[parent].push(child);
    }
    for _ in 0..4 {
        sweep(&mut columns, &parents, &mut row);
        columns.reverse();
        sweep(&mut columns, &children, &mut row);
        columns.reverse();
    }
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0);
    let x = |n: usize| MARGIN + depth[n] as f64 * (WIDTH + GAP_X);
    let y = |n: usize| MARGIN + row[n] * (HEIGHT + GAP_Y);
    let width = 2.0 * MARGIN + column_count as f64 * (WIDTH + GAP_X) - GAP_X;
    let height = 2.0 * MARGIN + tallest as f64 * (HEIGHT + GAP_Y) - GAP_Y;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">"#
    );
    for &(parent, child) in edges {
        let (x1, y1) = (x(parent) + WIDTH, y(parent) + HEIGHT / 2.0);
        let (x2, y2) = (x(child), y(child) + HEIGHT / 2.0);
        let bend = (x2 - x1) / 2.0;
        let _ = write!(
            out,
            r#"<path class="edge" data-from="{}" data-to="{}" d="M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}"/>"#,
            escape(&nodes[parent].id),
            escape(&nodes[child].id),
            x1 + bend,
            x2 - bend
        );
    }
    for (n, node) in nodes.iter().enumerate() {
        let label: String = if node.name.chars().count() > LABEL_CHARS {
            let cut: String = node.name.chars().take(LABEL_CHARS - 1).collect();
            format!("{cut}…")
        } else {
            node.name.clone()
        };
        let _ = write!(
            out,
            r#"<g class="node {kind}" data-id="{id}" transform="translate({:.1},{:.1})"><title>{name}</title><rect width="{WIDTH}" height="{HEIGHT}" rx="5"/><text x="10" y="19">{label}</text></g>"#,
            x(n),
            y(n),
            kind = escape(&node.kind),
            id = escape(&node.id),
            name = escape(&node.name),
            label = escape(&label),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> GraphNode {
        GraphNode {
            id: format!("model.p.{name}"),
            name: name.to_string(),
            kind: "model".to_string(),
        }
    }

    #[test]
    fn nodes_sit_right_of_their_deepest_parent() {
        // a -> b -> d, a -> d, c -> d
        let edges = [(0, 1), (1, 3), (0, 3), (2, 3)];
        assert_eq!(depths(4, &edges), vec![0, 1, 0, 2]);
    }

    #[test]
    fn the_svg_has_every_node_and_edge_escaped() {
        let nodes = vec![node("a"), node("b<&>")];
        let drawn = svg(&nodes, &[(0, 1)]);
        assert_eq!(drawn.matches("<g class=\"node model\"").count(), 2);
        assert_eq!(drawn.matches("<path class=\"edge\"").count(), 1);
        assert!(drawn.contains("b&lt;&amp;&gt;"), "{drawn}");
        assert!(drawn.contains(r#"data-from="model.p.a" data-to="model.p.b&lt;&amp;&gt;""#));
    }

    #[test]
    fn barycenter_ordering_uncrosses_edges() {
        // Parents x (row 0) and y (row 1); children named so that name order would cross them.
        let nodes = vec![
            node("x"),
            node("y"),
            node("a_child_of_y"),
            node("b_child_of_x"),
        ];
        let drawn = svg(&nodes, &[(1, 2), (0, 3)]);
        let position = |name: &str| {
            drawn
                .find(&format!("<title>{name}</title>"))
                .expect("drawn")
        };
        // Children are drawn in node order; check rows through their translate() instead.
        let row_of = |name: &str| {
            let at = position(name);
            let start = drawn[..at].rfind("translate(").expect("translate");
            drawn[start..at].to_string()
        };
        assert!(
            row_of("b_child_of_x").contains(",10.0)"),
            "{}",
            row_of("b_child_of_x")
        );
        assert!(
            row_of("a_child_of_y").contains(",54.0)"),
            "{}",
            row_of("a_child_of_y")
        );
    }
}
