//! [`TenancyStore`]: who may use a store, as five traits a backend implements in a module
//! each (a trait's implementation cannot span files): [`UserStore`] (users and their mailed
//! single-use tokens), [`OrganizationStore`] (organizations, their members and invitations),
//! [`GrantStore`] (teams and grants of vaults to users and teams), [`CredentialStore`] (API
//! keys and login sessions, kept as hashes) and [`SecretStore`] (secrets sealed by the
//! engine). [`TenancyStore`] is all five, with a blanket implementation.

use crate::{
    ApiKeyRecord, GrantRecord, Grantee, InvitationRecord, MemberRecord, MembershipChange, NewApiKey, NewSession,
    OrganizationRecord, SecretRecord, SessionRecord, StoreError, TeamRecord, UserRecord, VaultId,
};

/// Users and their single-use tokens.
pub trait UserStore: Send + Sync {
    /// How many users exist (none: the single-user mode without authentication).
    fn user_count(&self) -> Result<u64, StoreError>;
    /// The user with this email (case-insensitive).
    fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Creates a user; `None` when the email is taken.
    fn user_create(&self, email: &str, password_hash: &str, now_ms: i64) -> Result<Option<UserRecord>, StoreError>;
    /// Sets a user's password hash and/or marks the email verified (the first time counts).
    fn user_update(&self, user: i64, password_hash: Option<&str>, verified_ms: Option<i64>) -> Result<(), StoreError>;
    /// Stores a single-use token (its hash) of a user for `purpose` (`verify`, `reset`),
    /// ending the user's earlier unused tokens of that purpose.
    fn user_token_create(
        &self,
        user: i64,
        purpose: &str,
        hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError>;
    /// Uses up a live token: its user, or `None` when unknown, used, expired or of another
    /// purpose (in one transaction, so a token works once).
    fn user_token_take(&self, purpose: &str, hash: &str, now_ms: i64) -> Result<Option<UserRecord>, StoreError>;
}

/// Organizations, their members and invitations.
pub trait OrganizationStore: Send + Sync {
    /// An organization by name.
    fn organization(&self, name: &str) -> Result<Option<OrganizationRecord>, StoreError>;
    /// The organization of that name, created when missing.
    fn organization_ensure(&self, name: &str, now_ms: i64) -> Result<OrganizationRecord, StoreError>;
    /// A user's role in an organization, if a member.
    fn membership(&self, organization: i64, user: i64) -> Result<Option<String>, StoreError>;
    /// An organization's members, oldest first.
    fn members(&self, organization: i64) -> Result<Vec<MemberRecord>, StoreError>;
    /// The organizations a user belongs to, as (row id, name, role), oldest membership first.
    fn user_organizations(&self, user: i64) -> Result<Vec<(i64, String, String)>, StoreError>;
    /// Adds a member, or changes their role.
    fn membership_put(&self, organization: i64, user: i64, role: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Changes a member's role (`Some`) or removes them (`None`), in one transaction that
    /// refuses to leave the organization without an owner. A removed member's team
    /// memberships and direct grants in the organization go with them.
    fn membership_set(&self, organization: i64, user: i64, role: Option<&str>) -> Result<MembershipChange, StoreError>;
    /// An organization's invitations, newest first (all states).
    fn invitations(&self, organization: i64) -> Result<Vec<InvitationRecord>, StoreError>;
    /// The invitation whose token hashes to `hash`, whatever its state.
    fn invitation_by_hash(&self, hash: &str) -> Result<Option<InvitationRecord>, StoreError>;
    /// Stores an invitation (`accepted_ms` and `revoked_ms` are ignored).
    fn invitation_create(&self, invitation: &InvitationRecord) -> Result<(), StoreError>;
    /// Withdraws a pending invitation of the organization; `false` when there is none.
    fn invitation_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Marks a pending, unexpired invitation accepted; `false` when it is not (in one
    /// statement, so an invitation is accepted once).
    fn invitation_accept(&self, hash: &str, now_ms: i64) -> Result<bool, StoreError>;
}

/// Teams and grants of vaults to users and teams.
pub trait GrantStore: Send + Sync {
    /// An organization's teams with their members, by name.
    fn teams(&self, organization: i64) -> Result<Vec<TeamRecord>, StoreError>;
    /// Makes a team; `None` when the organization has one of that name.
    fn team_create(
        &self,
        organization: i64,
        public_id: &str,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<TeamRecord>, StoreError>;
    /// Deletes a team of the organization (its grants go with it); `false` when absent.
    fn team_delete(&self, organization: i64, public_id: &str) -> Result<bool, StoreError>;
    /// Adds (`true`) or removes (`false`) a user from a team; whether anything changed.
    fn team_member_set(&self, team: i64, user: i64, member: bool) -> Result<bool, StoreError>;
    /// The vault's grants, users first then teams, by name.
    fn vault_grants(&self, vault: VaultId) -> Result<Vec<GrantRecord>, StoreError>;
    /// The vaults of `organization` granted to the user directly or through a team, with the
    /// levels of those grants: (vault name, level), one row per grant.
    fn user_grants(&self, organization: i64, user: i64) -> Result<Vec<(String, String)>, StoreError>;
    /// Grants a vault at `level` (replacing the grantee's previous level).
    fn grant_put(&self, vault: VaultId, grantee: Grantee, level: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Takes a grant back; `false` when there was none.
    fn grant_remove(&self, vault: VaultId, grantee: Grantee) -> Result<bool, StoreError>;
}

/// API keys and login sessions (only hashes of their secrets are stored).
pub trait CredentialStore: Send + Sync {
    /// The API key with this public prefix.
    fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Every API key of an organization (revoked ones included), oldest first.
    fn api_keys(&self, organization: i64) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Stores an API key (its hash).
    fn api_key_create(&self, key: &NewApiKey, now_ms: i64) -> Result<ApiKeyRecord, StoreError>;
    /// Revokes a key of the organization; `false` when it has no such key. Revoking twice
    /// keeps the first time.
    fn api_key_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Records a key's use.
    fn api_key_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError>;
    /// The session whose token hashes to `hash` (revoked and expired ones included).
    fn session_by_hash(&self, hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// A user's live sessions at `now_ms`, newest first.
    fn sessions_of_user(&self, user: i64, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError>;
    /// Stores a session; when the user then has more than `cap` live sessions, the oldest are
    /// revoked (in the same transaction).
    fn session_create(&self, session: &NewSession, cap: usize, now_ms: i64) -> Result<SessionRecord, StoreError>;
    /// Records a session's use.
    fn session_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError>;
    /// Revokes a user's session by public id; `false` when they have no such live session.
    fn session_revoke(&self, user: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Revokes every live session of a user; returns how many.
    fn sessions_revoke_all(&self, user: i64, now_ms: i64) -> Result<u64, StoreError>;
}

/// Secrets of organizations, in the sealed form the engine hands over.
pub trait SecretStore: Send + Sync {
    /// Secrets of one organization, or of every organization (`None`), by organization then
    /// name.
    fn secrets(&self, organization: Option<i64>) -> Result<Vec<SecretRecord>, StoreError>;
    /// One secret of an organization.
    fn secret(&self, organization: i64, name: &str) -> Result<Option<SecretRecord>, StoreError>;
    /// Sets a secret (its `created_ms` is kept when it exists); `true` when it was new.
    fn secret_put(&self, secret: &SecretRecord) -> Result<bool, StoreError>;
    /// Replaces a secret's sealed value only if it is still `old` (re-encryption under a new
    /// key must not undo a concurrent update); whether it was replaced.
    fn secret_reseal(&self, organization: i64, name: &str, old: &str, new: &str) -> Result<bool, StoreError>;
    /// Deletes a secret; `false` when absent.
    fn secret_delete(&self, organization: i64, name: &str) -> Result<bool, StoreError>;
}

/// Everything about who may use a store. Implemented for every type that implements the five
/// traits.
pub trait TenancyStore: UserStore + OrganizationStore + GrantStore + CredentialStore + SecretStore {}

impl<T> TenancyStore for T where T: UserStore + OrganizationStore + GrantStore + CredentialStore + SecretStore {}
