//! The embedded backend: one SQLite database (`trove.db`, WAL mode) in the workspace's data
//! folder is the system of record for vaults, documents, chunks, vectors, memories and jobs.
//! The keyword indexes of chunks and of memories ([`crate::bm25::KeywordIndex`]) and the
//! vector indexes ([`crate::vector::FlatIndex`]) are derived from SQLite in memory and follow
//! each vault's `generation` (`memory_generation` for memories): patched after this handle's
//! own commits, rebuilt from the rows when another handle or process moved the generation.
//!
//! A writer ([`EmbeddedStore::open_writer`]) holds the workspace's [`WriterLock`] and migrates
//! the schema; readers ([`EmbeddedStore::open_reader`]) take no lock and see committed data
//! only (WAL gives them a consistent snapshot while a writer works).
//!
//! Writes (and the job queue) go through one connection; every read borrows a
//! connection from a small read-only pool (`pool::ReadPool`), so reads run on several cores
//! at once, beside each other and beside the writer. A read starts after the writes committed
//! before it and sees them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::bm25::{Analyzer, KeywordIndex};
use crate::lock::{Acquired, WriterLock};
use crate::vector::FlatIndex;
use memory::MemoryKeywords;
use pool::{PooledConn, ReadPool};

mod audit;
mod documents;
mod jobs;
mod memory;
mod pool;
mod tenancy;
mod vaults;

use crate::prelude::*;
use crate::{IntegrityReport, StoreError, VaultId, VaultInfo};

/// The database file's name inside the data folder.
pub const DB_FILE: &str = "trove.db";

