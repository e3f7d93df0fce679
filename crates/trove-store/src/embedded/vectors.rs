//! The vector index of one vault's space, as a derived index ([`VectorIndex`], see `derived`):
//! an exact in-memory scan ([`FlatIndex`]) for small spaces, and for spaces of at least
//! [`AnnSettings::min_rows`] rows the approximate index of `trove-ann` (an HNSW graph over int8
//! codes, memory-mapped from a file beside the database, with exact re-scoring of its
//! candidates from the f32 vectors in SQLite), caught up from the change log like any derived
//! index. A file that cannot be used (missing, damaged, of another format or dimension,
//! outside the log's reach, of a deleted vault whose id was reused) is never half-trusted:
//! the space is searched exactly and the writer rebuilds the file (`folder`).
//!
//! Files: `<data dir>/vectors/v{vault}-{created}.{chunks|memories}.ann`, where `created` is a
//! hash of the vault's `created_at` (vault ids can be reused after a delete). A file's header
//! carries the generation it reflects; nothing about it is stored in SQLite.
//!
//! Answers are never wrong, only approximate: deleted rows are tombstoned, changed ones are
//! re-scored from their current vector, and filters are applied exactly (a traversal that
//! skips failing rows, or, for a selective filter, a ranking of exactly the rows it passes).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, params};
use trove_ann::{AnnIndex, BuildParams, Fold, Folded, SearchOptions, VectorSource};

use super::changes::Since;
use super::derived::Derived;
use super::folder::Queue;
use super::{Space, decode_vector};
use crate::vector::FlatIndex;
use crate::{Scored, StoreError, VaultId, VaultInfo};

/// The folder beside `trove.db` that holds the index files.
pub const VECTORS_DIR: &str = "vectors";

/// Candidates of a traversal re-scored exactly from SQLite, at least (or the limit).
const RESCORE: usize = 40;

/// How the embedded store uses the approximate vector index (`vectors.ann` in the
/// workspace configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnSettings {
    /// Whether large spaces use it at all (otherwise every search is an exact scan).
    pub enabled: bool,
    /// The width of a search's traversal: recall and latency grow with it.
    pub ef: usize,
    /// Spaces with fewer rows are scanned exactly (a scan is about 1 ms at 20,000 rows).
    pub min_rows: usize,
    /// Changes since a file was written past which the writer folds them into a new file.
    pub fold_after: usize,
    /// Below this many rows passing a filter, a search ranks exactly those rows (about
    /// 0.7 µs each) instead of traversing the graph past the rows that fail it (slow for
    /// narrow filters); `trove-ann`'s crate documentation has the measurements. 20,000.
    pub search_in_below: usize,
    /// When a writer builds and folds files.
    pub folding: Folding,
}

impl Default for AnnSettings {
    fn default() -> AnnSettings {
        AnnSettings {
            enabled: true,
            ef: 256,
            min_rows: 20_000,
            fold_after: 20_000,
            search_in_below: 20_000,
            folding: Folding::Background,
        }
    }
}

/// When a writer builds and folds its index files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folding {
    /// On a background thread, after the commits that make it due (servers, the CLI).
    Background,
    /// Only when [`crate::Backend::settle_indexes`] is called, on the caller's thread (tests
    /// that step each fold).
    OnSettle,
    /// Right after each commit, on the committing thread (tests that want every search to
    /// go through the index).
    AtCommit,
}

/// What loading a [`VectorIndex`] needs besides the database.
#[derive(Debug)]
pub(crate) struct VectorEnv {
    /// `<data dir>/vectors`.
    pub dir: PathBuf,
    pub settings: AnnSettings,
    /// Where a writer's loads ask for a file to be built (`None` in readers).
    pub requests: Option<Arc<Queue>>,
}

impl VectorEnv {
    /// The index file of `vault`'s `space`, for a vault created at `created_at`.
    pub(crate) fn path(&self, vault: VaultId, created_at: &str, space: Space) -> PathBuf {
        self.dir.join(file_name(vault, created_at, space))
    }

    /// The index file of `vault`'s `space`, its creation time read in `conn`.
    fn path_in(&self, conn: &Connection, vault: VaultId, space: Space) -> Result<PathBuf, StoreError> {
        let created: String =
            conn.prepare_cached("SELECT created_at FROM vaults WHERE id = ?")?.query_row([vault], |r| r.get(0))?;
        Ok(self.path(vault, &created, space))
    }

