//! Vaults, documents and their chunks in PostgreSQL: writes of whole documents in one
//! transaction, keyword search over `tsvector`s of the shared analyzer's terms, vector search
//! through each vault's HNSW index (a partial index on its dimension, made when the vault's
//! model is recorded), and the staging and switch of vectors for re-embedding.

use postgres::GenericClient;
use postgres::types::ToSql;

use crate::vector::{Vector, VectorRef};
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

/// Makes the vault's HNSW indexes (chunks and memories) for `dimension`, dropping ones of
/// another dimension. Index names carry vault and dimension: `chunks_hnsw_<vault>_<dim>`.
pub(crate) fn ensure_vector_indexes(c: &mut impl GenericClient, vault: VaultId, dimension: usize) -> Res<()> {
    for table in ["chunks", "memories"] {
        let wanted = format!("{table}_hnsw_{vault}_{dimension}");
        let existing: Vec<String> = c
            .query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname LIKE $2",
                &[&table, &format!("{table}_hnsw_{vault}_%")],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for name in existing.iter().filter(|n| **n != wanted) {
            c.batch_execute(&format!("DROP INDEX IF EXISTS {name}"))?;
        }
        if !existing.contains(&wanted) {
            c.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {wanted} ON {table} USING hnsw ((vector::vector({dimension})) vector_cosine_ops) WHERE vault_id = {vault}"
            ))?;
        }
    }
    Ok(())
}

pub(crate) fn vault(s: &PgStore, name: &str) -> Result<Option<VaultInfo>, StoreError> {
    s.read(|c| vault_by(c, "name = $1", &name))
}

pub(crate) fn vaults(s: &PgStore) -> Result<Vec<VaultInfo>, StoreError> {
    s.read(|c| {
        Ok(c.query(&format!("SELECT {VAULT_COLUMNS} FROM vaults ORDER BY name"), &[])?.iter().map(vault_row).collect())
    })
}

pub(crate) fn document_states(s: &PgStore, vault: VaultId, source: &str) -> Result<Vec<DocumentState>, StoreError> {
    let _ = (s, vault, source);
    Err(StoreError::Database { what: s.what().into(), reason: "document_states: not written yet".into() })
}

pub(crate) fn sources_with_documents(s: &PgStore, vault: VaultId) -> Result<Vec<String>, StoreError> {
    let _ = (s, vault);
    Err(StoreError::Database { what: s.what().into(), reason: "sources_with_documents: not written yet".into() })
}

pub(crate) fn documents(
    s: &PgStore,
    vault: VaultId,
    after: DocumentId,
    limit: usize,
) -> Result<Vec<DocumentRecord>, StoreError> {
    let _ = (s, vault, after, limit);
    Err(StoreError::Database { what: s.what().into(), reason: "documents: not written yet".into() })
}

pub(crate) fn document(s: &PgStore, vault: VaultId, id: DocumentId) -> Result<Option<DocumentRecord>, StoreError> {
    let _ = (s, vault, id);
    Err(StoreError::Database { what: s.what().into(), reason: "document: not written yet".into() })
}

pub(crate) fn document_chunks(s: &PgStore, document: DocumentId) -> Result<Vec<ChunkRecord>, StoreError> {
    let _ = (s, document);
    Err(StoreError::Database { what: s.what().into(), reason: "document_chunks: not written yet".into() })
}

pub(crate) fn keyword_search(
    s: &PgStore,
    vault: VaultId,
    query: &str,
    limit: usize,
    filter: &ChunkFilter,
) -> Result<Vec<Scored>, StoreError> {
    let _ = (s, vault, query, limit, filter);
    Err(StoreError::Database { what: s.what().into(), reason: "keyword_search: not written yet".into() })
}

pub(crate) fn vector_search(
    s: &PgStore,
    vault: VaultId,
    query: &[f32],
    limit: usize,
    filter: &ChunkFilter,
) -> Result<Vec<Scored>, StoreError> {
    let _ = (s, vault, query, limit, filter);
    Err(StoreError::Database { what: s.what().into(), reason: "vector_search: not written yet".into() })
}

