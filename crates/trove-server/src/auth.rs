//! Who may call what. Every route has one row in [`PERMISSIONS`]: public, or the
//! [`Action`] an API key needs. [`authorize`] runs before every handler: while no user exists
//! (the single-user mode) every request is [`Principal::Local`]; otherwise a request needs
//! `Authorization: Bearer <API key, session token or signed token>` or the `trove_session`
//! cookie of a login
//! (`401` without one or with a bad one; a cookie-authenticated write also needs the session's
//! `X-CSRF-Token`, `403` without), its identity needs the route's action (`403`), and a vault
//! or job outside its reach answers exactly like one that does not exist (`404`), so callers
//! never learn what other organizations hold. The checks themselves are the engine's access
//! boundary ([`trove_engine::access`]), in its one order; the access it decides for the
//! path's vault or job travels to the handler in the request's extensions, where [`Allowed`]
//! turns it into the typed [`Access`] the engine operation requires (so a handler cannot run
//! under another action than its row names).
//! Organization-wide handlers (listing vaults and jobs, members, keys) take the request's
//! [`Principal`] instead (the `call` module's `Caller`).

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trove_engine::access::{JobId, VaultName, perm::Permission};
use trove_engine::auth::Principal;
use trove_engine::sessions::SESSION_PREFIX;
use trove_engine::tokens::looks_like_jwt;
use trove_engine::{Access, AnyAccess, NewAuditEvent};
use trove_types::{Action, Code, Job};

use crate::call::EngineCall;
use crate::error::ApiError;
use crate::{AppState, blocking};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone (probes, metrics, the API description).
    Public,
    /// An identity holding this action (in the vault of the path, if it names one).
    Action(Action),
    /// Any identity; what it may do is checked inside (the MCP endpoint's tools).
    Identity,
}

