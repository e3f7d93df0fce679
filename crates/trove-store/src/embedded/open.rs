//! Opening the embedded store, by as many processes as want to write it at once.
//!
//! A writer ([`EmbeddedStore::open_writing`]) registers itself in the process registry
//! (`crate::processes`), then holds the workspace lock (`crate::lock`) **shared** for its
//! whole life; its writes are serialized by SQLite: the writer connection begins every
//! transaction `IMMEDIATE` (it takes the database's write lock before reading, so two
//! processes never both read a snapshot and then fail to write over each other) and waits for
//! that lock at most the configured bound (`storage.write_wait_s`), past which the write fails
//! with [`StoreError::Busy`] naming the other writers. Everything that must see other
//! processes' commits already follows them: the keyword index is written in the same
//! transaction as its rows, and the derived vector indexes follow the change log (`derived`).
//!
//! The single-writer lock remains in two places, where one process must have the workspace to
//! itself:
//! - **a schema migration at open**: a store on disk older than this build is upgraded only
//!   under the exclusive lock, so no process still running (or reading with) the old schema
//!   writes during the upgrade; an opener that finds processes holding the lock shared waits
//!   for them up to the bound and then says which they are;
//! - **`trove migrate`** ([`EmbeddedStore::open_exclusive`]): nothing may write the embedded
//!   store while it is copied into PostgreSQL.
//!
//! Readers ([`EmbeddedStore::open_reader`]) take no lock, never migrate, and register only
//! where the data folder lets them (a read-only copy stays readable).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};

use super::{DB_FILE, EmbeddedStore, SCHEMA_VERSION, pool};
use crate::StoreError;
use crate::lock::{Acquired, WorkspaceLock};
use crate::processes::{self, Role};

/// How long a write waits for other processes' writes when nothing else is configured.
pub const DEFAULT_WRITE_WAIT: Duration = Duration::from_secs(5);

/// The write wait of the store this process opened last, in milliseconds, for the message of
/// a busy database (`StoreError::Busy`, built where the handle is not at hand).
static WRITE_WAIT_MS: AtomicU64 = AtomicU64::new(DEFAULT_WRITE_WAIT.as_millis() as u64);

/// How long this process's writes wait for other processes' writes.
pub fn write_wait() -> Duration {
    Duration::from_millis(WRITE_WAIT_MS.load(Ordering::Relaxed))
}

/// How often an opener looks again at a lock it could not take.
const RETRY: Duration = Duration::from_millis(10);

impl EmbeddedStore {
    /// Opens the store for writing beside other writers, with writes waiting
    /// [`DEFAULT_WRITE_WAIT`] for other processes' writes; see [`Self::open_writing`].
    pub fn open_writer(dir: &Path, command: &str) -> Result<EmbeddedStore, StoreError> {
        Self::open_writing(dir, command, DEFAULT_WRITE_WAIT)
    }

    /// Opens the store for writing beside other writers: creates the database if needed and
    /// migrates it to the current schema (with the workspace to itself: see the module
    /// documentation), then holds the workspace lock shared. Each write waits at most
    /// `write_wait` for other processes' writes; so does this open for a migration or for a
    /// process that has the workspace to itself.
    pub fn open_writing(dir: &Path, command: &str, write_wait: Duration) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        let registration = processes::register(dir, command, Role::Writer)?;
        WRITE_WAIT_MS.store(write_wait.as_millis() as u64, Ordering::Relaxed);
        let path = dir.join(DB_FILE);
        let deadline = Instant::now() + write_wait;
        loop {
            let version = version_on_disk(&path)?;
            if version > SCHEMA_VERSION {
                return Err(StoreError::TooNew { dir: dir.to_path_buf(), found: version, supported: SCHEMA_VERSION });
            }
            if version == SCHEMA_VERSION {
                if let Some((lock, acquired)) = WorkspaceLock::try_shared(dir)? {
                    let conn = writer_connection(&path, write_wait)?;
                    // A newer build may have migrated it between the look and the lock.
                    if user_version(&conn)? == SCHEMA_VERSION {
                        return Ok(EmbeddedStore::with(dir, conn, Some(lock), recovered(acquired), Some(registration)));
                    }
                    continue;
                }
            } else if let Some((mut lock, acquired)) = WorkspaceLock::try_exclusive(dir, command)? {
                let conn = writer_connection(&path, write_wait)?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                super::schema::migrate(&conn, dir)?;
                lock.share(deadline.max(Instant::now() + Duration::from_secs(1)))?;
                return Ok(EmbeddedStore::with(dir, conn, Some(lock), recovered(acquired), Some(registration)));
            }
            if Instant::now() >= deadline {
                return Err(WorkspaceLock::refusal(dir));
            }
            std::thread::sleep(RETRY);
        }
    }

    /// Opens the store with the workspace to itself for the handle's whole life (`trove
    /// migrate`): refused at once, naming them, while other writers have it open. Migrates
    /// it to the current schema first.
    pub fn open_exclusive(dir: &Path, command: &str) -> Result<EmbeddedStore, StoreError> {
        let registration = processes::register(dir, command, Role::Exclusive)?;
        let (lock, acquired) = WorkspaceLock::acquire(dir, command)?;
        let path = dir.join(DB_FILE);
        let conn = writer_connection(&path, DEFAULT_WRITE_WAIT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        super::schema::migrate(&conn, dir)?;
        Ok(EmbeddedStore::with(dir, conn, Some(lock), recovered(acquired), Some(registration)))
    }

    /// Opens the store for reading only; no lock is taken.
    pub fn open_reader(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        Self::open_reading(dir, "reader")
    }

    /// Opens the store for reading only, registered as running `command`; no lock is taken.
    pub fn open_reading(dir: &Path, command: &str) -> Result<EmbeddedStore, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::Missing { dir: dir.to_path_buf() });
        }
        // `query_only` makes every write through this handle fail.
        let conn = pool::open_read_only(&path)?;
        let version = user_version(&conn)?;
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
        // A read-only data folder (a copy on read-only media) is still readable: registering
        // is then skipped, and `trove doctor` cannot list this process.
        let registration = match processes::register(dir, command, Role::Reader) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::debug!(error = %e, "reading without registering in the process registry");
                None
            }
        };
        Ok(EmbeddedStore::with(dir, conn, None, None, registration))
    }
}

