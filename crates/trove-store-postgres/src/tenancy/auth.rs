//! Users, organizations, memberships, single-use user tokens and API keys.

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

fn organization_row(r: &Row) -> Res<OrganizationRecord> {
    Ok(OrganizationRecord { id: r.try_get(0)?, name: r.try_get(1)?, created_ms: r.try_get(2)? })
}

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

/// Takes the user's row lock (`FOR NO KEY UPDATE`: it serialises the writers that check the
/// user's other rows first, without blocking inserts that merely reference the user).
pub(super) fn lock_user(c: &mut impl GenericClient, user: i64) -> Res<()> {
    c.query_opt("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE", &[&user])?;
    Ok(())
}

pub(crate) fn user_count(s: &PgStore) -> Result<u64, StoreError> {
    s.read(|c| Ok(unsigned(c.query_one("SELECT count(*) FROM users", &[])?.try_get(0)?)))
}

pub(crate) fn user_by_email(s: &PgStore, email: &str) -> Result<Option<UserRecord>, StoreError> {
    s.read(|c| {
        c.query_opt(&format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)"), &[&email])?
            .map(|r| user_row(&r))
            .transpose()
    })
}

pub(crate) fn organization(s: &PgStore, name: &str) -> Result<Option<OrganizationRecord>, StoreError> {
    s.read(|c| {
        c.query_opt("SELECT id, name, created_ms FROM organizations WHERE name = $1", &[&name])?
            .map(|r| organization_row(&r))
            .transpose()
    })
}

pub(crate) fn membership(s: &PgStore, organization: i64, user: i64) -> Result<Option<String>, StoreError> {
    s.read(|c| {
        c.query_opt(
            "SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2",
            &[&organization, &user],
        )?
        .map(|r| r.try_get(0).map_err(Fail::from))
        .transpose()
    })
}

pub(crate) fn api_key_by_prefix(s: &PgStore, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    s.read(|c| {
        c.query_opt(&format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.prefix = $1"), &[&prefix])?
            .map(|r| key_row(&r))
            .transpose()
    })
}

pub(crate) fn api_keys(s: &PgStore, organization: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
    s.read(|c| {
        c.query(
            &format!("SELECT {KEY_COLUMNS} FROM {KEY_FROM} WHERE k.organization_id = $1 ORDER BY k.id"),
            &[&organization],
        )?
        .iter()
        .map(key_row)
        .collect()
    })
}

/// `None` when the email is taken, in any case.
pub(crate) fn user_create(
    s: &PgStore,
    email: &str,
    password_hash: &str,
    now_ms: i64,
) -> Result<Option<UserRecord>, StoreError> {
    s.write(|tx| {
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

pub(crate) fn organization_ensure(s: &PgStore, name: &str, now_ms: i64) -> Result<OrganizationRecord, StoreError> {
    s.write(|tx| {
        tx.execute(
            "INSERT INTO organizations (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &now_ms],
        )?;
        // A concurrent insert of the same name was waited for by the INSERT and is visible to
        // this next statement (read committed).
        let row = tx.query_opt("SELECT id, name, created_ms FROM organizations WHERE name = $1", &[&name])?;
        match row {
            Some(r) => organization_row(&r),
            None => Err(StoreError::Corrupt(format!("organization {name} vanished")).into()),
        }
    })
}

pub(crate) fn membership_put(
    s: &PgStore,
    organization: i64,
    user: i64,
    role: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    s.write(|tx| {
        tx.execute(
            "INSERT INTO memberships (organization_id, user_id, role, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role",
            &[&organization, &user, &role, &now_ms],
        )?;
        Ok(())
    })
}

pub(crate) fn api_key_create(s: &PgStore, key: &NewApiKey, now_ms: i64) -> Result<ApiKeyRecord, StoreError> {
    s.write(|tx| {
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
pub(crate) fn api_key_revoke(s: &PgStore, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError> {
    s.write(|tx| {
        let n = tx.execute(
            "UPDATE api_keys SET revoked_ms = coalesce(revoked_ms, $1) WHERE organization_id = $2 AND public_id = $3",
            &[&now_ms, &organization, &public_id],
        )?;
        Ok(n == 1)
    })
}

pub(crate) fn api_key_touch(s: &PgStore, id: i64, now_ms: i64) -> Result<(), StoreError> {
    s.write(|tx| {
        tx.execute("UPDATE api_keys SET last_used_ms = $1 WHERE id = $2", &[&now_ms, &id])?;
        Ok(())
    })
}

/// A new link replaces the user's earlier unused ones of the same purpose. The user's row lock
/// makes that hold when two links are asked for at once: the later one ends the earlier.
pub(crate) fn user_token_create(
    s: &PgStore,
    user: i64,
    purpose: &str,
    hash: &str,
    now_ms: i64,
    expires_ms: i64,
) -> Result<(), StoreError> {
    s.write(|tx| {
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
pub(crate) fn user_token_take(
    s: &PgStore,
    purpose: &str,
    hash: &str,
    now_ms: i64,
) -> Result<Option<UserRecord>, StoreError> {
    s.write(|tx| {
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

/// Sets the password hash when given; records the first verification only.
pub(crate) fn user_update(
    s: &PgStore,
    user: i64,
    password_hash: Option<&str>,
    verified_ms: Option<i64>,
) -> Result<(), StoreError> {
    s.write(|tx| {
        tx.execute(
            "UPDATE users SET password_hash = coalesce($2, password_hash),
                              email_verified_ms = coalesce(email_verified_ms, $3)
             WHERE id = $1",
            &[&user, &password_hash, &verified_ms],
        )?;
        Ok(())
    })
}
