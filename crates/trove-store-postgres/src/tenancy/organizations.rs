//! Organizations in PostgreSQL: the organizations, their members and roles (changes run under
//! the organization's row lock, so two concurrent changes cannot both remove the last owner; a
//! removed member's team memberships and direct grants go with them), and invitations to join:
//! created with the hash of their link's token, listed, withdrawn, and accepted once while
//! unexpired (one conditional `UPDATE`, so of two acceptances at once only one succeeds).

use postgres::Row;

use crate::*;

const INVITATION_COLUMNS: &str =
    "i.public_id, i.organization_id, o.name, i.email, i.role, i.hash, i.invited_by, i.created_ms,
     i.expires_ms, i.accepted_ms, i.revoked_ms";

const INVITATION_FROM: &str = "invitations i JOIN organizations o ON o.id = i.organization_id";

fn invitation_row(r: &Row) -> Res<InvitationRecord> {
    Ok(InvitationRecord {
        public_id: r.try_get(0)?,
        organization: r.try_get(1)?,
        organization_name: r.try_get(2)?,
        email: r.try_get(3)?,
        role: r.try_get(4)?,
        hash: r.try_get(5)?,
        invited_by: r.try_get(6)?,
        created_ms: r.try_get(7)?,
        expires_ms: r.try_get(8)?,
        accepted_ms: r.try_get(9)?,
        revoked_ms: r.try_get(10)?,
    })
}

impl OrganizationStore for PgStore {
    fn organization(&self, name: &str) -> Result<Option<OrganizationRecord>, StoreError> {
        self.read(|c| {
            c.query_opt("SELECT id, name, created_ms FROM organizations WHERE name = $1", &[&name])?
                .map(|r| organization_row(&r))
                .transpose()
        })
    }

    fn organization_ensure(&self, name: &str, now_ms: i64) -> Result<OrganizationRecord, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO organizations (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &now_ms],
            )?;
            // A concurrent insert of the same name was waited for by the INSERT and is visible to
            // this next statement (read committed).
            let row = tx.query_opt("SELECT id, name, created_ms FROM organizations WHERE name = $1", &[&name])?;
            match row {
                Some(r) => organization_row(&r),
                None => Err(StoreError::Corrupt(format!("organization {name} vanished")).into()),
            }
        })
    }

    fn membership(&self, organization: i64, user: i64) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            c.query_opt(
                "SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2",
                &[&organization, &user],
            )?
            .map(|r| r.try_get(0).map_err(Fail::from))
            .transpose()
        })
    }

    /// Members, in the order they joined.
    fn members(&self, organization: i64) -> Result<Vec<MemberRecord>, StoreError> {
        self.read(|c| {
            c.query(
                "SELECT u.id, u.public_id, u.email, m.role, m.created_ms FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.organization_id = $1 ORDER BY m.created_ms, u.id",
                &[&organization],
            )?
            .iter()
            .map(|r| {
                Ok(MemberRecord {
                    user: r.try_get(0)?,
                    public_id: r.try_get(1)?,
                    email: r.try_get(2)?,
                    role: r.try_get(3)?,
                    created_ms: r.try_get(4)?,
                })
            })
            .collect()
        })
    }

    /// The user's organizations with their role, in the order they joined.
    fn user_organizations(&self, user: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        self.read(|c| {
            c.query(
                "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id
                 WHERE m.user_id = $1 ORDER BY m.created_ms, o.id",
                &[&user],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
        })
    }

    fn membership_put(&self, organization: i64, user: i64, role: &str, now_ms: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO memberships (organization_id, user_id, role, created_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role",
                &[&organization, &user, &role, &now_ms],
            )?;
            Ok(())
        })
    }

    /// Changes a member's role, or removes the member (with their team seats and direct grants in
    /// the organization's vaults) when `role` is `None`; refuses to leave no owner. The
    /// organization's row lock serialises these changes across server processes, so two owners
    /// demoting each other at once cannot both succeed.
    fn membership_set(&self, organization: i64, user: i64, role: Option<&str>) -> Result<MembershipChange, StoreError> {
        self.write(|tx| {
            tx.query_opt("SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE", &[&organization])?;
            let current = tx.query_opt(
                "SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2 FOR UPDATE",
                &[&organization, &user],
            )?;
            let Some(current) = current else { return Ok(MembershipChange::NotMember) };
            let current: String = current.try_get(0)?;
            if current == "owner" && role != Some("owner") {
                let owners: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'",
                        &[&organization],
                    )?
                    .try_get(0)?;
                if owners <= 1 {
                    return Ok(MembershipChange::LastOwner);
                }
            }
            match role {
                Some(role) => {
                    tx.execute(
                        "UPDATE memberships SET role = $1 WHERE organization_id = $2 AND user_id = $3",
                        &[&role, &organization, &user],
                    )?;
                }
                None => {
                    super::grants::forget_member(tx, organization, user)?;
                    tx.execute(
                        "DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2",
                        &[&organization, &user],
                    )?;
                }
            }
            Ok(MembershipChange::Changed)
        })
    }

    /// The organization's invitations, newest first.
    fn invitations(&self, organization: i64) -> Result<Vec<InvitationRecord>, StoreError> {
        self.read(|c| {
            c.query(
                &format!(
                    "SELECT {INVITATION_COLUMNS} FROM {INVITATION_FROM} WHERE i.organization_id = $1 ORDER BY i.id DESC"
                ),
                &[&organization],
            )?
            .iter()
            .map(invitation_row)
            .collect()
        })
    }

    fn invitation_by_hash(&self, hash: &str) -> Result<Option<InvitationRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(&format!("SELECT {INVITATION_COLUMNS} FROM {INVITATION_FROM} WHERE i.hash = $1"), &[&hash])?
                .map(|r| invitation_row(&r))
                .transpose()
        })
    }

    fn invitation_create(&self, i: &InvitationRecord) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO invitations (public_id, organization_id, email, role, hash, invited_by, created_ms, expires_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&i.public_id, &i.organization, &i.email, &i.role, &i.hash, &i.invited_by, &i.created_ms, &i.expires_ms],
            )?;
            Ok(())
        })
    }

    /// Withdraws a pending invitation of the organization; false when there is none.
    fn invitation_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE invitations SET revoked_ms = $1 WHERE organization_id = $2 AND public_id = $3
                 AND accepted_ms IS NULL AND revoked_ms IS NULL",
                &[&now_ms, &organization, &public_id],
            )?;
            Ok(n == 1)
        })
    }

    /// Marks a pending, unexpired invitation accepted; false when it is not (any more).
    fn invitation_accept(&self, hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE invitations SET accepted_ms = $1 WHERE hash = $2
                 AND accepted_ms IS NULL AND revoked_ms IS NULL AND expires_ms > $1",
                &[&now_ms, &hash],
            )?;
            Ok(n == 1)
        })
    }
}

fn organization_row(r: &Row) -> Res<OrganizationRecord> {
    Ok(OrganizationRecord { id: r.try_get(0)?, name: r.try_get(1)?, created_ms: r.try_get(2)? })
}