/// Every route, by method and path template. A route missing here is refused to every key
/// (and a test checks that every served route is listed).
pub const PERMISSIONS: &[(&str, &str, Need)] = {
    use Action::*;
    use Need::Public;
    const fn a(action: Action) -> Need {
        Need::Action(action)
    }
    &[
        ("GET", "/live", Public),
        ("GET", "/ready", Public),
        ("GET", "/health", Public),
        ("GET", "/metrics", Public),
        ("GET", "/openapi.json", Public),
        ("GET", "/docs/errors", Public),
        ("GET", "/v1/vaults", a(Search)),
        ("POST", "/v1/vaults", a(Admin)),
        ("GET", "/v1/vaults/{vault}", a(Search)),
        ("DELETE", "/v1/vaults/{vault}", a(Admin)),
        ("GET", "/v1/vaults/{vault}/sources", a(Search)),
        ("GET", "/v1/vaults/{vault}/status", a(Search)),
        ("GET", "/v1/vaults/{vault}/chunks/{id}/context", a(Search)),
        ("GET", "/v1/vaults/{vault}/chunks/{id}/similar", a(Search)),
        ("POST", "/v1/vaults/{vault}/sources/{source}/sync", a(DocumentsWrite)),
        ("POST", "/v1/vaults/{vault}/reembed", a(Admin)),
        ("POST", "/v1/vaults/{vault}/search", a(Search)),
        ("POST", "/v1/vaults/{vault}/answer", a(Search)),
        ("GET", "/v1/vaults/{vault}/conversations", a(Search)),
        ("GET", "/v1/vaults/{vault}/conversations/{id}", a(Search)),
        ("DELETE", "/v1/vaults/{vault}/conversations/{id}", a(Search)),
        ("GET", "/v1/vaults/{vault}/documents", a(Search)),
        ("POST", "/v1/vaults/{vault}/documents", a(DocumentsWrite)),
        ("GET", "/v1/vaults/{vault}/documents/{id}", a(Search)),
        ("DELETE", "/v1/vaults/{vault}/documents/{id}", a(DocumentsWrite)),
        ("POST", "/v1/vaults/{vault}/memories", a(MemoriesWrite)),
        ("GET", "/v1/vaults/{vault}/memories", a(MemoriesRead)),
        ("POST", "/v1/vaults/{vault}/memories/retrieve", a(MemoriesRead)),
        ("GET", "/v1/vaults/{vault}/memories/stats", a(MemoriesRead)),
        ("GET", "/v1/vaults/{vault}/memories/{id}", a(MemoriesRead)),
        ("PATCH", "/v1/vaults/{vault}/memories/{id}", a(MemoriesWrite)),
        ("DELETE", "/v1/vaults/{vault}/memories/{id}", a(MemoriesWrite)),
        ("GET", "/v1/jobs", a(Jobs)),
        ("GET", "/v1/jobs/{id}", a(Jobs)),
        ("POST", "/v1/jobs/{id}/cancel", a(Jobs)),
        ("GET", "/v1/dlq", a(Jobs)),
        ("GET", "/v1/dlq/{id}", a(Jobs)),
        ("POST", "/v1/dlq/{id}/retry", a(Admin)),
        ("DELETE", "/v1/dlq/{id}", a(Admin)),
        ("GET", "/v1/audit", a(Admin)),
        ("GET", "/v1/keys", a(Admin)),
        ("POST", "/v1/keys", a(Admin)),
        ("DELETE", "/v1/keys/{id}", a(Admin)),
        ("POST", "/v1/tokens", a(Admin)),
        ("POST", "/mcp", Need::Identity),
        ("GET", "/v1/org/members", a(Admin)),
        ("POST", "/v1/org/members", a(Admin)),
        ("PATCH", "/v1/org/members/{id}", a(Admin)),
        ("DELETE", "/v1/org/members/{id}", a(Admin)),
        ("GET", "/v1/org/invitations", a(Admin)),
        ("POST", "/v1/org/invitations", a(Admin)),
        ("DELETE", "/v1/org/invitations/{id}", a(Admin)),
        ("GET", "/v1/org/teams", a(Admin)),
        ("POST", "/v1/org/teams", a(Admin)),
        ("DELETE", "/v1/org/teams/{id}", a(Admin)),
        ("POST", "/v1/org/teams/{id}/members", a(Admin)),
        ("DELETE", "/v1/org/teams/{id}/members/{member}", a(Admin)),
        ("GET", "/v1/org/secrets", a(Admin)),
        ("PUT", "/v1/org/secrets/{name}", a(Admin)),
        ("DELETE", "/v1/org/secrets/{name}", a(Admin)),
        ("GET", "/v1/vaults/{vault}/grants", a(Admin)),
        ("PUT", "/v1/vaults/{vault}/grants", a(Admin)),
        ("DELETE", "/v1/vaults/{vault}/grants/{grantee}", a(Admin)),
        ("POST", "/v1/auth/login", Public),
        ("POST", "/v1/auth/register", Public),
        ("POST", "/v1/auth/verify-email", Public),
        ("POST", "/v1/auth/verify-email/resend", Public),
        ("POST", "/v1/auth/password-reset", Public),
        ("POST", "/v1/auth/password-reset/confirm", Public),
        ("POST", "/v1/auth/accept-invitation", Public),
        ("POST", "/v1/auth/logout", Need::Identity),
        ("GET", "/v1/auth/me", Need::Identity),
        ("GET", "/v1/auth/sessions", Need::Identity),
        ("DELETE", "/v1/auth/sessions", Need::Identity),
        ("DELETE", "/v1/auth/sessions/{id}", Need::Identity),
    ]
};

