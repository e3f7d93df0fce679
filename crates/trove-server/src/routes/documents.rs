//! A vault's documents: `GET /v1/vaults/{vault}/documents?limit=&cursor=` (pages in id
//! order), `GET /v1/vaults/{vault}/documents/{id}` (with its chunks) and
//! `DELETE /v1/vaults/{vault}/documents/{id}`.

use axum::Json as JsonOut;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trove_types::{DocumentDetail, DocumentPage};

use crate::error::{ApiError, Path, Query};
use crate::{AppState, blocking};

/// The query of a document listing.
#[derive(Debug, Deserialize)]
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
pub async fn list(
    State(state): State<AppState>,
    Path(vault): Path<String>,
    Query(p): Query<ListParams>,
) -> Result<JsonOut<DocumentPage>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.documents_list(&vault, p.cursor.as_deref(), p.limit)).await?))
}

/// `GET /v1/vaults/{vault}/documents/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Path((vault, id)): Path<(String, String)>,
) -> Result<JsonOut<DocumentDetail>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.document_get(&vault, &id)).await?))
}

/// `DELETE /v1/vaults/{vault}/documents/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    Path((vault, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    blocking(&state, move |e| e.document_delete(&vault, &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
