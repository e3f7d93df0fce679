//! Documents and their chunks in the embedded store: a document is written whole (its chunks,
//! vectors and keyword postings replaced in one transaction that bumps the vault's
//! `generation` and logs the chunks it removed and added), keyword search ranks with the
//! vault's persisted BM25 index (`keywords`) and vector search with its flat index (caught up
//! from the change log); a filter becomes the set of documents a search may return, chosen by
//! SQL ([`document_condition`]). Also the staging of chunk vectors for re-embedding and the
//! outcome of each source's last sync.

use std::collections::{HashMap, HashSet};

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params};

use super::derived::Derived;
use super::keywords::{self, KeywordChanges, chunk_parts};
use super::{EmbeddedStore, Space, encode_vector, vectors};
use crate::analysis::keyword_context;
use crate::lock::now_rfc3339;
use crate::{
    ChunkFilter, ChunkId, ChunkRecord, DocumentId, DocumentRecord, DocumentState, DocumentStore, NewDocument, Scored,
    StoreError, VaultId, VaultStats,
};

const DOCUMENT_COLUMNS: &str =
    "d.id, d.source, d.uri, d.title, d.content_hash, d.metadata, d.modified_ms, d.indexed_at,
     (SELECT count(*) FROM chunks c WHERE c.document_id = d.id),
     (SELECT coalesce(sum(token_count), 0) FROM chunks c WHERE c.document_id = d.id)";

const CHUNK_COLUMNS: &str =
    "c.id, c.document_id, c.idx, d.source, d.uri, d.title, c.heading_path, c.text, c.token_count";

fn chunk_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ChunkRecord, String)> {
    Ok((
        ChunkRecord {
            id: r.get(0)?,
            document_id: r.get(1)?,
            index: r.get::<_, i64>(2)? as u32,
            source: r.get(3)?,
            uri: r.get(4)?,
            title: r.get(5)?,
            heading_path: Vec::new(),
            text: r.get(7)?,
            token_count: r.get::<_, i64>(8)? as usize,
        },
        r.get(6)?,
    ))
}

fn finish_chunk((mut rec, heading): (ChunkRecord, String)) -> Result<ChunkRecord, StoreError> {
    rec.heading_path = serde_json::from_str(&heading)
        .map_err(|e| StoreError::Corrupt(format!("chunk {}: heading path: {e}", rec.id)))?;
    Ok(rec)
}

fn document_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(DocumentRecord, String)> {
    Ok((
        DocumentRecord {
            id: r.get(0)?,
            source: r.get(1)?,
            uri: r.get(2)?,
            title: r.get(3)?,
            content_hash: r.get(4)?,
            metadata: serde_json::Value::Null,
            modified_unix_ms: r.get(6)?,
            indexed_at: r.get(7)?,
            chunks: r.get::<_, i64>(8)? as u64,
            tokens: r.get::<_, i64>(9)? as u64,
        },
        r.get(5)?,
    ))
}

fn finish_document((mut rec, metadata): (DocumentRecord, String)) -> Result<DocumentRecord, StoreError> {
    rec.metadata = serde_json::from_str(&metadata)
        .map_err(|e| StoreError::Corrupt(format!("document {}: metadata: {e}", rec.id)))?;
    Ok(rec)
}

/// The SQL condition (on the documents alias `d`) and its parameters for a filter; `1` when
/// it filters nothing.
fn document_condition(filter: &ChunkFilter) -> (String, Vec<SqlValue>) {
    let mut parts = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    if let Some(s) = &filter.source {
        parts.push("d.source = ?".to_string());
        args.push(s.clone().into());
    }
    if let Some(p) = &filter.uri_prefix {
        parts.push("substr(d.uri, 1, length(?)) = ?".to_string());
        args.push(p.clone().into());
        args.push(p.clone().into());
    }
    for (key, value) in &filter.metadata {
        // A scalar at the key, or an element of an array there; json_each yields one row for
        // a scalar and one per element for an array.
        parts.push("EXISTS (SELECT 1 FROM json_each(d.metadata, ?) WHERE json_each.value = ?)".to_string());
        args.push(format!("$.\"{key}\"").into());
        args.push(match value {
            serde_json::Value::Bool(b) => SqlValue::Integer(*b as i64),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => SqlValue::Text(s.clone()),
            // Not scalars: the engine refuses them before they get here; match nothing.
            _ => SqlValue::Null,
        });
    }
    if parts.is_empty() { ("1".to_string(), args) } else { (parts.join(" AND "), args) }
}

/// The documents a filter lets through, and how many the vault holds.
struct Allowed {
    documents: HashSet<DocumentId>,
    total: usize,
}

