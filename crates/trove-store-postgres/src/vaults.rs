//! Vaults in PostgreSQL: their rows (name, the model and dimension of their vectors, their
//! organization, the generations that tell other nodes their data changed), deleting a vault
//! with everything in it, the vault-wide steps of re-embedding, and each vault's HNSW indexes
//! (partial indexes on the vault's dimension, made when its model is recorded and remade when
//! a re-embed switches to another dimension).

use postgres::GenericClient;
use postgres::types::ToSql;

use crate::*;

const VAULT_COLUMNS: &str =
    "id, name, model_id, dimension, generation, memory_generation, organization_id, staged_model, staged_dimension";

fn vault_row(r: &postgres::Row) -> VaultInfo {
    VaultInfo {
        id: r.get(0),
        name: r.get(1),
        model_id: r.get(2),
        dimension: r.get::<_, Option<i32>>(3).map(|d| d as usize),
        generation: r.get(4),
        memory_generation: r.get(5),
        organization: r.get(6),
        restaging: match (r.get::<_, Option<String>>(7), r.get::<_, Option<i32>>(8)) {
            (Some(model), Some(dim)) => Some((model, dim as usize)),
            _ => None,
        },
    }
}

pub(crate) fn vault_by(c: &mut impl GenericClient, clause: &str, param: &(dyn ToSql + Sync)) -> Res<Option<VaultInfo>> {
    Ok(c.query_opt(&format!("SELECT {VAULT_COLUMNS} FROM vaults WHERE {clause}"), &[param])?.map(|r| vault_row(&r)))
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Drops the vault's HNSW indexes (chunks and memories), except those of `keep`'s dimension;
/// returns the names kept. Index names carry vault and dimension: `chunks_hnsw_<vault>_<dim>`.
fn drop_vector_indexes(c: &mut impl GenericClient, vault: VaultId, keep: Option<usize>) -> Res<Vec<String>> {
    let mut kept = Vec::new();
    for table in ["chunks", "memories"] {
        let wanted = keep.map(|d| format!("{table}_hnsw_{vault}_{d}"));
        let existing: Vec<String> = c
            .query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname LIKE $2",
                &[&table, &format!("{table}_hnsw_{vault}_%")],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for name in existing {
            if Some(&name) == wanted.as_ref() {
                kept.push(name);
            } else {
                c.batch_execute(&format!("DROP INDEX IF EXISTS {name}"))?;
            }
        }
    }
    Ok(kept)
}

/// Makes the vault's HNSW indexes (chunks and memories) for `dimension`, dropping ones of
/// another dimension.
pub(crate) fn ensure_vector_indexes(c: &mut impl GenericClient, vault: VaultId, dimension: usize) -> Res<()> {
    let kept = drop_vector_indexes(c, vault, Some(dimension))?;
    for table in ["chunks", "memories"] {
        let wanted = format!("{table}_hnsw_{vault}_{dimension}");
        if !kept.contains(&wanted) {
            c.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {wanted} ON {table} USING hnsw ((vector::vector({dimension})) vector_cosine_ops) WHERE vault_id = {vault}"
            ))?;
        }
    }
    Ok(())
}

impl VaultStore for PgStore {
    fn vault(&self, name: &str) -> Result<Option<VaultInfo>, StoreError> {
        self.read(|c| vault_by(c, "name = $1", &name))
    }

    fn vaults(&self) -> Result<Vec<VaultInfo>, StoreError> {
        self.read(|c| {
            Ok(c.query(&format!("SELECT {VAULT_COLUMNS} FROM vaults ORDER BY name COLLATE \"C\""), &[])?
                .iter()
                .map(vault_row)
                .collect())
        })
    }

