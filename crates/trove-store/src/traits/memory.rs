//! [`MemoryStore`]: memories (short texts with a scope, tags, a kind, an importance and an
//! expiry), their history of versions, batches of changes applied in one transaction, their
//! keyword, vector and one-step hybrid search, and staging their vectors for re-embedding.

use crate::{
    HybridQuery, MemoryApplied, MemoryCursor, MemoryFilter, MemoryOp, MemoryPatch, MemoryRecord, MemoryStats,
    MemoryVersion, NewMemory, Scored, StoreError, VaultId,
};

/// Memories.
pub trait MemoryStore: Send + Sync {
    /// A live memory by public id.
    fn memory_get(&self, vault: VaultId, id: &str, now_ms: i64) -> Result<Option<MemoryRecord>, StoreError>;
    /// Live memories matching the filter, newest first, after the cursor.
    fn memory_list(
        &self,
        vault: VaultId,
        filter: &MemoryFilter,
        after: Option<MemoryCursor>,
        limit: usize,
    ) -> Result<Vec<MemoryRecord>, StoreError>;
    /// BM25 over memory text and tags (plain-text query, OR semantics). Best first.
    fn memory_keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError>;
    /// Nearest live memories to `vector`. Best first.
    fn memory_vector_search(
        &self,
        vault: VaultId,
        vector: &[f32],
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError>;
    /// Hybrid memory search in one step, when the backend can; see
    /// [`crate::DocumentStore::hybrid_search`].
    fn memory_hybrid_search(
        &self,
        _vault: VaultId,
        _query: &HybridQuery<'_>,
        _filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        Ok(None)
    }
    /// Memories by the row ids search results carry, in that order (missing ones skipped).
    fn memory_records(&self, rowids: &[i64]) -> Result<Vec<MemoryRecord>, StoreError>;
    /// Counts by scope, tag and age, and storage used.
    fn memory_stats(&self, vault: VaultId, now_ms: i64) -> Result<MemoryStats, StoreError>;
    /// Up to `limit` memories with row id above `after` and no staged vector (re-embedding).
    fn memories_to_reembed(&self, vault: VaultId, after: i64, limit: usize) -> Result<Vec<MemoryRecord>, StoreError>;
    /// Applies `ops` in order, in one transaction: all of them or, on an error, none. Each
    /// change records a version in the memory's history (by `actor`, at `now_ms`). An update or
    /// delete of a memory that is not live, or whose version is not the one expected, fails
    /// the batch with [`StoreError::Stale`] (`found` 0: no such live memory).
    fn memory_apply(
        &self,
        vault: VaultId,
        ops: &[MemoryOp],
        actor: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<MemoryApplied>, StoreError>;
    /// The versions of a memory, oldest first, while it lives or, deleted softly, until its
    /// history is purged; empty when there is none in `vault` with that id.
    fn memory_history(&self, vault: VaultId, id: &str) -> Result<Vec<MemoryVersion>, StoreError>;
    /// Removes the histories of memories deleted softly at or before `before_ms`; returns how
    /// many memories' histories went.
    fn memory_purge_deleted(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Stores a memory (its vector included) and returns it with its new id.
    fn memory_put(&self, vault: VaultId, memory: &NewMemory, now_ms: i64) -> Result<MemoryRecord, StoreError> {
        let op = MemoryOp::Add { memory: memory.clone(), reason: None };
        let mut done = self.memory_apply(vault, &[op], None, now_ms)?;
        done.pop().and_then(|a| a.memory).ok_or_else(|| StoreError::Corrupt("storing a memory returned nothing".into()))
    }
    /// Changes a live memory; `None` when there is none with that id.
    fn memory_update(
        &self,
        vault: VaultId,
        id: &str,
        patch: &MemoryPatch,
        now_ms: i64,
    ) -> Result<Option<MemoryRecord>, StoreError> {
        let op = MemoryOp::Update {
            id: id.to_string(),
            expected_version: None,
            patch: patch.clone(),
            event: crate::MemoryEvent::Update,
            reason: None,
        };
        match self.memory_apply(vault, &[op], None, now_ms) {
            Ok(mut done) => Ok(done.pop().and_then(|a| a.memory)),
            Err(StoreError::Stale { found: 0, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Deletes a memory with its keyword row, vector and history. `false` when absent.
    fn memory_delete(&self, vault: VaultId, id: &str) -> Result<bool, StoreError> {
        let op = MemoryOp::Delete { id: id.to_string(), expected_version: None, soft: false, reason: None };
        match self.memory_apply(vault, &[op], None, i64::MIN) {
            Ok(_) => Ok(true),
            Err(StoreError::Stale { found: 0, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// Deletes every memory whose expiry has passed; returns how many.
    fn memory_purge_expired(&self, now_ms: i64) -> Result<u64, StoreError>;
    /// Stages re-embedded memory vectors as `(rowid, updated_ms, vector)` (switched by
    /// [`crate::VaultStore::commit_staged_vectors`]); a memory updated since `updated_ms` is
    /// skipped, as its text changed.
    fn stage_memory_vectors(&self, vault: VaultId, vectors: &[(i64, i64, Vec<f32>)]) -> Result<(), StoreError>;
}
