//! Writing the approximate vector index files (see `vectors`): a writer's [`Folder`] builds a
//! space's file when the space has grown past `min_rows` rows without a usable one, and folds
//! the changes made since a file was written into a new file once there are `fold_after` of
//! them (a fold extends the mapped graph, or rebuilds it when too many of its nodes died).
//! Requests come from commits (ingest never searches, so commits must ask) and from loads that
//! found no usable file; they are de-duplicated by vault and space and served one at a time,
//! on a background thread or on the caller's (see [`Folding`]).
//!
//! Only the holder of the advisory lock `vectors/fold.lock` writes files, whichever writers
//! run: the others (and every reader) open the files and follow the change log. Files are
//! replaced by rename (the crate writes a temp file beside them), so a mapping that a search
//! holds stays valid; the lock holder deletes temp files left by a crash when it takes the
//! lock. Nothing here is needed for a right answer: a space without a usable file is searched
//! exactly.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::Connection;
use trove_ann::AnnIndex;

use super::derived::Derivations;
use super::vectors::{self, AnnSettings, Folding, VectorIndex};
use super::{Counters, Space, VAULT_COLUMNS, pool, vault_row};
use crate::{StoreError, VaultId, VaultInfo};

/// The advisory lock that makes one process the writer of index files.
pub const FOLD_LOCK: &str = "fold.lock";

