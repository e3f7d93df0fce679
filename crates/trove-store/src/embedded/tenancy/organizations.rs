//! Organizations in the embedded store: the organizations, their members and roles (a change
//! that would leave an organization without an owner is refused in the transaction that makes
//! it; a removed member's team memberships and direct grants go with them), and invitations to
//! join, created with the hash of their link's token, withdrawn, and accepted once while
//! unexpired.

use rusqlite::{OptionalExtension, params};

use crate::embedded::EmbeddedStore;
use crate::{InvitationRecord, MemberRecord, MembershipChange, OrganizationRecord, OrganizationStore, StoreError};

const INVITATION_COLUMNS: &str =
    "i.public_id, i.organization_id, o.name, i.email, i.role, i.hash, i.invited_by, i.created_ms,
     i.expires_ms, i.accepted_ms, i.revoked_ms";

const INVITATION_FROM: &str = "invitations i JOIN organizations o ON o.id = i.organization_id";

fn invitation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InvitationRecord> {
    Ok(InvitationRecord {
        public_id: r.get(0)?,
        organization: r.get(1)?,
        organization_name: r.get(2)?,
        email: r.get(3)?,
        role: r.get(4)?,
        hash: r.get(5)?,
        invited_by: r.get(6)?,
        created_ms: r.get(7)?,
        expires_ms: r.get(8)?,
        accepted_ms: r.get(9)?,
        revoked_ms: r.get(10)?,
    })
}

impl OrganizationStore for EmbeddedStore {
    fn organization(&self, name: &str) -> Result<Option<OrganizationRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT id, name, created_ms FROM organizations WHERE name = ?")?;
        Ok(stmt
            .query_row([name], |r| Ok(OrganizationRecord { id: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)? }))
            .optional()?)
    }

    fn organization_ensure(&self, name: &str, now_ms: i64) -> Result<OrganizationRecord, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO organizations (name, created_ms) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            params![name, now_ms],
        )?;
        Ok(conn.query_row("SELECT id, name, created_ms FROM organizations WHERE name = ?", [name], |r| {
            Ok(OrganizationRecord { id: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)? })
        })?)
    }

    fn membership(&self, organization: i64, user: i64) -> Result<Option<String>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT role FROM memberships WHERE organization_id = ? AND user_id = ?")?;
        Ok(stmt.query_row([organization, user], |r| r.get(0)).optional()?)
    }

    fn membership_put(&self, organization: i64, user: i64, role: &str, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO memberships (organization_id, user_id, role, created_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role",
            params![organization, user, role, now_ms],
        )?;
        Ok(())
    }

    fn members(&self, organization: i64) -> Result<Vec<MemberRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT u.id, u.public_id, u.email, m.role, m.created_ms FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.organization_id = ? ORDER BY m.created_ms, u.id",
        )?;
        let rows = stmt.query_map([organization], |r| {
            Ok(MemberRecord {
                user: r.get(0)?,
                public_id: r.get(1)?,
                email: r.get(2)?,
                role: r.get(3)?,
                created_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn user_organizations(&self, user: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id
             WHERE m.user_id = ? ORDER BY m.created_ms, o.id",
        )?;
        let rows = stmt.query_map([user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn membership_set(&self, organization: i64, user: i64, role: Option<&str>) -> Result<MembershipChange, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<String> = tx
            .query_row(
                "SELECT role FROM memberships WHERE organization_id = ? AND user_id = ?",
                [organization, user],
                |r| r.get(0),
            )
            .optional()?;
        let Some(current) = current else { return Ok(MembershipChange::NotMember) };
        if current == "owner" && role != Some("owner") {
            let owners: i64 = tx.query_row(
                "SELECT count(*) FROM memberships WHERE organization_id = ? AND role = 'owner'",
                [organization],
                |r| r.get(0),
            )?;
            if owners <= 1 {
                return Ok(MembershipChange::LastOwner);
            }
        }
        match role {
            Some(role) => tx.execute(
                "UPDATE memberships SET role = ? WHERE organization_id = ? AND user_id = ?",
                params![role, organization, user],
            )?,
            None => {
                super::grants::forget_member(&tx, organization, user)?;
                tx.execute("DELETE FROM memberships WHERE organization_id = ? AND user_id = ?", [organization, user])?
            }
        };
        tx.commit()?;
        Ok(MembershipChange::Changed)
    }

    fn invitations(&self, organization: i64) -> Result<Vec<InvitationRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {INVITATION_COLUMNS} FROM {INVITATION_FROM} WHERE i.organization_id = ? ORDER BY i.id DESC"
        ))?;
        let rows = stmt.query_map([organization], invitation_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn invitation_by_hash(&self, hash: &str) -> Result<Option<InvitationRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {INVITATION_COLUMNS} FROM {INVITATION_FROM} WHERE i.hash = ?"))?;
        Ok(stmt.query_row([hash], invitation_row).optional()?)
    }

    fn invitation_create(&self, i: &InvitationRecord) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO invitations (public_id, organization_id, email, role, hash, invited_by, created_ms, expires_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![i.public_id, i.organization, i.email, i.role, i.hash, i.invited_by, i.created_ms, i.expires_ms],
        )?;
        Ok(())
    }

    fn invitation_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE invitations SET revoked_ms = ? WHERE organization_id = ? AND public_id = ?
             AND accepted_ms IS NULL AND revoked_ms IS NULL",
            params![now_ms, organization, public_id],
        )?;
        Ok(n == 1)
    }

    fn invitation_accept(&self, hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE invitations SET accepted_ms = ?1 WHERE hash = ?2
             AND accepted_ms IS NULL AND revoked_ms IS NULL AND expires_ms > ?1",
            params![now_ms, hash],
        )?;
        Ok(n == 1)
    }
}
