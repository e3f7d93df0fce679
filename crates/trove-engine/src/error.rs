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
    /// The vault's vectors were made by another model.
    #[error(
        "vault `{vault}` was embedded with `{stored}` ({stored_dim} dimensions) but the configuration uses `{configured}` ({configured_dim} dimensions): run `trove ingest --vault {vault} --reembed` to re-embed it from its stored text, or restore the previous embedder in config.yaml"
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
    /// The request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// A worker thread died; a bug.
    #[error("internal error: {0}")]
    Internal(String),
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
            EngineError::Ingest(e) => e.code(),
            EngineError::VaultNotFound { .. } => Code::VaultNotFound,
            EngineError::VaultEmpty { .. } => Code::VaultNotFound,
            EngineError::SourceNotFound { .. } => Code::SourceNotFound,
            EngineError::EmbedderMismatch { .. } => Code::EmbedderMismatch,
            EngineError::MemoryNotFound { .. } => Code::MemoryNotFound,
            EngineError::DocumentNotFound { .. } => Code::DocumentNotFound,
            EngineError::BadRequest(_) => Code::BadRequest,
            EngineError::Internal(_) => Code::Internal,
        }
    }
}
