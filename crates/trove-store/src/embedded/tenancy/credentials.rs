//! Credentials in the embedded store: API keys and login sessions. Only a hash of each key's
//! secret and of each session's token is stored. Sessions are created with a per-user cap (the
//! oldest live ones are revoked beyond it, in the same transaction) and looked up with the
//! user's current role in their organization.

use rusqlite::{OptionalExtension, params};

use crate::embedded::EmbeddedStore;
use crate::{ApiKeyRecord, CredentialStore, NewApiKey, NewSession, SessionRecord, StoreError};

const KEY_COLUMNS: &str = "k.id, k.public_id, k.organization_id, k.user_id, k.name, k.prefix, k.hash, k.vaults,
     k.actions, k.expires_ms, o.name, u.email, k.created_ms, k.last_used_ms, k.revoked_ms";

const KEY_FROM: &str = "api_keys k JOIN organizations o ON o.id = k.organization_id JOIN users u ON u.id = k.user_id";

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ApiKeyRecord, String, String)> {
    Ok((
        ApiKeyRecord {
            id: r.get(0)?,
            public_id: r.get(1)?,
            key: NewApiKey {
                organization: r.get(2)?,
                user: r.get(3)?,
                name: r.get(4)?,
                prefix: r.get(5)?,
                hash: r.get(6)?,
                vaults: Vec::new(),
                actions: Vec::new(),
                expires_ms: r.get(9)?,
            },
            organization_name: r.get(10)?,
            user_email: r.get(11)?,
            created_ms: r.get(12)?,
            last_used_ms: r.get(13)?,
            revoked_ms: r.get(14)?,
        },
        r.get(7)?,
        r.get(8)?,
    ))
}

fn finish_key((mut k, vaults, actions): (ApiKeyRecord, String, String)) -> Result<ApiKeyRecord, StoreError> {
    let list = |what: &str, s: &str| -> Result<Vec<String>, StoreError> {
        serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what} of API key {}: {e}", k.public_id)))
    };
    k.key.vaults = list("vaults", &vaults)?;
    k.key.actions = list("actions", &actions)?;
    Ok(k)
}

fn json(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const SESSION_COLUMNS: &str =
    "s.id, s.public_id, s.user_id, s.organization_id, s.hash, s.csrf, s.client, s.ip, s.expires_ms,
     u.email, o.name, m.role, s.created_ms, s.last_used_ms, s.revoked_ms";

const SESSION_FROM: &str =
    "sessions s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = s.organization_id
     LEFT JOIN memberships m ON m.organization_id = s.organization_id AND m.user_id = s.user_id";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRecord> {
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
    /// Revokes one live session of `user` (by public id) or all of them.
    fn revoke_sessions(&self, user: i64, public_id: Option<&str>, now_ms: i64) -> Result<u64, StoreError> {
        let n = self.conn().execute(
            "UPDATE sessions SET revoked_ms = ?1
             WHERE user_id = ?2 AND revoked_ms IS NULL AND expires_ms > ?1 AND (?3 IS NULL OR public_id = ?3)",
            params![now_ms, user, public_id],
        )?;
        Ok(n as u64)
    }
}

impl CredentialStore for EmbeddedStore {
    fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.prefix = ?"))?;
        stmt.query_row([prefix], key_row).optional()?.map(finish_key).transpose()
    }

    fn api_keys(&self, organization: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.organization_id = ? ORDER BY k.id"
        ))?;
        let rows = stmt.query_map([organization], key_row)?;
        rows.map(|r| finish_key(r?)).collect()
    }

    fn api_key_create(&self, key: &NewApiKey, now_ms: i64) -> Result<ApiKeyRecord, StoreError> {
        let id: i64 = {
            let conn = self.conn();
            conn.query_row(
                "INSERT INTO api_keys (public_id, organization_id, user_id, name, prefix, hash, vaults, actions, created_ms, expires_ms)
                 VALUES ('key_' || lower(hex(randomblob(12))), ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                params![
                    key.organization,
                    key.user,
                    key.name,
                    key.prefix,
                    key.hash,
                    json(&key.vaults)?,
                    json(&key.actions)?,
                    now_ms,
                    key.expires_ms
                ],
                |r| r.get(0),
            )?
        };
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.id = ?"))?;
        finish_key(stmt.query_row([id], key_row)?)
    }

    fn api_key_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE api_keys SET revoked_ms = coalesce(revoked_ms, ?) WHERE organization_id = ? AND public_id = ?",
            params![now_ms, organization, public_id],
        )?;
        Ok(n == 1)
    }

    fn api_key_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute("UPDATE api_keys SET last_used_ms = ? WHERE id = ?", params![now_ms, id])?;
        Ok(())
    }

    fn session_by_hash(&self, hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE s.hash = ?"))?;
        Ok(stmt.query_row([hash], session_row).optional()?)
    }

    fn sessions_of_user(&self, user: i64, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE s.user_id = ? AND s.revoked_ms IS NULL AND s.expires_ms > ?
             ORDER BY s.id DESC"
        ))?;
        let rows = stmt.query_map(params![user, now_ms], session_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn session_create(&self, s: &NewSession, cap: usize, now_ms: i64) -> Result<SessionRecord, StoreError> {
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
        let mut stmt = conn.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE s.id = ?"))?;
        Ok(stmt.query_row([id], session_row)?)
    }

    fn session_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute("UPDATE sessions SET last_used_ms = ? WHERE id = ?", params![now_ms, id])?;
        Ok(())
    }

    fn session_revoke(&self, user: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.revoke_sessions(user, Some(public_id), now_ms).map(|n| n == 1)
    }

    fn sessions_revoke_all(&self, user: i64, now_ms: i64) -> Result<u64, StoreError> {
        self.revoke_sessions(user, None, now_ms)
    }
}
