//! Trove's PostgreSQL backend: [`PgStore`] implements the storage traits
//! ([`trove_store::Store`]) on one PostgreSQL database with the pgvector extension, so several
//! `trove serve` nodes can share it. PostgreSQL is the system of record for everything the
//! embedded store keeps (vaults, documents, chunks, memories, jobs, users, sessions, keys,
//! audit), plus the rate-limit buckets the nodes share. Vectors are pgvector columns searched
//! through an HNSW index per vault (a partial index on the vault's dimension); chunks are
//! ranked by BM25 over a postings table of the shared analyzer's terms
//! ([`trove_store::analysis`]), so both backends split, fold, stem and rank alike.
//!
//! Modules, with the embedded store's layout and names: one per storage trait, each holding
//! that trait's implementation: `backend` ([`trove_store::Backend`]: pool figures, integrity,
//! the external index's status, shared rate-limit buckets), `vaults`, `documents`, `memory`,
//! `conversations`,
//! `jobs` (the queue: `FOR UPDATE SKIP LOCKED` claims and leases), `audit`, and `tenancy/`
//! (`users`, `organizations`, `grants`, `credentials`, `secrets`); `schema` (migrations). Beside
//! them: [`pool`] (connections, time limits, circuit breaker, error mapping), [`index`] (the
//! outbox that keeps an external vector index in step), `listen` (wake-ups from other nodes),
//! `vector` (pgvector's wire format), `tls` (rustls for `sslmode=require`, certificates
//! verified), [`migrate`] (`trove migrate` from an embedded workspace) and `testing` (feature
//! `testing`: a throwaway server). This file keeps opening, the read/write plumbing and the
//! helpers every module shares.
//!
//! Invariants: every statement runs under the server-side `statement_timeout` and every
//! connection wait under the pool's limit, so nothing hangs; reads are retried once on a fresh
//! connection when the old one was lost, writes never are (the caller decides); ids given to
//! callers are the rows' identity values, stable across a migration from the embedded store.

mod audit;
mod backend;
mod conversations;
mod documents;
pub mod index;
mod jobs;
mod listen;
mod memory;
pub mod migrate;
pub mod pool;
mod schema;
mod tenancy;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod vaults;
mod vector;

use postgres::{Client, Transaction};
use trove_store::analysis::Analyzer;
use trove_store::metrics::Access;
use trove_store::prelude::*;
use trove_store::{
    ApiKeyRecord, AuditFilter, AuditRecord, ChunkFilter, ChunkId, ChunkRecord, DocumentId, DocumentRecord,
    DocumentState, GrantRecord, Grantee, Heartbeat, HybridQuery, IntegrityReport, InvitationRecord, JobCounts,
    JobFilter, JobOutcome, JobRecord, JobStatus, MemberRecord, MembershipChange, MemoryCursor, MemoryFilter,
    MemoryRecord, MemoryStats, NewApiKey, NewAuditEvent, NewDocument, NewJob, NewMemory, NewSession,
    OrganizationRecord, Scored, SecretRecord, SessionRecord, StoreError, TeamRecord, UserRecord, VaultId, VaultInfo,
    VaultStats,
};

pub use pool::PgOptions;
pub use schema::SCHEMA_VERSION;

use crate::pool::Pool;

/// What [`PgStore::inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `PostgreSQL at host:port/database`.
    pub target: String,
    /// `SHOW server_version`.
    pub server_version: String,
    /// pgvector's version when the extension is created in the database.
    pub vector_installed: Option<String>,
    /// pgvector's version when the server has it to create.
    pub vector_available: Option<String>,
    /// Trove's schema version in the database (`None`: never migrated).
    pub schema: Option<i64>,
    /// The newest schema this build knows.
    pub supported_schema: i64,
    /// The server's `max_connections`.
    pub max_connections: u64,
    /// Connections open on the server now.
    pub connections: u64,
}

/// A failure inside a statement or transaction: the driver's, or one of the store's own.
#[derive(Debug)]
pub(crate) enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        Fail::Store(e)
    }
}

pub(crate) type Res<T> = Result<T, Fail>;

/// Records how long an operation held its connection when dropped (the store's histogram).
struct Timed(Access, std::time::Instant);

impl Drop for Timed {
    fn drop(&mut self) {
        trove_store::metrics::observe(self.0, self.1.elapsed());
    }
}

/// The storage traits on PostgreSQL + pgvector.
#[derive(Debug)]
pub struct PgStore {
    pool: Pool,
    analyzer: Analyzer,
    /// An external vector index kept in step through `index_outbox` (see [`index`]).
    index: Option<Box<dyn index::VectorIndex>>,
}

