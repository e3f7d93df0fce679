//! The embedded store's schema: the SQLite migrations (entry `i` upgrades version `i` to
//! `i + 1`, recorded in `user_version`), applied by the writer on open, each in one
//! transaction, and the connection settings every connection of the store gets. Migration 15
//! also builds the persisted keyword index of existing vaults from their rows, on open by the
//! writer, with progress logged (readers refuse the older version until it commits). A newer
//! schema than this build knows is refused; readers never migrate.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::{Space, keywords};
use crate::StoreError;
use crate::migrations::{SchemaStatus, summary};

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
    // 15: the change log that derived indexes follow, and the persisted keyword index of
    // chunks and memories (built for existing vaults by `build_keyword_indexes` in the same
    // transaction); see `embedded::changes` and `embedded::keywords`.
    r#"
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY,
        vault_id INTEGER NOT NULL,
        space INTEGER NOT NULL,
        generation INTEGER NOT NULL,
        op INTEGER NOT NULL,
        row_id INTEGER NOT NULL
    );
    CREATE INDEX changes_follow ON changes (vault_id, space, generation);
    ALTER TABLE vaults ADD COLUMN log_floor INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE vaults ADD COLUMN memory_log_floor INTEGER NOT NULL DEFAULT 0;
    UPDATE vaults SET log_floor = generation, memory_log_floor = memory_generation;
    CREATE TABLE keyword_stats (
        vault_id INTEGER NOT NULL,
        space INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        terms INTEGER NOT NULL,
        PRIMARY KEY (vault_id, space)
    ) WITHOUT ROWID;
    CREATE TABLE keyword_terms (
        id INTEGER PRIMARY KEY,
        vault_id INTEGER NOT NULL,
        space INTEGER NOT NULL,
        term TEXT NOT NULL,
        df INTEGER NOT NULL,
        UNIQUE (vault_id, space, term)
    );
    CREATE TABLE keyword_blocks (
        term_id INTEGER NOT NULL,
        first_row INTEGER NOT NULL,
        last_row INTEGER NOT NULL,
        n INTEGER NOT NULL,
        impacts BLOB NOT NULL,
        postings BLOB NOT NULL,
        PRIMARY KEY (term_id, first_row)
    ) WITHOUT ROWID;
    "#,
    // 16: answers' conversations and their turns (`embedded::conversations`).
    r#"
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        public_id TEXT NOT NULL UNIQUE,
        vault_id INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        owner TEXT NOT NULL,
        title TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX conversations_owner ON conversations (vault_id, owner, id);
    CREATE INDEX conversations_expiry ON conversations (expires_ms);
    CREATE TABLE conversation_turns (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        question TEXT NOT NULL,
        rewritten TEXT,
        answer TEXT NOT NULL,
        citations TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX conversation_turns_conversation ON conversation_turns (conversation_id, id);
    "#,
    // 17: memories get a kind and a version, and every change of one a row in its history
    // (`memory_versions`; the memories stored before get their ADD version). A soft delete
    // keeps the history, with the memory's last state in `snapshot`, until purged.
    r#"
    ALTER TABLE memories ADD COLUMN kind TEXT;
    ALTER TABLE memories ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE memory_versions (
        id INTEGER PRIMARY KEY,
        vault_id INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        memory_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        event TEXT NOT NULL,
        old_text TEXT,
        new_text TEXT,
        actor TEXT,
        reason TEXT,
        at_ms INTEGER NOT NULL,
        snapshot TEXT
    );
    CREATE INDEX memory_versions_memory ON memory_versions (vault_id, memory_id, version);
    CREATE INDEX memory_versions_deleted ON memory_versions (at_ms) WHERE event = 'DELETE';
    INSERT INTO memory_versions (vault_id, memory_id, version, event, new_text, at_ms)
        SELECT vault_id, public_id, 1, 'ADD', text, created_ms FROM memories;
    "#,
];

/// The schema version whose migration builds the persisted keyword index.
const KEYWORD_INDEX_VERSION: usize = 15;

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A group commit dirties a page per keyword term it touches (thousands per 512 chunks):
    // with SQLite's default 2 MB cache they spilled to the WAL mid-transaction and were
    // read back. At most this much memory, used only as pages are touched.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KB)?;
    Ok(())
}

/// The writer connection's page cache, in KiB.
const WRITER_CACHE_KB: i64 = 32 * 1024;

