//! Login sessions: email and password exchanged for an opaque session token (only its SHA-256
//! is stored), with a lifetime per kind of client, a cap of live sessions per user, listing and
//! revocation. A browser keeps the token in an HttpOnly cookie and must echo the session's CSRF
//! token on every write; command-line and SDK clients send the token as a bearer token.
//!
//! A session acts as its user in one organization with the user's current role there: owners
//! and admins hold `admin` on every vault of it; members reach only the vaults granted to them
//! or their teams, at the granted level. Leaving the organization ends it.

use std::collections::HashMap;
use std::sync::OnceLock;

use trove_store::{NewSession, SessionRecord};
use trove_types::{Action, ClientKind, Code, GrantLevel, LoginRequest, LoginResponse, Me, Role, SessionInfo};

use crate::auth::{
    KeyPrincipal, Principal, auth, check_email, constant_time_eq, hash_password, key_principal, random_token,
    sha256_hex, verify_password,
};
use crate::memory::format_ms;
use crate::{Engine, EngineError};

/// Every session token starts with this (API keys start with `trove_`).
pub const SESSION_PREFIX: &str = "tses_";
/// Random characters after the prefix.
const TOKEN_LEN: usize = 43;
/// A session's last use is recorded at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A login that succeeded.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// What the client is told.
    pub response: LoginResponse,
    /// The session token (for the cookie of a web session).
    pub token: String,
    /// Seconds it lasts.
    pub ttl_s: u64,
}

/// The actions a role gives a session.
fn role_actions(role: Role) -> Vec<Action> {
    match role {
        Role::Owner | Role::Admin => vec![Action::Admin],
        Role::Member => vec![Action::Search, Action::DocumentsWrite, Action::MemoriesWrite, Action::Jobs],
    }
}

fn info(r: &SessionRecord, current: Option<&str>) -> SessionInfo {
    SessionInfo {
        id: r.public_id.clone(),
        client: r.session.client.clone(),
        email: r.user_email.clone(),
        organization: r.organization_name.clone(),
        role: r.role.clone().unwrap_or_default(),
        ip: r.session.ip.clone(),
        created_at: format_ms(r.created_ms),
        expires_at: format_ms(r.session.expires_ms),
        last_used_at: r.last_used_ms.map(format_ms),
        current: current == Some(r.public_id.as_str()),
    }
}

/// A password hash to check against when the email is unknown, so both cases take as long.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("trove-decoy-password").unwrap_or_default())
}

impl Engine {
    /// Checks email and password and opens a session in the requested (or the user's first)
    /// organization.
    pub fn login(&self, req: &LoginRequest, ip: Option<&str>) -> Result<LoggedIn, EngineError> {
        let refused = || auth(Code::InvalidCredentials, "the email or the password is wrong");
        let email = check_email(&req.email)?;
        let user = self.store.user_by_email(&email)?;
        let hash = user.as_ref().map_or(decoy_hash(), |u| u.password_hash.as_str());
        let matches = verify_password(&req.password, hash);
        let user = match user {
            Some(u) if matches => u,
            _ => return Err(refused()),
        };
        if self.workspace.config.auth.require_email_verification && user.email_verified_ms.is_none() {
            return Err(auth(
                Code::EmailUnverified,
                format!(
                    "{email} is not verified yet: follow the link mailed to it, or ask for a new one with POST /v1/auth/verify-email/resend"
                ),
            ));
        }
        let memberships = self.store.user_organizations(user.id)?;
        let (organization, organization_name, role) = match &req.organization {
            Some(name) => memberships
                .into_iter()
                .find(|(_, n, _)| n == name)
                .ok_or_else(|| auth(Code::Forbidden, format!("{email} is not a member of organization `{name}`")))?,
            None => memberships.into_iter().next().ok_or_else(|| {
                auth(Code::Forbidden, format!("{email} belongs to no organization; an administrator must add them"))
            })?,
        };
        let sessions = &self.workspace.config.auth.sessions;
        let ttl_s = match req.client {
            ClientKind::Web => sessions.web_ttl_s,
            ClientKind::Cli => sessions.cli_ttl_s,
            ClientKind::Sdk => sessions.sdk_ttl_s,
        };
        let now = self.now_ms();
        let token = format!("{SESSION_PREFIX}{}", random_token(TOKEN_LEN)?);
        let csrf = random_token(32)?;
        let record = self.store.session_create(
            &NewSession {
                user: user.id,
                organization,
                hash: sha256_hex(&token),
                csrf: csrf.clone(),
                client: req.client.as_str().to_string(),
                ip: ip.map(str::to_string),
                expires_ms: now.saturating_add((ttl_s as i64).saturating_mul(1000)),
            },
            sessions.max_per_user,
            now,
        )?;
        tracing::info!(session = %record.public_id, user = %email, organization = %organization_name, role, "logged in");
        let web = req.client == ClientKind::Web;
        Ok(LoggedIn {
            response: LoginResponse {
                session: info(&record, Some(&record.public_id)),
                token: (!web).then(|| token.clone()),
                csrf_token: web.then_some(csrf),
            },
            token,
            ttl_s,
        })
    }

