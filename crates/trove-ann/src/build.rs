//! Building and extending HNSW graphs in memory: [`Builder`] collects nodes (an id, int8 codes
//! and a scale each; a level drawn from a hash of the id, so rebuilds place nodes alike), may
//! start from a mapped base whose nodes keep their links, and inserts the rest on several
//! threads at once. Links live in `AtomicU32`s while threads insert (a node's list is rewritten
//! under one of a fixed set of striped locks, and read without a lock: a reader may see a list
//! mid-update, which costs nothing but a slightly different path, since every value ever
//! stored is a valid node id); the result is a plain [`Built`] that `format` writes.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

use crate::graph::{Cand, EpochVisited, Graph, search_layer, select, similarity};
use crate::quant::quantize;
use crate::{AnnError, BuildParams, GAMMA, splitmix};

/// The highest level a node may get (beyond it, levels only cost memory).
pub(crate) const MAX_LEVEL: u8 = 15;
/// Marks a node without upper levels in `upper_index`.
pub(crate) const NO_UPPER: u32 = u32::MAX;
/// Number of striped locks serialising writers of neighbour lists.
const STRIPES: usize = 4096;

/// The nodes of a graph and what each carries, in node order.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    pub dim: usize,
    pub ids: Vec<i64>,
    /// The caller's group of each node (a chunk's document), for filters.
    pub groups: Vec<i64>,
    pub scales: Vec<f32>,
    pub codes: Vec<i8>,
    pub levels: Vec<u8>,
    /// One bit per node: deleted nodes still route searches but are never answered.
    pub deleted: Vec<u64>,
}

impl Nodes {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_deleted(&self, node: usize) -> bool {
        self.deleted.get(node / 64).is_some_and(|w| w & (1 << (node % 64)) != 0)
    }

    pub fn set_deleted(&mut self, node: usize) {
        if self.deleted.len() <= node / 64 {
            self.deleted.resize(node / 64 + 1, 0);
        }
        self.deleted[node / 64] |= 1 << (node % 64);
    }

    fn push(&mut self, (id, group): (i64, i64), codes: &[i8], scale: f32, level: u8) {
        self.ids.push(id);
        self.groups.push(group);
        self.codes.extend_from_slice(codes);
        self.scales.push(scale);
        self.levels.push(level);
        self.deleted.resize(self.ids.len().div_ceil(64), 0);
    }
}

/// A linked graph: one [`Builder::build`] finished (ready to be written), or one a base file
/// holds (for [`Builder::from_linked`] to extend).
#[derive(Debug)]
pub(crate) struct Built {
    pub nodes: Nodes,
    pub m: usize,
    pub ef_construction: usize,
    /// Per node, `1 + 2m` values: the count, then the neighbours on level 0.
    pub level0: Vec<u32>,
    /// Per node, the index of its level-1 block in `upper` (blocks for levels 1..=level follow
    /// it), or [`NO_UPPER`].
    pub upper_index: Vec<u32>,
    /// Blocks of `1 + m` values: count, then neighbours.
    pub upper: Vec<u32>,
    /// The entry node and its level.
    pub entry: Option<(u32, u8)>,
}

/// The links of a graph that is being extended by several threads.
struct Links {
    m: usize,
    level0: Vec<AtomicU32>,
    upper_index: Vec<u32>,
    upper: Vec<AtomicU32>,
    locks: Vec<Mutex<()>>,
}

impl Links {
    fn cap(&self, level: usize) -> usize {
        if level == 0 { 2 * self.m } else { self.m }
    }

    /// The slots of `node`'s list at `level`: count first, then the neighbours.
    fn list(&self, node: u32, level: usize) -> Option<&[AtomicU32]> {
        if level == 0 {
            let w = 2 * self.m + 1;
            return self.level0.get(node as usize * w..(node as usize + 1) * w);
        }
        let first = *self.upper_index.get(node as usize)?;
        if first == NO_UPPER {
            return None;
        }
        let w = self.m + 1;
        let block = first as usize + level - 1;
        self.upper.get(block * w..(block + 1) * w)
    }

    fn read(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        if let Some(list) = self.list(node, level) {
            let count = (list[0].load(Relaxed) as usize).min(list.len() - 1);
            out.extend(list[1..=count].iter().map(|a| a.load(Relaxed)));
        }
    }

