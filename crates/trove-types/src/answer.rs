//! Answers to questions over a vault: the numbered citations, the tokens used and the times
//! taken, as the engine returns them and the transports show them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One retrieved chunk the answer may cite as `[n]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Citation {
    /// The number the answer's text cites it by, from 1.
    pub n: u32,
    /// Id of the chunk's document.
    pub document_id: i64,
    /// Stable id of the chunk.
    pub chunk_id: i64,
    /// The document's URI within its source.
    pub uri: String,
    /// The document's title.
    pub title: String,
    /// The document's web address, when its URI is one (`http://`, `https://`).
    pub url: Option<String>,
    /// The headings above the chunk, outermost first.
    pub heading_path: Vec<String>,
    /// The chunk's text around the question's terms.
    pub snippet: String,
}

/// Tokens an answer used.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct AnswerUsage {
    /// Tokens of the prompt (instructions, sources, question).
    pub prompt_tokens: u64,
    /// Tokens of the answer.
    pub completion_tokens: u64,
    /// The model's server did not say, so these are Trove's estimates.
    pub estimated: bool,
}

/// A whole answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AnswerResponse {
    /// The answer, citing sources as `[n]` (every number names one of `citations`).
    pub answer: String,
    /// The sources given to the model, best first.
    pub citations: Vec<Citation>,
    /// Tokens used (zero when the model was not asked).
    pub usage: AnswerUsage,
    /// The chat model that answered (`provider/model`); `None` when it was not asked.
    pub model: Option<String>,
    /// Milliseconds spent retrieving.
    pub retrieval_ms: u64,
    /// Milliseconds spent generating.
    pub generation_ms: u64,
}
