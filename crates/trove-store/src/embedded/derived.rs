//! Indexes derived from the rows of a vault's chunks or memories and tagged with the generation
//! they reflect ([`Derived`]): the vector indexes (`vectors::VectorIndex`: an in-memory exact
//! scan, or a persisted approximate index file caught up in memory). One mechanism keeps any of them current, in any process: when
//! a search finds its index behind the committed generation, it reads the change log after the
//! index's generation and the rows it names, in one snapshot ([`changes::since`]), and applies
//! them; only an index the log no longer reaches back to (or one so far behind that the log is
//! longer than the index) is loaded again. Writers do nothing after committing: their own
//! changes reach their indexes the same way as other processes' do.
//!
//! A persisted index (a file beside the database, tagged with the generation it was saved at)
//! plugs in through [`Derived::load`]: it may return the index at any generation from the
//! log's floor up to the committed one (what the file holds, if it is intact and not behind
//! the floor; otherwise built from every row), and [`EmbeddedStore::with_derived`] catches it
//! up from the log before the first search uses it; when its file was replaced since it was
//! opened ([`Derived::superseded`]), it is loaded again instead of followed. Saving it again
//! (temp file, fsync, rename, tagged with its generation) is the index's own business; the log is pruned by its
//! own rule (see `changes`), so a file saved too long ago is simply rebuilt.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, RwLock};

use rusqlite::{Connection, params};

use super::changes::{self, Since};
use super::{Counters, EmbeddedStore, Space};
use crate::{StoreError, VaultId, VaultInfo};

/// An index derived from a vault's rows of one space, tagged with the generation it reflects.
pub(crate) trait Derived: Sized {
    /// What catching up from the log needs, read from the database.
    type Delta;
    /// What loading needs besides the database (where files are, settings); shared by every
    /// index of one [`Derivations`].
    type Env;

    /// The generation this index reflects.
    fn generation(&self) -> i64;
    /// Rows it holds.
    fn len(&self) -> usize;
    /// Whether this index should be loaded again rather than caught up from the log (a
    /// persisted one whose file was replaced since it was opened). Asked only when the
    /// committed generation moved.
    fn superseded(&self, _env: &Self::Env) -> bool {
        false
    }
    /// The index of `vault`'s `space` as of a generation from `floor` (the oldest the change
    /// log reaches back to) up to `generation` (the committed one in `conn`'s snapshot): an
    /// in-memory index reads every row at `generation`; a persisted one may return what it
    /// saved at an older generation, which the caller then catches up from the log.
    fn load(
        env: &Self::Env,
        conn: &Connection,
        vault: &VaultInfo,
        space: Space,
        generation: i64,
        floor: i64,
    ) -> Result<Self, StoreError>;
    /// Reads what applying `since` needs, in the same snapshot.
    fn fetch(conn: &Connection, vault: &VaultInfo, space: Space, since: &Since) -> Result<Self::Delta, StoreError>;
    /// Applies the changes read by [`Derived::fetch`], after which the index reflects
    /// `generation`. On an error the index is dropped (the next use loads it again).
    fn apply(&mut self, delta: Self::Delta, generation: i64) -> Result<(), StoreError>;
}

/// Derived indexes, by vault and space.
pub(crate) type Cache<I> = RwLock<HashMap<(VaultId, Space), I>>;

/// The derived indexes of one kind held by a store (and shared with its background work).
pub(crate) struct Derivations<I: Derived> {
    /// What loading them needs.
    pub env: I::Env,
    /// The indexes, by vault and space.
    pub cache: Cache<I>,
    /// Held while catching up or loading an index (so concurrent readers of a stale index do
    /// it once) and while a vault's indexes are dropped.
    pub loading: Mutex<()>,
}

impl<I: Derived> std::fmt::Debug for Derivations<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.cache.read().map_or(0, |c| c.len());
        f.debug_struct("Derivations").field("indexes", &n).finish_non_exhaustive()
    }
}

/// The least change count a follower may catch up on, however small its index.
const MIN_FOLLOW: usize = 1_000;

impl<I: Derived> Derivations<I> {
    pub(crate) fn new(env: I::Env) -> Derivations<I> {
        Derivations { env, cache: RwLock::default(), loading: Mutex::default() }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<(VaultId, Space), I>> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the cached indexes of `vault` (deleted, or to be loaded again).
    pub(crate) fn forget(&self, vault: VaultId, space: Option<Space>) {
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(v, s), _| *v != vault || space.is_some_and(|x| x != *s));
    }

