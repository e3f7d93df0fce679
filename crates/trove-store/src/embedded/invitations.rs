//! Invitations in the embedded store: created with the hash of their link's token, listed per
//! organization, withdrawn, and accepted once while unexpired.

use rusqlite::{OptionalExtension, params};

use super::EmbeddedStore;
use crate::{InvitationRecord, StoreError};

const COLUMNS: &str = "i.public_id, i.organization_id, o.name, i.email, i.role, i.hash, i.invited_by, i.created_ms,
     i.expires_ms, i.accepted_ms, i.revoked_ms";
const FROM: &str = "invitations i JOIN organizations o ON o.id = i.organization_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InvitationRecord> {
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

impl EmbeddedStore {
    pub(crate) fn i_list(&self, organization: i64) -> Result<Vec<InvitationRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE i.organization_id = ? ORDER BY i.id DESC"))?;
        let rows = stmt.query_map([organization], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn i_by_hash(&self, hash: &str) -> Result<Option<InvitationRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE i.hash = ?"))?;
        Ok(stmt.query_row([hash], row).optional()?)
    }

    pub(crate) fn i_create(&self, i: &InvitationRecord) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO invitations (public_id, organization_id, email, role, hash, invited_by, created_ms, expires_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![i.public_id, i.organization, i.email, i.role, i.hash, i.invited_by, i.created_ms, i.expires_ms],
        )?;
        Ok(())
    }

    pub(crate) fn i_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE invitations SET revoked_ms = ? WHERE organization_id = ? AND public_id = ?
             AND accepted_ms IS NULL AND revoked_ms IS NULL",
            params![now_ms, organization, public_id],
        )?;
        Ok(n == 1)
    }

    pub(crate) fn i_accept(&self, hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE invitations SET accepted_ms = ?1 WHERE hash = ?2
             AND accepted_ms IS NULL AND revoked_ms IS NULL AND expires_ms > ?1",
            params![now_ms, hash],
        )?;
        Ok(n == 1)
    }
}
