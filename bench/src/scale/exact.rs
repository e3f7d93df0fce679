//! Exact nearest neighbours for recall: the k best cosines of each query over every captured
//! vector (a brute-force scan of `vectors.f32`, in blocks, on several threads), and recall@k
//! of an engine's answer against them.
//!
//! Recall matches the cosines of an answer's hits with the exact k best cosines (each exact
//! score matched at most once, within a small tolerance): a hit tied with the k-th exact one
//! counts, a hit that is not among the exact k does not. Trove's hits carry their cosine (its
//! semantic scores are exact cosines, re-scored from the stored f32 vectors); LanceDB's hits
//! are rows of the capture, whose exact cosines [`cosines_of`] reads.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::embedder::DIMENSION;

/// Tolerance on cosines when counting a hit as one of the exact k (f32 rounding of a dot
/// product of unit vectors of 384 dimensions is far below it).
pub const TOLERANCE: f32 = 1e-4;

/// Vectors read per block.
const BLOCK: usize = 4096;

/// The dot product of two vectors of equal length, in eight lanes.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a.chunks_exact(8).remainder().iter().zip(b.chunks_exact(8).remainder()).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// The best `k` values seen, descending.
#[derive(Debug, Clone)]
struct TopK {
    k: usize,
    best: Vec<f32>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK { k, best: Vec::with_capacity(k + 1) }
    }

    fn push(&mut self, score: f32) {
        if self.best.len() == self.k && self.best.last().is_some_and(|&m| score <= m) {
            return;
        }
        let at = self.best.partition_point(|&s| s >= score);
        self.best.insert(at, score);
        self.best.truncate(self.k);
    }

    fn merge(&mut self, other: &TopK) {
        for &s in &other.best {
            self.push(s);
        }
    }
}

/// The `k` best cosines (descending) of each query over the vectors of `path`, scanned by
/// `threads` threads; and how many vectors there were.
pub fn exact_top_scores(path: &Path, queries: &[Vec<f32>], k: usize, threads: usize) -> Result<(Vec<Vec<f32>>, usize)> {
    let bytes = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len() as usize;
    let row = DIMENSION * 4;
    if !bytes.is_multiple_of(row) {
        bail!("{} holds {bytes} bytes, not a whole number of {DIMENSION}-dimension f32 rows", path.display());
    }
    let rows = bytes / row;
    let threads = threads.max(1);
    let per = rows.div_ceil(threads);
    let results: Vec<Result<Vec<TopK>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (from, to) = ((t * per).min(rows), ((t + 1) * per).min(rows));
                scope.spawn(move || scan(path, queries, k, from, to))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a scan thread panicked"))))
            .collect()
    });
    let mut total: Vec<TopK> = vec![TopK::new(k); queries.len()];
    for part in results {
        for (t, p) in total.iter_mut().zip(part?) {
            t.merge(&p);
        }
    }
    Ok((total.into_iter().map(|t| t.best).collect(), rows))
}

