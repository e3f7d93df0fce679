//! The index file: a fixed 512-byte header, then six sections, each 64-byte aligned, in the
//! machine's byte order (the header records which, and another order is refused).
//!
//! ```text
//! header       magic "TROVEANN", format version, byte-order mark, dimension, m,
//!              ef_construction, entry node and level, node / live / upper-block counts,
//!              generation, file length, per section (offset, length, CRC-32), CRC-32 of the
//!              header itself
//! records      per node, all a traversal step reads of it, together (one page touched, not
//!              five): id i64, group i64, scale f32, level-0 neighbour count u32,
//!              2m neighbours u32, dim codes i8, zero padding to a multiple of 8 bytes
//! levels       u8 per node
//! upper_index  u32 per node: its first block in `upper`, or u32::MAX
//! upper        (1 + m) × u32 per block, one block per upper level of a node
//! order        u32 per live node, sorted by id (lookup of a node by id, by binary search)
//! deleted      u64 per 64 nodes, a bit per deleted node
//! ```
//!
//! A file is written to a temporary name in the same folder, fsynced, renamed over the target
//! and the folder fsynced, so a crash leaves the old file or the new one, never a torn one.
//! [`Header::read`] refuses a file whose header checksum, version, byte order, length or
//! section layout is wrong, without reading the sections; [`crate::Base::verify`] also checks
//! the sections' checksums (a full read).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::AnnError;
use crate::build::Built;

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"TROVEANN";
pub(crate) const HEADER_LEN: usize = 512;
const ALIGN: u64 = 64;
const BYTE_ORDER_MARK: u32 = 0x0102_0304;
/// Marks "no entry node" (an empty graph).
pub(crate) const NO_ENTRY: u32 = u32::MAX;

/// The sections, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Records,
    Levels,
    UpperIndex,
    Upper,
    Order,
    Deleted,
}

impl Section {
    pub const ALL: [Section; 6] =
        [Section::Records, Section::Levels, Section::UpperIndex, Section::Upper, Section::Order, Section::Deleted];

    fn name(self) -> &'static str {
        match self {
            Section::Records => "records",
            Section::Levels => "levels",
            Section::UpperIndex => "upper_index",
            Section::Upper => "upper",
            Section::Order => "order",
            Section::Deleted => "deleted",
        }
    }
}

/// The layout of a node record: byte offsets of its parts and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub m: usize,
    pub dim: usize,
}

impl Record {
    pub const ID: usize = 0;
    pub const GROUP: usize = 8;
    pub const SCALE: usize = 16;
    pub const LIST: usize = 20;

    /// Where the codes start.
    pub fn codes(&self) -> usize {
        Self::LIST + 4 * (1 + 2 * self.m)
    }

    /// The record's length.
    pub fn len(&self) -> usize {
        (self.codes() + self.dim).next_multiple_of(8)
    }
}

/// Where a section lies and its checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extent {
    pub offset: u64,
    pub len: u64,
    pub crc: u32,
}

/// The decoded header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub dim: u32,
    pub m: u32,
    pub ef_construction: u32,
    pub entry: u32,
    pub entry_level: u32,
    pub nodes: u64,
    pub live: u64,
    pub upper_blocks: u64,
    pub generation: i64,
    pub file_len: u64,
    pub sections: [Extent; 6],
}

impl Header {
    pub fn extent(&self, s: Section) -> Extent {
        self.sections[s as usize]
    }

    pub fn record(&self) -> Record {
        Record { m: self.m as usize, dim: self.dim as usize }
    }

