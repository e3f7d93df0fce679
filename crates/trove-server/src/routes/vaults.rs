//! Vaults (list, get, create, delete), their sources (list, sync as a job) and search
//! (`POST /v1/vaults/{vault}/search`, answering the same shape as `trove search --json`).

use crate::call::{Caller, EngineCall};
use std::time::Instant;

use axum::Json as JsonOut;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trove_engine::{SearchRequest, chunk_filter, perm};
use trove_types::{Fusion, GroupBy, Job, SearchFilters, SearchMode, SearchResponse, SourceSummary, VaultSummary};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Allowed, Made};
use crate::error::{ApiError, Json, Path};
use crate::openapi::{
    BadRequest, Conflict, InvalidFields, NotFound, PayloadTooLarge, SourcePath, UnsupportedMediaType, VaultPath,
};

/// `GET /v1/vaults`: every vault, configured or stored, that the caller sees.
#[utoipa::path(
    get, path = "/v1/vaults", operation_id = "vaults_list", tag = "vaults",
    responses(
        (status = 200, description = "Every vault, configured or stored, that the caller sees.", body = Vec<VaultSummary>),
    )
)]
pub async fn list(caller: Caller) -> Result<JsonOut<Vec<VaultSummary>>, ApiError> {
    caller.json(move |e, principal| e.visible_vaults(principal)).await
}

/// `GET /v1/vaults/{vault}`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}", operation_id = "vaults_get", tag = "vaults",
    params(VaultPath),
    responses(
        (status = 200, description = "The vault and its counts.", body = VaultSummary),
        (status = 404, response = NotFound),
    )
)]
pub async fn get(allowed: Allowed<perm::Search>) -> Result<JsonOut<VaultSummary>, ApiError> {
    allowed.json(move |e, access| e.vault_overview(access)).await
}

/// The body of `POST /v1/vaults/{vault}/search`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// The query text.
    pub query: String,
    /// hybrid, semantic or keyword (default: `search.default_mode`).
    #[serde(default)]
    pub mode: Option<SearchMode>,
    /// Hits wanted (default: `search.default_limit`).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Restrictions.
    #[serde(default)]
    pub filters: Option<SearchFilters>,
    /// Hits skipped before this page (default 0; `offset + limit` at most 10000). Pages of
    /// one query are slices of one ranking.
    #[serde(default)]
    pub offset: Option<usize>,
    /// `chunk` (default): every matching chunk is a hit; `document`: one hit per document,
    /// its best chunk, with `other_chunks` and `other_chunk_ids`.
    #[serde(default)]
    pub group_by: Option<GroupBy>,
    /// Chunks returned before and after each hit in its `context` (0–20).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 20)]
    pub context: Option<usize>,
    /// Hybrid fusion: `method` (`rrf` or `relative_score`) and `keyword_weight` (0–1);
    /// default `search.fusion` and `search.keyword_weight`.
    #[serde(default)]
    pub fusion: Option<Fusion>,
}

/// `POST /v1/vaults/{vault}/search`.
#[utoipa::path(
    post, path = "/v1/vaults/{vault}/search", operation_id = "vaults_search", tag = "vaults",
    params(VaultPath), request_body = SearchBody,
    responses(
        (status = 200, description = "The hits, best first.", body = SearchResponse),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 409, response = Conflict), (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType), (status = 422, response = InvalidFields),
    )
)]
pub async fn search(
    allowed: Allowed<perm::Search>,
    State(state): State<AppState>,
    Json(body): Json<SearchBody>,
) -> Result<JsonOut<SearchResponse>, ApiError> {
    let mode = body.mode.unwrap_or(state.engine.workspace().config.search.default_mode);
    let filters = body.filters.unwrap_or_default();
    let req = SearchRequest {
        query: body.query,
        mode: Some(mode),
        limit: body.limit,
        filter: chunk_filter(filters),
        offset: body.offset,
        group_by: body.group_by.unwrap_or_default(),
        context: body.context,
        fusion: body.fusion.unwrap_or_default(),
    };
    let started = Instant::now();
    let response = allowed.run(move |e, access| e.search(access, &req)).await?;
    state.metrics.search("documents", mode.as_str(), started.elapsed());
    Ok(JsonOut(response))
}

