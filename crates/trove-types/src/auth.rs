//! Identities and permissions as the transports show them: the actions an API key may be
//! granted, organization roles, and API keys (their public description, and the secret shown
//! once at creation).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What an API key may do, in the vaults it is scoped to. `admin` implies every other action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Action {
    /// Search; list and read vaults, sources and documents.
    #[serde(rename = "search")]
    Search,
    /// Upload and delete documents; trigger source syncs.
    #[serde(rename = "documents.write")]
    DocumentsWrite,
    /// Retrieve, list and read memories and their stats.
    #[serde(rename = "memories.read")]
    MemoriesRead,
    /// Store, update and delete memories (implies `memories.read`).
    #[serde(rename = "memories.write")]
    MemoriesWrite,
    /// List and read jobs and the dead-letter queue; cancel jobs.
    #[serde(rename = "jobs")]
    Jobs,
    /// Everything, including creating and deleting vaults and the dead-letter queue's retry
    /// and delete.
    #[serde(rename = "admin")]
    Admin,
}

impl Action {
    /// Every action, in order.
    pub const ALL: [Action; 6] = [
        Action::Search,
        Action::DocumentsWrite,
        Action::MemoriesRead,
        Action::MemoriesWrite,
        Action::Jobs,
        Action::Admin,
    ];

    /// The name used in requests, responses and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Search => "search",
            Action::DocumentsWrite => "documents.write",
            Action::MemoriesRead => "memories.read",
            Action::MemoriesWrite => "memories.write",
            Action::Jobs => "jobs",
            Action::Admin => "admin",
        }
    }

    /// The action named `name`, if any.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Whether holding `self` grants `wanted`.
    pub fn grants(self, wanted: Action) -> bool {
        self == wanted || self == Action::Admin || (self == Action::MemoriesWrite && wanted == Action::MemoriesRead)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including the organization itself; the last owner cannot leave.
    Owner,
    /// Members, vaults and keys.
    Admin,
    /// Use of the vaults granted to them.
    Member,
}

impl Role {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// The role named `name`, if any.
    pub fn parse(name: &str) -> Option<Role> {
        [Role::Owner, Role::Admin, Role::Member].into_iter().find(|r| r.as_str() == name)
    }
}

/// What a grant of a vault lets a member do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantLevel {
    /// Search, read documents and memories, see jobs.
    Read,
    /// Also upload and delete documents, sync sources, store and change memories.
    Write,
    /// Also the vault's own administration: re-embed it, delete it, manage its grants.
    Admin,
}

impl GrantLevel {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantLevel::Read => "read",
            GrantLevel::Write => "write",
            GrantLevel::Admin => "admin",
        }
    }

    /// The level named `name`, if any.
    pub fn parse(name: &str) -> Option<GrantLevel> {
        [GrantLevel::Read, GrantLevel::Write, GrantLevel::Admin].into_iter().find(|l| l.as_str() == name)
    }

    /// Whether the level allows `action` in its vault.
    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::Search | Action::MemoriesRead | Action::Jobs => true,
            Action::DocumentsWrite | Action::MemoriesWrite => self >= GrantLevel::Write,
            Action::Admin => self == GrantLevel::Admin,
        }
    }
}

/// A secret of an organization, as listed: never its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretInfo {
    /// Its name; config.yaml refers to it as `${secret:NAME}` (in a vault of the organization)
    /// or `${secret:ORG/NAME}`.
    pub name: String,
    /// RFC 3339, when it was first set.
    pub created_at: String,
    /// RFC 3339, when it was last set.
    pub updated_at: String,
    /// Who last set it (`user:…`, `key:…`, `session:…` or `cli`).
    pub updated_by: String,
    /// Whether it is encrypted with the current `auth.key_encryption_secret` (false: with a
    /// previous one, until `trove admin rotate-secrets`).
    pub current_key: bool,
}

/// `PUT /v1/org/secrets/{name}`.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// The value (a token, a key); stored encrypted, never shown again.
    pub value: String,
}

impl std::fmt::Debug for PutSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutSecret").field("value", &"<redacted>").finish()
    }
}

/// A team of an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    /// Stable id (`team_…`).
    pub id: String,
    /// Its name, unique in the organization.
    pub name: String,
    /// Its members.
    pub members: Vec<TeamMember>,
    /// RFC 3339.
    pub created_at: String,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeamMember {
    /// The user's stable id (`usr_…`).
    pub id: String,
    /// Their email.
    pub email: String,
}

/// `POST /v1/org/teams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    /// Letters, digits, `-` and `_`.
    pub name: String,
}

