//! Invitations to join an organization, made by its administrators and mailed as a
//! single-use link (`…/#/invite?token=…`, valid `auth.invitation_ttl_s`). Accepting adds the
//! invited address to the organization with the invited role: an existing account joins at
//! once; for a new address a password makes the account (already verified: the mail reached
//! it). Only the SHA-256 of a link's token is stored; an invitation works once and can be
//! withdrawn while pending.

use trove_store::InvitationRecord;
use trove_types::{Code, Invitation, Role};

use crate::auth::{Principal, auth, check_email, key_principal, random_token, sha256_hex};
use crate::memory::format_ms;
use crate::{Engine, EngineError};

fn view(r: InvitationRecord, now: i64) -> Invitation {
    let status = if r.accepted_ms.is_some() {
        "accepted"
    } else if r.revoked_ms.is_some() {
        "withdrawn"
    } else if r.expires_ms <= now {
        "expired"
    } else {
        "pending"
    };
    Invitation {
        id: r.public_id,
        email: r.email,
        organization: r.organization_name,
        role: Role::parse(&r.role).unwrap_or(Role::Member),
        invited_by: r.invited_by,
        created_at: format_ms(r.created_ms),
        expires_at: format_ms(r.expires_ms),
        status: status.into(),
    }
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The account's email.
    pub email: String,
    /// The organization joined.
    pub organization: String,
    /// The role there.
    pub role: Role,
    /// Whether the account was made by accepting.
    pub new_account: bool,
}

impl Engine {
    /// The principal's organization's invitations, newest first.
    pub fn invitations(&self, principal: &Principal) -> Result<Vec<Invitation>, EngineError> {
        let k = key_principal(principal)?;
        let now = self.now_ms();
        Ok(self.store.invitations(k.organization)?.into_iter().map(|r| view(r, now)).collect())
    }

    /// Invites `email` into the principal's organization with `role` and mails the link.
    pub fn invite(&self, principal: &Principal, email: &str, role: Role) -> Result<Invitation, EngineError> {
        let k = key_principal(principal)?;
        if role == Role::Owner && k.role != Some(Role::Owner) {
            return Err(auth(Code::Forbidden, "only an owner (logged in) may invite owners"));
        }
        let email = check_email(email)?;
        if self.store.members(k.organization)?.iter().any(|m| m.email.eq_ignore_ascii_case(&email)) {
            return Err(auth(Code::UserExists, format!("{email} is already a member of {}", k.organization_name)));
        }
        let token = random_token(43)?;
        let now = self.now_ms();
        let ttl = self.workspace.config.auth.invitation_ttl_s;
        let record = InvitationRecord {
            public_id: format!("inv_{}", random_token(20)?.to_ascii_lowercase()),
            organization: k.organization,
            organization_name: k.organization_name.clone(),
            email: email.clone(),
            role: role.as_str().into(),
            hash: sha256_hex(&token),
            invited_by: if k.user_email.is_empty() { format!("key:{}", k.key_id) } else { k.user_email.clone() },
            created_ms: now,
            expires_ms: now.saturating_add((ttl as i64).saturating_mul(1000)),
            accepted_ms: None,
            revoked_ms: None,
        };
        self.store.invitation_create(&record)?;
        let link = format!("{}/#/invite?token={token}", self.public_url());
        let body = format!(
            "{} invites you to join the organization {} on Trove as {}.\n\nAccept within {} days by opening this link:\n\n{link}\n\nOr send the token to POST /v1/auth/accept-invitation (with a password if you have no account yet): {token}\n\nIf you did not expect this, ignore this mail.\n",
            record.invited_by,
            record.organization_name,
            role.as_str(),
            ttl / 86_400
        );
        self.mailer()?.send(&email, &format!("Join {} on Trove", record.organization_name), &body)?;
        tracing::info!(organization = %record.organization_name, invited = %email, "invited");
        Ok(view(record, now))
    }

    /// Withdraws a pending invitation.
    pub fn invitation_revoke(&self, principal: &Principal, id: &str) -> Result<(), EngineError> {
        let k = key_principal(principal)?;
        if !self.store.invitation_revoke(k.organization, id, self.now_ms())? {
            return Err(auth(
                Code::InvitationNotFound,
                format!("{} has no pending invitation `{id}`", k.organization_name),
            ));
        }
        Ok(())
    }

    /// Accepts an invitation: an existing account joins; a new address needs `password`.
    pub fn invitation_accept(&self, token: &str, password: Option<&str>) -> Result<Joined, EngineError> {
        let invalid = || {
            auth(
                Code::InvalidToken,
                "the invitation link is unknown, used, withdrawn or expired: ask the organization's admin for a new one",
            )
        };
        let hash = sha256_hex(token.trim());
        let inv = self.store.invitation_by_hash(&hash)?.ok_or_else(invalid)?;
        let role = Role::parse(&inv.role).unwrap_or(Role::Member);
        let existing = self.store.user_by_email(&inv.email)?;
        if existing.is_none() {
            let Some(password) = password else {
                return Err(EngineError::BadRequest(format!(
                    "{} has no Trove account yet: send a `password` (at least {} characters) to make one",
                    inv.email, self.workspace.config.auth.password_min_length
                )));
            };
            crate::auth::check_password(password, self.workspace.config.auth.password_min_length)?;
        }
        if !self.store.invitation_accept(&hash, self.now_ms())? {
            return Err(invalid());
        }
        let (user, new_account) = match existing {
            Some(u) => (u, false),
            None => {
                let (u, _) = self.new_user(&inv.email, password.unwrap_or_default())?;
                (u, true)
            }
        };
        // The link reached the address.
        self.store.user_update(user.id, None, Some(self.now_ms()))?;
        self.store.membership_put(inv.organization, user.id, role.as_str(), self.now_ms())?;
        tracing::info!(organization = %inv.organization_name, user = %user.email, new_account, "joined by invitation");
        Ok(Joined { email: user.email, organization: inv.organization_name, role, new_account })
    }
}
