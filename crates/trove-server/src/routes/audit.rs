//! The audit log: `GET /v1/audit?from=&to=&event=&actor=&cursor=&limit=`, newest first. An
//! API key (with the `admin` action) reads its organization's entries only.

use axum::Json as JsonOut;
use trove_types::{AuditPage, AuditQuery};

use crate::call::{Caller, EngineCall};
use crate::error::{ApiError, Query};
use crate::openapi::BadRequest;

/// `GET /v1/audit`.
#[utoipa::path(
    get, path = "/v1/audit", operation_id = "audit_list", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit entries, newest first.", body = AuditPage),
        (status = 400, response = BadRequest),
    )
)]
pub async fn list(caller: Caller, Query(q): Query<AuditQuery>) -> Result<JsonOut<AuditPage>, ApiError> {
    caller.json(move |e, principal| e.audit_query(principal, &q)).await
}