/// `POST /v1/org/teams/{id}/members`: a member of the organization, by email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTeamMember {
    /// The member's email.
    pub email: String,
}

/// A grant of a vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VaultGrant {
    /// `member` or `team`.
    pub grantee: String,
    /// The user's (`usr_…`) or team's (`team_…`) id.
    pub id: String,
    /// The user's email or the team's name.
    pub name: String,
    /// What it allows.
    pub level: GrantLevel,
    /// RFC 3339.
    pub granted_at: String,
}

/// `PUT /v1/vaults/{vault}/grants`: grant the vault to a member (by email) or a team (by
/// name), replacing their previous level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// A member's email (or give `team`).
    #[serde(default)]
    pub member: Option<String>,
    /// A team's name (or give `member`).
    #[serde(default)]
    pub team: Option<String>,
    /// `read`, `write` or `admin`.
    pub level: GrantLevel,
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    /// Stable id (`key_…`), used to revoke it.
    pub id: String,
    /// What the key is for, as its creator named it.
    pub name: String,
    /// The first characters of the key, to recognise it (`trove_…`).
    pub prefix: String,
    /// The organization whose vaults it reaches.
    pub organization: String,
    /// Email of the user who created it.
    pub created_by: String,
    /// Vault names it may use; `["*"]` for every vault of the organization.
    pub vaults: Vec<String>,
    /// Actions it may perform there.
    pub actions: Vec<Action>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent when it never expires.
    pub expires_at: Option<String>,
    /// RFC 3339 of its last use (updated at most once a minute).
    pub last_used_at: Option<String>,
    /// RFC 3339 of its revocation.
    pub revoked_at: Option<String>,
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The secret, to send as `Authorization: Bearer <key>`. Store it now: Trove keeps only a
    /// hash and cannot show it again.
    pub key: String,
    /// Its description.
    #[serde(flatten)]
    pub info: ApiKeyInfo,
}

/// One entry of the audit log: a security event or a change to data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Stable id; entries are ordered by it (and by time).
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// What happened, e.g. `key.created`, `auth.rejected`, `memory.deleted`.
    pub event: String,
    /// Who: `key:<id>`, `cli`, or `local` (single-user mode); `anonymous` when no identity
    /// was given.
    pub actor: String,
    /// The client's IP address, when the event came over the network.
    pub ip: Option<String>,
    /// What it was done to, e.g. `vault:notes/memory:mem_…`.
    pub target: Option<String>,
    /// `ok`, or `denied` for refused requests.
    pub outcome: String,
    /// The organization it belongs to, when known.
    pub organization: Option<String>,
    /// Details: the HTTP method and route, a status, a reason.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// What to read from the audit log (every field optional): the engine's query and the query
/// string of `GET /v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// At or after this time (RFC 3339).
    #[serde(default)]
    pub from: Option<String>,
    /// Before this time (RFC 3339).
    #[serde(default)]
    pub to: Option<String>,
    /// An event (`memory.deleted`) or a family ending with `.` (`auth.`).
    #[serde(default)]
    pub event: Option<String>,
    /// An actor (`key:key_…`, `cli`, `local`, `anonymous`).
    #[serde(default)]
    pub actor: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size (1–1000, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_admin_grants_everything() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
            assert!(Action::Admin.grants(a));
        }
        assert!(Action::MemoriesWrite.grants(Action::MemoriesRead));
        assert!(!Action::MemoriesRead.grants(Action::MemoriesWrite));
        assert!(!Action::Search.grants(Action::DocumentsWrite));
        assert_eq!(Action::parse("root"), None);
    }
}

/// The kind of client a session is for; it decides how long the session lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// A browser: the session travels in an HttpOnly cookie, and writes need the CSRF token.
    #[default]
    Web,
    /// A command-line tool: the session token is returned and sent as `Authorization: Bearer`.
    Cli,
    /// An SDK or service: like `cli`, longer-lived.
    Sdk,
}

impl ClientKind {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Web => "web",
            ClientKind::Cli => "cli",
            ClientKind::Sdk => "sdk",
        }
    }
}

/// `POST /v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// Its password.
    pub password: String,
    /// The organization to act in (default: the user's first).
    #[serde(default)]
    pub organization: Option<String>,
    /// `web` (default), `cli` or `sdk`.
    #[serde(default)]
    pub client: ClientKind,
}

/// A login session as listed: never its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// Stable id (`ses_…`).
    pub id: String,
    /// `web`, `cli` or `sdk`.
    pub client: String,
    /// The user.
    pub email: String,
    /// The organization it acts in.
    pub organization: String,
    /// The user's role there.
    pub role: String,
    /// The address that logged in.
    pub ip: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339, recorded at most once a minute.
    pub last_used_at: Option<String>,
    /// Whether this is the session of the request that listed it.
    pub current: bool,
}

