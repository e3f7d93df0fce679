//! Vaults in the embedded store: their rows (name, the model and dimension of their vectors,
//! their organization, the generations the derived indexes follow), deleting a vault with
//! everything in it (its keyword index, change log and derived indexes too), and the
//! vault-wide steps of re-embedding: begin (or resume) staging, switch every chunk and memory
//! to its staged vector in one transaction (raising the change log's floor, so vector indexes
//! rebuild), or abandon.

use rusqlite::{OptionalExtension, params};

use super::{EmbeddedStore, Space, VAULT_COLUMNS, changes, keywords, vault_row};
use crate::lock::now_rfc3339;
use crate::{StoreError, VaultId, VaultInfo, VaultStore};

impl VaultStore for EmbeddedStore {
    fn vault(&self, name: &str) -> Result<Option<VaultInfo>, StoreError> {
        let conn = self.read()?;
        self.vault_by(&conn, "name = ?", &name)
    }

    fn vaults(&self) -> Result<Vec<VaultInfo>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(&format!("SELECT {VAULT_COLUMNS} FROM vaults ORDER BY name"))?;
        Ok(stmt.query_map([], vault_row)?.collect::<Result<_, _>>()?)
    }

    fn ensure_vault(&self, name: &str) -> Result<VaultInfo, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO vaults (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            params![name, now_rfc3339()],
        )?;
        self.vault_by(&conn, "name = ?", &name)?.ok_or_else(|| StoreError::Corrupt(format!("vault {name} vanished")))
    }

    fn set_vault_embedder(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError> {
        let conn = self.conn();
        let chunks: i64 = conn.query_row(
            "SELECT (SELECT count(*) FROM chunks WHERE vault_id = ?1) + (SELECT count(*) FROM memories WHERE vault_id = ?1)",
            [vault],
            |r| r.get(0),
        )?;
        let current: Option<i64> =
            conn.query_row("SELECT dimension FROM vaults WHERE id = ?", [vault], |r| r.get(0))?;
        if chunks > 0 && current.is_some_and(|d| d as usize != dimension) {
            return Err(StoreError::Dimension { expected: current.unwrap_or(0) as usize, got: dimension });
        }
        conn.execute(
            "UPDATE vaults SET model_id = ?, dimension = ? WHERE id = ?",
            params![model_id, dimension as i64, vault],
        )?;
        Ok(())
    }

    fn vault_set_organization(&self, vault: VaultId, organization: Option<i64>) -> Result<(), StoreError> {
        self.conn().execute("UPDATE vaults SET organization_id = ? WHERE id = ?", params![organization, vault])?;
        Ok(())
    }

    fn vaults_claim_unowned(&self, organization: i64) -> Result<u64, StoreError> {
        let n = self
            .conn()
            .execute("UPDATE vaults SET organization_id = ? WHERE organization_id IS NULL", [organization])?;
        Ok(n as u64)
    }

    fn delete_vault(&self, vault: VaultId) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // Documents cascade to chunks; memories go with the vault; its keyword index and change
        // log go by hand (a new vault may get its id).
        let created: Option<String> =
            tx.query_row("SELECT created_at FROM vaults WHERE id = ?", [vault], |r| r.get(0)).optional()?;
        let n = tx.execute("DELETE FROM vaults WHERE id = ?", [vault])?;
        keywords::delete_vault(&tx, vault)?;
        tx.execute("DELETE FROM changes WHERE vault_id = ?", [vault])?;
        tx.commit()?;
        drop(conn);
        self.forget_vectors(vault, created.as_deref());
        Ok(n == 1)
    }

    fn begin_restage(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: (Option<String>, Option<i64>) =
            tx.query_row("SELECT staged_model, staged_dimension FROM vaults WHERE id = ?", [vault], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let resumed = current.0.as_deref() == Some(model_id) && current.1 == Some(dimension as i64);
        if !resumed {
            tx.execute("UPDATE chunks SET staged_vector = NULL WHERE vault_id = ?", [vault])?;
            tx.execute("UPDATE memories SET staged_vector = NULL WHERE vault_id = ?", [vault])?;
            tx.execute(
                "UPDATE vaults SET staged_model = ?, staged_dimension = ? WHERE id = ?",
                params![model_id, dimension as i64, vault],
            )?;
        }
        tx.commit()?;
        Ok(resumed)
    }

    fn commit_staged_vectors(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let missing: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM chunks WHERE vault_id = ?1 AND staged_vector IS NULL)
                  + (SELECT count(*) FROM memories WHERE vault_id = ?1 AND staged_vector IS NULL)",
            [vault],
            |r| r.get(0),
        )?;
        if missing > 0 {
            return Err(StoreError::Incomplete { missing: missing as u64 });
        }
        let wrong: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM chunks WHERE vault_id = ?1 AND length(staged_vector) != ?2)
                  + (SELECT count(*) FROM memories WHERE vault_id = ?1 AND length(staged_vector) != ?2)",
            params![vault, (dimension * 4) as i64],
            |r| r.get(0),
        )?;
        if wrong > 0 {
            return Err(StoreError::Corrupt(format!("{wrong} staged vectors are not {dimension}-dimensional")));
        }
        tx.execute("UPDATE chunks SET vector = staged_vector, staged_vector = NULL WHERE vault_id = ?", [vault])?;
        tx.execute("UPDATE memories SET vector = staged_vector, staged_vector = NULL WHERE vault_id = ?", [vault])?;
        tx.execute(
            "UPDATE vaults SET model_id = ?, dimension = ?, staged_model = NULL, staged_dimension = NULL WHERE id = ?",
            params![model_id, dimension as i64, vault],
        )?;
        // Every vector changed (the texts did not: the keyword index stays): a new generation
        // whose followers rebuild.
        for space in [Space::Memories, Space::Chunks] {
            let generation = Self::log_changes(&tx, vault, space, &[], &[])?;
            changes::raise_floor(&tx, vault, space, generation)?;
        }
        tx.commit()?;
        for space in [Space::Memories, Space::Chunks] {
            self.committed(vault, space);
        }
        Ok(())
    }

    fn clear_staged_vectors(&self, vault: VaultId) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("UPDATE chunks SET staged_vector = NULL WHERE vault_id = ?", [vault])?;
        tx.execute("UPDATE memories SET staged_vector = NULL WHERE vault_id = ?", [vault])?;
        tx.execute("UPDATE vaults SET staged_model = NULL, staged_dimension = NULL WHERE id = ?", [vault])?;
        tx.commit()?;
        Ok(())
    }
}
