//! An organization's secrets (source tokens, provider keys that `config.yaml` names as
//! `${secret:NAME}`): `GET /v1/org/secrets`, `PUT /v1/org/secrets/{name}`,
//! `DELETE /v1/org/secrets/{name}` (owners and admins). Values go in and are never answered:
//! the store keeps them encrypted with `auth.key_encryption_secret` (see
//! `trove_engine::secrets`), and the audit log records who set or deleted which name.

use axum::Json as JsonOut;
use axum::http::StatusCode;
use trove_types::{PutSecret, SecretInfo};

use crate::call::{Caller, EngineCall};
use crate::error::{ApiError, Json, Path};
use crate::openapi::{BadRequest, NotFound, SecretPath};

/// `GET /v1/org/secrets`.
#[utoipa::path(
    get, path = "/v1/org/secrets", operation_id = "secrets_list", tag = "secrets",
    responses(
        (status = 200, description = "The organization's secrets by name: names and times, never values.", body = Vec<SecretInfo>),
        (status = 409, description = "No `auth.key_encryption_secret` is configured (`secrets_disabled`)."),
    )
)]
pub async fn list(caller: Caller) -> Result<JsonOut<Vec<SecretInfo>>, ApiError> {
    caller.json(move |e, principal| e.secrets(principal)).await
}

/// `PUT /v1/org/secrets/{name}`.
#[utoipa::path(
    put, path = "/v1/org/secrets/{name}", operation_id = "secrets_put", tag = "secrets",
    params(SecretPath), request_body = PutSecret,
    responses(
        (status = 201, description = "Stored, encrypted; the value is never shown again.", body = SecretInfo),
        (status = 200, description = "Replaced.", body = SecretInfo),
        (status = 400, response = BadRequest),
        (status = 409, description = "No `auth.key_encryption_secret` is configured (`secrets_disabled`)."),
    )
)]
pub async fn put(
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<PutSecret>,
) -> Result<(StatusCode, JsonOut<SecretInfo>), ApiError> {
    let (info, created) = caller.run(move |e, principal| e.secret_set(principal, &name, &body.value)).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, JsonOut(info)))
}

/// `DELETE /v1/org/secrets/{name}`.
#[utoipa::path(
    delete, path = "/v1/org/secrets/{name}", operation_id = "secrets_delete", tag = "secrets",
    params(SecretPath),
    responses(
        (status = 204, description = "Deleted; sources that name it fail at their next sync until it is set again."),
        (status = 404, response = NotFound),
    )
)]
pub async fn delete(caller: Caller, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    caller.no_content(move |e, principal| e.secret_delete(principal, &name)).await
}
