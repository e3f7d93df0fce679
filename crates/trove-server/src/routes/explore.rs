//! Reading beyond a search hit: `GET /v1/vaults/{vault}/chunks/{id}/context` (the chunks
//! around a hit, or its section), `GET /v1/vaults/{vault}/chunks/{id}/similar` (documents like
//! the hit's) and `GET /v1/vaults/{vault}/status` (counts, sources' last syncs and, for callers
//! with the `jobs` action, recent and failed jobs). The same engine operations answer the MCP
//! tools `expand_context`, `find_similar` and `ingest_status`, with the same limits.

use axum::Json as JsonOut;
use trove_engine::perm;
use trove_types::{ChunkContext, ContextRequest, IngestStatus, SimilarDocuments, SimilarRequest};

use crate::auth::Allowed;
use crate::call::EngineCall;
use crate::error::{ApiError, Path, Query};
use crate::openapi::{BadRequest, ChunkPath, Conflict, NotFound, VaultPath};

/// `GET /v1/vaults/{vault}/chunks/{id}/context`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/chunks/{id}/context", operation_id = "chunks_context", tag = "vaults",
    params(ChunkPath, ContextRequest),
    responses(
        (status = 200, description = "The chunks around the hit in its document, in order.", body = ChunkContext),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn context(
    allowed: Allowed<perm::Search>,
    Path((_, chunk)): Path<(String, i64)>,
    Query(req): Query<ContextRequest>,
) -> Result<JsonOut<ChunkContext>, ApiError> {
    allowed.json(move |e, access| e.chunk_context(access, chunk, &req)).await
}

/// `GET /v1/vaults/{vault}/chunks/{id}/similar`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/chunks/{id}/similar", operation_id = "chunks_similar", tag = "vaults",
    params(ChunkPath, SimilarRequest),
    responses(
        (status = 200, description = "Other documents like the hit's, best first.", body = SimilarDocuments),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub async fn similar(
    allowed: Allowed<perm::Search>,
    Path((_, chunk)): Path<(String, i64)>,
    Query(req): Query<SimilarRequest>,
) -> Result<JsonOut<SimilarDocuments>, ApiError> {
    allowed.json(move |e, access| e.similar_documents(access, chunk, &req)).await
}

/// `GET /v1/vaults/{vault}/status`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/status", operation_id = "vaults_status", tag = "vaults",
    params(VaultPath),
    responses(
        (status = 200, description = "The vault's counts, sources and recent jobs.", body = IngestStatus),
        (status = 404, response = NotFound),
    )
)]
pub async fn status(allowed: Allowed<perm::Search>) -> Result<JsonOut<IngestStatus>, ApiError> {
    allowed.json(move |e, access| e.ingest_status(access)).await
}
