//! The embedded backend: one SQLite database (`trove.db`, WAL mode) in the workspace's data
//! folder is the system of record for vaults, documents, chunks, vectors, memories and jobs,
//! and holds the persisted keyword index of chunks and of memories (`keywords`), written in
//! the same transaction as the rows it indexes. Every change of a vault's chunks or memories
//! bumps its `generation` (`memory_generation` for memories) and is written to the change log
//! (`changes`) in that transaction; the vector indexes (`vectors`: an exact in-memory scan for
//! small spaces, a memory-mapped approximate index file for large ones) are derived from the
//! rows and follow the log (`derived`): a search that finds its index behind the committed
//! generation applies the changes after it, whoever committed them. A writer's `folder`
//! builds and folds the index files in the background.
//!
//! Several processes write the store at once (`open`: writers hold the workspace lock shared,
//! SQLite serializes their transactions, each write waits a bounded time for the others; a
//! schema migration and `trove migrate` have the workspace to themselves); readers
//! ([`EmbeddedStore::open_reader`]) take no lock and see committed data only (WAL gives them a
//! consistent snapshot while writers work). Every handle registers in the workspace's process
//! registry (`crate::processes`), which `trove doctor` lists.
//!
//! In a process, writes (and the job queue) go through one connection; every read borrows a
//! connection from a small read-only pool (`pool::ReadPool`), so reads run on several cores
//! at once, beside each other and beside the writer. A read starts after the writes committed
//! before it and sees them.
//!
//! Modules, with `trove-store-postgres`'s layout and names: one per storage trait, each holding
//! that trait's implementation: `backend` ([`crate::Backend`]: the integrity check), `vaults`,
//! `documents`, `memory`, `conversations`, `jobs`, `audit`, and `tenancy/` (`users`, `organizations`, `grants`,
//! `credentials`, `secrets`); `open` (opening, locks and the write wait), `schema` (the
//! migrations), `pool` (the read connections), `keywords` (the persisted keyword index),
//! `changes` (the change log), `derived` (indexes that follow it), `vectors` (the vector
//! index of a space) and `folder` (writing the vector index files). This file keeps opening,
//! the connections and the row helpers the modules
//! share.

mod audit;
mod backend;
mod changes;
mod conversations;
mod derived;
mod documents;
mod folder;
mod jobs;
mod keywords;
mod memory;
mod open;
mod pool;
mod schema;
mod tenancy;
mod vaults;
mod vectors;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::bm25::Analyzer;
use crate::lock::WorkspaceLock;
use crate::processes::Registration;
use crate::{StoreError, VaultId, VaultInfo};
use derived::Derivations;
use folder::{Folder, Queue};
use pool::{PooledConn, ReadPool};

pub use open::{DEFAULT_WRITE_WAIT, write_wait};
#[cfg(any(test, feature = "testing"))]
pub use schema::create_at_version;
pub use schema::{SCHEMA_VERSION, schema_status};
pub use vectors::{AnnSettings, Folding, VECTORS_DIR, VectorFileReport, VectorFileState};
use vectors::{VectorEnv, VectorIndex};

/// The database file's name inside the data folder.
pub const DB_FILE: &str = "trove.db";

/// Which rows of a vault an index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Space {
    /// Document chunks; generation `vaults.generation`.
    Chunks,
    /// Memories; generation `vaults.memory_generation`.
    Memories,
}

impl Space {
    fn generation_column(self) -> &'static str {
        match self {
            Space::Chunks => "generation",
            Space::Memories => "memory_generation",
        }
    }

    /// The column of the change log's floor (see `changes`).
    fn floor_column(self) -> &'static str {
        match self {
            Space::Chunks => "log_floor",
            Space::Memories => "memory_log_floor",
        }
    }

    /// The space's number in the `changes` and `keyword_*` tables.
    fn code(self) -> i64 {
        match self {
            Space::Chunks => 0,
            Space::Memories => 1,
        }
    }

    /// The generation of this space in a vault's record.
    fn generation_of(self, vault: &VaultInfo) -> i64 {
        match self {
            Space::Chunks => vault.generation,
            Space::Memories => vault.memory_generation,
        }
    }
}

