//! Memories: store (`POST .../memories` → 201), list (`GET .../memories` with scope filters
//! and cursor pages), get, update (`PATCH`, re-embeds changed text), delete (→ 204), retrieve
//! (`POST .../memories/retrieve`) and stats. Validation is the engine's, shared by every
//! transport.

use crate::call::EngineCall;
use std::time::Instant;

use axum::Json as JsonOut;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use trove_engine::perm;
use trove_types::{
    Code, Memory, MemoryHit, MemoryInput, MemoryPage, MemoryQuery, MemoryScope, MemoryStatsResponse, MemoryUpdate,
    SearchMode,
};

use crate::AppState;
use crate::auth::{Allowed, Made};
use crate::error::{ApiError, Json, Path};
use crate::openapi::{
    BadRequest, Conflict, InvalidFields, MemoryListParams, NotFound, PayloadTooLarge, UnsupportedMediaType,
    VaultItemPath, VaultPath,
};

/// `POST /v1/vaults/{vault}/memories`: 201 with the stored memory.
#[utoipa::path(
    post, path = "/v1/vaults/{vault}/memories", operation_id = "memories_store", tag = "memories",
    params(VaultPath), request_body = MemoryInput,
    responses(
        (status = 201, description = "The stored memory.", body = Memory),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn store(
    allowed: Allowed<perm::MemoriesWrite>,
    Json(input): Json<MemoryInput>,
) -> Result<Made<Memory>, ApiError> {
    let memory = allowed.run(move |e, access| e.memory_store(access, &input)).await?;
    Ok(Made::created(format!("memory:{}", memory.id), memory))
}

/// The query of a memory listing: scope filters (`tag` may repeat: all must match), `cursor`
/// and `limit`. Unknown parameters are refused so a misspelt filter cannot silently widen a
/// listing.
fn list_params(raw: Option<&str>) -> Result<(MemoryScope, Option<String>, Option<usize>), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::new(Code::BadRequest, format!("the query string is not valid: {e}")))?;
    let mut scope = MemoryScope::default();
    let (mut cursor, mut limit) = (None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "user_id" => scope.user_id = Some(v),
            "agent_id" => scope.agent_id = Some(v),
            "session_id" => scope.session_id = Some(v),
            "tag" => scope.tags.push(v),
            "created_after" => scope.created_after = Some(v),
            "created_before" => scope.created_before = Some(v),
            "cursor" => cursor = Some(v),
            "limit" => {
                limit = Some(
                    v.parse::<usize>()
                        .map_err(|_| ApiError::new(Code::BadRequest, format!("limit: `{v}` is not a whole number")))?,
                )
            }
            other => {
                return Err(ApiError::new(
                    Code::BadRequest,
                    format!(
                        "unknown query parameter `{other}`: use user_id, agent_id, session_id, tag (repeatable), created_after, created_before, cursor or limit"
                    ),
                ));
            }
        }
    }
    Ok((scope, cursor, limit))
}

/// `GET /v1/vaults/{vault}/memories`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/memories", operation_id = "memories_list", tag = "memories",
    params(VaultPath, MemoryListParams),
    responses(
        (status = 200, description = "A page of memories, newest first.", body = MemoryPage),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn list(
    allowed: Allowed<perm::MemoriesRead>,
    RawQuery(raw): RawQuery,
) -> Result<JsonOut<MemoryPage>, ApiError> {
    let (scope, cursor, limit) = list_params(raw.as_deref())?;
    allowed.json(move |e, access| e.memory_list(access, &scope, cursor.as_deref(), limit)).await
}

/// `GET /v1/vaults/{vault}/memories/{id}`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/memories/{id}", operation_id = "memories_get", tag = "memories",
    params(VaultItemPath),
    responses(
        (status = 200, description = "The memory.", body = Memory),
        (status = 404, response = NotFound),
    )
)]
pub async fn get(
    allowed: Allowed<perm::MemoriesRead>,
    Path((_, id)): Path<(String, String)>,
) -> Result<JsonOut<Memory>, ApiError> {
    allowed.json(move |e, access| e.memory_get(access, &id)).await
}

/// `PATCH /v1/vaults/{vault}/memories/{id}`.
#[utoipa::path(
    patch, path = "/v1/vaults/{vault}/memories/{id}", operation_id = "memories_update", tag = "memories",
    params(VaultItemPath), request_body = MemoryUpdate,
    responses(
        (status = 200, description = "The updated memory.", body = Memory),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn update(
    allowed: Allowed<perm::MemoriesWrite>,
    Path((_, id)): Path<(String, String)>,
    Json(update): Json<MemoryUpdate>,
) -> Result<JsonOut<Memory>, ApiError> {
    allowed.json(move |e, access| e.memory_update(access, &id, &update)).await
}

/// `DELETE /v1/vaults/{vault}/memories/{id}`: 204.
#[utoipa::path(
    delete, path = "/v1/vaults/{vault}/memories/{id}", operation_id = "memories_delete", tag = "memories",
    params(VaultItemPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, response = NotFound),
    )
)]
pub async fn delete(
    allowed: Allowed<perm::MemoriesWrite>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    allowed.no_content(move |e, access| e.memory_delete(access, &id)).await
}

/// The answer of a retrieval.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = MemoryHits)]
pub struct Hits {
    /// Best first.
    pub hits: Vec<MemoryHit>,
}

/// `POST /v1/vaults/{vault}/memories/retrieve`.
#[utoipa::path(
    post, path = "/v1/vaults/{vault}/memories/retrieve", operation_id = "memories_retrieve", tag = "memories",
    params(VaultPath), request_body = MemoryQuery,
    responses(
        (status = 200, description = "The matching memories, best first.", body = Hits),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 409, response = Conflict), (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType), (status = 422, response = InvalidFields),
    )
)]
pub async fn retrieve(
    allowed: Allowed<perm::MemoriesRead>,
    State(state): State<AppState>,
    Json(query): Json<MemoryQuery>,
) -> Result<JsonOut<Hits>, ApiError> {
    let mode = query.mode.unwrap_or(SearchMode::Hybrid);
    let started = Instant::now();
    let hits = allowed.run(move |e, access| e.memory_retrieve(access, &query)).await?;
    state.metrics.search("memories", mode.as_str(), started.elapsed());
    Ok(JsonOut(Hits { hits }))
}

/// `GET /v1/vaults/{vault}/memories/stats`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/memories/stats", operation_id = "memories_stats", tag = "memories",
    params(VaultPath),
    responses(
        (status = 200, description = "Counts of the vault's memories.", body = MemoryStatsResponse),
        (status = 404, response = NotFound),
    )
)]
pub async fn stats(allowed: Allowed<perm::MemoriesRead>) -> Result<JsonOut<MemoryStatsResponse>, ApiError> {
    allowed.json(move |e, access| e.memory_stats(access)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_params_repeat_tags_and_refuse_unknown_keys() {
        let (scope, cursor, limit) = list_params(Some("user_id=u%201&tag=a&tag=b&limit=5&cursor=1.2")).unwrap();
        assert_eq!(scope.user_id.as_deref(), Some("u 1"));
        assert_eq!(scope.tags, ["a", "b"]);
        assert_eq!((cursor.as_deref(), limit), (Some("1.2"), Some(5)));
        assert!(list_params(Some("usr_id=x")).unwrap_err().message.contains("usr_id"));
        assert!(list_params(Some("limit=many")).unwrap_err().message.contains("limit"));
        assert_eq!(list_params(None).unwrap().0, MemoryScope::default());
    }
}