    /// How indexes are opened, folded and built.
    pub(crate) fn params(&self) -> BuildParams {
        // One thread: searches keep the other cores while a file is written.
        BuildParams { threads: 1, fold_after: self.settings.fold_after.max(1), ..BuildParams::default() }
    }
}

/// The file name of `vault`'s `space` (see the module documentation).
pub(crate) fn file_name(vault: VaultId, created_at: &str, space: Space) -> String {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let hash =
        created_at.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let space = match space {
        Space::Chunks => "chunks",
        Space::Memories => "memories",
    };
    format!("v{vault}-{:08x}.{space}.ann", (hash ^ (hash >> 32)) as u32)
}

/// Identifies one version of a file: a file replaced by rename has another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    /// The stamp of the file at `path`, `None` when there is none.
    pub(crate) fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp { inode, len: meta.len(), modified: meta.modified().ok() })
    }
}

/// The vector index of one vault's space.
#[derive(Debug)]
pub(crate) struct VectorIndex {
    kind: Kind,
    /// The space's index file (`None` when the approximate index is disabled) and its stamp
    /// when this index was loaded (`None`: there was none).
    file: Option<PathBuf>,
    stamp: Option<FileStamp>,
}

#[derive(Debug)]
enum Kind {
    /// Small spaces, and large ones while their file is (re)built.
    Flat(FlatIndex),
    /// A mapped index file caught up with the log.
    Ann(AnnIndex),
}

/// A filter on the rows a search may answer.
pub(crate) struct Filter<'a> {
    /// The groups passing (a chunk's group is its document; a memory's is itself).
    pub groups: &'a HashSet<i64>,
    /// About how many rows pass.
    pub passing: usize,
    /// Lists the rows passing (asked only when ranking them all is cheaper than a traversal).
    pub rows: &'a dyn Fn() -> Result<Vec<i64>, StoreError>,
}

impl VectorIndex {
    /// Whether searches go through the approximate index (not an exact scan).
    #[cfg(test)]
    pub(crate) fn is_approximate(&self) -> bool {
        matches!(self.kind, Kind::Ann(_))
    }

    /// The `limit` rows nearest `query` that pass `filter`, best first (ties by id); scores
    /// are exact dot products of the stored vectors. `conn` reads the vectors that re-scoring
    /// needs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search(
        &self,
        settings: &AnnSettings,
        conn: &Connection,
        vault: VaultId,
        space: Space,
        query: &[f32],
        limit: usize,
        filter: Option<Filter<'_>>,
    ) -> Result<Vec<Scored>, StoreError> {
        let index = match &self.kind {
            Kind::Flat(flat) => return Ok(flat.search(query, limit, filter.map(|f| f.groups))),
            Kind::Ann(index) => index,
        };
        if limit == 0 || query.len() != index.dim() {
            return Ok(Vec::new());
        }
        let opts = SearchOptions { ef: settings.ef.max(limit), rescore: RESCORE.max(limit) };
        let source = SqliteVectors { conn, vault, space };
        let hits = match filter {
            None => index.search(query, limit, &opts, |_, _| true, &source)?,
            Some(f) if f.passing < settings.search_in_below => {
                index.search_in(query, &(f.rows)()?, limit, &opts, &source)?
            }
            Some(f) => index.search(query, limit, &opts, |_, group| f.groups.contains(&group), &source)?,
        };
        Ok(hits.into_iter().map(|h| Scored { id: h.id, score: h.score }).collect())
    }

    /// A snapshot of the delta to fold into a new file, when this index is the mapped file
    /// at `path` as it is now (not an exact scan, nor an older file).
    pub(crate) fn fold(&self, path: &Path) -> Option<Fold> {
        match &self.kind {
            Kind::Ann(index) if self.stamp.is_some() && self.stamp == FileStamp::of(path) => Some(index.fold()),
            _ => None,
        }
    }

    /// Swaps in a fold written from [`VectorIndex::fold`]'s snapshot (refused when this index
    /// was loaded again meanwhile: the file is right anyway, and the next load opens it).
    pub(crate) fn install(&mut self, folded: Folded) -> bool {
        let Kind::Ann(index) = &mut self.kind else { return false };
        if index.install(folded).is_err() {
            return false;
        }
        self.stamp = self.file.as_deref().and_then(FileStamp::of);
        true
    }

    /// The mapped file's generation and live vectors (`None` for an exact scan).
    #[cfg(test)]
    pub(crate) fn file_state(&self) -> Option<(i64, usize)> {
        match &self.kind {
            Kind::Ann(index) => index.base().map(|b| (b.generation(), b.live())),
            Kind::Flat(_) => None,
        }
    }
}

