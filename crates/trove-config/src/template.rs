//! The files `trove init` writes: a commented `config.yaml`, `.env.example`, and a first
//! document so that a new workspace can be ingested and searched at once.

/// The commented default configuration.
pub const CONFIG_YAML: &str = r#"# Trove workspace configuration.
#
# Values may use ${VAR} or ${VAR:-default}; variables come from the environment, then from
# .env beside this file. Any key can also be overridden with TROVE__SECTION__KEY, e.g.
# TROVE__SEARCH__DEFAULT_LIMIT=20. Check the result with `trove config`.

storage:
  # embedded: SQLite in data_dir, zero services; several processes (agents' `trove mcp`, an
  # ingest, a server) write it at once, one transaction at a time.
  # postgres: PostgreSQL with pgvector, shared by several `trove serve` nodes (each keeps its
  # uploads, git mirrors and crawl state in data_dir). Copy an embedded workspace there with
  # `trove migrate --to postgres://...` (vectors included, nothing re-embedded).
  backend: embedded
  # This workspace's own files (and the embedded store), relative to this folder.
  data_dir: .trove
  # embedded: how long a write waits for another process's write to commit before it fails
  # with workspace_busy.
  write_wait_s: 5
  # postgres:
  #   url: ${TROVE_PG_URL}        # postgres://USER:PASSWORD@HOST:PORT/DATABASE
  #   pool_size: 16               # connections per node
  #   connect_timeout_s: 5
  #   statement_timeout_s: 30     # the server cancels longer statements
  #   acquire_timeout_s: 10       # a request waits this long for a free connection

embedder:
  # The built-in all-MiniLM-L6-v2 model (384 dimensions), computed locally and offline.
  provider: builtin
  # Where the model files are; when unset: $TROVE_MODEL_DIR, then Trove's cache folder.
  # model_dir: /opt/trove/models/all-MiniLM-L6-v2
  # Install the model into the cache folder when it is missing (`trove model install`).
  auto_install: true
  # Texts per forward pass, and threads (0 = all cores).
  batch_size: 32
  threads: 0
  # f32, or int16: integer linear layers, somewhat faster on AVX2 (see the README), vectors
  # within a cosine of 0.9999 of f32 ones (vectors already stored stay valid).
  precision: f32
  # CLIP, for images searchable by meaning (docs/models.md says which files to download):
  # clip:
  #   model_dir: /opt/trove/models/clip   # unset: $TROVE_CLIP_DIR, then the cache folder
  #   url: https://huggingface.co/ORG/REPO/resolve/REVISION   # for `trove model install clip`
  #   sha256: <64 hex digits of that model.safetensors>

# A REST embeddings API instead of the built-in model: set embedder.provider to `llm`.
# Changing the model later: `trove ingest` (or POST /v1/vaults/NAME/reembed) re-embeds each
# vault from its stored text; searches use the old vectors until the atomic switch at the end.
# llm:
#   provider: openai            # openai | azure_openai | ollama | custom (any OpenAI-compatible server)
#   base_url: https://api.openai.com/v1
#   api_key: ${OPENAI_API_KEY}  # never printed or logged
#   # api_version: 2024-10-21   # azure_openai only
#   models:
#     embeddings: text-embedding-3-small   # azure_openai: the deployment name
#   embeddings:
#     vector_size: 1536         # required: a response of another dimension is refused
#     batch_size: 64            # texts per request
#     max_input_tokens: 8191
#   request:
#     timeout_s: 30             # per HTTP request
#     max_retries: 5            # on 429 (honouring Retry-After), 5xx, timeouts, connection errors
#     backoff_min_s: 0.5
#     backoff_max_s: 30
#   rate_limits:                # 0 = unlimited
#     rpm: 0
#     tpm: 0
#     concurrency: 4
#   tls:
#     ca_file: /etc/ssl/corp-ca.pem   # trust a private CA too (added to the built-in roots)
# HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment are honoured.

# More REST embedders by name (the same keys as llm:), for vaults that pick one with
# `vaults.NAME.embedder: NAME` (or `builtin`, or `llm`):
# embedders:
#   local-ollama:
#     provider: ollama
#     base_url: http://localhost:11434
#     models: {embeddings: nomic-embed-text}
#     embeddings: {vector_size: 768}

