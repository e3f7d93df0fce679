//! Proving an email address and recovering a password through mailed, single-use links: a
//! verification link (sent at registration and on request) and a password-reset link. Only a
//! SHA-256 of each link's token is stored; a token works once, within
//! `auth.verification_ttl_s` or `auth.reset_ttl_s`, and a newer link of the same kind ends the
//! older. Asking for a link never tells whether the address has an account. A reset ends every
//! session of the user and also verifies the address (the mail reached it).

use std::sync::Arc;

use trove_types::Code;

use crate::auth::{auth, check_email, check_password, hash_password, random_token, sha256_hex};
use crate::mail::Mailer;
use crate::{Engine, EngineError};

const VERIFY: &str = "verify";
const RESET: &str = "reset";

impl Engine {
    /// Sends mail through this mailer instead of the one `mail:` describes (tests).
    pub fn with_mailer(self, mailer: Arc<dyn Mailer>) -> Engine {
        let _ = self.mailer.set(mailer);
        self
    }

    pub(crate) fn mailer(&self) -> Result<Arc<dyn Mailer>, EngineError> {
        if let Some(m) = self.mailer.get() {
            return Ok(m.clone());
        }
        let mut mail = self.workspace.config.mail.clone();
        if let Some(password) = mail.smtp.as_mut().and_then(|s| s.password.as_mut()) {
            *password = self.resolve_credential("mail.smtp.password", None, password)?;
        }
        let made = crate::mail::mailer(&mail, self.clock.clone())?;
        Ok(self.mailer.get_or_init(|| made).clone())
    }

    /// The base of links in mail: `auth.public_url`, else `http://` and `server.bind`.
    pub(crate) fn public_url(&self) -> String {
        let config = &self.workspace.config;
        config
            .auth
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.server.bind))
            .trim_end_matches('/')
            .to_string()
    }

    /// A new single-use token of `purpose` for the user, valid `ttl_s`.
    fn user_token(&self, user: i64, purpose: &str, ttl_s: u64) -> Result<String, EngineError> {
        let token = random_token(43)?;
        let now = self.now_ms();
        let expires = now.saturating_add((ttl_s as i64).saturating_mul(1000));
        self.store.user_token_create(user, purpose, &sha256_hex(&token), now, expires)?;
        Ok(token)
    }

    pub(crate) fn send_verification(&self, user: i64, email: &str) -> Result<(), EngineError> {
        let ttl = self.workspace.config.auth.verification_ttl_s;
        let token = self.user_token(user, VERIFY, ttl)?;
        let link = format!("{}/#/verify?token={token}", self.public_url());
        let body = format!(
            "Someone (hopefully you) made a Trove account for {email}.\n\nConfirm the address by opening this link within {} hours:\n\n{link}\n\nOr send the token to POST /v1/auth/verify-email: {token}\n\nIf it was not you, ignore this mail.\n",
            ttl / 3600
        );
        self.mailer()?.send(email, "Confirm your email address for Trove", &body)
    }

    /// Sends a new verification link to an unverified account; does nothing (and says
    /// nothing different) for an unknown or verified address.
    pub fn email_verification_resend(&self, email: &str) -> Result<(), EngineError> {
        let email = check_email(email)?;
        match self.store.user_by_email(&email)? {
            Some(u) if u.email_verified_ms.is_none() => self.send_verification(u.id, &u.email),
            _ => Ok(()),
        }
    }

    /// Verifies the address a link was mailed to; returns it and the user's organizations.
    pub fn email_verify(&self, token: &str) -> Result<(String, Vec<String>), EngineError> {
        let user = self.take(VERIFY, token)?;
        self.store.user_update(user.id, None, Some(self.now_ms()))?;
        tracing::info!(user = %user.email, "email verified");
        self.with_organizations(user)
    }

    fn with_organizations(&self, user: trove_store::UserRecord) -> Result<(String, Vec<String>), EngineError> {
        let orgs = self.store.user_organizations(user.id)?.into_iter().map(|(_, name, _)| name).collect();
        Ok((user.email, orgs))
    }

    /// Mails a password-reset link to the address if it has an account; the answer is the
    /// same either way.
    pub fn password_reset_request(&self, email: &str) -> Result<(), EngineError> {
        let email = check_email(email)?;
        let Some(user) = self.store.user_by_email(&email)? else { return Ok(()) };
        let ttl = self.workspace.config.auth.reset_ttl_s;
        let token = self.user_token(user.id, RESET, ttl)?;
        let link = format!("{}/#/reset?token={token}", self.public_url());
        let body = format!(
            "Someone (hopefully you) asked to reset the Trove password of {}.\n\nChoose a new one by opening this link within {} minutes:\n\n{link}\n\nOr send the token with the new password to POST /v1/auth/password-reset/confirm: {token}\n\nIf it was not you, ignore this mail: the password stays as it is.\n",
            user.email,
            ttl / 60
        );
        self.mailer()?.send(&user.email, "Reset your Trove password", &body)
    }

    /// Sets a new password with a reset link's token; every session of the user ends.
    /// Returns the user's email and organizations.
    pub fn password_reset_confirm(&self, token: &str, password: &str) -> Result<(String, Vec<String>), EngineError> {
        check_password(password, self.workspace.config.auth.password_min_length)?;
        let user = self.take(RESET, token)?;
        let hash = hash_password(password)?;
        let now = self.now_ms();
        self.store.user_update(user.id, Some(&hash), Some(now))?;
        let ended = self.store.sessions_revoke_all(user.id, now)?;
        tracing::info!(user = %user.email, sessions_ended = ended, "password reset");
        self.with_organizations(user)
    }

    /// Sets a user's password on the operator's word (`trove admin reset-password`, no mailed
    /// link): every session of the user ends, and the address counts as verified. Returns how
    /// many sessions ended and the user's organizations.
    pub fn admin_reset_password(&self, email: &str, password: &str) -> Result<(u64, Vec<String>), EngineError> {
        let email = check_email(email)?;
        check_password(password, self.workspace.config.auth.password_min_length)?;
        let user = self.store.user_by_email(&email)?.ok_or_else(|| {
            auth(Code::UserNotFound, format!("no user has the email {email}: create one with trove admin create-user"))
        })?;
        let hash = hash_password(password)?;
        let now = self.now_ms();
        self.store.user_update(user.id, Some(&hash), Some(user.email_verified_ms.unwrap_or(now)))?;
        let ended = self.store.sessions_revoke_all(user.id, now)?;
        tracing::info!(user = %user.email, sessions_ended = ended, "password reset by an administrator");
        Ok((ended, self.with_organizations(user)?.1))
    }

    fn take(&self, purpose: &str, token: &str) -> Result<trove_store::UserRecord, EngineError> {
        let token = token.trim();
        self.store.user_token_take(purpose, &sha256_hex(token), self.now_ms())?.ok_or_else(|| {
            auth(
                Code::InvalidToken,
                match purpose {
                    RESET => "the reset link is unknown, used or expired: ask for a new one (POST /v1/auth/password-reset)",
                    _ => "the verification link is unknown, used or expired: ask for a new one (POST /v1/auth/verify-email/resend)",
                },
            )
        })
    }
}
