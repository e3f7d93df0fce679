//! Reading beyond a search hit: the chunks around a hit in its document (neighbours, or its
//! whole section), the documents most like a hit's (a semantic search with the document's
//! opening as the query, the document itself left out), and a vault's ingest status (counts,
//! sources with their last syncs, and, for callers that may see jobs, its recent and failed
//! jobs). Their limits are checked here, once for every transport.

use std::collections::HashSet;

use trove_types::{
    ChunkContext, ContextChunk, ContextDocument, ContextRequest, DocumentDetail, IngestStatus, Job, JobBrief,
    SearchMode, SimilarDocument, SimilarDocuments, SimilarRequest,
};

use crate::access::{Access, perm};
use crate::jobs::JobQuery;
use crate::{ChunkFilter, Engine, EngineError, SearchRequest};

/// Most chunks read on either side of a hit.
pub const MAX_CONTEXT_CHUNKS: usize = 20;
/// Neighbours read on each side of a hit unless asked otherwise.
const DEFAULT_CONTEXT_CHUNKS: usize = 2;
/// Most similar documents answered.
pub const MAX_SIMILAR_DOCUMENTS: usize = 20;
/// Similar documents answered unless asked otherwise.
const DEFAULT_SIMILAR_DOCUMENTS: usize = 5;
/// Jobs an ingest status lists, of each kind.
const STATUS_JOBS: usize = 20;

fn bad(msg: String) -> EngineError {
    EngineError::BadRequest(msg)
}

/// `value` (or `default`) when it lies in `min..=max`; otherwise what the field must be.
fn within(field: &str, value: Option<usize>, default: usize, (min, max): (usize, usize)) -> Result<usize, EngineError> {
    match value.unwrap_or(default) {
        n if (min..=max).contains(&n) => Ok(n),
        n => Err(bad(format!("{field}: must be between {min} and {max}, got {n}"))),
    }
}

fn context_document(doc: &DocumentDetail) -> ContextDocument {
    ContextDocument {
        id: doc.document.id,
        uri: doc.document.uri.clone(),
        title: doc.document.title.clone(),
        source: doc.document.source.clone(),
    }
}

fn brief(j: Job) -> JobBrief {
    JobBrief {
        id: j.id,
        kind: j.kind,
        status: j.status,
        created_at: j.created_at,
        finished_at: j.finished_at,
        error: j.error.map(|e| e.message),
        result: j.result,
    }
}

impl Engine {
    /// The document of the vault holding chunk `chunk`, and the chunk's index. A chunk of
    /// another vault is as absent as one that does not exist.
    fn document_of(&self, vault: &str, chunk: i64) -> Result<(DocumentDetail, u32), EngineError> {
        let not_found = || EngineError::ChunkNotFound { vault: vault.to_string(), id: chunk };
        // An unknown vault is reported as such, before looking for the chunk (and without
        // writing: a read-only engine answers too).
        self.overview(vault)?;
        let record = self.store.chunks(&[chunk])?.into_iter().next().ok_or_else(not_found)?;
        let doc = self.document_in(vault, &record.document_id.to_string()).map_err(|e| match e {
            EngineError::DocumentNotFound { .. } => not_found(),
            other => other,
        })?;
        Ok((doc, record.index))
    }

    /// The chunks around chunk `chunk` in its document, in order: `before` and `after`
    /// neighbours (default 2 each, at most [`MAX_CONTEXT_CHUNKS`]), or with `section` every
    /// chunk under the hit's heading.
    pub fn chunk_context(
        &self,
        access: &Access<perm::Search>,
        chunk: i64,
        req: &ContextRequest,
    ) -> Result<ChunkContext, EngineError> {
        let bounds = (0, MAX_CONTEXT_CHUNKS);
        let before = within("before", req.before, DEFAULT_CONTEXT_CHUNKS, bounds)?;
        let after = within("after", req.after, DEFAULT_CONTEXT_CHUNKS, bounds)?;
        let section = req.section.unwrap_or(false);
        let (doc, hit) = self.document_of(access.vault(), chunk)?;
        let hit = hit as usize;
        let hit_heading = doc.chunks.iter().find(|c| c.id == chunk).map(|c| c.heading_path.clone()).unwrap_or_default();
        let chunks = doc
            .chunks
            .iter()
            .filter(|c| {
                if section {
                    c.heading_path.starts_with(&hit_heading)
                } else {
                    let i = c.index as usize;
                    i + before >= hit && i <= hit + after
                }
            })
            .map(|c| ContextChunk {
                chunk_id: c.id,
                index: c.index,
                heading_path: c.heading_path.clone(),
                text: c.text.clone(),
                is_hit: c.id == chunk,
            })
            .collect();
        Ok(ChunkContext { document: context_document(&doc), chunks })
    }

