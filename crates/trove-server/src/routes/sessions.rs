//! Accounts and login sessions: `POST /v1/auth/register` (when `auth.open_registration` is on,
//! limited per address per day), `POST /v1/auth/login` (email and password for a session: a browser's in an
//! HttpOnly cookie with a CSRF token in the answer, a CLI's or SDK's as a bearer token),
//! `POST /v1/auth/logout`, `GET /v1/auth/me` (who the caller is), and the caller's sessions: `GET /v1/auth/sessions`,
//! `DELETE /v1/auth/sessions/{id}`, `DELETE /v1/auth/sessions` (all). Logins are limited per
//! client address (`auth.rate_limits.logins_per_ip_per_hour`) and written to the audit log.

use std::net::SocketAddr;

use axum::Extension;
use axum::Json as JsonOut;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trove_engine::NewAuditEvent;
use trove_engine::auth::key_principal;
use trove_types::{ClientKind, Code, LoginRequest, LoginResponse, Me, RegisterRequest, Registered, SessionInfo};
use utoipa::ToSchema;

use crate::auth::{AuditTarget, SESSION_COOKIE, session_cookie};
use crate::call::{Caller, EngineCall};
use crate::error::{ApiError, Json, Path};
use crate::openapi::{BadRequest, NotFound, SessionPath};
use crate::{AppState, blocking};

/// How many sessions were ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Sessions ended.
    pub revoked: u64,
}

/// A `Set-Cookie` value for the session cookie (`max_age` 0 clears it).
fn cookie(token: &str, max_age: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
    ))
    .ok()
}

/// A `429` naming the limit, with `Retry-After`.
pub(super) fn limited(what: &str, setting: &str, wait: std::time::Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut response =
        ApiError::new(Code::RateLimited, format!("too many {what} from this address; retry in {secs} s ({setting})"))
            .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Appends the audit entry of an account event on a public route (acted by `user:<email>`),
/// without holding up the answer.
pub(super) fn audit_account(
    state: &AppState,
    email: &str,
    ip: String,
    (event, outcome): (&str, &str),
    target: Option<String>,
    organization: Option<String>,
) {
    let engine = state.engine.clone();
    let mut entry = NewAuditEvent {
        at_ms: 0,
        organization: None,
        actor: format!("user:{email}"),
        ip: Some(ip),
        event: event.into(),
        target,
        outcome: outcome.into(),
        details: serde_json::json!({"organization": organization}),
    };
    tokio::task::spawn_blocking(move || {
        if let Some(name) = &organization {
            entry.organization = engine.find_organization(name).ok().flatten();
        }
        engine.audit(entry)
    });
}

/// `POST /v1/auth/register`.
#[utoipa::path(
    post, path = "/v1/auth/register", operation_id = "auth_register", tag = "sessions",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account; it joins no organization until an administrator adds it (POST /v1/org/members).", body = Registered),
        (status = 400, response = BadRequest),
        (status = 403, description = "Registration is closed (`auth.open_registration`)."),
        (status = 409, description = "The email is taken (`user_exists`)."),
        (status = 429, description = "Too many registrations from this address (`rate_limited`)."),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    let ip = peer.ip().to_string();
    if let Err(wait) = state.limits.registrations.take(&ip) {
        return Ok(limited("registrations", "auth.rate_limits.registrations_per_ip_per_day", wait));
    }
    let (id, email) = blocking(&state, move |e| e.register(&body.email, &body.password)).await?;
    audit_account(&state, &email, ip, ("user.registered", "ok"), Some(format!("user:{id}")), None);
    Ok((StatusCode::CREATED, JsonOut(Registered { id, email })).into_response())
}