/// The writer connection: every transaction `IMMEDIATE`, waiting `write_wait` for the lock.
fn writer_connection(path: &Path, write_wait: Duration) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
    super::schema::configure(&conn)?;
    conn.busy_timeout(write_wait)?;
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    Ok(conn)
}

fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// The schema version of the database at `path`; 0 when there is none yet.
fn version_on_disk(path: &Path) -> Result<i64, StoreError> {
    if !path.exists() {
        return Ok(0);
    }
    user_version(&pool::open_read_only(path)?)
}

fn recovered(acquired: Acquired) -> Option<crate::lock::LockInfo> {
    match acquired {
        Acquired::RecoveredStale(info) => Some(info),
        Acquired::Clean => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::conformance::{doc, new_memory};
    use crate::prelude::*;
    use crate::{ChunkFilter, MemoryFilter, NewJob, VaultId};

    fn live() -> MemoryFilter {
        MemoryFilter { now_ms: 5, ..MemoryFilter::default() }
    }

    /// What a handle finds of the word `word`: chunk hits by keyword, memory hits by keyword,
    /// and how many chunks and memories its vector indexes hold.
    fn finds(store: &EmbeddedStore, vault: VaultId, word: &str) -> (usize, usize, usize, usize) {
        let all = ChunkFilter::default();
        (
            store.keyword_search(vault, word, 1000, &all).unwrap().len(),
            store.memory_keyword_search(vault, word, &live(), 1000).unwrap().len(),
            store.vector_search(vault, &[1.0, 0.0], 1000, &all).unwrap().len(),
            store.memory_vector_search(vault, &[1.0, 0.0], &live(), 1000).unwrap().len(),
        )
    }

    /// Two writers of one workspace (as two processes would be: each its own connection,
    /// lock and indexes) write documents and memories in turn; after every write each finds
    /// everything both wrote, by keyword and by vector, its indexes following the other's
    /// commits through the change log rather than loading again.
    #[test]
    fn two_writers_writing_in_turn_each_find_everything_both_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let a = EmbeddedStore::open_writer(dir.path(), "a").unwrap();
        let b = EmbeddedStore::open_writer(dir.path(), "b").unwrap();
        assert!(a.is_writer() && b.is_writer() && !a.is_exclusive());
        let v = a.ensure_vault("v").unwrap();
        assert_eq!(b.ensure_vault("v").unwrap().id, v.id);
        a.set_vault_embedder(v.id, "m", 2).unwrap();
        for i in 0..20 {
            let (store, who) = if i % 2 == 0 { (&a, "a") } else { (&b, "b") };
            let angle = i as f32 * 0.01;
            let text = format!("shared {who}word{i}");
            store
                .put_documents(v.id, &[doc("s", &format!("{i}.md"), "h", &[(&text, [angle.cos(), angle.sin()])])])
                .unwrap();
            store.memory_put(v.id, &new_memory(&text, None, &[], [angle.cos(), angle.sin()]), 1).unwrap();
            for reader in [&a, &b] {
                assert_eq!(finds(reader, v.id, "shared"), (i + 1, i + 1, i + 1, i + 1), "after write {i}");
                assert_eq!(finds(reader, v.id, &format!("{who}word{i}")).0, 1);
            }
        }
        for store in [&a, &b] {
            assert_eq!(store.counters.loads.load(Ordering::Relaxed), 2, "loaded once per space, then followed");
        }
    }

    /// A write that cannot get the database's write lock within the wait fails with
    /// `workspace_busy` at about the wait, and the next one succeeds once the lock is free.
    #[test]
    fn a_write_waits_at_most_the_bound_then_says_the_workspace_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let wait = Duration::from_millis(300);
        let store = EmbeddedStore::open_writing(dir.path(), "test", wait).unwrap();
        let v = store.ensure_vault("v").unwrap();
        store.set_vault_embedder(v.id, "m", 2).unwrap();
        let other = Connection::open(dir.path().join(DB_FILE)).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = Instant::now();
        let err = store.memory_put(v.id, &new_memory("x", None, &[], [1.0, 0.0]), 1).unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(err, StoreError::Busy { waited_ms: 300, .. }), "{err}");
        assert_eq!(trove_types::HasCode::code(&err), trove_types::Code::WorkspaceBusy);
        assert!(waited >= wait && waited < wait * 4, "waited {waited:?}");
        other.execute_batch("COMMIT").unwrap();
        store.memory_put(v.id, &new_memory("x", None, &[], [1.0, 0.0]), 1).unwrap();
    }

    /// Several processes opening a new workspace at once: one creates it (with the workspace
    /// to itself), the others wait for it and open it as it left it.
    #[test]
    fn writers_opening_a_new_workspace_at_once_all_open_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        std::thread::scope(|s| {
            let opened: Vec<_> = (0..4)
                .map(|i| {
                    s.spawn(move || EmbeddedStore::open_writer(path, &format!("w{i}")).map(|st| st.ensure_vault("v")))
                })
                .collect();
            for o in opened {
                o.join().unwrap().unwrap().unwrap();
            }
        });
        assert_eq!(crate::processes::list(dir.path()).unwrap().live.len(), 0, "every handle unregistered");
    }

    /// A schema upgrade needs the workspace to itself: while another writer has it open, the
    /// upgrade waits the bound and then says so; `trove migrate`'s exclusive open is refused
    /// at once; a writer cannot open while an exclusive holder lives.
    #[test]
    fn upgrades_and_exclusive_opens_wait_for_other_writers() {
        let dir = tempfile::tempdir().unwrap();
        let wait = Duration::from_millis(100);
        let a = EmbeddedStore::open_writer(dir.path(), "a").unwrap();
        a.conn().pragma_update(None, "user_version", SCHEMA_VERSION - 1).unwrap();
        let err = EmbeddedStore::open_writing(dir.path(), "newer", wait).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        a.conn().pragma_update(None, "user_version", SCHEMA_VERSION).unwrap();
        let err = EmbeddedStore::open_exclusive(dir.path(), "trove migrate").unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        drop(a);
        let exclusive = EmbeddedStore::open_exclusive(dir.path(), "trove migrate").unwrap();
        assert!(exclusive.is_exclusive());
        let err = EmbeddedStore::open_writing(dir.path(), "b", wait).unwrap_err();
        assert!(matches!(&err, StoreError::Locked { command, .. } if command == "trove migrate"), "{err}");
        assert!(EmbeddedStore::open_reader(dir.path()).is_ok(), "readers take no lock");
        drop(exclusive);
        EmbeddedStore::open_writing(dir.path(), "b", wait).unwrap();
    }

    fn job(i: usize) -> NewJob {
        NewJob {
            kind: "test".into(),
            vault: None,
            payload: serde_json::json!({ "i": i }),
            dedupe_key: None,
            max_attempts: 3,
            timeout_ms: 60_000,
        }
    }

    /// Workers of two processes claim from one queue at once: every job is taken exactly
    /// once. Recovery at startup leaves the other process's live leases alone.
    #[test]
    fn workers_of_two_writers_never_take_the_same_job() {
        const JOBS: usize = 60;
        let dir = tempfile::tempdir().unwrap();
        let a = EmbeddedStore::open_writer(dir.path(), "a").unwrap();
        let b = EmbeddedStore::open_writer(dir.path(), "b").unwrap();
        for i in 0..JOBS {
            a.job_enqueue(&job(i), 0).unwrap();
        }
        let taken = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for t in 0..4 {
                let (store, taken) = (if t % 2 == 0 { &a } else { &b }, &taken);
                s.spawn(move || {
                    while let Some(j) = store.job_claim(&format!("worker-{t}"), 10, 60_000).unwrap() {
                        taken.lock().unwrap().push(j.id);
                    }
                });
            }
        });
        let taken = taken.into_inner().unwrap();
        assert_eq!(taken.len(), JOBS);
        assert_eq!(taken.iter().collect::<HashSet<_>>().len(), JOBS, "no job taken twice");
        // Another writer is registered (in another process, as far as recovery can tell):
        // leases that have not run out stay.
        let other = crate::processes::ProcessInfo {
            pid: std::process::id() + 1,
            host: "h".into(),
            command: "trove serve".into(),
            since: "now".into(),
            role: crate::processes::Role::Writer,
        };
        let held = crate::processes::tests::hold_entry(dir.path(), &other);
        assert_eq!(b.job_recover(20).unwrap(), 0, "live leases of another writer stay");
        drop(held);
        assert_eq!(b.job_recover(20).unwrap(), JOBS as u64, "alone: every running job is taken back");
        assert_eq!(a.job_counts().unwrap().queued, JOBS as u64);
    }
}
