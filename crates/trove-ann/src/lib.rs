//! An approximate nearest-neighbour index for Trove's vectors: cosine similarity (dot product)
//! over L2-normalised f32 vectors of any dimension, as an HNSW graph over int8 codes in a file
//! that is memory-mapped, not loaded, with exact re-scoring of the candidates from the f32
//! vectors the caller keeps. The index never holds the only copy of anything: it is derived
//! from the caller's store, tagged with the generation of the data it reflects, and a file
//! that cannot be used is refused so that the caller searches exactly and rebuilds it.
//!
//! # Layout
//! - [`AnnIndex`] (`index.rs`): a mapped [`Base`] + an in-memory delta (added vectors scanned
//!   exactly, tombstones hiding removed or replaced base vectors); search, filtered search,
//!   search within an id set, and folding the delta into a new base in the background.
//! - `base.rs`: [`Base`], an opened index file; `format.rs`: the file layout, writing (temp
//!   file, fsync, rename) and the header checks; `map.rs`: the one `mmap` call.
//! - `build.rs`: building and extending graphs on several threads; `graph.rs`: the HNSW
//!   algorithms over either; `quant.rs`: int8 quantization; `kernels.rs`: the dot products.
//! - [`exact`]: exact top-k, the reference for recall and the answer for small sets.
//!
//! # Filters
//! Each vector carries the caller's id and a group (for the store, a chunk's document), and
//! [`AnnIndex::search`] takes a predicate on both and applies it exactly: nodes that fail it
//! still route the traversal but are never answered. The traversal stops once it holds `ef`
//! passing candidates, so it reaches about `ef / p` nodes for a filter that passes a
//! fraction `p`: cheap for broad filters, slow for narrow ones. When the caller can list the
//! ids its filter passes (one source's chunks, a URI prefix, a memory scope), it should
//! call [`AnnIndex::search_in`] with them instead, which costs one id lookup and one code
//! product per id (about 0.5 µs each). The caller's rule, from `bench/src/ann.rs` at 10⁵
//! vectors (CPU time per query, `docs/benchmarks.md`: 10,000 passing ids: `search_in` 5–6 ms,
//! traversal 7–10 ms; 1,000: 0.5 ms and 29–45 ms): `search_in` when the filter passes fewer
//! than about 20,000 ids, traversal otherwise, with `ef` near `rescore` (a filtered traversal
//! widens itself).
//!
//! # Damaged files
//! [`AnnIndex::open`] reads and checks only the header (checksum, version, byte order, length,
//! section layout), so that opening costs microseconds. Damage inside the sections is not
//! looked for at open, and cannot make a search panic or answer wrongly: links out of range
//! are skipped, and every answer is re-scored from the caller's f32 vectors (an id the caller
//! does not hold drops out), so damage costs recall at worst. [`Base::verify`] reads the
//! whole file and checks every section's checksum and the graph's structure; a fold runs it
//! before extending the old graph, and refuses a damaged base (the caller rebuilds).
//!
//! # Unsafe code
//! Only `kernels.rs` (runtime CPU-feature dispatch to an AVX2 kernel, each fast path tested
//! against a naive twin) and `map.rs` (mapping a file, which this crate only ever replaces by
//! rename) may use `unsafe`; both say why each use is sound.
//!
//! ```
//! use trove_ann::{AnnIndex, AnnError, BuildParams, SearchOptions, VectorSource};
//! use std::collections::HashMap;
//!
//! /// The caller's own copy of the vectors (Trove's store keeps them in SQLite).
//! struct Vectors(HashMap<i64, Vec<f32>>);
//! impl VectorSource for Vectors {
//!     type Error = AnnError;
//!     fn vectors(&self, ids: &[i64], found: &mut dyn FnMut(i64, &[f32])) -> Result<(), AnnError> {
//!         for id in ids {
//!             if let Some(v) = self.0.get(id) { found(*id, v) }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), AnnError> {
//! let unit = |a: f32| vec![a.cos(), a.sin()];
//! let vectors = Vectors((0..100).map(|i| (i, unit(i as f32 / 40.0))).collect());
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("vectors.ann");
//! // Each vector has an id (a chunk) and a group (its document), which filters can test.
//! let items = vectors.0.iter().map(|(&id, v)| (id, id / 10, v));
//! let mut index = AnnIndex::build(&path, 2, BuildParams::default(), 7, items)?;
//! index.remove(48); // the nearest to the query below; the store deleted it
//! let filter = |id: i64, _document: i64| id != 49;
//! let hits = index.search(&unit(1.21), 2, &SearchOptions::default(), filter, &vectors)?;
//! assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![47, 50]);
//! assert_eq!(AnnIndex::open(&path, BuildParams::default())?.generation(), 7);
//! # Ok(())
//! # }
//! ```

