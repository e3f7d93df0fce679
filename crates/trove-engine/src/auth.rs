//! Accounts and access: users (argon2id password hashes), organizations and their members,
//! API keys (random secrets of which only a SHA-256 hash is stored, scoped to an
//! organization's vaults and to actions), and the [`Principal`] a request acts as.
//!
//! Authentication is on as soon as one user exists; before that every caller is
//! [`Principal::Local`] (the single-user mode, which `trove serve` allows on loopback only).
//! A key reaches a vault only when the vault belongs to the key's organization and the key
//! names it (or `*`); anything else looks, to the key, like a vault that does not exist.

use std::collections::{HashMap, HashSet};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};
use trove_store::{ApiKeyRecord, NewApiKey, UserRecord, VaultInfo};
use trove_types::{Action, ApiKeyInfo, Code, CreatedApiKey, GrantLevel, Role};

use crate::memory::format_ms;
use crate::{Engine, EngineError};

/// Every key starts with this, so secret scanners and people recognise it.
pub const KEY_PREFIX: &str = "trove_";
/// Characters of the public lookup part after [`KEY_PREFIX`].
const LOOKUP_LEN: usize = 12;
/// Characters of the secret part.
const SECRET_LEN: usize = 32;
/// A key's last use is recorded at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;
/// Longest password accepted (argon2 cost grows with it; nobody needs more).
const MAX_PASSWORD_BYTES: usize = 1024;

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// No users exist: the single-user mode, allowed everything.
    Local,
    /// An API key.
    Key(KeyPrincipal),
}

/// What an API key may reach.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPrincipal {
    /// The key's public id.
    pub key_id: String,
    /// Its organization's row id.
    pub organization: i64,
    /// Its organization's name.
    pub organization_name: String,
    /// Vault names it may use; `None` for every vault of the organization.
    pub vaults: Option<HashSet<String>>,
    /// Actions it holds.
    pub actions: Vec<Action>,
    /// Email of the user who created it (keys it creates are theirs too).
    pub user_email: String,
    /// Whether this is a login session (`key_id` is then the session's `ses_…` id) rather
    /// than an API key.
    pub session: bool,
    /// A session's user's role in the organization (API keys have none: what they may do is
    /// their actions).
    pub role: Option<Role>,
    /// For a member's session: the level granted on each vault it sees (directly or through a
    /// team); what it may do in a vault is that level's. `None`: not limited by grants.
    pub grants: Option<std::sync::Arc<HashMap<String, GrantLevel>>>,
}

impl Principal {
    /// Whether it may perform `action` (in the vaults it sees).
    pub fn allows(&self, action: Action) -> bool {
        match self {
            Principal::Local => true,
            Principal::Key(k) => k.actions.iter().any(|a| a.grants(action)),
        }
    }

    /// Whether it may perform `action` in the vault named `vault` (which it sees): a member's
    /// session by its grant there, anyone else by [`Principal::allows`].
    pub fn allows_in(&self, action: Action, vault: &str) -> bool {
        match self {
            Principal::Key(KeyPrincipal { grants: Some(grants), .. }) => {
                grants.get(vault).is_some_and(|level| level.allows(action))
            }
            _ => self.allows(action),
        }
    }

    /// Whether what it may do differs per vault (a member's session).
    pub fn has_grants(&self) -> bool {
        matches!(self, Principal::Key(KeyPrincipal { grants: Some(_), .. }))
    }

    /// Whether `vault` exists for it at all.
    pub fn sees(&self, vault: &VaultInfo) -> bool {
        match self {
            Principal::Local => true,
            Principal::Key(k) => {
                vault.organization == Some(k.organization)
                    && k.vaults.as_ref().is_none_or(|names| names.contains(&vault.name))
            }
        }
    }

    /// The organization new vaults it creates belong to.
    pub fn organization(&self) -> Option<i64> {
        match self {
            Principal::Local => None,
            Principal::Key(k) => Some(k.organization),
        }
    }
}

/// A user just created.
#[derive(Debug, Clone, PartialEq)]
pub struct UserCreated {
    /// Stable id (`usr_…`).
    pub id: String,
    /// Their email.
    pub email: String,
    /// The organization they joined.
    pub organization: String,
    /// Their role there.
    pub role: Role,
    /// Vaults without an organization that the new owner's organization took.
    pub claimed_vaults: u64,
}