/// The answer to a login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The new session.
    pub session: SessionInfo,
    /// The session token, for `cli` and `sdk` clients (send it as `Authorization: Bearer`);
    /// absent for `web`, whose token is only in the HttpOnly cookie.
    pub token: Option<String>,
    /// For `web` sessions: echo it in the `X-CSRF-Token` header of every write.
    pub csrf_token: Option<String>,
}

/// `GET /v1/auth/me`: who the caller is, for the web page and for scripts checking their
/// credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// Whether this server asks callers for an identity (some user exists).
    pub auth_required: bool,
    /// `local` (authentication is off), `session`, `api_key` or `token` (a signed token).
    pub kind: String,
    /// The user's email (absent for `local` and signed tokens).
    pub email: Option<String>,
    /// The organization acted in.
    pub organization: Option<String>,
    /// A session's role in it.
    pub role: Option<Role>,
    /// The actions held (every action for `local`).
    pub actions: Vec<Action>,
    /// For a member's session: the level granted on each vault it reaches (owners, admins,
    /// keys and tokens: absent, their `actions` apply to every vault they see).
    pub grants: Option<std::collections::BTreeMap<String, GrantLevel>>,
    /// For a browser session (the `trove_session` cookie): the token to echo in
    /// `X-CSRF-Token` on writes, so a reloaded page can go on writing.
    pub csrf_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// The user's stable id (`usr_…`).
    pub id: String,
    /// Their email.
    pub email: String,
    /// Their role.
    pub role: Role,
    /// RFC 3339.
    pub joined_at: String,
}

/// `POST /v1/org/members`: add an existing user to the caller's organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The user's email.
    pub email: String,
    /// Their role (default `member`).
    #[serde(default = "member_role")]
    pub role: Role,
}

fn member_role() -> Role {
    Role::Member
}

/// `PATCH /v1/org/members/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// The new role.
    pub role: Role,
}

/// `POST /v1/tokens`: a signed token for one of the backend's end users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// The end user's id in the backend (the token's `sub`).
    pub subject: String,
    /// Vault names, or `["*"]`: no more than the caller reaches.
    pub vaults: Vec<String>,
    /// Actions (never `admin`): no more than the caller holds.
    pub actions: Vec<Action>,
    /// Lifetime in seconds (at most `auth.jwt.max_ttl_s`). Default 3600.
    #[serde(default = "default_token_ttl")]
    pub ttl_s: u64,
}

fn default_token_ttl() -> u64 {
    3600
}

/// A signed token just minted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MintedToken {
    /// The token: send it as `Authorization: Bearer`.
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// `POST /v1/auth/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The account's email.
    pub email: String,
    /// Its password (at least `auth.password_min_length` characters).
    pub password: String,
}

/// `POST /v1/auth/password-reset` and `POST /v1/auth/verify-email/resend`: an address to mail
/// a link to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// The account's email.
    pub email: String,
}

/// `POST /v1/auth/verify-email`: the token of a mailed verification link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the link (`…#/verify?token=…`).
    pub token: String,
}

/// `POST /v1/auth/password-reset/confirm`: a reset link's token and the new password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the link (`…#/reset?token=…`).
    pub token: String,
    /// The new password (at least `auth.password_min_length` characters).
    pub password: String,
}

/// An invitation to join an organization, as listed (never its link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    /// Stable id (`inv_…`).
    pub id: String,
    /// Who is invited.
    pub email: String,
    /// The organization.
    pub organization: String,
    /// The role they get.
    pub role: Role,
    /// Who invited them.
    pub invited_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; the link stops working then.
    pub expires_at: String,
    /// `pending`, `accepted`, `withdrawn` or `expired`.
    pub status: String,
}

/// `POST /v1/org/invitations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The address to invite.
    pub email: String,
    /// Their role (default `member`).
    #[serde(default = "member_role")]
    pub role: Role,
}

/// `POST /v1/auth/accept-invitation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The token from the link (`…#/invite?token=…`).
    pub token: String,
    /// For an address without an account: the new account's password.
    #[serde(default)]
    pub password: Option<String>,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JoinedOrganization {
    /// The account's email.
    pub email: String,
    /// The organization joined.
    pub organization: String,
    /// The role there.
    pub role: Role,
    /// Whether the account was made now.
    pub new_account: bool,
}

/// An account just registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    /// The user's stable id (`usr_…`).
    pub id: String,
    /// Their email.
    pub email: String,
}
