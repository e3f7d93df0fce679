//! Trove's workspace configuration: the schema ([`Config`]), how it is loaded
//! ([`Workspace::load`]) and how it is shown ([`redacted_yaml`]).
//!
//! Loading is a pipeline with one purpose per step, each of which can fail with an error that
//! names the file, line and column or the key, and the fix:
//! 1. read `config.yaml` (or the file given with `--config`);
//! 2. substitute `${VAR}` / `${VAR:-default}` from the process environment, then `.env`
//!    ([`vars`]);
//! 3. parse and check against the schema (unknown keys and wrong types are errors);
//! 4. apply `TROVE__SECTION__KEY=value` overrides from the environment and `.env`;
//! 5. validate what serde cannot (names, ranges, paths that must exist).
//!
//! This crate knows nothing of storage, models or transports: it only says what the user asked for.

mod error;
mod load;
mod redact;
mod schema;
pub mod secrets;
pub mod template;
pub mod vars;

pub use error::ConfigError;
pub use load::{
    CONFIG_FILE, EMBEDDER_BUILTIN, EMBEDDER_LLM, ENV_FILE, UPLOAD_SOURCE, Workspace, chat_model_name, is_remote_repo,
    valid_name,
};
pub use redact::{is_secret_key, redacted_yaml};
pub use schema::{
    AnnConfig, AnswersConfig, AtlassianDeployment, AtlassianSite, AuthConfig, ChunkingConfig, ClipConfig, Config,
    ConfluenceConfig, EmbedderConfig, EmbedderPrecision, EmbedderProvider, GitConfig, IngestConfig, JiraConfig,
    JobsConfig, LlmChat, LlmConfig, LlmEmbeddings, LlmModels, LlmProvider, LlmRateLimits, LlmRequest, LlmTls,
    LlmTranscription, LlmVision, LocalFileConfig, LogConfig, LogFormat, MailConfig, MailTransport, PostgresConfig,
    PublicDocsConfig, QdrantConfig, RateLimitsConfig, SearchConfig, ServerConfig, SessionsConfig, SmtpConfig, SmtpTls,
    SourceConfig, StorageBackend, StorageConfig, TlsConfig, VaultConfig, VectorsConfig, WhenNothingFound,
};
