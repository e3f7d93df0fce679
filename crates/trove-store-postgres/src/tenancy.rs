//! PLACEHOLDER

use crate::*;

pub(crate) fn user_count(s: &PgStore) -> Result<u64, StoreError> {
    let _ = s;
    Err(StoreError::Database { what: s.what().into(), reason: "user_count: not written yet".into() })
}

pub(crate) fn user_by_email(s: &PgStore, email: &str) -> Result<Option<UserRecord>, StoreError> {
    let _ = (s, email);
    Err(StoreError::Database { what: s.what().into(), reason: "user_by_email: not written yet".into() })
}

pub(crate) fn organization(s: &PgStore, name: &str) -> Result<Option<OrganizationRecord>, StoreError> {
    let _ = (s, name);
    Err(StoreError::Database { what: s.what().into(), reason: "organization: not written yet".into() })
}

pub(crate) fn membership(s: &PgStore, organization: i64, user: i64) -> Result<Option<String>, StoreError> {
    let _ = (s, organization, user);
    Err(StoreError::Database { what: s.what().into(), reason: "membership: not written yet".into() })
}

pub(crate) fn members(s: &PgStore, organization: i64) -> Result<Vec<MemberRecord>, StoreError> {
    let _ = (s, organization);
    Err(StoreError::Database { what: s.what().into(), reason: "members: not written yet".into() })
}

pub(crate) fn invitations(s: &PgStore, organization: i64) -> Result<Vec<InvitationRecord>, StoreError> {
    let _ = (s, organization);
    Err(StoreError::Database { what: s.what().into(), reason: "invitations: not written yet".into() })
}

pub(crate) fn invitation_by_hash(s: &PgStore, hash: &str) -> Result<Option<InvitationRecord>, StoreError> {
    let _ = (s, hash);
    Err(StoreError::Database { what: s.what().into(), reason: "invitation_by_hash: not written yet".into() })
}

pub(crate) fn teams(s: &PgStore, organization: i64) -> Result<Vec<TeamRecord>, StoreError> {
    let _ = (s, organization);
    Err(StoreError::Database { what: s.what().into(), reason: "teams: not written yet".into() })
}

pub(crate) fn vault_grants(s: &PgStore, vault: VaultId) -> Result<Vec<GrantRecord>, StoreError> {
    let _ = (s, vault);
    Err(StoreError::Database { what: s.what().into(), reason: "vault_grants: not written yet".into() })
}

pub(crate) fn user_grants(s: &PgStore, organization: i64, user: i64) -> Result<Vec<(String, String)>, StoreError> {
    let _ = (s, organization, user);
    Err(StoreError::Database { what: s.what().into(), reason: "user_grants: not written yet".into() })
}

pub(crate) fn user_organizations(s: &PgStore, user: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
    let _ = (s, user);
    Err(StoreError::Database { what: s.what().into(), reason: "user_organizations: not written yet".into() })
}

pub(crate) fn session_by_hash(s: &PgStore, hash: &str) -> Result<Option<SessionRecord>, StoreError> {
    let _ = (s, hash);
    Err(StoreError::Database { what: s.what().into(), reason: "session_by_hash: not written yet".into() })
}

pub(crate) fn sessions_of_user(s: &PgStore, user: i64, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
    let _ = (s, user, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "sessions_of_user: not written yet".into() })
}

pub(crate) fn api_key_by_prefix(s: &PgStore, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    let _ = (s, prefix);
    Err(StoreError::Database { what: s.what().into(), reason: "api_key_by_prefix: not written yet".into() })
}

pub(crate) fn api_keys(s: &PgStore, organization: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let _ = (s, organization);
    Err(StoreError::Database { what: s.what().into(), reason: "api_keys: not written yet".into() })
}

pub(crate) fn audit_query(
    s: &PgStore,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<AuditRecord>, StoreError> {
    let _ = (s, filter, before, limit);
    Err(StoreError::Database { what: s.what().into(), reason: "audit_query: not written yet".into() })
}

pub(crate) fn user_create(
    s: &PgStore,
    email: &str,
    password_hash: &str,
    now_ms: i64,
) -> Result<Option<UserRecord>, StoreError> {
    let _ = (s, email, password_hash, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "user_create: not written yet".into() })
}

pub(crate) fn organization_ensure(s: &PgStore, name: &str, now_ms: i64) -> Result<OrganizationRecord, StoreError> {
    let _ = (s, name, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "organization_ensure: not written yet".into() })
}

pub(crate) fn membership_put(
    s: &PgStore,
    organization: i64,
    user: i64,
    role: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let _ = (s, organization, user, role, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "membership_put: not written yet".into() })
}

pub(crate) fn api_key_create(s: &PgStore, key: &NewApiKey, now_ms: i64) -> Result<ApiKeyRecord, StoreError> {
    let _ = (s, key, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "api_key_create: not written yet".into() })
}