    /// Runs `f` on the index of `vault`'s `space`, first catching it up with the committed
    /// generation (from the change log, or by loading it whole); `conn` reads the database
    /// when the index is behind the generation in `vault`.
    pub(crate) fn with<C: Deref<Target = Connection>, T>(
        &self,
        counters: &Counters,
        conn: impl FnOnce() -> Result<C, StoreError>,
        vault: &VaultInfo,
        space: Space,
        f: impl FnOnce(&I) -> T,
    ) -> Result<T, StoreError> {
        let key = (vault.id, space);
        if let Some(index) = self.read().get(&key).filter(|i| i.generation() == space.generation_of(vault)) {
            return Ok(f(index));
        }
        let _loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        let conn = conn()?;
        // The generation, the log and the rows in one snapshot.
        let tx = conn.unchecked_transaction()?;
        let (committed, floor): (i64, i64) = tx.query_row(
            &format!("SELECT {}, {} FROM vaults WHERE id = ?", space.generation_column(), space.floor_column()),
            params![vault.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let cached = self
            .read()
            .get(&key)
            .map(|i| (i.generation(), i.len(), i.generation() != committed && i.superseded(&self.env)));
        if let Some((at, len, superseded)) = cached {
            if at == committed {
                drop(tx);
                return Ok(f(self.read().get(&key).ok_or_else(vanished)?));
            }
            if !superseded
                && let Some(since) = changes::since(&tx, vault.id, space, at, committed, floor, len.max(MIN_FOLLOW))?
            {
                let delta = I::fetch(&tx, vault, space, &since)?;
                tx.finish()?;
                counters.log_rows.fetch_add(since.read as u64, Ordering::Relaxed);
                let mut indexes = self.cache.write().unwrap_or_else(|e| e.into_inner());
                let index = indexes.get_mut(&key).ok_or_else(vanished)?;
                if let Err(e) = index.apply(delta, committed) {
                    indexes.remove(&key);
                    return Err(e);
                }
                drop(indexes);
                tracing::debug!(vault = %vault.name, ?space, from = at, to = committed, changes = since.read, "followed the change log");
                return Ok(f(self.read().get(&key).ok_or_else(vanished)?));
            }
        }
        let mut index = I::load(&self.env, &tx, vault, space, committed, floor)?;
        counters.loads.fetch_add(1, Ordering::Relaxed);
        let loaded = index.generation();
        if loaded != committed {
            // A persisted index saved at an older generation: the rest from the log.
            let since = changes::since(&tx, vault.id, space, loaded, committed, floor, usize::MAX)?.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "a derived index of vault {} loaded at generation {loaded}, outside the change log's {floor}..={committed}",
                    vault.name
                ))
            })?;
            let delta = I::fetch(&tx, vault, space, &since)?;
            counters.log_rows.fetch_add(since.read as u64, Ordering::Relaxed);
            index.apply(delta, committed)?;
        }
        tx.finish()?;
        let result = f(&index);
        self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(key, index);
        Ok(result)
    }
}

impl EmbeddedStore {
    /// Runs `f` on the derived index of `vault`'s `space` in `derivations`, first catching it
    /// up with the committed generation (from the change log, or by loading it whole).
    #[cfg(test)]
    pub(crate) fn with_derived<I: Derived, T>(
        &self,
        derivations: &Derivations<I>,
        vault: &VaultInfo,
        space: Space,
        f: impl FnOnce(&I) -> T,
    ) -> Result<T, StoreError> {
        derivations.with(&self.counters, || self.read(), vault, space, f)
    }
}

