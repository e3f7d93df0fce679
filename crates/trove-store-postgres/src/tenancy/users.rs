//! Users in PostgreSQL (emails unique without regard to case, through the `lower(email)`
//! index), and the single-use tokens mailed to them, kept as hashes: a new token ends the
//! user's earlier ones of its purpose under the user's row lock, and a token is used up by one
//! conditional `UPDATE … RETURNING`, so it works once.

use postgres::{GenericClient, Row};

use super::RANDOM_HEX24;
use crate::*;

const USER_COLUMNS: &str = "id, public_id, email, password_hash, created_ms, email_verified_ms";

fn user_row(r: &Row) -> Res<UserRecord> {
    Ok(UserRecord {
        id: r.try_get(0)?,
        public_id: r.try_get(1)?,
        email: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        created_ms: r.try_get(4)?,
        email_verified_ms: r.try_get(5)?,
    })
}

/// Takes the user's row lock (`FOR NO KEY UPDATE`: it serialises the writers that check the
/// user's other rows first, without blocking inserts that merely reference the user).
pub(super) fn lock_user(c: &mut impl GenericClient, user: i64) -> Res<()> {
    c.query_opt("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE", &[&user])?;
    Ok(())
}

impl UserStore for PgStore {
    fn user_count(&self) -> Result<u64, StoreError> {
        self.read(|c| Ok(unsigned(c.query_one("SELECT count(*) FROM users", &[])?.try_get(0)?)))
    }

    fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)"), &[&email])?
                .map(|r| user_row(&r))
                .transpose()
        })
    }

    /// `None` when the email is taken, in any case.
    fn user_create(&self, email: &str, password_hash: &str, now_ms: i64) -> Result<Option<UserRecord>, StoreError> {
        self.write(|tx| {
            tx.query_opt(
                &format!(
                    "INSERT INTO users (public_id, email, password_hash, created_ms)
                     VALUES ('usr_' || {RANDOM_HEX24}, $1, $2, $3)
                     ON CONFLICT ((lower(email))) DO NOTHING RETURNING {USER_COLUMNS}"
                ),
                &[&email, &password_hash, &now_ms],
            )?
            .map(|r| user_row(&r))
            .transpose()
        })
    }

    /// Sets the password hash when given; records the first verification only.
    fn user_update(&self, user: i64, password_hash: Option<&str>, verified_ms: Option<i64>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE users SET password_hash = coalesce($2, password_hash),
                                  email_verified_ms = coalesce(email_verified_ms, $3)
                 WHERE id = $1",
                &[&user, &password_hash, &verified_ms],
            )?;
            Ok(())
        })
    }

    /// A new link replaces the user's earlier unused ones of the same purpose. The user's row lock
    /// makes that hold when two links are asked for at once: the later one ends the earlier.
    fn user_token_create(
        &self,
        user: i64,
        purpose: &str,
        hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            lock_user(tx, user)?;
            tx.execute(
                "UPDATE user_tokens SET used_ms = $1 WHERE user_id = $2 AND purpose = $3 AND used_ms IS NULL",
                &[&now_ms, &user, &purpose],
            )?;
            tx.execute(
                "INSERT INTO user_tokens (user_id, purpose, hash, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)",
                &[&user, &purpose, &hash, &now_ms, &expires_ms],
            )?;
            Ok(())
        })
    }

    /// Uses an unexpired, unused token of `purpose` and returns its user. One conditional UPDATE:
    /// of two takes at once, the second waits for the first's row lock, then finds it used.
    fn user_token_take(&self, purpose: &str, hash: &str, now_ms: i64) -> Result<Option<UserRecord>, StoreError> {
        self.write(|tx| {
            let taken = tx.query_opt(
                "UPDATE user_tokens SET used_ms = $3
                 WHERE purpose = $1 AND hash = $2 AND used_ms IS NULL AND expires_ms > $3 RETURNING user_id",
                &[&purpose, &hash, &now_ms],
            )?;
            let Some(taken) = taken else { return Ok(None) };
            let user: i64 = taken.try_get(0)?;
            let row = tx.query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"), &[&user])?;
            match row {
                Some(r) => user_row(&r).map(Some),
                None => Err(StoreError::Corrupt(format!("user {user} of a token vanished")).into()),
            }
        })
    }
}
