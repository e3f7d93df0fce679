//! Documents and their chunks in PostgreSQL: writes of whole documents in one transaction,
//! keyword search by BM25 over a postings table of the shared analyzer's terms, vector search
//! through each vault's HNSW index (see `vaults`), answered by the external vector index when
//! one is attached and in step (see [`crate::index`]), the staging of chunk vectors for
//! re-embedding, and the outcome of each source's last sync.

use postgres::GenericClient;
use postgres::types::ToSql;

use crate::vaults::now_rfc3339;
use crate::vector::VectorRef;
use crate::*;

const DOCUMENT_COLUMNS: &str =
    "d.id, d.source, d.uri, d.title, d.content_hash, d.metadata::text, d.modified_ms, d.indexed_at,
     (SELECT count(*) FROM chunks c WHERE c.document_id = d.id),
     (SELECT coalesce(sum(token_count), 0)::bigint FROM chunks c WHERE c.document_id = d.id)";

const CHUNK_COLUMNS: &str =
    "c.id, c.document_id, c.idx, d.source, d.uri, d.title, c.heading_path, c.text, c.token_count";

fn document_row(r: &postgres::Row) -> Res<DocumentRecord> {
    let id: i64 = r.get(0);
    let metadata: String = r.get(5);
    Ok(DocumentRecord {
        id,
        source: r.get(1),
        uri: r.get(2),
        title: r.get(3),
        content_hash: r.get(4),
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Corrupt(format!("metadata of document {id}: {e}")))?,
        modified_unix_ms: r.get(6),
        indexed_at: r.get(7),
        chunks: r.get::<_, i64>(8) as u64,
        tokens: r.get::<_, i64>(9) as u64,
    })
}

fn chunk_row(r: &postgres::Row) -> ChunkRecord {
    ChunkRecord {
        id: r.get(0),
        document_id: r.get(1),
        index: r.get::<_, i32>(2) as u32,
        source: r.get(3),
        uri: r.get(4),
        title: r.get(5),
        heading_path: r.get(6),
        text: r.get(7),
        token_count: r.get::<_, i32>(8) as usize,
    }
}

/// The analyzer's terms of `parts`, joined by spaces: the text of a `tsvector` made with the
/// `simple` configuration, which keeps each term as it is.
pub(crate) fn index_terms(analyzer: &Analyzer, parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        analyzer.terms(part, |t| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(t);
        });
    }
    out
}

/// The `tsvector` text of a memory: its text and tags.
pub(crate) fn memory_terms(analyzer: &Analyzer, text: &str, tags: &[String]) -> String {
    let mut parts: Vec<&str> = vec![text];
    parts.extend(tags.iter().map(String::as_str));
    index_terms(analyzer, &parts)
}

/// A chunk's postings: its distinct terms with their frequencies, and its length in terms.
#[derive(Debug, Default)]
pub(crate) struct Postings {
    pub terms: Vec<String>,
    pub frequencies: Vec<i32>,
    pub length: i32,
}

/// The postings of a chunk made of `parts` (its title and headings, then its text).
pub(crate) fn postings(analyzer: &Analyzer, parts: &[&str]) -> Postings {
    let mut counts: std::collections::HashMap<String, i32> = std::collections::HashMap::new();
    let mut length = 0i32;
    for part in parts {
        analyzer.terms(part, |t| {
            length = length.saturating_add(1);
            *counts.entry(t.to_string()).or_default() += 1;
        });
    }
    let mut pairs: Vec<(String, i32)> = counts.into_iter().collect();
    pairs.sort();
    let (terms, frequencies) = pairs.into_iter().unzip();
    Postings { terms, frequencies, length }
}

/// Writes a chunk's postings (`chunk_terms`).
pub(crate) const INSERT_POSTINGS: &str = "INSERT INTO chunk_terms (chunk_id, vault_id, term, tf)
     SELECT $1, $2, t, f FROM unnest($3::text[], $4::int[]) AS p(t, f)";

