//! The workspace's single-writer lock: a file `writer.lock` in the data folder, held with an
//! exclusive advisory lock (`flock`) for as long as the writer lives, and holding a JSON record
//! of who holds it (pid, host, start time, command).
//!
//! The kernel drops the advisory lock when its holder dies, however it dies (kill -9
//! included), so a lock left behind by a dead process is taken over automatically; the record
//! it left tells us that happened, and we log it. While the holder lives, others get a
//! [`StoreError::Locked`] naming it. The file is never deleted (deleting a lock file that
//! another process has open is how two processes end up both "holding" it); a clean release
//! empties it.

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

/// A held writer lock; released when dropped.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
}

impl WriterLock {
    /// Takes the lock in `dir` (created if needed), or says who holds it.
    pub fn acquire(dir: &Path, command: &str) -> Result<(WriterLock, Acquired), StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        let path = dir.join(LOCK_FILE);
        let io = |source| StoreError::Io { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_info(&mut file).unwrap_or_else(|| LockInfo {
                    pid: 0,
                    host: "unknown".into(),
                    since: "unknown".into(),
                    command: "unknown".into(),
                });
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid: holder.pid,
                    host: holder.host,
                    since: holder.since,
                    command: holder.command,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let previous = read_info(&mut file);
        let me = LockInfo::current(command);
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let record = serde_json::to_vec(&me).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        file.write_all(&record).map_err(io)?;
        file.sync_data().map_err(io)?;
        let acquired = match previous {
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
        };
        Ok((WriterLock { file, path }, acquired))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Empty the record so the next holder knows this one exited cleanly; the advisory lock
        // itself goes with the file handle.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// What the lock file of a data folder says.
#[derive(Debug, Clone, PartialEq)]
pub enum LockState {
    /// No lock file, or an empty record: nobody holds it and nobody crashed holding it.
    Free,
    /// A live process holds it (its record, when readable).
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
            Ok(previous.map_or(LockState::Free, LockState::Stale))
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
        let (lock, how) = WriterLock::acquire(dir.path(), "test one").unwrap();
        assert_eq!(how, Acquired::Clean);
        let err = WriterLock::acquire(dir.path(), "test two").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Locked { pid, .. } if pid == std::process::id()), "{msg}");
        assert!(msg.contains("test one"), "{msg}");
        drop(lock);
        let (_again, how) = WriterLock::acquire(dir.path(), "test three").unwrap();
        assert_eq!(how, Acquired::Clean, "a clean release leaves no stale record");
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
        let (_lock, how) = WriterLock::acquire(dir.path(), "test").unwrap();
        assert_eq!(how, Acquired::RecoveredStale(dead));
        assert_eq!(read_holder(dir.path()).unwrap().pid, std::process::id());
    }
}
