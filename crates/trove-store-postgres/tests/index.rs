//! The outbox that keeps an external vector index in step, against a real PostgreSQL and an
//! in-memory index (exact cosine, sparse dot products fused by reciprocal rank for hybrid
//! queries; it declines filtered searches, so PostgreSQL answers those):
//! the whole conformance suite passes with the index attached (with one-step hybrid queries); writes reach the index; an
//! index that fails leaves the writes committed and their rows pending, searches answer from
//! pgvector meanwhile (never stale), and the next write or search catches the index up; the
//! reconciler finds orphan and missing points and rebuilds the vault.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use trove_store::fusion::rrf;
use trove_store::prelude::*;
use trove_store::{ChunkFilter, HybridQuery, MemoryFilter, NewChunk, NewDocument, Scored, StoreError, VaultId};
use trove_store_postgres::index::{ChunkPoint, Kind, MemoryPoint, SparseVector, VectorIndex, term_id};
use trove_store_postgres::testing::PgServer;
use trove_store_postgres::{PgOptions, PgStore};
// `compare_index` and `sync_index` are PgStore's own; the trait's reconcile does both.

/// Points by (kind, vault, id): (model, vector, expiry, document).
type Points = HashMap<(Kind, VaultId, i64), (String, Vec<f32>, Option<i64>, i64)>;
/// Sparse vectors by (kind, vault, id).
type Sparse = HashMap<(Kind, VaultId, i64), SparseVector>;

#[derive(Debug, Default)]
struct Shared {
    points: Mutex<Points>,
    sparse: Mutex<Sparse>,
    failing: AtomicBool,
    searches: AtomicUsize,
    hybrid: AtomicUsize,
}

#[derive(Debug, Clone, Default)]
struct MemIndex(Arc<Shared>);

