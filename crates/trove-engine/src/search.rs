//! Search: keyword (BM25), semantic (vector) and hybrid (both, fused by
//! [`trove_store::fusion`]: reciprocal rank or relative score, with per-request weights), for
//! one query or a batch (whose queries are embedded together), and the shape of its results:
//! a page (`offset`, `limit`) of chunks or of documents (`group_by: document`: the best chunk
//! of each, with its other matching chunks), each with its neighbouring chunks on request
//! (`context: N`). Hybrid queries fused by equally weighted RRF go to the store whole first
//! ([`trove_store::DocumentStore::hybrid_search`]: Qdrant fuses its sparse and dense
//! candidates in one request); when it declines, or for any other fusion, both lists are
//! fetched and fused here.

use std::collections::HashMap;

use trove_store::fusion::{relative_score, weighted_rrf};
use trove_store::{ChunkFilter, ChunkRecord, HybridQuery, Scored, VaultInfo};
use trove_types::{
    ContextRequest, Fusion, FusionMethod, GroupBy, SearchFilters, SearchHit, SearchMode, SearchResponse,
};

use crate::access::{Access, perm};
use crate::explore::MAX_CONTEXT_CHUNKS;
use crate::highlight::snippet;
use crate::{Engine, EngineError};

/// One search (of the vault its [`Access`] names); the fields beside `query` are those of
/// [`SearchSettings`].
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// The query text (not empty).
    pub query: String,
    /// Mode (default from config).
    pub mode: Option<SearchMode>,
    /// Hits wanted (default from config).
    pub limit: Option<usize>,
    /// Restrictions.
    pub filter: ChunkFilter,
    /// Hits skipped before the page (default 0).
    pub offset: Option<usize>,
    /// One hit per chunk (default) or per document.
    pub group_by: GroupBy,
    /// Chunks shown before and after each hit.
    pub context: Option<usize>,
    /// Hybrid fusion (defaults from config).
    pub fusion: Fusion,
}

impl SearchRequest {
    /// Its settings, for [`Engine::search_batch`].
    pub fn settings(&self) -> SearchSettings {
        SearchSettings {
            mode: self.mode,
            limit: self.limit,
            offset: self.offset,
            filter: self.filter.clone(),
            group_by: self.group_by,
            context: self.context,
            fusion: self.fusion,
        }
    }
}

/// How a search (or each query of a batch) is run and its results shaped.
#[derive(Debug, Clone, Default)]
pub struct SearchSettings {
    /// Mode (default from config).
    pub mode: Option<SearchMode>,
    /// Hits wanted (default from config).
    pub limit: Option<usize>,
    /// Hits skipped before the page (default 0).
    pub offset: Option<usize>,
    /// Restrictions.
    pub filter: ChunkFilter,
    /// One hit per chunk (default) or per document.
    pub group_by: GroupBy,
    /// Chunks shown before and after each hit (0 to [`MAX_CONTEXT_CHUNKS`], default none).
    pub context: Option<usize>,
    /// Hybrid fusion (defaults from config).
    pub fusion: Fusion,
}

/// The store's filter of the restrictions a transport was given.
pub fn chunk_filter(filters: SearchFilters) -> ChunkFilter {
    ChunkFilter {
        source: filters.source,
        uri_prefix: filters.uri_prefix,
        metadata: filters.metadata.unwrap_or_default().into_iter().collect(),
    }
}

/// Largest `limit` accepted.
pub const MAX_LIMIT: usize = 1000;
/// Largest `offset + limit` accepted (the deepest a ranking is read).
pub const MAX_DEPTH: usize = 10_000;

/// `limit` when it is between 1 and [`MAX_LIMIT`], else what to ask for.
pub(crate) fn check_limit(limit: usize) -> Result<usize, EngineError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(EngineError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}, got {limit}")));
    }
    Ok(limit)
}

/// Metadata filters name top-level keys and compare with strings, numbers or booleans.
fn check_metadata_filter(filter: &ChunkFilter) -> Result<(), EngineError> {
    for (key, value) in &filter.metadata {
        if key.is_empty() || key.len() > 128 || key.contains(['"', '\\']) || key.chars().any(char::is_control) {
            return Err(EngineError::BadRequest(format!(
                "filters.metadata: `{key}` is not a usable key; use a top-level metadata key such as `team` (no quotes or backslashes, at most 128 bytes)"
            )));
        }
        if !(value.is_string() || value.is_number() || value.is_boolean()) {
            return Err(EngineError::BadRequest(format!(
                "filters.metadata.{key}: {value} is not a string, number or boolean; a document matches when its `{key}` equals the value or is an array containing it"
            )));
        }
    }
    Ok(())
}

/// A request's fusion, its defaults filled from config and its weight checked.
fn fusion_of(req: Fusion, config: &trove_config::SearchConfig) -> Result<(FusionMethod, f32), EngineError> {
    let weight = req.keyword_weight.unwrap_or(config.keyword_weight);
    if !(0.0..=1.0).contains(&weight) {
        return Err(EngineError::BadRequest(format!(
            "fusion.keyword_weight: must be between 0 and 1 (0.5 weighs keywords and vectors equally), got {weight}"
        )));
    }
    Ok((req.method.unwrap_or(config.fusion), weight))
}

