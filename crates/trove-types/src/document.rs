//! Vaults and documents as the transports list them: a vault's counts, a page of documents,
//! and one document with its chunks. Times are RFC 3339 strings in UTC.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A vault, configured or stored, with its counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct VaultSummary {
    /// Unique name.
    pub name: String,
    /// The model that made the vault's vectors (`null` until something is embedded).
    pub model: Option<String>,
    /// The vectors' dimension.
    pub dimension: Option<usize>,
    /// Documents indexed.
    pub documents: u64,
    /// Chunks indexed.
    pub chunks: u64,
    /// Whether `config.yaml` names the vault (a stored vault may have been removed from it).
    pub configured: bool,
    /// The model the configuration gives the vault. When it differs from `model`, queries and
    /// new vectors keep using `model` until a re-embed switches the vault.
    pub configured_model: String,
    /// Its dimension.
    pub configured_dimension: usize,
    /// A re-embed in progress (or interrupted, resumed by the next one).
    pub reembedding: Option<Reembedding>,
}

/// A vault's re-embed in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Reembedding {
    /// The model new vectors are staged for.
    pub model: String,
    /// Its dimension.
    pub dimension: usize,
    /// Chunks re-embedded so far (memories are re-embedded after them).
    pub staged_chunks: u64,
    /// Chunks in the vault.
    pub chunks: u64,
}

/// A source of a vault: configured (`localfile`, ...) or `uploads` (documents sent over HTTP).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SourceSummary {
    /// Its name within the vault.
    pub name: String,
    /// `localfile`, or `upload` for the uploads source.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it reads from (a folder), when it has such a place.
    pub location: Option<String>,
    /// Documents indexed from it.
    pub documents: u64,
    /// Whether `config.yaml` defines it (only configured sources can be synced).
    pub configured: bool,
    /// The outcome of its last completed sync (by `trove ingest` or a sync or upload job);
    /// absent before the first.
    pub last_sync: Option<SourceSync>,
}

/// What a completed sync of a source did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SourceSync {
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Documents new to the index.
    pub added: u64,
    /// Documents re-indexed because they changed.
    pub updated: u64,
    /// Documents removed because the source no longer has them.
    pub deleted: u64,
    /// Documents skipped because they did not change.
    pub unchanged: u64,
    /// Documents that could not be read or converted.
    pub failed: u64,
    /// Why, for the first few failures.
    pub failures: Vec<String>,
}

/// One indexed document, without its chunks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DocumentSummary {
    /// Numeric id, stable until the document is deleted.
    pub id: i64,
    /// The source (within the vault) that yielded it.
    pub source: String,
    /// Its stable URI within the source.
    pub uri: String,
    /// Title.
    pub title: String,
    /// Hash of the content the chunks were made from (`sha256:<hex>`).
    pub content_hash: String,
    /// Number of chunks.
    pub chunks: u64,
    /// Model tokens over all chunks.
    pub tokens: u64,
    /// When it was last (re)indexed.
    pub indexed_at: String,
    /// Its modification time at the source, when known.
    pub modified_at: Option<String>,
}

/// A page of documents, in id order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DocumentPage {
    /// The documents.
    pub documents: Vec<DocumentSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One chunk of a document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DocumentChunk {
    /// Stable chunk id (as in search hits).
    pub id: i64,
    /// Position in the document, from 0.
    pub index: u32,
    /// Headings above the chunk, outermost first.
    pub heading_path: Vec<String>,
    /// Text.
    pub text: String,
    /// Model tokens.
    pub token_count: usize,
}

/// A document with its metadata and chunks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DocumentDetail {
    /// The document's fields.
    pub document: DocumentSummary,
    /// Metadata extracted at conversion (front matter, HTML meta, ...).
    pub metadata: serde_json::Value,
    /// Chunks in order.
    pub chunks: Vec<DocumentChunk>,
}
