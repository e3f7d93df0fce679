//! The error-code table. Every typed error in every crate maps to one [`Code`] through
//! [`HasCode`]; the code alone decides the HTTP status, the CLI exit code, the error `type`
//! and the documentation link. Adding a code means adding one row to [`Code::info`], whose
//! `match` has no wildcard arm, so a new code cannot go unmapped.

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

/// A stable, documented error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// The configuration file could not be found.
    ConfigNotFound,
    /// The configuration file is not valid YAML or does not match the schema.
    ConfigInvalid,
    /// A `${VAR}` in the configuration names a variable that is not set.
    ConfigMissingVariable,
    /// A path named in the configuration does not exist or is not usable.
    ConfigBadPath,
    /// The workspace already exists where `init` was asked to create one.
    WorkspaceExists,
    /// A vault named in a request does not exist.
    VaultNotFound,
    /// A source named in a request does not exist.
    SourceNotFound,
    /// A remote source (a git remote, a wiki, a tracker, a web site) cannot be reached: DNS,
    /// connection, TLS or a timeout. Retried.
    SourceUnreachable,
    /// A remote source answered but refused: bad credentials, no permission, or the
    /// repository, space or project does not exist. Not retried: the configuration must change.
    SourceRefused,
    /// A memory id names no live memory in the vault.
    MemoryNotFound,
    /// A request argument is malformed (bad query, bad limit, bad JSON line).
    BadRequest,
    /// The embedding model files are missing.
    ModelNotInstalled,
    /// The embedding model files exist but are corrupt or do not match their checksum.
    ModelInvalid,
    /// Installing the model failed.
    ModelInstallFailed,
    /// Computing an embedding failed.
    EmbeddingFailed,
    /// A vault's vectors were made by another model or dimension than the configured one.
    EmbedderMismatch,
    /// A remote embeddings API refused Trove's key (401/403).
    EmbedderUnauthorized,
    /// A remote embeddings API rejected the request (400/404/422: model, deployment or URL).
    EmbedderRejected,
    /// A remote embeddings API kept failing (429, 5xx, timeouts, connection errors) after retries.
    EmbedderUnavailable,
    /// A remote embeddings API returned vectors of another dimension than configured.
    EmbedderDimension,
    /// Vectors were written to a vault before the model that made them was recorded for it.
    EmbedderNotRecorded,
    /// Answers need a chat model and none is configured (`llm.models.chat` or `chat_models:`).
    ChatNotConfigured,
    /// The chat model's API refused Trove's key (401/403).
    ChatUnauthorized,
    /// The chat model's API does not know the model or deployment (404).
    ChatModelNotFound,
    /// The chat model's API rejected the request (another 4xx, or an answer it cannot mean).
    ChatRejected,
    /// The chat model's API kept limiting the request rate (429) after retries.
    ChatThrottled,
    /// The chat model did not answer, or stalled mid-answer, within its time limit.
    ChatTimeout,
    /// The chat model's API kept failing (5xx, connection errors) after retries.
    ChatUnavailable,
    /// Another live process holds the workspace's writer lock.
    WorkspaceLocked,
    /// The store could not be opened, read or written.
    StoreFailed,
    /// The store was written by a newer Trove.
    StoreTooNew,
    /// The database server cannot be reached, refused the connection, or did not answer in
    /// time (a transient condition: retry later; health shows which dependency is down).
    StoreUnavailable,
    /// A file could not be read from disk.
    IoFailed,
    /// A document could not be parsed or converted.
    DocumentUnreadable,
    /// A document id names no document in the vault.
    DocumentNotFound,
    /// No HTTP route has that path.
    NotFound,
    /// The HTTP route exists but not with that method.
    MethodNotAllowed,
    /// A request body is not syntactically valid JSON.
    MalformedJson,
    /// A request body or query is valid JSON but has wrong types, missing or unknown fields.
    InvalidFields,
    /// A request body is larger than the server accepts.
    PayloadTooLarge,
    /// A request body was sent without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// The server did not finish the request (or a job its attempt) within its time limit.
    Timeout,
    /// A vault of that name already exists.
    VaultExists,
    /// The vault is defined in the configuration file, which the API does not edit.
    VaultConfigured,
    /// A job id names no job (or no dead job, for the dead-letter queue).
    JobNotFound,
    /// The job's status does not allow the operation (cancel a finished job, delete a running one).
    JobStateConflict,
    /// The operation was cancelled before it finished.
    Cancelled,
    /// A request to a protected route came without `Authorization: Bearer <key>`.
    MissingAuthorization,
    /// The API key is unknown, malformed, revoked or expired.
    InvalidApiKey,
    /// A login named an unknown email or a wrong password.
    InvalidCredentials,
    /// The session is unknown, expired, revoked, or its user left the organization.
    InvalidSession,
    /// A write authenticated by the session cookie lacked the session's `X-CSRF-Token`.
    CsrfRejected,
    /// No live session of the user has that id.
    SessionNotFound,
    /// The change would leave the organization without an owner.
    LastOwner,
    /// The identity is valid but lacks the permission the operation needs.
    Forbidden,
    /// A user with that email already exists.
    UserExists,
    /// An email names no user.
    UserNotFound,
    /// A password does not meet the policy (too short, too long).
    InvalidPassword,
    /// An organization name names no organization.
    OrganizationNotFound,
    /// An API key id names no key of the organization.
    ApiKeyNotFound,
    /// Mail could not be sent: the SMTP server is unreachable, refused, or TLS failed.
    MailFailed,
    /// A mailed link's token is unknown, used or expired.
    InvalidToken,
    /// The account's email is not verified yet (`auth.require_email_verification`).
    EmailUnverified,
    /// An invitation id names no pending invitation of the organization.
    InvitationNotFound,
    /// A team id or name names no team of the organization.
    TeamNotFound,
    /// The organization already has a team of that name.
    TeamExists,
    /// The vault has no grant for that member or team.
    GrantNotFound,
    /// No secret of that name in the organization.
    SecretNotFound,
    /// Secrets cannot be stored or read: no `auth.key_encryption_secret` is configured.
    SecretsDisabled,
    /// A stored secret cannot be decrypted with the configured key encryption secrets.
    SecretUnreadable,
    /// The server was asked to listen on a non-loopback address without authentication.
    InsecureBind,
    /// Too many requests; retry after the time the answer names.
    RateLimited,
    /// A bug.
    Internal,
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
}