    fn ensure_vault(&self, name: &str) -> Result<VaultInfo, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO vaults (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &now_rfc3339()],
            )?;
            vault_by(tx, "name = $1", &name)?
                .ok_or_else(|| StoreError::Corrupt(format!("vault {name} vanished")).into())
        })
    }

    fn set_vault_embedder(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError> {
        self.write(|tx| {
            let row = tx.query_one(
                "SELECT (SELECT count(*) FROM chunks WHERE vault_id = $1) + (SELECT count(*) FROM memories WHERE vault_id = $1), (SELECT dimension FROM vaults WHERE id = $1)",
                &[&vault],
            )?;
            let (rows, current): (i64, Option<i32>) = (row.get(0), row.get(1));
            if rows > 0 && current.is_some_and(|d| d as usize != dimension) {
                return Err(StoreError::Dimension { expected: current.unwrap_or(0) as usize, got: dimension }.into());
            }
            tx.execute("UPDATE vaults SET model_id = $1, dimension = $2 WHERE id = $3", &[&model_id, &(dimension as i32), &vault])?;
            ensure_vector_indexes(tx, vault, dimension)
        })
    }

    fn vault_set_organization(&self, vault: VaultId, organization: Option<i64>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE vaults SET organization_id = $1 WHERE id = $2", &[&organization, &vault])?;
            Ok(())
        })
    }

    fn vaults_claim_unowned(&self, organization: i64) -> Result<u64, StoreError> {
        self.write(|tx| {
            Ok(tx.execute("UPDATE vaults SET organization_id = $1 WHERE organization_id IS NULL", &[&organization])?)
        })
    }

    fn delete_vault(&self, vault: VaultId) -> Result<bool, StoreError> {
        let deleted = self.write(|tx| {
            // Documents cascade to chunks; memories, grants and sync records go with the vault.
            let n = tx.execute("DELETE FROM vaults WHERE id = $1", &[&vault])?;
            if n == 1 {
                drop_vector_indexes(tx, vault, None)?;
                crate::index::queue_drop_vault(tx, self, vault)?;
            }
            Ok(n == 1)
        })?;
        self.after_write(vault);
        Ok(deleted)
    }

    fn begin_restage(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<bool, StoreError> {
        self.write(|tx| {
            let row =
                tx.query_one("SELECT staged_model, staged_dimension FROM vaults WHERE id = $1 FOR UPDATE", &[&vault])?;
            let (model, dim): (Option<String>, Option<i32>) = (row.get(0), row.get(1));
            let resumed = model.as_deref() == Some(model_id) && dim == Some(dimension as i32);
            if !resumed {
                tx.execute("UPDATE chunks SET staged_vector = NULL WHERE vault_id = $1", &[&vault])?;
                tx.execute("UPDATE memories SET staged_vector = NULL WHERE vault_id = $1", &[&vault])?;
                tx.execute(
                    "UPDATE vaults SET staged_model = $1, staged_dimension = $2 WHERE id = $3",
                    &[&model_id, &(dimension as i32), &vault],
                )?;
            }
            Ok(resumed)
        })
    }

    fn commit_staged_vectors(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError> {
        self.write(|tx| {
            // The vault row first: a concurrent writer of this vault waits for the switch.
            tx.execute("SELECT 1 FROM vaults WHERE id = $1 FOR UPDATE", &[&vault])?;
            let missing: i64 = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM chunks WHERE vault_id = $1 AND staged_vector IS NULL)
                          + (SELECT count(*) FROM memories WHERE vault_id = $1 AND staged_vector IS NULL)",
                    &[&vault],
                )?
                .get(0);
            if missing > 0 {
                return Err(StoreError::Incomplete { missing: missing as u64 }.into());
            }
            let dim = dimension as i32;
            let wrong: i64 = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM chunks WHERE vault_id = $1 AND vector_dims(staged_vector) <> $2)
                          + (SELECT count(*) FROM memories WHERE vault_id = $1 AND vector_dims(staged_vector) <> $2)",
                    &[&vault, &dim],
                )?
                .get(0);
            if wrong > 0 {
                return Err(
                    StoreError::Corrupt(format!("{wrong} staged vectors are not {dimension}-dimensional")).into()
                );
            }
            // Other dimensions' indexes go first (their expression casts to the old dimension).
            drop_vector_indexes(tx, vault, Some(dimension))?;
            tx.execute(
                "UPDATE chunks SET vector = staged_vector, staged_vector = NULL WHERE vault_id = $1",
                &[&vault],
            )?;
            tx.execute(
                "UPDATE memories SET vector = staged_vector, staged_vector = NULL WHERE vault_id = $1",
                &[&vault],
            )?;
            tx.execute(
                "UPDATE vaults SET model_id = $1, dimension = $2, staged_model = NULL, staged_dimension = NULL,
                     generation = generation + 1, memory_generation = memory_generation + 1 WHERE id = $3",
                &[&model_id, &dim, &vault],
            )?;
            crate::index::queue_vault(tx, self, vault)?;
            ensure_vector_indexes(tx, vault, dimension)
        })?;
        self.after_write(vault);
        Ok(())
    }

    fn clear_staged_vectors(&self, vault: VaultId) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE chunks SET staged_vector = NULL WHERE vault_id = $1", &[&vault])?;
            tx.execute("UPDATE memories SET staged_vector = NULL WHERE vault_id = $1", &[&vault])?;
            tx.execute("UPDATE vaults SET staged_model = NULL, staged_dimension = NULL WHERE id = $1", &[&vault])?;
            Ok(())
        })
    }
}