/// The audit event of each route that changes data (recorded when it succeeds).
const CHANGES: &[(&str, &str, &str)] = &[
    ("POST", "/v1/vaults", "vault.created"),
    ("DELETE", "/v1/vaults/{vault}", "vault.deleted"),
    ("POST", "/v1/vaults/{vault}/sources/{source}/sync", "source.sync_requested"),
    ("POST", "/v1/vaults/{vault}/reembed", "vault.reembed_requested"),
    ("POST", "/v1/vaults/{vault}/documents", "document.uploaded"),
    ("DELETE", "/v1/vaults/{vault}/documents/{id}", "document.deleted"),
    ("POST", "/v1/vaults/{vault}/memories", "memory.created"),
    ("PATCH", "/v1/vaults/{vault}/memories/{id}", "memory.updated"),
    ("DELETE", "/v1/vaults/{vault}/memories/{id}", "memory.deleted"),
    ("DELETE", "/v1/vaults/{vault}/conversations/{id}", "conversation.deleted"),
    ("POST", "/v1/jobs/{id}/cancel", "job.cancel_requested"),
    ("POST", "/v1/dlq/{id}/retry", "job.retried"),
    ("DELETE", "/v1/dlq/{id}", "job.deleted"),
    ("POST", "/v1/keys", "key.created"),
    ("DELETE", "/v1/keys/{id}", "key.revoked"),
    ("POST", "/v1/tokens", "token.minted"),
    ("POST", "/v1/org/members", "member.added"),
    ("PATCH", "/v1/org/members/{id}", "member.role_changed"),
    ("DELETE", "/v1/org/members/{id}", "member.removed"),
    ("POST", "/v1/org/invitations", "member.invited"),
    ("DELETE", "/v1/org/invitations/{id}", "invitation.withdrawn"),
    ("POST", "/v1/org/teams", "team.created"),
    ("DELETE", "/v1/org/teams/{id}", "team.deleted"),
    ("POST", "/v1/org/teams/{id}/members", "team.member_added"),
    ("DELETE", "/v1/org/teams/{id}/members/{member}", "team.member_removed"),
    ("PUT", "/v1/org/secrets/{name}", "secret.set"),
    ("DELETE", "/v1/org/secrets/{name}", "secret.deleted"),
    ("PUT", "/v1/vaults/{vault}/grants", "vault.granted"),
    ("DELETE", "/v1/vaults/{vault}/grants/{grantee}", "vault.grant_revoked"),
    ("POST", "/v1/auth/logout", "session.revoked"),
    ("DELETE", "/v1/auth/sessions", "session.revoked"),
    ("DELETE", "/v1/auth/sessions/{id}", "session.revoked"),
];

/// The cookie a browser session travels in.
pub const SESSION_COOKIE: &str = "trove_session";
/// The header a cookie-authenticated write must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Set by a handler on its response to name what it created (e.g. `memory:mem_…`), for the
/// audit entry.
#[derive(Debug, Clone)]
pub struct AuditTarget(pub String);

/// The answer of a handler that made something: `201 Created` (or `202 Accepted` for a queued
/// job) with the thing as JSON, and the [`AuditTarget`] naming it.
#[derive(Debug)]
pub struct Made<T> {
    status: StatusCode,
    target: String,
    body: T,
}

impl<T> Made<T> {
    /// `201 Created`: `body`, which the audit entry names `target` (e.g. `memory:mem_…`).
    pub fn created(target: String, body: T) -> Self {
        Made { status: StatusCode::CREATED, target, body }
    }
}

impl Made<Job> {
    /// `202 Accepted`: the queued job (`job:job_…` in the audit entry).
    pub fn queued(job: Job) -> Self {
        Made { status: StatusCode::ACCEPTED, target: format!("job:{}", job.id), body: job }
    }
}

impl<T: Serialize> IntoResponse for Made<T> {
    fn into_response(self) -> Response {
        (self.status, Extension(AuditTarget(self.target)), axum::Json(self.body)).into_response()
    }
}

/// The row of a route.
pub fn need(method: &Method, template: &str) -> Option<Need> {
    if *method == Method::GET && crate::web::PATHS.contains(&template) {
        return Some(Need::Public);
    }
    PERMISSIONS.iter().find(|(m, p, _)| *m == method.as_str() && *p == template).map(|(_, _, n)| *n)
}

/// The value of `{name}` in `path`, matched against `template`.
fn path_param<'a>(template: &str, path: &'a str, name: &str) -> Option<&'a str> {
    let want = format!("{{{name}}}");
    template.split('/').zip(path.split('/')).find(|(t, _)| *t == want).map(|(_, v)| v)
}

/// What the middleware decided for the path's vault or job, for the handler.
#[derive(Debug, Clone)]
enum Decided {
    Vault(AnyAccess<VaultName>),
    Job(AnyAccess<JobId>),
}

/// The typed access to the path's vault (or, as `Allowed<P, JobId>`, its job) that the
/// middleware decided with the route's row of [`PERMISSIONS`]; a handler whose `P` is not that
/// row's action answers `500 internal` (a bug the route tests catch), never runs unchecked.
/// The handler runs its engine call with it (see the `call` module).
pub struct Allowed<P: Permission, T = VaultName> {
    state: AppState,
    access: Access<P, T>,
}

