//! Jobs and the dead-letter queue: `GET /v1/jobs?status=&kind=&vault=&cursor=&limit=`,
//! `GET /v1/jobs/{id}`, `POST /v1/jobs/{id}/cancel`; `GET /v1/dlq`, `GET /v1/dlq/{id}`
//! (the error, attempts and a payload summary), `POST /v1/dlq/{id}/retry` and
//! `DELETE /v1/dlq/{id}`.

use axum::Json as JsonOut;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trove_types::{Job, JobPage};

use crate::error::{ApiError, Path, Query};
use crate::{AppState, blocking};

/// The query of a job listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// queued, running, succeeded, dead or cancelled.
    #[serde(default)]
    pub status: Option<String>,
    /// upload or sync.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only this vault's jobs.
    #[serde(default)]
    pub vault: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size (1–100, default 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// The query of a dead-letter listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqParams {
    /// upload or sync.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only this vault's jobs.
    #[serde(default)]
    pub vault: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size (1–100, default 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `GET /v1/jobs`: newest first.
pub async fn list(State(state): State<AppState>, Query(p): Query<JobParams>) -> Result<JsonOut<JobPage>, ApiError> {
    let page = blocking(&state, move |e| {
        e.jobs_list(p.status.as_deref(), p.kind.as_deref(), p.vault.as_deref(), p.cursor.as_deref(), p.limit)
    })
    .await?;
    Ok(JsonOut(page))
}

/// `GET /v1/jobs/{id}`.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<JsonOut<Job>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.job_get(&id)).await?))
}

/// `POST /v1/jobs/{id}/cancel`: a queued job is cancelled at once; a running one is asked to
/// stop at its next checkpoint (`cancel_requested: true`). 409 for a finished job.
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Result<JsonOut<Job>, ApiError> {
    let job = {
        let id = id.clone();
        blocking(&state, move |e| e.job_cancel(&id)).await?
    };
    if job.cancel_requested {
        state.workers.cancel(&id);
    }
    Ok(JsonOut(job))
}

/// `GET /v1/dlq`: dead jobs, newest first.
pub async fn dlq_list(State(state): State<AppState>, Query(p): Query<DlqParams>) -> Result<JsonOut<JobPage>, ApiError> {
    let page = blocking(&state, move |e| {
        e.jobs_list(Some("dead"), p.kind.as_deref(), p.vault.as_deref(), p.cursor.as_deref(), p.limit)
    })
    .await?;
    Ok(JsonOut(page))
}

/// `GET /v1/dlq/{id}`.
pub async fn dlq_get(State(state): State<AppState>, Path(id): Path<String>) -> Result<JsonOut<Job>, ApiError> {
    Ok(JsonOut(blocking(&state, move |e| e.dlq_get(&id)).await?))
}

/// `POST /v1/dlq/{id}/retry`: back to the queue with fresh attempts; answers the queued job.
pub async fn dlq_retry(State(state): State<AppState>, Path(id): Path<String>) -> Result<JsonOut<Job>, ApiError> {
    let job = blocking(&state, move |e| e.dlq_retry(&id)).await?;
    state.workers.notify();
    Ok(JsonOut(job))
}

/// `DELETE /v1/dlq/{id}`: 204; the job's uploaded files go with it.
pub async fn dlq_delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    blocking(&state, move |e| e.dlq_delete(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