pub(crate) fn chunks(s: &PgStore, ids: &[ChunkId]) -> Result<Vec<ChunkRecord>, StoreError> {
    let _ = (s, ids);
    Err(StoreError::Database { what: s.what().into(), reason: "chunks: not written yet".into() })
}

pub(crate) fn vault_stats(s: &PgStore, vault: VaultId) -> Result<VaultStats, StoreError> {
    let _ = (s, vault);
    Err(StoreError::Database { what: s.what().into(), reason: "vault_stats: not written yet".into() })
}

pub(crate) fn chunks_to_reembed(
    s: &PgStore,
    vault: VaultId,
    after: ChunkId,
    limit: usize,
) -> Result<Vec<ChunkRecord>, StoreError> {
    let _ = (s, vault, after, limit);
    Err(StoreError::Database { what: s.what().into(), reason: "chunks_to_reembed: not written yet".into() })
}

pub(crate) fn check_integrity(s: &PgStore) -> Result<IntegrityReport, StoreError> {
    s.read(|c| {
        let count = |c: &mut Client, sql: &str| -> Res<u64> { Ok(c.query_one(sql, &[])?.get::<_, i64>(0) as u64) };
        let mut report = IntegrityReport {
            documents: count(c, "SELECT count(*) FROM documents")?,
            chunks: count(c, "SELECT count(*) FROM chunks")?,
            vectors: count(
                c,
                "SELECT count(*) FROM chunks c JOIN vaults v ON v.id = c.vault_id WHERE vector_dims(c.vector) = v.dimension",
            )?,
            problems: Vec::new(),
        };
        let orphans =
            count(c, "SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id WHERE d.id IS NULL")?;
        if orphans > 0 {
            report.problems.push(format!("{orphans} chunks belong to no document"));
        }
        let misplaced = count(
            c,
            "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.vault_id <> c.vault_id",
        )?;
        if misplaced > 0 {
            report.problems.push(format!("{misplaced} chunks name another vault than their document"));
        }
        if report.vectors != report.chunks {
            report.problems.push(format!(
                "{} chunks have a vector of their vault's dimension, of {}",
                report.vectors, report.chunks
            ));
        }
        let gaps = count(
            c,
            "SELECT count(*) FROM (SELECT document_id, max(idx) + 1 AS n, count(*) AS c FROM chunks GROUP BY document_id) g WHERE n <> c",
        )?;
        if gaps > 0 {
            report.problems.push(format!("{gaps} documents have gaps in their chunk numbering"));
        }
        let bad_memory_vectors = count(
            c,
            "SELECT count(*) FROM memories m JOIN vaults v ON v.id = m.vault_id WHERE vector_dims(m.vector) <> v.dimension",
        )?;
        if bad_memory_vectors > 0 {
            report.problems.push(format!("{bad_memory_vectors} memories have a vector of the wrong dimension"));
        }
        let missing_indexes = count(
            c,
            "SELECT count(*) FROM vaults v WHERE v.dimension IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM pg_indexes i WHERE i.schemaname = current_schema()
                 AND i.indexname = 'chunks_hnsw_' || v.id || '_' || v.dimension)",
        )?;
        if missing_indexes > 0 {
            report.problems.push(format!("{missing_indexes} vaults have no vector index for their dimension"));
        }
        Ok(report)
    })
}

