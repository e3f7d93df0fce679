//! API keys of the calling key's organization: `GET /v1/keys`, `POST /v1/keys` (the answer
//! holds the new secret, shown once) and `DELETE /v1/keys/{id}` (revoke); and `POST /v1/tokens`,
//! a signed (JWT) token for one of a backend's end users. Needs `admin`; nothing created
//! reaches vaults or holds actions its creator does not.

use axum::Json as JsonOut;
use axum::http::StatusCode;
use serde::Deserialize;
use trove_engine::auth::key_principal;
use trove_types::{Action, ApiKeyInfo, CreatedApiKey, MintRequest, MintedToken};
use utoipa::ToSchema;

use crate::auth::Made;
use crate::call::{Caller, EngineCall};
use crate::error::{ApiError, Json, Path};
use crate::openapi::{BadRequest, KeyPath, NotFound};

/// The body of `POST /v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for.
    pub name: String,
    /// Vault names it may use, or `["*"]` for every vault of the organization.
    pub vaults: Vec<String>,
    /// Actions it may perform.
    pub actions: Vec<Action>,
    /// Days until it stops working (default: never).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// `GET /v1/keys`.
#[utoipa::path(
    get, path = "/v1/keys", operation_id = "keys_list", tag = "keys",
    responses(
        (status = 200, description = "The organization's keys (never their secrets), oldest first.", body = Vec<ApiKeyInfo>),
        (status = 400, response = BadRequest),
    )
)]
pub async fn list(caller: Caller) -> Result<JsonOut<Vec<ApiKeyInfo>>, ApiError> {
    caller.json(move |e, principal| e.api_keys(&key_principal(principal)?.organization_name)).await
}

/// `POST /v1/keys`.
#[utoipa::path(
    post, path = "/v1/keys", operation_id = "keys_create", tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The new key; `key` is its secret, shown only now.", body = CreatedApiKey),
        (status = 400, response = BadRequest),
    )
)]
pub async fn create(caller: Caller, Json(body): Json<CreateKey>) -> Result<Made<CreatedApiKey>, ApiError> {
    let created = caller
        .run(move |e, principal| {
            e.create_api_key_as(principal, &body.name, body.vaults, body.actions, body.expires_in_days)
        })
        .await?;
    Ok(Made::created(format!("key:{}", created.info.id), created))
}

/// `DELETE /v1/keys/{id}`: revokes a key of the organization (it stops working at once).
#[utoipa::path(
    delete, path = "/v1/keys/{id}", operation_id = "keys_revoke", tag = "keys",
    params(KeyPath),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, response = NotFound),
    )
)]
pub async fn revoke(caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.no_content(move |e, principal| e.revoke_api_key(&key_principal(principal)?.organization_name, &id)).await
}

/// `POST /v1/tokens`: a signed token for an end user (needs `auth.jwt.secret`).
#[utoipa::path(
    post, path = "/v1/tokens", operation_id = "tokens_mint", tag = "keys",
    request_body = MintRequest,
    responses(
        (status = 201, description = "The signed token (HS256 JWT), for `Authorization: Bearer`.", body = MintedToken),
        (status = 400, response = BadRequest),
    )
)]
pub async fn mint(caller: Caller, Json(body): Json<MintRequest>) -> Result<Made<MintedToken>, ApiError> {
    let subject = body.subject.clone();
    let minted = caller
        .run(move |e, principal| e.mint_token(principal, &body.subject, body.vaults, body.actions, body.ttl_s))
        .await?;
    Ok(Made::created(format!("jwt:{subject}"), minted))
}
