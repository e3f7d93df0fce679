//! Reading beyond a search hit, as every transport asks and answers it: the chunks around a
//! hit in its document, the documents most like a hit's, and how fresh a vault is (its counts,
//! its sources' last syncs and its recent ingest jobs). The requests only carry what a caller
//! chooses; their limits are checked by the engine, once for REST, MCP and the CLI.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{SourceSummary, VaultSummary};

/// What to read around a chunk: `before`/`after` neighbouring chunks, or its whole section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContextRequest {
    /// Chunks before the hit (0–20, default 2).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 20)]
    #[param(minimum = 0, maximum = 20)]
    pub before: Option<usize>,
    /// Chunks after the hit (0–20, default 2).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 20)]
    #[param(minimum = 0, maximum = 20)]
    pub after: Option<usize>,
    /// Every chunk under the same heading as the hit instead (default false).
    #[serde(default)]
    pub section: Option<bool>,
}

/// The document a context or similarity answer is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContextDocument {
    /// Numeric id (as listed by the vault's documents).
    pub id: i64,
    /// Its stable URI within its source.
    pub uri: String,
    /// Title.
    pub title: String,
    /// The source (within the vault) that yielded it.
    pub source: String,
}

/// One chunk of a context answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContextChunk {
    /// Stable chunk id (as in search hits).
    pub chunk_id: i64,
    /// Position in the document, from 0.
    pub index: u32,
    /// Headings above the chunk, outermost first.
    pub heading_path: Vec<String>,
    /// Text.
    pub text: String,
    /// Whether this is the chunk asked about.
    pub is_hit: bool,
}

/// The chunks around a hit, in document order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChunkContext {
    /// The hit's document.
    pub document: ContextDocument,
    /// The chunks, in order; the hit's has `is_hit`.
    pub chunks: Vec<ContextChunk>,
}

/// How many similar documents to find.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SimilarRequest {
    /// Documents wanted (1–20, default 5).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 20)]
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<usize>,
}

/// A document like the one asked about, with its best matching passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimilarDocument {
    /// Its stable URI within its source.
    pub uri: String,
    /// Title.
    pub title: String,
    /// The source (within the vault) that yielded it.
    pub source: String,
    /// Higher is more alike.
    pub score: f32,
    /// Its best matching chunk (pass it to the context or similarity calls).
    pub chunk_id: i64,
    /// Headings above that chunk.
    pub heading_path: Vec<String>,
    /// That chunk's text.
    pub text: String,
}

/// Documents like a hit's document, best first; the document itself is left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimilarDocuments {
    /// The document matched against.
    pub document: ContextDocument,
    /// The others, best first.
    pub similar: Vec<SimilarDocument>,
}

/// A job as an ingest status lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobBrief {
    /// Opaque id (`job_…`).
    pub id: String,
    /// `upload`, `sync` or `reembed`.
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `dead` or `cancelled`.
    pub status: String,
    /// Enqueued (RFC 3339).
    pub created_at: String,
    /// When it reached its final status.
    pub finished_at: Option<String>,
    /// Why its latest attempt failed.
    pub error: Option<String>,
    /// What a successful run did.
    pub result: Option<serde_json::Value>,
}

/// How fresh a vault is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestStatus {
    /// The vault and its counts.
    pub vault: VaultSummary,
    /// Its sources with their last syncs.
    pub sources: Vec<SourceSummary>,
    /// Its newest jobs (up to 20), when the caller may see jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_jobs: Option<Vec<JobBrief>>,
    /// Its jobs in the dead-letter queue (up to 20), when the caller may see jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs: Option<Vec<JobBrief>>,
    /// Why the jobs are not shown, when they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<String>,
}