impl<P: Permission, T> Allowed<P, T> {
    /// The access itself.
    pub fn access(&self) -> &Access<P, T> {
        &self.access
    }
}

impl<P, T> FromRequestParts<AppState> for Allowed<P, T>
where
    P: Permission,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let decided = parts.extensions.get::<AnyAccess<T>>().ok_or_else(|| {
            ApiError::new(
                Code::Internal,
                "no access was decided for this route: it needs its row in auth::PERMISSIONS and a {vault} or job {id} in its path",
            )
        })?;
        Ok(Allowed { state: state.clone(), access: decided.to::<P>()? })
    }
}

impl<P, T> EngineCall for Allowed<P, T>
where
    P: Permission,
    Access<P, T>: Send + 'static,
{
    type Who = Access<P, T>;

    fn into_parts(self) -> (AppState, Access<P, T>) {
        (self.state, self.access)
    }
}

/// Authenticates and authorizes a request (see the module documentation).
pub async fn authorize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let asked = Asked {
        ip: ip.clone(),
        template: req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()),
        method: req.method().clone(),
        path: req.uri().path().to_string(),
        authorization: req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        cookie: session_cookie(req.headers()),
        csrf: req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string),
    };
    let (method, template, path) = (asked.method.clone(), asked.template.clone(), asked.path.clone());
    let presented = asked.authorization.is_some() || asked.cookie.is_some();
    let template = template.unwrap_or_default();
    let target = target_of(&template, &path);
    match check(&state, asked).await {
        Ok((principal, decided)) => {
            req.extensions_mut().insert(principal.clone());
            match decided {
                Some(Decided::Vault(access)) => {
                    req.extensions_mut().insert(access);
                }
                Some(Decided::Job(access)) => {
                    req.extensions_mut().insert(access);
                }
                None => {}
            }
            let response = next.run(req).await;
            let event = CHANGES.iter().find(|(m, t, _)| *m == method.as_str() && *t == template).map(|(_, _, e)| *e);
            if let Some(event) = event.filter(|_| response.status().is_success()) {
                let created = response.extensions().get::<AuditTarget>().map(|t| t.0.clone());
                let target = match (target, created) {
                    (Some(t), Some(c)) => Some(format!("{t}/{c}")),
                    (t, c) => t.or(c),
                };
                let details = serde_json::json!({"method": method.as_str(), "route": template, "status": response.status().as_u16()});
                record(&state, &principal, ip, event, target, "ok", details);
            }
            response
        }
        Err(e) => {
            // Refusals of a presented identity are security events; a request with no key
            // at all is not an attempt to use one.
            // Refusals for rate are not written (an attacker must not turn the limit into
            // unbounded writes); the log line of the request records them.
            if (presented || e.code != Code::MissingAuthorization) && e.code != Code::RateLimited {
                let details = serde_json::json!({
                    "method": method.as_str(), "route": template, "status": e.code.info().http_status, "code": e.code.info().name,
                });
                let event = match e.code {
                    Code::InvalidApiKey | Code::InvalidSession | Code::MissingAuthorization => "auth.rejected",
                    _ => "auth.denied",
                };
                let actor = Principal::Local;
                let principal = e.principal.as_ref().unwrap_or(&actor);
                record(&state, principal, ip, event, target, "denied", details);
            }
            let mut response = e.error.into_response();
            if let Some(wait) = e.retry_after
                && let Ok(v) = axum::http::HeaderValue::from_str(&wait.as_secs().max(1).to_string())
            {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            response
        }
    }
}

