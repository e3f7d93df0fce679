//! Engine errors: the errors of the crates below, plus what only the engine can judge
//! (unknown vaults and sources, a vault embedded by another model, bad requests).

use trove_types::{Code, HasCode};

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] trove_config::ConfigError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] trove_store::StoreError),
    /// Embedding.
    #[error(transparent)]
    Embed(#[from] trove_embed::EmbedError),
    /// Asking the chat model.
    #[error(transparent)]
    Chat(#[from] trove_chat::ChatError),
    /// A source as a whole (not one document) failed.
    #[error(transparent)]
    Ingest(#[from] trove_ingest::IngestError),
    /// No such vault.
    #[error("no vault named `{name}`{}", known_list(known))]
    VaultNotFound {
        /// The name asked for.
        name: String,
        /// The vaults that exist.
        known: Vec<String>,
    },
    /// The vault is configured but was never ingested.
    #[error("vault `{name}` has no index yet: run `trove ingest --vault {name}` first")]
    VaultEmpty {
        /// The vault.
        name: String,
    },
    /// No such source in the vault.
    #[error("vault `{vault}` has no source named `{name}`{}", known_list(known))]
    SourceNotFound {
        /// The vault.
        vault: String,
        /// The name asked for.
        name: String,
        /// The sources that exist.
        known: Vec<String>,
    },
    /// The vault's vectors were made by a model no configured embedder makes.
    #[error(
        "vault `{vault}` holds vectors of `{stored}` ({stored_dim} dimensions), which no configured embedder makes (the vault is configured for `{configured}`, {configured_dim} dimensions): re-embed it from its stored text with `trove ingest --vault {vault}` or POST /v1/vaults/{vault}/reembed (keyword search works meanwhile), or restore the embedder that made them in config.yaml"
    )]
    EmbedderMismatch {
        /// The vault.
        vault: String,
        /// The model recorded for the vault.
        stored: String,
        /// Its dimension.
        stored_dim: usize,
        /// The configured model.
        configured: String,
        /// Its dimension.
        configured_dim: usize,
    },
    /// No live memory with that id in the vault.
    #[error("no memory `{id}` in vault `{vault}` (it may have expired or been deleted)")]
    MemoryNotFound {
        /// The vault.
        vault: String,
        /// The id asked for.
        id: String,
    },
    /// None of the caller's live conversations in the vault has that id.
    #[error("no conversation `{id}` of yours in vault `{vault}` (it may have expired or been deleted)")]
    ConversationNotFound {
        /// The vault.
        vault: String,
        /// The id asked for.
        id: String,
    },
    /// No document with that id in the vault.
    #[error(
        "no document `{id}` in vault `{vault}` (document ids are the numbers listed by GET /v1/vaults/{vault}/documents)"
    )]
    DocumentNotFound {
        /// The vault.
        vault: String,
        /// The id asked for.
        id: String,
    },
    /// No chunk with that id in the vault.
    #[error("vault `{vault}` has no chunk {id}; pass a chunk_id from a search hit of this vault")]
    ChunkNotFound {
        /// The vault.
        vault: String,
        /// The id asked for.
        id: i64,
    },
    /// A vault of that name exists already.
    #[error("vault `{name}` already exists")]
    VaultExists {
        /// The vault.
        name: String,
    },
    /// The vault is defined in the configuration file.
    #[error(
        "vault `{name}` is defined in config.yaml; remove it there (and restart) to delete it, or delete its documents one by one"
    )]
    VaultConfigured {
        /// The vault.
        name: String,
    },
    /// No job (or no dead job) with that id.
    #[error("{}", job_not_found(id, *dead_letter))]
    JobNotFound {
        /// The id asked for.
        id: String,
        /// Whether the dead-letter queue was asked.
        dead_letter: bool,
    },
    /// The job's status does not allow the operation.
    #[error("job `{id}` is {status} and cannot be {action}{fix}")]
    JobConflict {
        /// The job.
        id: String,
        /// Its status.
        status: &'static str,
        /// What was asked (`cancelled`, `retried`, `deleted`).
        action: &'static str,
        /// What to do instead (starts with `; `), or empty.
        fix: &'static str,
    },
    /// An uploaded document's format has no converter.
    #[error("`{uri}` has no supported extension; upload one of: {supported} (or send JSON with a `format`)")]
    UnsupportedUpload {
        /// The document.
        uri: String,
        /// The supported extensions.
        supported: String,
    },
    /// No document of an upload could be read.
    #[error("no document of the upload could be read: {}", failures.join("; "))]
    UploadUnreadable {
        /// Why, per document.
        failures: Vec<String>,
    },
    /// A job attempt was stopped before it finished.
    #[error("{0}")]
    Stopped(StopReason),
    /// Authentication or an account operation failed; the code says which (missing or invalid
    /// key, forbidden, user exists, weak password, unknown organization or key).
    #[error("{message}")]
    Auth {
        /// One of the auth codes.
        code: Code,
        /// What was wrong and how to fix it.
        message: String,
    },
    /// The request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// Mail could not be sent (the SMTP server is unreachable, refuses, or TLS failed).
    #[error("{0}")]
    MailFailed(String),
    /// A worker thread died; a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a job attempt stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Cancellation was asked for.
    Cancelled,
    /// The attempt ran past the job time limit.
    TimedOut {
        /// The limit, in seconds.
        limit_s: u64,
    },
    /// The worker lost its lease (another worker may run the job).
    LeaseLost,
    /// The server is shutting down; the job goes back to the queue.
    ShuttingDown,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Cancelled => write!(f, "the job was cancelled"),
            StopReason::TimedOut { limit_s } => write!(
                f,
                "the attempt ran longer than the job time limit of {limit_s} s (jobs.timeout_s); split the upload or raise the limit"
            ),
            StopReason::LeaseLost => write!(f, "the worker lost its lease on the job; another attempt takes over"),
            StopReason::ShuttingDown => write!(f, "the server is shutting down; the job resumes when it starts again"),
        }
    }
}

