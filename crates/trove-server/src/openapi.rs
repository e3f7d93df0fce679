//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`. It is generated from
//! the code and cannot drift from the router: [`crate::router`] registers every handler with
//! `utoipa_axum::routes!`, which adds the route and the handler's `#[utoipa::path]` operation
//! in one step, and the document is the one that registration collects (built once, then
//! cached). This module holds what the operations share: the error answers (all
//! [`ErrorBody`], referenced by status; the `500` and `503` that every `/v1` operation may
//! answer are added to each here, not written in each handler), the path parameters, and the
//! documentation-only shapes of bodies that handlers read by hand (the multipart upload, the
//! memory listing's query).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use trove_types::ErrorBody;
use utoipa::openapi::Ref;
use utoipa::{IntoParams, OpenApi, ToResponse, ToSchema};

/// The parts of the document that no route contributes: `info`, tags and shared components.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trove",
        description = "A self-hosted knowledge and memory server: vaults of indexed documents (searched by keyword, meaning or both), agents' memories, and the job queue that ingests uploads and source syncs. Every error is answered as `{message, code, type, link}` with the HTTP status of its code."
    ),
    components(
        schemas(ErrorBody),
        responses(BadRequest, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType, InvalidFields, Internal, Unavailable, BadGateway, GatewayTimeout)
    ),
    tags(
        (name = "probes", description = "Liveness, readiness, health, metrics and this document."),
        (name = "vaults", description = "Vaults, their sources and search."),
        (name = "answers", description = "Questions answered by the configured chat model from a vault's documents, with numbered citations."),
        (name = "documents", description = "A vault's indexed documents and uploads."),
        (name = "memories", description = "Agents' memories."),
        (name = "jobs", description = "The job queue and its dead-letter queue."),
        (name = "audit", description = "The audit log of security events and changes to data."),
        (name = "keys", description = "API keys of the calling key's organization."),
        (name = "sessions", description = "Log in with email and password; list and end sessions."),
        (name = "members", description = "Members of the caller's organization and their roles."),
        (name = "secrets", description = "Secrets of the caller's organization (source tokens, provider keys), stored encrypted and never answered."),
        (name = "mcp", description = "The Model Context Protocol endpoint (streamable HTTP) for agents."),
        (name = "docs", description = "The error reference that every error's `link` points into."),
    )
)]
pub struct ApiDoc;

/// The document, as JSON (built on first use).
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = crate::api(0).split_for_parts().1;
        add_shared_failures(&mut doc);
        doc.to_json().expect("the OpenAPI document serialises")
    })
}

/// Adds what every `/v1` operation may answer besides its own answers, so that no handler
/// repeats it: `500` ([`Internal`]: the store or the disk failed) and `503` ([`Unavailable`]:
/// the request outran its time limit, or the model is not usable).
fn add_shared_failures(doc: &mut utoipa::openapi::OpenApi) {
    let shared = [("500", "Internal"), ("503", "Unavailable")];
    for (_, item) in doc.paths.paths.iter_mut().filter(|(path, _)| path.starts_with("/v1/")) {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            for (status, name) in shared {
                let answers = &mut operation.responses.responses;
                answers.entry(status.to_string()).or_insert_with(|| Ref::from_response_name(name).into());
            }
        }
    }
}