    /// Creates an account when `auth.open_registration` is on. The user belongs to no
    /// organization (and cannot log in) until an administrator adds them.
    pub fn register(&self, email: &str, password: &str) -> Result<(String, String), EngineError> {
        if !self.workspace.config.auth.open_registration {
            return Err(auth(
                Code::Forbidden,
                "registration is closed on this server: an administrator creates accounts (auth.open_registration)",
            ));
        }
        let (user, email) = self.new_user(email, password)?;
        tracing::info!(user = %email, "registered");
        self.send_verification(user.id, &email)?;
        Ok((user.public_id, email))
    }

    /// The principal of a session token. `csrf` is `Some(header)` for a write authenticated by
    /// the cookie: the header must carry the session's CSRF token.
    pub fn authenticate_session(&self, token: &str, csrf: Option<Option<&str>>) -> Result<Principal, EngineError> {
        let invalid = |why: &str| auth(Code::InvalidSession, format!("the session {why}; log in again"));
        let record = self.store.session_by_hash(&sha256_hex(token))?.ok_or_else(|| invalid("is not known"))?;
        let now = self.now_ms();
        if let Some(at) = record.revoked_ms {
            return Err(invalid(&format!("ended at {}", format_ms(at))));
        }
        if record.session.expires_ms <= now {
            return Err(invalid(&format!("expired at {}", format_ms(record.session.expires_ms))));
        }
        let role = record.role.as_deref().and_then(Role::parse).ok_or_else(|| {
            invalid(&format!("belongs to someone no longer in organization `{}`", record.organization_name))
        })?;
        if let Some(header) = csrf
            && !header.is_some_and(|h| constant_time_eq(h.as_bytes(), record.session.csrf.as_bytes()))
        {
            return Err(auth(
                Code::CsrfRejected,
                "a write with the session cookie must send the session's CSRF token in `X-CSRF-Token` (from the login answer)",
            ));
        }
        if record.last_used_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS)
            && let Err(e) = self.store.session_touch(record.id, now)
        {
            tracing::warn!(error = %e, "cannot record a session's last use");
        }
        // A member reaches the vaults granted to them or their teams, each at its best level.
        let grants = match role {
            Role::Owner | Role::Admin => None,
            Role::Member => {
                let mut levels: HashMap<String, GrantLevel> = HashMap::new();
                for (vault, level) in self.store.user_grants(record.session.organization, record.session.user)? {
                    if let Some(level) = GrantLevel::parse(&level) {
                        let best = levels.entry(vault).or_insert(level);
                        *best = (*best).max(level);
                    }
                }
                Some(std::sync::Arc::new(levels))
            }
        };
        Ok(Principal::Key(KeyPrincipal {
            key_id: record.public_id,
            organization: record.session.organization,
            organization_name: record.organization_name,
            vaults: grants.as_ref().map(|g| g.keys().cloned().collect()),
            actions: role_actions(role),
            user_email: record.user_email,
            session: true,
            role: Some(role),
            grants,
        }))
    }

    /// The user behind a session principal.
    fn session_user(&self, principal: &Principal) -> Result<(i64, Option<String>), EngineError> {
        let k = key_principal(principal)?;
        if k.user_email.is_empty() {
            return Err(EngineError::BadRequest(
                "a signed token acts for a backend's end user, who has no Trove account or sessions".into(),
            ));
        }
        let user = self.store.user_by_email(&k.user_email)?.ok_or_else(|| {
            auth(Code::InvalidSession, format!("the user {} no longer exists; log in again", k.user_email))
        })?;
        Ok((user.id, k.session.then(|| k.key_id.clone())))
    }

    /// The live sessions of the principal's user (an API key sees its creator's).
    pub fn sessions_list(&self, principal: &Principal) -> Result<Vec<SessionInfo>, EngineError> {
        let (user, current) = self.session_user(principal)?;
        Ok(self.store.sessions_of_user(user, self.now_ms())?.iter().map(|r| info(r, current.as_deref())).collect())
    }

    /// Ends one of the principal's user's sessions.
    pub fn session_revoke(&self, principal: &Principal, id: &str) -> Result<(), EngineError> {
        let (user, _) = self.session_user(principal)?;
        if self.store.session_revoke(user, id, self.now_ms())? {
            Ok(())
        } else {
            Err(auth(Code::SessionNotFound, format!("you have no live session `{id}`")))
        }
    }

    /// Ends every session of the principal's user; returns how many.
    pub fn sessions_revoke_all(&self, principal: &Principal) -> Result<u64, EngineError> {
        let (user, _) = self.session_user(principal)?;
        Ok(self.store.sessions_revoke_all(user, self.now_ms())?)
    }

    /// Ends the principal's own session (logout).
    pub fn logout(&self, principal: &Principal) -> Result<(), EngineError> {
        match self.session_user(principal)? {
            (user, Some(id)) => {
                self.store.session_revoke(user, &id, self.now_ms())?;
                Ok(())
            }
            (_, None) => Err(EngineError::BadRequest(
                "an API key is not a session: revoke it with DELETE /v1/keys/{id} instead".into(),
            )),
        }
    }
    /// Who `principal` is. `cookie` is the session token of the request's cookie when the
    /// request was authenticated by it: its CSRF token is then part of the answer.
    pub fn me(&self, principal: &Principal, cookie: Option<&str>, auth_required: bool) -> Result<Me, EngineError> {
        let Principal::Key(k) = principal else {
            return Ok(Me {
                auth_required,
                kind: "local".into(),
                email: None,
                organization: None,
                role: None,
                actions: Action::ALL.to_vec(),
                grants: None,
                csrf_token: None,
            });
        };
        let csrf_token = match cookie {
            Some(token) if k.session => self
                .store
                .session_by_hash(&sha256_hex(token))?
                .filter(|r| r.public_id == k.key_id)
                .map(|r| r.session.csrf),
            _ => None,
        };
        let kind = if k.session {
            "session"
        } else if k.user_email.is_empty() {
            "token"
        } else {
            "api_key"
        };
        Ok(Me {
            auth_required,
            kind: kind.into(),
            email: (!k.user_email.is_empty()).then(|| k.user_email.clone()),
            organization: Some(k.organization_name.clone()),
            role: k.role,
            actions: k.actions.clone(),
            grants: k.grants.as_ref().map(|g| g.iter().map(|(v, l)| (v.clone(), *l)).collect()),
            csrf_token,
        })
    }
}