/// `POST /v1/auth/login`.
#[utoipa::path(
    post, path = "/v1/auth/login", operation_id = "auth_login", tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "The new session. A `web` session is set as the HttpOnly `trove_session` cookie and answered with its `csrf_token`; `cli` and `sdk` sessions get their `token` (send it as `Authorization: Bearer`).", body = LoginResponse),
        (status = 400, response = BadRequest),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)."),
        (status = 429, description = "Too many logins from this address (`rate_limited`); see `Retry-After`."),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = peer.ip().to_string();
    if let Err(wait) = state.limits.logins.take(&ip) {
        return Ok(limited("logins", "auth.rate_limits.logins_per_ip_per_hour", wait));
    }
    let email = body.email.trim().to_string();
    let web = body.client == ClientKind::Web;
    let from = ip.clone();
    let result = blocking(&state, move |e| e.login(&body, Some(&from))).await;
    let (event, outcome, organization) = match &result {
        Ok(l) => ("auth.login", "ok", Some(l.response.session.organization.clone())),
        Err(_) => ("auth.login_failed", "denied", None),
    };
    let target = result.as_ref().ok().map(|l| format!("session:{}", l.response.session.id));
    audit_account(&state, &email, ip, (event, outcome), target, organization);
    let logged_in = result?;
    let mut response = JsonOut(logged_in.response).into_response();
    if web && let Some(v) = cookie(&logged_in.token, logged_in.ttl_s) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `POST /v1/auth/logout`: ends the calling session and clears its cookie.
#[utoipa::path(
    post, path = "/v1/auth/logout", operation_id = "auth_logout", tag = "sessions",
    responses(
        (status = 204, description = "The session is over."),
        (status = 400, response = BadRequest),
    )
)]
pub async fn logout(caller: Caller) -> Result<(StatusCode, Extension<AuditTarget>, Response), ApiError> {
    let id = key_principal(caller.principal()).map(|k| k.key_id.clone()).unwrap_or_default();
    caller.run(move |e, principal| e.logout(principal)).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(v) = cookie("", 0) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok((StatusCode::NO_CONTENT, Extension(AuditTarget(format!("session:{id}"))), response))
}

/// `GET /v1/auth/me`: who the caller is. A browser session also gets its CSRF token back, so
/// a reloaded page can go on writing without logging in again.
#[utoipa::path(
    get, path = "/v1/auth/me", operation_id = "auth_me", tag = "sessions",
    responses(
        (status = 200, description = "The caller: `local` when authentication is off.", body = Me),
    )
)]
pub async fn me(caller: Caller, State(state): State<AppState>, headers: HeaderMap) -> Result<JsonOut<Me>, ApiError> {
    let cookie = if headers.contains_key(header::AUTHORIZATION) { None } else { session_cookie(&headers) };
    let required = state.auth_enabled();
    caller.json(move |e, principal| e.me(principal, cookie.as_deref(), required)).await
}

/// `GET /v1/auth/sessions`: the caller's user's live sessions, newest first.
#[utoipa::path(
    get, path = "/v1/auth/sessions", operation_id = "auth_sessions", tag = "sessions",
    responses(
        (status = 200, description = "Live sessions (never their tokens); `current` marks the caller's.", body = Vec<SessionInfo>),
        (status = 400, response = BadRequest),
    )
)]
pub async fn list(caller: Caller) -> Result<JsonOut<Vec<SessionInfo>>, ApiError> {
    caller.json(move |e, principal| e.sessions_list(principal)).await
}

/// `DELETE /v1/auth/sessions/{id}`: ends one of the caller's user's sessions.
#[utoipa::path(
    delete, path = "/v1/auth/sessions/{id}", operation_id = "auth_session_revoke", tag = "sessions",
    params(SessionPath),
    responses(
        (status = 204, description = "Ended."),
        (status = 404, response = NotFound),
    )
)]
pub async fn revoke(caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    caller.no_content(move |e, principal| e.session_revoke(principal, &id)).await
}

/// `DELETE /v1/auth/sessions`: ends every session of the caller's user (this one included).
#[utoipa::path(
    delete, path = "/v1/auth/sessions", operation_id = "auth_sessions_revoke_all", tag = "sessions",
    responses(
        (status = 200, description = "How many sessions ended.", body = Revoked),
        (status = 400, response = BadRequest),
    )
)]
pub async fn revoke_all(caller: Caller) -> Result<JsonOut<Revoked>, ApiError> {
    let revoked = caller.run(move |e, principal| e.sessions_revoke_all(principal)).await?;
    Ok(JsonOut(Revoked { revoked }))
}
