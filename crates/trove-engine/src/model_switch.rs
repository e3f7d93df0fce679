//! Keeps a vault's vectors from two models apart when several processes write one embedded
//! workspace. A write of live vectors reads the vault's model, embeds with it and stores the
//! vectors; a re-embed's switch to another model must not fall between the read and the
//! store, or vectors of the old model would land after the switch and stay. In one process the
//! engine's `vectors` lock keeps them apart; across processes a file in the data folder,
//! `models.lock`, does the same with an advisory lock (`flock`): held shared by every write of
//! live vectors (a new file handle each time, so each write's hold is its own) and exclusively
//! by a switch.
//!
//! A write waits at most `storage.write_wait_s` for a switch in another process, then fails
//! with `workspace_busy`; a switch waits for the writes in flight ([`SWITCH_WAIT`] at most,
//! then the re-embed fails and is retried later). PostgreSQL's nodes keep their own data
//! folders, so there is no such file there.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use trove_store::StoreError;

use crate::{Engine, EngineError};

/// The file's name in the data folder.
pub const MODELS_LOCK: &str = "models.lock";

/// How long a switch waits for the writes in flight in other processes.
pub const SWITCH_WAIT: Duration = Duration::from_secs(60);

/// Where the cross-process lock lives and how long a write waits for it.
#[derive(Debug, Clone)]
pub(crate) struct ModelSwitchLock {
    path: PathBuf,
    write_wait: Duration,
}

impl ModelSwitchLock {
    /// The lock of the embedded store in `data_dir`.
    pub(crate) fn new(data_dir: &Path, write_wait: Duration) -> ModelSwitchLock {
        ModelSwitchLock { path: data_dir.join(MODELS_LOCK), write_wait }
    }

    /// Takes the file lock, shared or exclusive, trying until `wait` has passed.
    fn take(&self, exclusive: bool, wait: Duration) -> Result<File, StoreError> {
        let io = |source| StoreError::Io { path: self.path.clone(), source };
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&self.path).map_err(io)?;
        let deadline = Instant::now() + wait;
        loop {
            let tried = if exclusive { file.try_lock() } else { file.try_lock_shared() };
            match tried {
                Ok(()) => return Ok(file),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(TryLockError::WouldBlock) => {
                    let doing = if exclusive {
                        "the writes of other processes (a re-embed waits to switch models)"
                    } else {
                        "another process's re-embed switching a vault's model"
                    };
                    return Err(StoreError::Busy {
                        waited_ms: wait.as_millis() as u64,
                        holders: format!("{doing}; {}", trove_store::processes::other_writers_of_open_workspaces()),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }
}

/// Held while live vectors are embedded and written; see the module documentation.
pub(crate) struct VectorWrites<'a> {
    _here: RwLockReadGuard<'a, ()>,
    _elsewhere: Option<File>,
}

/// Held while a re-embed switches a vault's model; see the module documentation.
pub(crate) struct ModelSwitch<'a> {
    _here: RwLockWriteGuard<'a, ()>,
    _elsewhere: Option<File>,
}

impl Engine {
    /// For a write of live vectors: no switch to another model, in this process or another,
    /// until the guard goes.
    pub(crate) fn vector_writes(&self) -> Result<VectorWrites<'_>, EngineError> {
        let here = self.vectors.read().unwrap_or_else(|e| e.into_inner());
        let elsewhere = match &self.model_lock {
            Some(lock) => Some(lock.take(false, lock.write_wait)?),
            None => None,
        };
        Ok(VectorWrites { _here: here, _elsewhere: elsewhere })
    }

    /// For a re-embed's switch: no write of live vectors, in this process or another, until
    /// the guard goes.
    pub(crate) fn model_switch(&self) -> Result<ModelSwitch<'_>, EngineError> {
        let here = self.vectors.write().unwrap_or_else(|e| e.into_inner());
        let elsewhere = match &self.model_lock {
            Some(lock) => Some(lock.take(true, SWITCH_WAIT)?),
            None => None,
        };
        Ok(ModelSwitch { _here: here, _elsewhere: elsewhere })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_waits_for_a_switch_elsewhere_at_most_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let here = ModelSwitchLock::new(dir.path(), Duration::from_millis(100));
        let other = ModelSwitchLock::new(dir.path(), Duration::from_millis(100));
        let writes = [here.take(false, here.write_wait).unwrap(), other.take(false, other.write_wait).unwrap()];
        assert!(matches!(here.take(true, Duration::from_millis(50)), Err(StoreError::Busy { .. })), "writes in flight");
        drop(writes);
        let switch = other.take(true, SWITCH_WAIT).unwrap();
        let started = Instant::now();
        let err = here.take(false, here.write_wait).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(err.to_string().contains("re-embed switching"), "{err}");
        drop(switch);
        here.take(false, here.write_wait).unwrap();
    }
}
