//! Qdrant as the vector index of Trove's PostgreSQL backend ([`QdrantIndex`], a
//! [`VectorIndex`] that `PgStore::with_index` attaches). PostgreSQL stays the system of record,
//! vectors included; Qdrant answers nearest-neighbour searches, and the outbox of
//! `trove_store_postgres::index` keeps it in step (a crash or an outage between the two is
//! repaired, never papered over: searches fall back to pgvector while anything is pending).
//!
//! Layout: one collection per kind and model (`{prefix}chunks_{model}_{dim}_{hash}`), so a
//! re-embed to another model fills another collection and the switch is PostgreSQL's; every
//! point carries its vault as a tenant field (a keyword payload index with `is_tenant`, and
//! per-tenant HNSW graphs: `m: 0`, `payload_m: 16`), so one collection serves every vault and
//! a vault's searches never see another's points. Point ids are PostgreSQL's row ids (chunks,
//! memories): a retried upsert overwrites, never duplicates. Chunk points carry `doc`,
//! `source` and the document's metadata (`meta.*`); memory points their scope (`user`,
//! `agent`, `session`, `tags`), `created_ms` and `expires_ms`. A filter Qdrant cannot express
//! exactly (a URI prefix, a fractional number) is answered by pgvector instead.
//!
//! Each point also carries a sparse vector named `bm25` (the collection's `sparse_vectors`,
//! with Qdrant's `idf` modifier): its terms weighted by BM25's term-frequency part (see
//! `trove_store_postgres::index`), so a hybrid search is one query — a dense and a sparse
//! prefetch of the candidates, fused by reciprocal rank (`{"rrf": {"k": …}}`, Qdrant ≥ 1.16)
//! with the engine's constant (Qdrant counts ranks from 0, so its `k` is Trove's + 1).
//! Qdrant computes the idf over the whole collection, every vault sharing the model, where
//! PostgreSQL's keyword search counts within the vault: rankings agree on which chunks
//! match, and differ slightly in weights when vaults differ a lot. The layout (dense +
//! `bm25`) is part of the collection's name, so collections made by an older build are left
//! alone and the reconciler fills new ones from PostgreSQL.
//!
//! Requests go through [`client::Client`]: time limits, retries with backoff and jitter for
//! transient failures, a circuit breaker; writes wait for Qdrant to apply them (`wait=true`).

pub mod client;

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use trove_store::{ChunkFilter, HybridQuery, MemoryFilter, Scored, StoreError, VaultId};
use trove_store_postgres::index::{ChunkPoint, Kind, MemoryPoint, SparseVector, VectorIndex};

pub use client::{Client, ClientOptions};

/// A page of point ids read by the reconciler.
const SCROLL_PAGE: usize = 1000;

/// What a collection holds, part of its name's hash: a build that changes it fills new
/// collections instead of writing points of another shape into old ones.
const LAYOUT: &str = "dense+bm25";

/// The name of the sparse vector.
const SPARSE: &str = "bm25";

/// Qdrant as a [`VectorIndex`].
#[derive(Debug)]
pub struct QdrantIndex {
    client: Client,
    prefix: String,
    /// Collections known to exist (made or seen).
    known: Mutex<HashSet<String>>,
}

fn vault_key(vault: VaultId) -> String {
    vault.to_string()
}

/// A condition matching one payload value.
fn matches(key: &str, value: Value) -> Value {
    json!({"key": key, "match": {"value": value}})
}

impl QdrantIndex {
    /// An index whose collections are named `{prefix}…` (letters, digits, `_` and `-`).
    pub fn new(client: Client, prefix: &str) -> QdrantIndex {
        QdrantIndex { client, prefix: prefix.to_string(), known: Mutex::new(HashSet::new()) }
    }

