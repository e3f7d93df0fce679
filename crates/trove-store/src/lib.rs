//! Where Trove keeps what it knows. This crate owns the storage traits ([`StoreRead`],
//! [`StoreWrite`]) that the engine is written against, the embedded backend
//! ([`embedded::EmbeddedStore`]: SQLite in WAL mode as the system of record, FTS5 for BM25 in
//! the same transaction, and a vector index derived from SQLite), the workspace's
//! single-writer [`lock`], and the [`conformance`] suite that every backend must pass.
//!
//! Invariants: only store crates know SQL; a document's chunks, vectors and keyword-index
//! rows change together in one transaction, so no reader ever sees a half-written document
//! and a crash leaves either the old or the new version; every stored format carries a schema
//! version and is migrated forward on open (never backward).

pub mod conformance;
pub mod embedded;
mod error;
pub mod lock;
mod types;
mod vector;

pub use error::StoreError;
pub use types::*;

/// Reads. Implementations are cheap to share across threads.
pub trait StoreRead: Send + Sync {
    /// A vault by name.
    fn vault(&self, name: &str) -> Result<Option<VaultInfo>, StoreError>;
    /// All vaults, by name.
    fn vaults(&self) -> Result<Vec<VaultInfo>, StoreError>;
    /// What is stored for one source of a vault: uri, content hash, document id.
    fn document_states(&self, vault: VaultId, source: &str) -> Result<Vec<DocumentState>, StoreError>;
    /// The names of every source that has documents in the vault.
    fn sources_with_documents(&self, vault: VaultId) -> Result<Vec<String>, StoreError>;
    /// BM25 over chunk text and headings. The query is plain text (no operator syntax): its
    /// words are matched with OR semantics. Best first; score higher is better.
    fn keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Vec<Scored>, StoreError>;
    /// Nearest chunks by cosine similarity to `query` (normalised). Best first.
    fn vector_search(
        &self,
        vault: VaultId,
        query: &[f32],
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Vec<Scored>, StoreError>;
    /// Chunks with their document's fields, in the order of `ids` (missing ids are skipped).
    fn chunks(&self, ids: &[ChunkId]) -> Result<Vec<ChunkRecord>, StoreError>;
    /// Counts for a vault.
    fn vault_stats(&self, vault: VaultId) -> Result<VaultStats, StoreError>;
    /// Up to `limit` chunks whose id is greater than `after` and that have no staged vector,
    /// for re-embedding; ascending id.
    fn chunks_to_reembed(&self, vault: VaultId, after: ChunkId, limit: usize) -> Result<Vec<ChunkRecord>, StoreError>;
    /// Internal consistency: every chunk has its vector and keyword row, nothing is orphaned.
    fn check_integrity(&self) -> Result<IntegrityReport, StoreError>;
}

/// Writes. Only one writer exists per embedded workspace (see [`lock`]).
pub trait StoreWrite: StoreRead {
    /// Returns the vault, creating it when absent.
    fn ensure_vault(&self, name: &str) -> Result<VaultInfo, StoreError>;
    /// Records which model made the vault's vectors.
    fn set_vault_embedder(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError>;
    /// Replaces each document (by vault, source and uri) with its new version, chunks and
    /// vectors included, in one transaction: all of them or none.
    fn put_documents(&self, vault: VaultId, docs: &[NewDocument]) -> Result<Vec<DocumentId>, StoreError>;
    /// Removes a document with its chunks, vectors and keyword rows. `false` when absent.
    fn delete_document(&self, vault: VaultId, source: &str, uri: &str) -> Result<bool, StoreError>;
    /// Stages new vectors for re-embedding (not yet searched).
    fn stage_vectors(&self, vault: VaultId, vectors: &[(ChunkId, Vec<f32>)]) -> Result<(), StoreError>;
    /// Atomically switches the vault to its staged vectors and the new model. Fails when a
    /// chunk has no staged vector.
    fn commit_staged_vectors(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError>;
    /// Drops staged vectors (a re-embed that is abandoned).
    fn clear_staged_vectors(&self, vault: VaultId) -> Result<(), StoreError>;
}
