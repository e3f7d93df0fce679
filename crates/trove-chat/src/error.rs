//! [`ChatError`]: what went wrong asking a chat model, with what to check, mapped to
//! [`trove_types::Code`].

use trove_types::{Code, HasCode};

/// A failed request to a chat model. `key` is the configuration section of the model
/// (`llm` or `chat_models.NAME`), so that every message names what to change.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// No chat model is configured.
    #[error("{0}")]
    NotConfigured(String),
    /// The client cannot be built (CA file, proxy URL).
    #[error("the chat model of {key} cannot be used: {detail}")]
    Config {
        /// The configuration section.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// 401/403: the key.
    #[error("{url} refused Trove's key (HTTP {status}: {detail}); check {key}.api_key")]
    Unauthorized {
        /// The configuration section.
        key: String,
        /// The URL called.
        url: String,
        /// 401 or 403.
        status: u16,
        /// What the server said (the key removed).
        detail: String,
    },
    /// 404: the model, deployment or route.
    #[error("{url} does not know the model `{model}` (HTTP 404: {detail}); check {key}.{} and {key}.base_url", role.setting())]
    ModelNotFound {
        /// The configuration section.
        key: String,
        /// The URL called.
        url: String,
        /// The model asked for.
        model: String,
        /// What the model does, which names its setting.
        role: ModelRole,
        /// What the server said.
        detail: String,
    },
    /// Another 4xx, or an answer that is not a chat completion.
    #[error("{url} rejected the request (HTTP {status}: {detail}); {fix}")]
    Rejected {
        /// The URL called.
        url: String,
        /// The HTTP status (200 for an answer that cannot be read, 0 without an answer).
        status: u16,
        /// What the server said.
        detail: String,
        /// What to check.
        fix: String,
    },
    /// 429 until the retries ran out.
    #[error(
        "{url} kept limiting the request rate after {attempts} attempts ({detail}); lower {key}.rate_limits or ask again later"
    )]
    Throttled {
        /// The configuration section.
        key: String,
        /// The URL called.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What the server said last.
        detail: String,
    },
    /// No answer, or a stall mid-answer, within the time limit.
    #[error("{url} {what} within {secs} s; check the model server's load, or raise {key}.request.timeout_s")]
    Timeout {
        /// The configuration section.
        key: String,
        /// The URL called.
        url: String,
        /// `did not answer` or `stalled mid-answer` or `did not finish the answer`.
        what: &'static str,
        /// The limit that ran out, in seconds.
        secs: f64,
    },
    /// 5xx, connection errors, a cut-off answer, until the retries ran out (or the breaker is
    /// open after many such failures).
    #[error(
        "{url} is unavailable ({detail}); check that the model server runs and is reachable (proxy, firewall, {key}.base_url)"
    )]
    Unavailable {
        /// The configuration section.
        key: String,
        /// The URL called.
        url: String,
        /// What happened last.
        detail: String,
    },
}

/// What a model is asked to do, which names the setting under its section that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelRole {
    /// Answers (`models.chat`).
    #[default]
    Chat,
    /// Captions of images (`models.vision`).
    Vision,
    /// Speech to text (`models.transcription`).
    Transcription,
}

impl ModelRole {
    /// `models.chat`, `models.vision` or `models.transcription`.
    pub fn setting(self) -> &'static str {
        match self {
            ModelRole::Chat => "models.chat",
            ModelRole::Vision => "models.vision",
            ModelRole::Transcription => "models.transcription",
        }
    }
}

impl HasCode for ChatError {
    fn code(&self) -> Code {
        match self {
            ChatError::NotConfigured(_) => Code::ChatNotConfigured,
            ChatError::Config { .. } => Code::ConfigInvalid,
            ChatError::Unauthorized { .. } => Code::ChatUnauthorized,
            ChatError::ModelNotFound { .. } => Code::ChatModelNotFound,
            ChatError::Rejected { .. } => Code::ChatRejected,
            ChatError::Throttled { .. } => Code::ChatThrottled,
            ChatError::Timeout { .. } => Code::ChatTimeout,
            ChatError::Unavailable { .. } => Code::ChatUnavailable,
        }
    }
}

impl ChatError {
    /// A short name of the failure's kind, for metrics (`failures by kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            ChatError::NotConfigured(_) => "not_configured",
            ChatError::Config { .. } => "config",
            ChatError::Unauthorized { .. } => "unauthorized",
            ChatError::ModelNotFound { .. } => "model_not_found",
            ChatError::Rejected { .. } => "rejected",
            ChatError::Throttled { .. } => "throttled",
            ChatError::Timeout { .. } => "timeout",
            ChatError::Unavailable { .. } => "unavailable",
        }
    }
}
