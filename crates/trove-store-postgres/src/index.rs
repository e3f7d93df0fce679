//! An external vector index beside PostgreSQL (Qdrant: `trove-store-qdrant`), kept in step by
//! a transactional outbox. PostgreSQL stays the system of record, vectors included; the index
//! is derived from it, like the embedded store's in-memory indexes are derived from SQLite.
//!
//! Every write that changes a vault's vectors adds a row to `index_outbox` in the same
//! transaction: a document to bring in step (its points deleted, then its current chunks
//! upserted), a memory (upserted if it exists, deleted otherwise), or a whole vault (every
//! point deleted, then everything upserted: after a re-embed's switch; or only deleted, when
//! the vault is gone). After the commit the writer applies the vault's pending rows, so a
//! search that follows a write sees it; a row is deleted only once the index has applied it,
//! so a crash or an outage between PostgreSQL and the index leaves the row for the next
//! writer, the next search, or [`PgStore::sync_index`]. Applying a row is idempotent (stable
//! point ids, state read from PostgreSQL at that moment), so applying one twice is harmless.
//! A search whose vault has rows pending, or whose filter the index cannot express exactly,
//! runs on pgvector instead: answers are never stale and never approximate a filter.
//! [`PgStore::compare_index`] compares the point ids the index holds with PostgreSQL's and
//! queues what differs (orphans and missing points).
//!
//! Points carry a sparse vector beside the dense one, so the index can answer hybrid queries
//! in one request ([`SparseVector`]): each distinct term of the shared analyzer, hashed to a
//! `u32` ([`term_id`]), weighted by BM25's term-frequency part — `tf·(k1+1) / (tf + k1·(1 − b +
//! b·dl/avgdl))`, k1 1.2, b 0.75, with the chunk's term count and its vault's average at
//! the time of writing (the postings of `chunk_terms`, the same numbers PostgreSQL's keyword
//! search ranks with); memories, short and of even length, with b = 0. The index supplies
//! the inverse document frequency at query time (Qdrant's `idf` modifier, over the
//! collection), and a query is its distinct terms with weight 1, so a point's sparse score is
//! its BM25 score.

use std::collections::HashSet;

use postgres::GenericClient;
use serde_json::Value;
use trove_store::analysis::Analyzer;
use trove_store::{ChunkFilter, HybridQuery, MemoryFilter, Scored, StoreError, VaultId};

use crate::{PgStore, Res};

/// What a point of a chunk carries besides its vector.
#[derive(Debug, Clone)]
pub struct ChunkPoint {
    /// The chunk's id (the point's id).
    pub id: i64,
    /// Its document's id.
    pub document: i64,
    /// Its document's source.
    pub source: String,
    /// Its document's metadata.
    pub metadata: Value,
    /// The vector.
    pub vector: Vec<f32>,
    /// Its BM25 term weights (text, title and headings).
    pub terms: SparseVector,
}

/// What a point of a memory carries besides its vector.
#[derive(Debug, Clone)]
pub struct MemoryPoint {
    /// The memory's row id (the point's id).
    pub id: i64,
    /// Scope.
    pub user_id: Option<String>,
    /// Scope.
    pub agent_id: Option<String>,
    /// Scope.
    pub session_id: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Creation time (ms).
    pub created_ms: i64,
    /// Expiry (ms).
    pub expires_ms: Option<i64>,
    /// The vector.
    pub vector: Vec<f32>,
    /// Its BM25 term weights (text and tags).
    pub terms: SparseVector,
}

/// A sparse vector: weights by term id, ids ascending and distinct.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    /// Term ids ([`term_id`]).
    pub indices: Vec<u32>,
    /// Their weights.
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Sums the weights of equal ids (two terms may hash alike) and sorts by id.
    fn from_pairs(mut pairs: Vec<(u32, f32)>) -> SparseVector {
        pairs.sort_unstable_by_key(|p| p.0);
        let mut out = SparseVector::default();
        for (id, w) in pairs {
            if out.indices.last() == Some(&id) {
                *out.values.last_mut().expect("values follow indices") += w;
            } else {
                out.indices.push(id);
                out.values.push(w);
            }
        }
        out
    }

    /// Whether it has no terms.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// A term's id in sparse vectors: its 32-bit FNV-1a hash (stable across builds and