pub(crate) fn api_key_revoke(s: &PgStore, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let _ = (s, organization, public_id, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "api_key_revoke: not written yet".into() })
}

pub(crate) fn api_key_touch(s: &PgStore, id: i64, now_ms: i64) -> Result<(), StoreError> {
    let _ = (s, id, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "api_key_touch: not written yet".into() })
}

pub(crate) fn membership_set(
    s: &PgStore,
    organization: i64,
    user: i64,
    role: Option<&str>,
) -> Result<MembershipChange, StoreError> {
    let _ = (s, organization, user, role);
    Err(StoreError::Database { what: s.what().into(), reason: "membership_set: not written yet".into() })
}

pub(crate) fn user_token_create(
    s: &PgStore,
    user: i64,
    purpose: &str,
    hash: &str,
    now_ms: i64,
    expires_ms: i64,
) -> Result<(), StoreError> {
    let _ = (s, user, purpose, hash, now_ms, expires_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "user_token_create: not written yet".into() })
}

pub(crate) fn user_token_take(
    s: &PgStore,
    purpose: &str,
    hash: &str,
    now_ms: i64,
) -> Result<Option<UserRecord>, StoreError> {
    let _ = (s, purpose, hash, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "user_token_take: not written yet".into() })
}

pub(crate) fn user_update(
    s: &PgStore,
    user: i64,
    password_hash: Option<&str>,
    verified_ms: Option<i64>,
) -> Result<(), StoreError> {
    let _ = (s, user, password_hash, verified_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "user_update: not written yet".into() })
}

pub(crate) fn invitation_create(s: &PgStore, invitation: &InvitationRecord) -> Result<(), StoreError> {
    let _ = (s, invitation);
    Err(StoreError::Database { what: s.what().into(), reason: "invitation_create: not written yet".into() })
}

pub(crate) fn invitation_revoke(
    s: &PgStore,
    organization: i64,
    public_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let _ = (s, organization, public_id, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "invitation_revoke: not written yet".into() })
}

pub(crate) fn invitation_accept(s: &PgStore, hash: &str, now_ms: i64) -> Result<bool, StoreError> {
    let _ = (s, hash, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "invitation_accept: not written yet".into() })
}

pub(crate) fn team_create(
    s: &PgStore,
    organization: i64,
    public_id: &str,
    name: &str,
    now_ms: i64,
) -> Result<Option<TeamRecord>, StoreError> {
    let _ = (s, organization, public_id, name, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "team_create: not written yet".into() })
}

pub(crate) fn team_delete(s: &PgStore, organization: i64, public_id: &str) -> Result<bool, StoreError> {
    let _ = (s, organization, public_id);
    Err(StoreError::Database { what: s.what().into(), reason: "team_delete: not written yet".into() })
}

pub(crate) fn team_member_set(s: &PgStore, team: i64, user: i64, member: bool) -> Result<bool, StoreError> {
    let _ = (s, team, user, member);
    Err(StoreError::Database { what: s.what().into(), reason: "team_member_set: not written yet".into() })
}

pub(crate) fn grant_put(
    s: &PgStore,
    vault: VaultId,
    grantee: Grantee,
    level: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let _ = (s, vault, grantee, level, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "grant_put: not written yet".into() })
}

pub(crate) fn grant_remove(s: &PgStore, vault: VaultId, grantee: Grantee) -> Result<bool, StoreError> {
    let _ = (s, vault, grantee);
    Err(StoreError::Database { what: s.what().into(), reason: "grant_remove: not written yet".into() })
}

pub(crate) fn session_create(
    s: &PgStore,
    session: &NewSession,
    cap: usize,
    now_ms: i64,
) -> Result<SessionRecord, StoreError> {
    let _ = (s, session, cap, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "session_create: not written yet".into() })
}

pub(crate) fn session_touch(s: &PgStore, id: i64, now_ms: i64) -> Result<(), StoreError> {
    let _ = (s, id, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "session_touch: not written yet".into() })
}

pub(crate) fn session_revoke(s: &PgStore, user: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    let _ = (s, user, public_id, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "session_revoke: not written yet".into() })
}

pub(crate) fn sessions_revoke_all(s: &PgStore, user: i64, now_ms: i64) -> Result<u64, StoreError> {
    let _ = (s, user, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "sessions_revoke_all: not written yet".into() })
}

pub(crate) fn audit_append(s: &PgStore, event: &NewAuditEvent) -> Result<i64, StoreError> {
    let _ = (s, event);
    Err(StoreError::Database { what: s.what().into(), reason: "audit_append: not written yet".into() })
}

pub(crate) fn audit_prune(s: &PgStore, older_than_ms: i64) -> Result<u64, StoreError> {
    let _ = (s, older_than_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "audit_prune: not written yet".into() })
}
