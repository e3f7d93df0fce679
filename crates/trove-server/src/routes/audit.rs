//! The audit log: `GET /v1/audit?from=&to=&event=&actor=&cursor=&limit=`, newest first. An
//! API key (with the `admin` action) reads its organization's entries only.

use axum::Json as JsonOut;
use serde::Deserialize;
use trove_engine::audit::AuditQuery;
use trove_types::AuditPage;
use utoipa::IntoParams;

use crate::call::{Caller, EngineCall};
use crate::error::{ApiError, Query};
use crate::openapi::{BadRequest, Internal, Unavailable};

/// The query of an audit listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// At or after this time (RFC 3339).
    #[serde(default)]
    pub from: Option<String>,
    /// Before this time (RFC 3339).
    #[serde(default)]
    pub to: Option<String>,
    /// An event (`memory.deleted`) or a family ending with `.` (`auth.`).
    #[serde(default)]
    pub event: Option<String>,
    /// An actor (`key:key_…`, `cli`, `local`, `anonymous`).
    #[serde(default)]
    pub actor: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size (1–1000, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `GET /v1/audit`.
#[utoipa::path(
    get, path = "/v1/audit", operation_id = "audit_list", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of audit entries, newest first.", body = AuditPage),
        (status = 400, response = BadRequest), (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list(caller: Caller, Query(p): Query<AuditParams>) -> Result<JsonOut<AuditPage>, ApiError> {
    let q = AuditQuery { from: p.from, to: p.to, event: p.event, actor: p.actor, cursor: p.cursor, limit: p.limit };
    caller.json(move |e, principal| e.audit_query(principal, &q)).await
}
