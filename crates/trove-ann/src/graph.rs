//! The HNSW algorithms, written once over the [`Graph`] view that both the builder (links in
//! atomics, written by several threads) and a mapped base file (links in the file) provide:
//! greedy descent through the upper levels, best-first search of one level with an acceptance
//! test (deleted nodes and the caller's filter still route the search but never enter its
//! results), and the neighbour-selection heuristic of Malkov & Yashunin (a candidate is kept
//! only if it is closer to the base node than to every neighbour kept before it), which keeps
//! clustered data navigable.
//!
//! Similarities are approximate dot products of int8 codes (`quant`); higher is closer.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::kernels::dot_i8;

/// What the search algorithms read of a graph.
pub(crate) trait Graph {
    /// Number of nodes (live, deleted or not yet linked); node ids are `0..nodes()`.
    fn nodes(&self) -> usize;
    /// The int8 codes of a node.
    fn code(&self, node: u32) -> &[i8];
    /// The scale of a node's codes.
    fn scale(&self, node: u32) -> f32;
    /// Replaces `out` with the neighbours of `node` at `level` (empty above its level). Ids are
    /// not checked against `nodes()`: the search skips those out of range.
    fn neighbors(&self, node: u32, level: usize, out: &mut Vec<u32>);
}

/// A node and its similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cand {
    pub sim: f32,
    pub node: u32,
}

impl Eq for Cand {}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sim.total_cmp(&other.sim).then_with(|| other.node.cmp(&self.node))
    }
}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Approximate similarity of a query (codes and scale) to a node.
#[inline]
pub(crate) fn similarity<G: Graph + ?Sized>(graph: &G, codes: &[i8], scale: f32, node: u32) -> f32 {
    dot_i8(codes, graph.code(node)) as f32 * scale * graph.scale(node)
}

/// The set of nodes a search has reached.
pub(crate) trait Visited {
    /// Marks `node`; returns whether it was unmarked.
    fn first_visit(&mut self, node: u32) -> bool;
}

/// A bit per node, for one search of a mapped base (n / 8 bytes, zeroed per query).
pub(crate) struct BitVisited(Vec<u64>);

impl BitVisited {
    pub fn new(nodes: usize) -> BitVisited {
        BitVisited(vec![0; nodes.div_ceil(64)])
    }
}

impl Visited for BitVisited {
    #[inline]
    fn first_visit(&mut self, node: u32) -> bool {
        let (word, bit) = ((node / 64) as usize, 1u64 << (node % 64));
        let seen = self.0[word] & bit != 0;
        self.0[word] |= bit;
        !seen
    }
}

/// An epoch tag per node, reused by one building thread across its insertions (clearing is
/// bumping the epoch).
pub(crate) struct EpochVisited {
    tags: Vec<u32>,
    epoch: u32,
}

impl EpochVisited {
    pub fn new(nodes: usize) -> EpochVisited {
        EpochVisited { tags: vec![0; nodes], epoch: 0 }
    }

    pub fn clear(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.tags.fill(0);
            self.epoch = 1;
        }
    }
}

impl Visited for EpochVisited {
    #[inline]
    fn first_visit(&mut self, node: u32) -> bool {
        let tag = &mut self.tags[node as usize];
        let first = *tag != self.epoch;
        *tag = self.epoch;
        first
    }
}

/// Greedy descent at one level: moves from `start` to its most similar neighbour while that
/// improves.
pub(crate) fn greedy<G: Graph + ?Sized>(
    graph: &G,
    codes: &[i8],
    scale: f32,
    start: Cand,
    level: usize,
    buf: &mut Vec<u32>,
) -> Cand {
    let n = graph.nodes() as u32;
    let mut cur = start;
    loop {
        graph.neighbors(cur.node, level, buf);
        let mut moved = false;
        for &nb in buf.iter() {
            if nb >= n {
                continue;
            }
            let sim = similarity(graph, codes, scale, nb);
            if sim > cur.sim {
                cur = Cand { sim, node: nb };
                moved = true;
            }
        }
        if !moved {
            return cur;
        }
    }
}

