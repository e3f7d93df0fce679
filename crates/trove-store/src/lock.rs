//! The workspace lock: a file `writer.lock` in the data folder, held with an advisory lock
//! (`flock`) by every process that opens the store for writing. Writers hold it **shared**:
//! any number of processes write at once, their writes serialized by SQLite itself (see
//! `embedded`). It is held **exclusively**, with a JSON record of who holds it (pid, host,
//! start time, command), only where one process must have the workspace to itself:
//!
//! - while a schema migration runs at open (a process still running an older schema, or
//!   still reading with it, must not see the tables change under it), and
//! - by `trove migrate` for the whole copy into PostgreSQL (nothing may write the embedded
//!   store while it is copied).
//!
//! A Trove from before several writers took this same file exclusively for its whole life, so
//! an old and a new binary never write one workspace at once: each is refused while the other
//! holds it. Readers take no lock.
//!
//! The kernel drops the advisory lock when its holder dies, however it dies (kill -9
//! included), so a lock left behind by a dead process is taken over automatically; the record
//! it left tells us that happened, and we log it. While an exclusive holder lives, others get
//! a [`StoreError::Locked`] naming it. The file is never deleted (deleting a lock file that
//! another process has open is how two processes end up both "holding" it); a clean release
//! (or a move from exclusive to shared) empties it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// The lock file's name inside the data folder.
pub const LOCK_FILE: &str = "writer.lock";

/// Who holds (or held) the lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// RFC 3339 time the lock was taken.
    pub since: String,
    /// What the process runs (e.g. `trove ingest`).
    pub command: String,
}

impl LockInfo {
    /// A record for this process.
    pub fn current(command: &str) -> LockInfo {
        LockInfo { pid: std::process::id(), host: hostname(), since: now_rfc3339(), command: command.to_string() }
    }
}

/// How an acquisition went.
#[derive(Debug, Clone, PartialEq)]
pub enum Acquired {
    /// The lock was free and clean.
    Clean,
    /// The lock file named a holder that is gone; it was taken over.
    RecoveredStale(LockInfo),
}

/// A held workspace lock, shared or exclusive; released when dropped.
#[derive(Debug)]
pub struct WorkspaceLock {
    file: File,
    path: PathBuf,
    exclusive: bool,
}

impl WorkspaceLock {
    /// Takes the lock exclusively in `dir` (created if needed), or says who holds it: the
    /// exclusive holder's record, or the processes holding it shared.
    pub fn acquire(dir: &Path, command: &str) -> Result<(WorkspaceLock, Acquired), StoreError> {
        match Self::try_exclusive(dir, command)? {
            Some(held) => Ok(held),
            None => Err(Self::refusal(dir)),
        }
    }

    /// Takes the lock exclusively if nobody holds it at all; `None` when someone does.
    pub fn try_exclusive(dir: &Path, command: &str) -> Result<Option<(WorkspaceLock, Acquired)>, StoreError> {
        let (mut file, path) = open_lock_file(dir)?;
        let io = |source| StoreError::Io { path: path.clone(), source };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let previous = read_info(&mut file);
        let me = LockInfo::current(command);
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let record = serde_json::to_vec(&me).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        file.write_all(&record).map_err(io)?;
        file.sync_data().map_err(io)?;
        let acquired = recovered(previous);
        Ok(Some((WorkspaceLock { file, path, exclusive: true }, acquired)))
    }

    /// Takes the lock shared unless a process holds it exclusively; `None` when one does. A
    /// record left by an exclusive holder that died is recovered (emptied, and logged).
    pub fn try_shared(dir: &Path) -> Result<Option<(WorkspaceLock, Acquired)>, StoreError> {
        let (mut file, path) = open_lock_file(dir)?;
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(source)) => return Err(StoreError::Io { path, source }),
        }
        // Nobody can hold it exclusively while we hold it shared: a record is a dead holder's.
        // Several shared holders may empty it at once; that is harmless.
        let previous = read_info(&mut file);
        if previous.is_some() {
            file.set_len(0).map_err(|source| StoreError::Io { path: path.clone(), source })?;
        }
        Ok(Some((WorkspaceLock { file, path, exclusive: false }, recovered(previous))))
    }

    /// Moves an exclusive hold to a shared one, trying until `deadline`: the kernel may drop
    /// the lock for an instant while it converts it, and another process may take it
    /// exclusively meanwhile. Empties the record first.
    pub fn share(&mut self, deadline: std::time::Instant) -> Result<(), StoreError> {
        if !self.exclusive {
            return Ok(());
        }
        let io = |source| StoreError::Io { path: self.path.clone(), source };
        self.file.set_len(0).map_err(io)?;
        loop {
            match self.file.try_lock_shared() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(TryLockError::WouldBlock) => return Err(Self::refusal(self.path.parent().unwrap_or(&self.path))),
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        self.exclusive = false;
        Ok(())
    }

    /// Whether this hold is exclusive.
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error for a lock that could not be had: who holds it exclusively, or which
    /// processes hold it shared (from the process registry).
    pub fn refusal(dir: &Path) -> StoreError {
        match read_holder(dir) {
            Some(holder) => StoreError::Locked {
                dir: dir.to_path_buf(),
                pid: holder.pid,
                host: holder.host,
                since: holder.since,
                command: holder.command,
            },
            None => StoreError::InUse {
                dir: dir.to_path_buf(),
                holders: crate::processes::describe(&crate::processes::others(dir)),
            },
        }
    }
}

fn open_lock_file(dir: &Path) -> Result<(File, PathBuf), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| StoreError::Io { path: path.clone(), source })?;
    Ok((file, path))
}

