//! [`Base`]: an index file opened by mapping it. Opening reads the 512-byte header and maps
//! the rest; a search reads only the pages of the nodes it reaches, so a new process answers
//! its first query without loading the index, and its resident memory grows with what
//! queries touch. A base never changes: additions and removals go to the index's delta, and a
//! fold writes a new file.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::AnnError;
use crate::build::{Built, MAX_LEVEL, NO_UPPER, Nodes};
use crate::format::{Header, NO_ENTRY, Record, Section};
use crate::graph::Graph;

/// A mapped, immutable index file.
#[derive(Debug)]
pub struct Base {
    path: PathBuf,
    header: Header,
    /// The layout of node records.
    layout: Record,
    /// Where the records start in the file.
    records: usize,
    map: Mmap,
}

impl Base {
    /// Opens the index file at `path`; refuses one of another format version, a torn or
    /// truncated one, or one whose header does not check out ([`AnnError::Version`],
    /// [`AnnError::Corrupt`]: the caller rebuilds it).
    pub fn open(path: &Path) -> Result<Base, AnnError> {
        let mut file = File::open(path).map_err(|e| AnnError::io("cannot open", path, e))?;
        let len = file.metadata().map_err(|e| AnnError::io("cannot stat", path, e))?.len();
        let header = Header::read(&mut file, path, len)?;
        let map = crate::map::map(&file, path)?;
        if map.len() as u64 != len {
            return Err(AnnError::corrupt(path, "the file changed size while being opened"));
        }
        let (layout, records) = (header.record(), header.extent(Section::Records).offset as usize);
        Ok(Base { path: path.to_path_buf(), header, layout, records, map })
    }

    /// The file this base was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The generation the caller tagged this file with when it was written.
    pub fn generation(&self) -> i64 {
        self.header.generation
    }

    /// The vectors' dimension.
    pub fn dim(&self) -> usize {
        self.header.dim as usize
    }

    /// Links per node on the upper levels (twice as many on level 0).
    pub fn m(&self) -> usize {
        self.header.m as usize
    }

    /// Live (not deleted) vectors in the file.
    pub fn live(&self) -> usize {
        self.header.live as usize
    }

    /// Nodes in the graph, deleted ones (kept as routes) included.
    pub fn node_count(&self) -> usize {
        self.header.nodes as usize
    }

    /// The file's size in bytes.
    pub fn file_len(&self) -> u64 {
        self.header.file_len
    }

    fn bytes(&self, s: Section) -> &[u8] {
        let e = self.header.extent(s);
        &self.map[e.offset as usize..(e.offset + e.len) as usize]
    }

    fn range(&self, s: Section, items: Range<usize>, width: usize) -> &[u8] {
        let e = self.header.extent(s).offset as usize;
        &self.map[e + items.start * width..e + items.end * width]
    }

    /// A node's record.
    #[inline]
    fn record(&self, node: u32) -> &[u8] {
        let len = self.layout.len();
        let at = self.records + node as usize * len;
        &self.map[at..at + len]
    }

    /// The id of a node.
    pub(crate) fn id(&self, node: u32) -> i64 {
        let r = self.record(node);
        i64::from_ne_bytes(r[Record::ID..Record::ID + 8].try_into().unwrap_or_default())
    }

    /// The group of a node.
    pub(crate) fn group(&self, node: u32) -> i64 {
        let r = self.record(node);
        i64::from_ne_bytes(r[Record::GROUP..Record::GROUP + 8].try_into().unwrap_or_default())
    }

    /// Whether a node was deleted before this file was written.
    pub(crate) fn is_deleted(&self, node: u32) -> bool {
        let b = self.range(Section::Deleted, node as usize / 64..node as usize / 64 + 1, 8);
        u64::from_ne_bytes(b.try_into().unwrap_or_default()) & (1 << (node % 64)) != 0
    }

    fn order(&self, i: usize) -> u32 {
        u32::from_ne_bytes(self.range(Section::Order, i..i + 1, 4).try_into().unwrap_or_default())
    }