/// The body of `POST /v1/vaults`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVault {
    /// Lowercase letters, digits, `-` and `_`.
    pub name: String,
}

/// `POST /v1/vaults`: creates an empty vault (for uploads and memories); 201.
#[utoipa::path(
    post, path = "/v1/vaults", operation_id = "vaults_create", tag = "vaults",
    request_body = CreateVault,
    responses(
        (status = 201, description = "The new, empty vault.", body = VaultSummary),
        (status = 400, response = BadRequest), (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn create(caller: Caller, Json(body): Json<CreateVault>) -> Result<Made<VaultSummary>, ApiError> {
    let created = caller.run(move |e, principal| e.vault_create(&body.name, principal.organization())).await?;
    Ok(Made::created(format!("vault:{}", created.name), created))
}

/// `DELETE /v1/vaults/{vault}`: deletes a vault that is not in the configuration, with its
/// documents and memories; 204.
#[utoipa::path(
    delete, path = "/v1/vaults/{vault}", operation_id = "vaults_delete", tag = "vaults",
    params(VaultPath),
    responses(
        (status = 204, description = "Deleted, with its documents and memories."),
        (status = 404, response = NotFound), (status = 409, response = Conflict),
    )
)]
pub async fn delete(allowed: Allowed<perm::Admin>) -> Result<StatusCode, ApiError> {
    allowed.no_content(move |e, access| e.vault_delete(access)).await
}

/// `GET /v1/vaults/{vault}/sources`: the configured sources, and `uploads` when it has
/// documents, with their document counts.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/sources", operation_id = "vaults_sources", tag = "vaults",
    params(VaultPath),
    responses(
        (status = 200, description = "The vault's sources with their document counts.", body = Vec<SourceSummary>),
        (status = 404, response = NotFound),
    )
)]
pub async fn sources(allowed: Allowed<perm::Search>) -> Result<JsonOut<Vec<SourceSummary>>, ApiError> {
    allowed.json(move |e, access| e.vault_sources(access)).await
}

/// `POST /v1/vaults/{vault}/sources/{source}/sync`: queues an incremental ingest of the
/// source; 202 with the job (the already queued one if a sync of it is waiting).
#[utoipa::path(
    post, path = "/v1/vaults/{vault}/sources/{source}/sync", operation_id = "vaults_sync", tag = "vaults",
    params(SourcePath),
    responses(
        (status = 202, description = "The queued sync job (the waiting one if a sync of the source is already queued).", body = Job),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn sync(
    allowed: Allowed<perm::DocumentsWrite>,
    State(state): State<AppState>,
    Path((_, source)): Path<(String, String)>,
) -> Result<Made<Job>, ApiError> {
    let job = allowed.run(move |e, access| e.enqueue_sync(access, &source)).await?;
    state.workers.notify();
    Ok(Made::queued(job))
}

/// `POST /v1/vaults/{vault}/reembed`: queues a re-embed of the vault's chunks and memories
/// from their stored text with the model the configuration gives the vault; 202 with the job.
/// Searches keep answering with the current vectors (and their model) until the job switches
/// the vault in one step; an interrupted job resumes from what it staged.
#[utoipa::path(
    post, path = "/v1/vaults/{vault}/reembed", operation_id = "vaults_reembed", tag = "vaults",
    params(VaultPath),
    responses(
        (status = 202, description = "The queued re-embed job (the waiting one if a re-embed of the vault is already queued). It succeeds at once when the vault is already on its configured model.", body = Job),
        (status = 404, response = NotFound),
    )
)]
pub async fn reembed(allowed: Allowed<perm::Admin>, State(state): State<AppState>) -> Result<Made<Job>, ApiError> {
    let job = allowed.run(move |e, access| e.enqueue_reembed(access)).await?;
    state.workers.notify();
    Ok(Made::queued(job))
}