/// The writer connection, held; how long it was held is recorded as one write in the store's
/// metrics.
pub(crate) struct WriterConn<'a> {
    guard: MutexGuard<'a, Connection>,
    since: std::time::Instant,
}

impl std::ops::Deref for WriterConn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.guard
    }
}

impl std::ops::DerefMut for WriterConn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.guard
    }
}

impl Drop for WriterConn<'_> {
    fn drop(&mut self) {
        crate::metrics::observe(crate::metrics::Access::Write, self.since.elapsed());
    }
}

/// The embedded store: one connection for writes (and the job queue), a pool of read-only
/// connections for reads, and the derived vector indexes.
#[derive(Debug)]
pub struct EmbeddedStore {
    dir: PathBuf,
    conn: Mutex<Connection>,
    readers: ReadPool,
    /// The vector indexes, derived from the rows and following the change log (shared with
    /// the folder's thread).
    vectors: Arc<Derivations<VectorIndex>>,
    /// A writer's builder and folder of vector index files (`None` in readers).
    folder: Option<Folder>,
    analyzer: Analyzer,
    /// What keeping the derived indexes current cost.
    counters: Counters,
    /// The workspace lock: shared by writers, exclusive for `open_exclusive`; `None` for a
    /// reader.
    lock: Option<WorkspaceLock>,
    recovered: Option<crate::lock::LockInfo>,
    /// This handle's entry in the process registry, held for as long as the handle lives
    /// (dropped after the connections: fields drop in order).
    _registration: Option<Registration>,
}

/// What keeping the derived indexes current cost this handle, for tests and logs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Indexes loaded from every row.
    pub loads: AtomicU64,
    /// Change-log rows read to catch indexes up.
    pub log_rows: AtomicU64,
}

impl EmbeddedStore {
    /// The store of the database in `dir` over `conn` (the writer's connection, or a reader's
    /// read-only one), with empty derived indexes and a read pool.
    fn with(
        dir: &Path,
        conn: Connection,
        lock: Option<WorkspaceLock>,
        recovered: Option<crate::lock::LockInfo>,
        registration: Option<Registration>,
    ) -> Self {
        EmbeddedStore {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
            readers: ReadPool::new(&dir.join(DB_FILE), pool::default_size()),
            vectors: Arc::new(Derivations::new(VectorEnv {
                dir: dir.join(VECTORS_DIR),
                settings: AnnSettings::default(),
                requests: None,
            })),
            folder: None,
            analyzer: Analyzer::default(),
            counters: Counters::default(),
            lock,
            recovered,
            _registration: registration,
        }
        .with_ann(AnnSettings::default())
    }

    /// Uses the approximate vector index as `settings` say (before the first search). A
    /// writer builds and folds index files; a reader only opens them.
    pub fn with_ann(mut self, settings: AnnSettings) -> EmbeddedStore {
        let requests = self.lock.is_some().then(Arc::<Queue>::default);
        self.folder = None;
        self.vectors = Arc::new(Derivations::new(VectorEnv {
            dir: self.dir.join(VECTORS_DIR),
            settings,
            requests: requests.clone(),
        }));
        if let Some(queue) = requests {
            self.folder = Some(Folder::start(&self.dir.join(DB_FILE), self.vectors.clone(), queue));
        }
        self
    }

    /// After a commit that changed `vault`'s `space`: a writer's folder looks at whether its
    /// vector index file is due to be built or folded.
    /// The commit stands whatever happens here: a failure is logged, and the space is
    /// searched exactly until a later attempt succeeds.
    pub(crate) fn committed(&self, vault: VaultId, space: Space) {
        if let Some(folder) = &self.folder
            && let Err(e) = folder.committed(vault, space)
        {
            tracing::warn!(error = %e, vault, ?space, "could not write the vector index file; searches stay exact meanwhile");
        }
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this handle may write (it holds the workspace lock, shared or exclusive).
    pub fn is_writer(&self) -> bool {
        self.lock.is_some()
    }

    /// Whether this handle has the workspace to itself ([`Self::open_exclusive`]).
    pub fn is_exclusive(&self) -> bool {
        self.lock.as_ref().is_some_and(WorkspaceLock::is_exclusive)
    }

    /// The record of a dead holder whose lock was taken over on open, if any.
    pub fn recovered_lock(&self) -> Option<&crate::lock::LockInfo> {
        self.recovered.as_ref()
    }

    pub(crate) fn conn(&self) -> WriterConn<'_> {
        // A panic while holding the connection cannot leave SQLite inconsistent (an open
        // transaction is rolled back when dropped), so a poisoned mutex is safe to reuse.
        WriterConn { guard: self.conn.lock().unwrap_or_else(|e| e.into_inner()), since: std::time::Instant::now() }
    }