impl MemIndex {
    fn ensure_up(&self) -> Result<(), StoreError> {
        if self.0.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable { what: "the test index".into(), reason: "down".into() });
        }
        Ok(())
    }
    fn points(&self) -> std::sync::MutexGuard<'_, Points> {
        self.0.points.lock().unwrap()
    }
    fn nearest(
        &self,
        kind: Kind,
        vault: VaultId,
        model: &str,
        query: &[f32],
        limit: usize,
        now: Option<i64>,
    ) -> Vec<Scored> {
        self.0.searches.fetch_add(1, Ordering::SeqCst);
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        let mut hits: Vec<Scored> = self
            .points()
            .iter()
            .filter(|((k, v, _), (m, _, expires, _))| {
                *k == kind && *v == vault && m == model && now.is_none_or(|n| expires.is_none_or(|e| e > n))
            })
            .map(|((_, _, id), (_, vec, _, _))| Scored {
                id: *id,
                score: vec.iter().zip(query).map(|(a, b)| a * b).sum::<f32>() / (norm(vec) * norm(query)),
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(limit);
        hits
    }
    /// Sparse dot products with `query` among the live points of the vault (every model: a
    /// vault's points are of one).
    fn sparse_matches(
        &self,
        kind: Kind,
        vault: VaultId,
        query: &SparseVector,
        limit: usize,
        now: Option<i64>,
    ) -> Vec<Scored> {
        let points = self.points();
        let sparse = self.0.sparse.lock().unwrap();
        let mut hits: Vec<Scored> = points
            .iter()
            .filter(|((k, v, _), (_, _, expires, _))| {
                *k == kind && *v == vault && now.is_none_or(|n| expires.is_none_or(|e| e > n))
            })
            .filter_map(|((_, _, id), _)| {
                let v = sparse.get(&(kind, vault, *id))?;
                let score: f32 = v
                    .indices
                    .iter()
                    .zip(&v.values)
                    .filter_map(|(i, w)| query.indices.iter().position(|q| q == i).map(|p| w * query.values[p]))
                    .sum();
                (score > 0.0).then_some(Scored { id: *id, score })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(limit);
        hits
    }
    /// The two lists fused as the engine fuses them ([`rrf`]), cut to the query's limit.
    fn fuse(&self, query: &HybridQuery<'_>, keyword: &[Scored], dense: &[Scored]) -> Vec<Scored> {
        self.0.hybrid.fetch_add(1, Ordering::SeqCst);
        let mut fused = rrf(&[keyword, dense], query.rrf_k);
        fused.truncate(query.limit);
        fused
    }
}

/// Whether a memory filter narrows by more than expiry (the double declines such searches).
fn scoped(filter: &MemoryFilter) -> bool {
    filter.user_id.is_some()
        || filter.agent_id.is_some()
        || filter.session_id.is_some()
        || !filter.tags.is_empty()
        || filter.created_after_ms.is_some()
        || filter.created_before_ms.is_some()
}

impl VectorIndex for MemIndex {
    fn describe(&self) -> String {
        "the test index".into()
    }
    fn check(&self) -> Result<String, StoreError> {
        self.ensure_up().map(|_| "up".into())
    }
    fn upsert_chunks(&self, vault: VaultId, model: &str, _: usize, points: &[ChunkPoint]) -> Result<(), StoreError> {
        self.ensure_up()?;
        let mut all = self.points();
        for p in points {
            all.insert((Kind::Chunks, vault, p.id), (model.into(), p.vector.clone(), None, p.document));
            self.0.sparse.lock().unwrap().insert((Kind::Chunks, vault, p.id), p.terms.clone());
        }
        Ok(())
    }
    fn upsert_memories(&self, vault: VaultId, model: &str, _: usize, points: &[MemoryPoint]) -> Result<(), StoreError> {
        self.ensure_up()?;
        let mut all = self.points();
        for p in points {
            all.insert((Kind::Memories, vault, p.id), (model.into(), p.vector.clone(), p.expires_ms, 0));
            self.0.sparse.lock().unwrap().insert((Kind::Memories, vault, p.id), p.terms.clone());
        }
        Ok(())
    }
    fn delete_document(&self, vault: VaultId, _: &str, _: usize, document: i64) -> Result<(), StoreError> {
        self.ensure_up()?;
        self.points().retain(|(k, v, _), (_, _, _, doc)| !(*k == Kind::Chunks && *v == vault && *doc == document));
        Ok(())
    }
    fn delete_memories(&self, vault: VaultId, _: &str, _: usize, ids: &[i64]) -> Result<(), StoreError> {
        self.ensure_up()?;
        self.points().retain(|(k, v, id), _| !(*k == Kind::Memories && *v == vault && ids.contains(id)));
        Ok(())
    }
    fn delete_vault(&self, vault: VaultId) -> Result<(), StoreError> {
        self.ensure_up()?;
        self.points().retain(|(_, v, _), _| *v != vault);
        Ok(())
    }
    fn search_chunks(
        &self,
        vault: VaultId,
        model: &str,
        query: &[f32],
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        self.ensure_up()?;
        Ok(filter.is_empty().then(|| self.nearest(Kind::Chunks, vault, model, query, limit, None)))
    }
    fn search_memories(
        &self,
        vault: VaultId,
        model: &str,
        query: &[f32],
        limit: usize,
        filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        self.ensure_up()?;
        Ok((!scoped(filter)).then(|| self.nearest(Kind::Memories, vault, model, query, limit, Some(filter.now_ms))))
    }
    fn hybrid_chunks(
        &self,
        vault: VaultId,
        model: &str,
        query: &HybridQuery<'_>,
        sparse: &SparseVector,
        filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        self.ensure_up()?;
        if !filter.is_empty() {
            return Ok(None);
        }
        let keyword = self.sparse_matches(Kind::Chunks, vault, sparse, query.candidates, None);
        let dense = self.nearest(Kind::Chunks, vault, model, query.vector, query.candidates, None);
        Ok(Some(self.fuse(query, &keyword, &dense)))
    }
    fn hybrid_memories(
        &self,
        vault: VaultId,
        model: &str,
        query: &HybridQuery<'_>,
        sparse: &SparseVector,
        filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        self.ensure_up()?;
        if scoped(filter) {
            return Ok(None);
        }
        let now = Some(filter.now_ms);
        let keyword = self.sparse_matches(Kind::Memories, vault, sparse, query.candidates, now);
        let dense = self.nearest(Kind::Memories, vault, model, query.vector, query.candidates, now);
        Ok(Some(self.fuse(query, &keyword, &dense)))
    }
    fn stats(&self) -> trove_store::ExternalIndexStats {
        trove_store::ExternalIndexStats {
            backend: "test".into(),
            requests: self.0.searches.load(Ordering::SeqCst) as u64,
            ..Default::default()
        }
    }
    fn point_ids(&self, vault: VaultId, kind: Kind, model: &str, _: usize) -> Result<Vec<i64>, StoreError> {
        self.ensure_up()?;
        Ok(self
            .points()
            .iter()
            .filter(|((k, v, _), (m, ..))| *k == kind && *v == vault && m == model)
            .map(|((_, _, id), _)| *id)
            .collect())
    }
}

// The whole conformance suite with the index attached: it answers unfiltered hybrid queries
// itself (filtered ones are PostgreSQL's, and the engine's to fuse).
trove_store::conformance_tests!(
    || {
        let server = PgServer::start();
        let index = MemIndex::default();
        let store = PgStore::open(PgOptions::new(server.create_database()))
            .expect("open the store")
            .with_index(Box::new(index.clone()));
        (Box::new(store), Box::new((server, index)))
    },
    hybrid = one_step,
);

fn doc(uri: &str, chunks: &[(&str, [f32; 2])]) -> NewDocument {
    NewDocument {
        source: "s".into(),
        uri: uri.into(),
        title: uri.into(),
        content_hash: format!("h-{uri}-{}", chunks.len()),
        metadata: serde_json::json!({}),
        modified_unix_ms: None,
        chunks: chunks
            .iter()
            .map(|(t, v)| NewChunk { text: t.to_string(), heading_path: vec![], token_count: 2, vector: v.to_vec() })
            .collect(),
    }
}

#[test]
fn an_index_that_fails_never_loses_a_write_nor_answers_stale_and_catches_up() {
    let server = PgServer::start();
    let index = MemIndex::default();
    let store = PgStore::open(PgOptions::new(server.create_database())).unwrap().with_index(Box::new(index.clone()));
    let v = store.ensure_vault("v").unwrap().id;
    store.set_vault_embedder(v, "m1", 2).unwrap();
    store.put_documents(v, &[doc("a", &[("east", [1.0, 0.0])]), doc("b", &[("north", [0.0, 1.0])])]).unwrap();
    assert_eq!(index.points().len(), 2, "the writes reached the index");
    assert_eq!(store.index_pending(None).unwrap(), 0);
    let hits = store.vector_search(v, &[1.0, 0.1], 10, &ChunkFilter::default()).unwrap();
    assert_eq!(index.0.searches.load(Ordering::SeqCst), 1, "the index answered");
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "east");

    // The index goes down: a search with nothing pending still answers (from pgvector);
    // writes still commit; their rows wait; searches use pgvector.
    index.0.failing.store(true, Ordering::SeqCst);
    let hits = store.vector_search(v, &[1.0, 0.1], 10, &ChunkFilter::default()).unwrap();
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "east", "pgvector answered for the failing index");
    store.put_documents(v, &[doc("a", &[("west", [-1.0, 0.0])])]).unwrap();
    assert_eq!(store.index_pending(Some(v)).unwrap(), 1);
    let hits = store.vector_search(v, &[-1.0, 0.0], 10, &ChunkFilter::default()).unwrap();
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "west", "pgvector answered with the new chunk");
    assert_eq!(index.0.searches.load(Ordering::SeqCst), 1, "the lagging index was not asked");
    let m = store
        .memory_put(
            v,
            &trove_store::NewMemory {
                text: "likes tea".into(),
                user_id: None,
                agent_id: None,
                session_id: None,
                tags: vec![],
                metadata: serde_json::json!({}),
                importance: 0.5,
                kind: None,
                expires_ms: None,
                vector: vec![0.0, 1.0],
            },
            1,
        )
        .unwrap();
    assert_eq!(store.index_pending(Some(v)).unwrap(), 2);

    // Back up: the next search catches the index up first, then asks it.
    index.0.failing.store(false, Ordering::SeqCst);
    let hits = store.vector_search(v, &[-1.0, 0.0], 10, &ChunkFilter::default()).unwrap();
    assert_eq!(store.index_pending(None).unwrap(), 0);
    assert_eq!(index.0.searches.load(Ordering::SeqCst), 2);
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "west");
    assert_eq!(hits.len(), 2, "the old chunk of `a` is gone from the index too");
    let found =
        store.memory_vector_search(v, &[0.0, 1.0], &MemoryFilter { now_ms: 2, ..Default::default() }, 5).unwrap();
    assert_eq!(found.first().map(|s| s.id), Some(m.rowid));

    // Deleting a document or the vault removes their points.
    store.delete_document(v, "s", "b").unwrap();
    assert_eq!(index.points().keys().filter(|(k, ..)| *k == Kind::Chunks).count(), 1);
    store.delete_vault(v).unwrap();
    assert!(index.points().is_empty(), "{:?}", index.points());
}