/// Fuses a keyword and a vector ranking: weights `2w` and `2(1 − w)` for RRF (so 0.5 is
/// plain RRF), `w` and `1 − w` for relative scores.
fn fuse(keyword: &[Scored], semantic: &[Scored], (method, w): (FusionMethod, f32), rrf_k: f32) -> Vec<Scored> {
    match method {
        FusionMethod::Rrf => weighted_rrf(&[(keyword, 2.0 * w), (semantic, 2.0 * (1.0 - w))], rrf_k),
        FusionMethod::RelativeScore => relative_score(&[(keyword, w), (semantic, 1.0 - w)]),
    }
}

/// A document's web address: the `url` its connector recorded, or its URI when that is one.
fn document_url(uri: &str, metadata: &serde_json::Value) -> Option<String> {
    match metadata.get("url").and_then(|u| u.as_str()) {
        Some(url) if !url.is_empty() => Some(url.to_string()),
        _ => (uri.starts_with("https://") || uri.starts_with("http://")).then(|| uri.to_string()),
    }
}

/// Chunks grouped by document, in the order of each document's best chunk.
struct DocumentGroup {
    best: Scored,
    others: Vec<i64>,
}

fn group_by_document(scored: &[Scored], records: &HashMap<i64, ChunkRecord>) -> Vec<DocumentGroup> {
    let mut groups: Vec<DocumentGroup> = Vec::new();
    let mut at: HashMap<i64, usize> = HashMap::new();
    for s in scored {
        let Some(r) = records.get(&s.id) else { continue };
        match at.get(&r.document_id) {
            Some(&i) => groups[i].others.push(s.id),
            None => {
                at.insert(r.document_id, groups.len());
                groups.push(DocumentGroup { best: *s, others: Vec::new() });
            }
        }
    }
    groups
}

impl Engine {
    /// Answers one query.
    pub fn search(&self, access: &Access<perm::Search>, req: &SearchRequest) -> Result<SearchResponse, EngineError> {
        let mut out = self.search_batch(access, &req.settings(), std::slice::from_ref(&req.query))?;
        out.pop().ok_or_else(|| EngineError::Internal("empty batch result".into()))
    }

    /// Answers many queries with the same settings; semantic and hybrid modes embed all
    /// queries in one batch.
    pub fn search_batch(
        &self,
        access: &Access<perm::Search>,
        settings: &SearchSettings,
        queries: &[String],
    ) -> Result<Vec<SearchResponse>, EngineError> {
        let config = &self.workspace.config.search;
        let mode = settings.mode.unwrap_or(config.default_mode);
        let limit = check_limit(settings.limit.unwrap_or(config.default_limit))?;
        let offset = settings.offset.unwrap_or(0);
        if offset + limit > MAX_DEPTH {
            return Err(EngineError::BadRequest(format!(
                "offset + limit must be at most {MAX_DEPTH}, got {offset} + {limit}: narrow the query or its filters instead of paging this deep"
            )));
        }
        let context = settings.context.unwrap_or(0);
        if context > MAX_CONTEXT_CHUNKS {
            return Err(EngineError::BadRequest(format!(
                "context: must be between 0 and {MAX_CONTEXT_CHUNKS} chunks on each side of a hit, got {context}"
            )));
        }
        let fusion = fusion_of(settings.fusion, config)?;
        let filter = &settings.filter;
        check_metadata_filter(filter)?;
        if queries.iter().any(|q| q.trim().is_empty()) {
            return Err(EngineError::BadRequest("query: must not be empty; give some words to search for".into()));
        }
        // A page of chunks reads the ranking to its end; a page of documents reads a fixed
        // depth, so that every page of a query is a slice of the same ranking.
        let depth = match settings.group_by {
            GroupBy::Chunk => offset + limit,
            GroupBy::Document => config.group_depth.max(offset + limit),
        };
        // Queries are embedded by the vault's model and compared with its vectors under the
        // lock a re-embed's switch takes, so a search never straddles the switch.
        let _vectors = (mode != SearchMode::Keyword).then(|| self.vectors.read().unwrap_or_else(|e| e.into_inner()));
        let vault = self.search_vault(access.vault())?;
        let vectors = match mode {
            SearchMode::Keyword => None,
            SearchMode::Semantic | SearchMode::Hybrid => {
                let embedder = self.vault_embedder(&vault)?;
                let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
                Some(embedder.embed(&refs)?)
            }
        };
        let candidates = config.candidates.max(depth);
        let mut out = Vec::with_capacity(queries.len());
        for (i, query) in queries.iter().enumerate() {
            let vector = vectors.as_ref().map(|v| v[i].as_slice());
            let scored = match mode {
                SearchMode::Keyword => self.store.keyword_search(vault.id, query, depth, filter)?,
                SearchMode::Semantic => {
                    self.store.vector_search(vault.id, vector.unwrap_or_default(), depth, filter)?
                }
                SearchMode::Hybrid => {
                    let vector = vector.unwrap_or_default();
                    let one_step = HybridQuery { text: query, vector, candidates, limit: depth, rrf_k: config.rrf_k };
                    // A backend that holds both kinds of vectors fuses them in one request, by
                    // equally weighted RRF only.
                    let plain_rrf = fusion == (FusionMethod::Rrf, 0.5);
                    match plain_rrf.then(|| self.store.hybrid_search(vault.id, &one_step, filter)).transpose()? {
                        Some(Some(fused)) => fused,
                        _ => {
                            let keyword = self.store.keyword_search(vault.id, query, candidates, filter)?;
                            let semantic = self.store.vector_search(vault.id, vector, candidates, filter)?;
                            let mut fused = fuse(&keyword, &semantic, fusion, config.rrf_k);
                            fused.truncate(depth);
                            fused
                        }
                    }
                }
            };
            let hits = self.page(access, &vault, query, &scored, settings.group_by, (offset, limit), context)?;
            out.push(SearchResponse { query: query.clone(), mode, hits });
        }
        Ok(out)
    }