/// platforms; a collision merges two terms' weights, rare enough to ignore in ranking).
pub fn term_id(term: &str) -> u32 {
    term.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// BM25's term-frequency part for a term seen `tf` times in a text of `dl` terms, where texts
/// average `avgdl` terms; `b` weighs the length normalization.
fn tf_weight(tf: f32, dl: f32, avgdl: f32, b: f32) -> f32 {
    tf * (K1 + 1.0) / (tf + K1 * (1.0 - b + b * dl / avgdl.max(1.0)))
}

/// The sparse vector of a chunk from its postings (term, tf), its term count and its vault's
/// average.
pub fn chunk_sparse(postings: &[(String, i32)], dl: f32, avgdl: f32) -> SparseVector {
    SparseVector::from_pairs(postings.iter().map(|(t, tf)| (term_id(t), tf_weight(*tf as f32, dl, avgdl, B))).collect())
}

/// The sparse vector of a memory's text and tags (no length normalization).
pub fn memory_sparse(analyzer: &Analyzer, text: &str, tags: &[String]) -> SparseVector {
    let mut tf: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for part in std::iter::once(text).chain(tags.iter().map(String::as_str)) {
        analyzer.terms(part, |t| *tf.entry(t.to_string()).or_default() += 1);
    }
    SparseVector::from_pairs(tf.into_iter().map(|(t, n)| (term_id(&t), tf_weight(n as f32, 0.0, 1.0, 0.0))).collect())
}

/// The sparse vector of a query: its distinct terms (the keyword search's), weight 1.
pub fn query_sparse(analyzer: &Analyzer, query: &str) -> SparseVector {
    SparseVector::from_pairs(analyzer.query_terms(query).iter().map(|t| (term_id(t), 1.0)).collect())
}

/// Which points: a vault's chunks or its memories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Chunks of documents.
    Chunks,
    /// Memories.
    Memories,
}

impl Kind {
    /// The name in the outbox and in collection names.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chunks => "chunks",
            Kind::Memories => "memories",
        }
    }
}