/// `vault:<name>` and the id of the path, as an audit target.
fn target_of(template: &str, path: &str) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(v) = path_param(template, path, "vault") {
        parts.push(format!("vault:{v}"));
    }
    if let Some(s) = path_param(template, path, "source") {
        parts.push(format!("source:{s}"));
    }
    if let Some(name) = path_param(template, path, "name") {
        parts.push(format!("secret:{name}"));
    }
    if let Some(id) = path_param(template, path, "id") {
        let kind = if template.contains("/members/") {
            "member"
        } else if template.contains("/sessions/") {
            "session"
        } else if template.contains("/memories/") {
            "memory"
        } else if template.contains("/documents/") {
            "document"
        } else if template.contains("/chunks/") {
            "chunk"
        } else if template.starts_with("/v1/keys/") {
            "key"
        } else if template.starts_with("/v1/org/invitations/") {
            "invitation"
        } else if template.starts_with("/v1/org/teams/") {
            "team"
        } else {
            "job"
        };
        parts.push(format!("{kind}:{id}"));
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The session token of the `trove_session` cookie, if any.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Appends an audit entry on the blocking pool, without holding up the answer.
pub(crate) fn record(
    state: &AppState,
    principal: &Principal,
    ip: Option<String>,
    event: &str,
    target: Option<String>,
    outcome: &str,
    details: serde_json::Value,
) {
    let (actor, organization) = match principal {
        Principal::Local if outcome == "denied" => ("anonymous".to_string(), None),
        Principal::Local => ("local".to_string(), None),
        Principal::Key(k) if k.session => (format!("session:{}", k.key_id), Some(k.organization)),
        Principal::Key(k) => (format!("key:{}", k.key_id), Some(k.organization)),
    };
    let entry = NewAuditEvent {
        at_ms: 0,
        organization,
        actor,
        ip,
        event: event.to_string(),
        target,
        outcome: outcome.to_string(),
        details,
    };
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || engine.audit(entry));
}

/// What [`check`] needs of a request.
struct Asked {
    ip: Option<String>,
    template: Option<String>,
    method: Method,
    path: String,
    authorization: Option<String>,
    cookie: Option<String>,
    csrf: Option<String>,
}

/// A refusal, with the identity that was refused when there was one.
struct Refusal {
    error: ApiError,
    code: Code,
    principal: Option<Principal>,
    retry_after: Option<std::time::Duration>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Refusal {
        Refusal { code: error.code, error, principal: None, retry_after: None }
    }
}

fn rate_limited(what: &str, wait: std::time::Duration, principal: Option<Principal>) -> Refusal {
    let secs = wait.as_secs().max(1);
    Refusal {
        error: ApiError::new(Code::RateLimited, format!("{what}; retry in {secs} s (auth.rate_limits)")),
        code: Code::RateLimited,
        principal,
        retry_after: Some(wait),
    }
}

async fn check(state: &AppState, asked: Asked) -> Result<(Principal, Option<Decided>), Refusal> {
    // Public routes read no credentials (a login carrying a stale cookie must still work).
    let public = asked.template.as_deref().and_then(|t| need(&asked.method, t)) == Some(Need::Public);
    if let Some(ip) = &asked.ip
        && !public
        && (asked.authorization.is_some() || asked.cookie.is_some())
        && let Err(wait) = state.limits.failed_auth.check(ip)
    {
        return Err(rate_limited("too many refused credentials from this address", wait, None));
    }
    let principal = match authenticate(state, &asked).await {
        Ok(p) => p,
        Err(e) => {
            if matches!(e.code, Code::InvalidApiKey | Code::InvalidSession)
                && let Some(ip) = &asked.ip
            {
                let _ = state.limits.failed_auth.take(ip);
            }
            return Err(e.into());
        }
    };
    if let Principal::Key(k) = &principal
        && let Err(wait) = state.limits.per_key.take(&k.key_id)
    {
        return Err(rate_limited("this API key made too many requests", wait, Some(principal.clone())));
    }
    let decided = authorize_for(state, &asked, &principal).await.map_err(|error| Refusal {
        code: error.code,
        error,
        principal: Some(principal.clone()),
        retry_after: None,
    })?;
    Ok((principal, decided))
}

