//! Teams and vault grants, managed by an organization's administrators: teams group members;
//! a vault is granted to a member or a team at `read`, `write` or `admin`. Owners and admins
//! reach every vault of their organization; a member's session reaches only what is granted
//! to them or their teams, at the best level among those grants (read at each request, so a
//! change applies at once). A vault's own `admin` grantees may manage its grants too.

use trove_store::{GrantRecord, Grantee, TeamRecord};
use trove_types::{Code, GrantLevel, GrantRequest, Team, TeamMember, VaultGrant};

use crate::access::{Access, perm};
use crate::auth::{KeyPrincipal, Principal, auth, check_email, key_principal, random_token};
use crate::memory::format_ms;
use crate::{Engine, EngineError};

fn team(r: TeamRecord) -> Team {
    Team {
        id: r.public_id,
        name: r.name,
        members: r.members.into_iter().map(|(_, id, email)| TeamMember { id, email }).collect(),
        created_at: format_ms(r.created_ms),
    }
}

fn grant(r: GrantRecord) -> VaultGrant {
    VaultGrant {
        grantee: match r.grantee {
            Grantee::User(_) => "member".into(),
            Grantee::Team(_) => "team".into(),
        },
        id: r.grantee_id,
        name: r.grantee_name,
        level: GrantLevel::parse(&r.level).unwrap_or(GrantLevel::Read),
        granted_at: format_ms(r.created_ms),
    }
}

impl Engine {
    /// The teams of the principal's organization, by name.
    pub fn teams(&self, principal: &Principal) -> Result<Vec<Team>, EngineError> {
        let k = key_principal(principal)?;
        Ok(self.store.teams(k.organization)?.into_iter().map(team).collect())
    }

    fn find_team(&self, k: &KeyPrincipal, id_or_name: &str) -> Result<TeamRecord, EngineError> {
        self.store
            .teams(k.organization)?
            .into_iter()
            .find(|t| t.public_id == id_or_name || t.name == id_or_name)
            .ok_or_else(|| auth(Code::TeamNotFound, format!("{} has no team `{id_or_name}`", k.organization_name)))
    }

    /// Makes a team.
    pub fn team_create(&self, principal: &Principal, name: &str) -> Result<Team, EngineError> {
        let k = key_principal(principal)?;
        if !trove_config::valid_name(name) {
            return Err(EngineError::BadRequest(format!(
                "`{name}` is not a usable team name: use lowercase letters, digits, `-` and `_` (at most 64)"
            )));
        }
        let id = format!("team_{}", random_token(20)?.to_ascii_lowercase());
        let created = self
            .store
            .team_create(k.organization, &id, name, self.now_ms())?
            .ok_or_else(|| auth(Code::TeamExists, format!("{} already has a team `{name}`", k.organization_name)))?;
        Ok(team(created))
    }

    /// Deletes a team; its grants go with it.
    pub fn team_delete(&self, principal: &Principal, id: &str) -> Result<(), EngineError> {
        let k = key_principal(principal)?;
        let t = self.find_team(k, id)?;
        self.store.team_delete(k.organization, &t.public_id)?;
        Ok(())
    }

    /// Adds a member of the organization to a team.
    pub fn team_member_add(&self, principal: &Principal, id: &str, email: &str) -> Result<Team, EngineError> {
        let k = key_principal(principal)?;
        let t = self.find_team(k, id)?;
        let user = self.organization_member(k, email)?;
        self.store.team_member_set(t.id, user, true)?;
        self.find_team(k, &t.public_id).map(team)
    }

    /// Takes a user (by `usr_…` id or email) out of a team.
    pub fn team_member_remove(&self, principal: &Principal, id: &str, member: &str) -> Result<Team, EngineError> {
        let k = key_principal(principal)?;
        let t = self.find_team(k, id)?;
        let user = t
            .members
            .iter()
            .find(|(_, public_id, email)| public_id == member || email.eq_ignore_ascii_case(member))
            .map(|(user, _, _)| *user)
            .ok_or_else(|| auth(Code::UserNotFound, format!("`{member}` is not in team `{}`", t.name)))?;
        self.store.team_member_set(t.id, user, false)?;
        self.find_team(k, &t.public_id).map(team)
    }

    /// The row id of a member of the principal's organization, by email.
    fn organization_member(&self, k: &KeyPrincipal, email: &str) -> Result<i64, EngineError> {
        let email = check_email(email)?;
        self.store
            .members(k.organization)?
            .into_iter()
            .find(|m| m.email.eq_ignore_ascii_case(&email))
            .map(|m| m.user)
            .ok_or_else(|| {
                auth(
                    Code::UserNotFound,
                    format!(
                        "{email} is not a member of {}; add them with POST /v1/org/members first",
                        k.organization_name
                    ),
                )
            })
    }

    /// A vault's grants.
    pub fn vault_grants(&self, access: &Access<perm::Admin>) -> Result<Vec<VaultGrant>, EngineError> {
        let v = self.existing_vault(access.vault())?;
        Ok(self.store.vault_grants(v.id)?.into_iter().map(grant).collect())
    }

    /// Grants a vault to a member or a team (replacing their previous level).
    pub fn vault_grant(&self, access: &Access<perm::Admin>, req: &GrantRequest) -> Result<VaultGrant, EngineError> {
        let k = key_principal(access.principal())?;
        let v = self.existing_vault(access.vault())?;
        let grantee = match (&req.member, &req.team) {
            (Some(email), None) => Grantee::User(self.organization_member(k, email)?),
            (None, Some(name)) => Grantee::Team(self.find_team(k, name)?.id),
            _ => return Err(EngineError::BadRequest("give either `member` (an email) or `team` (a name)".into())),
        };
        self.store.grant_put(v.id, grantee, req.level.as_str(), self.now_ms())?;
        self.store
            .vault_grants(v.id)?
            .into_iter()
            .find(|g| g.grantee == grantee)
            .map(grant)
            .ok_or_else(|| EngineError::Internal("a grant vanished as it was made".into()))
    }

    /// Takes back the grant of a member or team (by `usr_…` / `team_…` id, email or team name).
    pub fn vault_revoke(&self, access: &Access<perm::Admin>, grantee: &str) -> Result<(), EngineError> {
        let vault = access.vault();
        let v = self.existing_vault(vault)?;
        let found = self
            .store
            .vault_grants(v.id)?
            .into_iter()
            .find(|g| g.grantee_id == grantee || g.grantee_name.eq_ignore_ascii_case(grantee))
            .ok_or_else(|| auth(Code::GrantNotFound, format!("vault `{vault}` has no grant for `{grantee}`")))?;
        self.store.grant_remove(v.id, found.grantee)?;
        Ok(())
    }
}