/// A vector index that holds copies of PostgreSQL's vectors. Implementations make every write
/// idempotent and durable before returning (Qdrant: `wait=true`).
pub trait VectorIndex: Send + Sync + std::fmt::Debug {
    /// The index in messages (`Qdrant at http://…`).
    fn describe(&self) -> String;
    /// One cheap request: what the index is (its version), or why it does not answer.
    fn check(&self) -> Result<String, StoreError>;
    /// Upserts points of `kind` for a vault whose vectors come from `model` (`dimension`).
    fn upsert_chunks(
        &self,
        vault: VaultId,
        model: &str,
        dimension: usize,
        points: &[ChunkPoint],
    ) -> Result<(), StoreError>;
    /// Upserts memory points.
    fn upsert_memories(
        &self,
        vault: VaultId,
        model: &str,
        dimension: usize,
        points: &[MemoryPoint],
    ) -> Result<(), StoreError>;
    /// Deletes a document's chunk points from the collection of `model` (a document's points
    /// live only there; a re-embed's switch rebuilds the whole vault).
    fn delete_document(&self, vault: VaultId, model: &str, dimension: usize, document: i64) -> Result<(), StoreError>;
    /// Deletes memory points by id from the collection of `model`.
    fn delete_memories(&self, vault: VaultId, model: &str, dimension: usize, ids: &[i64]) -> Result<(), StoreError>;
    /// Deletes every point of the vault, of both kinds and every model.
    fn delete_vault(&self, vault: VaultId) -> Result<(), StoreError>;
    /// Nearest chunks; `None` when the filter cannot be expressed exactly in the index.
    fn search_chunks(
        &self,
        vault: VaultId,
        model: &str,
        query: &[f32],
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError>;
    /// Nearest live memories; `None` when the filter cannot be expressed exactly.
    fn search_memories(
        &self,
        vault: VaultId,
        model: &str,
        query: &[f32],
        limit: usize,
        filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError>;
    /// Keyword and nearest-neighbour candidates of chunks fused by reciprocal rank in one
    /// request (`sparse`: the query's terms). `None` when the index cannot answer this query
    /// exactly (a filter, the fusion constant, no sparse vectors): the store then fuses
    /// PostgreSQL's keyword search with [`Self::search_chunks`].
    fn hybrid_chunks(
        &self,
        _vault: VaultId,
        _model: &str,
        _query: &HybridQuery<'_>,
        _sparse: &SparseVector,
        _filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        Ok(None)
    }
    /// The same for live memories.
    fn hybrid_memories(
        &self,
        _vault: VaultId,
        _model: &str,
        _query: &HybridQuery<'_>,
        _sparse: &SparseVector,
        _filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        Ok(None)
    }
    /// Request figures for `/metrics`, read without a request (`pending` left `None`).
    fn stats(&self) -> trove_store::ExternalIndexStats;
    /// The ids of the vault's points of `kind` in the collection of `model`.
    fn point_ids(&self, vault: VaultId, kind: Kind, model: &str, dimension: usize) -> Result<Vec<i64>, StoreError>;
}

/// What an outbox row asks for.
const OP_DOCUMENT: &str = "document";
const OP_MEMORY: &str = "memory";
const OP_VAULT: &str = "vault";
const OP_DROP_VAULT: &str = "drop_vault";

/// Queues a document's chunks to be brought in step (inside the writing transaction).
pub(crate) fn queue_document(tx: &mut impl GenericClient, s: &PgStore, vault: VaultId, document: i64) -> Res<()> {
    queue(tx, s, vault, OP_DOCUMENT, Some(document))
}

/// Queues a memory.
pub(crate) fn queue_memory(tx: &mut impl GenericClient, s: &PgStore, vault: VaultId, memory: i64) -> Res<()> {
    queue(tx, s, vault, OP_MEMORY, Some(memory))
}

/// Queues a whole vault (after a re-embed's switch).
pub(crate) fn queue_vault(tx: &mut impl GenericClient, s: &PgStore, vault: VaultId) -> Res<()> {
    queue(tx, s, vault, OP_VAULT, None)
}

/// Queues a deleted vault's points for deletion.
pub(crate) fn queue_drop_vault(tx: &mut impl GenericClient, s: &PgStore, vault: VaultId) -> Res<()> {
    queue(tx, s, vault, OP_DROP_VAULT, None)
}

fn queue(tx: &mut impl GenericClient, s: &PgStore, vault: VaultId, op: &str, item: Option<i64>) -> Res<()> {
    if s.index.is_some() {
        tx.execute("INSERT INTO index_outbox (vault_id, op, item_id) VALUES ($1, $2, $3)", &[&vault, &op, &item])?;
    }
    Ok(())
}

/// A vault's recorded model, if it has vectors.
fn vault_model(c: &mut impl GenericClient, vault: VaultId) -> Res<Option<(String, usize)>> {
    let row = c.query_opt("SELECT model_id, dimension FROM vaults WHERE id = $1", &[&vault])?;
    Ok(row.and_then(|r| {
        let (model, dim): (Option<String>, Option<i32>) = (r.get(0), r.get(1));
        Some((model?, usize::try_from(dim?).ok()?))
    }))
}

impl PgStore {
    /// Attaches an external vector index: searches use it, writes keep it in step.
    pub fn with_index(mut self, index: Box<dyn VectorIndex>) -> PgStore {
        self.index = Some(index);
        self
    }

    /// The attached index, if any.
    pub fn index(&self) -> Option<&dyn VectorIndex> {
        self.index.as_deref()
    }

    /// Rows the index has not applied yet, for a vault or all.
    pub fn index_pending(&self, vault: Option<VaultId>) -> Result<u64, StoreError> {
        self.read(|c| {
            let n: i64 = c
                .query_one("SELECT count(*) FROM index_outbox WHERE $1::BIGINT IS NULL OR vault_id = $1", &[&vault])?
                .get(0);
            Ok(n as u64)
        })
    }

    /// Applies the pending outbox rows of `vault` (or of every vault), oldest first. Stops at
    /// the first failure (leaving it and the rest pending) and returns it.
    pub fn sync_index(&self, vault: Option<VaultId>) -> Result<u64, StoreError> {
        let Some(index) = self.index.as_deref() else { return Ok(0) };
        let rows: Vec<(i64, VaultId, String, Option<i64>)> = self.read(|c| {
            Ok(c.query(
                "SELECT id, vault_id, op, item_id FROM index_outbox WHERE $1::BIGINT IS NULL OR vault_id = $1 ORDER BY id LIMIT 10000",
                &[&vault],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
        })?;
        let mut applied: Vec<i64> = Vec::with_capacity(rows.len());
        let mut seen = HashSet::new();
        let mut failure = None;
        for (row, vault, op, item) in rows {
            // The same item queued twice is brought in step once (its state is read now).
            if seen.insert((vault, op.clone(), item))
                && let Err(e) = self.apply(index, vault, &op, item)
            {
                failure = Some(e);
                break;
            }
            applied.push(row);
        }
        // The rows applied so far go in one statement, whether or not a later one failed.
        if !applied.is_empty() {
            self.write(|tx| {
                tx.execute("DELETE FROM index_outbox WHERE id = ANY($1)", &[&applied])?;
                Ok(())
            })?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(applied.len() as u64),
        }
    }

    fn apply(&self, index: &dyn VectorIndex, vault: VaultId, op: &str, item: Option<i64>) -> Result<(), StoreError> {
        match (op, item) {
            (OP_DOCUMENT, Some(doc)) => {
                let (model, points) =
                    self.read(|c| Ok((vault_model(c, vault)?, chunk_points(c, vault, Some(doc))?)))?;
                // No model recorded: the vault never had vectors, so it has no points.
                let Some((model, dim)) = model else { return Ok(()) };
                index.delete_document(vault, &model, dim, doc)?;
                index.upsert_chunks(vault, &model, dim, &points)
            }
            (OP_MEMORY, Some(memory)) => {
                let (model, points) = self
                    .read(|c| Ok((vault_model(c, vault)?, memory_points(c, &self.analyzer, vault, Some(memory))?)))?;
                match model {
                    Some((model, dim)) if !points.is_empty() => index.upsert_memories(vault, &model, dim, &points),
                    Some((model, dim)) => index.delete_memories(vault, &model, dim, &[memory]),
                    None => Ok(()),
                }
            }
            (OP_VAULT, _) => {
                index.delete_vault(vault)?;
                let Some((model, dim)) = self.read(|c| vault_model(c, vault))? else { return Ok(()) };
                let chunks = self.read(|c| chunk_points(c, vault, None))?;
                for batch in chunks.chunks(256) {
                    index.upsert_chunks(vault, &model, dim, batch)?;
                }
                let memories = self.read(|c| memory_points(c, &self.analyzer, vault, None))?;
                for batch in memories.chunks(256) {
                    index.upsert_memories(vault, &model, dim, batch)?;
                }
                Ok(())
            }
            (OP_DROP_VAULT, _) => index.delete_vault(vault),
            (other, _) => Err(StoreError::Corrupt(format!("index_outbox holds an unknown operation `{other}`"))),
        }
    }

    /// After a write: applies the vault's pending rows; a failure is logged and left pending
    /// (the write itself succeeded; searches of the vault use pgvector until it is applied).
    pub(crate) fn after_write(&self, vault: VaultId) {
        if self.index.is_some()
            && let Err(e) = self.sync_index(Some(vault))
        {
            tracing::warn!(vault, error = %e, "the vector index lags behind PostgreSQL; searches of this vault use pgvector until it catches up");
        }
    }

    /// The index and the vault's model when searches of `vault` may use the index now: one is
    /// attached, the query has the vault's dimension, and nothing of the vault is pending
    /// (pending rows are applied first; if that fails, pgvector answers). One round trip.
    fn searchable(&self, vault: VaultId, dimension: usize) -> Result<Option<(&dyn VectorIndex, String)>, StoreError> {
        let Some(index) = self.index.as_deref() else { return Ok(None) };
        let found = self.read(|c| {
            let row = c.query_opt(
                "SELECT model_id, dimension, EXISTS (SELECT 1 FROM index_outbox WHERE vault_id = $1) FROM vaults WHERE id = $1",
                &[&vault],
            )?;
            Ok(row.map(|r| {
                let (model, dim, pending): (Option<String>, Option<i32>, bool) = (r.get(0), r.get(1), r.get(2));
                (model, dim, pending)
            }))
        })?;
        let Some((Some(model), Some(dim), pending)) = found else { return Ok(None) };
        if usize::try_from(dim).ok() != Some(dimension) || (pending && self.sync_index(Some(vault)).is_err()) {
            return Ok(None);
        }
        Ok(Some((index, model)))
    }

    /// Nearest points from the index (`ask` picks chunks or memories, with the vault's model),
    /// when it can answer exactly; `None` leaves the search to PostgreSQL. A failure of the
    /// index is logged and declined, never the search's failure: PostgreSQL has every vector.
    pub(crate) fn index_search(
        &self,
        vault: VaultId,
        dimension: usize,
        ask: impl FnOnce(&dyn VectorIndex, &str) -> Result<Option<Vec<Scored>>, StoreError>,
    ) -> Option<Vec<Scored>> {
        let answer = self.searchable(vault, dimension).and_then(|found| match found {
            Some((index, model)) => ask(index, &model),
            None => Ok(None),
        });
        answer.unwrap_or_else(|e| {
            tracing::warn!(vault, error = %e, "the vector index did not answer; searching with PostgreSQL");
            None
        })
    }

    /// A hybrid search from the index in one request (`ask` picks chunks or memories), when
    /// it can answer exactly: the query has terms, and the vault is searchable in the index now.
    pub(crate) fn index_hybrid_search(
        &self,
        vault: VaultId,
        query: &HybridQuery<'_>,
        ask: impl FnOnce(&dyn VectorIndex, &str, &SparseVector) -> Result<Option<Vec<Scored>>, StoreError>,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        let sparse = query_sparse(&self.analyzer, query.text);
        if sparse.is_empty() {
            return Ok(None);
        }
        Ok(self.index_search(vault, query.vector.len(), |index, model| ask(index, model, &sparse)))
    }

    /// Compares the index's point ids with PostgreSQL's for every vault and queues a vault
    /// whose points differ (orphans or missing ones) to be brought in step; returns how many
    /// vaults were queued (`Backend::reconcile_index` then applies them).
    pub fn compare_index(&self) -> Result<u64, StoreError> {
        let Some(index) = self.index.as_deref() else { return Ok(0) };
        let vaults: Vec<(VaultId, Option<(String, usize)>)> = self.read(|c| {
            let ids: Vec<i64> = c.query("SELECT id FROM vaults ORDER BY id", &[])?.iter().map(|r| r.get(0)).collect();
            ids.into_iter().map(|v| Ok((v, vault_model(c, v)?))).collect::<Res<Vec<_>>>()
        })?;
        let mut queued = 0;
        for (vault, model) in vaults {
            let Some((model, dim)) = model else { continue };
            let (chunks, memories): (Vec<i64>, Vec<i64>) = self.read(|c| {
                let ids = |sql: &str, c: &mut postgres::Client| -> Res<Vec<i64>> {
                    Ok(c.query(sql, &[&vault])?.iter().map(|r| r.get(0)).collect())
                };
                Ok((
                    ids("SELECT id FROM chunks WHERE vault_id = $1 ORDER BY id", c)?,
                    ids("SELECT id FROM memories WHERE vault_id = $1 ORDER BY id", c)?,
                ))
            })?;
            let mut held_chunks = index.point_ids(vault, Kind::Chunks, &model, dim)?;
            let mut held_memories = index.point_ids(vault, Kind::Memories, &model, dim)?;
            held_chunks.sort_unstable();
            held_memories.sort_unstable();
            if held_chunks != chunks || held_memories != memories {
                tracing::warn!(vault, "the vector index differs from PostgreSQL; queued the vault to be rebuilt");
                self.write(|tx| queue_vault(tx, self, vault))?;
                queued += 1;
            }
        }
        Ok(queued)
    }
}

/// Chunk points of a vault (of one document, or all), from PostgreSQL: sparse vectors from
/// the chunks' postings and the vault's average term count now.
fn chunk_points(c: &mut impl GenericClient, vault: VaultId, document: Option<i64>) -> Res<Vec<ChunkPoint>> {
    let avgdl: f64 = c
        .query_opt(
            "SELECT greatest(keyword_length::float8 / greatest(keyword_rows, 1), 1) FROM vaults WHERE id = $1",
            &[&vault],
        )?
        .map_or(1.0, |r| r.get(0));
    let rows = c.query(
        "SELECT c.id, c.document_id, d.source, d.metadata::text, c.vector, c.term_count, t.terms, t.tfs
         FROM chunks c JOIN documents d ON d.id = c.document_id
         LEFT JOIN LATERAL (SELECT array_agg(p.term) AS terms, array_agg(p.tf) AS tfs
                            FROM chunk_terms p WHERE p.chunk_id = c.id) t ON true
         WHERE c.vault_id = $1 AND ($2::BIGINT IS NULL OR c.document_id = $2) ORDER BY c.id",
        &[&vault, &document],
    )?;
    rows.iter()
        .map(|r| {
            let metadata: String = r.get(3);
            let vector: crate::vector::Vector = r.get(4);
            let term_count: i32 = r.get(5);
            let terms: Vec<String> = r.get::<_, Option<Vec<String>>>(6).unwrap_or_default();
            let tfs: Vec<i32> = r.get::<_, Option<Vec<i32>>>(7).unwrap_or_default();
            let postings: Vec<(String, i32)> = terms.into_iter().zip(tfs).collect();
            Ok(ChunkPoint {
                id: r.get(0),
                document: r.get(1),
                source: r.get(2),
                metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
                vector: vector.0,
                terms: chunk_sparse(&postings, term_count as f32, avgdl as f32),
            })
        })
        .collect()
}

/// Memory points of a vault (one, or all), from PostgreSQL.
fn memory_points(
    c: &mut impl GenericClient,
    analyzer: &Analyzer,
    vault: VaultId,
    memory: Option<i64>,
) -> Res<Vec<MemoryPoint>> {
    let rows = c.query(
        "SELECT id, user_id, agent_id, session_id, tags, created_ms, expires_ms, vector, text FROM memories
         WHERE vault_id = $1 AND ($2::BIGINT IS NULL OR id = $2) ORDER BY id",
        &[&vault, &memory],
    )?;
    rows.iter()
        .map(|r| {
            let vector: crate::vector::Vector = r.get(7);
            let tags: Vec<String> = r.get(4);
            let text: String = r.get(8);
            Ok(MemoryPoint {
                id: r.get(0),
                user_id: r.get(1),
                agent_id: r.get(2),
                session_id: r.get(3),
                terms: memory_sparse(analyzer, &text, &tags),
                tags,
                created_ms: r.get(5),
                expires_ms: r.get(6),
                vector: vector.0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_vectors_weigh_terms_as_bm25_does() {
        // A term seen twice in a chunk of average length: 2·2.2 / (2 + 1.2) = 1.375.
        let v = chunk_sparse(&[("fox".into(), 2), ("den".into(), 1)], 10.0, 10.0);
        let fox = v.indices.iter().position(|&i| i == term_id("fox")).expect("fox");
        assert!((v.values[fox] - 1.375).abs() < 1e-6, "{v:?}");
        assert!(v.indices.windows(2).all(|w| w[0] < w[1]), "ids ascend and are distinct");
        // A longer chunk weighs the same frequency less.
        let long = chunk_sparse(&[("fox".into(), 2)], 40.0, 10.0);
        assert!(long.values[0] < v.values[fox]);
        // Memories: text and tags, stemmed, no length normalization (1 occurrence: 1.0).
        let m = memory_sparse(&Analyzer::default(), "Foxes jump; the fox", &["dens".into()]);
        let at = |t: &str| m.indices.iter().position(|&i| i == term_id(t)).map(|p| m.values[p]);
        assert!((at("fox").unwrap() - 2.0 * 2.2 / 3.2).abs() < 1e-6, "{m:?}");
        assert_eq!(at("den"), Some(1.0));
        assert_eq!(at("jump"), Some(1.0));
        // Queries: distinct terms, weight 1; only stopwords left means nothing is dropped.
        let q = query_sparse(&Analyzer::default(), "the foxes fox");
        assert_eq!((q.indices, q.values), (vec![term_id("fox")], vec![1.0]));
        assert!(query_sparse(&Analyzer::default(), "!!").is_empty());
    }

    #[test]
    fn colliding_ids_are_merged() {
        let v = SparseVector::from_pairs(vec![(7, 1.0), (3, 0.5), (7, 2.0)]);
        assert_eq!((v.indices, v.values), (vec![3, 7], vec![0.5, 3.0]));
        assert_eq!(term_id(""), 0x811c_9dc5);
        assert_eq!(term_id("a"), 0xe40c_292c, "FNV-1a 32 of `a`");
    }
}