# A chat model answers questions over a vault (`trove ask`, POST /v1/vaults/NAME/answer):
# `models.chat` under llm:, or an entry here (the same keys as llm:). `trove doctor --only chat`.
# Media models of llm: (the same connection, retries and limits): `models.vision` captions
# images over chat completions, `models.transcription` turns speech into text over
# /audio/transcriptions. `trove doctor --only vision,transcription`.
# llm:
#   models: {vision: gpt-4o-mini, transcription: whisper-1}
#   vision: {max_output_tokens: 300, timeout_s: 120}
#   transcription: {base_timeout_s: 60, seconds_per_audio_second: 1.0}
# chat_models:
#   local:
#     provider: ollama          # reached at its OpenAI-compatible route (base_url + /v1)
#     base_url: http://localhost:11434
#     models: {chat: llama3.1}
#     chat: {context_tokens: 8192, max_output_tokens: 1024}

search:
  default_mode: hybrid   # hybrid | semantic | keyword
  default_limit: 10
  rrf_k: 60              # reciprocal rank fusion constant
  candidates: 100        # results each retriever contributes to hybrid fusion

ingest:
  max_file_bytes: 10485760       # larger files are reported and skipped
  max_unpacked_bytes: 268435456  # most a PDF/DOCX/PPTX/XLSX may unpack to (stops zip bombs)
  convert_timeout_s: 30          # a slower conversion is reported and skipped
  group_chunks: 512              # chunks embedded and committed together

log:
  level: info            # error | warn | info | debug | trace
  format: text           # text | json

server:
  # `trove serve` listens here (`--bind ADDR` wins); use 0.0.0.0:7700 to accept other hosts.
  bind: 127.0.0.1:7700
  request_timeout_s: 30      # a slower request is answered 503 `timeout`
  max_body_bytes: 10485760   # a larger request body is answered 413 `payload_too_large`
  shutdown_grace_s: 10       # on SIGTERM/SIGINT, in-flight requests get this long to finish

vaults:
  # A vault is the unit of knowledge and of access: sources, documents and memories.
  default:
    description: Documents in the workspace's docs/ folder
    # embedder: builtin    # builtin | llm | a name under embedders: (default: embedder.provider)
    chunking:
      max_tokens: 200      # model tokens per chunk (the model reads at most 256)
      overlap_tokens: 32   # repeated between consecutive chunks of one section
    sources:
      docs:
        type: localfile
        path: docs
        include: ["**/*"]
        exclude: []
        # Empty means every supported type: md, txt, rst, html, json, pdf, docx, pptx,
        # xlsx and source code.
        file_types: []
      # A git branch, local or remote (read from git's objects, re-reading only files whose
      # content changed since the last sync):
      # code:
      #   type: git
      #   repo: https://github.com/acme/handbook.git   # or a local clone, ssh://, git@host:path
      #   branch: main                                 # default: the repository's default
      #   token: ${GIT_TOKEN}                          # HTTPS; or ssh_key: keys/deploy
      #   include: ["docs/**"]
"#;

/// `.env.example`: documents the variables the configuration may use.
pub const ENV_EXAMPLE: &str = r#"# Copy to .env and fill in. Variables here are visible to ${VAR} in config.yaml;
# the process environment wins over this file. Never commit .env.

# Where the built-in model lives (optional; default: Trove's cache folder).
# TROVE_MODEL_DIR=/opt/trove/models/all-MiniLM-L6-v2

# Any setting can be overridden: TROVE__SECTION__KEY=value
# TROVE__LOG__LEVEL=debug
# TROVE__SEARCH__DEFAULT_LIMIT=20
"#;

/// A first document for the `docs/` folder.
pub const WELCOME_MD: &str = r#"# Welcome to Trove

Trove keeps a searchable index of the documents in this folder. Add Markdown, text,
reStructuredText, HTML, JSON or source files here, then run `trove ingest`.

## Searching

`trove search "your question"` finds passages by meaning and by keywords (hybrid search).
Use `--mode keyword` for exact terms or `--mode semantic` for meaning only.

## Keeping it fresh

Run `trove ingest` again after changes: unchanged files are skipped, changed files are
re-indexed, and deleted files disappear from the index.
"#;