    /// Other documents about the same thing as chunk `chunk`'s document, best first (default
    /// 5, at most [`MAX_SIMILAR_DOCUMENTS`]): a semantic search with the document's opening
    /// chunk, one answer per document.
    pub fn similar_documents(
        &self,
        access: &Access<perm::Search>,
        chunk: i64,
        req: &SimilarRequest,
    ) -> Result<SimilarDocuments, EngineError> {
        let limit = within("limit", req.limit, DEFAULT_SIMILAR_DOCUMENTS, (1, MAX_SIMILAR_DOCUMENTS))?;
        let (doc, _) = self.document_of(access.vault(), chunk)?;
        let first = doc.chunks.first().ok_or_else(|| bad(format!("document {} has no text", doc.document.id)))?;
        let query = crate::embedding_input(&doc.document.title, &first.heading_path, &first.text);
        let response = self.search(
            access,
            &SearchRequest {
                query,
                mode: Some(SearchMode::Semantic),
                // Enough chunks that `limit` other documents remain after the document's own.
                limit: Some((limit * 4 + doc.chunks.len()).min(200)),
                filter: ChunkFilter::default(),
                ..SearchRequest::default()
            },
        )?;
        let mut seen = HashSet::new();
        seen.insert((doc.document.source.clone(), doc.document.uri.clone()));
        let similar = response
            .hits
            .into_iter()
            .filter(|h| seen.insert((h.source.clone(), h.uri.clone())))
            .take(limit)
            .map(|h| SimilarDocument {
                uri: h.uri,
                title: h.title,
                source: h.source,
                score: h.score,
                chunk_id: h.chunk_id,
                heading_path: h.heading_path,
                text: h.text,
            })
            .collect();
        Ok(SimilarDocuments { document: context_document(&doc), similar })
    }

    /// How fresh a vault is: its counts and sources, and its recent and failed jobs when the
    /// caller may see jobs (decided at the access boundary, like any call).
    pub fn ingest_status(&self, access: &Access<perm::Search>) -> Result<IngestStatus, EngineError> {
        let mut status = IngestStatus {
            vault: self.vault_overview(access)?,
            sources: self.vault_sources(access)?,
            recent_jobs: None,
            failed_jobs: None,
            jobs: None,
        };
        if self.authorize::<perm::Jobs>(access.principal(), access.vault()).is_err() {
            status.jobs = Some("not shown: this API key or session lacks the `jobs` action".into());
            return Ok(status);
        }
        let query = |status: Option<&str>| JobQuery {
            status: status.map(str::to_string),
            vault: Some(access.vault().to_string()),
            limit: Some(STATUS_JOBS),
            ..JobQuery::default()
        };
        let jobs = |q: JobQuery| -> Result<Vec<JobBrief>, EngineError> {
            Ok(self.list_jobs(&q)?.jobs.into_iter().map(brief).collect())
        };
        status.recent_jobs = Some(jobs(query(None))?);
        status.failed_jobs = Some(jobs(query(Some("dead")))?);
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_name_the_field_and_the_range() {
        assert_eq!(within("before", None, 2, (0, 20)).unwrap(), 2);
        assert_eq!(within("before", Some(20), 2, (0, 20)).unwrap(), 20);
        let e = within("limit", Some(0), 5, (1, 20)).unwrap_err().to_string();
        assert_eq!(e, "limit: must be between 1 and 20, got 0");
        assert!(within("after", Some(21), 2, (0, 20)).is_err());
    }
}