#[cfg(test)]
#[path = "vectors_tests.rs"]
mod tests;

/// Opens the index file at `path` for a vault of dimension `dim` whose log reaches back to
/// `floor` and whose committed generation is `committed`; why it cannot be used otherwise.
pub(crate) fn open_file(
    path: &Path,
    params: BuildParams,
    dim: usize,
    floor: i64,
    committed: i64,
) -> Result<AnnIndex, String> {
    let index = AnnIndex::open(path, params).map_err(|e| match e {
        trove_ann::AnnError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            "no file".to_string()
        }
        other => other.to_string(),
    })?;
    if index.dim() != dim {
        return Err(format!("the file holds {}-dimension vectors, the vault {dim}", index.dim()));
    }
    let at = index.generation();
    if at < floor {
        return Err(format!("the file is at generation {at}, older than the change log reaches ({floor})"));
    }
    if at > committed {
        return Err(format!(
            "the file is at generation {at}, ahead of the database ({committed}; restored from a backup?)"
        ));
    }
    Ok(index)
}

/// A number in `vault`'s record (a generation or a log floor).
pub(crate) fn vault_column(conn: &Connection, vault: VaultId, column: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(&format!("SELECT {column} FROM vaults WHERE id = ?"), [vault], |r| r.get(0))?)
}

/// Rows of `vault`'s `space`.
pub(crate) fn count_rows(conn: &Connection, vault: VaultId, space: Space) -> Result<usize, StoreError> {
    let sql = match space {
        Space::Chunks => "SELECT count(*) FROM chunks WHERE vault_id = ?",
        Space::Memories => "SELECT count(*) FROM memories WHERE vault_id = ?",
    };
    let n: i64 = conn.prepare_cached(sql)?.query_row([vault], |r| r.get(0))?;
    Ok(n.max(0) as usize)
}

impl Derived for VectorIndex {
    type Delta = VectorDelta;
    type Env = VectorEnv;

    fn generation(&self) -> i64 {
        match &self.kind {
            Kind::Flat(flat) => flat.generation,
            Kind::Ann(index) => index.generation(),
        }
    }

    fn len(&self) -> usize {
        match &self.kind {
            Kind::Flat(flat) => flat.len(),
            Kind::Ann(index) => index.len(),
        }
    }

    fn superseded(&self, _env: &VectorEnv) -> bool {
        self.file.as_deref().is_some_and(|path| FileStamp::of(path) != self.stamp)
    }

    fn load(
        env: &VectorEnv,
        conn: &Connection,
        vault: &VaultInfo,
        space: Space,
        generation: i64,
        floor: i64,
    ) -> Result<VectorIndex, StoreError> {
        let dim = dimension(conn, vault.id)?;
        let file = if env.settings.enabled { Some(env.path_in(conn, vault.id, space)?) } else { None };
        let stamp = file.as_deref().and_then(FileStamp::of);
        if let Some(path) = &file
            && dim > 0
            && count_rows(conn, vault.id, space)? >= env.settings.min_rows.max(1)
        {
            match open_file(path, env.params(), dim, floor, generation) {
                Ok(index) => {
                    tracing::debug!(vault = %vault.name, ?space, at = index.generation(), vectors = index.len(), "opened the vector index file");
                    return Ok(VectorIndex { kind: Kind::Ann(index), file, stamp });
                }
                Err(reason) => {
                    tracing::debug!(vault = %vault.name, ?space, %reason, "searching exactly until the vector index file is built");
                    if let Some(queue) = &env.requests {
                        queue.request(vault.id, space);
                    }
                }
            }
        }
        let mut index = FlatIndex::new(dim, generation);
        vector_rows(conn, vault.id, space, None, |id, group, v| {
            check_dimension(id, v, dim)?;
            index.push(id, group, v);
            Ok(())
        })?;
        tracing::debug!(vault = %vault.name, ?space, vectors = index.len(), "loaded vector index");
        Ok(VectorIndex { kind: Kind::Flat(index), file, stamp })
    }