    fn write(list: &[AtomicU32], values: &[u32]) {
        for (slot, &v) in list[1..].iter().zip(values) {
            slot.store(v, Relaxed);
        }
        list[0].store(values.len() as u32, Relaxed);
    }

    fn lock(&self, node: u32) -> std::sync::MutexGuard<'_, ()> {
        // A poisoned stripe only means another inserting thread panicked; the lists it guards
        // hold valid ids whatever that thread was doing.
        self.locks[node as usize % STRIPES].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The graph as inserting threads see it.
struct View<'a> {
    nodes: &'a Nodes,
    links: &'a Links,
}

impl Graph for View<'_> {
    fn nodes(&self) -> usize {
        self.nodes.len()
    }
    fn code(&self, node: u32) -> &[i8] {
        let d = self.nodes.dim;
        &self.nodes.codes[node as usize * d..(node as usize + 1) * d]
    }
    fn scale(&self, node: u32) -> f32 {
        self.nodes.scales[node as usize]
    }
    fn neighbors(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        self.links.read(node, level, out);
    }
}

/// Collects nodes, then links them.
#[derive(Debug)]
pub(crate) struct Builder {
    params: BuildParams,
    nodes: Nodes,
    /// Live ids, to refuse duplicates.
    live: HashSet<i64>,
    /// Nodes `0..linked` came with their links (from a base).
    linked: usize,
    level0: Vec<u32>,
    upper_index: Vec<u32>,
    upper: Vec<u32>,
    entry: Option<(u32, u8)>,
    scratch: Vec<i8>,
}

impl Builder {
    pub fn new(dim: usize, params: BuildParams) -> Result<Builder, AnnError> {
        params.check(dim)?;
        Ok(Builder {
            params,
            nodes: Nodes { dim, ..Nodes::default() },
            live: HashSet::new(),
            linked: 0,
            level0: Vec::new(),
            upper_index: Vec::new(),
            upper: Vec::new(),
            entry: None,
            scratch: vec![0; dim],
        })
    }

    /// A builder that keeps `graph`'s nodes and links (deleted nodes included, as routes) and
    /// inserts the nodes pushed after it.
    pub fn from_linked(graph: Built, params: BuildParams) -> Result<Builder, AnnError> {
        let mut b = Builder::new(graph.nodes.dim, BuildParams { m: graph.m, ..params })?;
        b.live = (0..graph.nodes.len()).filter(|&n| !graph.nodes.is_deleted(n)).map(|n| graph.nodes.ids[n]).collect();
        b.linked = graph.nodes.len();
        b.nodes = graph.nodes;
        b.level0 = graph.level0;
        b.upper_index = graph.upper_index;
        b.upper = graph.upper;
        b.entry = graph.entry;
        Ok(b)
    }

    /// Marks a node deleted: it keeps routing but is never answered.
    pub fn delete(&mut self, node: usize) {
        if node < self.nodes.len() && !self.nodes.is_deleted(node) {
            self.live.remove(&self.nodes.ids[node]);
            self.nodes.set_deleted(node);
        }
    }

    /// Adds a vector of `id` in `group` (quantized here).
    pub fn push(&mut self, id: i64, group: i64, vector: &[f32]) -> Result<(), AnnError> {
        if vector.len() != self.nodes.dim {
            return Err(AnnError::Dimension { expected: self.nodes.dim, got: vector.len() });
        }
        let mut codes = std::mem::take(&mut self.scratch);
        let scale = quantize(id, vector, &mut codes);
        let pushed = scale.and_then(|scale| self.push_codes(id, group, &codes, scale));
        self.scratch = codes;
        pushed
    }

    /// Adds an already quantized vector.
    pub fn push_codes(&mut self, id: i64, group: i64, codes: &[i8], scale: f32) -> Result<(), AnnError> {
        if codes.len() != self.nodes.dim {
            return Err(AnnError::Dimension { expected: self.nodes.dim, got: codes.len() });
        }
        if !self.live.insert(id) {
            return Err(AnnError::DuplicateId { id });
        }
        if self.nodes.len() >= u32::MAX as usize - 1 {
            return Err(AnnError::Params("an index holds at most 4,294,967,294 vectors".into()));
        }
        let level = level_of(id, self.params.seed, self.params.m);
        self.nodes.push((id, group), codes, scale, level);
        Ok(())
    }