/// Pending requests, by vault and space.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<(VaultId, Space)>,
    busy: bool,
    /// A file is being written (not only looked at).
    writing: bool,
    closed: bool,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for `vault`'s `space` to be looked at (built or folded if due).
    pub(crate) fn request(&self, vault: VaultId, space: Space) {
        let mut state = self.lock();
        if !state.pending.contains(&(vault, space)) {
            state.pending.push((vault, space));
            self.changed.notify_all();
        }
    }

    /// The next request, marked busy until [`Queue::done`]; with `wait`, blocks for one
    /// (`None` once closed).
    fn next(&self, wait: bool) -> Option<(VaultId, Space)> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if !state.pending.is_empty() {
                state.busy = true;
                return Some(state.pending.remove(0));
            }
            if !wait {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done(&self) {
        self.lock().busy = false;
        self.changed.notify_all();
    }

    /// Blocks until nothing is pending or being worked on; calls `waiting` once if a file is
    /// being written meanwhile.
    fn idle(&self, waiting: &mut dyn FnMut()) {
        let mut state = self.lock();
        let mut told = false;
        while !state.closed && (state.busy || !state.pending.is_empty()) {
            if state.writing && !told {
                told = true;
                waiting();
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn writing(&self, writing: bool) {
        self.lock().writing = writing;
        self.changed.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// What a folder did, for tests and `trove doctor`.
#[derive(Debug, Default)]
pub(crate) struct FolderStats {
    /// Files built from every row.
    pub builds: AtomicU64,
    /// Files written by folding changes into the previous one.
    pub folds: AtomicU64,
}

/// A writer's index-file writer; see the module documentation.
#[derive(Debug)]
pub(crate) struct Folder {
    queue: Arc<Queue>,
    worker: Arc<Worker>,
    folding: Folding,
}

#[derive(Debug)]
struct Worker {
    db: PathBuf,
    queue: Arc<Queue>,
    vectors: Arc<Derivations<VectorIndex>>,
    /// Its own read connection (opened on first use), held while it works.
    conn: Mutex<Option<Connection>>,
    /// `fold.lock`, once held.
    lock: Mutex<Option<File>>,
    counters: Counters,
    stats: Arc<FolderStats>,
}

impl Folder {
    /// A folder for the store whose database is `db`, writing the files of `vectors` (whose
    /// loads request through `queue`).
    pub(crate) fn start(db: &Path, vectors: Arc<Derivations<VectorIndex>>, queue: Arc<Queue>) -> Folder {
        let mut folding = vectors.env.settings.folding;
        let worker = Arc::new(Worker {
            db: db.to_path_buf(),
            queue: queue.clone(),
            vectors,
            conn: Mutex::new(None),
            lock: Mutex::new(None),
            counters: Counters::default(),
            stats: Arc::default(),
        });
        if folding == Folding::Background {
            let (queue, worker) = (queue.clone(), worker.clone());
            let spawned = std::thread::Builder::new().name("trove-vectors".into()).spawn(move || {
                // However the thread ends (a panic included), nobody waits for it any more.
                let _closes = CloseOnExit(queue.clone());
                while let Some(key) = queue.next(true) {
                    if let Err(e) = worker.work(key) {
                        tracing::warn!(error = %e, vault = key.0, space = ?key.1, "could not write the vector index file; searches stay exact meanwhile");
                    }
                    queue.done();
                }
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the vector index thread; index files are written when ingest ends");
                folding = Folding::OnSettle;
            }
        }
        Folder { queue, worker, folding }
    }

    /// What this folder did.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> &FolderStats {
        &self.worker.stats
    }

    /// After a commit that changed `vault`'s `space`.
    pub(crate) fn committed(&self, vault: VaultId, space: Space) -> Result<(), StoreError> {
        if !self.worker.vectors.env.settings.enabled {
            return Ok(());
        }
        self.queue.request(vault, space);
        match self.folding {
            Folding::AtCommit => self.run_pending(),
            Folding::Background | Folding::OnSettle => Ok(()),
        }
    }

    /// Finishes every pending build and fold: waits for the background thread, or does them
    /// on this thread; calls `waiting` once if a file is being written meanwhile.
    pub(crate) fn settle(&self, waiting: &mut dyn FnMut()) -> Result<(), StoreError> {
        match self.folding {
            Folding::Background => {
                self.queue.idle(waiting);
                Ok(())
            }
            Folding::OnSettle | Folding::AtCommit => self.run_pending(),
        }
    }

    fn run_pending(&self) -> Result<(), StoreError> {
        while let Some(key) = self.queue.next(false) {
            let done = self.worker.work(key);
            self.queue.done();
            done?;
        }
        Ok(())
    }
}

/// Closes the queue when dropped: the background thread's last act.
struct CloseOnExit(Arc<Queue>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Drop for Folder {
    /// Stops the background thread after its current file (a file being written when the
    /// process exits is a temp file, deleted by the next lock holder).
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl Worker {
    /// Builds or folds `vault`'s `space` if it is due.
    fn work(&self, (vault, space): (VaultId, Space)) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if conn.is_none() {
            *conn = Some(pool::open_read_only(&self.db)?);
        }
        let Some(conn) = conn.as_ref() else { return Ok(()) };
        let env = &self.vectors.env;
        let settings: &AnnSettings = &env.settings;
        let Some((info, created, floor)) = vault_state(conn, vault, space)? else { return Ok(()) };
        let Some(dim) = info.dimension else { return Ok(()) };
        // Small spaces need no file (and no `vectors/` folder); others only from the holder.
        if vectors::count_rows(conn, vault, space)? < settings.min_rows.max(1) || !self.holds_lock()? {
            return Ok(());
        }
        let path = env.path(vault, &created, space);
        let write = match vectors::open_file(&path, env.params(), dim, floor, space.generation_of(&info)) {
            Err(reason) => {
                tracing::info!(vault = %info.name, ?space, %reason, "building the vector index file");
                Write::Build
            }
            Ok(file)
                if changes_after(conn, vault, space, file.generation(), settings.fold_after)?
                    >= settings.fold_after.max(1) =>
            {
                Write::Fold
            }
            Ok(_) => return Ok(()),
        };
        self.queue.writing(true);
        let written = match write {
            Write::Build => self.build(conn, &info, space, dim, &path),
            Write::Fold => self.fold(conn, &info, space, &path),
        };
        self.queue.writing(false);
        written
    }

    /// Takes `fold.lock` if nobody holds it; whether this process holds it. Deletes the temp
    /// files of a crash when it takes it.
    fn holds_lock(&self) -> Result<bool, StoreError> {
        let mut held = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_some() {
            return Ok(true);
        }
        let dir = &self.vectors.env.dir;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(FOLD_LOCK);
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        for entry in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.contains(".tmp.") {
                tracing::info!(file = %name, "deleting a vector index file left half-written");
                if let Err(e) = std::fs::remove_file(entry.path()) {
                    tracing::warn!(file = %name, error = %e, "cannot delete a half-written vector index file");
                }
            }
        }
        *held = Some(file);
        Ok(true)
    }

    /// Writes `vault`'s `space` file from every row of one snapshot, then drops the cached
    /// index so that the next search opens the file.
    fn build(
        &self,
        conn: &Connection,
        vault: &VaultInfo,
        space: Space,
        dim: usize,
        path: &Path,
    ) -> Result<(), StoreError> {
        let tx = conn.unchecked_transaction()?;
        let generation = vectors::vault_column(&tx, vault.id, space.generation_column())?;
        let mut stmt = tx.prepare(vectors::rows_sql(space))?;
        let mut rows = stmt.query([vault.id])?;
        let mut failed: Option<StoreError> = None;
        let built = {
            let mut buf = Vec::new();
            let items = std::iter::from_fn(|| {
                let read = rows.next().map_err(StoreError::from).and_then(|row| match row {
                    None => Ok(None),
                    Some(row) => {
                        let id = vectors::decode_row(row, &mut buf)?;
                        vectors::check_dimension(id, &buf, dim)?;
                        Ok(Some((id, row.get::<_, i64>(1)?, buf.clone())))
                    }
                });
                read.unwrap_or_else(|e| {
                    failed = Some(e);
                    None
                })
            });
            AnnIndex::build(path, dim, self.vectors.env.params(), generation, items)
        };
        drop(rows);
        drop(stmt);
        tx.finish()?;
        if let Some(e) = failed {
            // The rows read before the error made a file that lacks the rest.
            if built.is_ok() {
                _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
        let built = built?;
        self.stats.builds.fetch_add(1, Ordering::Relaxed);
        tracing::info!(vault = %vault.name, ?space, vectors = built.len(), generation, "built the vector index file");
        self.vectors.forget(vault.id, Some(space));
        Ok(())
    }

    /// Folds the changes since `vault`'s `space` file was written into a new file, and
    /// installs it in this store's cached index.
    fn fold(&self, conn: &Connection, vault: &VaultInfo, space: Space, path: &Path) -> Result<(), StoreError> {
        let mut snapshot = None;
        for _ in 0..2 {
            snapshot = self.vectors.with(&self.counters, || Ok(conn), vault, space, |index| index.fold(path))?;
            if snapshot.is_some() {
                break;
            }
            // The cached index is an exact scan or an older file: open the current one.
            self.vectors.forget(vault.id, Some(space));
        }
        let Some(fold) = snapshot else { return Ok(()) };
        let adds = fold.adds();
        let folded = fold.write(path)?;
        let key = (vault.id, space);
        let installed = {
            let _loading = self.vectors.loading.lock().unwrap_or_else(|e| e.into_inner());
            let mut cache = self.vectors.cache.write().unwrap_or_else(|e| e.into_inner());
            cache.get_mut(&key).is_some_and(|index| index.install(folded))
        };
        if !installed {
            self.vectors.forget(vault.id, Some(space));
        }
        self.stats.folds.fetch_add(1, Ordering::Relaxed);
        tracing::info!(vault = %vault.name, ?space, adds, "folded changes into the vector index file");
        Ok(())
    }
}

/// What a request turned out to need.
enum Write {
    Build,
    Fold,
}

/// `vault`'s record, its `created_at` and the floor of `space`'s log, in `conn`'s snapshot.
fn vault_state(
    conn: &Connection,
    vault: VaultId,
    space: Space,
) -> Result<Option<(VaultInfo, String, i64)>, StoreError> {
    use rusqlite::OptionalExtension;
    let sql = format!("SELECT {VAULT_COLUMNS}, created_at, {} FROM vaults WHERE id = ?", space.floor_column());
    let n = VAULT_COLUMNS.split(',').count();
    Ok(conn.prepare_cached(&sql)?.query_row([vault], |r| Ok((vault_row(r)?, r.get(n)?, r.get(n + 1)?))).optional()?)
}

/// Changes logged for `vault`'s `space` after `generation`, counted up to `most`.
fn changes_after(
    conn: &Connection,
    vault: VaultId,
    space: Space,
    generation: i64,
    most: usize,
) -> Result<usize, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM changes WHERE vault_id = ? AND space = ? AND generation > ? LIMIT ?)",
        )?
        .query_row(rusqlite::params![vault, space.code(), generation, most as i64], |r| r.get(0))?;
    Ok(n.max(0) as usize)
}
