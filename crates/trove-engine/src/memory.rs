//! Memory operations: store, get, update (re-embeds changed text), delete, list (cursor
//! pages), retrieve (hybrid, semantic or keyword within a scope), stats and purge. Input is
//! validated here, once for every transport, with messages that say what to change.

use trove_store::fusion::rrf;
use trove_store::{HybridQuery, MemoryCursor, MemoryFilter, MemoryPatch, MemoryRecord, NewMemory, VaultInfo};
use trove_types::{
    Memory, MemoryHit, MemoryInput, MemoryPage, MemoryQuery, MemoryScope, MemoryStatsResponse, MemoryUpdate, SearchMode,
};

use crate::access::{Access, perm};
use crate::{Engine, EngineError};

/// Longest memory text, in characters.
pub const MAX_MEMORY_CHARS: usize = 16_384;
/// Most tags on one memory.
pub const MAX_TAGS: usize = 32;
/// Largest page or retrieval.
pub const MAX_MEMORY_LIMIT: usize = 100;

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadRequest(msg.into())
}

/// RFC 3339 of a millisecond timestamp.
pub fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 time into milliseconds; `field` names it in the error.
pub fn parse_time(field: &str, s: &str) -> Result<i64, EngineError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| bad(format!("{field}: `{s}` is not an RFC 3339 time ({e}); write e.g. 2026-01-31T12:00:00Z")))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn check_text(text: &str) -> Result<(), EngineError> {
    if text.trim().is_empty() {
        return Err(bad("text: must not be empty"));
    }
    let n = text.chars().count();
    if n > MAX_MEMORY_CHARS {
        return Err(bad(format!(
            "text: {n} characters is more than the {MAX_MEMORY_CHARS} allowed; store a summary, or ingest long text as a document"
        )));
    }
    Ok(())
}

fn check_tags(tags: &[String]) -> Result<(), EngineError> {
    if tags.len() > MAX_TAGS {
        return Err(bad(format!("tags: {} tags is more than the {MAX_TAGS} allowed", tags.len())));
    }
    for t in tags {
        if t.trim().is_empty() || t.chars().count() > 64 {
            return Err(bad(format!("tags: `{t}` must be 1 to 64 characters")));
        }
    }
    Ok(())
}

fn check_scope_id(field: &str, v: &Option<String>) -> Result<(), EngineError> {
    if let Some(v) = v
        && (v.is_empty() || v.chars().count() > 256)
    {
        return Err(bad(format!("{field}: must be 1 to 256 characters")));
    }
    Ok(())
}

fn check_importance(i: f32) -> Result<(), EngineError> {
    if !(0.0..=1.0).contains(&i) {
        return Err(bad(format!("importance: {i} is outside 0.0–1.0")));
    }
    Ok(())
}

fn check_metadata(m: &serde_json::Value) -> Result<(), EngineError> {
    if !m.is_object() {
        return Err(bad("metadata: must be a JSON object"));
    }
    if m.to_string().len() > 65_536 {
        return Err(bad("metadata: more than 64 KiB"));
    }
    Ok(())
}

fn to_api(vault: &str, m: MemoryRecord) -> Memory {
    Memory {
        id: m.id,
        vault: vault.to_string(),
        text: m.text,
        user_id: m.user_id,
        agent_id: m.agent_id,
        session_id: m.session_id,
        tags: m.tags,
        metadata: m.metadata,
        importance: m.importance,
        created_at: format_ms(m.created_ms),
        updated_at: format_ms(m.updated_ms),
        expires_at: m.expires_ms.map(format_ms),
    }
}

fn filter(scope: &MemoryScope, now: i64) -> Result<MemoryFilter, EngineError> {
    check_scope_id("user_id", &scope.user_id)?;
    check_scope_id("agent_id", &scope.agent_id)?;
    check_scope_id("session_id", &scope.session_id)?;
    Ok(MemoryFilter {
        user_id: scope.user_id.clone(),
        agent_id: scope.agent_id.clone(),
        session_id: scope.session_id.clone(),
        tags: scope.tags.clone(),
        created_after_ms: scope.created_after.as_deref().map(|s| parse_time("created_after", s)).transpose()?,
        created_before_ms: scope.created_before.as_deref().map(|s| parse_time("created_before", s)).transpose()?,
        now_ms: now,
        kinds: Vec::new(),
        min_importance: None,
    })
}