    /// The byte length each section must have.
    fn expected_len(&self, s: Section) -> u64 {
        let (n, m) = (self.nodes, u64::from(self.m));
        match s {
            Section::Records => n * self.record().len() as u64,
            Section::Levels => n,
            Section::UpperIndex => n * 4,
            Section::Upper => self.upper_blocks.saturating_mul((1 + m) * 4),
            Section::Order => self.live * 4,
            Section::Deleted => n.div_ceil(64) * 8,
        }
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut w = Cursor { buf: &mut out, at: 0 };
        w.put(MAGIC);
        w.put(&FORMAT_VERSION.to_le_bytes());
        w.put(&BYTE_ORDER_MARK.to_ne_bytes());
        for v in [self.dim, self.m, self.ef_construction, self.entry, self.entry_level] {
            w.put(&v.to_le_bytes());
        }
        for v in [self.nodes, self.live, self.upper_blocks] {
            w.put(&v.to_le_bytes());
        }
        w.put(&self.generation.to_le_bytes());
        w.put(&self.file_len.to_le_bytes());
        for e in &self.sections {
            w.put(&e.offset.to_le_bytes());
            w.put(&e.len.to_le_bytes());
            w.put(&e.crc.to_le_bytes());
        }
        let crc = crc32fast::hash(&out[..HEADER_LEN - 4]);
        out[HEADER_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads and checks the header of the open file `file` (at `path`) of `file_len` bytes.
    pub fn read(file: &mut File, path: &Path, file_len: u64) -> Result<Header, AnnError> {
        if file_len < HEADER_LEN as u64 {
            return Err(AnnError::corrupt(
                path,
                format!("{file_len} bytes, shorter than a header: torn or not an index"),
            ));
        }
        let mut buf = [0u8; HEADER_LEN];
        file.read_exact(&mut buf).map_err(|e| AnnError::io("cannot read", path, e))?;
        if &buf[..8] != MAGIC {
            return Err(AnnError::corrupt(path, "no TROVEANN magic: not a trove vector index"));
        }
        let mut r = Reader { buf: &buf, at: 8 };
        let version = r.u32();
        if version != FORMAT_VERSION {
            return Err(AnnError::Version { path: path.to_path_buf(), found: version, supported: FORMAT_VERSION });
        }
        let stored_crc = u32::from_le_bytes(buf[HEADER_LEN - 4..].try_into().unwrap_or_default());
        if crc32fast::hash(&buf[..HEADER_LEN - 4]) != stored_crc {
            return Err(AnnError::corrupt(path, "header checksum mismatch"));
        }
        if r.ne_u32() != BYTE_ORDER_MARK {
            return Err(AnnError::corrupt(path, "written on a machine of another byte order"));
        }
        let (dim, m, ef_construction, entry, entry_level) = (r.u32(), r.u32(), r.u32(), r.u32(), r.u32());
        let (nodes, live, upper_blocks) = (r.u64(), r.u64(), r.u64());
        let generation = r.u64() as i64;
        let declared_len = r.u64();
        let mut sections = [Extent::default(); 6];
        for e in &mut sections {
            *e = Extent { offset: r.u64(), len: r.u64(), crc: r.u32() };
        }
        let h = Header {
            dim,
            m,
            ef_construction,
            entry,
            entry_level,
            nodes,
            live,
            upper_blocks,
            generation,
            file_len: declared_len,
            sections,
        };
        h.check(path, file_len)?;
        Ok(h)
    }

    /// The structural checks that make every later access in bounds.
    fn check(&self, path: &Path, actual_len: u64) -> Result<(), AnnError> {
        let bad = |reason: String| Err(AnnError::corrupt(path, reason));
        if self.file_len != actual_len {
            return bad(format!(
                "the file is {actual_len} bytes but its header says {}: torn or truncated",
                self.file_len
            ));
        }
        if self.dim == 0 || self.dim > crate::MAX_DIM as u32 || self.m < 2 || self.m > 128 {
            return bad(format!("impossible parameters dim {} m {}", self.dim, self.m));
        }
        if self.nodes >= u64::from(u32::MAX) || self.live > self.nodes {
            return bad(format!("impossible counts: {} nodes, {} live", self.nodes, self.live));
        }
        let entry_ok = if self.nodes == 0 { self.entry == NO_ENTRY } else { u64::from(self.entry) < self.nodes };
        if !entry_ok || self.entry_level > u32::from(crate::build::MAX_LEVEL) {
            return bad(format!("entry node {} (level {}) out of {} nodes", self.entry, self.entry_level, self.nodes));
        }
        let mut end = HEADER_LEN as u64;
        for s in Section::ALL {
            let e = self.extent(s);
            if !e.offset.is_multiple_of(ALIGN)
                || e.offset < end
                || e.offset.checked_add(e.len).is_none_or(|x| x > actual_len)
            {
                return bad(format!("section {} at {}+{} is misplaced", s.name(), e.offset, e.len));
            }
            if e.len != self.expected_len(s) {
                return bad(format!("section {} is {} bytes, expected {}", s.name(), e.len, self.expected_len(s)));
            }
            end = e.offset + e.len;
        }
        Ok(())
    }
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.at..self.at + N]);
        self.at += N;
        out
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn ne_u32(&mut self) -> u32 {
        u32::from_ne_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

/// Writes `built` as an index file at `path`, tagged with `generation`: to a temporary file
/// beside it, fsynced, then renamed over `path`, and the folder fsynced.
pub(crate) fn write(built: &Built, generation: i64, path: &Path) -> Result<(), AnnError> {
    let tmp = temp_path(path);
    let result = write_to(built, generation, &tmp).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| AnnError::io("cannot rename into place", path, e))?;
        sync_dir(path)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    path.with_file_name(format!(".{name}.tmp.{}.{nanos}", std::process::id()))
}

fn sync_dir(path: &Path) -> Result<(), AnnError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| AnnError::io("cannot sync the folder of", path, e))
}

