//! A vault's documents: `GET /v1/vaults/{vault}/documents?limit=&cursor=` (pages in id
//! order), `GET /v1/vaults/{vault}/documents/{id}` (with its chunks) and
//! `DELETE /v1/vaults/{vault}/documents/{id}`.

use axum::Json as JsonOut;
use axum::http::StatusCode;
use serde::Deserialize;
use trove_engine::perm;
use trove_types::{DocumentDetail, DocumentPage};
use utoipa::IntoParams;

use crate::auth::Allowed;
use crate::call::EngineCall;
use crate::error::{ApiError, Path, Query};
use crate::openapi::{BadRequest, NotFound, VaultItemPath, VaultPath};

/// The query of a document listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size (1–1000, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `GET /v1/vaults/{vault}/documents`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/documents", operation_id = "documents_list", tag = "documents",
    params(VaultPath, ListParams),
    responses(
        (status = 200, description = "A page of documents, in id order.", body = DocumentPage),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn list(
    allowed: Allowed<perm::Search>,
    Query(p): Query<ListParams>,
) -> Result<JsonOut<DocumentPage>, ApiError> {
    allowed.json(move |e, access| e.documents_list(access, p.cursor.as_deref(), p.limit)).await
}

/// `GET /v1/vaults/{vault}/documents/{id}`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/documents/{id}", operation_id = "documents_get", tag = "documents",
    params(VaultItemPath),
    responses(
        (status = 200, description = "The document with its chunks.", body = DocumentDetail),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn get(
    allowed: Allowed<perm::Search>,
    Path((_, id)): Path<(String, String)>,
) -> Result<JsonOut<DocumentDetail>, ApiError> {
    allowed.json(move |e, access| e.document_get(access, &id)).await
}

/// `DELETE /v1/vaults/{vault}/documents/{id}`: 204.
#[utoipa::path(
    delete, path = "/v1/vaults/{vault}/documents/{id}", operation_id = "documents_delete", tag = "documents",
    params(VaultItemPath),
    responses(
        (status = 204, description = "Deleted from every index."),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn delete(
    allowed: Allowed<perm::DocumentsWrite>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    allowed.no_content(move |e, access| e.document_delete(access, &id)).await
}
