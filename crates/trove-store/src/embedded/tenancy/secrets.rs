//! Secrets in the embedded store: an organization's named values, kept only in the sealed form
//! the engine hands over (see `trove_engine::secrets`); this module never sees a value in the
//! clear. Re-sealing under a new key is a compare-and-swap on the sealed text.

use rusqlite::{OptionalExtension, params};

use crate::embedded::EmbeddedStore;
use crate::{SecretRecord, SecretStore, StoreError};

const COLUMNS: &str = "organization_id, name, sealed, created_ms, updated_ms, updated_by";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<SecretRecord> {
    Ok(SecretRecord {
        organization: r.get(0)?,
        name: r.get(1)?,
        sealed: r.get(2)?,
        created_ms: r.get(3)?,
        updated_ms: r.get(4)?,
        updated_by: r.get(5)?,
    })
}

impl SecretStore for EmbeddedStore {
    fn secrets(&self, organization: Option<i64>) -> Result<Vec<SecretRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM secrets WHERE ?1 IS NULL OR organization_id = ?1 ORDER BY organization_id, name"
        ))?;
        let rows = stmt.query_map([organization], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn secret(&self, organization: i64, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM secrets WHERE organization_id = ? AND name = ?"))?;
        Ok(stmt.query_row(params![organization, name], record).optional()?)
    }

    fn secret_put(&self, s: &SecretRecord) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existed: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM secrets WHERE organization_id = ? AND name = ?)",
            params![s.organization, s.name],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO secrets (organization_id, name, sealed, created_ms, updated_ms, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (organization_id, name)
             DO UPDATE SET sealed = excluded.sealed, updated_ms = excluded.updated_ms, updated_by = excluded.updated_by",
            params![s.organization, s.name, s.sealed, s.created_ms, s.updated_ms, s.updated_by],
        )?;
        tx.commit()?;
        Ok(!existed)
    }

    fn secret_reseal(&self, organization: i64, name: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE secrets SET sealed = ?4 WHERE organization_id = ?1 AND name = ?2 AND sealed = ?3",
            params![organization, name, old, new],
        )?;
        Ok(n > 0)
    }

    fn secret_delete(&self, organization: i64, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute("DELETE FROM secrets WHERE organization_id = ? AND name = ?", params![organization, name])?;
        Ok(n > 0)
    }
}