/// The identity of a request (Local when authentication is off or the route is public).
async fn authenticate(state: &AppState, asked: &Asked) -> Result<Principal, ApiError> {
    let Some(template) = &asked.template else { return Ok(Principal::Local) };
    let need = need(&asked.method, template);
    if need == Some(Need::Public) || !state.auth_enabled() {
        return Ok(Principal::Local);
    }
    let key = asked.authorization.as_deref().and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
    if let Some(key) = key.filter(|k| !k.is_empty()) {
        let key = key.to_string();
        return if key.starts_with(SESSION_PREFIX) {
            blocking(state, move |e| e.authenticate_session(&key, None)).await
        } else if looks_like_jwt(&key) {
            blocking(state, move |e| e.authenticate_jwt(&key)).await
        } else {
            blocking(state, move |e| e.authenticate(&key)).await
        };
    }
    let Some(token) = asked.cookie.clone() else {
        return Err(ApiError::new(
            Code::MissingAuthorization,
            "this server requires an identity: send `Authorization: Bearer <key>` (create one with `trove admin create-key`) or log in with POST /v1/auth/login",
        ));
    };
    // A browser sends cookies with requests other sites make it send: writes must prove they
    // come from a page that read the login answer.
    let safe = matches!(asked.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let csrf = asked.csrf.clone();
    blocking(state, move |e| e.authenticate_session(&token, (!safe).then_some(csrf.as_deref()))).await
}

/// Whether `principal` may call the route on what its path names, decided by the engine's
/// access boundary: with the path's vault, or job, or neither.
async fn authorize_for(state: &AppState, asked: &Asked, principal: &Principal) -> Result<Option<Decided>, ApiError> {
    let (method, path) = (&asked.method, &asked.path);
    let Some(template) = asked.template.clone() else { return Ok(None) };
    let action = match need(method, &template) {
        Some(Need::Action(action)) => action,
        _ if *principal == Principal::Local => return Ok(None),
        Some(Need::Identity) => return Ok(None),
        _ => {
            return Err(ApiError::new(
                Code::Forbidden,
                format!("{} {template} is not open to API keys or sessions", method),
            ));
        }
    };
    // A refusal names the route it refused.
    let refused = |e: ApiError| match e.code {
        Code::Forbidden => ApiError::new(e.code, format!("{method} {template}: {}", e.message)),
        _ => e,
    };
    let p = principal.clone();
    if let Some(vault) = path_param(&template, path, "vault") {
        let vault = vault.to_string();
        let access = blocking(state, move |e| e.authorize_action(&p, &vault, action)).await.map_err(refused)?;
        return Ok(Some(Decided::Vault(access)));
    }
    if template.starts_with("/v1/jobs/") || template.starts_with("/v1/dlq/") {
        let id = path_param(&template, path, "id").unwrap_or_default().to_string();
        let access = blocking(state, move |e| e.authorize_job_action(&p, &id, action)).await.map_err(refused)?;
        return Ok(Some(Decided::Job(access)));
    }
    state.engine.authorize_global(principal, action).map_err(|e| refused(e.into()))?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_params_are_read_from_the_template() {
        let t = "/v1/vaults/{vault}/memories/{id}";
        assert_eq!(path_param(t, "/v1/vaults/notes/memories/mem_1", "vault"), Some("notes"));
        assert_eq!(path_param(t, "/v1/vaults/notes/memories/mem_1", "id"), Some("mem_1"));
        assert_eq!(path_param(t, "/v1/vaults/notes/memories/mem_1", "source"), None);
    }

    #[test]
    fn audit_targets_name_what_the_path_names() {
        assert_eq!(target_of("/v1/keys/{id}", "/v1/keys/key_1").as_deref(), Some("key:key_1"));
        assert_eq!(target_of("/v1/dlq/{id}", "/v1/dlq/job_1").as_deref(), Some("job:job_1"));
        assert_eq!(target_of("/v1/org/members/{id}", "/v1/org/members/usr_1").as_deref(), Some("member:usr_1"));
        assert_eq!(
            target_of("/v1/vaults/{vault}/chunks/{id}/context", "/v1/vaults/n/chunks/7/context").as_deref(),
            Some("vault:n/chunk:7")
        );
        assert_eq!(
            target_of("/v1/vaults/{vault}/memories/{id}", "/v1/vaults/n/memories/mem_1").as_deref(),
            Some("vault:n/memory:mem_1")
        );
    }

    #[test]
    fn every_served_route_has_a_permission() {
        let value: serde_json::Value = serde_json::from_str(crate::openapi::json()).unwrap();
        let mut served = Vec::new();
        for (path, item) in value["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                served.push((method.to_uppercase(), path.clone()));
            }
        }
        for (method, path) in &served {
            assert!(need(&Method::from_bytes(method.as_bytes()).unwrap(), path).is_some(), "{method} {path}");
        }
        assert_eq!(served.len(), PERMISSIONS.len(), "no stale rows");
    }
}
