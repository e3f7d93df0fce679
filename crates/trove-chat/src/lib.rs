//! Chat models for Trove's answers: the [`ChatModel`] trait and [`ChatClient`], its
//! implementation over OpenAI-compatible chat completions (OpenAI, Azure OpenAI, and the
//! OpenAI-compatible routes of Ollama, vLLM and LiteLLM).
//!
//! Layout:
//! - `client.rs`: [`ChatClient`] and [`ChatOptions`]: one request, whole ([`ChatModel::complete`])
//!   or streamed ([`ChatModel::stream`]), with the networking of the REST embedders: time
//!   limits, bounded retries with backoff and `Retry-After`, the client-side [`trove_http::Quota`]
//!   (requests and tokens per minute, requests in flight, a pause after a 429), the proxy, the
//!   CA bundle ([`trove_http::tls`]) and the circuit breaker ([`trove_http::Breaker`]).
//! - `stream.rs`: Server-Sent Events (`data:` chunks up to `[DONE]`) read as [`ChatEvent`]s;
//!   dropping the [`ChatStream`] closes the connection, which stops the generation upstream.
//! - `vision.rs`: [`VisionClient`]: captions of images (`llm.models.vision`), the image sent as a
//!   `data:` URL beside the prompt.
//! - `transcribe.rs`: [`TranscriptionClient`]: speech to text over `/audio/transcriptions`
//!   (`llm.models.transcription`), segments with their time ranges.
//! - `media.rs`: [`MediaError`], the failures of both, told apart as "retry later" (429, time
//!   limits, 5xx, the breaker open) or permanent (400, an unsupported file); magic-byte checks.
//! - `error.rs`: [`ChatError`], mapped to `trove_types::Code` (`chat_unauthorized`,
//!   `chat_model_not_found`, `chat_throttled`, `chat_timeout`, `chat_unavailable`...).
//! - `testing.rs` (feature `testing`): a fake OpenAI-compatible chat server on `127.0.0.1:0`.
//!
//! Tokens are estimated, not counted ([`trove_http::estimate_tokens`], one per three bytes):
//! no tokenizer of the remote model is at hand, and the estimate over-counts English, so a
//! prompt packed to a budget by it fits the model's context.

mod client;
mod error;
pub mod media;
mod stream;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod transcribe;
mod vision;

use serde::Serialize;

pub use crate::client::{ChatClient, ChatOptions, ChatProtocol};
pub use crate::error::{ChatError, ModelRole};
pub use crate::media::MediaError;
pub use crate::stream::ChatStream;
pub use crate::transcribe::{AUDIO_TYPES, Segment, Transcript, TranscriptionClient, TranscriptionOptions};
pub use crate::vision::{Caption, DEFAULT_CAPTION_PROMPT, VisionClient, VisionOptions};
pub use trove_http::estimate_tokens;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The instructions.
    System,
    /// The question (and, here, the retrieved text, fenced as data).
    User,
    /// An earlier answer.
    Assistant,
}

/// One message of a conversation with the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message { role: Role::System, content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message { role: Role::User, content: content.into() }
    }
}

/// Tokens a generation used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens of the answer.
    pub completion_tokens: u64,
    /// The server did not say, so these are Trove's estimates.
    pub estimated: bool,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The answer's text.
    pub text: String,
    /// Tokens used.
    pub usage: Usage,
    /// Why the model stopped (`stop`, `length`...), when it said.
    pub finish_reason: Option<String>,
}

/// What a streamed answer yields.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The next piece of the answer.
    Delta(String),
    /// The answer is complete (always the last event).
    Finished {
        /// Tokens used.
        usage: Usage,
        /// Why the model stopped, when it said.
        finish_reason: Option<String>,
    },
}

/// A chat model: what the engine asks for answers.
pub trait ChatModel: Send + Sync {
    /// `<provider>/<model>`, for logs, metrics and answers.
    fn model_id(&self) -> &str;

    /// Tokens of the model's context window that a prompt may fill (the answer's tokens
    /// are kept apart: see [`ChatModel::max_output_tokens`]).
    fn context_tokens(&self) -> usize;

    /// The most tokens an answer may have.
    fn max_output_tokens(&self) -> usize;

    /// Estimated tokens of `text`.
    fn count_tokens(&self, text: &str) -> usize {
        estimate_tokens(text)
    }

    /// The whole answer to `messages`.
    fn complete(&self, messages: &[Message]) -> Result<Completion, ChatError>;

    /// The answer to `messages` as it is generated. Dropping the stream stops the generation.
    fn stream(&self, messages: &[Message]) -> Result<ChatStream, ChatError>;
}

/// Estimated tokens of a prompt: its messages' text and a few tokens of framing each.
pub fn prompt_tokens(messages: &[Message]) -> usize {
    messages.iter().map(|m| estimate_tokens(&m.content) + 4).sum()
}
