//! Jobs and the dead-letter queue: `GET /v1/jobs?status=&kind=&vault=&cursor=&limit=`,
//! `GET /v1/jobs/{id}`, `POST /v1/jobs/{id}/cancel`; `GET /v1/dlq`, `GET /v1/dlq/{id}`
//! (the error, attempts and a payload summary), `POST /v1/dlq/{id}/retry` and
//! `DELETE /v1/dlq/{id}`.

use axum::Json as JsonOut;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trove_types::{Job, JobPage};
use utoipa::IntoParams;

use crate::AppState;
use crate::auth::Allowed;
use crate::call::{Caller, EngineCall};
use crate::error::{ApiError, Query};
use crate::openapi::{BadRequest, Conflict, JobPath, NotFound};
use trove_engine::access::JobId;
use trove_engine::{JobQuery, perm};

/// The query of a dead-letter listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DlqParams {
    /// upload, sync or reembed.
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
#[utoipa::path(
    get, path = "/v1/jobs", operation_id = "jobs_list", tag = "jobs",
    params(JobQuery),
    responses(
        (status = 200, description = "A page of jobs, newest first.", body = JobPage),
        (status = 400, response = BadRequest),
    )
)]
pub async fn list(caller: Caller, Query(q): Query<JobQuery>) -> Result<JsonOut<JobPage>, ApiError> {
    caller.json(move |e, principal| e.visible_jobs(principal, &q)).await
}

/// `GET /v1/jobs/{id}`.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", operation_id = "jobs_get", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job.", body = Job),
        (status = 404, response = NotFound),
    )
)]
pub async fn get(allowed: Allowed<perm::Jobs, JobId>) -> Result<JsonOut<Job>, ApiError> {
    allowed.json(move |e, access| e.job_get(access)).await
}

/// `POST /v1/jobs/{id}/cancel`: a queued job is cancelled at once; a running one is asked to
/// stop at its next checkpoint (`cancel_requested: true`). 409 for a finished job.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/cancel", operation_id = "jobs_cancel", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job, cancelled or asked to stop.", body = Job),
        (status = 404, response = NotFound), (status = 409, response = Conflict),
    )
)]
pub async fn cancel(
    allowed: Allowed<perm::Jobs, JobId>,
    State(state): State<AppState>,
) -> Result<JsonOut<Job>, ApiError> {
    let job = allowed.run(move |e, access| e.job_cancel(access)).await?;
    if job.cancel_requested {
        state.workers.cancel(&job.id);
    }
    Ok(JsonOut(job))
}

/// `GET /v1/dlq`: dead jobs, newest first.
#[utoipa::path(
    get, path = "/v1/dlq", operation_id = "dlq_list", tag = "jobs",
    params(DlqParams),
    responses(
        (status = 200, description = "A page of dead jobs, newest first.", body = JobPage),
        (status = 400, response = BadRequest),
    )
)]
pub async fn dlq_list(caller: Caller, Query(p): Query<DlqParams>) -> Result<JsonOut<JobPage>, ApiError> {
    let q = JobQuery { status: Some("dead".into()), kind: p.kind, vault: p.vault, cursor: p.cursor, limit: p.limit };
    caller.json(move |e, principal| e.visible_jobs(principal, &q)).await
}

/// `GET /v1/dlq/{id}`.
#[utoipa::path(
    get, path = "/v1/dlq/{id}", operation_id = "dlq_get", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The dead job.", body = Job),
        (status = 404, response = NotFound),
    )
)]
pub async fn dlq_get(allowed: Allowed<perm::Jobs, JobId>) -> Result<JsonOut<Job>, ApiError> {
    allowed.json(move |e, access| e.dlq_get(access)).await
}

/// `POST /v1/dlq/{id}/retry`: back to the queue with fresh attempts; answers the queued job.
#[utoipa::path(
    post, path = "/v1/dlq/{id}/retry", operation_id = "dlq_retry", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job, queued again.", body = Job),
        (status = 404, response = NotFound), (status = 409, response = Conflict),
    )
)]
pub async fn dlq_retry(
    allowed: Allowed<perm::Admin, JobId>,
    State(state): State<AppState>,
) -> Result<JsonOut<Job>, ApiError> {
    let job = allowed.run(move |e, access| e.dlq_retry(access)).await?;
    state.workers.notify();
    Ok(JsonOut(job))
}

/// `DELETE /v1/dlq/{id}`: 204; the job's uploaded files go with it.
#[utoipa::path(
    delete, path = "/v1/dlq/{id}", operation_id = "dlq_delete", tag = "jobs",
    params(JobPath),
    responses(
        (status = 204, description = "Deleted, with its uploaded files."),
        (status = 404, response = NotFound), (status = 409, response = Conflict),
    )
)]
pub async fn dlq_delete(allowed: Allowed<perm::Admin, JobId>) -> Result<StatusCode, ApiError> {
    allowed.no_content(move |e, access| e.dlq_delete(access)).await
}
