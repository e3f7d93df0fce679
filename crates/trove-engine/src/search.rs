//! Search: keyword (BM25), semantic (vector) and hybrid (both, fused by reciprocal rank), for
//! one query or a batch (whose queries are embedded together). Hybrid queries go to the store
//! whole first ([`trove_store::DocumentStore::hybrid_search`]: Qdrant fuses its sparse and dense
//! candidates in one request); when it declines, both lists are fetched and fused here.

use std::collections::HashMap;

use trove_store::fusion::rrf;
use trove_store::{ChunkFilter, HybridQuery, Scored, VaultInfo};
use trove_types::{SearchFilters, SearchHit, SearchMode, SearchResponse};

use crate::access::{Access, perm};
use crate::highlight::snippet;
use crate::{Engine, EngineError};

/// One search (of the vault its [`Access`] names).
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

impl Engine {
    /// Answers one query.
    pub fn search(&self, access: &Access<perm::Search>, req: &SearchRequest) -> Result<SearchResponse, EngineError> {
        let mut out = self.search_batch(access, req.mode, req.limit, &req.filter, std::slice::from_ref(&req.query))?;
        out.pop().ok_or_else(|| EngineError::Internal("empty batch result".into()))
    }

    /// Answers many queries with the same settings; semantic and hybrid modes embed all
    /// queries in one batch.
    pub fn search_batch(
        &self,
        access: &Access<perm::Search>,
        mode: Option<SearchMode>,
        limit: Option<usize>,
        filter: &ChunkFilter,
        queries: &[String],
    ) -> Result<Vec<SearchResponse>, EngineError> {
        let config = &self.workspace.config.search;
        let mode = mode.unwrap_or(config.default_mode);
        let limit = limit.unwrap_or(config.default_limit);
        check_limit(limit)?;
        check_metadata_filter(filter)?;
        if queries.iter().any(|q| q.trim().is_empty()) {
            return Err(EngineError::BadRequest("query: must not be empty; give some words to search for".into()));
        }
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
        let candidates = config.candidates.max(limit);
        let mut out = Vec::with_capacity(queries.len());
        for (i, query) in queries.iter().enumerate() {
            let vector = vectors.as_ref().map(|v| v[i].as_slice());
            let scored = match mode {
                SearchMode::Keyword => self.store.keyword_search(vault.id, query, limit, filter)?,
                SearchMode::Semantic => {
                    self.store.vector_search(vault.id, vector.unwrap_or_default(), limit, filter)?
                }
                SearchMode::Hybrid => {
                    let vector = vector.unwrap_or_default();
                    let one_step = HybridQuery { text: query, vector, candidates, limit, rrf_k: config.rrf_k };
                    // A backend that holds both kinds of vectors fuses them in one request.
                    match self.store.hybrid_search(vault.id, &one_step, filter)? {
                        Some(fused) => fused,
                        None => {
                            let keyword = self.store.keyword_search(vault.id, query, candidates, filter)?;
                            let semantic = self.store.vector_search(vault.id, vector, candidates, filter)?;
                            let mut fused = rrf(&[&keyword, &semantic], config.rrf_k);
                            fused.truncate(limit);
                            fused
                        }
                    }
                }
            };
            out.push(SearchResponse { query: query.clone(), mode, hits: self.hits(&vault.name, query, &scored)? });
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

    fn hits(&self, vault: &str, query: &str, scored: &[Scored]) -> Result<Vec<SearchHit>, EngineError> {
        let ids: Vec<i64> = scored.iter().map(|s| s.id).collect();
        let records = self.store.chunks(&ids)?;
        let by_id: HashMap<i64, trove_store::ChunkRecord> = records.into_iter().map(|r| (r.id, r)).collect();
        Ok(scored
            .iter()
            .filter_map(|s| {
                let r = by_id.get(&s.id)?;
                Some(SearchHit {
                    vault: vault.to_string(),
                    source: r.source.clone(),
                    uri: r.uri.clone(),
                    title: r.title.clone(),
                    heading_path: r.heading_path.clone(),
                    snippet: snippet(&r.text, query, 240),
                    text: r.text.clone(),
                    score: s.score,
                    chunk_index: r.index,
                    chunk_id: r.id,
                    document_id: r.document_id,
                })
            })
            .collect())
    }
}