fn encode_cursor(c: MemoryCursor) -> String {
    format!("{}.{}", c.created_ms, c.rowid)
}

fn decode_cursor(s: &str) -> Result<MemoryCursor, EngineError> {
    let err =
        || bad(format!("cursor: `{s}` is not a cursor this server issued; pass `next_cursor` from the previous page"));
    let (a, b) = s.split_once('.').ok_or_else(err)?;
    Ok(MemoryCursor { created_ms: a.parse().map_err(|_| err())?, rowid: b.parse().map_err(|_| err())? })
}

impl Engine {
    /// The vault memories go to: it must be configured or already exist; its embedder is
    /// recorded on first use.
    fn memory_vault(&self, name: &str) -> Result<VaultInfo, EngineError> {
        let vault = match self.store.vault(name)? {
            Some(v) => v,
            None if self.workspace.config.vaults.contains_key(name) => self.ensure_configured_vault(name)?,
            None => return Err(EngineError::VaultNotFound { name: name.to_string(), known: self.vault_names()? }),
        };
        if vault.model_id.is_none() {
            let spec = self.vault_spec(name);
            self.store.set_vault_embedder(vault.id, &spec.model_id, spec.dimension)?;
            return Ok(self.store.vault(name)?.unwrap_or(vault));
        }
        Ok(vault)
    }

    /// Every vault name, configured or stored (whoever asks: see [`Engine::visible_vaults`]).
    pub(crate) fn vault_names(&self) -> Result<Vec<String>, EngineError> {
        let mut known = self.configured_vaults();
        for v in self.store.vaults()? {
            if !known.contains(&v.name) {
                known.push(v.name);
            }
        }
        Ok(known)
    }

    /// `text` embedded by the model of the vault's current vectors.
    fn embed_one(&self, vault: &VaultInfo, text: &str) -> Result<Vec<f32>, EngineError> {
        let mut v = self.vault_embedder(vault)?.embed(&[text])?;
        v.pop().ok_or_else(|| EngineError::Internal("the embedder returned no vector".into()))
    }

    /// Stores a memory.
    pub fn memory_store(
        &self,
        access: &Access<perm::MemoriesWrite>,
        input: &MemoryInput,
    ) -> Result<Memory, EngineError> {
        let vault = access.vault();
        check_text(&input.text)?;
        check_tags(&input.tags)?;
        check_scope_id("user_id", &input.user_id)?;
        check_scope_id("agent_id", &input.agent_id)?;
        check_scope_id("session_id", &input.session_id)?;
        let importance = input.importance.unwrap_or(0.5);
        check_importance(importance)?;
        let metadata = input.metadata.clone().unwrap_or_else(|| serde_json::json!({}));
        check_metadata(&metadata)?;
        let now = self.now_ms();
        let expires_ms = input.expires_at.as_deref().map(|s| parse_time("expires_at", s)).transpose()?;
        if expires_ms.is_some_and(|e| e <= now) {
            return Err(bad("expires_at: is in the past; give a future time or leave it out"));
        }
        // The vault's model is read under the lock a re-embed's switch takes (see ingest).
        let _vectors = self.vector_writes()?;
        let v = self.memory_vault(vault)?;
        let vector = self.embed_one(&v, &input.text)?;
        let record = self.store.memory_put(
            v.id,
            &NewMemory {
                text: input.text.clone(),
                user_id: input.user_id.clone(),
                agent_id: input.agent_id.clone(),
                session_id: input.session_id.clone(),
                tags: input.tags.clone(),
                metadata,
                importance,
                kind: None,
                expires_ms,
                vector,
            },
            now,
        )?;
        Ok(to_api(vault, record))
    }

    /// One memory.
    pub fn memory_get(&self, access: &Access<perm::MemoriesRead>, id: &str) -> Result<Memory, EngineError> {
        let vault = access.vault();
        let v = self.existing_vault(vault)?;
        self.store
            .memory_get(v.id, id, self.now_ms())?
            .map(|m| to_api(vault, m))
            .ok_or_else(|| EngineError::MemoryNotFound { vault: vault.into(), id: id.into() })
    }

