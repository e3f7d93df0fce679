//! Invitations: created with the hash of their link's token, listed per organization,
//! withdrawn, and accepted once while unexpired (one conditional UPDATE, so of two acceptances
//! at once only one succeeds).

use postgres::Row;

use crate::*;

const COLUMNS: &str = "i.public_id, i.organization_id, o.name, i.email, i.role, i.hash, i.invited_by, i.created_ms,
     i.expires_ms, i.accepted_ms, i.revoked_ms";
const FROM: &str = "invitations i JOIN organizations o ON o.id = i.organization_id";

fn row(r: &Row) -> Res<InvitationRecord> {
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

/// The organization's invitations, newest first.
pub(crate) fn invitations(s: &PgStore, organization: i64) -> Result<Vec<InvitationRecord>, StoreError> {
    s.read(|c| {
        c.query(
            &format!("SELECT {COLUMNS} FROM {FROM} WHERE i.organization_id = $1 ORDER BY i.id DESC"),
            &[&organization],
        )?
        .iter()
        .map(row)
        .collect()
    })
}

pub(crate) fn invitation_by_hash(s: &PgStore, hash: &str) -> Result<Option<InvitationRecord>, StoreError> {
    s.read(|c| {
        c.query_opt(&format!("SELECT {COLUMNS} FROM {FROM} WHERE i.hash = $1"), &[&hash])?.map(|r| row(&r)).transpose()
    })
}

pub(crate) fn invitation_create(s: &PgStore, i: &InvitationRecord) -> Result<(), StoreError> {
    s.write(|tx| {
        tx.execute(
            "INSERT INTO invitations (public_id, organization_id, email, role, hash, invited_by, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&i.public_id, &i.organization, &i.email, &i.role, &i.hash, &i.invited_by, &i.created_ms, &i.expires_ms],
        )?;
        Ok(())
    })
}

/// Withdraws a pending invitation of the organization; false when there is none.
pub(crate) fn invitation_revoke(
    s: &PgStore,
    organization: i64,
    public_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    s.write(|tx| {
        let n = tx.execute(
            "UPDATE invitations SET revoked_ms = $1 WHERE organization_id = $2 AND public_id = $3
             AND accepted_ms IS NULL AND revoked_ms IS NULL",
            &[&now_ms, &organization, &public_id],
        )?;
        Ok(n == 1)
    })
}

/// Marks a pending, unexpired invitation accepted; false when it is not (any more).
pub(crate) fn invitation_accept(s: &PgStore, hash: &str, now_ms: i64) -> Result<bool, StoreError> {
    s.write(|tx| {
        let n = tx.execute(
            "UPDATE invitations SET accepted_ms = $1 WHERE hash = $2
             AND accepted_ms IS NULL AND revoked_ms IS NULL AND expires_ms > $1",
            &[&now_ms, &hash],
        )?;
        Ok(n == 1)
    })
}
