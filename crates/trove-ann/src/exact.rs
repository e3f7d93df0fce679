//! Exact top-k by a scan: the reference that recall is measured against, and the answer when
//! the candidates are few (a selective filter) or the index is missing or stale.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::Hit;
use crate::kernels::dot_f32;

/// A hit ordered by score, then by lower id first.
#[derive(Debug, PartialEq)]
struct Ranked(Hit);

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.score.total_cmp(&other.0.score).then(other.0.id.cmp(&self.0.id))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` vectors of `vectors` with the highest dot product with `query`, best first (ties
/// by lower id); vectors of another length are skipped.
pub fn top_k<'a, I>(query: &[f32], vectors: I, k: usize) -> Vec<Hit>
where
    I: IntoIterator<Item = (i64, &'a [f32])>,
{
    if k == 0 {
        return Vec::new();
    }
    // Grows with the vectors seen, so a huge `k` costs nothing up front.
    let mut heap: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(k.min(1024) + 1);
    for (id, v) in vectors {
        if v.len() != query.len() {
            continue;
        }
        let hit = Ranked(Hit { id, score: dot_f32(query, v) });
        if heap.len() < k {
            heap.push(Reverse(hit));
        } else if heap.peek().is_some_and(|w| hit > w.0) {
            heap.pop();
            heap.push(Reverse(hit));
        }
    }
    let mut out: Vec<Ranked> = heap.into_iter().map(|r| r.0).collect();
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.into_iter().map(|r| r.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_k_in_order_and_breaks_ties_by_id() {
        let vs: Vec<(i64, Vec<f32>)> =
            vec![(5, vec![1.0, 0.0]), (3, vec![0.0, 1.0]), (4, vec![1.0, 0.0]), (9, vec![0.5, 0.5]), (1, vec![1.0])];
        let hits = top_k(&[1.0, 0.0], vs.iter().map(|(id, v)| (*id, v.as_slice())), 3);
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![4, 5, 9]);
        assert!(top_k(&[1.0, 0.0], vs.iter().map(|(id, v)| (*id, v.as_slice())), 0).is_empty());
    }
}