fn recovered(previous: Option<LockInfo>) -> Acquired {
    match previous {
        Some(prev) => {
            tracing::warn!(
                pid = prev.pid,
                host = %prev.host,
                since = %prev.since,
                command = %prev.command,
                "recovered a stale writer lock: its holder is gone (it did not exit cleanly)"
            );
            Acquired::RecoveredStale(prev)
        }
        None => Acquired::Clean,
    }
}

impl Drop for WorkspaceLock {
    fn drop(&mut self) {
        // Empty the record so the next holder knows this one exited cleanly; the advisory lock
        // itself goes with the file handle.
        if self.exclusive {
            let _ = self.file.set_len(0);
        }
        let _ = self.file.unlock();
    }
}

/// What the lock file of a data folder says.
#[derive(Debug, Clone, PartialEq)]
pub enum LockState {
    /// No lock file, or an empty record: nobody holds it and nobody crashed holding it.
    Free,
    /// Processes hold it shared: they write the workspace, serialized by the database (the
    /// process registry, `processes`, says which).
    Shared,
    /// A live process holds it exclusively (its record, when readable).
    Held(Option<LockInfo>),
    /// The record names a process that is gone without releasing it; the next writer takes it
    /// over (and [`clear_stale`] empties it now).
    Stale(LockInfo),
}

/// Looks at the lock without taking it for longer than the look.
pub fn probe(dir: &Path) -> Result<LockState, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Free),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    match file.try_lock() {
        Ok(()) => {
            let previous = read_info(&mut file);
            let _ = file.unlock();
            return Ok(previous.map_or(LockState::Free, LockState::Stale));
        }
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(source)) => return Err(StoreError::Io { path, source }),
    }
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(LockState::Shared)
        }
        Err(TryLockError::WouldBlock) => Ok(LockState::Held(read_info(&mut file))),
        Err(TryLockError::Error(source)) => Err(StoreError::Io { path, source }),
    }
}

/// Empties a stale record (one whose holder is gone); `Ok(false)` when the lock is held or
/// already clean.
pub fn clear_stale(dir: &Path) -> Result<bool, StoreError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| StoreError::Io { path: path.clone(), source };
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(e)),
    };
    match file.try_lock() {
        Ok(()) => {
            let stale = read_info(&mut file).is_some();
            if stale {
                file.set_len(0).map_err(io)?;
                file.sync_data().map_err(io)?;
            }
            let _ = file.unlock();
            Ok(stale)
        }
        Err(_) => Ok(false),
    }
}

/// Reads the holder record, if the file has one.
pub fn read_holder(dir: &Path) -> Option<LockInfo> {
    let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
    read_info(&mut file)
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    if text.trim().is_empty() {
        return None;
    }
    serde_json::from_str(&text).ok().or_else(|| {
        Some(LockInfo {
            pid: 0,
            host: "unknown".into(),
            since: "unknown".into(),
            command: text.trim().chars().take(80).collect(),
        })
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquirer_is_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, how) = WorkspaceLock::acquire(dir.path(), "test one").unwrap();
        assert_eq!(how, Acquired::Clean);
        let err = WorkspaceLock::acquire(dir.path(), "test two").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Locked { pid, .. } if pid == std::process::id()), "{msg}");
        assert!(msg.contains("test one"), "{msg}");
        drop(lock);
        let (_again, how) = WorkspaceLock::acquire(dir.path(), "test three").unwrap();
        assert_eq!(how, Acquired::Clean, "a clean release leaves no stale record");
    }

    #[test]
    fn writers_share_the_lock_and_an_exclusive_holder_waits_for_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let (one, _) = WorkspaceLock::try_shared(dir.path()).unwrap().unwrap();
        let (two, _) = WorkspaceLock::try_shared(dir.path()).unwrap().unwrap();
        assert_eq!(probe(dir.path()).unwrap(), LockState::Shared);
        assert!(WorkspaceLock::try_exclusive(dir.path(), "migrate").unwrap().is_none());
        assert!(matches!(WorkspaceLock::acquire(dir.path(), "migrate"), Err(StoreError::InUse { .. })));
        drop((one, two));
        let (mut held, _) = WorkspaceLock::try_exclusive(dir.path(), "migrate").unwrap().unwrap();
        assert!(WorkspaceLock::try_shared(dir.path()).unwrap().is_none(), "no writer beside an exclusive holder");
        assert!(
            matches!(probe(dir.path()).unwrap(), LockState::Held(Some(LockInfo { ref command, .. })) if command == "migrate")
        );
        held.share(std::time::Instant::now()).unwrap();
        assert!(!held.is_exclusive());
        assert_eq!(read_holder(dir.path()), None, "a shared hold leaves no record");
        let (_beside, how) = WorkspaceLock::try_shared(dir.path()).unwrap().unwrap();
        assert_eq!(how, Acquired::Clean);
    }

    #[test]
    fn a_record_without_a_live_holder_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let dead = LockInfo {
            pid: 999_999,
            host: "h".into(),
            since: "2020-01-01T00:00:00Z".into(),
            command: "trove ingest".into(),
        };
        std::fs::write(dir.path().join(LOCK_FILE), serde_json::to_vec(&dead).unwrap()).unwrap();
        let (_lock, how) = WorkspaceLock::acquire(dir.path(), "test").unwrap();
        assert_eq!(how, Acquired::RecoveredStale(dead));
        assert_eq!(read_holder(dir.path()).unwrap().pid, std::process::id());
    }
}