    fn fetch(conn: &Connection, vault: &VaultInfo, space: Space, since: &Since) -> Result<VectorDelta, StoreError> {
        let dim = dimension(conn, vault.id)?;
        let mut added = Vec::with_capacity(since.upserted.len());
        for ids in since.upserted.chunks(10_000) {
            vector_rows(conn, vault.id, space, Some(ids), |id, group, v| {
                check_dimension(id, v, dim)?;
                added.push((id, group, v.to_vec()));
                Ok(())
            })?;
        }
        Ok(VectorDelta { removed: since.removed.clone(), added })
    }

    fn apply(&mut self, delta: VectorDelta, generation: i64) -> Result<(), StoreError> {
        match &mut self.kind {
            Kind::Flat(flat) => {
                flat.remove(&delta.removed);
                for (id, group, v) in &delta.added {
                    flat.push(*id, *group, v);
                }
                flat.generation = generation;
            }
            Kind::Ann(index) => {
                for id in &delta.removed {
                    index.remove(*id);
                }
                for (id, group, v) in &delta.added {
                    index.add(*id, *group, v)?;
                }
                index.set_generation(generation);
            }
        }
        Ok(())
    }
}

/// Vectors read to catch a [`VectorIndex`] up.
pub(crate) struct VectorDelta {
    removed: Vec<i64>,
    added: Vec<(i64, i64, Vec<f32>)>,
}

/// The f32 vectors of one vault's space in SQLite, for exact re-scoring.
struct SqliteVectors<'a> {
    conn: &'a Connection,
    vault: VaultId,
    space: Space,
}

impl VectorSource for SqliteVectors<'_> {
    type Error = StoreError;

    fn vectors(&self, ids: &[i64], found: &mut dyn FnMut(i64, &[f32])) -> Result<(), StoreError> {
        vector_rows(self.conn, self.vault, self.space, Some(ids), |id, _, v| {
            found(id, v);
            Ok(())
        })
    }
}

/// The SQL that reads the rows `(id, group, vector)` of a vault's `space`: a chunk's group is
/// its document, a memory's is itself.
pub(crate) fn rows_sql(space: Space) -> &'static str {
    match space {
        Space::Chunks => "SELECT id, document_id, vector FROM chunks WHERE vault_id = ?1",
        Space::Memories => "SELECT id, id, vector FROM memories WHERE vault_id = ?1",
    }
}

/// The rows `(id, group, vector)` of `vault`'s `space`, all or only `ids`.
pub(crate) fn vector_rows(
    conn: &Connection,
    vault: VaultId,
    space: Space,
    ids: Option<&[i64]>,
    mut found: impl FnMut(i64, i64, &[f32]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let table = rows_sql(space);
    let (sql, list) = match ids {
        None => (table.to_string(), String::new()),
        Some(ids) => (
            format!("{table} AND id IN (SELECT value FROM json_each(?2))"),
            serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        ),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = if ids.is_some() { stmt.query(params![vault, list])? } else { stmt.query([vault])? };
    let mut buf = Vec::new();
    while let Some(row) = rows.next()? {
        let id = decode_row(row, &mut buf)?;
        found(id, row.get(1)?, &buf)?;
    }
    Ok(())
}

/// A row of [`rows_sql`]: its id, its vector decoded into `buf`.
pub(crate) fn decode_row(row: &rusqlite::Row<'_>, buf: &mut Vec<f32>) -> Result<i64, StoreError> {
    let id: i64 = row.get(0)?;
    let blob = row.get_ref(2)?.as_blob().map_err(|e| StoreError::Corrupt(format!("vector {id}: {e}")))?;
    decode_vector(blob, buf)?;
    Ok(id)
}

/// The dimension of `vault`'s vectors in `conn`'s snapshot.
pub(crate) fn dimension(conn: &Connection, vault: VaultId) -> Result<usize, StoreError> {
    let dim: Option<i64> = conn.query_row("SELECT dimension FROM vaults WHERE id = ?", [vault], |r| r.get(0))?;
    Ok(dim.unwrap_or(0).max(0) as usize)
}

pub(crate) fn check_dimension(id: i64, v: &[f32], dim: usize) -> Result<(), StoreError> {
    if v.len() != dim {
        return Err(StoreError::Corrupt(format!(
            "row {id} has a {}-dimensional vector in a {dim}-dimensional vault",
            v.len()
        )));
    }
    Ok(())
}

impl super::EmbeddedStore {
    /// Runs `f` on the vector index of `vault`'s `space`, caught up with the committed
    /// generation first, with the settings and the read connection a search needs.
    pub(crate) fn with_index<T>(
        &self,
        vault: &VaultInfo,
        space: Space,
        f: impl FnOnce(&VectorIndex, &AnnSettings, &Connection) -> T,
    ) -> Result<T, StoreError> {
        let conn = self.read()?;
        let settings = &self.vectors.env.settings;
        self.vectors.with(&self.counters, || Ok(&*conn), vault, space, |index| f(index, settings, &conn))
    }
}

impl super::EmbeddedStore {
    /// After `vault` (created at `created_at`) was deleted: drops its cached indexes, and a
    /// writer deletes its index files (a reader mapping one keeps it until it lets go).
    pub(crate) fn forget_vectors(&self, vault: VaultId, created_at: Option<&str>) {
        self.vectors.forget(vault, None);
        let (Some(created), true) = (created_at, self.is_writer()) else { return };
        for space in [Space::Chunks, Space::Memories] {
            let path = self.vectors.env.path(vault, created, space);
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::debug!(file = %path.display(), "deleted the vector index file of a deleted vault"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot delete the vector index file of a deleted vault")
                }
            }
        }
    }
}

/// One vault space's approximate vector index file, as `trove doctor` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorFileReport {
    /// The vault.
    pub vault: String,
    /// `chunks` or `memories`.
    pub space: &'static str,
    /// Rows (vectors) the space holds.
    pub rows: usize,
    /// The space's committed generation.
    pub generation: i64,
    /// What its file is.
    pub file: VectorFileState,
}

