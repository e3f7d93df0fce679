//! Mailed account links, all public and limited per address like logins
//! (`auth.rate_limits.logins_per_ip_per_hour`): `POST /v1/auth/verify-email` (the token of a
//! verification link), `POST /v1/auth/verify-email/resend`, `POST /v1/auth/password-reset`
//! (mail a reset link; the same answer whether or not the address has an account) and
//! `POST /v1/auth/password-reset/confirm` (token and new password; every session of the user
//! ends), and `POST /v1/auth/accept-invitation` (token, and a password for a new account).
//! Verifications, resets and joins are audited as the user.

use std::net::SocketAddr;

use axum::Json as JsonOut;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trove_engine::{Engine, EngineError};
use trove_types::{AcceptInvitation, EmailRequest, JoinedOrganization, PasswordResetConfirm, TokenRequest};
use utoipa::ToSchema;

use super::sessions::{audit_account, limited};
use crate::error::{ApiError, Json};
use crate::openapi::BadRequest;
use crate::{AppState, blocking};

/// The answer to a request for a mailed link.
#[derive(Debug, Serialize, ToSchema)]
pub struct Mailed {
    /// Always `accepted`: whether the address has an account is not told.
    pub status: &'static str,
}

/// The address a verification link proved.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// The verified email.
    pub email: String,
}

/// One audit entry in each of the user's organizations (so each one's admins see it), or one
/// outside any.
fn audit_per_organization(state: &AppState, email: &str, ip: &str, event: &str, orgs: Vec<String>) {
    let target = Some(format!("user:{email}"));
    if orgs.is_empty() {
        audit_account(state, email, ip.to_string(), (event, "ok"), target.clone(), None);
    }
    for org in orgs {
        audit_account(state, email, ip.to_string(), (event, "ok"), target.clone(), Some(org));
    }
}

fn take(state: &AppState, ip: &str) -> Option<Response> {
    state
        .limits
        .logins
        .take(ip)
        .err()
        .map(|wait| limited("account requests", "auth.rate_limits.logins_per_ip_per_hour", wait))
}

/// Mails a link to `email` with `send` (within the address's limit); `202` either way.
async fn mail_a_link(
    state: &AppState,
    peer: SocketAddr,
    email: String,
    send: fn(&Engine, &str) -> Result<(), EngineError>,
) -> Result<Response, ApiError> {
    if let Some(r) = take(state, &peer.ip().to_string()) {
        return Ok(r);
    }
    blocking(state, move |e| send(e, &email)).await?;
    Ok((StatusCode::ACCEPTED, JsonOut(Mailed { status: "accepted" })).into_response())
}

/// `POST /v1/auth/verify-email`.
#[utoipa::path(
    post, path = "/v1/auth/verify-email", operation_id = "auth_verify_email", tag = "sessions",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The address is verified.", body = Verified),
        (status = 400, description = "The link is unknown, used or expired (`invalid_token`)."),
        (status = 429, description = "Too many requests from this address (`rate_limited`)."),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<TokenRequest>,
) -> Result<Response, ApiError> {
    let ip = peer.ip().to_string();
    if let Some(r) = take(&state, &ip) {
        return Ok(r);
    }
    let (email, orgs) = blocking(&state, move |e| e.email_verify(&body.token)).await?;
    audit_per_organization(&state, &email, &ip, "user.email_verified", orgs);
    Ok(JsonOut(Verified { email }).into_response())
}

/// `POST /v1/auth/verify-email/resend`.
#[utoipa::path(
    post, path = "/v1/auth/verify-email/resend", operation_id = "auth_verify_email_resend", tag = "sessions",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "A new link is mailed if the address has an unverified account.", body = Mailed),
        (status = 400, response = BadRequest),
        (status = 429, description = "Too many requests from this address (`rate_limited`)."),
        (status = 502, description = "The mail could not be sent (`mail_failed`)."),
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<EmailRequest>,
) -> Result<Response, ApiError> {
    mail_a_link(&state, peer, body.email, Engine::email_verification_resend).await
}

/// `POST /v1/auth/password-reset`.
#[utoipa::path(
    post, path = "/v1/auth/password-reset", operation_id = "auth_password_reset", tag = "sessions",
    request_body = EmailRequest,
    responses(
        (status = 202, description = "A reset link is mailed if the address has an account.", body = Mailed),
        (status = 400, response = BadRequest),
        (status = 429, description = "Too many requests from this address (`rate_limited`)."),
        (status = 502, description = "The mail could not be sent (`mail_failed`)."),
    )
)]
pub async fn reset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<EmailRequest>,
) -> Result<Response, ApiError> {
    mail_a_link(&state, peer, body.email, Engine::password_reset_request).await
}

/// `POST /v1/auth/password-reset/confirm`.
#[utoipa::path(
    post, path = "/v1/auth/password-reset/confirm", operation_id = "auth_password_reset_confirm", tag = "sessions",
    request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "The password is changed; every session of the user ended."),
        (status = 400, description = "The link is unknown, used or expired (`invalid_token`), or the password too short (`invalid_password`)."),
        (status = 429, description = "Too many requests from this address (`rate_limited`)."),
    )
)]
pub async fn reset_confirm(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<PasswordResetConfirm>,
) -> Result<Response, ApiError> {
    let ip = peer.ip().to_string();
    if let Some(r) = take(&state, &ip) {
        return Ok(r);
    }
    let (email, orgs) = blocking(&state, move |e| e.password_reset_confirm(&body.token, &body.password)).await?;
    audit_per_organization(&state, &email, &ip, "user.password_reset", orgs);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/auth/accept-invitation`.
#[utoipa::path(
    post, path = "/v1/auth/accept-invitation", operation_id = "auth_accept_invitation", tag = "sessions",
    request_body = AcceptInvitation,
    responses(
        (status = 200, description = "The address joined the organization (a new account is made with `password`).", body = JoinedOrganization),
        (status = 400, description = "The link is unknown, used, withdrawn or expired (`invalid_token`), or a new account needs a `password`."),
        (status = 429, description = "Too many requests from this address (`rate_limited`)."),
    )
)]
pub async fn accept_invitation(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<AcceptInvitation>,
) -> Result<Response, ApiError> {
    let ip = peer.ip().to_string();
    if let Some(r) = take(&state, &ip) {
        return Ok(r);
    }
    let joined = blocking(&state, move |e| e.invitation_accept(&body.token, body.password.as_deref())).await?;
    audit_account(
        &state,
        &joined.email,
        ip,
        ("member.joined", "ok"),
        Some(format!("user:{}", joined.email)),
        Some(joined.organization.clone()),
    );
    Ok(JsonOut(JoinedOrganization {
        email: joined.email,
        organization: joined.organization,
        role: joined.role,
        new_account: joined.new_account,
    })
    .into_response())
}
