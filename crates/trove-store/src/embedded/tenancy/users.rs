//! Users in the embedded store (emails unique without regard to case: `COLLATE NOCASE`), and
//! the single-use tokens mailed to them (email verification, password reset), kept as hashes
//! and used up in one transaction.

use rusqlite::{OptionalExtension, params};

use crate::embedded::EmbeddedStore;
use crate::{StoreError, UserRecord, UserStore};

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

impl UserStore for EmbeddedStore {
    fn user_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.read()?.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"))?;
        Ok(stmt.query_row([email], user_row).optional()?)
    }

    fn user_create(&self, email: &str, password_hash: &str, now_ms: i64) -> Result<Option<UserRecord>, StoreError> {
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

    fn user_update(&self, user: i64, password_hash: Option<&str>, verified_ms: Option<i64>) -> Result<(), StoreError> {
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

    fn user_token_create(
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

    fn user_token_take(&self, purpose: &str, hash: &str, now_ms: i64) -> Result<Option<UserRecord>, StoreError> {
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
}