    /// A read-only connection from the pool, for reads that may run beside others and beside
    /// the writer.
    pub(crate) fn read(&self) -> Result<PooledConn<'_>, StoreError> {
        self.readers.get()
    }

    fn vault_by(
        &self,
        conn: &Connection,
        sql_where: &str,
        arg: &dyn rusqlite::ToSql,
    ) -> Result<Option<VaultInfo>, StoreError> {
        // Cached: every search and memory call looks its vault up.
        let sql = format!("SELECT {VAULT_COLUMNS} FROM vaults WHERE {sql_where}");
        Ok(conn.prepare_cached(&sql)?.query_row([arg], vault_row).optional()?)
    }

    /// Bumps the generation of `vault`'s `space` inside `tx` and logs the change: `removed` rows
    /// deleted, `written` rows added or changed (see `changes`). Returns the new generation.
    pub(crate) fn log_changes(
        tx: &Transaction<'_>,
        vault: VaultId,
        space: Space,
        removed: &[i64],
        written: &[i64],
    ) -> Result<i64, StoreError> {
        let generation = Self::bump_generation(tx, vault, space)?;
        changes::record(tx, vault, space, generation, changes::Op::Delete, removed.iter().copied())?;
        changes::record(tx, vault, space, generation, changes::Op::Upsert, written.iter().copied())?;
        changes::prune(tx, vault, space, generation)?;
        Ok(generation)
    }

    fn bump_generation(tx: &Transaction<'_>, vault: VaultId, space: Space) -> Result<i64, StoreError> {
        let col = space.generation_column();
        Ok(tx.query_row(
            &format!("UPDATE vaults SET {col} = {col} + 1 WHERE id = ? RETURNING {col}"),
            [vault],
            |r| r.get(0),
        )?)
    }

    /// The vault to search by vector, after checking the query's dimension; `None` when the
    /// vault does not exist or has no vectors yet (nothing can match).
    pub(crate) fn vault_for_vectors(&self, vault: VaultId, query_dim: usize) -> Result<Option<VaultInfo>, StoreError> {
        let info = {
            let conn = self.read()?;
            self.vault_by(&conn, "id = ?", &vault)?
        };
        match info {
            None => Ok(None),
            Some(VaultInfo { dimension: None, .. }) => Ok(None),
            Some(VaultInfo { dimension: Some(d), .. }) if d != query_dim => {
                Err(StoreError::Dimension { expected: d, got: query_dim })
            }
            Some(info) => Ok(Some(info)),
        }
    }
}

const VAULT_COLUMNS: &str =
    "id, name, model_id, dimension, generation, memory_generation, organization_id, staged_model, staged_dimension";

fn vault_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VaultInfo> {
    Ok(VaultInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        model_id: r.get(2)?,
        dimension: r.get::<_, Option<i64>>(3)?.map(|d| d as usize),
        generation: r.get(4)?,
        memory_generation: r.get(5)?,
        organization: r.get(6)?,
        restaging: match (r.get::<_, Option<String>>(7)?, r.get::<_, Option<i64>>(8)?) {
            (Some(model), Some(dim)) => Some((model, dim as usize)),
            _ => None,
        },
    })
}