    /// Changes a memory; new text is re-embedded.
    pub fn memory_update(
        &self,
        access: &Access<perm::MemoriesWrite>,
        id: &str,
        update: &MemoryUpdate,
    ) -> Result<Memory, EngineError> {
        let vault = access.vault();
        if let Some(t) = &update.text {
            check_text(t)?;
        }
        if let Some(t) = &update.tags {
            check_tags(t)?;
        }
        if let Some(i) = update.importance {
            check_importance(i)?;
        }
        if let Some(m) = &update.metadata {
            check_metadata(m)?;
        }
        let now = self.now_ms();
        let expires_ms = match &update.expires_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(s)) => {
                let e = parse_time("expires_at", s)?;
                if e <= now {
                    return Err(bad("expires_at: is in the past; delete the memory instead"));
                }
                Some(Some(e))
            }
        };
        let _vectors = self.vector_writes()?;
        let v = self.memory_vault(vault)?;
        let vector = update.text.as_deref().map(|t| self.embed_one(&v, t)).transpose()?;
        let patch = MemoryPatch {
            text: update.text.clone(),
            tags: update.tags.clone(),
            metadata: update.metadata.clone(),
            importance: update.importance,
            kind: None,
            expires_ms,
            vector,
        };
        self.store
            .memory_update(v.id, id, &patch, now)?
            .map(|m| to_api(vault, m))
            .ok_or_else(|| EngineError::MemoryNotFound { vault: vault.into(), id: id.into() })
    }

    /// Deletes a memory (with its vector and keyword row).
    pub fn memory_delete(&self, access: &Access<perm::MemoriesWrite>, id: &str) -> Result<(), EngineError> {
        let vault = access.vault();
        let v = self.existing_vault(vault)?;
        if self.store.memory_delete(v.id, id)? {
            Ok(())
        } else {
            Err(EngineError::MemoryNotFound { vault: vault.into(), id: id.into() })
        }
    }

    /// A page of memories, newest first.
    pub fn memory_list(
        &self,
        access: &Access<perm::MemoriesRead>,
        scope: &MemoryScope,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<MemoryPage, EngineError> {
        let vault = access.vault();
        let limit = limit.unwrap_or(20);
        if limit == 0 || limit > MAX_MEMORY_LIMIT {
            return Err(bad(format!("limit: must be between 1 and {MAX_MEMORY_LIMIT}")));
        }
        let f = filter(scope, self.now_ms())?;
        let after = cursor.map(decode_cursor).transpose()?;
        let v = self.existing_vault(vault)?;
        let mut records = self.store.memory_list(v.id, &f, after, limit + 1)?;
        let more = records.len() > limit;
        records.truncate(limit);
        let next_cursor = if more {
            records.last().map(|m| encode_cursor(MemoryCursor { created_ms: m.created_ms, rowid: m.rowid }))
        } else {
            None
        };
        Ok(MemoryPage { memories: records.into_iter().map(|m| to_api(vault, m)).collect(), next_cursor })
    }

    /// Memories relevant to a query within a scope.
    pub fn memory_retrieve(
        &self,
        access: &Access<perm::MemoriesRead>,
        q: &MemoryQuery,
    ) -> Result<Vec<MemoryHit>, EngineError> {
        let vault = access.vault();
        if q.query.trim().is_empty() {
            return Err(bad("query: must not be empty"));
        }
        let limit = q.limit.unwrap_or(10);
        if limit == 0 || limit > MAX_MEMORY_LIMIT {
            return Err(bad(format!("limit: must be between 1 and {MAX_MEMORY_LIMIT}")));
        }
        let f = filter(&q.scope, self.now_ms())?;
        let mode = q.mode.unwrap_or(SearchMode::Hybrid);
        // See `search_batch`: never straddle a re-embed's switch.
        let _vectors = (mode != SearchMode::Keyword).then(|| self.vectors.read().unwrap_or_else(|e| e.into_inner()));
        let v = self.existing_vault(vault)?;
        let candidates = self.workspace.config.search.candidates.max(limit);
        let scored = match mode {
            SearchMode::Keyword => self.store.memory_keyword_search(v.id, &q.query, &f, limit)?,
            SearchMode::Semantic => {
                let vector = self.embed_one(&v, &q.query)?;
                self.store.memory_vector_search(v.id, &vector, &f, limit)?
            }
            SearchMode::Hybrid => {
                let vector = self.embed_one(&v, &q.query)?;
                let rrf_k = self.workspace.config.search.rrf_k;
                let one_step = HybridQuery { text: &q.query, vector: &vector, candidates, limit, rrf_k };
                match self.store.memory_hybrid_search(v.id, &one_step, &f)? {
                    Some(fused) => fused,
                    None => {
                        let k = self.store.memory_keyword_search(v.id, &q.query, &f, candidates)?;
                        let s = self.store.memory_vector_search(v.id, &vector, &f, candidates)?;
                        let mut fused = rrf(&[&k, &s], rrf_k);
                        fused.truncate(limit);
                        fused
                    }
                }
            }
        };
        let ids: Vec<i64> = scored.iter().map(|s| s.id).collect();
        // By row id: a memory deleted since it was scored is skipped, never paired with
        // another's score.
        let mut records: std::collections::HashMap<i64, MemoryRecord> =
            self.store.memory_records(&ids)?.into_iter().map(|m| (m.rowid, m)).collect();
        Ok(scored
            .iter()
            .filter_map(|s| Some(MemoryHit { memory: to_api(vault, records.remove(&s.id)?), score: s.score }))
            .collect())
    }

    /// Counts by scope, tag and age.
    pub fn memory_stats(&self, access: &Access<perm::MemoriesRead>) -> Result<MemoryStatsResponse, EngineError> {
        let vault = access.vault();
        let v = self.existing_vault(vault)?;
        let s = self.store.memory_stats(v.id, self.now_ms())?;
        Ok(MemoryStatsResponse {
            vault: vault.to_string(),
            total: s.total,
            expired: s.expired,
            by_user: s.by_user,
            by_agent: s.by_agent,
            by_session: s.by_session,
            by_tag: s.by_tag,
            by_age: s.by_age,
            oldest_at: s.oldest_ms.map(format_ms),
            newest_at: s.newest_ms.map(format_ms),
            bytes: s.bytes,
        })
    }

    /// Deletes expired memories in every vault; returns how many.
    pub fn memory_purge_expired(&self) -> Result<u64, EngineError> {
        Ok(self.store.memory_purge_expired(self.now_ms())?)
    }

    /// A vault that exists in the store or the configuration (created in the store if only
    /// configured, so reads of a new vault answer empty rather than "not found").
    pub(crate) fn existing_vault(&self, name: &str) -> Result<VaultInfo, EngineError> {
        match self.store.vault(name)? {
            Some(v) => Ok(v),
            None if self.workspace.config.vaults.contains_key(name) => self.memory_vault(name),
            None => Err(EngineError::VaultNotFound { name: name.to_string(), known: self.vault_names()? }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_bad_times_say_how_to_write_them() {
        let ms = parse_time("t", "2026-01-31T12:00:00Z").unwrap();
        assert_eq!(format_ms(ms), "2026-01-31T12:00:00Z");
        let err = parse_time("expires_at", "tomorrow").unwrap_err().to_string();
        assert!(err.contains("expires_at") && err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = MemoryCursor { created_ms: 17, rowid: 4 };
        assert_eq!(decode_cursor(&encode_cursor(c)).unwrap(), c);
        assert!(decode_cursor("abc").is_err());
        assert!(decode_cursor("1.x").is_err());
    }

    #[test]
    fn validation_messages_name_the_field() {
        assert!(check_text("  ").unwrap_err().to_string().contains("text"));
        assert!(check_tags(&["".into()]).unwrap_err().to_string().contains("tags"));
        assert!(check_importance(1.5).unwrap_err().to_string().contains("importance"));
        assert!(check_metadata(&serde_json::json!([1])).unwrap_err().to_string().contains("object"));
    }
}