/// Scans rows `from..to` of the file.
fn scan(path: &Path, queries: &[Vec<f32>], k: usize, from: usize, to: usize) -> Result<Vec<TopK>> {
    use std::io::{Seek, SeekFrom};
    let row = DIMENSION * 4;
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    file.seek(SeekFrom::Start((from * row) as u64))?;
    let mut top = vec![TopK::new(k); queries.len()];
    let mut raw = vec![0u8; BLOCK * row];
    let mut block = vec![0f32; BLOCK * DIMENSION];
    let mut at = from;
    while at < to {
        let n = BLOCK.min(to - at);
        file.read_exact(&mut raw[..n * row]).with_context(|| format!("cannot read {}", path.display()))?;
        for (x, b) in block.iter_mut().zip(raw[..n * row].chunks_exact(4)) {
            *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        for (q, t) in queries.iter().zip(top.iter_mut()) {
            for v in block[..n * DIMENSION].chunks_exact(DIMENSION) {
                t.push(dot(q, v));
            }
        }
        at += n;
    }
    Ok(top)
}

/// The cosines of `query` with rows `ids` of the vectors in `path`.
pub fn cosines_of(path: &Path, query: &[f32], ids: &[u64]) -> Result<Vec<f32>> {
    use std::io::{Seek, SeekFrom};
    let row = DIMENSION * 4;
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut raw = vec![0u8; row];
    let mut v = vec![0f32; DIMENSION];
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        file.seek(SeekFrom::Start(id * row as u64))?;
        file.read_exact(&mut raw).with_context(|| format!("{} has no row {id}", path.display()))?;
        for (x, b) in v.iter_mut().zip(raw.chunks_exact(4)) {
            *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        out.push(dot(query, &v));
    }
    Ok(out)
}

/// Recall@k of `hits` (an engine's cosines) against `exact` (the exact k best, descending):
/// the share of the exact scores that a hit's score matches, each hit used once.
pub fn recall_at(hits: &[f32], exact: &[f32], k: usize) -> f64 {
    let wanted = k.min(exact.len());
    if wanted == 0 {
        return 1.0;
    }
    let mut hits: Vec<f32> = hits.iter().take(k).copied().collect();
    hits.sort_by(|a, b| b.total_cmp(a));
    let (mut i, mut j, mut matched) = (0, 0, 0);
    while i < hits.len() && j < wanted {
        if (hits[i] - exact[j]).abs() <= TOLERANCE {
            matched += 1;
            i += 1;
            j += 1;
        } else if hits[i] > exact[j] {
            // Better than any exact score left: a wrong score, not a match.
            i += 1;
        } else {
            // The exact neighbour was missed.
            j += 1;
        }
    }
    matched as f64 / wanted as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedder::hashed_vector;

    #[test]
    fn the_scan_finds_the_same_best_scores_as_a_naive_sort() {
        let texts: Vec<String> = (0..300).map(|i| format!("word{} word{} common text {}", i % 17, i % 5, i)).collect();
        let vectors: Vec<Vec<f32>> = texts.iter().map(|t| hashed_vector(t)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.f32");
        let bytes: Vec<u8> = vectors.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&path, bytes).unwrap();
        let queries = vec![hashed_vector("word3 common"), hashed_vector("text 42")];
        let (got, rows) = exact_top_scores(&path, &queries, 10, 3).unwrap();
        assert_eq!(rows, 300);
        for (q, best) in queries.iter().zip(&got) {
            let mut naive: Vec<f32> =
                vectors.iter().map(|v| v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>()).collect();
            naive.sort_by(|a, b| b.total_cmp(a));
            assert_eq!(best.len(), 10);
            for (a, b) in best.iter().zip(&naive[..10]) {
                assert!((a - b).abs() < 1e-5, "{best:?} vs {:?}", &naive[..10]);
            }
        }
        let direct = cosines_of(&path, &queries[0], &[7, 0, 299]).unwrap();
        for (got, id) in direct.iter().zip([7, 0, 299]) {
            let want: f32 = vectors[id].iter().zip(&queries[0]).map(|(a, b)| a * b).sum();
            assert!((got - want).abs() < 1e-5);
        }
        assert!(cosines_of(&path, &queries[0], &[300]).is_err());
    }

    #[test]
    fn recall_counts_hits_that_reach_the_kth_exact_score() {
        let exact = [0.9, 0.8, 0.7, 0.6];
        assert_eq!(recall_at(&[0.9, 0.8, 0.7, 0.6], &exact, 4), 1.0);
        assert_eq!(recall_at(&[0.9, 0.8, 0.5, 0.4], &exact, 4), 0.5);
        // The 0.7 was missed: a second hit at 0.6 does not stand for it.
        assert_eq!(recall_at(&[0.9, 0.8, 0.6, 0.6], &exact, 4), 0.75);
        // A tie at the k-th place is as good as the exact answer's.
        assert_eq!(recall_at(&[0.9, 0.8, 0.6, 0.6], &[0.9, 0.8, 0.6, 0.6], 4), 1.0);
        // Order does not matter; a score no exact neighbour has counts for nothing.
        assert_eq!(recall_at(&[0.6, 0.95, 0.9], &exact, 4), 0.5);
        assert_eq!(recall_at(&[0.9], &exact, 4), 0.25);
        assert_eq!(recall_at(&[], &[], 10), 1.0);
    }
}
