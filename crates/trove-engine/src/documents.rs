//! Vaults and documents as listed by the transports: every vault (configured or stored) with
//! its counts, a vault's documents in cursor pages, one document with its chunks, and deleting
//! a document with everything derived from it.

use trove_config::SourceConfig;
use trove_store::DocumentRecord;
use trove_types::{
    DocumentChunk, DocumentDetail, DocumentPage, DocumentSummary, Reembedding, SourceSummary, SourceSync, VaultSummary,
};

use crate::access::{Access, perm};
use crate::memory::format_ms;
use crate::{Engine, EngineError};

/// Largest page of documents.
pub const MAX_DOCUMENT_LIMIT: usize = 1000;

fn summary(d: DocumentRecord) -> DocumentSummary {
    DocumentSummary {
        id: d.id,
        source: d.source,
        uri: d.uri,
        // The stored hash carries the chunking fingerprint after `;` (see ingest); the
        // content's own hash is what clients compare.
        content_hash: d.content_hash.split(';').next().unwrap_or_default().to_string(),
        title: d.title,
        chunks: d.chunks,
        tokens: d.tokens,
        indexed_at: d.indexed_at,
        modified_at: d.modified_unix_ms.map(format_ms),
    }
}

/// A cursor that is a row id (documents, jobs): a non-negative integer.
pub(crate) fn parse_row_cursor(c: &str) -> Result<i64, EngineError> {
    c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        EngineError::BadRequest(format!(
            "cursor: `{c}` is not a cursor this server issued; pass `next_cursor` from the previous page"
        ))
    })
}

/// Document ids are numbers; anything else names no document.
fn parse_id(vault: &str, id: &str) -> Result<i64, EngineError> {
    id.parse::<i64>().map_err(|_| EngineError::DocumentNotFound { vault: vault.to_string(), id: id.to_string() })
}

impl Engine {
    /// One vault with its counts; a configured vault that was never used has zero counts.
    pub fn vault_overview(&self, access: &Access<perm::Search>) -> Result<VaultSummary, EngineError> {
        self.overview(access.vault())
    }

    /// [`Engine::vault_overview`] of a vault by name.
    pub(crate) fn overview(&self, name: &str) -> Result<VaultSummary, EngineError> {
        let configured = self.workspace.config.vaults.contains_key(name);
        let target = self.vault_spec(name);
        match self.store.vault(name)? {
            Some(v) => {
                let stats = self.store.vault_stats(v.id)?;
                Ok(VaultSummary {
                    name: v.name,
                    model: v.model_id,
                    dimension: v.dimension,
                    documents: stats.documents,
                    chunks: stats.chunks,
                    configured,
                    configured_model: target.model_id,
                    configured_dimension: target.dimension,
                    reembedding: v.restaging.map(|(model, dimension)| Reembedding {
                        model,
                        dimension,
                        staged_chunks: stats.staged_vectors,
                        chunks: stats.chunks,
                    }),
                })
            }
            None if configured => Ok(VaultSummary {
                name: name.to_string(),
                model: None,
                dimension: None,
                documents: 0,
                chunks: 0,
                configured,
                configured_model: target.model_id,
                configured_dimension: target.dimension,
                reembedding: None,
            }),
            None => Err(EngineError::VaultNotFound { name: name.to_string(), known: self.vault_names()? }),
        }
    }