#[test]
fn the_reconciler_finds_orphans_and_missing_points() {
    let server = PgServer::start();
    let index = MemIndex::default();
    let store = PgStore::open(PgOptions::new(server.create_database())).unwrap().with_index(Box::new(index.clone()));
    let v = store.ensure_vault("v").unwrap().id;
    store.set_vault_embedder(v, "m1", 2).unwrap();
    store.put_documents(v, &[doc("a", &[("east", [1.0, 0.0]), ("more east", [0.9, 0.1])])]).unwrap();
    assert_eq!(store.compare_index().unwrap(), 0, "in step");

    // A point lost (a crash after PostgreSQL committed) and an orphan (a vault's point that
    // PostgreSQL no longer has).
    let lost = *index.points().keys().next().unwrap();
    index.points().remove(&lost);
    index.points().insert((Kind::Chunks, v, 999_999), ("m1".into(), vec![0.0, 1.0], None, 12345));
    assert_eq!(store.compare_index().unwrap(), 1, "the vault is queued");
    assert_eq!(store.sync_index(None).unwrap(), 1);
    let mut held: Vec<i64> = index.points().keys().map(|(_, _, id)| *id).collect();
    held.sort_unstable();
    let mut want: Vec<i64> = store
        .vector_search(v, &[1.0, 0.0], 10, &ChunkFilter { source: Some("s".into()), ..Default::default() })
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    want.sort_unstable();
    assert_eq!(held, want);
    assert_eq!(store.compare_index().unwrap(), 0);
}