/// A `to_tsquery('simple', …)` argument matching any of the query's terms (each quoted, so no
/// operator syntax of the caller's reaches the parser); `None` when the query has no terms.
pub(crate) fn or_query(analyzer: &Analyzer, query: &str) -> Option<String> {
    let terms = analyzer.query_terms(query);
    if terms.is_empty() {
        return None;
    }
    let quoted: Vec<String> =
        terms.iter().map(|t| format!("'{}'", t.replace('\\', "\\\\").replace('\'', "''"))).collect();
    Some(quoted.join(" | "))
}

/// SQL conditions (on `d`, the documents table) and their parameters for a chunk filter; the
/// parameters are numbered from `first`.
fn filter_sql(filter: &ChunkFilter, first: usize) -> (String, Vec<Box<dyn ToSql + Sync>>) {
    let mut sql = String::new();
    let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    let mut next = first;
    if let Some(source) = &filter.source {
        sql.push_str(&format!(" AND d.source = ${next}"));
        params.push(Box::new(source.clone()));
        next += 1;
    }
    if let Some(prefix) = &filter.uri_prefix {
        sql.push_str(&format!(" AND starts_with(d.uri, ${next})"));
        params.push(Box::new(prefix.clone()));
        next += 1;
    }
    for (key, value) in &filter.metadata {
        // A scalar equal to the value, or an array containing it.
        sql.push_str(&format!(
            " AND (d.metadata @> jsonb_build_object(${k}::text, ${v}::text::jsonb) OR d.metadata @> jsonb_build_object(${k}::text, jsonb_build_array(${v}::text::jsonb)))",
            k = next,
            v = next + 1
        ));
        params.push(Box::new(key.clone()));
        params.push(Box::new(value.to_string()));
        next += 2;
    }
    (sql, params)
}

fn refs(params: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// The vault's dimension, or `None` when it has none yet; `Dimension` when the query's differs.
fn query_dimension(c: &mut impl GenericClient, vault: VaultId, got: usize) -> Res<Option<usize>> {
    let dim: Option<Option<i32>> =
        c.query_opt("SELECT dimension FROM vaults WHERE id = $1", &[&vault])?.map(|r| r.get(0));
    match dim.flatten() {
        None => Ok(None),
        Some(d) if d as usize != got => Err(StoreError::Dimension { expected: d as usize, got }.into()),
        Some(d) => Ok(Some(d as usize)),
    }
}

/// What narrows a vector search: a join, SQL conditions (starting with `AND`) and their
/// parameters, numbered from `$2`.
pub(crate) struct Narrowing<'a> {
    pub join: &'a str,
    pub conditions: &'a str,
    pub params: &'a [&'a (dyn ToSql + Sync)],
}

/// Nearest rows of `table` (chunks or memories, alias `c`) to `query` in one vault through its
/// HNSW index, best first: `(id, cosine similarity)`.
pub(crate) fn nearest(
    c: &mut Client,
    table: &str,
    (vault, dimension): (VaultId, usize),
    query: &[f32],
    narrowing: &Narrowing<'_>,
    limit: usize,
) -> Res<Vec<(i64, f32)>> {
    let Narrowing { join, conditions, params } = narrowing;
    let mut tx = c.transaction()?;
    // Filtered searches keep scanning the graph until `limit` rows pass (pgvector 0.8).
    tx.batch_execute(&format!(
        "SET LOCAL hnsw.iterative_scan = relaxed_order; SET LOCAL hnsw.ef_search = {}",
        limit.clamp(40, 1000)
    ))?;
    let sql = format!(
        "SELECT c.id, (1 - (c.vector::vector({dimension}) <=> $1))::real FROM {table} c {join}
         WHERE c.vault_id = {vault} {conditions}
         ORDER BY c.vector::vector({dimension}) <=> $1 LIMIT {limit}"
    );
    let q = VectorRef(query);
    let mut all: Vec<&(dyn ToSql + Sync)> = vec![&q];
    all.extend_from_slice(params);
    let mut hits: Vec<(i64, f32)> = tx.query(&sql, &all)?.iter().map(|r| (r.get(0), r.get(1))).collect();
    tx.commit()?;
    // Relaxed order may return near-ties out of order.
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(hits)
}