/// What a new API key may do.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRequest {
    /// Email of the user creating it (a member of the organization).
    pub email: String,
    /// The organization.
    pub organization: String,
    /// A label.
    pub name: String,
    /// Vault names of the organization, or `*`.
    pub vaults: Vec<String>,
    /// Actions.
    pub actions: Vec<Action>,
    /// Days until it stops working; `None` never.
    pub expires_in_days: Option<u32>,
}

pub(crate) fn auth(code: Code, message: impl Into<String>) -> EngineError {
    EngineError::Auth { code, message: message.into() }
}

/// `n` random characters of `[0-9A-Za-z]`.
pub(crate) fn random_token(n: usize) -> Result<String, EngineError> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).map_err(|e| EngineError::Internal(format!("no system randomness: {e}")))?;
        // Rejection sampling keeps every character equally likely.
        for b in buf {
            if b < 248 && out.len() < n {
                out.push(ALPHABET[usize::from(b % 62)] as char);
            }
        }
    }
    Ok(out)
}

pub(crate) fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal without leaking where the first difference is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn check_email(email: &str) -> Result<String, EngineError> {
    let email = email.trim();
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if ok {
        Ok(email.to_string())
    } else {
        Err(EngineError::BadRequest(format!("`{email}` is not an email address like `ada@example.com`")))
    }
}