/// `GET /openapi.json`.
#[utoipa::path(
    get, path = "/openapi.json", operation_id = "openapi", tag = "probes",
    responses((status = 200, description = "This OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

/// `bad_request` or `malformed_json`: an argument, the query string or the JSON body is malformed.
#[derive(ToResponse)]
pub struct BadRequest(pub ErrorBody);

/// `vault_not_found`, `source_not_found`, `document_not_found`, `memory_not_found` or
/// `job_not_found`: what the path names does not exist.
#[derive(ToResponse)]
pub struct NotFound(pub ErrorBody);

/// `vault_exists`, `vault_configured`, `embedder_mismatch` or `job_state_conflict`: the current
/// state does not allow the operation.
#[derive(ToResponse)]
pub struct Conflict(pub ErrorBody);

/// `payload_too_large`: the body is larger than `server.max_body_bytes` (`server.max_upload_bytes`
/// for uploads).
#[derive(ToResponse)]
pub struct PayloadTooLarge(pub ErrorBody);

/// `unsupported_media_type`: the body was sent with another `Content-Type` than the operation
/// accepts.
#[derive(ToResponse)]
pub struct UnsupportedMediaType(pub ErrorBody);

/// `invalid_fields` or `document_unreadable`: the JSON body has wrong types, missing or unknown
/// fields, or a document cannot be read.
#[derive(ToResponse)]
pub struct InvalidFields(pub ErrorBody);

/// `store_failed`, `io_failed` or `internal`: the server could not read or write its data.
#[derive(ToResponse)]
pub struct Internal(pub ErrorBody);

/// `timeout` (the request outran `server.request_timeout_s`), `model_*` (the embedding model is
/// not usable), or `chat_throttled` / `chat_unavailable` (the chat model's server limits Trove's
/// rate, or cannot be reached).
#[derive(ToResponse)]
pub struct Unavailable(pub ErrorBody);

/// `chat_unauthorized`, `chat_model_not_found` or `chat_rejected`: the chat model's server
/// refused Trove's request (its key, its model, or the request).
#[derive(ToResponse)]
pub struct BadGateway(pub ErrorBody);

/// `chat_timeout`: the chat model did not answer, or stalled, within its time limit.
#[derive(ToResponse)]
pub struct GatewayTimeout(pub ErrorBody);

/// Path parameters of a vault's routes.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VaultPath {
    /// The vault's name.
    pub vault: String,
}

/// Path parameters of a vault's document or memory.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VaultItemPath {
    /// The vault's name.
    pub vault: String,
    /// The document's or memory's id.
    pub id: String,
}

/// Path parameters of a chunk of a vault (as in search hits).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ChunkPath {
    /// The vault's name.
    pub vault: String,
    /// The chunk's id (`chunk_id` of a search hit).
    pub id: i64,
}

/// Path parameters of a vault's source.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SourcePath {
    /// The vault's name.
    pub vault: String,
    /// The source's name within the vault.
    pub source: String,
}

/// Path parameter of an API key.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// The key's id (`key_…`).
    pub id: String,
}

/// Path parameter of a member.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The user's id (`usr_…`).
    pub id: String,
}

/// Path parameter of an invitation.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InvitationPath {
    /// The invitation's id (`inv_…`).
    pub id: String,
}

/// Path parameter of a team.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TeamPath {
    /// The team's id (`team_…`) or name.
    pub id: String,
}

/// Path parameters of a secret.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SecretPath {
    /// The secret's name (letters, digits, `_`, `-`, `.`).
    pub name: String,
}

/// Path parameters of a team's member.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TeamMemberPath {
    /// The team's id (`team_…`) or name.
    pub id: String,
    /// The member's id (`usr_…`) or email.
    pub member: String,
}

/// Path parameters of a vault's grant.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GrantPath {
    /// The vault's name.
    pub vault: String,
    /// The grantee: a member's id (`usr_…`) or email, or a team's id (`team_…`) or name.
    pub grantee: String,
}

/// Path parameter of a session.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SessionPath {
    /// The session's id (`ses_…`).
    pub id: String,
}

/// Path parameter of a job.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobPath {
    /// The job's id (`job_…`).
    pub id: String,
}

/// The query of `GET /v1/vaults/{vault}/memories` (read by hand, so that `tag` can repeat).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemoryListParams {
    /// Only this user's.
    pub user_id: Option<String>,
    /// Only this agent's.
    pub agent_id: Option<String>,
    /// Only this session's.
    pub session_id: Option<String>,
    /// Only memories with all of these tags (repeat the parameter).
    #[param(style = Form, explode)]
    pub tag: Option<Vec<String>>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<String>,
    /// Created before (RFC 3339).
    pub created_before: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
}

/// The `multipart/form-data` body of an upload: every part with a file name is a document whose
/// uri is that file name (the part's name does not matter); a `format` part names the format of
/// the files after it.
#[derive(Debug, ToSchema)]
pub struct UploadForm {
    /// `markdown`, `text`, `html`, `rst`, `json` or a code language (default: from each file
    /// name's extension).
    pub format: Option<String>,
    /// The files.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn refs<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
        match v {
            Value::Object(m) => {
                out.extend(m.get("$ref").and_then(Value::as_str));
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc: Value = serde_json::from_str(super::json()).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20, "{found:?}");
        for r in found {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc: Value = serde_json::from_str(super::json()).unwrap();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        let all = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all, "{ids:?}");
    }
}
