//! Answers to questions over a vault: the numbered citations, the tokens used and the times
//! taken, as the engine returns them and the transports show them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a citation points at.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CitationKind {
    /// A chunk of a document.
    #[default]
    Chunk,
    /// One of the asking user's memories in the vault.
    Memory,
}

/// One retrieved chunk (or memory) the answer may cite as `[n]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Citation {
    /// The number the answer's text cites it by, from 1.
    pub n: u32,
    /// A document's chunk, or a memory.
    #[serde(default)]
    pub kind: CitationKind,
    /// Id of the chunk's document (0 for a memory).
    pub document_id: i64,
    /// Stable id of the chunk (0 for a memory).
    pub chunk_id: i64,
    /// The memory's id, for a memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_id: Option<String>,
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
    /// The conversation this answer is a turn of (a new one unless the request named one).
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The standalone question retrieval used, when a follow-up was rewritten.
    #[serde(default)]
    pub rewritten_question: Option<String>,
}

/// A conversation as listed: its id, title and times.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ConversationSummary {
    /// Its id (`cnv_…`), for `conversation_id`.
    pub id: String,
    /// The vault it asks about.
    pub vault: String,
    /// Its first question, shortened.
    pub title: String,
    /// How many turns it has.
    pub turns: u64,
    /// When it was started (RFC 3339).
    pub created_at: String,
    /// When its last turn was added (RFC 3339).
    pub updated_at: String,
    /// When it will be purged unless continued (RFC 3339).
    pub expires_at: String,
}

/// A page of the caller's conversations in a vault, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ConversationPage {
    /// The conversations.
    pub conversations: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One question and its answer in a conversation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ConversationTurn {
    /// The question as asked.
    pub question: String,
    /// The standalone question retrieval used, when it was rewritten.
    pub rewritten_question: Option<String>,
    /// The answer.
    pub answer: String,
    /// The answer's citations.
    pub citations: Vec<Citation>,
    /// When it was asked (RFC 3339).
    pub created_at: String,
}

/// A conversation with its turns, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Conversation {
    /// What it is.
    #[serde(flatten)]
    pub summary: ConversationSummary,
    /// Its turns, oldest first.
    pub turns: Vec<ConversationTurn>,
}
