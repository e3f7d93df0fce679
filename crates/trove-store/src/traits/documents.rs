//! [`DocumentStore`]: documents and their chunks (written whole, one transaction per batch),
//! keyword, vector and one-step hybrid search over chunks, staging chunk vectors for
//! re-embedding, and the outcome of each source's last sync.

use crate::{
    ChunkFilter, ChunkId, ChunkRecord, DocumentId, DocumentRecord, DocumentState, HybridQuery, NewDocument, Scored,
    StoreError, VaultId, VaultStats,
};

/// Documents, chunks and their search.
pub trait DocumentStore: Send + Sync {
    /// What is stored for one source of a vault: uri, content hash, document id.
    fn document_states(&self, vault: VaultId, source: &str) -> Result<Vec<DocumentState>, StoreError>;
    /// The names of every source that has documents in the vault.
    fn sources_with_documents(&self, vault: VaultId) -> Result<Vec<String>, StoreError>;
    /// Up to `limit` documents of the vault with id greater than `after`, ascending id.
    fn documents(&self, vault: VaultId, after: DocumentId, limit: usize) -> Result<Vec<DocumentRecord>, StoreError>;
    /// One document of the vault by id (`None` when absent or in another vault).
    fn document(&self, vault: VaultId, id: DocumentId) -> Result<Option<DocumentRecord>, StoreError>;
    /// A document's chunks in order (empty when the document is absent).
    fn document_chunks(&self, document: DocumentId) -> Result<Vec<ChunkRecord>, StoreError>;
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
    /// Hybrid search answered by the backend in one step, when it can (an external index that
    /// holds both sparse and dense vectors: Qdrant); `None` when the caller should fuse
    /// [`Self::keyword_search`] and [`Self::vector_search`] itself (with
    /// [`crate::fusion::rrf`]), which is the default. A backend that answers must fuse as
    /// [`crate::fusion::rrf`] does.
    fn hybrid_search(
        &self,
        _vault: VaultId,
        _query: &HybridQuery<'_>,
        _filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        Ok(None)
    }
    /// Chunks with their document's fields, in the order of `ids` (missing ids are skipped).
    fn chunks(&self, ids: &[ChunkId]) -> Result<Vec<ChunkRecord>, StoreError>;
    /// Counts for a vault.
    fn vault_stats(&self, vault: VaultId) -> Result<VaultStats, StoreError>;
    /// Up to `limit` chunks whose id is greater than `after` and that have no staged vector,
    /// for re-embedding; ascending id.
    fn chunks_to_reembed(&self, vault: VaultId, after: ChunkId, limit: usize) -> Result<Vec<ChunkRecord>, StoreError>;
    /// Replaces each document (by vault, source and uri) with its new version, chunks and
    /// vectors included, in one transaction: all of them or none.
    fn put_documents(&self, vault: VaultId, docs: &[NewDocument]) -> Result<Vec<DocumentId>, StoreError>;
    /// Removes a document with its chunks, vectors and keyword rows. `false` when absent.
    fn delete_document(&self, vault: VaultId, source: &str, uri: &str) -> Result<bool, StoreError>;
    /// Stages new vectors for re-embedding (not yet searched).
    fn stage_vectors(&self, vault: VaultId, vectors: &[(ChunkId, Vec<f32>)]) -> Result<(), StoreError>;
    /// Each source's last completed sync: (source, finished unix ms, summary JSON), by source.
    fn source_syncs(&self, vault: VaultId) -> Result<Vec<(String, i64, String)>, StoreError>;
    /// Records (replacing the previous one) the outcome of a source's completed sync.
    fn source_sync_record(
        &self,
        vault: VaultId,
        source: &str,
        finished_ms: i64,
        summary: &str,
    ) -> Result<(), StoreError>;
}