/// Which documents' chunks `filter` lets through in `vault` (`None`: every one).
fn allowed_documents(
    conn: &rusqlite::Connection,
    vault: VaultId,
    filter: &ChunkFilter,
) -> Result<Option<Allowed>, StoreError> {
    if filter.is_empty() {
        return Ok(None);
    }
    let (condition, mut args) = document_condition(filter);
    // The condition's parameters come first in the statement, the vault last.
    args.push(vault.into());
    let mut stmt =
        conn.prepare_cached(&format!("SELECT d.id, coalesce(({condition}), 0) FROM documents d WHERE d.vault_id = ?"))?;
    let mut documents = HashSet::new();
    let mut total = 0;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    while let Some(r) = rows.next()? {
        total += 1;
        if r.get::<_, bool>(1)? {
            documents.insert(r.get(0)?);
        }
    }
    Ok(Some(Allowed { documents, total }))
}

/// The chunks of `documents`, in one statement.
fn chunks_of(conn: &rusqlite::Connection, documents: &HashSet<DocumentId>) -> Result<Vec<ChunkId>, StoreError> {
    let list =
        serde_json::to_string(&documents.iter().collect::<Vec<_>>()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut stmt =
        conn.prepare_cached("SELECT id FROM chunks WHERE document_id IN (SELECT value FROM json_each(?))")?;
    Ok(stmt.query_map([list], |r| r.get(0))?.collect::<Result<_, _>>()?)
}

/// A keyword search's filter on chunk rows, inside its read transaction: every chunk, the
/// chunks of few allowed documents (listed once), or for filters that pass many documents,
/// each candidate's document looked up when it would enter the top k.
enum ChunkKeep {
    All,
    Chunks(HashSet<ChunkId>),
    Documents(HashSet<DocumentId>),
}

impl ChunkKeep {
    /// Listing the chunks of the allowed documents costs about as much as this many lookups
    /// of candidates' documents per allowed document: past a sixteenth of the vault, look up.
    const LIST_BELOW: usize = 16;

    fn new(conn: &rusqlite::Connection, vault: VaultId, filter: &ChunkFilter) -> Result<ChunkKeep, StoreError> {
        let Some(allowed) = allowed_documents(conn, vault, filter)? else { return Ok(ChunkKeep::All) };
        if allowed.documents.len().saturating_mul(Self::LIST_BELOW) > allowed.total {
            return Ok(ChunkKeep::Documents(allowed.documents));
        }
        let mut chunks = HashSet::new();
        let mut stmt = conn.prepare_cached("SELECT id FROM chunks WHERE document_id = ?")?;
        for doc in &allowed.documents {
            for id in stmt.query_map([doc], |r| r.get(0))? {
                chunks.insert(id?);
            }
        }
        Ok(ChunkKeep::Chunks(chunks))
    }

    fn passes(&self, conn: &rusqlite::Connection, chunk: ChunkId) -> Result<bool, StoreError> {
        Ok(match self {
            ChunkKeep::All => true,
            ChunkKeep::Chunks(ids) => ids.contains(&chunk),
            ChunkKeep::Documents(docs) => {
                let doc: Option<DocumentId> = conn
                    .prepare_cached("SELECT document_id FROM chunks WHERE id = ?")?
                    .query_row([chunk], |r| r.get(0))
                    .optional()?;
                doc.is_some_and(|d| docs.contains(&d))
            }
        })
    }
}

impl EmbeddedStore {
    /// The removal of `document`'s chunks from the keyword index, read inside `tx` before
    /// they are deleted (their text as indexed: the document's title then, their headings and
    /// text); their ids.
    fn unindex_chunks(
        tx: &Transaction<'_>,
        document: DocumentId,
        keywords: &mut KeywordChanges<'_>,
    ) -> Result<Vec<ChunkId>, StoreError> {
        let mut stmt = tx.prepare_cached(
            "SELECT c.id, d.title, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id
             WHERE c.document_id = ?",
        )?;
        let mut rows = stmt.query([document])?;
        let mut ids = Vec::new();
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let parts = chunk_parts(id, &r.get::<_, String>(1)?, &r.get::<_, String>(2)?, r.get(3)?)?;
            keywords.remove(id, &[&parts[0], &parts[1]]);
            ids.push(id);
        }
        Ok(ids)
    }

    /// Writes one document inside `tx`, its keyword changes into `keywords`; returns its id,
    /// the ids of chunks it replaced and of its chunks.
    fn put_one(
        tx: &Transaction<'_>,
        vault: VaultId,
        dim: usize,
        doc: &NewDocument,
        now: &str,
        keywords: &mut KeywordChanges<'_>,
    ) -> Result<(DocumentId, Vec<ChunkId>, Vec<ChunkId>), StoreError> {
        let old: Option<i64> = tx
            .prepare_cached("SELECT id FROM documents WHERE vault_id = ? AND source = ? AND uri = ?")?
            .query_row(params![vault, doc.source, doc.uri], |r| r.get(0))
            .optional()?;
        let mut removed = Vec::new();
        let doc_id = match old {
            Some(id) => {
                removed = Self::unindex_chunks(tx, id, keywords)?;
                tx.prepare_cached("DELETE FROM chunks WHERE document_id = ?")?.execute([id])?;
                tx.prepare_cached(
                    "UPDATE documents SET title = ?, content_hash = ?, metadata = ?, modified_ms = ?, indexed_at = ? WHERE id = ?",
                )?
                .execute(params![doc.title, doc.content_hash, doc.metadata.to_string(), doc.modified_unix_ms, now, id])?;
                id
            }
            None => {
                tx.prepare_cached(
                    "INSERT INTO documents (vault_id, source, uri, title, content_hash, metadata, modified_ms, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![vault, doc.source, doc.uri, doc.title, doc.content_hash, doc.metadata.to_string(), doc.modified_unix_ms, now])?;
                tx.last_insert_rowid()
            }
        };
        let mut added = Vec::with_capacity(doc.chunks.len());
        let mut insert_chunk = tx.prepare_cached(
            "INSERT INTO chunks (document_id, vault_id, idx, text, heading_path, token_count, vector) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?;
        let mut bytes = Vec::new();
        for (i, chunk) in doc.chunks.iter().enumerate() {
            if chunk.vector.len() != dim {
                return Err(StoreError::Dimension { expected: dim, got: chunk.vector.len() });
            }
            encode_vector(&chunk.vector, &mut bytes);
            let heading = serde_json::to_string(&chunk.heading_path).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            insert_chunk.execute(params![
                doc_id,
                vault,
                i as i64,
                chunk.text,
                heading,
                chunk.token_count as i64,
                bytes
            ])?;
            let id = tx.last_insert_rowid();
            keywords.add(id, &[&keyword_context(&doc.title, &chunk.heading_path), &chunk.text]);
            added.push(id);
        }
        Ok((doc_id, removed, added))
    }
}

impl DocumentStore for EmbeddedStore {
    fn document_states(&self, vault: VaultId, source: &str) -> Result<Vec<DocumentState>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, uri, content_hash FROM documents WHERE vault_id = ? AND source = ? ORDER BY uri",
        )?;
        let rows = stmt.query_map(params![vault, source], |r| {
            Ok(DocumentState { id: r.get(0)?, uri: r.get(1)?, content_hash: r.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn sources_with_documents(&self, vault: VaultId) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare("SELECT DISTINCT source FROM documents WHERE vault_id = ? ORDER BY source")?;
        Ok(stmt.query_map([vault], |r| r.get(0))?.collect::<Result<_, _>>()?)
    }

    fn documents(&self, vault: VaultId, after: DocumentId, limit: usize) -> Result<Vec<DocumentRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.vault_id = ? AND d.id > ? ORDER BY d.id LIMIT ?"
        ))?;
        let rows = stmt.query_map(params![vault, after, limit as i64], document_row)?;
        rows.map(|r| finish_document(r?)).collect()
    }

    fn document(&self, vault: VaultId, id: DocumentId) -> Result<Option<DocumentRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.vault_id = ? AND d.id = ?"))?;
        stmt.query_row(params![vault, id], document_row).optional()?.map(finish_document).transpose()
    }

    fn document_chunks(&self, document: DocumentId) -> Result<Vec<ChunkRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.document_id = ? ORDER BY c.idx"
        ))?;
        let rows = stmt.query_map([document], chunk_row)?;
        rows.map(|r| finish_chunk(r?)).collect()
    }

    fn keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Vec<Scored>, StoreError> {
        let terms = self.analyzer.query_terms(query);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.read()?;
        // The filter, statistics and postings of one snapshot.
        let tx = conn.unchecked_transaction()?;
        let keep = ChunkKeep::new(&tx, vault, filter)?;
        let hits = keywords::search(&tx, vault, Space::Chunks, &terms, limit, |chunk| keep.passes(&tx, chunk))?;
        tx.finish()?;
        Ok(hits)
    }

    fn vector_search(
        &self,
        vault: VaultId,
        query: &[f32],
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Vec<Scored>, StoreError> {
        let Some(info) = self.vault_for_vectors(vault, query.len())? else { return Ok(Vec::new()) };
        let allowed = {
            let conn = self.read()?;
            allowed_documents(&conn, vault, filter)?
        };
        self.with_index(&info, Space::Chunks, |index, settings, conn| {
            let rows = || allowed.as_ref().map_or(Ok(Vec::new()), |a| chunks_of(conn, &a.documents));
            let filter = allowed.as_ref().map(|a| vectors::Filter {
                groups: &a.documents,
                // Documents stand in for chunks: the share of documents passing.
                passing: index.len().saturating_mul(a.documents.len()) / a.total.max(1),
                rows: &rows,
            });
            index.search(settings, conn, vault, Space::Chunks, query, limit, filter)
        })?
    }

    fn chunks(&self, ids: &[ChunkId]) -> Result<Vec<ChunkRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for all ids (a JSON array of integers), then back into the asked order.
        let list = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id
             WHERE c.id IN (SELECT value FROM json_each(?1))"
        ))?;
        let mut found = HashMap::with_capacity(ids.len());
        for row in stmt.query_map([list], chunk_row)? {
            let record = finish_chunk(row?)?;
            found.insert(record.id, record);
        }
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    fn vault_stats(&self, vault: VaultId) -> Result<VaultStats, StoreError> {
        let conn = self.read()?;
        let documents: i64 = conn
            .prepare_cached("SELECT count(*) FROM documents WHERE vault_id = ?")?
            .query_row([vault], |r| r.get(0))?;
        let (chunks, tokens, staged): (i64, i64, i64) = conn.query_row(
            "SELECT count(*), coalesce(sum(token_count), 0), count(staged_vector) FROM chunks WHERE vault_id = ?",
            [vault],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(VaultStats {
            documents: documents as u64,
            chunks: chunks as u64,
            tokens: tokens as u64,
            staged_vectors: staged as u64,
        })
    }

    fn chunks_to_reembed(&self, vault: VaultId, after: ChunkId, limit: usize) -> Result<Vec<ChunkRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id
             WHERE c.vault_id = ? AND c.id > ? AND c.staged_vector IS NULL ORDER BY c.id LIMIT ?"
        ))?;
        let rows = stmt.query_map(params![vault, after, limit as i64], chunk_row)?;
        rows.map(|r| finish_chunk(r?)).collect()
    }

    fn put_documents(&self, vault: VaultId, docs: &[NewDocument]) -> Result<Vec<DocumentId>, StoreError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_rfc3339();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let dim: Option<i64> = tx.query_row("SELECT dimension FROM vaults WHERE id = ?", [vault], |r| r.get(0))?;
        let dim = match dim {
            Some(d) => d as usize,
            None => return Err(StoreError::NoEmbedder { vault }),
        };
        let mut keywords = KeywordChanges::new(&self.analyzer, vault, Space::Chunks);
        let mut ids = Vec::with_capacity(docs.len());
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        for doc in docs {
            let (id, gone, new) = Self::put_one(&tx, vault, dim, doc, &now, &mut keywords)?;
            ids.push(id);
            removed.extend(gone);
            added.extend(new);
        }
        keywords.write(&tx)?;
        Self::log_changes(&tx, vault, Space::Chunks, &removed, &added)?;
        tx.commit()?;
        self.committed(vault, Space::Chunks);
        Ok(ids)
    }

    fn delete_document(&self, vault: VaultId, source: &str, uri: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM documents WHERE vault_id = ? AND source = ? AND uri = ?",
                params![vault, source, uri],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(false) };
        let mut keywords = KeywordChanges::new(&self.analyzer, vault, Space::Chunks);
        let removed = Self::unindex_chunks(&tx, id, &mut keywords)?;
        tx.execute("DELETE FROM chunks WHERE document_id = ?", [id])?;
        tx.execute("DELETE FROM documents WHERE id = ?", [id])?;
        keywords.write(&tx)?;
        Self::log_changes(&tx, vault, Space::Chunks, &removed, &[])?;
        tx.commit()?;
        self.committed(vault, Space::Chunks);
        Ok(true)
    }

    fn stage_vectors(&self, vault: VaultId, vectors: &[(ChunkId, Vec<f32>)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("UPDATE chunks SET staged_vector = ? WHERE id = ? AND vault_id = ?")?;
            let mut bytes = Vec::new();
            for (id, v) in vectors {
                encode_vector(v, &mut bytes);
                stmt.execute(params![bytes, id, vault])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn source_syncs(&self, vault: VaultId) -> Result<Vec<(String, i64, String)>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT source, finished_ms, summary FROM source_syncs WHERE vault_id = ? ORDER BY source",
        )?;
        Ok(stmt.query_map([vault], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?)
    }

    fn source_sync_record(
        &self,
        vault: VaultId,
        source: &str,
        finished_ms: i64,
        summary: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO source_syncs (vault_id, source, finished_ms, summary) VALUES (?, ?, ?, ?)
             ON CONFLICT (vault_id, source) DO UPDATE SET finished_ms = excluded.finished_ms, summary = excluded.summary",
            params![vault, source, finished_ms, summary],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::tests::numbered_doc;
    use crate::embedded::tests::writer_with_vault;
    use crate::prelude::*;

    #[test]
    fn keyword_search_filters_beyond_the_first_candidate_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open_writer(dir.path(), "test").unwrap();
        let a = store.ensure_vault("a").unwrap();
        let b = store.ensure_vault("b").unwrap();
        for v in [&a, &b] {
            store.set_vault_embedder(v.id, "m", 2).unwrap();
        }
        // Vault a's many strong matches come first in the shared index; b's weak one is last.
        let strong: Vec<NewDocument> = (0..50)
            .map(|i| crate::conformance::doc("s", &format!("{i}.md"), "h", &[("needle needle", [1.0, 0.0])]))
            .collect();
        store.put_documents(a.id, &strong).unwrap();
        let weak =
            crate::conformance::doc("s", "w.md", "h", &[("needle in a long haystack of other words", [1.0, 0.0])]);
        store.put_documents(b.id, &[weak]).unwrap();
        assert_eq!(store.keyword_search(b.id, "needle", 3, &ChunkFilter::default()).unwrap().len(), 1);
        assert_eq!(store.keyword_search(a.id, "needle", 3, &ChunkFilter::default()).unwrap().len(), 3);
        let only = ChunkFilter { uri_prefix: Some("4".into()), ..ChunkFilter::default() };
        // 4.md and 40.md–49.md: 11 of a's 50, spread through the ranking.
        assert_eq!(store.keyword_search(a.id, "needle", 20, &only).unwrap().len(), 11);
    }

    #[test]
    fn keyword_index_maintained_by_writes_ranks_like_one_built_afresh() {
        let (dir, store, v) = writer_with_vault();
        let doc = |uri: &str, texts: &[&str]| {
            let chunks: Vec<(&str, [f32; 2])> = texts.iter().map(|t| (*t, [1.0, 0.0])).collect();
            crate::conformance::doc("s", uri, "Title", &chunks)
        };
        store.put_documents(v.id, &[doc("a.md", &["running shoes", "red apples"])]).unwrap();
        let all = ChunkFilter::default();
        assert_eq!(store.keyword_search(v.id, "runs", 10, &all).unwrap().len(), 1, "stemmed match");
        store
            .put_documents(v.id, &[doc("b.md", &["green apples and pears", "apple pie"]), doc("c.md", &["pears"])])
            .unwrap();
        store.put_documents(v.id, &[doc("a.md", &["walking shoes"])]).unwrap();
        store.delete_document(v.id, "s", "c.md").unwrap();
        let fresh = EmbeddedStore::open_reader(dir.path()).unwrap();
        for q in ["apples", "running shoes", "pears", "title", "walk"] {
            let patched = store.keyword_search(v.id, q, 10, &all).unwrap();
            assert_eq!(patched, fresh.keyword_search(v.id, q, 10, &all).unwrap(), "{q}");
        }
        assert!(store.keyword_search(v.id, "running", 10, &all).unwrap().is_empty(), "replaced chunk gone");
        assert_eq!(store.keyword_search(v.id, "pears", 10, &all).unwrap().len(), 1, "deleted document gone");
        assert_eq!(store.keyword_search(v.id, "apples", 10, &all).unwrap().len(), 2);
        crate::embedded::keywords::tests::assert_equals_a_rebuild(&store, v.id, Space::Chunks);
    }

    #[test]
    fn chunks_come_back_in_the_asked_order_without_missing_ones() {
        let (_dir, store, v) = writer_with_vault();
        store.put_documents(v.id, &[numbered_doc(0), numbered_doc(1)]).unwrap();
        let ids: Vec<ChunkId> =
            store.keyword_search(v.id, "common", 10, &ChunkFilter::default()).unwrap().iter().map(|s| s.id).collect();
        let (a, b) = (ids[0].min(ids[1]), ids[0].max(ids[1]));
        let found = |asked: &[ChunkId]| -> Vec<ChunkId> { store.chunks(asked).unwrap().iter().map(|c| c.id).collect() };
        assert_eq!(found(&[b, 999, a, b]), [b, a, b]);
        assert!(found(&[]).is_empty());
    }
}