    /// Links every node pushed since the start (or since the base), on `params.threads`
    /// threads.
    pub fn build(self) -> Built {
        let Builder { params, nodes, linked, level0, upper_index, upper, entry, .. } = self;
        let m = params.m;
        let (w0, wu) = (2 * m + 1, m + 1);
        let n = nodes.len();

        // Lay out the links: the linked nodes' as they were, fresh lists after them.
        let mut l0: Vec<AtomicU32> = level0.into_iter().map(AtomicU32::new).collect();
        l0.resize_with(n * w0, || AtomicU32::new(0));
        let mut index = upper_index;
        let mut up: Vec<AtomicU32> = upper.into_iter().map(AtomicU32::new).collect();
        let mut blocks = up.len() / wu;
        for node in linked..n {
            let level = nodes.levels[node] as usize;
            if level == 0 {
                index.push(NO_UPPER);
            } else {
                index.push(blocks as u32);
                blocks += level;
            }
        }
        up.resize_with(blocks * wu, || AtomicU32::new(0));
        let links = Links {
            m,
            level0: l0,
            upper_index: index,
            upper: up,
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        };

        let entry = Mutex::new(entry);
        let next = AtomicUsize::new(linked);
        let threads = params.threads();
        let view = View { nodes: &nodes, links: &links };
        std::thread::scope(|s| {
            for _ in 0..threads.min(n.saturating_sub(linked)).max(1) {
                s.spawn(|| {
                    let mut ctx = Context { visited: EpochVisited::new(n), buf: Vec::new(), chosen: Vec::new() };
                    loop {
                        let node = next.fetch_add(1, Relaxed);
                        if node >= n {
                            break;
                        }
                        insert(&view, &entry, params.ef_construction, node as u32, &mut ctx);
                    }
                });
            }
        });

        let entry = entry.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some((entry, top)) = entry {
            repair(&view, entry, top, params.ef_construction);
        }
        let Links { level0, upper_index, upper, .. } = links;
        Built {
            nodes,
            m,
            ef_construction: params.ef_construction,
            level0: level0.into_iter().map(AtomicU32::into_inner).collect(),
            upper_index,
            upper: upper.into_iter().map(AtomicU32::into_inner).collect(),
            entry,
        }
    }
}

/// One inserting thread's reusable buffers.
struct Context {
    visited: EpochVisited,
    buf: Vec<u32>,
    chosen: Vec<u32>,
}

/// Inserts `node` (HNSW's INSERT): descends greedily to its level, then on each level finds
/// its neighbours by a search of width `ef`, links it to a selection of them and them back to
/// it, pruning their lists by the same heuristic when full.
fn insert(view: &View<'_>, entry: &Mutex<Option<(u32, u8)>>, ef: usize, node: u32, ctx: &mut Context) {
    let level = view.nodes.levels[node as usize];
    let (ep, top) = {
        let mut e = entry.lock().unwrap_or_else(|p| p.into_inner());
        match *e {
            Some(found) => found,
            None => {
                *e = Some((node, level));
                return;
            }
        }
    };
    let (codes, scale) = (view.code(node), view.scale(node));
    let mut cur = Cand { sim: similarity(view, codes, scale, ep), node: ep };
    for l in ((level as usize + 1)..=(top as usize)).rev() {
        cur = crate::graph::greedy(view, codes, scale, cur, l, &mut ctx.buf);
    }
    let mut entries = vec![cur];
    let nodes = view.nodes;
    for l in (0..=(level.min(top) as usize)).rev() {
        ctx.visited.clear();
        let found = search_layer(
            view,
            codes,
            scale,
            &entries,
            ef,
            l,
            &mut ctx.visited,
            |c| c != node && !nodes.is_deleted(c as usize),
            &mut ctx.buf,
        );
        select(view, &found, view.links.m, false, &mut ctx.chosen);
        if let Some(list) = view.links.list(node, l) {
            let _guard = view.links.lock(node);
            Links::write(list, &ctx.chosen);
        }
        for &nb in &ctx.chosen {
            connect(view, nb, node, l, &mut ctx.buf);
        }
        if !found.is_empty() {
            entries = found;
        }
    }
    if level > top {
        let mut e = entry.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none_or(|(_, l)| level > l) {
            *e = Some((node, level));
        }
    }
}