#[test]
fn hybrid_queries_go_to_the_index_whole_with_bm25_weights_and_to_postgres_when_it_cannot() {
    let server = PgServer::start();
    let index = MemIndex::default();
    let store = PgStore::open(PgOptions::new(server.create_database())).unwrap().with_index(Box::new(index.clone()));
    let v = store.ensure_vault("v").unwrap().id;
    store.set_vault_embedder(v, "m1", 2).unwrap();
    store
        .put_documents(
            v,
            &[
                doc("a", &[("quantum fox", [0.0, 1.0])]),
                doc("b", &[("plain words", [1.0, 0.0])]),
                doc("c", &[("quantum quantum quantum", [0.9, 0.1])]),
            ],
        )
        .unwrap();
    // The points carry BM25 term weights from the postings: more occurrences weigh more.
    let weight = |text: &str| {
        let id = store.keyword_search(v, text, 10, &ChunkFilter::default()).unwrap()[0].id;
        let sparse = index.0.sparse.lock().unwrap();
        let terms = &sparse[&(Kind::Chunks, v, id)];
        terms.indices.iter().position(|&i| i == term_id("quantum")).map(|p| terms.values[p])
    };
    assert!(weight("quantum quantum") > weight("fox"), "tf raises the weight");
    assert_eq!(weight("plain"), None);

    let q = HybridQuery { text: "quantum", vector: &[1.0, 0.0], candidates: 10, limit: 10, rrf_k: 60.0 };
    let hits = store.hybrid_search(v, &q, &ChunkFilter::default()).unwrap().expect("the index answers");
    assert_eq!(index.0.hybrid.load(Ordering::SeqCst), 1);
    // The same fusion as the engine's over PostgreSQL's own lists.
    let keyword = store.keyword_search(v, "quantum", 10, &ChunkFilter::default()).unwrap();
    let dense = store.vector_search(v, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap();
    let want = index.fuse(&q, &keyword, &dense);
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), want.iter().map(|h| h.id).collect::<Vec<_>>());
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "quantum quantum quantum", "in both lists");
    assert_eq!(hits.len(), 3);

    // What the index declines (a filter here; a query with no terms) is the engine's to fuse.
    let filtered = ChunkFilter { source: Some("s".into()), ..Default::default() };
    assert_eq!(store.hybrid_search(v, &q, &filtered).unwrap(), None);
    let no_terms = HybridQuery { text: "!!", ..q };
    assert_eq!(store.hybrid_search(v, &no_terms, &ChunkFilter::default()).unwrap(), None);
    // A lagging or failing index: PostgreSQL answers, never the stale index.
    index.0.failing.store(true, Ordering::SeqCst);
    store.put_documents(v, &[doc("d", &[("quantum dots", [1.0, 0.0])])]).unwrap();
    assert_eq!(store.hybrid_search(v, &q, &ChunkFilter::default()).unwrap(), None);
    index.0.failing.store(false, Ordering::SeqCst);
    let hits = store.hybrid_search(v, &q, &ChunkFilter::default()).unwrap().expect("caught up");
    assert_eq!(hits.len(), 4, "the new document is in the index's answer");

    // Memories: text and tags are terms; expired ones are not answered.
    let mut memory = trove_store::NewMemory {
        text: "likes quantum physics".into(),
        user_id: None,
        agent_id: None,
        session_id: None,
        tags: vec!["science".into()],
        metadata: serde_json::json!({}),
        importance: 0.5,
        kind: None,
        expires_ms: None,
        vector: vec![0.0, 1.0],
    };
    let kept = store.memory_put(v, &memory, 1).unwrap();
    memory.expires_ms = Some(10);
    store.memory_put(v, &memory, 1).unwrap();
    let mq = HybridQuery { text: "science", ..q };
    let live = MemoryFilter { now_ms: 20, ..Default::default() };
    let hits = store.memory_hybrid_search(v, &mq, &live).unwrap().expect("the index answers");
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [kept.rowid]);
    let scoped = MemoryFilter { user_id: Some("u".into()), ..live };
    assert_eq!(store.memory_hybrid_search(v, &mq, &scoped).unwrap(), None);
}
