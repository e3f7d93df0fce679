//! Login sessions (created under a per-user cap, looked up by the hash of their token with the
//! user's current role, touched, listed, revoked), an organization's members, and the
//! membership changes that never leave an organization without an owner.

use postgres::{GenericClient, Row};

use super::RANDOM_HEX24;
use super::auth::lock_user;
use crate::*;

const COLUMNS: &str = "s.id, s.public_id, s.user_id, s.organization_id, s.hash, s.csrf, s.client, s.ip, s.expires_ms,
     u.email, o.name, m.role, s.created_ms, s.last_used_ms, s.revoked_ms";
const FROM: &str = "sessions s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = s.organization_id
     LEFT JOIN memberships m ON m.organization_id = s.organization_id AND m.user_id = s.user_id";

fn row(r: &Row) -> Res<SessionRecord> {
    Ok(SessionRecord {
        id: r.try_get(0)?,
        public_id: r.try_get(1)?,
        session: NewSession {
            user: r.try_get(2)?,
            organization: r.try_get(3)?,
            hash: r.try_get(4)?,
            csrf: r.try_get(5)?,
            client: r.try_get(6)?,
            ip: r.try_get(7)?,
            expires_ms: r.try_get(8)?,
        },
        user_email: r.try_get(9)?,
        organization_name: r.try_get(10)?,
        role: r.try_get(11)?,
        created_ms: r.try_get(12)?,
        last_used_ms: r.try_get(13)?,
        revoked_ms: r.try_get(14)?,
    })
}

fn session_by_id(c: &mut impl GenericClient, id: i64) -> Res<SessionRecord> {
    match c.query_opt(&format!("SELECT {COLUMNS} FROM {FROM} WHERE s.id = $1"), &[&id])? {
        Some(r) => row(&r),
        None => Err(StoreError::Corrupt(format!("session {id} vanished")).into()),
    }
}

/// Stores the session; beyond `cap` live sessions of the user, the oldest are revoked in the
/// same transaction. The user's row lock serialises creations for one user across server
/// processes, so two logins at once cannot both slip under the cap.
pub(crate) fn session_create(
    s: &PgStore,
    session: &NewSession,
    cap: usize,
    now_ms: i64,
) -> Result<SessionRecord, StoreError> {
    s.write(|tx| {
        lock_user(tx, session.user)?;
        let id: i64 = tx
            .query_one(
                &format!(
                    "INSERT INTO sessions (public_id, hash, csrf, user_id, organization_id, client, ip, created_ms, expires_ms)
                     VALUES ('ses_' || {RANDOM_HEX24}, $1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"
                ),
                &[
                    &session.hash,
                    &session.csrf,
                    &session.user,
                    &session.organization,
                    &session.client,
                    &session.ip,
                    &now_ms,
                    &session.expires_ms,
                ],
            )?
            .try_get(0)?;
        // Beyond the cap, the oldest live sessions go (one revoked meanwhile keeps its time).
        tx.execute(
            "UPDATE sessions SET revoked_ms = $1
             WHERE revoked_ms IS NULL AND id IN (
                 SELECT id FROM sessions WHERE user_id = $2 AND revoked_ms IS NULL AND expires_ms > $1
                 ORDER BY id DESC OFFSET $3)",
            &[&now_ms, &session.user, &big(cap.max(1))],
        )?;
        session_by_id(tx, id)
    })
}

pub(crate) fn session_by_hash(s: &PgStore, hash: &str) -> Result<Option<SessionRecord>, StoreError> {
    s.read(|c| {
        c.query_opt(&format!("SELECT {COLUMNS} FROM {FROM} WHERE s.hash = $1"), &[&hash])?.map(|r| row(&r)).transpose()
    })
}

/// The user's live sessions, newest first.
pub(crate) fn sessions_of_user(s: &PgStore, user: i64, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
    s.read(|c| {
        c.query(
            &format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE s.user_id = $1 AND s.revoked_ms IS NULL AND s.expires_ms > $2
                 ORDER BY s.id DESC"
            ),
            &[&user, &now_ms],
        )?
        .iter()
        .map(row)
        .collect()
    })
}

pub(crate) fn session_touch(s: &PgStore, id: i64, now_ms: i64) -> Result<(), StoreError> {
    s.write(|tx| {
        tx.execute("UPDATE sessions SET last_used_ms = $1 WHERE id = $2", &[&now_ms, &id])?;
        Ok(())
    })
}

/// Revokes one live session of `user` by its public id; false when there is none.
pub(crate) fn session_revoke(s: &PgStore, user: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    s.write(|tx| {
        let n = tx.execute(
            "UPDATE sessions SET revoked_ms = $1
             WHERE user_id = $2 AND revoked_ms IS NULL AND expires_ms > $1 AND public_id = $3",
            &[&now_ms, &user, &public_id],
        )?;
        Ok(n == 1)
    })
}

/// Revokes every live session of `user`; how many.
pub(crate) fn sessions_revoke_all(s: &PgStore, user: i64, now_ms: i64) -> Result<u64, StoreError> {
    s.write(|tx| {
        Ok(tx.execute(
            "UPDATE sessions SET revoked_ms = $1 WHERE user_id = $2 AND revoked_ms IS NULL AND expires_ms > $1",
            &[&now_ms, &user],
        )?)
    })
}

/// Members, in the order they joined.
pub(crate) fn members(s: &PgStore, organization: i64) -> Result<Vec<MemberRecord>, StoreError> {
    s.read(|c| {
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

/// Changes a member's role, or removes the member (with their team seats and direct grants in
/// the organization's vaults) when `role` is `None`; refuses to leave no owner. The
/// organization's row lock serialises these changes across server processes, so two owners
/// demoting each other at once cannot both succeed.
pub(crate) fn membership_set(
    s: &PgStore,
    organization: i64,
    user: i64,
    role: Option<&str>,
) -> Result<MembershipChange, StoreError> {
    s.write(|tx| {
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

/// The user's organizations with their role, in the order they joined.
pub(crate) fn user_organizations(s: &PgStore, user: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
    s.read(|c| {
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