/// Where the embedded store in `dir` stands against this build, read without writing: no
/// store file yet is a store without a schema.
pub fn schema_status(dir: &Path) -> Result<SchemaStatus, StoreError> {
    let file = dir.join(super::DB_FILE);
    let version = if file.exists() {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&file, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Some(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    } else {
        None
    };
    Ok(SchemaStatus::new("embedded", dir.display().to_string(), version, MIGRATIONS))
}

/// Creates an embedded store in `dir` at schema `version` (a workspace written by an older
/// build), for tests of what opening it does.
#[cfg(any(test, feature = "testing"))]
pub fn create_at_version(dir: &Path, version: usize) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Io { path: dir.to_path_buf(), source: e })?;
    let conn = Connection::open(dir.join(super::DB_FILE))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    for sql in &MIGRATIONS[..version] {
        conn.execute_batch(sql)?;
    }
    conn.pragma_update(None, "user_version", version as i64)?;
    Ok(())
}

pub(super) fn migrate(conn: &Connection, dir: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew { dir: dir.to_path_buf(), found: version, supported: SCHEMA_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        if i + 1 == KEYWORD_INDEX_VERSION {
            build_keyword_indexes(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        // Each migration of an existing store is logged; a new store's creation is one line.
        if version == 0 {
            tracing::debug!(version = i + 1, "migrated the embedded store");
        } else {
            tracing::info!(version = i + 1, migration = %summary(sql), dir = %dir.display(), "applied a schema migration to the embedded store");
        }
    }
    // One line per open that changed the store: created, or upgraded from → to.
    match version {
        SCHEMA_VERSION => {}
        0 => tracing::info!(schema = SCHEMA_VERSION, dir = %dir.display(), "created the embedded store"),
        from => tracing::info!(from, to = SCHEMA_VERSION, dir = %dir.display(), "upgraded the embedded store"),
    }
    Ok(())
}

/// Builds the keyword index of every vault's chunks and memories (the step of migration 15;
/// progress is logged, and readers wait for the version it commits with).
fn build_keyword_indexes(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let analyzer = crate::bm25::Analyzer::default();
    let vaults: Vec<i64> =
        tx.prepare("SELECT id FROM vaults ORDER BY id")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for vault in vaults {
        for space in [Space::Chunks, Space::Memories] {
            keywords::rebuild(tx, &analyzer, vault, space)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryFilter;
    use crate::embedded::{DB_FILE, EmbeddedStore};
    use crate::prelude::*;

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

    /// A workspace written before migration 15 (no change log, no persisted keyword index)
    /// gets both on the writer's open: its chunks and memories rank as they did, the index
    /// counts what the vaults hold, and the log starts at each vault's generation.
    #[test]
    fn workspaces_before_the_persisted_keyword_index_migrate_with_it_built() {
        use crate::embedded::keywords::tests::assert_equals_a_rebuild;
        use crate::embedded::tests::{numbered_doc, writer_with_vault};
        use crate::{ChunkFilter, conformance::new_memory};

        let (dir, store, v) = writer_with_vault();
        let docs: Vec<_> = (0..300).map(numbered_doc).collect();
        store.put_documents(v.id, &docs).unwrap();
        store.delete_document(v.id, "s", "7.md").unwrap();
        for i in 0..5 {
            store.memory_put(v.id, &new_memory(&format!("falcon number{i}"), None, &["sky"], [1.0, 0.0]), 1).unwrap();
        }
        let live = MemoryFilter { now_ms: 2, ..MemoryFilter::default() };
        let search = |store: &EmbeddedStore| {
            let chunks = store.keyword_search(v.id, "common word12", 50, &ChunkFilter::default()).unwrap();
            let memories = store.memory_keyword_search(v.id, "falcons number3 sky", &live, 10).unwrap();
            (chunks, memories)
        };
        let before = search(&store);
        assert_eq!((before.0.len(), before.1.len()), (50, 5));
        // Back to version 14: what migrations 15, 16 and 17 added, removed.
        store
            .conn()
            .execute_batch(
                "DROP TABLE conversation_turns; DROP TABLE conversations;
                 DROP TABLE memory_versions; ALTER TABLE memories DROP COLUMN kind; ALTER TABLE memories DROP COLUMN version;
                 DROP TABLE changes; DROP TABLE keyword_stats; DROP TABLE keyword_terms; DROP TABLE keyword_blocks;
                 ALTER TABLE vaults DROP COLUMN log_floor; ALTER TABLE vaults DROP COLUMN memory_log_floor;
                 PRAGMA user_version = 14;",
            )
            .unwrap();
        drop(store);

        let store = EmbeddedStore::open_writer(dir.path(), "test").unwrap();
        assert_eq!(search(&store), before);
        assert_equals_a_rebuild(&store, v.id, Space::Chunks);
        assert_equals_a_rebuild(&store, v.id, Space::Memories);
        let (changes, floor, generation): (i64, i64, i64) = store
            .conn()
            .query_row("SELECT (SELECT count(*) FROM changes), log_floor, generation FROM vaults", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((changes, floor), (0, generation), "the log starts at the vault's generation");
        assert!(store.check_integrity().unwrap().problems.is_empty());
    }
}