impl DocumentStore for PgStore {
    fn document_states(&self, vault: VaultId, source: &str) -> Result<Vec<DocumentState>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                "SELECT id, uri, content_hash FROM documents WHERE vault_id = $1 AND source = $2 ORDER BY uri COLLATE \"C\"",
                &[&vault, &source],
            )?
            .iter()
            .map(|r| DocumentState { id: r.get(0), uri: r.get(1), content_hash: r.get(2) })
            .collect())
        })
    }

    fn sources_with_documents(&self, vault: VaultId) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                "SELECT source FROM documents WHERE vault_id = $1 GROUP BY source ORDER BY source COLLATE \"C\"",
                &[&vault],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn documents(&self, vault: VaultId, after: DocumentId, limit: usize) -> Result<Vec<DocumentRecord>, StoreError> {
        self.read(|c| {
            c.query(
                &format!(
                    "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.vault_id = $1 AND d.id > $2 ORDER BY d.id LIMIT $3"
                ),
                &[&vault, &after, &(limit as i64)],
            )?
            .iter()
            .map(document_row)
            .collect()
        })
    }

    fn document(&self, vault: VaultId, id: DocumentId) -> Result<Option<DocumentRecord>, StoreError> {
        self.read(|c| {
            c.query_opt(
                &format!("SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.vault_id = $1 AND d.id = $2"),
                &[&vault, &id],
            )?
            .as_ref()
            .map(document_row)
            .transpose()
        })
    }

    fn document_chunks(&self, document: DocumentId) -> Result<Vec<ChunkRecord>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                &format!("SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.document_id = $1 ORDER BY c.idx"),
                &[&document],
            )?
            .iter()
            .map(chunk_row)
            .collect())
        })
    }

    fn keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Vec<Scored>, StoreError> {
        let terms = self.analyzer.query_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (conditions, params) = filter_sql(filter, 4);
        let join = if filter.is_empty() { "" } else { "JOIN documents d ON d.id = c.document_id" };
        // Okapi BM25 as the embedded index ranks (k1 1.2, b 0.75, Lucene's always-positive idf),
        // over the postings table: document frequencies and term frequencies from `chunk_terms`
        // (one index range per term), N and the average length from the vault's running totals.
        let sql = format!(
            "WITH stats AS MATERIALIZED (
                 SELECT greatest(keyword_rows, 1)::float8 AS n,
                        greatest(keyword_length::float8 / greatest(keyword_rows, 1), 1) AS avgdl
                 FROM vaults WHERE id = $1),
             q AS MATERIALIZED (
                 SELECT term, count(*)::float8 AS df FROM chunk_terms
                 WHERE vault_id = $1 AND term = ANY($2) GROUP BY term)
             SELECT p.chunk_id, sum(
                        ln(1 + (stats.n - q.df + 0.5) / (q.df + 0.5)) * p.tf * 2.2
                        / (p.tf + 1.2 * (0.25 + 0.75 * c.term_count / stats.avgdl))
                    )::real AS score
             FROM chunk_terms p JOIN q ON q.term = p.term JOIN chunks c ON c.id = p.chunk_id {join}
             CROSS JOIN stats
             WHERE p.vault_id = $1 AND p.term = ANY($2) {conditions}
             GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT $3"
        );
        self.read(|c| {
            let limit = limit as i64;
            let mut all: Vec<&(dyn ToSql + Sync)> = vec![&vault, &terms, &limit];
            all.extend(refs(&params));
            Ok(c.query(&sql, &all)?.iter().map(|r| Scored { id: r.get(0), score: r.get(1) }).collect())
        })
    }

    fn vector_search(
        &self,
        vault: VaultId,
        query: &[f32],
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Vec<Scored>, StoreError> {
        if let Some(hits) = self
            .index_search(vault, query.len(), |index, model| index.search_chunks(vault, model, query, limit, filter))
        {
            return Ok(hits);
        }
        let (conditions, params) = filter_sql(filter, 2);
        let join = if filter.is_empty() { "" } else { "JOIN documents d ON d.id = c.document_id" };
        self.read(|c| {
            let Some(dimension) = query_dimension(c, vault, query.len())? else { return Ok(Vec::new()) };
            let params = refs(&params);
            let narrowing = Narrowing { join, conditions: &conditions, params: &params };
            let hits = nearest(c, "chunks", (vault, dimension), query, &narrowing, limit)?;
            Ok(hits.into_iter().map(|(id, score)| Scored { id, score }).collect())
        })
    }

    fn hybrid_search(
        &self,
        vault: VaultId,
        query: &HybridQuery<'_>,
        filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        self.index_hybrid_search(vault, query, |index, model, sparse| {
            index.hybrid_chunks(vault, model, query, sparse, filter)
        })
    }

    fn chunks(&self, ids: &[ChunkId]) -> Result<Vec<ChunkRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ANY($1)"
                ),
                &[&ids],
            )?;
            let found: std::collections::HashMap<i64, ChunkRecord> = rows
                .iter()
                .map(|r| {
                    let rec = chunk_row(r);
                    (rec.id, rec)
                })
                .collect();
            Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
        })
    }

    fn vault_stats(&self, vault: VaultId) -> Result<VaultStats, StoreError> {
        self.read(|c| {
            let documents: i64 = c.query_one("SELECT count(*) FROM documents WHERE vault_id = $1", &[&vault])?.get(0);
            let r = c.query_one(
                "SELECT count(*), coalesce(sum(token_count), 0)::bigint, count(staged_vector) FROM chunks WHERE vault_id = $1",
                &[&vault],
            )?;
            Ok(VaultStats {
                documents: documents as u64,
                chunks: r.get::<_, i64>(0) as u64,
                tokens: r.get::<_, i64>(1) as u64,
                staged_vectors: r.get::<_, i64>(2) as u64,
            })
        })
    }

    fn chunks_to_reembed(&self, vault: VaultId, after: ChunkId, limit: usize) -> Result<Vec<ChunkRecord>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id
                     WHERE c.vault_id = $1 AND c.id > $2 AND c.staged_vector IS NULL ORDER BY c.id LIMIT $3"
                ),
                &[&vault, &after, &(limit as i64)],
            )?
            .iter()
            .map(chunk_row)
            .collect())
        })
    }

    fn put_documents(&self, vault: VaultId, docs: &[NewDocument]) -> Result<Vec<DocumentId>, StoreError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_rfc3339();
        // Terms are computed before the transaction opens: it holds row locks only for the writes.
        let postings: Vec<Vec<Postings>> = docs
            .iter()
            .map(|doc| {
                doc.chunks
                    .iter()
                    .map(|chunk| {
                        let context = trove_store::analysis::keyword_context(&doc.title, &chunk.heading_path);
                        postings(&self.analyzer, &[&context, &chunk.text])
                    })
                    .collect()
            })
            .collect();
        let ids = self.write(|tx| {
            let dim: Option<i32> = tx
                .query_opt("SELECT dimension FROM vaults WHERE id = $1", &[&vault])?
                .and_then(|r| r.get(0));
            let Some(dim) = dim.map(|d| d as usize) else {
                return Err(StoreError::NoEmbedder { vault }.into());
            };
            let upsert = tx.prepare(
                "INSERT INTO documents (vault_id, source, uri, title, content_hash, metadata, modified_ms, indexed_at)
                 VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8)
                 ON CONFLICT (vault_id, source, uri) DO UPDATE SET title = excluded.title, content_hash = excluded.content_hash,
                     metadata = excluded.metadata, modified_ms = excluded.modified_ms, indexed_at = excluded.indexed_at
                 RETURNING id",
            )?;
            let clear = tx.prepare("DELETE FROM chunks WHERE document_id = $1 RETURNING term_count")?;
            let insert = tx.prepare(
                "INSERT INTO chunks (document_id, vault_id, idx, text, heading_path, token_count, term_count, vector)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )?;
            let insert_postings = tx.prepare(INSERT_POSTINGS)?;
            let mut ids = Vec::with_capacity(docs.len());
            // The vault's keyword statistics (BM25's N and average length) move by these.
            let (mut rows, mut lengths) = (0i64, 0i64);
            for (doc, postings) in docs.iter().zip(&postings) {
                if let Some(bad) = doc.chunks.iter().find(|c| c.vector.len() != dim) {
                    return Err(StoreError::Dimension { expected: dim, got: bad.vector.len() }.into());
                }
                let metadata = doc.metadata.to_string();
                let id: i64 = tx
                    .query_one(
                        &upsert,
                        &[&vault, &doc.source, &doc.uri, &doc.title, &doc.content_hash, &metadata, &doc.modified_unix_ms, &now],
                    )?
                    .get(0);
                for removed in tx.query(&clear, &[&id])? {
                    rows -= 1;
                    lengths -= i64::from(removed.get::<_, i32>(0));
                }
                for (i, (chunk, p)) in doc.chunks.iter().zip(postings).enumerate() {
                    rows += 1;
                    lengths += i64::from(p.length);
                    let chunk_id: i64 = tx
                        .query_one(
                        &insert,
                        &[
                            &id,
                            &vault,
                            &(i as i32),
                            &chunk.text,
                            &chunk.heading_path,
                            &(chunk.token_count as i32),
                            &p.length,
                            &VectorRef(&chunk.vector),
                        ],
                    )?
                        .get(0);
                    tx.execute(&insert_postings, &[&chunk_id, &vault, &p.terms, &p.frequencies])?;
                }
                crate::index::queue_document(tx, self, vault, id)?;
                ids.push(id);
            }
            tx.execute(
                "UPDATE vaults SET generation = generation + 1, keyword_rows = keyword_rows + $2, keyword_length = keyword_length + $3 WHERE id = $1",
                &[&vault, &rows, &lengths],
            )?;
            Ok(ids)
        })?;
        self.after_write(vault);
        Ok(ids)
    }

    fn delete_document(&self, vault: VaultId, source: &str, uri: &str) -> Result<bool, StoreError> {
        let deleted = self.write(|tx| {
            let Some(doc) = tx.query_opt(
                "SELECT id FROM documents WHERE vault_id = $1 AND source = $2 AND uri = $3 FOR UPDATE",
                &[&vault, &source, &uri],
            )?
            else {
                return Ok(false);
            };
            let id: i64 = doc.get(0);
            let gone = tx.query_one(
                "WITH gone AS (DELETE FROM chunks WHERE document_id = $1 RETURNING term_count)
                 SELECT count(*), coalesce(sum(term_count), 0)::bigint FROM gone",
                &[&id],
            )?;
            let (rows, lengths): (i64, i64) = (gone.get(0), gone.get(1));
            tx.execute("DELETE FROM documents WHERE id = $1", &[&id])?;
            crate::index::queue_document(tx, self, vault, id)?;
            tx.execute(
                "UPDATE vaults SET generation = generation + 1, keyword_rows = keyword_rows - $2, keyword_length = keyword_length - $3 WHERE id = $1",
                &[&vault, &rows, &lengths],
            )?;
            Ok(true)
        })?;
        self.after_write(vault);
        Ok(deleted)
    }

    fn stage_vectors(&self, vault: VaultId, vectors: &[(ChunkId, Vec<f32>)]) -> Result<(), StoreError> {
        self.write(|tx| {
            let stmt = tx.prepare("UPDATE chunks SET staged_vector = $1 WHERE id = $2 AND vault_id = $3")?;
            for (id, v) in vectors {
                tx.execute(&stmt, &[&VectorRef(v), id, &vault])?;
            }
            Ok(())
        })
    }

    fn source_syncs(&self, vault: VaultId) -> Result<Vec<(String, i64, String)>, StoreError> {
        self.read(|c| {
            Ok(c.query(
                "SELECT source, finished_ms, summary FROM source_syncs WHERE vault_id = $1 ORDER BY source COLLATE \"C\"",
                &[&vault],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
        })
    }

    fn source_sync_record(
        &self,
        vault: VaultId,
        source: &str,
        finished_ms: i64,
        summary: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO source_syncs (vault_id, source, finished_ms, summary) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (vault_id, source) DO UPDATE SET finished_ms = excluded.finished_ms, summary = excluded.summary",
                &[&vault, &source, &finished_ms, &summary],
            )?;
            Ok(())
        })
    }
}
