//! Secrets of an organization, kept only in the sealed form the engine hands over. Setting one
//! is an upsert that keeps its first `created_ms`; re-sealing under a new key is a
//! compare-and-swap on the sealed text, so it never undoes a concurrent update.

use postgres::Row;

use crate::*;

const COLUMNS: &str = "organization_id, name, sealed, created_ms, updated_ms, updated_by";

fn record(r: &Row) -> Res<SecretRecord> {
    Ok(SecretRecord {
        organization: r.try_get(0)?,
        name: r.try_get(1)?,
        sealed: r.try_get(2)?,
        created_ms: r.try_get(3)?,
        updated_ms: r.try_get(4)?,
        updated_by: r.try_get(5)?,
    })
}

impl SecretStore for PgStore {
    /// Secrets of one organization or of all, by organization then name (code-point order).
    fn secrets(&self, organization: Option<i64>) -> Result<Vec<SecretRecord>, StoreError> {
        self.read(|c| {
            c.query(
                &format!(
                    r#"SELECT {COLUMNS} FROM secrets WHERE $1::BIGINT IS NULL OR organization_id = $1
                       ORDER BY organization_id, name COLLATE "C""#
                ),
                &[&organization],
            )?
            .iter()
            .map(record)
            .collect()
        })
    }

    /// One secret.
    fn secret(&self, organization: i64, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM secrets WHERE organization_id = $1 AND name = $2"),
                &[&organization, &name],
            )?
            .as_ref()
            .map(record)
            .transpose()
        })
    }

    /// Sets a secret; `true` when it was new.
    fn secret_put(&self, r: &SecretRecord) -> Result<bool, StoreError> {
        self.write(|tx| {
            let row = tx.query_one(
                "INSERT INTO secrets (organization_id, name, sealed, created_ms, updated_ms, updated_by)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (organization_id, name)
                 DO UPDATE SET sealed = excluded.sealed, updated_ms = excluded.updated_ms, updated_by = excluded.updated_by
                 RETURNING (xmax = 0)",
                &[&r.organization, &r.name, &r.sealed, &r.created_ms, &r.updated_ms, &r.updated_by],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    /// Replaces the sealed text if it is still `old`.
    fn secret_reseal(&self, organization: i64, name: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE secrets SET sealed = $4 WHERE organization_id = $1 AND name = $2 AND sealed = $3",
                &[&organization, &name, &old, &new],
            )?;
            Ok(n > 0)
        })
    }

    /// Deletes a secret; `false` when absent.
    fn secret_delete(&self, organization: i64, name: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n =
                tx.execute("DELETE FROM secrets WHERE organization_id = $1 AND name = $2", &[&organization, &name])?;
            Ok(n > 0)
        })
    }
}