impl Code {
    /// The table: name, kind, HTTP status and exit code of every code.
    pub const fn info(self) -> CodeInfo {
        use ErrorKind::*;
        let (name, kind, http_status, exit_code) = match self {
            Code::ConfigNotFound => ("config_not_found", InvalidRequest, 400, 78),
            Code::ConfigInvalid => ("config_invalid", InvalidRequest, 400, 78),
            Code::ConfigMissingVariable => ("config_missing_variable", InvalidRequest, 400, 78),
            Code::ConfigBadPath => ("config_bad_path", InvalidRequest, 400, 78),
            Code::WorkspaceExists => ("workspace_exists", InvalidRequest, 409, 73),
            Code::VaultNotFound => ("vault_not_found", InvalidRequest, 404, 66),
            Code::SourceNotFound => ("source_not_found", InvalidRequest, 404, 66),
            Code::SourceUnreachable => ("source_unreachable", System, 503, 69),
            Code::SourceRefused => ("source_refused", InvalidRequest, 502, 77),
            Code::MemoryNotFound => ("memory_not_found", InvalidRequest, 404, 66),
            Code::BadRequest => ("bad_request", InvalidRequest, 400, 64),
            Code::ModelNotInstalled => ("model_not_installed", System, 503, 69),
            Code::ModelInvalid => ("model_invalid", System, 503, 69),
            Code::ModelInstallFailed => ("model_install_failed", System, 503, 69),
            Code::EmbeddingFailed => ("embedding_failed", System, 502, 69),
            Code::EmbedderMismatch => ("embedder_mismatch", InvalidRequest, 409, 65),
            Code::EmbedderUnauthorized => ("embedder_unauthorized", System, 502, 77),
            Code::EmbedderRejected => ("embedder_rejected", System, 502, 78),
            Code::EmbedderUnavailable => ("embedder_unavailable", System, 503, 69),
            Code::EmbedderDimension => ("embedder_dimension", System, 502, 78),
            Code::EmbedderNotRecorded => ("embedder_not_recorded", InvalidRequest, 409, 65),
            Code::ChatNotConfigured => ("chat_not_configured", InvalidRequest, 409, 78),
            Code::ChatUnauthorized => ("chat_unauthorized", System, 502, 77),
            Code::ChatModelNotFound => ("chat_model_not_found", System, 502, 78),
            Code::ChatRejected => ("chat_rejected", System, 502, 78),
            Code::ChatThrottled => ("chat_throttled", System, 503, 75),
            Code::ChatTimeout => ("chat_timeout", System, 504, 75),
            Code::ChatUnavailable => ("chat_unavailable", System, 503, 69),
            Code::WorkspaceLocked => ("workspace_locked", System, 423, 75),
            Code::StoreFailed => ("store_failed", System, 500, 74),
            Code::StoreTooNew => ("store_too_new", System, 500, 74),
            Code::StoreUnavailable => ("store_unavailable", System, 503, 69),
            Code::IoFailed => ("io_failed", System, 500, 74),
            Code::DocumentUnreadable => ("document_unreadable", InvalidRequest, 422, 65),
            Code::DocumentNotFound => ("document_not_found", InvalidRequest, 404, 66),
            Code::NotFound => ("not_found", InvalidRequest, 404, 64),
            Code::MethodNotAllowed => ("method_not_allowed", InvalidRequest, 405, 64),
            Code::MalformedJson => ("malformed_json", InvalidRequest, 400, 65),
            Code::InvalidFields => ("invalid_fields", InvalidRequest, 422, 65),
            Code::PayloadTooLarge => ("payload_too_large", InvalidRequest, 413, 65),
            Code::UnsupportedMediaType => ("unsupported_media_type", InvalidRequest, 415, 65),
            Code::Timeout => ("timeout", System, 503, 75),
            Code::VaultExists => ("vault_exists", InvalidRequest, 409, 73),
            Code::VaultConfigured => ("vault_configured", InvalidRequest, 409, 65),
            Code::JobNotFound => ("job_not_found", InvalidRequest, 404, 66),
            Code::JobStateConflict => ("job_state_conflict", InvalidRequest, 409, 65),
            Code::Cancelled => ("cancelled", System, 409, 130),
            Code::MissingAuthorization => ("missing_authorization", Auth, 401, 77),
            Code::InvalidApiKey => ("invalid_api_key", Auth, 401, 77),
            Code::InvalidCredentials => ("invalid_credentials", Auth, 401, 77),
            Code::InvalidSession => ("invalid_session", Auth, 401, 77),
            Code::CsrfRejected => ("csrf_rejected", Auth, 403, 77),
            Code::SessionNotFound => ("session_not_found", InvalidRequest, 404, 67),
            Code::LastOwner => ("last_owner", InvalidRequest, 409, 65),
            Code::Forbidden => ("forbidden", Auth, 403, 77),
            Code::UserExists => ("user_exists", InvalidRequest, 409, 73),
            Code::UserNotFound => ("user_not_found", InvalidRequest, 404, 67),
            Code::InvalidPassword => ("invalid_password", InvalidRequest, 400, 65),
            Code::OrganizationNotFound => ("organization_not_found", InvalidRequest, 404, 66),
            Code::ApiKeyNotFound => ("api_key_not_found", InvalidRequest, 404, 66),
            Code::MailFailed => ("mail_failed", System, 502, 69),
            Code::InvalidToken => ("invalid_token", InvalidRequest, 400, 65),
            Code::EmailUnverified => ("email_unverified", Auth, 403, 77),
            Code::InvitationNotFound => ("invitation_not_found", InvalidRequest, 404, 66),
            Code::TeamNotFound => ("team_not_found", InvalidRequest, 404, 66),
            Code::TeamExists => ("team_exists", InvalidRequest, 409, 73),
            Code::GrantNotFound => ("grant_not_found", InvalidRequest, 404, 66),
            Code::SecretNotFound => ("secret_not_found", InvalidRequest, 404, 66),
            Code::SecretsDisabled => ("secrets_disabled", InvalidRequest, 409, 78),
            Code::SecretUnreadable => ("secret_unreadable", System, 500, 78),
            Code::InsecureBind => ("insecure_bind", InvalidRequest, 400, 78),
            Code::RateLimited => ("rate_limited", Auth, 429, 75),
            Code::Internal => ("internal", Internal, 500, 70),
        };
        CodeInfo { name, kind, http_status, exit_code }
    }