/// Makes every live node reachable on level 0 from the entry. Pruning can cut the last link
/// into a node or a tight cluster (near-duplicates: each keeps only its twins), which no search
/// could then find. For each node a walk from the entry misses, this links it from the most
/// similar node the walk reaches (one with a free slot, or else the one whose dropped
/// neighbour has the most other links in), then marks what became reachable through it; a
/// few rounds, since a dropped link may cut something else.
fn repair(view: &View<'_>, entry: u32, top: u8, ef: usize) {
    let n = view.nodes.len();
    let links = view.links;
    let mut buf = Vec::new();
    for _round in 0..8 {
        let mut reached = vec![false; n];
        walk(links, entry, &mut reached, &mut buf);
        if (0..n).all(|u| reached[u] || view.nodes.is_deleted(u)) {
            return;
        }
        let mut in_degree = vec![0u32; n];
        for node in 0..n as u32 {
            links.read(node, 0, &mut buf);
            for &x in &buf {
                in_degree[x as usize] += 1;
            }
        }
        let mut visited = EpochVisited::new(n);
        for u in 0..n as u32 {
            if reached[u as usize] || view.nodes.is_deleted(u as usize) {
                continue;
            }
            let (codes, scale) = (view.code(u), view.scale(u));
            let mut start = Cand { sim: similarity(view, codes, scale, entry), node: entry };
            for l in (1..=top as usize).rev() {
                start = crate::graph::greedy(view, codes, scale, start, l, &mut buf);
            }
            if !reached[start.node as usize] {
                start = Cand { sim: similarity(view, codes, scale, entry), node: entry };
            }
            visited.clear();
            let found = search_layer(
                view,
                codes,
                scale,
                &[start],
                ef,
                0,
                &mut visited,
                |x| x != u && reached[x as usize],
                &mut buf,
            );
            let Some(anchor) = found
                .iter()
                .find(|c| links.list(c.node, 0).is_some_and(|l| (l[0].load(Relaxed) as usize) < 2 * links.m))
                .or(found.first())
            else {
                continue;
            };
            let Some(list) = links.list(anchor.node, 0) else { continue };
            links.read(anchor.node, 0, &mut buf);
            if buf.len() < 2 * links.m {
                buf.push(u);
            } else if let Some(i) = (0..buf.len()).max_by_key(|&i| in_degree[buf[i] as usize]) {
                in_degree[buf[i] as usize] -= 1;
                buf[i] = u;
            }
            Links::write(list, &buf);
            in_degree[u as usize] += 1;
            walk(links, u, &mut reached, &mut buf);
        }
    }
}

/// Marks every node reachable on level 0 from `from` (and not yet marked).
fn walk(links: &Links, from: u32, reached: &mut [bool], buf: &mut Vec<u32>) {
    let mut stack = vec![from];
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut reached[node as usize], true) {
            continue;
        }
        links.read(node, 0, buf);
        stack.extend(buf.iter().filter(|&&x| (x as usize) < reached.len() && !reached[x as usize]));
    }
}

/// Adds `node` to `nb`'s list at `level`, re-selecting the list by the heuristic when full.
fn connect(view: &View<'_>, nb: u32, node: u32, level: usize, buf: &mut Vec<u32>) {
    let links = view.links;
    let Some(list) = links.list(nb, level) else { return };
    let cap = links.cap(level);
    let _guard = links.lock(nb);
    links.read(nb, level, buf);
    if buf.contains(&node) {
        return;
    }
    if buf.len() < cap {
        buf.push(node);
        Links::write(list, buf);
        return;
    }
    let (codes, scale) = (view.code(nb), view.scale(nb));
    let mut cands: Vec<Cand> = buf
        .iter()
        .chain(std::iter::once(&node))
        .map(|&c| Cand { sim: similarity(view, codes, scale, c), node: c })
        .collect();
    cands.sort_unstable_by(|a, b| b.cmp(a));
    let mut kept = Vec::with_capacity(cap);
    select(view, &cands, cap, true, &mut kept);
    Links::write(list, &kept);
}

