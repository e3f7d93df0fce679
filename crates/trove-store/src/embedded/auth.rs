//! Tenancy in the embedded store: users, organizations and their members, API keys (only a
//! hash of each secret).

use rusqlite::{OptionalExtension, params};

use super::EmbeddedStore;

use crate::{ApiKeyRecord, NewApiKey, OrganizationRecord, StoreError, UserRecord};

const USER_COLUMNS: &str = "id, public_id, email, password_hash, created_ms, email_verified_ms";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        public_id: r.get(1)?,
        email: r.get(2)?,
        password_hash: r.get(3)?,
        created_ms: r.get(4)?,
        email_verified_ms: r.get(5)?,
    })
}

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

impl EmbeddedStore {
    pub(crate) fn a_user_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.read()?.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    pub(crate) fn a_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"))?;
        Ok(stmt.query_row([email], user_row).optional()?)
    }

    pub(crate) fn a_organization(&self, name: &str) -> Result<Option<OrganizationRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT id, name, created_ms FROM organizations WHERE name = ?")?;
        Ok(stmt
            .query_row([name], |r| Ok(OrganizationRecord { id: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)? }))
            .optional()?)
    }

    pub(crate) fn a_membership(&self, organization: i64, user: i64) -> Result<Option<String>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT role FROM memberships WHERE organization_id = ? AND user_id = ?")?;
        Ok(stmt.query_row([organization, user], |r| r.get(0)).optional()?)
    }

    pub(crate) fn a_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.prefix = ?"))?;
        stmt.query_row([prefix], key_row).optional()?.map(finish_key).transpose()
    }

    pub(crate) fn a_keys(&self, organization: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.organization_id = ? ORDER BY k.id"
        ))?;
        let rows = stmt.query_map([organization], key_row)?;
        rows.map(|r| finish_key(r?)).collect()
    }

    pub(crate) fn a_user_create(
        &self,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, StoreError> {
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT INTO users (public_id, email, password_hash, created_ms)
             VALUES ('usr_' || lower(hex(randomblob(12))), ?, ?, ?) ON CONFLICT (email) DO NOTHING",
            params![email, password_hash, now_ms],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        let id = conn.last_insert_rowid();
        Ok(Some(conn.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"), [id], user_row)?))
    }

    pub(crate) fn a_user_token_create(
        &self,
        user: i64,
        purpose: &str,
        hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // A new link replaces the user's earlier unused ones of the same purpose.
        tx.execute(
            "UPDATE user_tokens SET used_ms = ? WHERE user_id = ? AND purpose = ? AND used_ms IS NULL",
            params![now_ms, user, purpose],
        )?;
        tx.execute(
            "INSERT INTO user_tokens (user_id, purpose, hash, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)",
            params![user, purpose, hash, now_ms, expires_ms],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn a_user_token_take(
        &self,
        purpose: &str,
        hash: &str,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let user: Option<i64> = tx
            .query_row(
                "SELECT user_id FROM user_tokens WHERE purpose = ? AND hash = ? AND used_ms IS NULL AND expires_ms > ?",
                params![purpose, hash, now_ms],
                |r| r.get(0),
            )
            .optional()?;
        let Some(user) = user else { return Ok(None) };
        tx.execute("UPDATE user_tokens SET used_ms = ? WHERE hash = ?", params![now_ms, hash])?;
        let record = tx.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"), [user], user_row)?;
        tx.commit()?;
        Ok(Some(record))
    }

    pub(crate) fn a_user_update(
        &self,
        user: i64,
        password_hash: Option<&str>,
        verified_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        if let Some(hash) = password_hash {
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", params![hash, user])?;
        }
        if let Some(at) = verified_ms {
            conn.execute(
                "UPDATE users SET email_verified_ms = coalesce(email_verified_ms, ?) WHERE id = ?",
                params![at, user],
            )?;
        }
        Ok(())
    }

    pub(crate) fn a_organization_ensure(&self, name: &str, now_ms: i64) -> Result<OrganizationRecord, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO organizations (name, created_ms) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            params![name, now_ms],
        )?;
        Ok(conn.query_row("SELECT id, name, created_ms FROM organizations WHERE name = ?", [name], |r| {
            Ok(OrganizationRecord { id: r.get(0)?, name: r.get(1)?, created_ms: r.get(2)? })
        })?)
    }

    pub(crate) fn a_membership_put(
        &self,
        organization: i64,
        user: i64,
        role: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO memberships (organization_id, user_id, role, created_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (organization_id, user_id) DO UPDATE SET role = excluded.role",
            params![organization, user, role, now_ms],
        )?;
        Ok(())
    }

    pub(crate) fn a_key_create(&self, key: &NewApiKey, now_ms: i64) -> Result<ApiKeyRecord, StoreError> {
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

    pub(crate) fn a_key_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE api_keys SET revoked_ms = coalesce(revoked_ms, ?) WHERE organization_id = ? AND public_id = ?",
            params![now_ms, organization, public_id],
        )?;
        Ok(n == 1)
    }

    pub(crate) fn a_key_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute("UPDATE api_keys SET last_used_ms = ? WHERE id = ?", params![now_ms, id])?;
        Ok(())
    }
}