    /// The documentation link for this code.
    pub fn link(self) -> String {
        format!("https://trove.invalid/docs/errors#{}", self.info().name)
    }
}

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
    /// Where the code is documented.
    pub link: String,
}

impl ErrorBody {
    /// Builds the body of an error.
    pub fn from_error<E: HasCode + std::fmt::Display + ?Sized>(err: &E) -> Self {
        let code = err.code();
        let info = code.info();
        ErrorBody {
            message: err.to_string(),
            code: info.name.to_string(),
            kind: info.kind.as_str().to_string(),
            link: code.link(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_distinct_names_and_sane_statuses() {
        let all = [
            Code::ConfigNotFound,
            Code::ConfigInvalid,
            Code::ConfigMissingVariable,
            Code::ConfigBadPath,
            Code::WorkspaceExists,
            Code::VaultNotFound,
            Code::SourceNotFound,
            Code::SourceUnreachable,
            Code::SourceRefused,
            Code::MemoryNotFound,
            Code::BadRequest,
            Code::ModelNotInstalled,
            Code::ModelInvalid,
            Code::ModelInstallFailed,
            Code::EmbeddingFailed,
            Code::EmbedderMismatch,
            Code::EmbedderUnauthorized,
            Code::EmbedderRejected,
            Code::EmbedderUnavailable,
            Code::EmbedderDimension,
            Code::EmbedderNotRecorded,
            Code::ChatNotConfigured,
            Code::ChatUnauthorized,
            Code::ChatModelNotFound,
            Code::ChatRejected,
            Code::ChatThrottled,
            Code::ChatTimeout,
            Code::ChatUnavailable,
            Code::WorkspaceLocked,
            Code::StoreFailed,
            Code::StoreTooNew,
            Code::StoreUnavailable,
            Code::IoFailed,
            Code::DocumentUnreadable,
            Code::DocumentNotFound,
            Code::NotFound,
            Code::MethodNotAllowed,
            Code::MalformedJson,
            Code::InvalidFields,
            Code::PayloadTooLarge,
            Code::UnsupportedMediaType,
            Code::Timeout,
            Code::VaultExists,
            Code::VaultConfigured,
            Code::JobNotFound,
            Code::JobStateConflict,
            Code::Cancelled,
            Code::MissingAuthorization,
            Code::InvalidApiKey,
            Code::InvalidCredentials,
            Code::InvalidSession,
            Code::CsrfRejected,
            Code::SessionNotFound,
            Code::LastOwner,
            Code::Forbidden,
            Code::UserExists,
            Code::UserNotFound,
            Code::InvalidPassword,
            Code::OrganizationNotFound,
            Code::ApiKeyNotFound,
            Code::MailFailed,
            Code::InvalidToken,
            Code::EmailUnverified,
            Code::InvitationNotFound,
            Code::TeamNotFound,
            Code::TeamExists,
            Code::GrantNotFound,
            Code::SecretNotFound,
            Code::SecretsDisabled,
            Code::SecretUnreadable,
            Code::InsecureBind,
            Code::RateLimited,
            Code::Internal,
        ];
        let mut names: Vec<_> = all.iter().map(|c| c.info().name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for c in all {
            let info = c.info();
            assert!((400..600).contains(&info.http_status), "{c:?}");
            assert!(info.exit_code > 1, "{c:?}: exit codes 0 and 1 are reserved");
            // The serde name and the table name agree.
            assert_eq!(serde_json::to_value(c).unwrap(), info.name);
        }
    }
}