/// A node's level: `floor(−ln(u) / ln(m))` for `u` uniform in (0, 1], drawn from a hash of the
/// id and seed, capped at [`MAX_LEVEL`].
pub(crate) fn level_of(id: i64, seed: u64, m: usize) -> u8 {
    let h = splitmix(seed ^ (id as u64).wrapping_mul(GAMMA));
    let u = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let level = (-u.ln() / (m as f64).ln()).floor();
    level.min(f64::from(MAX_LEVEL)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_geometric_distribution() {
        let counts = (0..100_000i64).fold([0usize; 4], |mut c, id| {
            c[level_of(id, 1, 16).min(3) as usize] += 1;
            c
        });
        // P(level >= 1) = 1/16, P(level >= 2) = 1/256.
        assert!((5_600..6_900).contains(&(counts[1] + counts[2] + counts[3])), "{counts:?}");
        assert!((250..560).contains(&(counts[2] + counts[3])), "{counts:?}");
    }

    /// Nodes reachable on level 0 from the entry.
    fn reachable(built: &Built) -> usize {
        let w = 2 * built.m + 1;
        let mut seen = vec![false; built.nodes.len()];
        let mut stack: Vec<u32> = built.entry.map(|e| e.0).into_iter().collect();
        while let Some(node) = stack.pop() {
            if std::mem::replace(&mut seen[node as usize], true) {
                continue;
            }
            let list = &built.level0[node as usize * w..(node as usize + 1) * w];
            stack.extend(&list[1..=list[0] as usize]);
        }
        seen.iter().filter(|&&s| s).count()
    }

    fn vector(id: i64, dim: usize) -> Vec<f32> {
        // Points near a few directions: many near-duplicates, which prune lists hardest.
        let v: Vec<f32> = (0..dim)
            .map(|j| {
                ((id % 5) as f32 - 2.0) * (j % 3) as f32 + ((id * 7919 + j as i64 * 104_729) % 1000) as f32 / 2000.0
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    #[test]
    fn every_node_stays_reachable_when_built_and_when_extended_on_several_threads() {
        let dim = 16;
        let params = BuildParams { m: 4, ef_construction: 24, threads: 4, ..BuildParams::default() };
        for round in 0..3 {
            let mut b = Builder::new(dim, params).unwrap();
            for id in 0..1500 {
                b.push(id + round * 10_000, id % 10, &vector(id, dim)).unwrap();
            }
            let built = b.build();
            assert_eq!(reachable(&built), 1500, "round {round}");
            let mut b = Builder::from_linked(built, params).unwrap();
            b.delete(3);
            for id in 1500..2500 {
                b.push(id + round * 10_000, id % 10, &vector(id, dim)).unwrap();
            }
            let built = b.build();
            assert_eq!(reachable(&built), 2500, "round {round}, extended");
            assert!(built.nodes.is_deleted(3) && !built.nodes.is_deleted(4));
        }
    }

    #[test]
    fn every_list_holds_valid_distinct_neighbours_within_its_capacity() {
        let dim = 8;
        let mut b =
            Builder::new(dim, BuildParams { m: 4, ef_construction: 16, threads: 2, ..BuildParams::default() }).unwrap();
        for id in 0..500i64 {
            let v: Vec<f32> = (0..dim).map(|j| ((id * 31 + j as i64 * 17) % 23) as f32 - 11.0).collect();
            b.push(id, 0, &v).unwrap();
        }
        assert!(matches!(b.push(3, 0, &[0.0; 8]), Err(AnnError::DuplicateId { id: 3 })));
        let built = b.build();
        let n = built.nodes.len() as u32;
        for node in 0..n as usize {
            let list = &built.level0[node * 9..(node + 1) * 9];
            let count = list[0] as usize;
            assert!(count <= 8);
            let nbs = &list[1..=count];
            assert!(nbs.iter().all(|&x| x < n && x != node as u32));
            let distinct: HashSet<_> = nbs.iter().collect();
            assert_eq!(distinct.len(), count);
            if built.nodes.len() > 1 {
                assert!(count > 0, "node {node} is unreachable");
            }
        }
        assert!(built.entry.is_some());
    }
}