/// Hashes a password with argon2id (19 MiB, 2 passes: OWASP's minimum) and a random salt.
/// Refuses a password shorter than `min` characters (`auth.password_min_length`) or longer
/// than the hashing limit.
pub(crate) fn check_password(password: &str, min: usize) -> Result<(), EngineError> {
    if password.chars().count() < min {
        return Err(auth(
            Code::InvalidPassword,
            format!(
                "the password has {} characters; at least {min} are required (auth.password_min_length)",
                password.chars().count()
            ),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(auth(Code::InvalidPassword, format!("the password is longer than {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String, EngineError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| EngineError::Internal(format!("no system randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| EngineError::Internal(format!("hashing the password failed: {e}")))?
        .to_string())
}

/// Whether `password` matches a hash made by [`hash_password`].
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The description of a stored key.
fn key_info(k: &ApiKeyRecord) -> ApiKeyInfo {
    ApiKeyInfo {
        id: k.public_id.clone(),
        name: k.key.name.clone(),
        prefix: format!("{KEY_PREFIX}{}", k.key.prefix),
        organization: k.organization_name.clone(),
        created_by: k.user_email.clone(),
        vaults: k.key.vaults.clone(),
        actions: k.key.actions.iter().filter_map(|a| Action::parse(a)).collect(),
        created_at: format_ms(k.created_ms),
        expires_at: k.key.expires_ms.map(format_ms),
        last_used_at: k.last_used_ms.map(format_ms),
        revoked_at: k.revoked_ms.map(format_ms),
    }
}

impl Engine {
    /// Whether requests must authenticate: true once any user exists.
    pub fn auth_enabled(&self) -> Result<bool, EngineError> {
        Ok(self.store.user_count()? > 0)
    }

    /// Creates a user in `organization` (created when missing) with `role`. An owner's
    /// organization also takes every vault that belongs to no organization yet, which is how
    /// the first administrator takes over a single-user workspace.
    pub fn create_user(
        &self,
        email: &str,
        password: &str,
        organization: &str,
        role: Role,
    ) -> Result<UserCreated, EngineError> {
        if !trove_config::valid_name(organization) {
            return Err(EngineError::BadRequest(format!(
                "`{organization}` is not a usable organization name: use letters, digits, `-` and `_`"
            )));
        }
        let (user, email) = self.new_user(email, password)?;
        // An administrator vouches for the address.
        self.store.user_update(user.id, None, Some(self.now_ms()))?;
        let now = self.now_ms();
        let org = self.store.organization_ensure(organization, now)?;
        self.store.membership_put(org.id, user.id, role.as_str(), now)?;
        let claimed = if role == Role::Owner { self.store.vaults_claim_unowned(org.id)? } else { 0 };
        Ok(UserCreated { id: user.public_id, email, organization: org.name, role, claimed_vaults: claimed })
    }

    /// Checks email and password and stores the account (in no organization yet).
    pub(crate) fn new_user(&self, email: &str, password: &str) -> Result<(UserRecord, String), EngineError> {
        let email = check_email(email)?;
        check_password(password, self.workspace.config.auth.password_min_length)?;
        let hash = hash_password(password)?;
        let user = self
            .store
            .user_create(&email, &hash, self.now_ms())?
            .ok_or_else(|| auth(Code::UserExists, format!("a user with email `{email}` already exists")))?;
        Ok((user, email))
    }

    /// The vault `name`, created when missing; a vault without an organization takes the one
    /// its configuration names (`vaults.<name>.organization`, created when missing).
    pub(crate) fn ensure_configured_vault(&self, name: &str) -> Result<VaultInfo, EngineError> {
        let mut info = self.store.ensure_vault(name)?;
        let wanted = self.workspace.config.vaults.get(name).and_then(|v| v.organization.as_deref());
        if let (None, Some(org)) = (info.organization, wanted) {
            let org = self.store.organization_ensure(org, self.now_ms())?;
            self.store.vault_set_organization(info.id, Some(org.id))?;
            info.organization = Some(org.id);
        }
        Ok(info)
    }

    /// Gives a vault to an organization.
    pub fn assign_vault(&self, vault: &str, organization: &str) -> Result<(), EngineError> {
        let org = self
            .store
            .organization(organization)?
            .ok_or_else(|| auth(Code::OrganizationNotFound, format!("no organization named `{organization}`")))?;
        let info = self.store.vault(vault)?.ok_or_else(|| EngineError::VaultNotFound {
            name: vault.to_string(),
            known: self.store.vaults().map(|v| v.into_iter().map(|v| v.name).collect()).unwrap_or_default(),
        })?;
        self.store.vault_set_organization(info.id, Some(org.id))?;
        Ok(())
    }

    /// Creates an API key; the answer holds its secret, which is never shown again.
    pub fn create_api_key(&self, req: &KeyRequest) -> Result<CreatedApiKey, EngineError> {
        let org = self
            .store
            .organization(&req.organization)?
            .ok_or_else(|| auth(Code::OrganizationNotFound, format!("no organization named `{}`", req.organization)))?;
        let user = self.store.user_by_email(&req.email)?.ok_or_else(|| {
            auth(
                Code::UserNotFound,
                format!("no user with email `{}`; create one with `trove admin create-user`", req.email),
            )
        })?;
        let role = self.store.membership(org.id, user.id)?.and_then(|r| Role::parse(&r)).ok_or_else(|| {
            auth(Code::Forbidden, format!("`{}` is not a member of organization `{}`", req.email, org.name))
        })?;
        if req.actions.is_empty() {
            return Err(EngineError::BadRequest(format!(
                "a key needs at least one action: {}",
                Action::ALL.map(|a| a.as_str()).join(", ")
            )));
        }
        if req.actions.contains(&Action::Admin) && role == Role::Member {
            return Err(auth(
                Code::Forbidden,
                format!("`{}` is a member of `{}`; only owners and admins create `admin` keys", req.email, org.name),
            ));
        }
        if req.vaults.is_empty() {
            return Err(EngineError::BadRequest("a key needs at least one vault name, or `*` for all".into()));
        }
        if !(req.vaults.len() == 1 && req.vaults[0] == "*") {
            for name in &req.vaults {
                let owned = self.store.vault(name)?.is_some_and(|v| v.organization == Some(org.id));
                if !owned {
                    return Err(EngineError::BadRequest(format!(
                        "organization `{}` has no vault `{name}` (assign it with `trove admin assign-vault {name} --org {}`)",
                        org.name, org.name
                    )));
                }
            }
        }
        let name = req.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(EngineError::BadRequest("a key's name must have 1 to 200 characters".into()));
        }
        let now = self.now_ms();
        let lookup = random_token(LOOKUP_LEN)?;
        let key = format!("{KEY_PREFIX}{lookup}_{}", random_token(SECRET_LEN)?);
        let mut actions: Vec<Action> = req.actions.clone();
        actions.sort();
        actions.dedup();
        let record = self.store.api_key_create(
            &NewApiKey {
                organization: org.id,
                user: user.id,
                name: name.to_string(),
                prefix: lookup,
                hash: sha256_hex(&key),
                vaults: req.vaults.clone(),
                actions: actions.iter().map(|a| a.as_str().to_string()).collect(),
                expires_ms: req.expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
            },
            now,
        )?;
        Ok(CreatedApiKey { key, info: key_info(&record) })
    }

    /// The keys of an organization, revoked ones included.
    pub fn api_keys(&self, organization: &str) -> Result<Vec<ApiKeyInfo>, EngineError> {
        let org = self
            .store
            .organization(organization)?
            .ok_or_else(|| auth(Code::OrganizationNotFound, format!("no organization named `{organization}`")))?;
        Ok(self.store.api_keys(org.id)?.iter().map(key_info).collect())
    }

    /// Revokes a key of an organization; it stops working at once.
    pub fn revoke_api_key(&self, organization: &str, id: &str) -> Result<(), EngineError> {
        let org = self
            .store
            .organization(organization)?
            .ok_or_else(|| auth(Code::OrganizationNotFound, format!("no organization named `{organization}`")))?;
        if self.store.api_key_revoke(org.id, id, self.now_ms())? {
            Ok(())
        } else {
            Err(auth(Code::ApiKeyNotFound, format!("organization `{}` has no API key `{id}`", org.name)))
        }
    }

    /// The principal of a presented key (the text after `Bearer `).
    pub fn authenticate(&self, key: &str) -> Result<Principal, EngineError> {
        let invalid = |why: &str| {
            auth(Code::InvalidApiKey, format!("the API key {why}; create a new one or check what was sent"))
        };
        let lookup = key
            .strip_prefix(KEY_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(lookup, _)| lookup)
            .filter(|l| l.len() == LOOKUP_LEN && l.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| invalid("is malformed (Trove keys look like `trove_…_…`)"))?;
        let record = self.store.api_key_by_prefix(lookup)?.ok_or_else(|| invalid("is not known"))?;
        if !constant_time_eq(sha256_hex(key).as_bytes(), record.key.hash.as_bytes()) {
            return Err(invalid("is not known"));
        }
        let now = self.now_ms();
        if let Some(at) = record.revoked_ms {
            return Err(invalid(&format!("was revoked at {}", format_ms(at))));
        }
        if let Some(at) = record.key.expires_ms.filter(|&at| at <= now) {
            return Err(invalid(&format!("expired at {}", format_ms(at))));
        }
        if record.last_used_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS)
            && let Err(e) = self.store.api_key_touch(record.id, now)
        {
            tracing::warn!(error = %e, "cannot record an API key's last use");
        }
        let all = record.key.vaults.iter().any(|v| v == "*");
        Ok(Principal::Key(KeyPrincipal {
            key_id: record.public_id.clone(),
            organization: record.key.organization,
            organization_name: record.organization_name.clone(),
            vaults: (!all).then(|| record.key.vaults.iter().cloned().collect()),
            actions: record.key.actions.iter().filter_map(|a| Action::parse(a)).collect(),
            user_email: record.user_email.clone(),
            session: false,
            role: None,
            grants: None,
        }))
    }

    /// Creates a key on behalf of `principal` (an `admin` key): in its organization, for its
    /// creator, reaching no vault the principal cannot reach.
    pub fn create_api_key_as(
        &self,
        principal: &Principal,
        name: &str,
        vaults: Vec<String>,
        actions: Vec<Action>,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedApiKey, EngineError> {
        let k = key_principal(principal)?;
        k.check_reach(&vaults, "a key")?;
        self.create_api_key(&KeyRequest {
            email: k.user_email.clone(),
            organization: k.organization_name.clone(),
            name: name.to_string(),
            vaults,
            actions,
            expires_in_days,
        })
    }
}

impl KeyPrincipal {
    /// Refuses to create `what` (a key, a token) for vaults beyond this principal's reach.
    pub(crate) fn check_reach(&self, vaults: &[String], what: &str) -> Result<(), EngineError> {
        if let Some(own) = &self.vaults
            && let Some(beyond) = vaults.iter().find(|v| *v == "*" || !own.contains(*v))
        {
            let mut reach: Vec<&str> = own.iter().map(String::as_str).collect();
            reach.sort_unstable();
            return Err(auth(
                Code::Forbidden,
                format!("cannot create {what} for `{beyond}`: the caller reaches only {}", reach.join(", ")),
            ));
        }
        Ok(())
    }
}

/// The key behind a principal; the single-user mode has none.
pub fn key_principal(principal: &Principal) -> Result<&KeyPrincipal, EngineError> {
    match principal {
        Principal::Key(k) => Ok(k),
        Principal::Local => Err(EngineError::BadRequest(
            "no users exist yet, so there are no organizations or keys: create the first user with `trove admin create-user --owner`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse battery!", &a));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_alphanumeric() {
        let a = random_token(32).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, random_token(32).unwrap());
    }

    #[test]
    fn emails_are_checked() {
        assert_eq!(check_email(" ada@example.com ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "@x", "ada@", "a b@c", "a@b@c"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
