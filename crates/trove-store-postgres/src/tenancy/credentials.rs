//! API keys and login sessions in PostgreSQL; only a hash of each key's secret and of each
//! session's token is stored. A session is created under a per-user cap, enforced under the
//! user's row lock so concurrent logins on several nodes cannot exceed it, and is looked up
//! with the user's current role in its organization.

use postgres::{GenericClient, Row};

use super::RANDOM_HEX24;
use super::users::lock_user;
use crate::*;

const KEY_COLUMNS: &str = "k.id, k.public_id, k.organization_id, k.user_id, k.name, k.prefix, k.hash, k.vaults,
     k.actions, k.expires_ms, o.name, u.email, k.created_ms, k.last_used_ms, k.revoked_ms";

const KEY_FROM: &str = "api_keys k JOIN organizations o ON o.id = k.organization_id JOIN users u ON u.id = k.user_id";

fn key_row(r: &Row) -> Res<ApiKeyRecord> {
    let public_id: String = r.try_get(1)?;
    let list = |i: usize, what: &str| -> Res<Vec<String>> {
        let text: String = r.try_get(i)?;
        serde_json::from_str(&text)
            .map_err(|e| Fail::Store(StoreError::Corrupt(format!("{what} of API key {public_id}: {e}"))))
    };
    Ok(ApiKeyRecord {
        id: r.try_get(0)?,
        key: NewApiKey {
            organization: r.try_get(2)?,
            user: r.try_get(3)?,
            name: r.try_get(4)?,
            prefix: r.try_get(5)?,
            hash: r.try_get(6)?,
            vaults: list(7, "vaults")?,
            actions: list(8, "actions")?,
            expires_ms: r.try_get(9)?,
        },
        organization_name: r.try_get(10)?,
        user_email: r.try_get(11)?,
        created_ms: r.try_get(12)?,
        last_used_ms: r.try_get(13)?,
        revoked_ms: r.try_get(14)?,
        public_id,
    })
}

fn json(list: &[String]) -> Res<String> {
    serde_json::to_string(list).map_err(|e| Fail::Store(StoreError::Corrupt(e.to_string())))
}

impl CredentialStore for PgStore {
    fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(&format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.prefix = $1"), &[&prefix])?
                .map(|r| key_row(&r))
                .transpose()
        })
    }

    fn api_keys(&self, organization: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read(|c| {
            c.query(
                &format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.organization_id = $1 ORDER BY k.id"),
                &[&organization],
            )?
            .iter()
            .map(key_row)
            .collect()
        })
    }

    fn api_key_create(&self, key: &NewApiKey, now_ms: i64) -> Result<ApiKeyRecord, StoreError> {
        self.write(|tx| {
            let id: i64 = tx
                .query_one(
                    &format!(
                        "INSERT INTO api_keys (public_id, organization_id, user_id, name, prefix, hash, vaults, actions, created_ms, expires_ms)
                         VALUES ('key_' || {RANDOM_HEX24}, $1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
                    ),
                    &[
                        &key.organization,
                        &key.user,
                        &key.name,
                        &key.prefix,
                        &key.hash,
                        &json(&key.vaults)?,
                        &json(&key.actions)?,
                        &now_ms,
                        &key.expires_ms,
                    ],
                )?
                .try_get(0)?;
            key_row(&tx.query_one(&format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.id = $1"), &[&id])?)
        })
    }

    /// True when the organization has the key; the first revocation's time stays.
    fn api_key_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE api_keys SET revoked_ms = coalesce(revoked_ms, $1) WHERE organization_id = $2 AND public_id = $3",
                &[&now_ms, &organization, &public_id],
            )?;
            Ok(n == 1)
        })
    }

    fn api_key_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE api_keys SET last_used_ms = $1 WHERE id = $2", &[&now_ms, &id])?;
            Ok(())
        })
    }

    fn session_by_hash(&self, hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(&format!("SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE s.hash = $1"), &[&hash])?
                .map(|r| session_row(&r))
                .transpose()
        })
    }

    /// The user's live sessions, newest first.
    fn sessions_of_user(&self, user: i64, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        self.read(|c| {
            c.query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE s.user_id = $1 AND s.revoked_ms IS NULL AND s.expires_ms > $2
                     ORDER BY s.id DESC"
                ),
                &[&user, &now_ms],
            )?
            .iter()
            .map(session_row)
            .collect()
        })
    }

    /// Stores the session; beyond `cap` live sessions of the user, the oldest are revoked in the
    /// same transaction. The user's row lock serialises creations for one user across server
    /// processes, so two logins at once cannot both slip under the cap.
    fn session_create(&self, session: &NewSession, cap: usize, now_ms: i64) -> Result<SessionRecord, StoreError> {
        self.write(|tx| {
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

    fn session_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE sessions SET last_used_ms = $1 WHERE id = $2", &[&now_ms, &id])?;
            Ok(())
        })
    }

    /// Revokes one live session of `user` by its public id; false when there is none.
    fn session_revoke(&self, user: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE sessions SET revoked_ms = $1
                 WHERE user_id = $2 AND revoked_ms IS NULL AND expires_ms > $1 AND public_id = $3",
                &[&now_ms, &user, &public_id],
            )?;
            Ok(n == 1)
        })
    }

    /// Revokes every live session of `user`; how many.
    fn sessions_revoke_all(&self, user: i64, now_ms: i64) -> Result<u64, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE sessions SET revoked_ms = $1 WHERE user_id = $2 AND revoked_ms IS NULL AND expires_ms > $1",
                &[&now_ms, &user],
            )?)
        })
    }
}

const SESSION_COLUMNS: &str =
    "s.id, s.public_id, s.user_id, s.organization_id, s.hash, s.csrf, s.client, s.ip, s.expires_ms,
     u.email, o.name, m.role, s.created_ms, s.last_used_ms, s.revoked_ms";

const SESSION_FROM: &str =
    "sessions s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = s.organization_id
     LEFT JOIN memberships m ON m.organization_id = s.organization_id AND m.user_id = s.user_id";

fn session_row(r: &Row) -> Res<SessionRecord> {
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
    match c.query_opt(&format!("SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE s.id = $1"), &[&id])? {
        Some(r) => session_row(&r),
        None => Err(StoreError::Corrupt(format!("session {id} vanished")).into()),
    }
}
