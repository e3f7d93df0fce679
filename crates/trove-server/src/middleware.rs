//! What wraps every request: a request id (the client's `x-request-id` when it is sane,
//! otherwise a new one; echoed in the response) carried by a log span around all of the
//! request's work, the base of its error links, one log line and one metrics record per answer,
//! the request time limit, and JSON answers for unknown routes and wrong methods.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use trove_types::Code;

use crate::AppState;
use crate::error::{ApiError, BodyLimit, reference_for, with_reference};

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A new request id: this process's id and start time, and a counter (unique per process).
fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("{:x}{:x}", std::process::id(), t.as_millis() & 0xffff_ffff)
    });
    format!("{prefix}-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// A client's id is kept when it is short printable ASCII (it goes into logs).
fn client_request_id(req: &Request) -> Option<String> {
    let v = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    (!v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())).then(|| v.to_string())
}

/// Request id, log span, error links, log line and metrics for every request.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = client_request_id(&req).unwrap_or_else(new_request_id);
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    req.extensions_mut().insert(BodyLimit(state.options.max_body_bytes));
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let host = req.headers().get(axum::http::header::HOST).and_then(|h| h.to_str().ok());
    let host = host.or_else(|| req.uri().authority().map(|a| a.as_str()));
    let public_url = state.engine.workspace().config.auth.public_url.as_deref();
    let reference = reference_for(public_url, state.options.tls.is_some(), host);
    let mut response = with_reference(reference, next.run(req).instrument(span.clone())).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(status, ms = (took.as_secs_f64() * 1e6).round() / 1e3, "answered");
    });
    state.metrics.request(&route, method.as_str(), status, took);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

/// Answers `503 timeout` when a request runs longer than the configured limit.
pub async fn time_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.options.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            Code::Timeout,
            format!(
                "the request did not finish within {:.1}s (server.request_timeout_s); retry later, ask for fewer results, or raise the limit",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

/// Unknown routes.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        Code::NotFound,
        format!(
            "no route for {method} {}: the API lives under /v1/vaults (see the README's HTTP API section), probes at /live, /ready, /health and /metrics, the web page at /, the error reference at /docs/errors",
            uri.path()
        ),
    )
}

/// Known routes with a method they do not have.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        format!("{} does not accept {method}; the README's HTTP API section lists each route's methods", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_client_ids_are_vetted() {
        assert_ne!(new_request_id(), new_request_id());
        let with = |v: &str| {
            let req = Request::builder().header(REQUEST_ID, v).body(axum::body::Body::empty()).unwrap();
            client_request_id(&req)
        };
        assert_eq!(with("abc-123").as_deref(), Some("abc-123"));
        assert_eq!(with("has space"), None);
        assert_eq!(with(&"x".repeat(200)), None);
    }
}
