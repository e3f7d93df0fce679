//! PLACEHOLDER

use crate::*;

pub(crate) fn memory_get(
    s: &PgStore,
    vault: VaultId,
    id: &str,
    now_ms: i64,
) -> Result<Option<MemoryRecord>, StoreError> {
    let _ = (s, vault, id, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_get: not written yet".into() })
}

pub(crate) fn memory_list(
    s: &PgStore,
    vault: VaultId,
    filter: &MemoryFilter,
    after: Option<MemoryCursor>,
    limit: usize,
) -> Result<Vec<MemoryRecord>, StoreError> {
    let _ = (s, vault, filter, after, limit);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_list: not written yet".into() })
}

pub(crate) fn memory_keyword_search(
    s: &PgStore,
    vault: VaultId,
    query: &str,
    filter: &MemoryFilter,
    limit: usize,
) -> Result<Vec<Scored>, StoreError> {
    let _ = (s, vault, query, filter, limit);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_keyword_search: not written yet".into() })
}

pub(crate) fn memory_vector_search(
    s: &PgStore,
    vault: VaultId,
    vector: &[f32],
    filter: &MemoryFilter,
    limit: usize,
) -> Result<Vec<Scored>, StoreError> {
    let _ = (s, vault, vector, filter, limit);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_vector_search: not written yet".into() })
}

pub(crate) fn memory_records(s: &PgStore, rowids: &[i64]) -> Result<Vec<MemoryRecord>, StoreError> {
    let _ = (s, rowids);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_records: not written yet".into() })
}

pub(crate) fn memory_stats(s: &PgStore, vault: VaultId, now_ms: i64) -> Result<MemoryStats, StoreError> {
    let _ = (s, vault, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_stats: not written yet".into() })
}

pub(crate) fn memories_to_reembed(
    s: &PgStore,
    vault: VaultId,
    after: i64,
    limit: usize,
) -> Result<Vec<MemoryRecord>, StoreError> {
    let _ = (s, vault, after, limit);
    Err(StoreError::Database { what: s.what().into(), reason: "memories_to_reembed: not written yet".into() })
}

pub(crate) fn memory_put(
    s: &PgStore,
    vault: VaultId,
    memory: &NewMemory,
    now_ms: i64,
) -> Result<MemoryRecord, StoreError> {
    let _ = (s, vault, memory, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_put: not written yet".into() })
}

pub(crate) fn memory_update(
    s: &PgStore,
    vault: VaultId,
    id: &str,
    patch: &MemoryPatch,
    now_ms: i64,
) -> Result<Option<MemoryRecord>, StoreError> {
    let _ = (s, vault, id, patch, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_update: not written yet".into() })
}

pub(crate) fn memory_delete(s: &PgStore, vault: VaultId, id: &str) -> Result<bool, StoreError> {
    let _ = (s, vault, id);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_delete: not written yet".into() })
}

pub(crate) fn memory_purge_expired(s: &PgStore, now_ms: i64) -> Result<u64, StoreError> {
    let _ = (s, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "memory_purge_expired: not written yet".into() })
}

pub(crate) fn stage_memory_vectors(
    s: &PgStore,
    vault: VaultId,
    vectors: &[(i64, i64, Vec<f32>)],
) -> Result<(), StoreError> {
    let _ = (s, vault, vectors);
    Err(StoreError::Database { what: s.what().into(), reason: "stage_memory_vectors: not written yet".into() })
}