    /// The live node holding `id`, by binary search over the sorted order.
    pub(crate) fn find(&self, id: i64) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.header.live as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let node = self.order(mid);
            if node as u64 >= self.header.nodes {
                return None;
            }
            match self.id(node).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(node),
            }
        }
        None
    }

    /// Every live id, ascending.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.header.live as usize)
            .map(|i| self.order(i))
            .filter(|&n| u64::from(n) < self.header.nodes)
            .map(|n| self.id(n))
    }

    /// The entry node and its level.
    pub(crate) fn entry(&self) -> Option<(u32, usize)> {
        (self.header.entry != NO_ENTRY).then_some((self.header.entry, self.header.entry_level as usize))
    }

    /// Reads the whole file and checks every section's checksum and the graph's structure:
    /// levels within range and matching their upper blocks, every link to an existing node,
    /// the entry node on its level, the id order sorted, distinct and naming exactly the live
    /// nodes, every scale finite. The header was checked by [`Base::open`]. Searches never
    /// need it (they skip what is out of range); a fold calls it before extending the graph.
    pub fn verify(&self) -> Result<(), AnnError> {
        let bad = |reason: String| Err(AnnError::corrupt(&self.path, reason));
        for s in Section::ALL {
            let e = self.header.extent(s);
            if crc32fast::hash(self.bytes(s)) != e.crc {
                return bad(format!("section {s:?} checksum mismatch"));
            }
        }
        let n = self.header.nodes as u32;
        let mut buf = Vec::new();
        for node in 0..n {
            let level = self.level(node);
            let first = self.upper_first(node);
            let blocks_ok = match first {
                NO_UPPER => level == 0,
                first => level > 0 && u64::from(first) + level as u64 <= self.header.upper_blocks,
            };
            if level > usize::from(MAX_LEVEL) || !blocks_ok {
                return bad(format!("node {node} has level {level} and upper block {first}"));
            }
            if !self.scale(node).is_finite() {
                return bad(format!("node {node} has a scale that is not finite"));
            }
            for level in 0..=level {
                self.neighbors(node, level, &mut buf);
                if let Some(bad_link) = buf.iter().find(|&&x| x >= n) {
                    return bad(format!("node {node} links to node {bad_link} of {n}"));
                }
            }
        }
        if let Some((entry, top)) = self.entry()
            && self.level(entry) != top
        {
            return bad(format!("the entry node {entry} is on level {}, the header says {top}", self.level(entry)));
        }
        let live = (0..n).filter(|&node| !self.is_deleted(node)).count() as u64;
        if live != self.header.live {
            return bad(format!("{live} nodes are not deleted, the header says {}", self.header.live));
        }
        let mut previous = None;
        for i in 0..self.header.live as usize {
            let node = self.order(i);
            if node >= n || self.is_deleted(node) || previous.is_some_and(|p| p >= self.id(node)) {
                return bad(format!("entry {i} of the id order (node {node}) is out of order or not live"));
            }
            previous = Some(self.id(node));
        }
        Ok(())
    }

    /// The first block of a node's upper levels in `upper`, or [`NO_UPPER`].
    fn upper_first(&self, node: u32) -> u32 {
        u32::from_ne_bytes(
            self.range(Section::UpperIndex, node as usize..node as usize + 1, 4).try_into().unwrap_or_default(),
        )
    }

    fn level(&self, node: u32) -> usize {
        self.range(Section::Levels, node as usize..node as usize + 1, 1)[0] as usize
    }

    /// Copies the graph into memory for a fold to extend.
    pub(crate) fn to_linked(&self) -> Built {
        let words = |s: Section| -> Vec<u32> {
            self.bytes(s).chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().unwrap_or_default())).collect()
        };
        let n = self.node_count() as u32;
        let mut level0 = Vec::with_capacity(n as usize * (1 + 2 * self.m()));
        let mut codes = Vec::with_capacity(n as usize * self.dim());
        for node in 0..n {
            let r = self.record(node);
            let list = &r[Record::LIST..self.layout.codes()];
            level0.extend(list.chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().unwrap_or_default())));
            codes.extend_from_slice(self.code(node));
        }
        let nodes = Nodes {
            dim: self.dim(),
            ids: (0..n).map(|node| self.id(node)).collect(),
            groups: (0..n).map(|node| self.group(node)).collect(),
            scales: (0..n).map(|node| self.scale(node)).collect(),
            codes,
            levels: self.bytes(Section::Levels).to_vec(),
            deleted: self
                .bytes(Section::Deleted)
                .chunks_exact(8)
                .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()))
                .collect(),
        };
        Built {
            nodes,
            m: self.m(),
            ef_construction: self.header.ef_construction as usize,
            level0,
            upper_index: words(Section::UpperIndex),
            upper: words(Section::Upper),
            entry: self.entry().map(|(n, l)| (n, l as u8)),
        }
    }
}

impl Graph for Base {
    fn nodes(&self) -> usize {
        self.header.nodes as usize
    }

    fn code(&self, node: u32) -> &[i8] {
        let at = self.layout.codes();
        bytemuck::cast_slice(&self.record(node)[at..at + self.layout.dim])
    }

    fn scale(&self, node: u32) -> f32 {
        let r = self.record(node);
        f32::from_ne_bytes(r[Record::SCALE..Record::SCALE + 4].try_into().unwrap_or_default())
    }

    fn neighbors(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        let m = self.header.m as usize;
        let list = if level == 0 {
            &self.record(node)[Record::LIST..self.layout.codes()]
        } else {
            let first = self.upper_first(node);
            if first == NO_UPPER {
                return;
            }
            let block = first as u64 + level as u64 - 1;
            if block >= self.header.upper_blocks {
                return;
            }
            let w = m + 1;
            self.range(Section::Upper, block as usize * w..(block as usize + 1) * w, 4)
        };
        let mut words = list.chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().unwrap_or_default()));
        let count = (words.next().unwrap_or(0) as usize).min(list.len() / 4 - 1);
        out.extend(words.take(count));
    }
}
