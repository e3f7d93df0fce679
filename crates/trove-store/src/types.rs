//! Records that cross the storage traits.

use serde::{Deserialize, Serialize};

/// A vault's numeric id.
pub type VaultId = i64;
/// A document's numeric id.
pub type DocumentId = i64;
/// A chunk's numeric id, stable for the life of the chunk.
pub type ChunkId = i64;

/// A vault as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultInfo {
    /// Id.
    pub id: VaultId,
    /// Unique name.
    pub name: String,
    /// The model that made the vault's vectors, once any exist.
    pub model_id: Option<String>,
    /// The vectors' dimension, once any exist.
    pub dimension: Option<usize>,
    /// Incremented by every change to the vault's chunks (derived indexes compare it).
    pub generation: i64,
}

/// What is stored for one document, for incremental sync.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentState {
    /// Id.
    pub id: DocumentId,
    /// URI within its source.
    pub uri: String,
    /// Hash of the content the chunks were made from.
    pub content_hash: String,
}

/// A document to write, with every chunk and its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    /// Source name within the vault.
    pub source: String,
    /// Stable URI within the source.
    pub uri: String,
    /// Title.
    pub title: String,
    /// Content hash (`sha256:<hex>`).
    pub content_hash: String,
    /// Free-form metadata.
    pub metadata: serde_json::Value,
    /// Modification time at the source, milliseconds since the epoch.
    pub modified_unix_ms: Option<i64>,
    /// Chunks in order.
    pub chunks: Vec<NewChunk>,
}

/// A chunk to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    /// Text.
    pub text: String,
    /// Headings above the chunk, outermost first.
    pub heading_path: Vec<String>,
    /// Model tokens in `text`.
    pub token_count: usize,
    /// Normalised vector.
    pub vector: Vec<f32>,
}

/// A chunk read back, with its document's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    /// Chunk id.
    pub id: ChunkId,
    /// Document id.
    pub document_id: DocumentId,
    /// Position in the document.
    pub index: u32,
    /// Source name.
    pub source: String,
    /// Document URI.
    pub uri: String,
    /// Document title.
    pub title: String,
    /// Headings above the chunk.
    pub heading_path: Vec<String>,
    /// Text.
    pub text: String,
    /// Model tokens.
    pub token_count: usize,
}

/// A search result before it is joined with its chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The chunk.
    pub id: ChunkId,
    /// Higher is better.
    pub score: f32,
}

/// Restricts searches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkFilter {
    /// Only this source.
    pub source: Option<String>,
    /// Only documents whose URI starts with this.
    pub uri_prefix: Option<String>,
}

impl ChunkFilter {
    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.source.is_none() && self.uri_prefix.is_none()
    }
}

/// Counts for a vault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VaultStats {
    /// Documents.
    pub documents: u64,
    /// Chunks.
    pub chunks: u64,
    /// Tokens over all chunks.
    pub tokens: u64,
    /// Chunks with a staged (re-embedding) vector.
    pub staged_vectors: u64,
}

/// The result of an integrity check; empty `problems` means consistent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrityReport {
    /// Documents.
    pub documents: u64,
    /// Chunks.
    pub chunks: u64,
    /// Keyword-index rows.
    pub keyword_rows: u64,
    /// Chunks with a vector.
    pub vectors: u64,
    /// Human-readable inconsistencies.
    pub problems: Vec<String>,
}