/// Only the thread holding the loading lock adds or removes cached indexes (and vault
/// deletion, which the caller's vault lookup then misses).
fn vanished() -> StoreError {
    StoreError::Corrupt("a derived index vanished while it was being caught up (its vault was deleted)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::new_memory;
    use crate::embedded::tests::{numbered_doc, writer_with_vault};
    use crate::prelude::*;
    use crate::{ChunkFilter, MemoryFilter, MemoryPatch, Scored};

    fn loads(store: &EmbeddedStore) -> u64 {
        store.counters.loads.load(Ordering::Relaxed)
    }

    fn log_rows(store: &EmbeddedStore) -> u64 {
        store.counters.log_rows.load(Ordering::Relaxed)
    }

    fn nearest(store: &EmbeddedStore, vault: VaultId) -> Vec<Scored> {
        store.vector_search(vault, &[1.0, 0.0], 1000, &ChunkFilter::default()).unwrap()
    }

    fn nearest_memories(store: &EmbeddedStore, vault: VaultId) -> Vec<Scored> {
        let live = MemoryFilter { now_ms: 5, ..MemoryFilter::default() };
        store.memory_vector_search(vault, &[1.0, 0.0], &live, 1000).unwrap()
    }

    /// A second handle (a reader, as another process would be) loads its vector indexes once,
    /// then follows the writer's commits by reading exactly the logged changes, and answers
    /// like a handle that loaded everything afresh.
    #[test]
    fn a_second_handle_follows_the_writers_commits_through_the_change_log() {
        let (dir, writer, v) = writer_with_vault();
        let docs: Vec<_> = (0..30).map(numbered_doc).collect();
        writer.put_documents(v.id, &docs).unwrap();
        for i in 0..3 {
            writer.memory_put(v.id, &new_memory(&format!("m{i}"), None, &[], [1.0, 0.0]), 1).unwrap();
        }
        let reader = EmbeddedStore::open_reader(dir.path()).unwrap();
        assert_eq!(nearest(&reader, v.id).len(), 30);
        assert_eq!(nearest_memories(&reader, v.id).len(), 3);
        assert_eq!((loads(&reader), log_rows(&reader)), (2, 0), "loaded once per space");

        // Two new documents (2 chunks), one replaced (1 removed, 1 added), one deleted.
        writer.put_documents(v.id, &[numbered_doc(30), numbered_doc(31)]).unwrap();
        let mut changed = numbered_doc(5);
        changed.chunks[0].vector = vec![0.0, 1.0];
        writer.put_documents(v.id, &[changed]).unwrap();
        writer.delete_document(v.id, "s", "7.md").unwrap();
        let followed = nearest(&reader, v.id);
        assert_eq!((loads(&reader), log_rows(&reader)), (2, 5), "read the five logged changes, loaded nothing");
        assert_eq!(followed.len(), 31);
        let fresh = EmbeddedStore::open_reader(dir.path()).unwrap();
        assert_eq!(followed, nearest(&fresh, v.id));
        // The writer's own index follows the same way.
        assert_eq!(nearest(&writer, v.id), followed);

        // Memories: one added, one updated, one deleted.
        let m = writer.memory_put(v.id, &new_memory("m3", None, &[], [0.6, 0.8]), 1).unwrap();
        let patch = MemoryPatch { text: Some("m3 again".into()), vector: Some(vec![0.8, 0.6]), ..Default::default() };
        writer.memory_update(v.id, &m.id, &patch, 2).unwrap().unwrap();
        let first = writer.memory_list(v.id, &MemoryFilter { now_ms: 5, ..MemoryFilter::default() }, None, 10).unwrap();
        writer.memory_delete(v.id, &first.last().unwrap().id).unwrap();
        let followed = nearest_memories(&reader, v.id);
        assert_eq!((loads(&reader), log_rows(&reader)), (2, 8), "three more changes read");
        assert_eq!(followed, nearest_memories(&fresh, v.id));
        assert_eq!(followed.len(), 3);

        // A re-embed switches every vector: followers rebuild.
        writer.begin_restage(v.id, "m2", 2).unwrap();
        let staged: Vec<(i64, Vec<f32>)> =
            writer.chunks_to_reembed(v.id, 0, 1000).unwrap().iter().map(|c| (c.id, vec![0.0, 1.0])).collect();
        writer.stage_vectors(v.id, &staged).unwrap();
        let memories: Vec<(i64, i64, Vec<f32>)> = writer
            .memories_to_reembed(v.id, 0, 1000)
            .unwrap()
            .iter()
            .map(|m| (m.rowid, m.updated_ms, vec![0.0, 1.0]))
            .collect();
        writer.stage_memory_vectors(v.id, &memories).unwrap();
        writer.commit_staged_vectors(v.id, "m2", 2).unwrap();
        assert!(nearest(&reader, v.id).iter().all(|h| h.score.abs() < 1e-6), "every vector is the new one");
        assert_eq!(loads(&reader), 3, "rebuilt after the re-embed");
    }

    /// A stand-in for a persisted index: the ids of a vault's chunks, "saved" in `FILE` at a
    /// generation, as a file beside the database would be.
    #[derive(Debug, Clone, PartialEq)]
    struct Saved {
        generation: i64,
        rows: std::collections::BTreeSet<i64>,
    }

    static FILE: std::sync::Mutex<Option<Saved>> = std::sync::Mutex::new(None);

    impl Derived for Saved {
        type Delta = (Vec<i64>, Vec<i64>);
        type Env = ();

        fn generation(&self) -> i64 {
            self.generation
        }

        fn len(&self) -> usize {
            self.rows.len()
        }

        fn load(
            _: &(),
            conn: &Connection,
            vault: &VaultInfo,
            _: Space,
            generation: i64,
            floor: i64,
        ) -> Result<Saved, StoreError> {
            if let Some(saved) = FILE.lock().unwrap().clone().filter(|s| s.generation >= floor) {
                return Ok(saved);
            }
            let mut stmt = conn.prepare("SELECT id FROM chunks WHERE vault_id = ?")?;
            let rows = stmt.query_map([vault.id], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(Saved { generation, rows })
        }

        fn fetch(_: &Connection, _: &VaultInfo, _: Space, since: &Since) -> Result<Self::Delta, StoreError> {
            Ok((since.removed.clone(), since.upserted.clone()))
        }

        fn apply(&mut self, (removed, upserted): Self::Delta, generation: i64) -> Result<(), StoreError> {
            removed.iter().for_each(|r| _ = self.rows.remove(r));
            self.rows.extend(upserted);
            self.generation = generation;
            Ok(())
        }
    }

    /// A persisted index saved at an older generation is loaded as saved, then caught up from
    /// the log, reading only the changes made since it was saved.
    #[test]
    fn an_index_loaded_at_an_older_generation_is_caught_up_from_the_log() {
        let (dir, writer, v) = writer_with_vault();
        writer.put_documents(v.id, &(0..30).map(numbered_doc).collect::<Vec<_>>()).unwrap();
        let ids = |store: &EmbeddedStore| {
            let cache = Derivations::<Saved>::new(());
            let info = store.vault("v").unwrap().unwrap();
            store.with_derived(&cache, &info, Space::Chunks, Saved::clone).unwrap()
        };
        let saved = ids(&EmbeddedStore::open_reader(dir.path()).unwrap());
        assert_eq!(saved.rows.len(), 30);
        *FILE.lock().unwrap() = Some(saved.clone());

        writer.put_documents(v.id, &[numbered_doc(30), numbered_doc(31)]).unwrap();
        writer.delete_document(v.id, "s", "7.md").unwrap();
        let reader = EmbeddedStore::open_reader(dir.path()).unwrap();
        let followed = ids(&reader);
        assert_eq!((loads(&reader), log_rows(&reader)), (1, 3), "loaded as saved, then the three changes since");
        assert_eq!(followed.generation, saved.generation + 2);
        *FILE.lock().unwrap() = None;
        assert_eq!(followed, ids(&EmbeddedStore::open_reader(dir.path()).unwrap()), "as loaded from every row");
    }

    /// The log keeps whole generations back to its floor and at least `KEEP` changes; a
    /// follower behind the floor rebuilds, one within it follows.
    #[test]
    fn the_log_is_pruned_to_a_floor_and_followers_behind_it_rebuild() {
        let (dir, writer, v) = writer_with_vault();
        let reader = EmbeddedStore::open_reader(dir.path()).unwrap();
        writer.put_documents(v.id, &[numbered_doc(0)]).unwrap();
        assert_eq!(nearest(&reader, v.id).len(), 1);
        let log = |store: &EmbeddedStore| -> (i64, i64, i64) {
            store
                .conn()
                .query_row(
                    "SELECT (SELECT count(*) FROM changes), (SELECT min(generation) FROM changes), log_floor FROM vaults",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap()
        };
        // Generations of 3 changes each (a replacement removes and adds; a new one adds).
        for i in 1..=40 {
            writer.put_documents(v.id, &[numbered_doc(i), numbered_doc(i - 1)]).unwrap();
        }
        let (rows, oldest, floor) = log(&writer);
        assert!((changes::KEEP..changes::KEEP + 3 * changes::PRUNE_EVERY).contains(&rows), "{rows} rows kept");
        assert_eq!(oldest, floor + 1, "whole generations above the floor");
        assert!(floor > 1);
        let before = loads(&reader);
        assert_eq!(nearest(&reader, v.id).len(), 41);
        assert_eq!(loads(&reader), before + 1, "behind the floor: rebuilt");
        writer.put_documents(v.id, &[numbered_doc(41)]).unwrap();
        let read = log_rows(&reader);
        assert_eq!(nearest(&reader, v.id).len(), 42);
        assert_eq!((loads(&reader), log_rows(&reader)), (before + 1, read + 1), "within the log: followed");
    }
}