/// The state of a space's index file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorFileState {
    /// The space is below `min_rows` (or has no vectors): scanned exactly, no file needed.
    NotNeeded,
    /// No usable file, and why: the space is scanned exactly until the writer builds it.
    Unusable(String),
    /// A file written at `generation` with `live` vectors, which caught up with the change log
    /// holds `caught_up` vectors (`rows`, when it is consistent).
    Current {
        /// The file's path.
        path: PathBuf,
        /// The generation it was written at.
        generation: i64,
        /// Vectors it holds.
        live: usize,
        /// Vectors once caught up with the log.
        caught_up: usize,
        /// The space's rows at the generation it was caught up to (`None` when a writer
        /// committed meanwhile: nothing to compare).
        rows: Option<usize>,
    },
}

impl super::EmbeddedStore {
    /// The approximate vector index file of every vault's chunks and memories: present or
    /// not, its generation, and its vectors once caught up against the rows.
    pub fn vector_files(&self) -> Result<Vec<VectorFileReport>, StoreError> {
        let env = &self.vectors.env;
        let vaults = {
            let conn = self.read()?;
            let mut stmt = conn.prepare(&format!("SELECT {} FROM vaults ORDER BY name", super::VAULT_COLUMNS))?;
            stmt.query_map([], super::vault_row)?.collect::<Result<Vec<_>, _>>()?
        };
        let mut out = Vec::new();
        for vault in vaults {
            for space in [Space::Chunks, Space::Memories] {
                let (rows, floor, path) = {
                    let conn = self.read()?;
                    let floor = vault_column(&conn, vault.id, space.floor_column())?;
                    (count_rows(&conn, vault.id, space)?, floor, env.path_in(&conn, vault.id, space)?)
                };
                let generation = space.generation_of(&vault);
                let file = match vault.dimension {
                    Some(dim) if env.settings.enabled && rows >= env.settings.min_rows.max(1) => {
                        match open_file(&path, env.params(), dim, floor, generation) {
                            Err(reason) => VectorFileState::Unusable(reason),
                            Ok(file) => {
                                // The rows again, in a snapshot at the index's generation (a
                                // writer may have committed since they were counted).
                                let (caught_up, rows_then) = self.with_index(&vault, space, |index, _, conn| {
                                    let tx = conn.unchecked_transaction()?;
                                    let now = vault_column(&tx, vault.id, space.generation_column())?;
                                    let rows = count_rows(&tx, vault.id, space)?;
                                    Ok::<_, StoreError>((index.len(), (now == index.generation()).then_some(rows)))
                                })??;
                                let (generation, live) = (file.generation(), file.base().map_or(0, |b| b.live()));
                                VectorFileState::Current { path, generation, live, caught_up, rows: rows_then }
                            }
                        }
                    }
                    _ => VectorFileState::NotNeeded,
                };
                let space = match space {
                    Space::Chunks => "chunks",
                    Space::Memories => "memories",
                };
                out.push(VectorFileReport { vault: vault.name.clone(), space, rows, generation, file });
            }
        }
        Ok(out)
    }
}