    /// The client (for health checks).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The collection of `kind` for vectors of `model` (`dimension`).
    pub fn collection(&self, kind: Kind, model: &str, dimension: usize) -> String {
        let slug: String = model
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(40)
            .collect();
        let hash = Sha256::digest(format!("{model}\0{dimension}\0{LAYOUT}").as_bytes());
        let hash: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("{}{}_{slug}_{dimension}_{hash}", self.prefix, kind.as_str())
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a collection exists (asked once, then remembered while it does).
    pub fn exists(&self, name: &str) -> Result<bool, StoreError> {
        if self.known().contains(name) {
            return Ok(true);
        }
        let found = self.client.get(&format!("/collections/{name}/exists"))?["exists"].as_bool().unwrap_or(false);
        if found {
            self.known().insert(name.to_string());
        }
        Ok(found)
    }

    /// The vector size of an existing collection; `None` when it does not exist.
    pub fn collection_dimension(&self, name: &str) -> Result<Option<usize>, StoreError> {
        if !self.exists(name)? {
            return Ok(None);
        }
        let info = self.client.get(&format!("/collections/{name}"))?;
        Ok(info["config"]["params"]["vectors"]["size"].as_u64().map(|n| n as usize))
    }

    /// Makes the collection with its payload indexes, unless it exists.
    fn ensure(&self, kind: Kind, model: &str, dimension: usize) -> Result<String, StoreError> {
        let name = self.collection(kind, model, dimension);
        if self.exists(&name)? {
            return Ok(name);
        }
        let created = self.client.put(
            &format!("/collections/{name}"),
            &json!({
                "vectors": {"size": dimension, "distance": "Cosine"},
                "sparse_vectors": {SPARSE: {"modifier": "idf"}},
                // One graph per vault (the tenant field), none across vaults.
                "hnsw_config": {"m": 0, "payload_m": 16},
            }),
        );
        match created {
            Ok(_) => {}
            // Another node made it meanwhile.
            Err(StoreError::Database { reason, .. }) if reason.contains("already exists") => {}
            Err(e) => return Err(e),
        }
        let mut fields: Vec<(&str, Value)> = vec![("vault", json!({"type": "keyword", "is_tenant": true}))];
        match kind {
            Kind::Chunks => {
                fields.push(("doc", json!("integer")));
                fields.push(("source", json!("keyword")));
            }
            Kind::Memories => {
                for key in ["user", "agent", "session", "tags"] {
                    fields.push((key, json!("keyword")));
                }
                fields.push(("created_ms", json!("integer")));
                fields.push(("expires_ms", json!("integer")));
            }
        }
        for (field, schema) in fields {
            self.client.put(
                &format!("/collections/{name}/index?wait=true"),
                &json!({"field_name": field, "field_schema": schema}),
            )?;
        }
        self.known().insert(name.clone());
        Ok(name)
    }

    /// Our collections of `kind`, whatever the model.
    fn collections(&self, kind: Kind) -> Result<Vec<String>, StoreError> {
        let start = format!("{}{}_", self.prefix, kind.as_str());
        let listed = self.client.get("/collections")?;
        Ok(listed["collections"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|c| c["name"].as_str())
                    .filter(|n| n.starts_with(&start))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    fn upsert(&self, collection: &str, points: Vec<Value>) -> Result<(), StoreError> {
        if points.is_empty() {
            return Ok(());
        }
        self.client.put(&format!("/collections/{collection}/points?wait=true"), &json!({"points": points}))?;
        Ok(())
    }

    /// Deletes the points `selector` picks from one collection (nothing when it does not exist).
    fn delete_in(&self, collection: &str, selector: Value) -> Result<(), StoreError> {
        if self.exists(collection)? {
            self.client.post(&format!("/collections/{collection}/points/delete?wait=true"), &selector)?;
        }
        Ok(())
    }

    /// Deletes the points `selector` picks from every collection of `kind` (a vault's rebuild or
    /// deletion, whatever models made its points).
    fn delete_where(&self, kind: Kind, selector: Value) -> Result<(), StoreError> {
        for name in self.collections(kind)? {
            self.client.post(&format!("/collections/{name}/points/delete?wait=true"), &selector)?;
        }
        Ok(())
    }

    /// Runs a query on a collection; `None` when the collection does not exist (yet: the
    /// reconciler fills it; PostgreSQL answers meanwhile).
    fn query(&self, collection: &str, body: &Value) -> Result<Option<Vec<Scored>>, StoreError> {
        if !self.exists(collection)? {
            return Ok(None);
        }
        let answer = self.client.post(&format!("/collections/{collection}/points/query"), body)?;
        Ok(Some(
            answer["points"]
                .as_array()
                .map(|points| {
                    points
                        .iter()
                        .filter_map(|p| Some(Scored { id: p["id"].as_i64()?, score: p["score"].as_f64()? as f32 }))
                        .collect()
                })
                .unwrap_or_default(),
        ))
    }

    /// Nearest points meeting `must`.
    fn nearest(
        &self,
        collection: &str,
        query: &[f32],
        limit: usize,
        must: Vec<Value>,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        self.query(
            collection,
            &json!({"query": query, "filter": {"must": must}, "limit": limit, "with_payload": false}),
        )
    }
}

/// The hybrid query: dense and sparse prefetches of the candidates meeting `must`, fused by
/// reciprocal rank. Every fused point comes back (at most twice the candidates, ids only), so
/// [`ranked`] can order ties as the engine does before keeping the limit. `None` when
/// Qdrant's fusion cannot use the engine's constant (a fraction or a negative number).
fn hybrid_body(query: &HybridQuery<'_>, sparse: &SparseVector, must: Vec<Value>) -> Option<Value> {
    let k = query.rrf_k;
    if !(k >= 0.0 && k.fract() == 0.0 && k < 1e6) {
        return None;
    }
    let filter = json!({"must": must});
    Some(json!({
        "prefetch": [
            {"query": query.vector, "filter": filter, "limit": query.candidates},
            {"query": {"indices": sparse.indices, "values": sparse.values}, "using": SPARSE,
             "filter": filter, "limit": query.candidates},
        ],
        "query": {"rrf": {"k": k as u64 + 1}},
        "filter": filter,
        "limit": query.candidates.saturating_mul(2),
        "with_payload": false,
    }))
}

/// Fused points best first, ties by id (as the engine breaks them), cut at `limit`.
fn ranked(hits: Option<Vec<Scored>>, limit: usize) -> Option<Vec<Scored>> {
    hits.map(|mut hits| {
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(limit);
        hits
    })
}

/// A point's vectors: the dense one (unnamed) and, when it has terms, the sparse one.
fn point_vectors(dense: &[f32], sparse: &SparseVector) -> Value {
    if sparse.is_empty() {
        json!({"": dense})
    } else {
        json!({"": dense, SPARSE: {"indices": sparse.indices, "values": sparse.values}})
    }
}

/// The metadata conditions of a chunk filter; `None` when one cannot be matched exactly.
fn chunk_conditions(vault: VaultId, filter: &ChunkFilter) -> Option<Vec<Value>> {
    if filter.uri_prefix.is_some() {
        return None;
    }
    let mut must = vec![matches("vault", json!(vault_key(vault)))];
    if let Some(source) = &filter.source {
        must.push(matches("source", json!(source)));
    }
    for (key, value) in &filter.metadata {
        let plain_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let exact = match value {
            Value::String(_) | Value::Bool(_) => true,
            Value::Number(n) => n.is_i64() || n.is_u64(),
            _ => false,
        };
        if !plain_key || !exact {
            return None;
        }
        must.push(matches(&format!("meta.{key}"), value.clone()));
    }
    Some(must)
}

/// The conditions of a memory filter (every one Qdrant matches exactly), live at `now_ms`.
fn memory_conditions(vault: VaultId, filter: &MemoryFilter) -> Vec<Value> {
    let mut must = vec![matches("vault", json!(vault_key(vault)))];
    for (key, value) in [("user", &filter.user_id), ("agent", &filter.agent_id), ("session", &filter.session_id)] {
        if let Some(v) = value {
            must.push(matches(key, json!(v)));
        }
    }
    for tag in &filter.tags {
        must.push(matches("tags", json!(tag)));
    }
    let mut range = serde_json::Map::new();
    if let Some(after) = filter.created_after_ms {
        range.insert("gte".into(), json!(after));
    }
    if let Some(before) = filter.created_before_ms {
        range.insert("lt".into(), json!(before));
    }
    if !range.is_empty() {
        must.push(json!({"key": "created_ms", "range": range}));
    }
    must.push(json!({"should": [
        {"is_null": {"key": "expires_ms"}},
        {"is_empty": {"key": "expires_ms"}},
        {"key": "expires_ms", "range": {"gt": filter.now_ms}},
    ]}));
    must
}

impl VectorIndex for QdrantIndex {
    fn describe(&self) -> String {
        format!("Qdrant at {}", self.client.url())
    }

    fn check(&self) -> Result<String, StoreError> {
        let root = self.client.get_root()?;
        Ok(format!("Qdrant {}", root["version"].as_str().unwrap_or("(version unknown)")))
    }

    fn upsert_chunks(
        &self,
        vault: VaultId,
        model: &str,
        dimension: usize,
        points: &[ChunkPoint],
    ) -> Result<(), StoreError> {
        let collection = self.ensure(Kind::Chunks, model, dimension)?;
        let points = points
            .iter()
            .map(|p| {
                json!({"id": p.id, "vector": point_vectors(&p.vector, &p.terms), "payload": {
                    "vault": vault_key(vault), "doc": p.document, "source": p.source, "meta": p.metadata,
                }})
            })
            .collect();
        self.upsert(&collection, points)
    }

    fn upsert_memories(
        &self,
        vault: VaultId,
        model: &str,
        dimension: usize,
        points: &[MemoryPoint],
    ) -> Result<(), StoreError> {
        let collection = self.ensure(Kind::Memories, model, dimension)?;
        let points = points
            .iter()
            .map(|p| {
                json!({"id": p.id, "vector": point_vectors(&p.vector, &p.terms), "payload": {
                    "vault": vault_key(vault), "user": p.user_id, "agent": p.agent_id, "session": p.session_id,
                    "tags": p.tags, "created_ms": p.created_ms, "expires_ms": p.expires_ms,
                }})
            })
            .collect();
        self.upsert(&collection, points)
    }

    fn delete_document(&self, vault: VaultId, model: &str, dimension: usize, document: i64) -> Result<(), StoreError> {
        let filter = json!({"must": [matches("vault", json!(vault_key(vault))), matches("doc", json!(document))]});
        self.delete_in(&self.collection(Kind::Chunks, model, dimension), json!({"filter": filter}))
    }

    fn delete_memories(&self, _vault: VaultId, model: &str, dimension: usize, ids: &[i64]) -> Result<(), StoreError> {
        self.delete_in(&self.collection(Kind::Memories, model, dimension), json!({"points": ids}))
    }

    fn delete_vault(&self, vault: VaultId) -> Result<(), StoreError> {
        let selector = json!({"filter": {"must": [matches("vault", json!(vault_key(vault)))]}});
        self.delete_where(Kind::Chunks, selector.clone())?;
        self.delete_where(Kind::Memories, selector)
    }

    fn search_chunks(
        &self,
        vault: VaultId,
        model: &str,
        query: &[f32],
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        let Some(must) = chunk_conditions(vault, filter) else { return Ok(None) };
        self.nearest(&self.collection(Kind::Chunks, model, query.len()), query, limit, must)
    }

    fn search_memories(
        &self,
        vault: VaultId,
        model: &str,
        query: &[f32],
        limit: usize,
        filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        let collection = self.collection(Kind::Memories, model, query.len());
        self.nearest(&collection, query, limit, memory_conditions(vault, filter))
    }

    fn hybrid_chunks(
        &self,
        vault: VaultId,
        model: &str,
        query: &HybridQuery<'_>,
        sparse: &SparseVector,
        filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        let Some(must) = chunk_conditions(vault, filter) else { return Ok(None) };
        let Some(body) = hybrid_body(query, sparse, must) else { return Ok(None) };
        Ok(ranked(self.query(&self.collection(Kind::Chunks, model, query.vector.len()), &body)?, query.limit))
    }

    fn hybrid_memories(
        &self,
        vault: VaultId,
        model: &str,
        query: &HybridQuery<'_>,
        sparse: &SparseVector,
        filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        let Some(body) = hybrid_body(query, sparse, memory_conditions(vault, filter)) else { return Ok(None) };
        Ok(ranked(self.query(&self.collection(Kind::Memories, model, query.vector.len()), &body)?, query.limit))
    }

    fn stats(&self) -> trove_store::ExternalIndexStats {
        let c = self.client.counters();
        trove_store::ExternalIndexStats {
            backend: "qdrant".into(),
            requests: c.requests,
            retries: c.retries,
            failures: c.failures,
            circuit_open: self.client.circuit_open(),
            pending: None,
        }
    }

    fn point_ids(&self, vault: VaultId, kind: Kind, model: &str, dimension: usize) -> Result<Vec<i64>, StoreError> {
        let collection = self.collection(kind, model, dimension);
        if !self.exists(&collection)? {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        let mut offset = Value::Null;
        loop {
            let page = self.client.post(
                &format!("/collections/{collection}/points/scroll"),
                &json!({"filter": {"must": [matches("vault", json!(vault_key(vault)))]}, "limit": SCROLL_PAGE,
                        "offset": offset, "with_payload": false, "with_vector": false}),
            )?;
            ids.extend(page["points"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_i64()));
            offset = page["next_page_offset"].clone();
            if offset.is_null() {
                return Ok(ids);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_qdrant_cannot_match_exactly_fall_back() {
        let plain = ChunkFilter {
            source: Some("docs".into()),
            uri_prefix: None,
            metadata: vec![("team".into(), json!("ops"))],
        };
        let must = chunk_conditions(7, &plain).expect("expressible");
        assert_eq!(must.len(), 3);
        assert_eq!(must[2], json!({"key": "meta.team", "match": {"value": "ops"}}));
        for bad in [
            ChunkFilter { uri_prefix: Some("a/".into()), ..Default::default() },
            ChunkFilter { metadata: vec![("score".into(), json!(0.5))], ..Default::default() },
            ChunkFilter { metadata: vec![("a.b".into(), json!("x"))], ..Default::default() },
        ] {
            assert_eq!(chunk_conditions(7, &bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hybrid_queries_fuse_with_the_engines_constant_and_return_every_candidate() {
        let sparse = SparseVector { indices: vec![3, 9], values: vec![1.0, 1.0] };
        let q = HybridQuery { text: "x", vector: &[0.6, 0.8], candidates: 50, limit: 10, rrf_k: 60.0 };
        let body = hybrid_body(&q, &sparse, vec![matches("vault", json!("7"))]).expect("expressible");
        assert_eq!(body["query"], json!({"rrf": {"k": 61}}), "Qdrant counts ranks from 0");
        assert_eq!(body["limit"], 100);
        assert_eq!(body["prefetch"][1]["using"], "bm25");
        assert_eq!(body["prefetch"][1]["query"]["indices"], json!([3, 9]));
        assert_eq!(body["prefetch"][0]["filter"], body["prefetch"][1]["filter"]);
        for k in [60.5, -1.0, f32::NAN, f32::INFINITY] {
            assert_eq!(hybrid_body(&HybridQuery { rrf_k: k, ..q }, &sparse, vec![]), None, "{k}");
        }
        let ties = vec![Scored { id: 9, score: 0.5 }, Scored { id: 2, score: 0.5 }, Scored { id: 5, score: 0.9 }];
        let ids: Vec<i64> = ranked(Some(ties), 2).unwrap().iter().map(|s| s.id).collect();
        assert_eq!(ids, [5, 2], "ties by id, then the limit");
        assert_eq!(point_vectors(&[1.0], &SparseVector::default()), json!({"": [1.0]}), "no empty sparse vector");
    }

    #[test]
    fn collections_are_per_kind_and_model() {
        let index = QdrantIndex::new(
            Client::new(ClientOptions {
                url: "http://127.0.0.1:1".into(),
                api_key: None,
                timeout: std::time::Duration::from_secs(1),
                max_retries: 0,
                retry_delay: std::time::Duration::from_millis(10),
                breaker_cooldown: std::time::Duration::from_secs(5),
                clock: trove_clock::system(),
            }),
            "trove_",
        );
        let a = index.collection(Kind::Chunks, "trove/minilm", 384);
        assert!(a.starts_with("trove_chunks_trove-minilm_384_"), "{a}");
        assert_ne!(a, index.collection(Kind::Chunks, "trove/minilm2", 384));
        assert_ne!(a, index.collection(Kind::Memories, "trove/minilm", 384));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    }
}