mod base;
mod build;
mod error;
pub mod exact;
mod format;
mod graph;
mod index;
mod kernels;
mod map;
mod quant;
mod splitmix;

pub use base::Base;
pub use error::AnnError;
pub use format::FORMAT_VERSION;
pub use index::{AnnIndex, Fold, Folded};
pub use splitmix::{GAMMA, SplitMix64, splitmix};

/// The largest dimension an index takes (the int8 kernel's sums are exact up to it).
pub const MAX_DIM: usize = 65_536;

/// The most threads a build may start.
pub const MAX_THREADS: usize = 256;

/// How graphs are built and extended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildParams {
    /// Links per node on the upper levels; level 0 has twice as many. More links: better
    /// recall on hard data, a bigger file, slower builds. 16 by default.
    pub m: usize,
    /// Width of the search that finds a new node's neighbours. 128 by default.
    pub ef_construction: usize,
    /// Threads linking nodes at once; 0 means one per core. At most [`MAX_THREADS`].
    pub threads: usize,
    /// Seed of the hash that draws each node's level from its id.
    pub seed: u64,
    /// A fold rebuilds the graph from the live vectors, instead of extending it, when deleted
    /// nodes would exceed this fraction of it. 0.25 by default.
    pub rebuild_fraction: f32,
    /// Delta changes (vectors added plus tombstones) past which [`AnnIndex::wants_fold`]
    /// says yes. 20,000 by default (about 30 MB of f32 at 384 dimensions).
    pub fold_after: usize,
}

impl Default for BuildParams {
    fn default() -> BuildParams {
        BuildParams {
            m: 16,
            ef_construction: 128,
            threads: 0,
            seed: 0x7a0e_a11e,
            rebuild_fraction: 0.25,
            fold_after: 20_000,
        }
    }
}

impl BuildParams {
    /// Checks the parameters, and `dim`, the dimension they will build for.
    fn check(&self, dim: usize) -> Result<(), AnnError> {
        if !(1..=MAX_DIM).contains(&dim) {
            return Err(AnnError::Params(format!("the dimension is {dim}, it must be between 1 and {MAX_DIM}")));
        }
        if !(2..=128).contains(&self.m) {
            return Err(AnnError::Params(format!("m is {}, it must be between 2 and 128", self.m)));
        }
        if self.threads > MAX_THREADS {
            return Err(AnnError::Params(format!("threads is {}, it must be at most {MAX_THREADS}", self.threads)));
        }
        if self.ef_construction == 0 {
            return Err(AnnError::Params("ef_construction must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.rebuild_fraction) {
            return Err(AnnError::Params(format!(
                "rebuild_fraction is {}, it must be between 0 and 1",
                self.rebuild_fraction
            )));
        }
        Ok(())
    }

    fn threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
        }
    }
}

/// How widely a search looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// Width of the level-0 traversal (candidates kept); recall and latency grow with it.
    pub ef: usize,
    /// Candidates re-scored exactly from the caller's f32 vectors (at least `k`).
    pub rescore: usize,
}

impl Default for SearchOptions {
    fn default() -> SearchOptions {
        SearchOptions { ef: 64, rescore: 40 }
    }
}

/// One answer: an id and its exact similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The caller's id.
    pub id: i64,
    /// Dot product with the query (cosine for L2-normalised vectors).
    pub score: f32,
}

/// Where exact re-scoring gets f32 vectors: the caller's system of record.
pub trait VectorSource {
    /// The caller's error; it must be able to carry the index's.
    type Error;

    /// Calls `found(id, vector)` for each of `ids` the source holds, in any order; an id it
    /// does not hold (deleted since the index last heard) is skipped, and so drops out of
    /// the answer.
    fn vectors(&self, ids: &[i64], found: &mut dyn FnMut(i64, &[f32])) -> Result<(), Self::Error>;
}

#[cfg(test)]
mod tests;