fn write_to(built: &Built, generation: i64, tmp: &Path) -> Result<(), AnnError> {
    let io = |e| AnnError::io("cannot write", tmp, e);
    let nodes = &built.nodes;
    let mut order: Vec<u32> = (0..nodes.len() as u32).filter(|&n| !nodes.is_deleted(n as usize)).collect();
    order.sort_unstable_by_key(|&n| nodes.ids[n as usize]);
    let mut deleted = nodes.deleted.clone();
    deleted.resize(nodes.len().div_ceil(64), 0);
    let (entry, entry_level) = built.entry.map_or((NO_ENTRY, 0), |(n, l)| (n, u32::from(l)));
    let m = built.m as u64;
    let layout = Record { m: built.m, dim: nodes.dim };

    let file = File::create(tmp).map_err(|e| AnnError::io("cannot create", tmp, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(&[0u8; HEADER_LEN]).map_err(io)?;
    let mut at = HEADER_LEN as u64;
    let mut sections = [Extent::default(); 6];
    for (extent, section) in sections.iter_mut().zip(Section::ALL) {
        let pad = at.next_multiple_of(ALIGN) - at;
        out.write_all(&[0u8; ALIGN as usize][..pad as usize]).map_err(io)?;
        at += pad;
        let mut crc = crc32fast::Hasher::new();
        let mut len = 0u64;
        let mut put = |bytes: &[u8]| -> Result<(), AnnError> {
            crc.update(bytes);
            len += bytes.len() as u64;
            out.write_all(bytes).map_err(io)
        };
        match section {
            Section::Records => {
                let mut rec = vec![0u8; layout.len()];
                let w0 = 1 + 2 * built.m;
                for node in 0..nodes.len() {
                    rec.fill(0);
                    rec[Record::ID..Record::ID + 8].copy_from_slice(&nodes.ids[node].to_ne_bytes());
                    rec[Record::GROUP..Record::GROUP + 8].copy_from_slice(&nodes.groups[node].to_ne_bytes());
                    rec[Record::SCALE..Record::SCALE + 4].copy_from_slice(&nodes.scales[node].to_ne_bytes());
                    let list: &[u8] = bytemuck::cast_slice(&built.level0[node * w0..(node + 1) * w0]);
                    rec[Record::LIST..Record::LIST + list.len()].copy_from_slice(list);
                    let codes: &[u8] = bytemuck::cast_slice(&nodes.codes[node * nodes.dim..(node + 1) * nodes.dim]);
                    rec[layout.codes()..layout.codes() + codes.len()].copy_from_slice(codes);
                    put(&rec)?;
                }
            }
            Section::Levels => put(&nodes.levels)?,
            Section::UpperIndex => put(bytemuck::cast_slice(&built.upper_index))?,
            Section::Upper => put(bytemuck::cast_slice(&built.upper))?,
            Section::Order => put(bytemuck::cast_slice(&order))?,
            Section::Deleted => put(bytemuck::cast_slice(&deleted))?,
        }
        *extent = Extent { offset: at, len, crc: crc.finalize() };
        at += len;
    }
    let header = Header {
        dim: nodes.dim as u32,
        m: built.m as u32,
        ef_construction: built.ef_construction as u32,
        entry,
        entry_level,
        nodes: nodes.len() as u64,
        live: order.len() as u64,
        upper_blocks: built.upper.len() as u64 / (1 + m),
        generation,
        file_len: at,
        sections,
    };
    let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&header.encode()).map_err(io)?;
    file.sync_all().map_err(io)
}
