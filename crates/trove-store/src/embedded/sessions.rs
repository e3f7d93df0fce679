//! Login sessions in the embedded store: created with a per-user cap (the oldest live ones are
//! revoked beyond it, in the same transaction), looked up by the hash of their token with the
//! user's current role, touched, listed and revoked. The token itself is never stored. Also
//! the membership changes that end sessions: role changes and removals that never leave an
//! organization without an owner.

use rusqlite::{OptionalExtension, params};

use super::EmbeddedStore;
use crate::{MemberRecord, MembershipChange, NewSession, SessionRecord, StoreError};

const COLUMNS: &str = "s.id, s.public_id, s.user_id, s.organization_id, s.hash, s.csrf, s.client, s.ip, s.expires_ms,
     u.email, o.name, m.role, s.created_ms, s.last_used_ms, s.revoked_ms";
const FROM: &str = "sessions s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = s.organization_id
     LEFT JOIN memberships m ON m.organization_id = s.organization_id AND m.user_id = s.user_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: r.get(0)?,
        public_id: r.get(1)?,
        session: NewSession {
            user: r.get(2)?,
            organization: r.get(3)?,
            hash: r.get(4)?,
            csrf: r.get(5)?,
            client: r.get(6)?,
            ip: r.get(7)?,
            expires_ms: r.get(8)?,
        },
        user_email: r.get(9)?,
        organization_name: r.get(10)?,
        role: r.get(11)?,
        created_ms: r.get(12)?,
        last_used_ms: r.get(13)?,
        revoked_ms: r.get(14)?,
    })
}

impl EmbeddedStore {
    pub(crate) fn s_create(&self, s: &NewSession, cap: usize, now_ms: i64) -> Result<SessionRecord, StoreError> {
        let id: i64 = {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            let id = tx.query_row(
                "INSERT INTO sessions (public_id, hash, csrf, user_id, organization_id, client, ip, created_ms, expires_ms)
                 VALUES ('ses_' || lower(hex(randomblob(12))), ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                params![s.hash, s.csrf, s.user, s.organization, s.client, s.ip, now_ms, s.expires_ms],
                |r| r.get(0),
            )?;
            // Beyond the cap, the oldest live sessions go.
            tx.execute(
                "UPDATE sessions SET revoked_ms = ?1 WHERE id IN (
                     SELECT id FROM sessions WHERE user_id = ?2 AND revoked_ms IS NULL AND expires_ms > ?1
                     ORDER BY id DESC LIMIT -1 OFFSET ?3)",
                params![now_ms, s.user, cap.max(1) as i64],
            )?;
            tx.commit()?;
            id
        };
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE s.id = ?"))?;
        Ok(stmt.query_row([id], row)?)
    }

    pub(crate) fn s_by_hash(&self, hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE s.hash = ?"))?;
        Ok(stmt.query_row([hash], row).optional()?)
    }

    pub(crate) fn s_of_user(&self, user: i64, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE s.user_id = ? AND s.revoked_ms IS NULL AND s.expires_ms > ?
             ORDER BY s.id DESC"
        ))?;
        let rows = stmt.query_map(params![user, now_ms], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn s_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute("UPDATE sessions SET last_used_ms = ? WHERE id = ?", params![now_ms, id])?;
        Ok(())
    }

    /// Revokes one live session of `user` (by public id) or all of them.
    pub(crate) fn s_revoke(&self, user: i64, public_id: Option<&str>, now_ms: i64) -> Result<u64, StoreError> {
        let n = self.conn().execute(
            "UPDATE sessions SET revoked_ms = ?1
             WHERE user_id = ?2 AND revoked_ms IS NULL AND expires_ms > ?1 AND (?3 IS NULL OR public_id = ?3)",
            params![now_ms, user, public_id],
        )?;
        Ok(n as u64)
    }

    pub(crate) fn s_members(&self, organization: i64) -> Result<Vec<MemberRecord>, StoreError> {
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

    pub(crate) fn s_membership_set(
        &self,
        organization: i64,
        user: i64,
        role: Option<&str>,
    ) -> Result<MembershipChange, StoreError> {
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
                EmbeddedStore::g_forget_member(&tx, organization, user)?;
                tx.execute("DELETE FROM memberships WHERE organization_id = ? AND user_id = ?", [organization, user])?
            }
        };
        tx.commit()?;
        Ok(MembershipChange::Changed)
    }

    pub(crate) fn s_user_organizations(&self, user: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id
             WHERE m.user_id = ? ORDER BY m.created_ms, o.id",
        )?;
        let rows = stmt.query_map([user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
