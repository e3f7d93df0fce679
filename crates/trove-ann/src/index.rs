//! [`AnnIndex`]: a mapped [`Base`] plus an in-memory delta, the shape the store keeps per
//! vault. Additions go to the delta (kept as f32 and scanned exactly); a removal or a
//! replacement hides the base's copy by a tombstone. Searches see base + delta − tombstones,
//! so they are right the moment a change is made. [`AnnIndex::fold`] takes a snapshot of the
//! delta that a background thread turns into a new base file ([`Fold::write`]: the old graph
//! extended, or rebuilt when too many of its nodes are dead), and [`AnnIndex::install`] swaps
//! it in, keeping the changes made since the snapshot.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::base::Base;
use crate::build::Builder;
use crate::graph::{BitVisited, Cand, Graph, greedy, search_layer, similarity};
use crate::kernels::dot_f32;
use crate::quant::Query;
use crate::{AnnError, BuildParams, Hit, SearchOptions, VectorSource};

/// Distinguishes indexes, so a fold is installed only into the index it was taken from.
static NEXT_LINEAGE: AtomicU64 = AtomicU64::new(1);

/// An approximate nearest-neighbour index over L2-normalised vectors: a mapped base file, the
/// vectors added since (searched exactly), and tombstones for the base vectors removed since.
#[derive(Debug)]
pub struct AnnIndex {
    dim: usize,
    params: BuildParams,
    base: Option<Arc<Base>>,
    delta: Delta,
    generation: i64,
    lineage: u64,
    /// The snapshot sequence of the last fold installed.
    installed: u64,
}

/// The changes since the base was written.
#[derive(Debug, Default)]
struct Delta {
    /// Sequence number of the last change.
    seq: u64,
    /// Added vectors, row-major, with their ids, groups and the sequence number that added
    /// them.
    ids: Vec<i64>,
    groups: Vec<i64>,
    seqs: Vec<u64>,
    data: Vec<f32>,
    rows: HashMap<i64, usize>,
    /// Ids whose base copy is hidden (every add and remove writes one), with the sequence
    /// number of the change.
    tombstones: HashMap<i64, u64>,
    /// The base's live nodes hidden by a tombstone, a bit per node, and how many.
    hidden: Vec<u64>,
    hidden_count: usize,
}

impl Delta {
    fn is_hidden(&self, node: u32) -> bool {
        self.hidden.get(node as usize / 64).is_some_and(|w| w & (1 << (node % 64)) != 0)
    }

    fn hide(&mut self, base: Option<&Base>, id: i64) {
        let Some(node) = base.and_then(|b| b.find(id)) else { return };
        let (word, bit) = (node as usize / 64, 1u64 << (node % 64));
        if self.hidden.len() <= word {
            self.hidden.resize(word + 1, 0);
        }
        if self.hidden[word] & bit == 0 {
            self.hidden[word] |= bit;
            self.hidden_count += 1;
        }
    }

    fn remove_row(&mut self, id: i64, dim: usize) -> bool {
        let Some(row) = self.rows.remove(&id) else { return false };
        let last = self.ids.len() - 1;
        if row != last {
            let moved = self.ids[last];
            self.ids.swap(row, last);
            self.groups.swap(row, last);
            self.seqs.swap(row, last);
            let (head, tail) = self.data.split_at_mut(last * dim);
            head[row * dim..(row + 1) * dim].copy_from_slice(&tail[..dim]);
            self.rows.insert(moved, row);
        }
        self.ids.pop();
        self.groups.pop();
        self.seqs.pop();
        self.data.truncate(last * dim);
        true
    }

    fn row(&self, row: usize, dim: usize) -> &[f32] {
        &self.data[row * dim..(row + 1) * dim]
    }
}

impl AnnIndex {
    /// An empty index of `dim`-dimension vectors, with no base file yet.
    pub fn new(dim: usize, params: BuildParams) -> Result<AnnIndex, AnnError> {
        params.check(dim)?;
        Ok(AnnIndex {
            dim,
            params,
            base: None,
            delta: Delta::default(),
            generation: 0,
            lineage: NEXT_LINEAGE.fetch_add(1, Ordering::Relaxed),
            installed: 0,
        })
    }

