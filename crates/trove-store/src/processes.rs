//! Which processes have a workspace's embedded store open: one small file per open store
//! handle in the data folder's `processes/` folder (`<host>-<pid>-<n>.json`: pid, host,
//! command, start time, role), held with an exclusive advisory lock (`flock`) for as long as
//! the handle lives and removed when it closes. `trove doctor` lists them, and an error about
//! a busy or locked workspace names them.
//!
//! A file whose lock can be taken belongs to a process that is gone (the kernel drops the lock
//! however a process dies, kill -9 included, and a reused pid does not inherit it): [`list`]
//! removes such stale entries as it finds them. A new entry is written under a dot-name, locked,
//! then renamed into place, so nobody ever sees an entry that is not yet locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::lock::now_rfc3339;

/// The registry's folder inside the data folder.
pub const DIR: &str = "processes";

/// What a process opened the store for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Writes (and reads): holds the workspace lock shared; its writes wait for the database's
    /// write lock, at most the configured bound (`storage.write_wait_s`).
    Writer,
    /// Reads only; holds no lock.
    Reader,
    /// Has the workspace to itself (`trove migrate`): holds the workspace lock exclusively.
    Exclusive,
}

impl Role {
    /// What a process of this role holds, in words.
    pub fn holds(self) -> &'static str {
        match self {
            Role::Writer => "writes: holds the workspace lock shared",
            Role::Reader => "reads only: holds no lock",
            Role::Exclusive => "has the workspace to itself: holds the workspace lock exclusively",
        }
    }
}

/// One process's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// What the process runs (`trove mcp`).
    pub command: String,
    /// RFC 3339 time it opened the store.
    pub since: String,
    /// What it opened the store for.
    pub role: Role,
}

/// A registered store handle; its entry goes when it is dropped.
#[derive(Debug)]
pub struct Registration {
    file: File,
    path: PathBuf,
    dir: PathBuf,
}

/// Handles registered in this process (their data folders), so an error about a busy
/// database can name the other processes of the workspaces this process has open.
static OPEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Numbers this process's entries (one process may open a store more than once).
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Registers this process in `dir`'s registry as running `command` in `role`.
pub fn register(dir: &Path, command: &str, role: Role) -> Result<Registration, StoreError> {
    let folder = dir.join(DIR);
    std::fs::create_dir_all(&folder).map_err(|source| StoreError::Io { path: folder.clone(), source })?;
    let info = ProcessInfo {
        pid: std::process::id(),
        host: crate::lock::LockInfo::current(command).host,
        command: command.to_string(),
        since: now_rfc3339(),
        role,
    };
    let name = format!("{}-{}-{}.json", info.host, info.pid, NEXT.fetch_add(1, Ordering::Relaxed));
    let temp = folder.join(format!(".{name}"));
    let path = folder.join(name);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp).map_err(io(&temp))?;
    file.lock().map_err(io(&temp))?;
    let record = serde_json::to_vec(&info).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    file.write_all(&record).map_err(io(&temp))?;
    std::fs::rename(&temp, &path).map_err(io(&path))?;
    OPEN.lock().unwrap_or_else(|e| e.into_inner()).push(dir.to_path_buf());
    Ok(Registration { file, path, dir: dir.to_path_buf() })
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = open.iter().position(|d| *d == self.dir) {
            open.swap_remove(i);
        }
    }
}

/// What [`list`] found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Live processes, oldest first.
    pub live: Vec<ProcessInfo>,
    /// Entries of processes that are gone, removed now.
    pub removed: Vec<ProcessInfo>,
}