impl PgStore {
    /// Connects, applies pending migrations (refusing a schema newer than this build's) and
    /// returns the store. Fails fast with `store_unavailable` when the server cannot be reached.
    pub fn open(options: PgOptions) -> Result<PgStore, StoreError> {
        let pool = Pool::new(options)?;
        schema::migrate(&pool)?;
        Ok(PgStore { pool, analyzer: Analyzer::default(), index: None })
    }

    /// Looks at a database without changing it (for `trove doctor`): the server's version,
    /// pgvector's, the schema version and the connections in use. Fails like a connection does.
    pub fn inspect(options: PgOptions) -> Result<Inspection, StoreError> {
        let pool = Pool::new(options)?;
        pool::off_async(|| {
            let mut conn = pool.get()?;
            let run = |c: &mut Client| -> Result<Inspection, postgres::Error> {
                let server_version: String = c.query_one("SHOW server_version", &[])?.get(0);
                let vector_installed: Option<String> =
                    c.query_opt("SELECT extversion FROM pg_extension WHERE extname = 'vector'", &[])?.map(|r| r.get(0));
                let vector_available: Option<String> = c
                    .query_opt("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'", &[])?
                    .and_then(|r| r.get(0));
                let schema = schema::version(c)?;
                let max_connections: String = c.query_one("SHOW max_connections", &[])?.get(0);
                let connections: i64 = c.query_one("SELECT count(*) FROM pg_stat_activity", &[])?.get(0);
                Ok(Inspection {
                    target: pool.what().to_string(),
                    server_version,
                    vector_installed,
                    vector_available,
                    schema,
                    supported_schema: SCHEMA_VERSION,
                    max_connections: max_connections.parse().unwrap_or(0),
                    connections: connections as u64,
                })
            };
            run(&mut conn).map_err(|e| pool.error(e))
        })
    }

    /// Where the database's schema stands against this build, read without changing it (no
    /// `trove_schema` table yet is a database without a schema). Fails like a connection does.
    pub fn schema_status(options: PgOptions) -> Result<trove_store::migrations::SchemaStatus, StoreError> {
        let pool = Pool::new(options)?;
        pool::off_async(|| {
            let mut conn = pool.get()?;
            let version = schema::version(&mut conn).map_err(|e| pool.error(e))?;
            Ok(schema::status(pool.what(), version))
        })
    }

    /// `PostgreSQL at host:port/database`.
    pub fn what(&self) -> &str {
        self.pool.what()
    }

    /// Checks the database answers (one round trip on a pooled connection).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.simple_query("SELECT 1").map(|_| ()).map_err(Fail::from))
    }

    fn map(&self, e: Fail) -> StoreError {
        match e {
            Fail::Pg(e) => self.pool.error(e),
            Fail::Store(e) => e,
        }
    }

    /// Runs a read on a pooled connection; once more on a fresh connection when the first one
    /// had lost its server (a restart), since reads can be repeated.
    pub(crate) fn read<T>(&self, f: impl FnMut(&mut Client) -> Res<T>) -> Result<T, StoreError> {
        pool::off_async(|| self.read_here(f))
    }

    fn read_here<T>(&self, mut f: impl FnMut(&mut Client) -> Res<T>) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        let _timed = Timed(Access::Read, std::time::Instant::now());
        match f(&mut conn) {
            Ok(v) => Ok(v),
            Err(Fail::Pg(e)) if pool::connection_lost(&e) => {
                conn.discard();
                drop(conn);
                let mut conn = self.pool.get()?;
                f(&mut conn).map_err(|e| {
                    if let Fail::Pg(pe) = &e
                        && pool::connection_lost(pe)
                    {
                        conn.discard();
                    }
                    self.map(e)
                })
            }
            Err(e) => Err(self.map(e)),
        }
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Res<T>) -> Result<T, StoreError> {
        pool::off_async(|| self.write_here(f))
    }

    fn write_here<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Res<T>) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        let _timed = Timed(Access::Write, std::time::Instant::now());
        let result = (|| {
            let mut tx = conn.transaction()?;
            let value = f(&mut tx)?;
            tx.commit()?;
            Ok(value)
        })();
        if let Err(Fail::Pg(e)) = &result
            && pool::connection_lost(e)
        {
            conn.discard();
        }
        result.map_err(|e| self.map(e))
    }
}

/// A row count or `LIMIT`/`OFFSET` as PostgreSQL's BIGINT.
pub(crate) fn big(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `count(*)` or row count read from the database, as the traits' `u64`.
pub(crate) fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