    /// The stored vault a search reads (a configured vault never ingested has no index yet).
    pub(crate) fn search_vault(&self, name: &str) -> Result<VaultInfo, EngineError> {
        let name = name.to_string();
        match self.store.vault(&name)? {
            Some(v) => Ok(v),
            None if self.workspace.config.vaults.contains_key(&name) => Err(EngineError::VaultEmpty { name }),
            None => Err(EngineError::VaultNotFound { name, known: self.vault_names()? }),
        }
    }

    /// The hits of one page of a ranking: chunks, or documents by their best chunk; with
    /// their neighbours when `context` is above 0.
    #[allow(clippy::too_many_arguments)]
    fn page(
        &self,
        access: &Access<perm::Search>,
        vault: &VaultInfo,
        query: &str,
        scored: &[Scored],
        group_by: GroupBy,
        (offset, limit): (usize, usize),
        context: usize,
    ) -> Result<Vec<SearchHit>, EngineError> {
        let (page, records, others): (Vec<Scored>, _, _) = match group_by {
            GroupBy::Chunk => {
                let page: Vec<Scored> = scored.iter().skip(offset).take(limit).copied().collect();
                let ids: Vec<i64> = page.iter().map(|s| s.id).collect();
                (page, self.records(&ids)?, None)
            }
            GroupBy::Document => {
                // Every ranked chunk's document is needed to group them.
                let ids: Vec<i64> = scored.iter().map(|s| s.id).collect();
                let records = self.records(&ids)?;
                let groups: Vec<DocumentGroup> =
                    group_by_document(scored, &records).into_iter().skip(offset).take(limit).collect();
                let page = groups.iter().map(|g| g.best).collect();
                let others: HashMap<i64, Vec<i64>> = groups.into_iter().map(|g| (g.best.id, g.others)).collect();
                (page, records, Some(others))
            }
        };
        let mut hits = Vec::with_capacity(page.len());
        // Each document's metadata once per page.
        let mut documents: HashMap<i64, serde_json::Value> = HashMap::new();
        for s in &page {
            let Some(r) = records.get(&s.id) else { continue };
            let metadata = match documents.entry(r.document_id) {
                std::collections::hash_map::Entry::Occupied(known) => known.get().clone(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let stored = self.store.document(vault.id, r.document_id)?;
                    slot.insert(stored.map(|d| d.metadata).unwrap_or_default()).clone()
                }
            };
            let other_chunk_ids = others.as_ref().map(|o| o.get(&s.id).cloned().unwrap_or_default());
            let context = if context == 0 {
                None
            } else {
                let around = ContextRequest { before: Some(context), after: Some(context), section: None };
                Some(self.chunk_context(access, s.id, &around)?.chunks)
            };
            hits.push(SearchHit {
                vault: vault.name.clone(),
                source: r.source.clone(),
                source_type: self.source_type(&vault.name, &r.source).to_string(),
                url: document_url(&r.uri, &metadata),
                metadata,
                uri: r.uri.clone(),
                title: r.title.clone(),
                heading_path: r.heading_path.clone(),
                snippet: snippet(&r.text, query, 240),
                text: r.text.clone(),
                score: s.score,
                chunk_index: r.index,
                chunk_id: r.id,
                document_id: r.document_id,
                other_chunks: other_chunk_ids.as_ref().map(Vec::len),
                other_chunk_ids,
                context,
            });
        }
        Ok(hits)
    }

    /// The kind of a vault's source, as `GET /v1/vaults/{vault}/sources` names it.
    pub(crate) fn source_type(&self, vault: &str, source: &str) -> &'static str {
        let configured = self.workspace.config.vaults.get(vault).and_then(|v| v.sources.get(source));
        match configured {
            Some(s) => s.kind(),
            None if source == trove_config::UPLOAD_SOURCE => "upload",
            None => "removed",
        }
    }

    fn records(&self, ids: &[i64]) -> Result<HashMap<i64, ChunkRecord>, EngineError> {
        Ok(self.store.chunks(ids)?.into_iter().map(|r| (r.id, r)).collect())
    }
}