/// The processes that have `dir`'s store open; entries of dead ones are removed.
pub fn list(dir: &Path) -> Result<Listing, StoreError> {
    let folder = dir.join(DIR);
    let entries = match std::fs::read_dir(&folder) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
        Err(source) => return Err(StoreError::Io { path: folder, source }),
    };
    let mut out = Listing::default();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(mut file) = File::open(&path) else { continue };
        let mut text = String::new();
        let info = file.read_to_string(&mut text).ok().and_then(|_| serde_json::from_str::<ProcessInfo>(&text).ok());
        match file.try_lock() {
            Err(TryLockError::WouldBlock) => {
                if let Some(info) = info.filter(|_| !name.starts_with('.')) {
                    out.live.push(info);
                }
            }
            Err(TryLockError::Error(_)) => {}
            Ok(()) => {
                // A dot-name is an entry being written; one left behind for a minute is a
                // process that died between creating and locking it.
                let young = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age < Duration::from_secs(60));
                if name.starts_with('.') && young {
                    continue;
                }
                if std::fs::remove_file(&path).is_ok()
                    && let Some(info) = info
                {
                    tracing::debug!(pid = info.pid, command = %info.command, "removed the registry entry of a process that is gone");
                    out.removed.push(info);
                }
            }
        }
    }
    out.live.sort_by(|a, b| (&a.since, a.pid).cmp(&(&b.since, b.pid)));
    Ok(out)
}

/// The live processes of `dir` other than this one (empty when the registry cannot be read).
pub fn others(dir: &Path) -> Vec<ProcessInfo> {
    let me = std::process::id();
    list(dir).map(|l| l.live.into_iter().filter(|p| p.pid != me).collect()).unwrap_or_default()
}

/// The writers among the other processes of the workspaces this process has open, in words,
/// for an error about a busy database.
pub fn other_writers_of_open_workspaces() -> String {
    let dirs = OPEN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut seen = std::collections::HashSet::new();
    let writers: Vec<ProcessInfo> = dirs
        .iter()
        .filter(|d| seen.insert(d.to_path_buf()))
        .flat_map(|d| others(d))
        .filter(|p| p.role != Role::Reader)
        .collect();
    describe(&writers)
}

/// Processes in words: `pid 12 (trove mcp, since …), pid 13 (…)`.
pub fn describe(processes: &[ProcessInfo]) -> String {
    if processes.is_empty() {
        return "no other Trove process is registered (`trove doctor` shows who has the workspace open)".into();
    }
    processes
        .iter()
        .map(|p| format!("pid {} on {} ({}, since {})", p.pid, p.host, p.command, p.since))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes `info`'s entry in `dir`'s registry and holds it, as its live process would.
    pub(crate) fn hold_entry(dir: &Path, info: &ProcessInfo) -> File {
        let folder = dir.join(DIR);
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join(format!("{}-{}-0.json", info.host, info.pid));
        std::fs::write(&path, serde_json::to_vec(info).unwrap()).unwrap();
        let file = File::open(&path).unwrap();
        file.lock().unwrap();
        file
    }

    #[test]
    fn entries_live_while_registered_and_go_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = register(dir.path(), "trove mcp", Role::Writer).unwrap();
        let b = register(dir.path(), "trove search", Role::Reader).unwrap();
        let live = list(dir.path()).unwrap().live;
        assert_eq!(live.iter().map(|p| (p.command.as_str(), p.role)).collect::<Vec<_>>().len(), 2);
        assert!(live.iter().all(|p| p.pid == std::process::id()));
        assert!(live.iter().any(|p| p.command == "trove mcp" && p.role == Role::Writer));
        drop(a);
        let live = list(dir.path()).unwrap().live;
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].command, "trove search");
        drop(b);
        assert!(list(dir.path()).unwrap().live.is_empty());
        assert_eq!(std::fs::read_dir(dir.path().join(DIR)).unwrap().count(), 0, "nothing left behind");
    }

    #[test]
    fn an_entry_nobody_holds_is_a_dead_process_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(DIR)).unwrap();
        let dead = ProcessInfo {
            pid: 999_999,
            host: "h".into(),
            command: "trove ingest".into(),
            since: "2026-01-01T00:00:00Z".into(),
            role: Role::Writer,
        };
        std::fs::write(dir.path().join(DIR).join("h-999999-0.json"), serde_json::to_vec(&dead).unwrap()).unwrap();
        let _me = register(dir.path(), "trove mcp", Role::Writer).unwrap();
        let listing = list(dir.path()).unwrap();
        assert_eq!(listing.removed, vec![dead]);
        assert_eq!(listing.live.len(), 1);
        assert!(list(dir.path()).unwrap().removed.is_empty(), "removed once");
        assert!(describe(&listing.live).contains("trove mcp"));
    }
}
