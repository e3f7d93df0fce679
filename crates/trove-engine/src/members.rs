//! An organization's members, managed by its administrators: list, add an existing user with a
//! role, change a role, remove. Only an owner may make or unmake owners; the last owner can be
//! neither demoted nor removed (checked in the same transaction as the change). A removed
//! member's sessions in the organization stop working at once (sessions read the current role).

use trove_store::{MemberRecord, MembershipChange};
use trove_types::{Code, Member, Role};

use crate::auth::{KeyPrincipal, Principal, auth, check_email, key_principal};
use crate::memory::format_ms;
use crate::{Engine, EngineError};

fn member(r: MemberRecord) -> Member {
    Member {
        id: r.public_id,
        email: r.email,
        role: Role::parse(&r.role).unwrap_or(Role::Member),
        joined_at: format_ms(r.created_ms),
    }
}

/// Refuses a change that makes or unmakes an owner unless the caller is an owner.
fn owners_only(k: &KeyPrincipal, touches_owner: bool) -> Result<(), EngineError> {
    if touches_owner && k.role != Some(Role::Owner) {
        return Err(auth(
            Code::Forbidden,
            "only an owner (logged in) may make or unmake owners; admins and API keys manage admins and members",
        ));
    }
    Ok(())
}

impl Engine {
    /// The members of the principal's organization, oldest first.
    pub fn members(&self, principal: &Principal) -> Result<Vec<Member>, EngineError> {
        let k = key_principal(principal)?;
        Ok(self.store.members(k.organization)?.into_iter().map(member).collect())
    }

    fn find_member(&self, k: &KeyPrincipal, id: &str) -> Result<MemberRecord, EngineError> {
        self.store
            .members(k.organization)?
            .into_iter()
            .find(|m| m.public_id == id)
            .ok_or_else(|| auth(Code::UserNotFound, format!("`{id}` is not a member of {}", k.organization_name)))
    }

    /// Adds an existing user to the principal's organization.
    pub fn member_add(&self, principal: &Principal, email: &str, role: Role) -> Result<Member, EngineError> {
        let k = key_principal(principal)?;
        owners_only(k, role == Role::Owner)?;
        let email = check_email(email)?;
        let user = self.store.user_by_email(&email)?.ok_or_else(|| {
            auth(
                Code::UserNotFound,
                format!("no user has the email {email}: create the account first (`trove admin create-user`)"),
            )
        })?;
        if self.store.members(k.organization)?.iter().any(|m| m.user == user.id) {
            return Err(auth(
                Code::UserExists,
                format!("{email} is already a member of {}; change their role with PATCH", k.organization_name),
            ));
        }
        self.store.membership_put(k.organization, user.id, role.as_str(), self.now_ms())?;
        tracing::info!(organization = %k.organization_name, user = %email, role = role.as_str(), "added a member");
        self.find_member(k, &user.public_id).map(member)
    }

    /// Changes a member's role.
    pub fn member_set_role(&self, principal: &Principal, id: &str, role: Role) -> Result<Member, EngineError> {
        let k = key_principal(principal)?;
        let current = self.find_member(k, id)?;
        owners_only(k, role == Role::Owner || current.role == Role::Owner.as_str())?;
        self.change(k, &current, Some(role))?;
        self.find_member(k, id).map(member)
    }

    /// Removes a member (their sessions in the organization end at once).
    pub fn member_remove(&self, principal: &Principal, id: &str) -> Result<(), EngineError> {
        let k = key_principal(principal)?;
        let current = self.find_member(k, id)?;
        owners_only(k, current.role == Role::Owner.as_str())?;
        self.change(k, &current, None)
    }

    fn change(&self, k: &KeyPrincipal, m: &MemberRecord, role: Option<Role>) -> Result<(), EngineError> {
        match self.store.membership_set(k.organization, m.user, role.map(Role::as_str))? {
            MembershipChange::Changed => {
                tracing::info!(organization = %k.organization_name, user = %m.email, role = ?role, "changed a membership");
                Ok(())
            }
            MembershipChange::NotMember => {
                Err(auth(Code::UserNotFound, format!("{} is not a member of {}", m.email, k.organization_name)))
            }
            MembershipChange::LastOwner => Err(auth(
                Code::LastOwner,
                format!("{} is the last owner of {}: make another member owner first", m.email, k.organization_name),
            )),
        }
    }
}