/// Schema migrations; entry `i` upgrades version `i` to `i + 1`. Never edit a shipped entry.
const MIGRATIONS: &[&str] = &[
    // 1: vaults, documents, chunks with vectors, FTS5 keyword index.
    r#"
    CREATE TABLE vaults (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        model_id TEXT,
        dimension INTEGER,
        generation INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY,
        vault_id INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        uri TEXT NOT NULL,
        title TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        modified_ms INTEGER,
        indexed_at TEXT NOT NULL,
        UNIQUE (vault_id, source, uri)
    );
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        vault_id INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        text TEXT NOT NULL,
        heading_path TEXT NOT NULL,
        token_count INTEGER NOT NULL,
        vector BLOB NOT NULL,
        staged_vector BLOB,
        UNIQUE (document_id, idx)
    );
    CREATE INDEX chunks_vault ON chunks (vault_id, id);
    CREATE VIRTUAL TABLE chunks_fts USING fts5 (
        context, text,
        content = '', contentless_delete = 1,
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        DELETE FROM chunks_fts WHERE rowid = old.id;
    END;
    "#,
    // 2: memories, with their own keyword index and vector generation.
    r#"
    ALTER TABLE vaults ADD COLUMN memory_generation INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE memories (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        vault_id INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        text TEXT NOT NULL,
        user_id TEXT,
        agent_id TEXT,
        session_id TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        metadata TEXT NOT NULL DEFAULT '{}',
        importance REAL NOT NULL DEFAULT 0.5,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        vector BLOB NOT NULL,
        staged_vector BLOB
    );
    CREATE INDEX memories_vault_created ON memories (vault_id, created_ms, id);
    CREATE INDEX memories_scope ON memories (vault_id, user_id, agent_id, session_id);
    CREATE INDEX memories_expiry ON memories (expires_ms) WHERE expires_ms IS NOT NULL;
    CREATE VIRTUAL TABLE memories_fts USING fts5 (
        text, tags,
        content = '', contentless_delete = 1,
        tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        DELETE FROM memories_fts WHERE rowid = old.id;
    END;
    "#,
    // 3: the durable job queue (and its dead-letter queue: status 'dead').
    r#"
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        vault TEXT,
        payload TEXT NOT NULL,
        dedupe_key TEXT,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        timeout_ms INTEGER NOT NULL,
        run_at_ms INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        started_ms INTEGER,
        finished_ms INTEGER,
        lease_owner TEXT,
        lease_until_ms INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        error_code TEXT,
        result TEXT,
        retries INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_ready ON jobs (status, run_at_ms, id);
    CREATE INDEX jobs_dedupe ON jobs (dedupe_key, status) WHERE dedupe_key IS NOT NULL;
    "#,
    // 4: chunks are ranked by the in-memory BM25 index derived from their text
    // (`crate::bm25`); the FTS5 table for chunks is no longer written or read.
    r#"
    DROP TRIGGER chunks_fts_delete;
    DROP TABLE chunks_fts;
    "#,
    // 5: tenancy: users, organizations and their members, API keys; vaults belong to an
    // organization.
    r#"
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE organizations (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE memberships (
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (organization_id, user_id)
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        vaults TEXT NOT NULL,
        actions TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        last_used_ms INTEGER,
        revoked_ms INTEGER
    );
    CREATE INDEX api_keys_organization ON api_keys (organization_id, id);
    ALTER TABLE vaults ADD COLUMN organization_id INTEGER REFERENCES organizations(id);
    "#,
    // 6: the audit log (organizations are referenced without a foreign key: entries outlive
    // what they describe).
    r#"
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        organization_id INTEGER,
        actor TEXT NOT NULL,
        ip TEXT,
        event TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL,
        details TEXT NOT NULL
    );
    CREATE INDEX audit_log_at ON audit_log (at_ms);
    CREATE INDEX audit_log_organization ON audit_log (organization_id, id);
    "#,
    // 7: the outcome of each source's last completed sync.
    r#"
    CREATE TABLE source_syncs (
        vault_id INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        finished_ms INTEGER NOT NULL,
        summary TEXT NOT NULL,
        PRIMARY KEY (vault_id, source)
    );
    "#,
    // 8: the model a re-embed in progress stages vectors for (so a resumed run with another
    // target starts over instead of mixing two models).
    r#"
    ALTER TABLE vaults ADD COLUMN staged_model TEXT;
    ALTER TABLE vaults ADD COLUMN staged_dimension INTEGER;
    "#,
    // 9: login sessions (only a hash of each token is stored).
    r#"
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL UNIQUE,
        csrf TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        client TEXT NOT NULL,
        ip TEXT,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        last_used_ms INTEGER,
        revoked_ms INTEGER
    );
    CREATE INDEX sessions_user ON sessions (user_id, id);
    "#,
    // 10: teams, and grants of a vault to a user or a team.
    r#"
    CREATE TABLE teams (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        UNIQUE (organization_id, name)
    );
    CREATE TABLE team_members (
        team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (team_id, user_id)
    );
    CREATE INDEX team_members_user ON team_members (user_id);
    CREATE TABLE vault_grants (
        vault_id INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
        level TEXT NOT NULL CHECK (level IN ('read', 'write', 'admin')),
        created_ms INTEGER NOT NULL,
        CHECK ((user_id IS NULL) <> (team_id IS NULL))
    );
    CREATE UNIQUE INDEX vault_grants_user ON vault_grants (vault_id, user_id) WHERE user_id IS NOT NULL;
    CREATE UNIQUE INDEX vault_grants_team ON vault_grants (vault_id, team_id) WHERE team_id IS NOT NULL;
    CREATE INDEX vault_grants_by_user ON vault_grants (user_id);
    CREATE INDEX vault_grants_by_team ON vault_grants (team_id);
    "#,
    // 11: verified emails, and single-use tokens mailed to users (verification, password
    // reset); accounts that exist already were made by administrators and count as verified.
    r#"
    ALTER TABLE users ADD COLUMN email_verified_ms INTEGER;
    UPDATE users SET email_verified_ms = created_ms;
    CREATE TABLE user_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        purpose TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        used_ms INTEGER
    );
    CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);
    "#,
    // 12: invitations to join an organization, mailed with a single-use link.
    r#"
    CREATE TABLE invitations (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        email TEXT NOT NULL COLLATE NOCASE,
        role TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        invited_by TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        accepted_ms INTEGER,
        revoked_ms INTEGER
    );
    CREATE INDEX invitations_organization ON invitations (organization_id, id);
    "#,
    // 13: secrets of an organization, sealed by the engine (never stored in the clear).
    r#"
    CREATE TABLE secrets (
        organization_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        sealed TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (organization_id, name)
    );
    "#,
    // 14: memories are ranked by the in-memory BM25 index derived from their text and tags
    // (`embedded::memory`); the FTS5 table for memories is no longer written or read.
    r#"
    DROP TRIGGER memories_fts_delete;
    DROP TABLE memories_fts;
    "#,
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Which vectors an in-memory index holds.
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

    fn rows_sql(self) -> &'static str {
        match self {
            Space::Chunks => "SELECT id, document_id, vector FROM chunks WHERE vault_id = ?",
            Space::Memories => "SELECT id, id, vector FROM memories WHERE vault_id = ?",
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
    indexes: RwLock<HashMap<(VaultId, Space), FlatIndex>>,
    /// The derived keyword indexes of vaults' chunks (key space always [`Space::Chunks`]).
    keywords: RwLock<HashMap<(VaultId, Space), KeywordIndex>>,
    /// The derived keyword indexes of vaults' memories (key space always [`Space::Memories`]).
    memory_keywords: RwLock<HashMap<(VaultId, Space), MemoryKeywords>>,
    analyzer: Analyzer,
    /// Held while loading a derived index, so concurrent readers of a stale index load it once.
    loading: Mutex<()>,
    lock: Option<WriterLock>,
    recovered: Option<crate::lock::LockInfo>,
}

