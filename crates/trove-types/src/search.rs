//! Search requests and hits, and the summary of an ingest run: the shapes the CLI prints with
//! `--json` and that the HTTP and MCP transports return.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// How a query is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Keyword (BM25) and vector results fused by reciprocal rank.
    #[default]
    Hybrid,
    /// Vector similarity only.
    Semantic,
    /// BM25 only.
    Keyword,
}

impl SearchMode {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Semantic => "semantic",
            SearchMode::Keyword => "keyword",
        }
    }
}

impl fmt::Display for SearchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SearchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hybrid" => Ok(SearchMode::Hybrid),
            "semantic" => Ok(SearchMode::Semantic),
            "keyword" => Ok(SearchMode::Keyword),
            other => Err(format!("unknown search mode `{other}`: use hybrid, semantic or keyword")),
        }
    }
}

/// Restrictions of a search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchFilters {
    /// Only documents from this source of the vault (see the vault's sources).
    #[serde(default)]
    pub source: Option<String>,
    /// Only documents whose uri starts with this, e.g. `guides/`.
    #[serde(default)]
    pub uri_prefix: Option<String>,
    /// Only documents whose metadata (e.g. Markdown front matter) has each key with this
    /// string, number or boolean value, or an array containing it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What one hit stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Every matching chunk is a hit (a document may appear several times).
    #[default]
    Chunk,
    /// One hit per document: its best chunk, with its other matching chunks' count and ids.
    Document,
}

/// How a hybrid search merges its keyword and vector rankings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FusionMethod {
    /// Reciprocal rank fusion: each list adds `weight / (rrf_k + rank)`; scores are ignored.
    #[default]
    Rrf,
    /// Relative score fusion: each list's scores are scaled to 0–1 (best 1, worst kept 0) and
    /// added with their weight (a convex combination).
    RelativeScore,
}

impl FusionMethod {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FusionMethod::Rrf => "rrf",
            FusionMethod::RelativeScore => "relative_score",
        }
    }
}

/// A hybrid search's fusion, per request (each part defaults to `search.fusion` and
/// `search.keyword_weight`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fusion {
    /// `rrf` or `relative_score`.
    #[serde(default)]
    pub method: Option<FusionMethod>,
    /// The keyword ranking's weight, 0 to 1; the vector ranking weighs 1 minus this.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub keyword_weight: Option<f32>,
}

/// One matching chunk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SearchHit {
    /// The vault the chunk belongs to.
    pub vault: String,
    /// The source (within the vault) that yielded the document.
    pub source: String,
    /// The kind of that source: `localfile`, `git`, `confluence`, `jira`, `publicdocs`,
    /// `upload` (documents sent over the API), or `removed` (a source no longer configured).
    #[serde(default)]
    pub source_type: String,
    /// Where the document lives on the web, to cite: the `url` its connector recorded (a
    /// Confluence page, a JIRA issue, a file on the git host), or its URI when that is a web
    /// address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The document's metadata (Markdown front matter, connector fields), which
    /// `filters.metadata` matches.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// The document's stable URI within its source.
    pub uri: String,
    /// The document's title.
    pub title: String,
    /// The headings above the chunk, outermost first.
    pub heading_path: Vec<String>,
    /// The chunk's text.
    pub text: String,
    /// The chunk's text around the matched terms, with matches wrapped in `**`.
    pub snippet: String,
    /// Higher is better; the scale depends on the mode (cosine, BM25 or fused rank score).
    pub score: f32,
    /// Position of the chunk within its document, from 0.
    pub chunk_index: u32,
    /// Stable id of the chunk.
    pub chunk_id: i64,
    /// Id of the chunk's document (`GET /v1/vaults/{vault}/documents/{id}`).
    pub document_id: i64,
    /// With `group_by: document`: how many other chunks of the document matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_chunks: Option<usize>,
    /// With `group_by: document`: the other matching chunks' ids, best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_chunk_ids: Option<Vec<i64>>,
    /// With `context: N`: the hit's chunk and up to N chunks before and after it in its
    /// document, in document order (the hit's has `is_hit`; fewer at the document's edges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<crate::ContextChunk>>,
}

/// The answer to one query.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SearchResponse {
    /// The query text.
    pub query: String,
    /// The mode used.
    pub mode: SearchMode,
    /// Best first.
    pub hits: Vec<SearchHit>,
}

/// What an ingest run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IngestSummary {
    /// Documents seen for the first time.
    pub added: u64,
    /// Documents whose content changed.
    pub updated: u64,
    /// Documents that disappeared from their source and were removed.
    pub deleted: u64,
    /// Documents whose content hash was unchanged (no embedding work).
    pub unchanged: u64,
    /// Documents that could not be read or parsed (reported, skipped).
    pub failed: u64,
    /// Chunks written.
    pub chunks: u64,
    /// Tokens embedded.
    pub tokens: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// One line per failed document: `uri: reason`.
    pub failures: Vec<String>,
}

impl IngestSummary {
    /// Adds another summary's counts to this one.
    pub fn merge(&mut self, other: IngestSummary) {
        self.added += other.added;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
        self.chunks += other.chunks;
        self.tokens += other.tokens;
        self.failures.extend(other.failures);
    }
}