    /// Builds a base from `vectors` (`(id, group, vector)`, each id distinct), writes it to
    /// `path` tagged with `generation`, and opens it. Linking runs on `params.threads` threads.
    pub fn build<I, V>(
        path: &Path,
        dim: usize,
        params: BuildParams,
        generation: i64,
        vectors: I,
    ) -> Result<AnnIndex, AnnError>
    where
        I: IntoIterator<Item = (i64, i64, V)>,
        V: AsRef<[f32]>,
    {
        let mut builder = Builder::new(dim, params)?;
        for (id, group, v) in vectors {
            builder.push(id, group, v.as_ref())?;
        }
        crate::format::write(&builder.build(), generation, path)?;
        let mut index = AnnIndex::open(path, params)?;
        index.params = params;
        Ok(index)
    }

    /// Opens the index file at `path` (mapped, not read); its generation becomes the
    /// index's. `params` serve later folds (the file's own `m` is kept). A file of another
    /// version or a damaged one is refused; the caller searches exactly and rebuilds.
    pub fn open(path: &Path, params: BuildParams) -> Result<AnnIndex, AnnError> {
        let base = Base::open(path)?;
        let mut index = AnnIndex::new(base.dim(), BuildParams { m: base.m(), ..params })?;
        index.generation = base.generation();
        index.base = Some(Arc::new(base));
        Ok(index)
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The generation the caller last set (or the base's, after [`AnnIndex::open`]).
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Records the generation of the caller's data that the index now reflects.
    pub fn set_generation(&mut self, generation: i64) {
        self.generation = generation;
    }

    /// The mapped base, if any.
    pub fn base(&self) -> Option<&Base> {
        self.base.as_deref()
    }

    /// Live vectors: the base's, less the hidden ones, plus the delta's.
    pub fn len(&self) -> usize {
        self.base.as_ref().map_or(0, |b| b.live()) - self.delta.hidden_count + self.delta.ids.len()
    }

    /// Whether the index holds no live vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vectors in the delta (added since the base was written).
    pub fn delta_len(&self) -> usize {
        self.delta.ids.len()
    }

    /// Tombstones in the delta (ids removed or replaced since the base was written).
    pub fn tombstones(&self) -> usize {
        self.delta.tombstones.len()
    }

    /// Whether the delta has grown past `params.fold_after` changes, the point where the
    /// caller should [`AnnIndex::fold`] it into a new base in the background.
    pub fn wants_fold(&self) -> bool {
        self.delta.ids.len() + self.delta.tombstones.len() >= self.params.fold_after
    }

    /// Adds `vector` under `id`, in `group` (the caller's grouping that filters test, such as
    /// a chunk's document), replacing any vector the id had.
    pub fn add(&mut self, id: i64, group: i64, vector: &[f32]) -> Result<(), AnnError> {
        if vector.len() != self.dim {
            return Err(AnnError::Dimension { expected: self.dim, got: vector.len() });
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(AnnError::NotFinite { id });
        }
        self.delta.seq += 1;
        let seq = self.delta.seq;
        self.delta.tombstones.insert(id, seq);
        self.delta.hide(self.base.as_deref(), id);
        match self.delta.rows.get(&id) {
            Some(&row) => {
                self.delta.seqs[row] = seq;
                self.delta.groups[row] = group;
                self.delta.data[row * self.dim..(row + 1) * self.dim].copy_from_slice(vector);
            }
            None => {
                self.delta.rows.insert(id, self.delta.ids.len());
                self.delta.ids.push(id);
                self.delta.groups.push(group);
                self.delta.seqs.push(seq);
                self.delta.data.extend_from_slice(vector);
            }
        }
        Ok(())
    }

    /// Removes `id`'s vector; returns whether it had one.
    pub fn remove(&mut self, id: i64) -> bool {
        let base = self.base.as_deref();
        let in_base = base.and_then(|b| b.find(id)).is_some_and(|n| !self.delta.is_hidden(n));
        let in_delta = self.delta.remove_row(id, self.dim);
        self.delta.seq += 1;
        self.delta.tombstones.insert(id, self.delta.seq);
        self.delta.hide(base, id);
        in_base || in_delta
    }

    /// Whether `id` has a live vector.
    pub fn contains(&self, id: i64) -> bool {
        self.delta.rows.contains_key(&id)
            || self.base.as_deref().and_then(|b| b.find(id)).is_some_and(|n| !self.delta.is_hidden(n))
    }

    /// The `k` vectors most similar to `query` (by dot product, so cosine for L2-normalised
    /// vectors) among those that pass `filter(id, group)`, best first.
    ///
    /// The base is traversed with the query's int8 codes (deleted, hidden and filtered-out
    /// nodes route the traversal but are never answered; `filter` is asked only of nodes that
    /// would enter the candidates), its best `opts.rescore` candidates are re-scored exactly
    /// from the f32 vectors `source` returns (a candidate the source no longer has is
    /// dropped), and the delta is scanned exactly. When `filter` passes few ids, the
    /// traversal reaches many nodes to find enough candidates: below about 20,000 passing
    /// ids, [`AnnIndex::search_in`] over them is faster (see the crate docs).
    pub fn search<S, F>(
        &self,
        query: &[f32],
        k: usize,
        opts: &SearchOptions,
        filter: F,
        source: &S,
    ) -> Result<Vec<Hit>, S::Error>
    where
        S: VectorSource + ?Sized,
        S::Error: From<AnnError>,
        F: Fn(i64, i64) -> bool,
    {
        self.check_query(query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut hits = Vec::new();
        if let Some(base) = self.base.as_deref() {
            let q = Query::new(query)?;
            let accept = |node: u32| {
                !base.is_deleted(node) && !self.delta.is_hidden(node) && filter(base.id(node), base.group(node))
            };
            let cands = traverse(base, &q, opts.ef.max(opts.rescore).max(k), accept);
            let ids: Vec<i64> = cands.iter().take(opts.rescore.max(k)).map(|c| base.id(c.node)).collect();
            rescore(query, &ids, source, &mut hits)?;
        }
        for (row, (&id, &group)) in self.delta.ids.iter().zip(&self.delta.groups).enumerate() {
            if filter(id, group) {
                hits.push(Hit { id, score: dot_f32(query, self.delta.row(row, self.dim)) });
            }
        }
        Ok(top(hits, k))
    }

    /// The `k` vectors most similar to `query` among `ids` (the ids a selective filter
    /// passes; unknown ids are skipped): delta vectors scored exactly, base vectors ranked by
    /// their codes and the best `opts.rescore` re-scored exactly from `source`. Costs about
    /// one code dot product per id, so it suits sets of up to some tens of thousands.
    pub fn search_in<S>(
        &self,
        query: &[f32],
        ids: &[i64],
        k: usize,
        opts: &SearchOptions,
        source: &S,
    ) -> Result<Vec<Hit>, S::Error>
    where
        S: VectorSource + ?Sized,
        S::Error: From<AnnError>,
    {
        self.check_query(query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut hits = Vec::new();
        let mut cands = Vec::new();
        let q = Query::new(query)?;
        let mut seen = HashSet::with_capacity(ids.len());
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            if let Some(&row) = self.delta.rows.get(&id) {
                hits.push(Hit { id, score: dot_f32(query, self.delta.row(row, self.dim)) });
            } else if let Some(base) = self.base.as_deref()
                && let Some(node) = base.find(id)
                && !self.delta.is_hidden(node)
            {
                cands.push((similarity(base, &q.codes, q.scale, node), id));
            }
        }
        cands.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let best: Vec<i64> = cands.iter().take(opts.rescore.max(k)).map(|c| c.1).collect();
        rescore(query, &best, source, &mut hits)?;
        Ok(top(hits, k))
    }

    fn check_query(&self, query: &[f32]) -> Result<(), AnnError> {
        if query.len() != self.dim {
            return Err(AnnError::Dimension { expected: self.dim, got: query.len() });
        }
        Ok(())
    }

    /// A snapshot of the delta for a background thread to fold into a new base
    /// ([`Fold::write`]); searches and changes go on meanwhile. Copies the delta's vectors.
    pub fn fold(&self) -> Fold {
        Fold {
            base: self.base.clone(),
            dim: self.dim,
            params: self.params,
            adds: (0..self.delta.ids.len())
                .map(|row| (self.delta.ids[row], self.delta.groups[row], self.delta.row(row, self.dim).to_vec()))
                .collect(),
            tombstones: self.delta.tombstones.keys().copied().collect(),
            seq: self.delta.seq,
            generation: self.generation,
            lineage: self.lineage,
        }
    }

    /// Swaps in a folded base: the changes it holds leave the delta, later ones stay (and
    /// tombstones are re-applied to the new base). Refuses a fold of another index or one
    /// older than the last installed (which would lose changes).
    pub fn install(&mut self, folded: Folded) -> Result<(), AnnError> {
        if folded.lineage != self.lineage {
            return Err(AnnError::Params("a fold can only be installed into the index it was taken from".into()));
        }
        if folded.seq <= self.installed {
            return Err(AnnError::Params(format!(
                "this fold (of change {}) is older than the one installed (of change {}); fold again",
                folded.seq, self.installed
            )));
        }
        let base = folded.base;
        let d = &mut self.delta;
        let stale: Vec<i64> = d.ids.iter().zip(&d.seqs).filter(|&(_, &s)| s <= folded.seq).map(|(&id, _)| id).collect();
        for id in stale {
            d.remove_row(id, self.dim);
        }
        d.tombstones.retain(|_, &mut s| s > folded.seq);
        d.hidden.clear();
        d.hidden_count = 0;
        let ids: Vec<i64> = d.tombstones.keys().copied().collect();
        for id in ids {
            d.hide(Some(&base), id);
        }
        self.base = Some(Arc::new(base));
        self.installed = folded.seq;
        Ok(())
    }
}

/// HNSW search of a base: greedy descent to level 1, then a search of width `ef` on level 0.
fn traverse<A: FnMut(u32) -> bool>(base: &Base, q: &Query, ef: usize, accept: A) -> Vec<Cand> {
    let Some((entry, top)) = base.entry() else { return Vec::new() };
    let mut buf = Vec::new();
    let mut cur = Cand { sim: similarity(base, &q.codes, q.scale, entry), node: entry };
    for level in (1..=top).rev() {
        cur = greedy(base, &q.codes, q.scale, cur, level, &mut buf);
    }
    let mut visited = BitVisited::new(base.nodes());
    search_layer(base, &q.codes, q.scale, &[cur], ef, 0, &mut visited, accept, &mut buf)
}

/// Scores `ids` exactly from the source's f32 vectors into `hits`; ids the source does not
/// return (or returns with another length) are dropped, ids it was not asked for ignored.
fn rescore<S>(query: &[f32], ids: &[i64], source: &S, hits: &mut Vec<Hit>) -> Result<(), S::Error>
where
    S: VectorSource + ?Sized,
{
    if ids.is_empty() {
        return Ok(());
    }
    let mut asked: Vec<i64> = ids.to_vec();
    asked.sort_unstable();
    let mut answered = HashSet::with_capacity(ids.len());
    source.vectors(ids, &mut |id, v| {
        if v.len() == query.len() && asked.binary_search(&id).is_ok() && answered.insert(id) {
            hits.push(Hit { id, score: dot_f32(query, v) });
        }
    })
}

/// The best `k` hits, score descending, ties by id.
fn top(mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    hits.truncate(k);
    hits
}

/// A snapshot of an index's delta, to be written as a new base by a background thread.
#[derive(Debug)]
pub struct Fold {
    base: Option<Arc<Base>>,
    dim: usize,
    params: BuildParams,
    adds: Vec<(i64, i64, Vec<f32>)>,
    tombstones: Vec<i64>,
    seq: u64,
    generation: i64,
    lineage: u64,
}

impl Fold {
    /// Vectors the fold adds.
    pub fn adds(&self) -> usize {
        self.adds.len()
    }

    /// Writes the new base to `path` (usually the old base's path: it is replaced by rename,
    /// and the old mapping stays valid) and opens it. The old graph is extended in place
    /// (hidden nodes marked deleted, still routing), unless deleted nodes would then exceed
    /// `params.rebuild_fraction` of the graph: then the live vectors are linked afresh.
    /// The old base is read whole first and [`Base::verify`]-ed (a damaged one is refused:
    /// the caller rebuilds from its own vectors).
    pub fn write(self, path: &Path) -> Result<Folded, AnnError> {
        let mut builder = match self.base.as_deref() {
            None => Builder::new(self.dim, self.params)?,
            Some(base) => {
                base.verify()?;
                let hidden: HashSet<u32> = self.tombstones.iter().filter_map(|&id| base.find(id)).collect();
                let dead = base.node_count() - base.live() + hidden.len();
                let total = base.node_count() + self.adds.len();
                if dead as f64 > f64::from(self.params.rebuild_fraction) * total as f64 {
                    let mut b = Builder::new(self.dim, self.params)?;
                    for node in 0..base.node_count() as u32 {
                        if !base.is_deleted(node) && !hidden.contains(&node) {
                            b.push_codes(base.id(node), base.group(node), base.code(node), base.scale(node))?;
                        }
                    }
                    b
                } else {
                    let mut b = Builder::from_linked(base.to_linked(), self.params)?;
                    for &node in &hidden {
                        b.delete(node as usize);
                    }
                    b
                }
            }
        };
        for (id, group, v) in &self.adds {
            builder.push(*id, *group, v)?;
        }
        crate::format::write(&builder.build(), self.generation, path)?;
        Ok(Folded { base: Base::open(path)?, seq: self.seq, lineage: self.lineage })
    }
}

/// A new base written by [`Fold::write`], for [`AnnIndex::install`].
#[derive(Debug)]
pub struct Folded {
    base: Base,
    seq: u64,
    lineage: u64,
}