/// Best-first search of one level from `entries` (already marked visited by the caller or
/// not): up to `ef` accepted nodes, most similar first. Every reached node routes the search;
/// `accept` is asked only of nodes that would enter the results.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search_layer<G, V, A>(
    graph: &G,
    codes: &[i8],
    scale: f32,
    entries: &[Cand],
    ef: usize,
    level: usize,
    visited: &mut V,
    mut accept: A,
    buf: &mut Vec<u32>,
) -> Vec<Cand>
where
    G: Graph + ?Sized,
    V: Visited,
    A: FnMut(u32) -> bool,
{
    let n = graph.nodes() as u32;
    // More results than nodes cannot be found; a caller's huge width costs nothing up front.
    let ef = ef.clamp(1, graph.nodes().max(1));
    let mut frontier: BinaryHeap<Cand> = BinaryHeap::with_capacity(ef * 2);
    let mut results: BinaryHeap<Reverse<Cand>> = BinaryHeap::with_capacity(ef + 1);
    for &e in entries {
        if e.node >= n || !visited.first_visit(e.node) {
            continue;
        }
        frontier.push(e);
        if accept(e.node) {
            results.push(Reverse(e));
            if results.len() > ef {
                results.pop();
            }
        }
    }
    while let Some(c) = frontier.pop() {
        if results.len() >= ef && results.peek().is_some_and(|w| c.sim < w.0.sim) {
            break;
        }
        graph.neighbors(c.node, level, buf);
        for &nb in buf.iter() {
            if nb >= n || !visited.first_visit(nb) {
                continue;
            }
            let sim = similarity(graph, codes, scale, nb);
            let worst = results.peek().map_or(f32::NEG_INFINITY, |w| w.0.sim);
            if results.len() < ef || sim > worst {
                let cand = Cand { sim, node: nb };
                frontier.push(cand);
                if accept(nb) {
                    results.push(Reverse(cand));
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
    }
    let mut out: Vec<Cand> = results.into_iter().map(|r| r.0).collect();
    out.sort_unstable_by(|a, b| b.cmp(a));
    out
}

/// The neighbour-selection heuristic: from `candidates` (most similar to `base` first), keeps
/// up to `m` nodes, each less similar to every node kept before it than to `base`. With
/// `fill`, the slots left are then filled with the most similar candidates it passed over
/// ("keep pruned connections"): a full list that is re-selected keeps its size, so nodes do
/// not lose the only links that lead to them.
pub(crate) fn select<G: Graph + ?Sized>(graph: &G, candidates: &[Cand], m: usize, fill: bool, out: &mut Vec<u32>) {
    out.clear();
    let mut passed = Vec::new();
    for c in candidates {
        if out.len() >= m {
            break;
        }
        let (codes, scale) = (graph.code(c.node), graph.scale(c.node));
        if out.iter().all(|&kept| similarity(graph, codes, scale, kept) < c.sim) {
            out.push(c.node);
        } else if fill {
            passed.push(c.node);
        }
    }
    out.extend(passed.into_iter().take(m.saturating_sub(out.len())));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes on a line (1-D codes), each linked to its two neighbours.
    struct Line {
        codes: Vec<[i8; 2]>,
    }

    impl Graph for Line {
        fn nodes(&self) -> usize {
            self.codes.len()
        }
        fn code(&self, node: u32) -> &[i8] {
            &self.codes[node as usize]
        }
        fn scale(&self, _: u32) -> f32 {
            1.0
        }
        fn neighbors(&self, node: u32, level: usize, out: &mut Vec<u32>) {
            out.clear();
            if level == 0 {
                if node > 0 {
                    out.push(node - 1);
                }
                out.push(node + 1); // past the end for the last node: must be skipped
            }
        }
    }

    fn line() -> Line {
        // Similarity to the query (1, 0) grows along the line.
        Line { codes: (0..100).map(|i| [i as i8, 1]).collect() }
    }

    #[test]
    fn greedy_descent_walks_to_the_most_similar_node_and_skips_ids_out_of_range() {
        let g = line();
        let start = Cand { sim: 0.0, node: 0 };
        let end = greedy(&g, &[1, 0], 1.0, start, 0, &mut Vec::new());
        assert_eq!(end.node, 99);
    }

    #[test]
    fn layer_search_returns_the_best_accepted_nodes_and_routes_through_rejected_ones() {
        let g = line();
        let mut visited = BitVisited::new(g.nodes());
        let entry = Cand { sim: 0.0, node: 0 };
        let found = search_layer(&g, &[1, 0], 1.0, &[entry], 5, 0, &mut visited, |n| n % 2 == 0, &mut Vec::new());
        let nodes: Vec<u32> = found.iter().map(|c| c.node).collect();
        assert_eq!(nodes, vec![98, 96, 94, 92, 90]);
    }

    #[test]
    fn selection_drops_candidates_closer_to_a_kept_neighbour_than_to_the_base() {
        // Base at the origin direction (1, 0); two candidates nearly identical, one apart.
        struct Points(Vec<[i8; 2]>);
        impl Graph for Points {
            fn nodes(&self) -> usize {
                self.0.len()
            }
            fn code(&self, node: u32) -> &[i8] {
                &self.0[node as usize]
            }
            fn scale(&self, _: u32) -> f32 {
                1.0
            }
            fn neighbors(&self, _: u32, _: usize, out: &mut Vec<u32>) {
                out.clear();
            }
        }
        let g = Points(vec![[10, 1], [10, 2], [2, -10]]);
        let base = [10i8, 0];
        let mut cands: Vec<Cand> = (0..3).map(|n| Cand { sim: similarity(&g, &base, 1.0, n), node: n }).collect();
        cands.sort_by(|a, b| b.cmp(a));
        let mut kept = Vec::new();
        select(&g, &cands, 3, false, &mut kept);
        assert_eq!(kept, vec![0, 2], "node 1 is closer to node 0 than to the base");
        select(&g, &cands, 3, true, &mut kept);
        assert_eq!(kept, vec![0, 2, 1], "filling takes back the pruned candidate");
        select(&g, &cands, 2, true, &mut kept);
        assert_eq!(kept, vec![0, 2]);
    }

    #[test]
    fn epoch_visits_clear_by_bumping_the_epoch() {
        let mut v = EpochVisited::new(4);
        v.clear();
        assert!(v.first_visit(2));
        assert!(!v.first_visit(2));
        v.clear();
        assert!(v.first_visit(2));
    }
}