impl EmbeddedStore {
    /// Opens the store for writing: takes the writer lock (recovering a stale one), creates
    /// the database if needed and migrates it to the current schema.
    pub fn open_writer(dir: &Path, command: &str) -> Result<EmbeddedStore, StoreError> {
        let (lock, acquired) = WriterLock::acquire(dir, command)?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        configure(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        migrate(&conn, dir)?;
        let recovered = match acquired {
            Acquired::RecoveredStale(info) => Some(info),
            Acquired::Clean => None,
        };
        Ok(EmbeddedStore {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
            readers: ReadPool::new(&path, pool::default_size()),
            indexes: RwLock::new(HashMap::new()),
            keywords: RwLock::new(HashMap::new()),
            memory_keywords: RwLock::new(HashMap::new()),
            analyzer: Analyzer::default(),
            loading: Mutex::new(()),
            lock: Some(lock),
            recovered,
        })
    }

    /// Opens the store for reading only; no lock is taken.
    pub fn open_reader(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::Missing { dir: dir.to_path_buf() });
        }
        // `query_only` makes every write through this handle fail.
        let conn = pool::open_read_only(&path)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { dir: dir.to_path_buf(), found: version, supported: SCHEMA_VERSION });
        }
        if version < SCHEMA_VERSION {
            return Err(StoreError::NeedsMigration {
                dir: dir.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(EmbeddedStore {
            dir: dir.to_path_buf(),
            conn: Mutex::new(conn),
            readers: ReadPool::new(&path, pool::default_size()),
            indexes: RwLock::new(HashMap::new()),
            keywords: RwLock::new(HashMap::new()),
            memory_keywords: RwLock::new(HashMap::new()),
            analyzer: Analyzer::default(),
            loading: Mutex::new(()),
            lock: None,
            recovered: None,
        })
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this handle holds the writer lock.
    pub fn is_writer(&self) -> bool {
        self.lock.is_some()
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

    /// Runs `f` on the in-memory vector index of `vault`'s `space`, loading it from SQLite
    /// first when it does not reflect the vault's current generation.
    pub(crate) fn with_index<T>(
        &self,
        vault: &VaultInfo,
        space: Space,
        f: impl FnOnce(&FlatIndex) -> T,
    ) -> Result<T, StoreError> {
        self.with_derived(&self.indexes, vault, space, || self.load_index(vault, space), f)
    }

    /// Runs `f` on the derived index of `vault`'s `space` in `cache`, loading it with `load`
    /// first when it does not reflect the vault's current generation.
    fn with_derived<I: Derived, T>(
        &self,
        cache: &RwLock<HashMap<(VaultId, Space), I>>,
        vault: &VaultInfo,
        space: Space,
        load: impl FnOnce() -> Result<I, StoreError>,
        f: impl FnOnce(&I) -> T,
    ) -> Result<T, StoreError> {
        let key = (vault.id, space);
        let generation = match space {
            Space::Chunks => vault.generation,
            Space::Memories => vault.memory_generation,
        };
        let read = || cache.read().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = current(&read(), key, generation) {
            return Ok(f(index));
        }
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        // Another reader may have loaded it while this one waited, or the writer patched it
        // to a generation newer than `vault`'s record.
        let committed = self.generation(vault.id, space)?;
        if let Some(index) = current(&read(), key, committed) {
            return Ok(f(index));
        }
        let index = load()?;
        let result = f(&index);
        cache.write().unwrap_or_else(|e| e.into_inner()).insert(key, index);
        Ok(result)
    }

    /// The committed generation of `vault`'s `space`.
    fn generation(&self, vault: VaultId, space: Space) -> Result<i64, StoreError> {
        let sql = format!("SELECT {} FROM vaults WHERE id = ?", space.generation_column());
        Ok(self.read()?.prepare_cached(&sql)?.query_row([vault], |r| r.get(0))?)
    }

    fn load_index(&self, vault: &VaultInfo, space: Space) -> Result<FlatIndex, StoreError> {
        let conn = self.read()?;
        // Read the generation and the rows in one snapshot.
        let tx = conn.unchecked_transaction()?;
        let generation: i64 =
            tx.query_row(&format!("SELECT {} FROM vaults WHERE id = ?", space.generation_column()), [vault.id], |r| {
                r.get(0)
            })?;
        let dim = vault.dimension.unwrap_or(0);
        let mut index = FlatIndex::new(dim, generation);
        let mut stmt = tx.prepare(space.rows_sql())?;
        let mut rows = stmt.query([vault.id])?;
        let mut buf = Vec::with_capacity(dim);
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let doc: i64 = row.get(1)?;
            let blob = row.get_ref(2)?.as_blob().map_err(|e| StoreError::Corrupt(format!("vector {id}: {e}")))?;
            decode_vector(blob, &mut buf)?;
            if buf.len() != dim {
                return Err(StoreError::Corrupt(format!(
                    "row {id} has a {}-dimensional vector in a {dim}-dimensional vault",
                    buf.len()
                )));
            }
            index.push(id, doc, &buf);
        }
        drop(rows);
        drop(stmt);
        tx.finish()?;
        tracing::debug!(vault = %vault.name, ?space, vectors = index.len(), "loaded vector index");
        Ok(index)
    }

    pub(crate) fn bump_generation(tx: &Transaction<'_>, vault: VaultId, space: Space) -> Result<i64, StoreError> {
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

    /// Applies a committed change to the cached vector index, or drops the cache when it was
    /// not at the generation just before the change.
    pub(crate) fn patch_index(
        &self,
        vault: VaultId,
        space: Space,
        before: i64,
        after: i64,
        patch: impl FnOnce(&mut FlatIndex),
    ) {
        patch_derived(&self.indexes, (vault, space), before, after, patch);
    }

    /// [`Self::patch_index`] for the keyword index of `vault`'s chunks.
    fn patch_keywords(&self, vault: VaultId, before: i64, after: i64, patch: impl FnOnce(&mut KeywordIndex)) {
        patch_derived(&self.keywords, (vault, Space::Chunks), before, after, patch);
    }

    /// [`Self::patch_index`] for the keyword index of `vault`'s memories.
    pub(crate) fn patch_memory_keywords(
        &self,
        vault: VaultId,
        before: i64,
        after: i64,
        patch: impl FnOnce(&mut MemoryKeywords),
    ) {
        patch_derived(&self.memory_keywords, (vault, Space::Memories), before, after, patch);
    }
}

/// An index derived from SQLite, tagged with the vault generation it reflects.
trait Derived {
    fn generation(&self) -> i64;
    fn set_generation(&mut self, generation: i64);
}

impl Derived for FlatIndex {
    fn generation(&self) -> i64 {
        self.generation
    }
    fn set_generation(&mut self, generation: i64) {
        self.generation = generation;
    }
}

impl<T> Derived for KeywordIndex<T> {
    fn generation(&self) -> i64 {
        self.generation
    }
    fn set_generation(&mut self, generation: i64) {
        self.generation = generation;
    }
}

/// Applies a committed change to the cached index under `key`, or drops it when it was not
/// at the generation just before the change.
fn patch_derived<I: Derived>(
    cache: &RwLock<HashMap<(VaultId, Space), I>>,
    key: (VaultId, Space),
    before: i64,
    after: i64,
    patch: impl FnOnce(&mut I),
) {
    let mut indexes = cache.write().unwrap_or_else(|e| e.into_inner());
    if let Some(index) = indexes.get_mut(&key) {
        if index.generation() == before {
            patch(index);
            index.set_generation(after);
        } else {
            indexes.remove(&key);
        }
    }
}

/// The cached index under `key` when it reflects `generation`.
fn current<I: Derived>(indexes: &HashMap<(VaultId, Space), I>, key: (VaultId, Space), generation: i64) -> Option<&I> {
    indexes.get(&key).filter(|index| index.generation() == generation)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

fn migrate(conn: &Connection, dir: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew { dir: dir.to_path_buf(), found: version, supported: SCHEMA_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "migrated the embedded store");
    }
    Ok(())
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

impl Backend for EmbeddedStore {
    fn check_integrity(&self) -> Result<IntegrityReport, StoreError> {
        let conn = self.read()?;
        let count =
            |sql: &str| -> Result<u64, StoreError> { Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64) };
        let mut report = IntegrityReport {
            documents: count("SELECT count(*) FROM documents")?,
            chunks: count("SELECT count(*) FROM chunks")?,
            vectors: count(
                "SELECT count(*) FROM chunks c JOIN vaults v ON v.id = c.vault_id WHERE length(c.vector) = 4 * v.dimension",
            )?,
            problems: Vec::new(),
        };
        let orphans =
            count("SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id WHERE d.id IS NULL")?;
        if orphans > 0 {
            report.problems.push(format!("{orphans} chunks belong to no document"));
        }
        if report.vectors != report.chunks {
            report.problems.push(format!(
                "{} chunks have a vector of their vault's dimension, of {}",
                report.vectors, report.chunks
            ));
        }
        let empty_docs = count(
            "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id)",
        )?;
        if empty_docs > 0 {
            tracing::debug!(empty_docs, "documents without chunks (empty files)");
        }
        let gaps = count(
            "SELECT count(*) FROM (SELECT document_id, max(idx) + 1 AS n, count(*) AS c FROM chunks GROUP BY document_id) WHERE n != c",
        )?;
        if gaps > 0 {
            report.problems.push(format!("{gaps} documents have gaps in their chunk numbering"));
        }
        // Memories' keyword index is derived in memory from their text and tags: every row
        // must hold what it is built from (text, and tags as a JSON array of strings).
        let unindexable = count(
            "SELECT count(*) FROM memories WHERE typeof(text) != 'text' OR CASE WHEN json_valid(tags)
             THEN json_type(tags) != 'array' OR EXISTS (SELECT 1 FROM json_each(memories.tags) WHERE type != 'text')
             ELSE 1 END",
        )?;
        if unindexable > 0 {
            report
                .problems
                .push(format!("{unindexable} memories have text or tags their keyword index cannot be built from"));
        }
        let bad_memory_vectors = count(
            "SELECT count(*) FROM memories m JOIN vaults v ON v.id = m.vault_id WHERE length(m.vector) != 4 * v.dimension",
        )?;
        if bad_memory_vectors > 0 {
            report.problems.push(format!("{bad_memory_vectors} memories have a vector of the wrong dimension"));
        }
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            report.problems.push(format!("sqlite quick_check: {check}"));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChunkFilter, ChunkId, MemoryFilter, NewDocument};

    #[test]
    fn embedded_store_passes_the_conformance_suite() {
        crate::conformance::run_all(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = EmbeddedStore::open_writer(dir.path(), "conformance").unwrap();
            (Box::new(store) as Box<dyn Store>, Box::new(dir) as Box<dyn std::any::Any>)
        });
    }

    /// Documents `0..n`, each one chunk saying "common" and its own word, with a vector.
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
    fn workspaces_with_the_memories_fts_table_migrate_to_the_derived_index() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A workspace written by a build before migration 14: memories with FTS5 rows.
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            for sql in &MIGRATIONS[..13] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 13).unwrap();
            conn.execute_batch(
                "INSERT INTO vaults (id, name, model_id, dimension, created_at) VALUES (1, 'v', 'm', 2, 'then');
                 INSERT INTO memories (id, public_id, vault_id, text, tags, created_ms, updated_ms, vector)
                     VALUES (7, 'mem_old', 1, 'an old falcon', '[\"sky\"]', 1, 1, zeroblob(8));
                 INSERT INTO memories_fts (rowid, text, tags) VALUES (7, 'an old falcon', 'sky');",
            )
            .unwrap();
        }
        let store = EmbeddedStore::open_writer(dir.path(), "test").unwrap();
        let tables: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE 'memories_fts%'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "the FTS5 table and its trigger are dropped");
        let live = MemoryFilter { now_ms: 2, ..MemoryFilter::default() };
        for q in ["falcons", "sky"] {
            let hits = store.memory_keyword_search(1, q, &live, 10).unwrap();
            assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [7], "{q}");
        }
        assert!(store.memory_delete(1, "mem_old").unwrap(), "deleting needs no FTS5 trigger");
        assert!(store.check_integrity().unwrap().problems.is_empty());
    }

    #[test]
    fn doctor_finds_memories_their_keyword_index_cannot_be_built_from() {
        use crate::conformance::memory;
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_writer(dir.path(), "test").unwrap();
        let v = store.ensure_vault("v").unwrap();
        store.set_vault_embedder(v.id, "m", 2).unwrap();
        for tags in [&["a"][..], &[]] {
            store.memory_put(v.id, &memory("fine", None, tags, [1.0, 0.0]), 1).unwrap();
        }
        assert!(store.check_integrity().unwrap().problems.is_empty());
        for bad in ["not json", "{\"a\": 1}", "[1]"] {
            store.conn().execute("UPDATE memories SET tags = ? WHERE tags = '[]'", [bad]).unwrap();
            let problems = store.check_integrity().unwrap().problems;
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].contains("1 memories"), "{problems:?}");
            store.conn().execute("UPDATE memories SET tags = '[]' WHERE tags = ?", [bad]).unwrap();
        }
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