pub(crate) fn source_syncs(s: &PgStore, vault: VaultId) -> Result<Vec<(String, i64, String)>, StoreError> {
    s.read(|c| {
        Ok(c.query(
            "SELECT source, finished_ms, summary FROM source_syncs WHERE vault_id = $1 ORDER BY source",
            &[&vault],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
    })
}

pub(crate) fn ensure_vault(s: &PgStore, name: &str) -> Result<VaultInfo, StoreError> {
    s.write(|tx| {
        tx.execute(
            "INSERT INTO vaults (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &now_rfc3339()],
        )?;
        vault_by(tx, "name = $1", &name)?.ok_or_else(|| StoreError::Corrupt(format!("vault {name} vanished")).into())
    })
}

pub(crate) fn set_vault_embedder(
    s: &PgStore,
    vault: VaultId,
    model_id: &str,
    dimension: usize,
) -> Result<(), StoreError> {
    s.write(|tx| {
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

pub(crate) fn put_documents(s: &PgStore, vault: VaultId, docs: &[NewDocument]) -> Result<Vec<DocumentId>, StoreError> {
    let _ = (s, vault, docs);
    Err(StoreError::Database { what: s.what().into(), reason: "put_documents: not written yet".into() })
}

pub(crate) fn delete_document(s: &PgStore, vault: VaultId, source: &str, uri: &str) -> Result<bool, StoreError> {
    let _ = (s, vault, source, uri);
    Err(StoreError::Database { what: s.what().into(), reason: "delete_document: not written yet".into() })
}

pub(crate) fn stage_vectors(s: &PgStore, vault: VaultId, vectors: &[(ChunkId, Vec<f32>)]) -> Result<(), StoreError> {
    let _ = (s, vault, vectors);
    Err(StoreError::Database { what: s.what().into(), reason: "stage_vectors: not written yet".into() })
}

pub(crate) fn commit_staged_vectors(
    s: &PgStore,
    vault: VaultId,
    model_id: &str,
    dimension: usize,
) -> Result<(), StoreError> {
    let _ = (s, vault, model_id, dimension);
    Err(StoreError::Database { what: s.what().into(), reason: "commit_staged_vectors: not written yet".into() })
}

pub(crate) fn clear_staged_vectors(s: &PgStore, vault: VaultId) -> Result<(), StoreError> {
    let _ = (s, vault);
    Err(StoreError::Database { what: s.what().into(), reason: "clear_staged_vectors: not written yet".into() })
}

pub(crate) fn begin_restage(s: &PgStore, vault: VaultId, model_id: &str, dimension: usize) -> Result<bool, StoreError> {
    let _ = (s, vault, model_id, dimension);
    Err(StoreError::Database { what: s.what().into(), reason: "begin_restage: not written yet".into() })
}

pub(crate) fn delete_vault(s: &PgStore, vault: VaultId) -> Result<bool, StoreError> {
    s.write(|tx| {
        // Documents cascade to chunks; memories, grants and sync records go with the vault.
        let n = tx.execute("DELETE FROM vaults WHERE id = $1", &[&vault])?;
        if n == 1 {
            for table in ["chunks", "memories"] {
                let names: Vec<String> = tx
                    .query(
                        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname LIKE $2",
                        &[&table, &format!("{table}_hnsw_{vault}_%")],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                for name in names {
                    tx.batch_execute(&format!("DROP INDEX IF EXISTS {name}"))?;
                }
            }
        }
        Ok(n == 1)
    })
}

pub(crate) fn vault_set_organization(s: &PgStore, vault: VaultId, organization: Option<i64>) -> Result<(), StoreError> {
    s.write(|tx| {
        tx.execute("UPDATE vaults SET organization_id = $1 WHERE id = $2", &[&organization, &vault])?;
        Ok(())
    })
}

pub(crate) fn vaults_claim_unowned(s: &PgStore, organization: i64) -> Result<u64, StoreError> {
    s.write(|tx| {
        Ok(tx.execute("UPDATE vaults SET organization_id = $1 WHERE organization_id IS NULL", &[&organization])?)
    })
}

pub(crate) fn source_sync_record(
    s: &PgStore,
    vault: VaultId,
    source: &str,
    finished_ms: i64,
    summary: &str,
) -> Result<(), StoreError> {
    s.write(|tx| {
        tx.execute(
            "INSERT INTO source_syncs (vault_id, source, finished_ms, summary) VALUES ($1, $2, $3, $4)
             ON CONFLICT (vault_id, source) DO UPDATE SET finished_ms = excluded.finished_ms, summary = excluded.summary",
            &[&vault, &source, &finished_ms, &summary],
        )?;
        Ok(())
    })
}
