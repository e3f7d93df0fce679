//! Reading beyond a search hit: `GET /v1/vaults/{vault}/chunks/{id}/context` (the chunks
//! around a hit, or its section), `GET /v1/vaults/{vault}/chunks/{id}/similar` (documents like
//! the hit's) and `GET /v1/vaults/{vault}/status` (counts, sources' last syncs and, for callers
//! with the `jobs` action, recent and failed jobs). The same engine operations answer the MCP
//! tools `expand_context`, `find_similar` and `ingest_status`, with the same limits.

use axum::Json as JsonOut;
use axum::extract::State;
use trove_engine::perm;
use trove_types::{ChunkContext, ContextRequest, IngestStatus, SimilarDocuments, SimilarRequest};

use crate::auth::Allowed;
use crate::error::{ApiError, Path, Query};
use crate::openapi::{BadRequest, ChunkPath, Conflict, Internal, NotFound, Unavailable, VaultPath};
use crate::{AppState, blocking};

/// `GET /v1/vaults/{vault}/chunks/{id}/context`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/chunks/{id}/context", operation_id = "chunks_context", tag = "vaults",
    params(ChunkPath, ContextRequest),
    responses(
        (status = 200, description = "The chunks around the hit in its document, in order.", body = ChunkContext),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 500, response = Internal), (status = 503, response = Unavailable),
    )
)]
pub async fn context(
    State(state): State<AppState>,
    Allowed(access): Allowed<perm::Search>,
    Path((_, chunk)): Path<(String, i64)>,
    Query(req): Query<ContextRequest>,
) -> Result<JsonOut<ChunkContext>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.chunk_context(&access, chunk, &req)).await?))
}

/// `GET /v1/vaults/{vault}/chunks/{id}/similar`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/chunks/{id}/similar", operation_id = "chunks_similar", tag = "vaults",
    params(ChunkPath, SimilarRequest),
    responses(
        (status = 200, description = "Other documents like the hit's, best first.", body = SimilarDocuments),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 409, response = Conflict), (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn similar(
    State(state): State<AppState>,
    Allowed(access): Allowed<perm::Search>,
    Path((_, chunk)): Path<(String, i64)>,
    Query(req): Query<SimilarRequest>,
) -> Result<JsonOut<SimilarDocuments>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.similar_documents(&access, chunk, &req)).await?))
}

/// `GET /v1/vaults/{vault}/status`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/status", operation_id = "vaults_status", tag = "vaults",
    params(VaultPath),
    responses(
        (status = 200, description = "The vault's counts, sources and recent jobs.", body = IngestStatus),
        (status = 404, response = NotFound), (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Allowed(access): Allowed<perm::Search>,
) -> Result<JsonOut<IngestStatus>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.ingest_status(&access)).await?))
}
