//! The embedded backend's vector index: an exact (flat) index of one vault's vectors in a
//! contiguous matrix, derived from SQLite and tagged with the vault generation it reflects.
//! It is never the system of record: when its generation differs from the vault's, it catches
//! up from the change log or is rebuilt from SQLite (`embedded::derived`), so a crash can
//! never leave it inconsistent.
//!
//! Exact search is a scan: about `n × d` multiply-adds per query (5 ms for 100k × 384 here).
//! Large spaces use the approximate index of `trove-ann` instead (`embedded::vectors`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::{ChunkId, DocumentId, Scored};

/// A vault's vectors, row-major.
#[derive(Debug, Default)]
pub(crate) struct FlatIndex {
    /// The vault generation this index reflects.
    pub generation: i64,
    dim: usize,
    ids: Vec<ChunkId>,
    docs: Vec<DocumentId>,
    data: Vec<f32>,
    /// Row of each chunk id.
    rows: HashMap<ChunkId, usize>,
}

impl FlatIndex {
    pub fn new(dim: usize, generation: i64) -> FlatIndex {
        FlatIndex { generation, dim, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Adds a vector (the caller guarantees its dimension).
    pub fn push(&mut self, id: ChunkId, doc: DocumentId, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dim);
        self.rows.insert(id, self.ids.len());
        self.ids.push(id);
        self.docs.push(doc);
        self.data.extend_from_slice(vector);
    }

    /// Removes the vectors of `ids` (swap-remove, O(ids)); unknown ids are ignored.
    pub fn remove(&mut self, ids: &[ChunkId]) {
        for id in ids {
            let Some(row) = self.rows.remove(id) else { continue };
            let last = self.ids.len() - 1;
            if row != last {
                let moved = self.ids[last];
                self.ids.swap(row, last);
                self.docs.swap(row, last);
                let (head, tail) = self.data.split_at_mut(last * self.dim);
                head[row * self.dim..(row + 1) * self.dim].copy_from_slice(&tail[..self.dim]);
                self.rows.insert(moved, row);
            }
            self.ids.pop();
            self.docs.pop();
            self.data.truncate(last * self.dim);
        }
    }

    /// The `limit` best rows by dot product, restricted to `allowed` documents when given.
    pub fn search(&self, query: &[f32], limit: usize, allowed: Option<&HashSet<DocumentId>>) -> Vec<Scored> {
        if limit == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let mut heap: BinaryHeap<MinScored> = BinaryHeap::with_capacity(limit + 1);
        for (row, vector) in self.data.chunks_exact(self.dim).enumerate() {
            if let Some(allowed) = allowed
                && !allowed.contains(&self.docs[row])
            {
                continue;
            }
            let score = dot(query, vector);
            if heap.len() < limit {
                heap.push(MinScored(score, row));
            } else if let Some(worst) = heap.peek()
                && score > worst.0
            {
                heap.pop();
                heap.push(MinScored(score, row));
            }
        }
        let mut out: Vec<Scored> = heap.into_iter().map(|m| Scored { id: self.ids[m.1], score: m.0 }).collect();
        out.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal).then(a.id.cmp(&b.id)));
        out
    }
}

/// Dot product with four independent accumulators (lets the compiler vectorise).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        sum += x * y;
    }
    sum
}

/// Orders a max-heap so that its top is the worst kept score.
#[derive(Debug, PartialEq)]
struct MinScored(f32, usize);

impl Eq for MinScored {}

impl PartialOrd for MinScored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MinScored {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.partial_cmp(&self.0).unwrap_or(Ordering::Equal).then(self.1.cmp(&other.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: &mut u64) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed % 10_000) as f32 / 5_000.0 - 1.0
    }

    /// The heap-based top-k agrees with sorting every score.
    #[test]
    fn top_k_matches_naive_sort() {
        let mut seed = 42u64;
        let dim = 13;
        let mut index = FlatIndex::new(dim, 0);
        let mut all = Vec::new();
        for id in 0..500 {
            let v: Vec<f32> = (0..dim).map(|_| rng(&mut seed)).collect();
            index.push(id, id / 3, &v);
            all.push((id, v));
        }
        // Remove some documents, as updates do.
        for doc in [5, 17, 100] {
            let ids: Vec<i64> = (doc * 3..doc * 3 + 3).collect();
            index.remove(&ids);
            all.retain(|(id, _)| id / 3 != doc);
        }
        for _ in 0..20 {
            let q: Vec<f32> = (0..dim).map(|_| rng(&mut seed)).collect();
            let mut naive: Vec<(f32, i64)> = all.iter().map(|(id, v)| (dot(&q, v), *id)).collect();
            naive.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
            let got = index.search(&q, 10, None);
            let want: Vec<i64> = naive.iter().take(10).map(|x| x.1).collect();
            assert_eq!(got.iter().map(|s| s.id).collect::<Vec<_>>(), want);
        }
        assert_eq!(index.len(), all.len());
    }

    #[test]
    fn filter_and_edge_cases() {
        let mut index = FlatIndex::new(2, 0);
        index.push(1, 10, &[1.0, 0.0]);
        index.push(2, 20, &[0.0, 1.0]);
        let allowed: HashSet<i64> = [20].into_iter().collect();
        let got = index.search(&[1.0, 0.0], 5, Some(&allowed));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, 2);
        assert!(index.search(&[1.0, 0.0], 0, None).is_empty());
        assert!(index.search(&[1.0], 5, None).is_empty(), "wrong dimension gives nothing, not a panic");
    }
}
