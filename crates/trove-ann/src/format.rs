//! The index file: a fixed 512-byte header, then nine sections, each 64-byte aligned, in the
//! machine's byte order (the header records which, and another order is refused).
//!
//! ```text
//! header   magic "TROVEANN", format version, byte-order mark, dimension, m, ef_construction,
//!          entry node and level, node / live / upper-block counts, generation, file length,
//!          per section (offset, length, CRC-32), CRC-32 of the header itself
//! ids          i64 per node (the caller's keys)
//! scales       f32 per node (quantization scale)
//! codes        dim × i8 per node
//! levels       u8 per node
//! level0       (1 + 2m) × u32 per node: neighbour count, then neighbours
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
    Ids,
    Scales,
    Codes,
    Levels,
    Level0,
    UpperIndex,
    Upper,
    Order,
    Deleted,
}

impl Section {
    pub const ALL: [Section; 9] = [
        Section::Ids,
        Section::Scales,
        Section::Codes,
        Section::Levels,
        Section::Level0,
        Section::UpperIndex,
        Section::Upper,
        Section::Order,
        Section::Deleted,
    ];

    fn name(self) -> &'static str {
        match self {
            Section::Ids => "ids",
            Section::Scales => "scales",
            Section::Codes => "codes",
            Section::Levels => "levels",
            Section::Level0 => "level0",
            Section::UpperIndex => "upper_index",
            Section::Upper => "upper",
            Section::Order => "order",
            Section::Deleted => "deleted",
        }
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
    pub sections: [Extent; 9],
}

impl Header {
    pub fn extent(&self, s: Section) -> Extent {
        self.sections[s as usize]
    }

    /// The byte length each section must have.
    fn expected_len(&self, s: Section) -> u64 {
        let (n, m) = (self.nodes, u64::from(self.m));
        match s {
            Section::Ids => n * 8,
            Section::Scales => n * 4,
            Section::Codes => n * u64::from(self.dim),
            Section::Levels => n,
            Section::Level0 => n * (1 + 2 * m) * 4,
            Section::UpperIndex => n * 4,
            Section::Upper => self.upper_blocks * (1 + m) * 4,
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
        let mut sections = [Extent::default(); 9];
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
        if self.dim == 0 || self.m < 2 || self.m > 256 {
            return bad(format!("impossible parameters dim {} m {}", self.dim, self.m));
        }
        if self.nodes >= u64::from(u32::MAX) || self.live > self.nodes {
            return bad(format!("impossible counts: {} nodes, {} live", self.nodes, self.live));
        }
        let entry_ok = if self.nodes == 0 { self.entry == NO_ENTRY } else { u64::from(self.entry) < self.nodes };
        if !entry_ok {
            return bad(format!("entry node {} out of {} nodes", self.entry, self.nodes));
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

    let data: [&[u8]; 9] = [
        bytemuck::cast_slice(&nodes.ids),
        bytemuck::cast_slice(&nodes.scales),
        bytemuck::cast_slice(&nodes.codes),
        &nodes.levels,
        bytemuck::cast_slice(&built.level0),
        bytemuck::cast_slice(&built.upper_index),
        bytemuck::cast_slice(&built.upper),
        bytemuck::cast_slice(&order),
        bytemuck::cast_slice(&deleted),
    ];
    let file = File::create(tmp).map_err(|e| AnnError::io("cannot create", tmp, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(&[0u8; HEADER_LEN]).map_err(io)?;
    let mut at = HEADER_LEN as u64;
    let mut sections = [Extent::default(); 9];
    for (extent, bytes) in sections.iter_mut().zip(data) {
        let pad = at.next_multiple_of(ALIGN) - at;
        out.write_all(&[0u8; ALIGN as usize][..pad as usize]).map_err(io)?;
        at += pad;
        out.write_all(bytes).map_err(io)?;
        *extent = Extent { offset: at, len: bytes.len() as u64, crc: crc32fast::hash(bytes) };
        at += bytes.len() as u64;
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