    /// A vault's sources: the configured ones, then any other source that still has
    /// documents (`uploads`, or one removed from the configuration but not yet re-ingested).
    pub fn vault_sources(&self, access: &Access<perm::Search>) -> Result<Vec<SourceSummary>, EngineError> {
        let vault = access.vault();
        let config = self.workspace.config.vaults.get(vault);
        let stored = self.store.vault(vault)?;
        if config.is_none() && stored.is_none() {
            return Err(EngineError::VaultNotFound { name: vault.to_string(), known: self.vault_names()? });
        }
        let count = |source: &str| -> Result<u64, EngineError> {
            Ok(match &stored {
                Some(v) => self.store.document_states(v.id, source)?.len() as u64,
                None => 0,
            })
        };
        let syncs: Vec<(String, i64, String)> = match &stored {
            Some(v) => self.store.source_syncs(v.id)?,
            None => Vec::new(),
        };
        let last_sync = |source: &str| -> Option<SourceSync> {
            let (_, at, summary) = syncs.iter().find(|(s, _, _)| s == source)?;
            let v: serde_json::Value = serde_json::from_str(summary).ok()?;
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            Some(SourceSync {
                finished_at: crate::memory::format_ms(*at),
                added: n("added"),
                updated: n("updated"),
                deleted: n("deleted"),
                unchanged: n("unchanged"),
                failed: n("failed"),
                failures: v["failures"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            })
        };
        let mut out = Vec::new();
        for (name, source) in config.iter().flat_map(|c| c.sources.iter()) {
            let (kind, location) = match source {
                SourceConfig::Localfile(lf) => (source.kind(), lf.path.display().to_string()),
                SourceConfig::Git(g) => (source.kind(), trove_ingest::git::redact_url(&g.repo)),
                SourceConfig::Confluence(c) => (source.kind(), format!("{} space {}", c.base_url, c.space)),
                SourceConfig::Publicdocs(d) => (source.kind(), d.base_url.clone()),
                SourceConfig::Jira(j) => {
                    let what = j.project.as_ref().map_or_else(|| "query".to_string(), |p| format!("project {p}"));
                    (source.kind(), format!("{} {what}", j.base_url))
                }
            };
            out.push(SourceSummary {
                name: name.clone(),
                kind: kind.to_string(),
                location: Some(location),
                documents: count(name)?,
                configured: true,
                last_sync: last_sync(name),
            });
        }
        if let Some(v) = &stored {
            for name in self.store.sources_with_documents(v.id)? {
                if out.iter().any(|s| s.name == name) {
                    continue;
                }
                let kind = self.source_type(&v.name, &name);
                out.push(SourceSummary {
                    documents: count(&name)?,
                    last_sync: last_sync(&name),
                    name,
                    kind: kind.to_string(),
                    location: None,
                    configured: false,
                });
            }
        }
        Ok(out)
    }

    /// A page of a vault's documents in id order. `cursor` is the `next_cursor` of the
    /// previous page.
    pub fn documents_list(
        &self,
        access: &Access<perm::Search>,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<DocumentPage, EngineError> {
        let limit = limit.unwrap_or(100);
        if limit == 0 || limit > MAX_DOCUMENT_LIMIT {
            return Err(EngineError::BadRequest(format!("limit: must be between 1 and {MAX_DOCUMENT_LIMIT}")));
        }
        let after = cursor.map(parse_row_cursor).transpose()?.unwrap_or(0);
        let v = self.existing_vault(access.vault())?;
        let mut records = self.store.documents(v.id, after, limit + 1)?;
        let more = records.len() > limit;
        records.truncate(limit);
        let next_cursor = if more { records.last().map(|d| d.id.to_string()) } else { None };
        Ok(DocumentPage { documents: records.into_iter().map(summary).collect(), next_cursor })
    }

    /// One document with its metadata and chunks.
    pub fn document_get(&self, access: &Access<perm::Search>, id: &str) -> Result<DocumentDetail, EngineError> {
        self.document_in(access.vault(), id)
    }

    /// [`Engine::document_get`] in a vault by name.
    pub(crate) fn document_in(&self, vault: &str, id: &str) -> Result<DocumentDetail, EngineError> {
        let v = self.existing_vault(vault)?;
        let n = parse_id(vault, id)?;
        let record = self
            .store
            .document(v.id, n)?
            .ok_or_else(|| EngineError::DocumentNotFound { vault: vault.to_string(), id: id.to_string() })?;
        let chunks = self
            .store
            .document_chunks(record.id)?
            .into_iter()
            .map(|c| DocumentChunk {
                id: c.id,
                index: c.index,
                heading_path: c.heading_path,
                text: c.text,
                token_count: c.token_count,
            })
            .collect();
        let metadata = record.metadata.clone();
        Ok(DocumentDetail { document: summary(record), metadata, chunks })
    }

    /// Deletes a document with its chunks, vectors and keyword rows. The next ingest of its
    /// source adds it again if the source still has it.
    pub fn document_delete(&self, access: &Access<perm::DocumentsWrite>, id: &str) -> Result<(), EngineError> {
        let vault = access.vault();
        let v = self.existing_vault(vault)?;
        let n = parse_id(vault, id)?;
        let not_found = || EngineError::DocumentNotFound { vault: vault.to_string(), id: id.to_string() };
        let record = self.store.document(v.id, n)?.ok_or_else(not_found)?;
        if self.store.delete_document(v.id, &record.source, &record.uri)? { Ok(()) } else { Err(not_found()) }
    }
}
