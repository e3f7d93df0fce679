//! Storage errors, each mapped to a code of the shared table.

use std::path::PathBuf;
use trove_types::{Code, HasCode};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another live process has the workspace to itself (the workspace lock held exclusively).
    #[error(
        "the workspace data in {dir} is locked by pid {pid} on host {host} since {since} ({command}): {}",
        locked_fix(command)
    )]
    Locked {
        /// The data folder.
        dir: PathBuf,
        /// Holder's pid.
        pid: u32,
        /// Holder's host.
        host: String,
        /// When the holder took the lock.
        since: String,
        /// What the holder runs.
        command: String,
    },
    /// The workspace lock is held shared by other processes (writers) where this one needs it
    /// to itself: a schema upgrade, or `trove migrate`.
    #[error(
        "the workspace data in {dir} is open in other processes: {holders}; upgrading its schema or copying it needs it to itself: stop them (or wait for them to finish) and try again"
    )]
    InUse {
        /// The data folder.
        dir: PathBuf,
        /// Who has it open, in words.
        holders: String,
    },
    /// Another process kept the database's write lock for longer than this process may wait.
    #[error(
        "the workspace is busy: another process kept its database locked for writing for longer than {waited_ms} ms (storage.write_wait_s); other writers: {holders}. Retry; if it keeps happening, raise storage.write_wait_s or find the stuck process with `trove doctor`"
    )]
    Busy {
        /// How long this process waited.
        waited_ms: u64,
        /// The other writers, in words.
        holders: String,
    },
    /// No store exists yet where one is being opened for reading.
    #[error("no index in {dir} yet: run `trove ingest` first")]
    Missing {
        /// The data folder.
        dir: PathBuf,
    },
    /// The data was written by a newer Trove.
    #[error(
        "the store in {dir} has schema version {found}, newer than this trove supports ({supported}): upgrade trove"
    )]
    TooNew {
        /// The data folder.
        dir: PathBuf,
        /// Version on disk.
        found: i64,
        /// Newest version known.
        supported: i64,
    },
    /// The data was written by an older Trove and this handle may not migrate it.
    #[error(
        "the store in {dir} has schema version {found} and needs migrating to {supported}: run `trove ingest` once to upgrade it"
    )]
    NeedsMigration {
        /// The data folder.
        dir: PathBuf,
        /// Version on disk.
        found: i64,
        /// Newest version known.
        supported: i64,
    },
    /// A vector of the wrong length was given.
    #[error("vector has {got} dimensions but the vault uses {expected}")]
    Dimension {
        /// Expected.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// Vectors were written to a vault whose model is not recorded yet: the caller's mistake
    /// (the order of its calls), not damaged data.
    #[error(
        "vault {vault} has no embedder recorded, so its vectors' model and dimension are unknown: record them first (`set_vault_embedder`), as the engine does before it writes to a vault"
    )]
    NoEmbedder {
        /// The vault's id.
        vault: crate::VaultId,
    },
    /// Re-embedding was committed before every chunk had a staged vector.
    #[error("{missing} chunks have no staged vector yet; finish re-embedding before switching")]
    Incomplete {
        /// Chunks without a staged vector.
        missing: u64,
    },
    /// A filesystem problem with the data folder.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database refused an operation.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// A database server (PostgreSQL, Qdrant) cannot be reached or did not answer in time:
    /// connection refused or lost, a full pool, a statement past its time limit, or an open
    /// circuit breaker after repeated failures. Transient: the same call may work later.
    #[error("{what} is unavailable: {reason}")]
    Unavailable {
        /// The dependency, with its address (`PostgreSQL at db:5432`).
        what: String,
        /// What happened and what to check.
        reason: String,
    },
    /// A database server refused an operation for a reason that retrying does not cure.
    #[error("{what} refused the operation: {reason}")]
    Database {
        /// The dependency.
        what: String,
        /// Its message.
        reason: String,
    },
    /// Stored data that cannot be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A memory changed since the caller read it (another writer got there first): nothing
    /// of the batch was applied. Read it again and decide anew.
    #[error("memory {id} changed meanwhile (version {found}, not the {expected} read): read it again and retry")]
    Stale {
        /// The memory's public id.
        id: String,
        /// The version the caller read.
        expected: i64,
        /// The version stored now (0: deleted meanwhile).
        found: i64,
    },
}

impl From<trove_ann::AnnError> for StoreError {
    /// The approximate vector index's errors: a query of another dimension is the caller's,
    /// a failed file operation names its file, and the rest (a file that cannot be used, a
    /// vector that cannot be indexed) are derived data gone wrong, which the store rebuilds.
    fn from(e: trove_ann::AnnError) -> StoreError {
        match e {
            trove_ann::AnnError::Dimension { expected, got } => StoreError::Dimension { expected, got },
            trove_ann::AnnError::Io { path, source, .. } => StoreError::Io { path, source },
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    /// A database that stayed locked past the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`)
    /// is [`StoreError::Busy`], naming the other writers; anything else is
    /// [`StoreError::Sqlite`].
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => StoreError::Busy {
                waited_ms: crate::embedded::write_wait().as_millis() as u64,
                holders: crate::processes::other_writers_of_open_workspaces(),
            },
            _ => StoreError::Sqlite(e),
        }
    }
}

/// What to do about a lock held by `command`.
fn locked_fix(command: &str) -> &'static str {
    if command.contains("serve") {
        "the server owns the workspace; sync sources through it (POST /v1/vaults/{vault}/sources/{source}/sync) or stop it first; searches still work meanwhile"
    } else {
        "wait for it to finish or stop it; searches still work meanwhile"
    }
}

impl HasCode for StoreError {
    fn code(&self) -> Code {
        match self {
            StoreError::Locked { .. } => Code::WorkspaceLocked,
            StoreError::InUse { .. } => Code::WorkspaceLocked,
            StoreError::Busy { .. } => Code::WorkspaceBusy,
            StoreError::Missing { .. } => Code::VaultNotFound,
            StoreError::TooNew { .. } => Code::StoreTooNew,
            StoreError::NeedsMigration { .. } => Code::StoreFailed,
            StoreError::Dimension { .. } => Code::EmbedderMismatch,
            StoreError::NoEmbedder { .. } => Code::EmbedderNotRecorded,
            StoreError::Incomplete { .. } => Code::StoreFailed,
            StoreError::Io { .. } => Code::IoFailed,
            StoreError::Sqlite(_) => Code::StoreFailed,
            StoreError::Corrupt(_) => Code::StoreFailed,
            StoreError::Unavailable { .. } => Code::StoreUnavailable,
            StoreError::Database { .. } => Code::StoreFailed,
            StoreError::Stale { .. } => Code::MemoryChanged,
        }
    }
}