fn job_not_found(id: &str, dead_letter: bool) -> String {
    if dead_letter {
        format!("no job `{id}` in the dead-letter queue (GET /v1/dlq lists it; a retried job is back in /v1/jobs)")
    } else {
        format!("no job `{id}` (GET /v1/jobs lists them; finished jobs are kept for jobs.keep_finished_days)")
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() { String::new() } else { format!(" (known: {})", known.join(", ")) }
}

impl HasCode for EngineError {
    fn code(&self) -> Code {
        match self {
            EngineError::Config(e) => e.code(),
            EngineError::Store(e) => e.code(),
            EngineError::Embed(e) => e.code(),
            EngineError::Chat(e) => e.code(),
            EngineError::Ingest(e) => e.code(),
            EngineError::VaultNotFound { .. } => Code::VaultNotFound,
            EngineError::VaultEmpty { .. } => Code::VaultNotFound,
            EngineError::SourceNotFound { .. } => Code::SourceNotFound,
            EngineError::EmbedderMismatch { .. } => Code::EmbedderMismatch,
            EngineError::MemoryNotFound { .. } => Code::MemoryNotFound,
            EngineError::ConversationNotFound { .. } => Code::ConversationNotFound,
            EngineError::DocumentNotFound { .. } | EngineError::ChunkNotFound { .. } => Code::DocumentNotFound,
            EngineError::VaultExists { .. } => Code::VaultExists,
            EngineError::VaultConfigured { .. } => Code::VaultConfigured,
            EngineError::JobNotFound { .. } => Code::JobNotFound,
            EngineError::JobConflict { .. } => Code::JobStateConflict,
            EngineError::UnsupportedUpload { .. } => Code::UnsupportedMediaType,
            EngineError::UploadUnreadable { .. } => Code::DocumentUnreadable,
            EngineError::Stopped(StopReason::TimedOut { .. }) => Code::Timeout,
            EngineError::Stopped(_) => Code::Cancelled,
            EngineError::Auth { code, .. } => *code,
            EngineError::BadRequest(_) => Code::BadRequest,
            EngineError::MailFailed(_) => Code::MailFailed,
            EngineError::Internal(_) => Code::Internal,
        }
    }
}