pub(crate) fn encode_vector(v: &[f32], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

pub(crate) fn decode_vector(blob: &[u8], out: &mut Vec<f32>) -> Result<(), StoreError> {
    if !blob.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(format!("vector blob of {} bytes", blob.len())));
    }
    out.clear();
    out.extend(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::{ChunkFilter, ChunkId, NewDocument};

    /// Documents `0..n`, each one chunk saying "common" and its own word, with a vector.
    /// A writer in a fresh folder (kept while the returned guard lives) with vault `v`, whose
    /// vectors are model `m`'s, 2-dimensional.
    pub(super) fn writer_with_vault() -> (tempfile::TempDir, EmbeddedStore, VaultInfo) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_writer(dir.path(), "test").unwrap();
        let v = store.ensure_vault("v").unwrap();
        store.set_vault_embedder(v.id, "m", 2).unwrap();
        (dir, store, v)
    }

    pub(super) fn numbered_doc(i: usize) -> NewDocument {
        let text = format!("common word{i}");
        let angle = i as f32 * 0.01;
        crate::conformance::doc("s", &format!("{i}.md"), "h", &[(text.as_str(), [angle.cos(), angle.sin()])])
    }

    /// What one read sees: hits of the keyword "common", hits of a vector query, and whether
    /// every hit's chunk could be fetched.
    fn visible(store: &EmbeddedStore, vault: VaultId) -> (usize, usize) {
        let all = ChunkFilter::default();
        let keyword = store.keyword_search(vault, "the common", 1000, &all).unwrap();
        let ids: Vec<ChunkId> = keyword.iter().map(|s| s.id).collect();
        assert_eq!(store.chunks(&ids).unwrap().len(), ids.len(), "every hit's chunk is readable");
        let vector = store.vector_search(vault, &[1.0, 0.0], 1000, &all).unwrap();
        (keyword.len(), vector.len())
    }

    #[test]
    fn concurrent_reads_beside_a_writer_see_every_committed_write() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        const DOCS: usize = 60;
        let dir = tempfile::tempdir().unwrap();
        let writer = EmbeddedStore::open_writer(dir.path(), "test").unwrap();
        let v = writer.ensure_vault("v").unwrap();
        writer.set_vault_embedder(v.id, "m", 2).unwrap();
        let reader = EmbeddedStore::open_reader(dir.path()).unwrap();
        let committed = AtomicUsize::new(0);
        let reads = AtomicUsize::new(0);
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for t in 0..4 {
                let store = if t % 2 == 0 { &writer } else { &reader };
                let (committed, reads, done) = (&committed, &reads, &done);
                scope.spawn(move || {
                    let mut last = 0;
                    while !done.load(Ordering::Acquire) {
                        let before = committed.load(Ordering::Acquire);
                        let (keyword, vector) = visible(store, v.id);
                        let after = committed.load(Ordering::Acquire);
                        // Read-your-writes: everything committed before the read is seen;
                        // at most the one write in flight meanwhile is seen beyond that.
                        for seen in [keyword, vector] {
                            assert!(seen >= before && seen <= after + 1, "saw {seen}, committed {before}..{after}");
                        }
                        assert!(keyword >= last, "reads never go back in time");
                        last = keyword;
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            for i in 0..DOCS {
                writer.put_documents(v.id, &[numbered_doc(i)]).unwrap();
                committed.store(i + 1, Ordering::Release);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            done.store(true, Ordering::Release);
        });
        assert!(reads.load(Ordering::Relaxed) >= DOCS, "the readers ran beside the writer");
        assert_eq!(visible(&writer, v.id), (DOCS, DOCS));
        assert_eq!(visible(&reader, v.id), (DOCS, DOCS));
    }

    #[test]
    fn readers_see_the_writers_commits_and_newer_schemas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(EmbeddedStore::open_reader(dir.path()), Err(StoreError::Missing { .. })));
        let writer = EmbeddedStore::open_writer(dir.path(), "test").unwrap();
        let v = writer.ensure_vault("v").unwrap();
        writer.set_vault_embedder(v.id, "m", 2).unwrap();
        let reader = EmbeddedStore::open_reader(dir.path()).unwrap();
        assert!(reader.vector_search(v.id, &[1.0, 0.0], 5, &ChunkFilter::default()).unwrap().is_empty());
        writer
            .put_documents(v.id, &[crate::conformance::doc("s", "a.md", "h1", &[("alpha beta", [1.0, 0.0])])])
            .unwrap();
        // The reader's cached index follows the generation.
        assert_eq!(reader.vector_search(v.id, &[1.0, 0.0], 5, &ChunkFilter::default()).unwrap().len(), 1);
        writer.conn().pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        drop(writer);
        assert!(matches!(EmbeddedStore::open_reader(dir.path()), Err(StoreError::TooNew { .. })));
        assert!(matches!(EmbeddedStore::open_writer(dir.path(), "t"), Err(StoreError::TooNew { .. })));
    }
}
