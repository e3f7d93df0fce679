//! MCP over streamable HTTP at `/mcp`: each `POST` carries one JSON-RPC message, answered
//! with one JSON body (`202 Accepted` and no body for notifications); the server never
//! streams, so `GET` (the server-to-client stream) is `405`. The request's identity (an API
//! key when authentication is on) is the principal of every tool call, so MCP clients reach
//! exactly what the key reaches over REST. Browsers' cross-site requests are refused by
//! `Origin` (DNS-rebinding protection, as the MCP specification requires).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use trove_engine::auth::Principal;
use trove_mcp::{McpServer, PROTOCOL_VERSIONS};
use trove_types::Code;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{BadRequest, Internal};

/// Whether an `Origin` header names this server (or a loopback page).
fn origin_allowed(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = origin.split("://").nth(1).unwrap_or(origin);
    let host_only = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let own = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    own == Some(host) || matches!(host_only, "localhost" | "127.0.0.1" | "[::1]")
}

/// `POST /mcp`: one JSON-RPC message of the Model Context Protocol.
#[utoipa::path(
    post, path = "/mcp", operation_id = "mcp", tag = "mcp",
    request_body(content = Object, content_type = "application/json", description = "One JSON-RPC 2.0 message (MCP)."),
    responses(
        (status = 200, description = "The JSON-RPC response.", content_type = "application/json", body = Object),
        (status = 202, description = "A notification was accepted."),
        (status = 400, response = BadRequest), (status = 500, response = Internal),
    )
)]
pub async fn post(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !origin_allowed(&headers) {
        return Err(ApiError::new(Code::Forbidden, "requests to /mcp from another site's pages are refused (Origin)"));
    }
    if let Some(v) = headers.get("mcp-protocol-version").and_then(|v| v.to_str().ok())
        && !PROTOCOL_VERSIONS.contains(&v)
    {
        return Err(ApiError::new(
            Code::BadRequest,
            format!("MCP-Protocol-Version `{v}` is not supported; use one of {}", PROTOCOL_VERSIONS.join(", ")),
        ));
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let server = McpServer::new(state.engine.clone(), principal).errors_reference(crate::error::errors_reference());
    let span = tracing::Span::current();
    let answer = tokio::task::spawn_blocking(move || span.in_scope(|| server.handle_text(&text)))
        .await
        .map_err(|e| ApiError::new(Code::Internal, format!("the MCP call failed: {e}")))?;
    Ok(match answer {
        Some(value) => ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    })
}
