//! Memories in the embedded store: rows in `memories` (the system of record), their text and
//! tags in the persisted keyword index (`keywords`, space [`Space::Memories`], written in the
//! same transaction), and their vectors in the flat index of [`Space::Memories`], derived per
//! vault and following the change log. Every write bumps the vault's `memory_generation` and
//! logs the memory it changed. Keyword search ranks with the index and checks each memory that
//! would enter the top k against the filter: by its [`MemoryScope`] read from its row, or, for a
//! filter on a user, agent or session (indexed columns), against the memories SQL selects.
//! Every read applies the scope filter and hides expired memories; expired rows are removed by
//! [`MemoryStore::memory_purge_expired`].

use std::collections::{BTreeMap, HashSet};

use rusqlite::{OptionalExtension, params, params_from_iter, types::Value as SqlValue};

use super::derived::Derived;
use super::keywords::{self, KeywordChanges, memory_parts};
use super::{EmbeddedStore, Space, encode_vector, vectors};
use crate::MemoryStore;
use crate::{
    MemoryApplied, MemoryCursor, MemoryEvent, MemoryFilter, MemoryOp, MemoryRecord, MemoryStats, MemoryVersion,
    NewMemory, Scored, StoreError, VaultId, VersionRow,
};

/// What a memory search filters on: the columns [`condition`] reads, apart from the vault.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MemoryScope {
    user_id: Option<Box<str>>,
    agent_id: Option<Box<str>>,
    session_id: Option<Box<str>>,
    tags: Box<[Box<str>]>,
    created_ms: i64,
    expires_ms: Option<i64>,
    kind: Option<Box<str>>,
    importance: f32,
}

impl MemoryScope {
    /// The columns [`MemoryScope::of_row`] reads.
    const COLUMNS: &str = "user_id, agent_id, session_id, tags, created_ms, expires_ms, kind, importance";

    /// The scope of a row read with [`MemoryScope::COLUMNS`].
    fn of_row(r: &rusqlite::Row<'_>) -> Result<MemoryScope, StoreError> {
        let id =
            |i: usize| -> rusqlite::Result<Option<Box<str>>> { Ok(r.get::<_, Option<String>>(i)?.map(Into::into)) };
        let tags: String = r.get(3)?;
        let tags: Vec<String> =
            serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(format!("memory tags: {e}")))?;
        Ok(MemoryScope {
            user_id: id(0)?,
            agent_id: id(1)?,
            session_id: id(2)?,
            tags: tags.into_iter().map(Into::into).collect(),
            created_ms: r.get(4)?,
            expires_ms: r.get(5)?,
            kind: id(6)?,
            importance: r.get::<_, f64>(7)? as f32,
        })
    }

    /// Whether the memory passes `f`: the same test as the SQL of [`condition`] (live at
    /// `now_ms`, equal scope ids, every tag, created in `[after, before)`, one of the kinds,
    /// important enough).
    pub(crate) fn passes(&self, f: &MemoryFilter) -> bool {
        fn same(stored: &Option<Box<str>>, wanted: &Option<String>) -> bool {
            wanted.as_deref().is_none_or(|w| stored.as_deref() == Some(w))
        }
        self.expires_ms.is_none_or(|e| e > f.now_ms)
            && same(&self.user_id, &f.user_id)
            && same(&self.agent_id, &f.agent_id)
            && same(&self.session_id, &f.session_id)
            && f.tags.iter().all(|t| self.tags.iter().any(|x| **x == **t))
            && f.created_after_ms.is_none_or(|t| self.created_ms >= t)
            && f.created_before_ms.is_none_or(|t| self.created_ms < t)
            && (f.kinds.is_empty() || self.kind.as_deref().is_some_and(|k| f.kinds.iter().any(|w| w == k)))
            && f.min_importance.is_none_or(|i| self.importance as f64 >= i as f64)
    }
}

const COLUMNS: &str = "m.id, m.public_id, m.text, m.user_id, m.agent_id, m.session_id, m.tags, m.metadata, m.importance, m.created_ms, m.updated_ms, m.expires_ms, m.kind, m.version";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(MemoryRecord, String, String)> {
    Ok((
        MemoryRecord {
            rowid: r.get(0)?,
            id: r.get(1)?,
            text: r.get(2)?,
            user_id: r.get(3)?,
            agent_id: r.get(4)?,
            session_id: r.get(5)?,
            tags: Vec::new(),
            metadata: serde_json::Value::Null,
            importance: r.get::<_, f64>(8)? as f32,
            kind: r.get(12)?,
            version: r.get(13)?,
            created_ms: r.get(9)?,
            updated_ms: r.get(10)?,
            expires_ms: r.get(11)?,
        },
        r.get(6)?,
        r.get(7)?,
    ))
}

fn finish((mut m, tags, metadata): (MemoryRecord, String, String)) -> Result<MemoryRecord, StoreError> {
    m.tags = serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(format!("memory {}: tags: {e}", m.id)))?;
    m.metadata =
        serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt(format!("memory {}: metadata: {e}", m.id)))?;
    Ok(m)
}

/// The SQL condition (on alias `m`) and its parameters for a filter.
fn condition(vault: VaultId, f: &MemoryFilter) -> (String, Vec<SqlValue>) {
    let mut sql = String::from("m.vault_id = ? AND (m.expires_ms IS NULL OR m.expires_ms > ?)");
    let mut args: Vec<SqlValue> = vec![vault.into(), f.now_ms.into()];
    for (col, value) in [("user_id", &f.user_id), ("agent_id", &f.agent_id), ("session_id", &f.session_id)] {
        if let Some(v) = value {
            sql.push_str(&format!(" AND m.{col} = ?"));
            args.push(v.clone().into());
        }
    }
    for tag in &f.tags {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(m.tags) WHERE json_each.value = ?)");
        args.push(tag.clone().into());
    }
    if let Some(t) = f.created_after_ms {
        sql.push_str(" AND m.created_ms >= ?");
        args.push(t.into());
    }
    if let Some(t) = f.created_before_ms {
        sql.push_str(" AND m.created_ms < ?");
        args.push(t.into());
    }
    if !f.kinds.is_empty() {
        sql.push_str(" AND m.kind IN (SELECT value FROM json_each(?))");
        args.push(serde_json::Value::from(f.kinds.clone()).to_string().into());
    }
    if let Some(i) = f.min_importance {
        // As REAL both sides, the comparison `passes` makes in f64.
        sql.push_str(" AND m.importance >= ?");
        args.push((i as f64).into());
    }
    (sql, args)
}

fn record_version(
    tx: &rusqlite::Transaction<'_>,
    vault: VaultId,
    id: &str,
    version: i64,
    v: &VersionRow<'_>,
    actor: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO memory_versions (vault_id, memory_id, version, event, old_text, new_text, actor, reason, at_ms, snapshot)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![vault, id, version, v.event.as_str(), v.old, v.new, actor, v.reason, now_ms, v.snapshot])?;
    Ok(())
}

/// The memory `id` of `vault` as stored inside `tx`, live at `now_ms` (any expiry when
/// `None`), at the `expected` version when given; otherwise [`StoreError::Stale`].
fn live_for_change(
    tx: &rusqlite::Transaction<'_>,
    vault: VaultId,
    id: &str,
    expected: Option<i64>,
    now_ms: Option<i64>,
) -> Result<MemoryRecord, StoreError> {
    let found = tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.vault_id = ? AND m.public_id = ? AND (?3 IS NULL OR m.expires_ms IS NULL OR m.expires_ms > ?3)"
        ))?
        .query_row(params![vault, id, now_ms], row)
        .optional()?
        .map(finish)
        .transpose()?;
    let stale = |found: i64| StoreError::Stale { id: id.to_string(), expected: expected.unwrap_or(0), found };
    match found {
        None => Err(stale(0)),
        Some(m) if expected.is_some_and(|e| e != m.version) => Err(stale(m.version)),
        Some(m) => Ok(m),
    }
}

impl EmbeddedStore {
    fn dimension_of(conn: &rusqlite::Connection, vault: VaultId) -> Result<usize, StoreError> {
        let dim: Option<i64> =
            conn.prepare_cached("SELECT dimension FROM vaults WHERE id = ?")?.query_row([vault], |r| r.get(0))?;
        dim.map(|d| d as usize).ok_or(StoreError::NoEmbedder { vault })
    }

    /// Adds memory row `rowid` with `text` and `tags` to the keyword changes.
    fn index_memory(keywords: &mut KeywordChanges<'_>, rowid: i64, text: &str, tags: &[String]) {
        let parts: Vec<&str> = std::iter::once(text).chain(tags.iter().map(String::as_str)).collect();
        keywords.add(rowid, &parts);
    }

    /// Inserts `m` (version 1) inside `tx`, its keyword rows into `keywords`.
    fn add_in(
        tx: &rusqlite::Transaction<'_>,
        keywords: &mut KeywordChanges<'_>,
        vault: VaultId,
        m: &NewMemory,
        now_ms: i64,
    ) -> Result<MemoryRecord, StoreError> {
        let mut bytes = Vec::new();
        encode_vector(&m.vector, &mut bytes);
        let tags = serde_json::to_string(&m.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (rowid, public_id): (i64, String) = tx.query_row(
            "INSERT INTO memories (public_id, vault_id, text, user_id, agent_id, session_id, tags, metadata, importance, kind, created_ms, updated_ms, expires_ms, vector)
             VALUES ('mem_' || lower(hex(randomblob(12))), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, public_id",
            params![vault, m.text, m.user_id, m.agent_id, m.session_id, tags, m.metadata.to_string(), m.importance as f64, m.kind, now_ms, now_ms, m.expires_ms, bytes],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Self::index_memory(keywords, rowid, &m.text, &m.tags);
        Ok(MemoryRecord {
            id: public_id,
            rowid,
            text: m.text.clone(),
            user_id: m.user_id.clone(),
            agent_id: m.agent_id.clone(),
            session_id: m.session_id.clone(),
            tags: m.tags.clone(),
            metadata: m.metadata.clone(),
            importance: m.importance,
            kind: m.kind.clone(),
            version: 1,
            created_ms: now_ms,
            updated_ms: now_ms,
            expires_ms: m.expires_ms,
        })
    }

    /// Writes `next` over `current` inside `tx` (with `vector` when the text changed), its
    /// keyword rows into `keywords`.
    fn update_in(
        tx: &rusqlite::Transaction<'_>,
        keywords: &mut KeywordChanges<'_>,
        current: &MemoryRecord,
        next: &MemoryRecord,
        vector: Option<&[f32]>,
    ) -> Result<(), StoreError> {
        let old_tags = serde_json::to_string(&current.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tags = serde_json::to_string(&next.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "UPDATE memories SET text = ?, tags = ?, metadata = ?, importance = ?, kind = ?, expires_ms = ?, updated_ms = ?, version = ? WHERE id = ?",
            params![next.text, tags, next.metadata.to_string(), next.importance as f64, next.kind, next.expires_ms, next.updated_ms, next.version, current.rowid],
        )?;
        if let Some(v) = vector {
            let mut bytes = Vec::new();
            encode_vector(v, &mut bytes);
            // The staged vector (of a re-embed in progress) was computed from the old text.
            tx.execute(
                "UPDATE memories SET vector = ?, staged_vector = NULL WHERE id = ?",
                params![bytes, current.rowid],
            )?;
        }
        if current.text != next.text || old_tags != tags {
            Self::unindex_memory(keywords, current.rowid, current.text.clone(), &old_tags);
            Self::index_memory(keywords, current.rowid, &next.text, &next.tags);
        }
        Ok(())
    }

    /// Removes memory row `rowid` from the keyword changes, indexed from `text` and `tags` (the
    /// JSON stored beside it).
    fn unindex_memory(keywords: &mut KeywordChanges<'_>, rowid: i64, text: String, tags: &str) {
        let parts = memory_parts(rowid, text, tags);
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        keywords.remove(rowid, &parts);
    }
}

impl MemoryStore for EmbeddedStore {
    fn memory_get(&self, vault: VaultId, id: &str, now_ms: i64) -> Result<Option<MemoryRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.vault_id = ? AND m.public_id = ? AND (m.expires_ms IS NULL OR m.expires_ms > ?)"
        ))?;
        stmt.query_row(params![vault, id, now_ms], row).optional()?.map(finish).transpose()
    }

    fn memory_list(
        &self,
        vault: VaultId,
        f: &MemoryFilter,
        after: Option<MemoryCursor>,
        limit: usize,
    ) -> Result<Vec<MemoryRecord>, StoreError> {
        let (mut cond, mut args) = condition(vault, f);
        if let Some(c) = after {
            cond.push_str(" AND (m.created_ms, m.id) < (?, ?)");
            args.push(c.created_ms.into());
            args.push(c.rowid.into());
        }
        args.push((limit as i64).into());
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE {cond} ORDER BY m.created_ms DESC, m.id DESC LIMIT ?"
        ))?;
        let rows = stmt.query_map(params_from_iter(args), row)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// The best `limit` memories of `vault` for `query` passing `f`, best first (ties by row
    /// id): ranked by the vault's derived keyword index, each candidate good enough for the
    /// top `limit` checked against its scope there, so narrow filters stay exact.
    fn memory_keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        f: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError> {
        let terms = self.analyzer.query_terms(query);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.read()?;
        // The filter, statistics and postings of one snapshot.
        let tx = conn.unchecked_transaction()?;
        let hits = if f.user_id.is_some() || f.agent_id.is_some() || f.session_id.is_some() {
            // Narrow and indexed: the memories that pass, listed once.
            let (cond, args) = condition(vault, f);
            let allowed: HashSet<i64> = tx
                .prepare_cached(&format!("SELECT m.id FROM memories m WHERE {cond}"))?
                .query_map(params_from_iter(args), |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            keywords::search(&tx, vault, Space::Memories, &terms, limit, |row| Ok(allowed.contains(&row)))?
        } else {
            let sql = format!("SELECT {} FROM memories WHERE id = ?", MemoryScope::COLUMNS);
            keywords::search(&tx, vault, Space::Memories, &terms, limit, |row| {
                let mut stmt = tx.prepare_cached(&sql)?;
                let mut rows = stmt.query([row])?;
                Ok(match rows.next()? {
                    Some(r) => MemoryScope::of_row(r)?.passes(f),
                    None => false,
                })
            })?
        };
        tx.finish()?;
        Ok(hits)
    }

    fn memory_vector_search(
        &self,
        vault: VaultId,
        vector: &[f32],
        f: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError> {
        let Some(info) = self.vault_for_vectors(vault, vector.len())? else { return Ok(Vec::new()) };
        let (cond, args) = condition(vault, f);
        // First the nearest few regardless of scope, kept when they pass the filter (expiry
        // always applies): cheap when most memories pass. When too few do, the allowed set of
        // every memory passing the filter decides.
        let window = limit.saturating_mul(4).max(limit);
        let (candidates, total) = self.with_index(&info, Space::Memories, |index, settings, conn| {
            Ok::<_, StoreError>((
                index.search(settings, conn, vault, Space::Memories, vector, window, None)?,
                index.len(),
            ))
        })??;
        if !candidates.is_empty() {
            let sql = format!("SELECT m.id FROM memories m WHERE m.id IN (SELECT value FROM json_each(?)) AND {cond}");
            let ids: Vec<i64> = candidates.iter().map(|c| c.id).collect();
            let id_list = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let passing: HashSet<i64> = {
                let conn = self.read()?;
                let mut stmt = conn.prepare_cached(&sql)?;
                let all = std::iter::once(SqlValue::from(id_list)).chain(args.iter().cloned());
                stmt.query_map(params_from_iter(all), |r| r.get(0))?.collect::<Result<_, _>>()?
            };
            let kept: Vec<Scored> = candidates.into_iter().filter(|c| passing.contains(&c.id)).take(limit).collect();
            if kept.len() >= limit || total <= window {
                return Ok(kept);
            }
        }
        let allowed: HashSet<i64> = {
            let conn = self.read()?;
            let mut stmt = conn.prepare_cached(&format!("SELECT m.id FROM memories m WHERE {cond}"))?;
            stmt.query_map(params_from_iter(args), |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        let ids = || Ok(allowed.iter().copied().collect());
        let filter = || vectors::Filter { groups: &allowed, passing: allowed.len(), rows: &ids };
        self.with_index(&info, Space::Memories, |index, settings, conn| {
            index.search(settings, conn, vault, Space::Memories, vector, limit, Some(filter()))
        })?
    }

    fn memory_records(&self, rowids: &[i64]) -> Result<Vec<MemoryRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM memories m WHERE m.id = ?"))?;
        let mut out = Vec::with_capacity(rowids.len());
        for id in rowids {
            if let Some(r) = stmt.query_row([id], row).optional()? {
                out.push(finish(r)?);
            }
        }
        Ok(out)
    }

    fn memory_stats(&self, vault: VaultId, now_ms: i64) -> Result<MemoryStats, StoreError> {
        let conn = self.read()?;
        let live = "vault_id = ?1 AND (expires_ms IS NULL OR expires_ms > ?2)";
        let (total, oldest, newest, bytes): (i64, Option<i64>, Option<i64>, i64) = conn.query_row(
            &format!("SELECT count(*), min(created_ms), max(created_ms), coalesce(sum(length(text) + length(vector)), 0) FROM memories WHERE {live}"),
            params![vault, now_ms],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let expired: i64 = conn.query_row(
            "SELECT count(*) FROM memories WHERE vault_id = ?1 AND expires_ms IS NOT NULL AND expires_ms <= ?2",
            params![vault, now_ms],
            |r| r.get(0),
        )?;
        let group = |col: &str| -> Result<Vec<(String, u64)>, StoreError> {
            let mut stmt = conn.prepare(&format!(
                "SELECT coalesce({col}, ''), count(*) FROM memories WHERE {live} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100"
            ))?;
            let rows =
                stmt.query_map(params![vault, now_ms], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let by_user = group("user_id")?;
        let by_agent = group("agent_id")?;
        let by_session = group("session_id")?;
        let by_type = group("kind")?;
        let (merges, deleted): (i64, i64) = conn.query_row(
            "SELECT count(*) FILTER (WHERE event = 'MERGE'), count(*) FILTER (WHERE event = 'DELETE') FROM memory_versions WHERE vault_id = ?",
            [vault],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let by_tag = {
            let mut stmt = conn.prepare(&format!(
                "SELECT j.value, count(*) FROM memories, json_each(memories.tags) j WHERE {live} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100"
            ))?;
            let rows =
                stmt.query_map(params![vault, now_ms], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        const DAY: i64 = 86_400_000;
        let mut by_age: BTreeMap<u8, (String, u64)> = BTreeMap::new();
        for (i, label) in ["under 1 day", "1–7 days", "7–30 days", "over 30 days"].iter().enumerate() {
            by_age.insert(i as u8, (label.to_string(), 0));
        }
        let mut stmt = conn.prepare(&format!(
            "SELECT CASE WHEN ?2 - created_ms < {DAY} THEN 0 WHEN ?2 - created_ms < {} THEN 1 WHEN ?2 - created_ms < {} THEN 2 ELSE 3 END, count(*)
             FROM memories WHERE {live} GROUP BY 1",
            7 * DAY,
            30 * DAY
        ))?;
        for r in stmt.query_map(params![vault, now_ms], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
            let (bucket, n) = r?;
            if let Some(e) = by_age.get_mut(&(bucket as u8)) {
                e.1 = n as u64;
            }
        }
        Ok(MemoryStats {
            total: total as u64,
            expired: expired as u64,
            by_user,
            by_agent,
            by_session,
            by_tag,
            by_age: by_age.into_values().collect(),
            oldest_ms: oldest,
            newest_ms: newest,
            bytes: bytes as u64,
            by_type,
            merges: merges as u64,
            deleted: deleted as u64,
        })
    }

    fn memories_to_reembed(&self, vault: VaultId, after: i64, limit: usize) -> Result<Vec<MemoryRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.vault_id = ? AND m.id > ? AND m.staged_vector IS NULL ORDER BY m.id LIMIT ?"
        ))?;
        let rows = stmt.query_map(params![vault, after, limit as i64], row)?;
        rows.map(|r| finish(r?)).collect()
    }

    fn memory_apply(
        &self,
        vault: VaultId,
        ops: &[MemoryOp],
        actor: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<MemoryApplied>, StoreError> {
        let mut conn = self.conn();
        let dim = Self::dimension_of(&conn, vault)?;
        for op in ops {
            let vector = match op {
                MemoryOp::Add { memory, .. } => Some(&memory.vector),
                MemoryOp::Update { patch, .. } => {
                    if patch.text.is_some() && patch.vector.is_none() {
                        return Err(StoreError::Corrupt("a memory's text changed without a new vector".into()));
                    }
                    patch.vector.as_ref()
                }
                MemoryOp::Delete { .. } => None,
            };
            if let Some(v) = vector
                && v.len() != dim
            {
                return Err(StoreError::Dimension { expected: dim, got: v.len() });
            }
        }
        // Immediate: the versions read are the ones the batch changes, even with writers in
        // other processes.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut keywords = KeywordChanges::new(&self.analyzer, vault, Space::Memories);
        let (mut removed, mut written) = (Vec::new(), Vec::new());
        let mut done = Vec::with_capacity(ops.len());
        for op in ops {
            let applied = match op {
                MemoryOp::Add { memory, reason } => {
                    let m = Self::add_in(&tx, &mut keywords, vault, memory, now_ms)?;
                    written.push(m.rowid);
                    let v = VersionRow {
                        event: MemoryEvent::Add,
                        old: None,
                        new: Some(&m.text),
                        reason: reason.as_deref(),
                        snapshot: None,
                    };
                    record_version(&tx, vault, &m.id, m.version, &v, actor, now_ms)?;
                    MemoryApplied { event: MemoryEvent::Add, id: m.id.clone(), memory: Some(m) }
                }
                MemoryOp::Update { id, expected_version, patch, event, reason } => {
                    let current = live_for_change(&tx, vault, id, *expected_version, Some(now_ms))?;
                    let next = patch.applied(&current, now_ms);
                    Self::update_in(&tx, &mut keywords, &current, &next, patch.vector.as_deref())?;
                    written.push(next.rowid);
                    let v = VersionRow {
                        event: *event,
                        old: Some(&current.text),
                        new: Some(&next.text),
                        reason: reason.as_deref(),
                        snapshot: None,
                    };
                    record_version(&tx, vault, id, next.version, &v, actor, now_ms)?;
                    MemoryApplied { event: *event, id: id.clone(), memory: Some(next) }
                }
                MemoryOp::Delete { id, expected_version, soft, reason } => {
                    let current = live_for_change(&tx, vault, id, *expected_version, None)?;
                    tx.execute("DELETE FROM memories WHERE id = ?", [current.rowid])?;
                    Self::unindex_memory(
                        &mut keywords,
                        current.rowid,
                        current.text.clone(),
                        &serde_json::to_string(&current.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    );
                    removed.push(current.rowid);
                    if *soft {
                        let snapshot =
                            serde_json::to_string(&current).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        let v = VersionRow {
                            event: MemoryEvent::Delete,
                            old: Some(&current.text),
                            new: None,
                            reason: reason.as_deref(),
                            snapshot: Some(&snapshot),
                        };
                        record_version(&tx, vault, id, current.version + 1, &v, actor, now_ms)?;
                    } else {
                        tx.execute(
                            "DELETE FROM memory_versions WHERE vault_id = ? AND memory_id = ?",
                            params![vault, id],
                        )?;
                    }
                    MemoryApplied { event: MemoryEvent::Delete, id: id.clone(), memory: None }
                }
            };
            done.push(applied);
        }
        keywords.write(&tx)?;
        Self::log_changes(&tx, vault, Space::Memories, &removed, &written)?;
        tx.commit()?;
        self.committed(vault, Space::Memories);
        Ok(done)
    }

    fn memory_history(&self, vault: VaultId, id: &str) -> Result<Vec<MemoryVersion>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT memory_id, version, event, old_text, new_text, actor, reason, at_ms FROM memory_versions
             WHERE vault_id = ? AND memory_id = ? ORDER BY version, id",
        )?;
        let rows = stmt.query_map(params![vault, id], |r| {
            Ok((
                r.get::<_, String>(2)?,
                MemoryVersion {
                    memory_id: r.get(0)?,
                    version: r.get(1)?,
                    event: MemoryEvent::Add,
                    old_text: r.get(3)?,
                    new_text: r.get(4)?,
                    actor: r.get(5)?,
                    reason: r.get(6)?,
                    at_ms: r.get(7)?,
                },
            ))
        })?;
        rows.map(|r| {
            let (event, mut v) = r?;
            v.event = MemoryEvent::parse(&event).ok_or_else(|| {
                StoreError::Corrupt(format!("memory {}: unknown history event `{event}`", v.memory_id))
            })?;
            Ok(v)
        })
        .collect()
    }

    fn memory_purge_deleted(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let gone: Vec<(i64, String)> = tx
            .prepare("SELECT vault_id, memory_id FROM memory_versions WHERE event = 'DELETE' AND at_ms <= ?")?
            .query_map([before_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        {
            let mut stmt = tx.prepare("DELETE FROM memory_versions WHERE vault_id = ? AND memory_id = ?")?;
            for (vault, id) in &gone {
                stmt.execute(params![vault, id])?;
            }
        }
        tx.commit()?;
        Ok(gone.len() as u64)
    }

    fn memory_purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut gone: BTreeMap<VaultId, Vec<(i64, String, String)>> = BTreeMap::new();
        {
            let mut stmt = tx.prepare(
                "DELETE FROM memories WHERE expires_ms IS NOT NULL AND expires_ms <= ? RETURNING vault_id, id, text, tags",
            )?;
            let rows = stmt.query_map([now_ms], |r| Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?;
            for r in rows {
                let (vault, memory) = r?;
                gone.entry(vault).or_default().push(memory);
            }
        }
        let mut n = 0;
        let vaults: Vec<VaultId> = gone.keys().copied().collect();
        for (vault, memories) in gone {
            let mut keywords = KeywordChanges::new(&self.analyzer, vault, Space::Memories);
            let mut ids = Vec::with_capacity(memories.len());
            for (rowid, text, tags) in memories {
                Self::unindex_memory(&mut keywords, rowid, text, &tags);
                ids.push(rowid);
            }
            keywords.write(&tx)?;
            Self::log_changes(&tx, vault, Space::Memories, &ids, &[])?;
            n += ids.len() as u64;
        }
        tx.commit()?;
        for vault in vaults {
            self.committed(vault, Space::Memories);
        }
        Ok(n)
    }

    /// Stages re-embedded vectors of memories not updated since they were read (an update
    /// replaces the text the vector was computed from).
    fn stage_memory_vectors(&self, vault: VaultId, vectors: &[(i64, i64, Vec<f32>)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE memories SET staged_vector = ? WHERE id = ? AND vault_id = ? AND updated_ms = ?",
            )?;
            let mut bytes = Vec::new();
            for (rowid, updated_ms, v) in vectors {
                encode_vector(v, &mut bytes);
                stmt.execute(params![bytes, rowid, vault, updated_ms])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryPatch;
    use crate::conformance::new_memory;
    use crate::embedded::tests::writer_with_vault;
    use crate::prelude::*;

    /// The in-memory scope test and the SQL condition are two implementations of one filter:
    /// over every combination of a grid of memories and filters, keyword search (scope checked
    /// in the index) returns exactly the memories listing (SQL) returns.
    #[test]
    fn the_scope_filter_in_the_index_agrees_with_the_sql_condition() {
        let (_dir, store, v) = writer_with_vault();
        let users = [None, Some("ann"), Some("bob")];
        let tag_sets: [&[&str]; 4] = [&[], &["x"], &["x", "y"], &["y", "Z"]];
        let mut n = 0;
        for (i, user) in users.iter().enumerate() {
            for (j, tags) in tag_sets.iter().enumerate() {
                for k in 0..3i64 {
                    let mut m = new_memory("common word", *user, tags, [1.0, 0.0]);
                    m.agent_id = (k != 0).then(|| format!("agent{k}"));
                    m.session_id = (j % 2 == 0).then(|| "s".to_string());
                    // Expiries around the query time (100): expired at, before, after it.
                    m.expires_ms = [None, Some(100), Some(99), Some(101)][(i + j + k as usize) % 4];
                    store.memory_put(v.id, &m, 90 + k * 5).unwrap();
                    n += 1;
                }
            }
        }
        let other = store.ensure_vault("other").unwrap();
        store.set_vault_embedder(other.id, "m", 2).unwrap();
        store.memory_put(other.id, &new_memory("common word", Some("ann"), &["x"], [1.0, 0.0]), 95).unwrap();
        let base = MemoryFilter { now_ms: 100, ..MemoryFilter::default() };
        let mut filters = vec![base.clone(), MemoryFilter { now_ms: 98, ..base.clone() }];
        for user in ["ann", "bob", "carl"] {
            filters.push(MemoryFilter { user_id: Some(user.into()), ..base.clone() });
        }
        filters.push(MemoryFilter { agent_id: Some("agent2".into()), ..base.clone() });
        filters.push(MemoryFilter { session_id: Some("s".into()), ..base.clone() });
        for tags in [vec!["x"], vec!["y", "x"], vec!["z"], vec!["Z"]] {
            filters.push(MemoryFilter { tags: tags.into_iter().map(String::from).collect(), ..base.clone() });
        }
        filters.push(MemoryFilter { created_after_ms: Some(95), ..base.clone() });
        filters.push(MemoryFilter { created_before_ms: Some(95), ..base.clone() });
        filters.push(MemoryFilter {
            user_id: Some("ann".into()),
            tags: vec!["x".into()],
            created_after_ms: Some(90),
            created_before_ms: Some(100),
            now_ms: 99,
            ..base.clone()
        });
        let mut nonempty = 0;
        for f in &filters {
            let mut listed: Vec<i64> =
                store.memory_list(v.id, f, None, 1000).unwrap().iter().map(|m| m.rowid).collect();
            let mut found: Vec<i64> =
                store.memory_keyword_search(v.id, "word", f, 1000).unwrap().iter().map(|h| h.id).collect();
            listed.sort_unstable();
            found.sort_unstable();
            assert_eq!(found, listed, "{f:?}");
            nonempty += usize::from(!found.is_empty());
            // With a small limit: the best that pass, never one that does not.
            let few = store.memory_keyword_search(v.id, "word", f, 2).unwrap();
            assert_eq!(few.len(), listed.len().min(2), "{f:?}");
            assert!(few.iter().all(|h| listed.contains(&h.id)), "{f:?}");
        }
        // Only "carl" and the tag "z" (tags are case-sensitive) match nothing.
        assert_eq!(nonempty, filters.len() - 2);
        let all = store.memory_keyword_search(v.id, "word", &base, 1000).unwrap().len();
        assert!(all > 0 && all < n, "expiry at the query time hides some: {all} of {n}");
    }

    #[test]
    fn memory_keyword_search_filters_beyond_the_first_candidate_window() {
        let (_dir, store, v) = writer_with_vault();
        for _ in 0..50 {
            store.memory_put(v.id, &new_memory("needle needle", Some("ann"), &[], [1.0, 0.0]), 1).unwrap();
        }
        let weak = new_memory("a needle in a long haystack of other words", Some("bob"), &[], [1.0, 0.0]);
        let bobs = store.memory_put(v.id, &weak, 1).unwrap();
        let only = |user: &str| MemoryFilter { user_id: Some(user.into()), now_ms: 2, ..MemoryFilter::default() };
        let hits = store.memory_keyword_search(v.id, "the needle", &only("bob"), 3).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [bobs.rowid]);
        assert_eq!(store.memory_keyword_search(v.id, "needle", &only("ann"), 3).unwrap().len(), 3);
    }

    #[test]
    fn memory_vector_search_filters_beyond_the_first_candidate_window() {
        let (_dir, store, v) = writer_with_vault();
        for _ in 0..50 {
            store.memory_put(v.id, &new_memory("near", Some("ann"), &[], [1.0, 0.0]), 1).unwrap();
        }
        let far = store.memory_put(v.id, &new_memory("far", Some("bob"), &[], [0.0, 1.0]), 1).unwrap();
        let expired = NewMemory { expires_ms: Some(5), ..new_memory("near but expired", None, &[], [1.0, 0.0]) };
        let gone = store.memory_put(v.id, &expired, 1).unwrap();
        let only = |user: Option<&str>| MemoryFilter {
            user_id: user.map(str::to_string),
            now_ms: 10,
            ..MemoryFilter::default()
        };
        let hits = store.memory_vector_search(v.id, &[1.0, 0.0], &only(Some("bob")), 3).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [far.rowid], "found beyond the nearest window");
        let hits = store.memory_vector_search(v.id, &[1.0, 0.0], &only(None), 60).unwrap();
        assert_eq!(hits.len(), 51, "every live memory, the expired one left out");
        assert!(hits.iter().all(|h| h.id != gone.rowid));
        assert_eq!(store.memory_vector_search(v.id, &[1.0, 0.0], &only(Some("ann")), 3).unwrap().len(), 3);
    }

    #[test]
    fn memory_keyword_index_maintained_by_writes_ranks_like_one_built_afresh() {
        let (dir, store, v) = writer_with_vault();
        let put = |text: &str, user: &str, tags: &[&str]| {
            store.memory_put(v.id, &new_memory(text, Some(user), tags, [1.0, 0.0]), 10).unwrap()
        };
        let first = put("running shoes for the marathon", "ann", &["sport"]);
        let live = |now_ms: i64| MemoryFilter { now_ms, ..MemoryFilter::default() };
        assert_eq!(store.memory_keyword_search(v.id, "runs", &live(20), 10).unwrap().len(), 1, "stemmed match");
        let apples = put("green apples and pears", "ann", &["food"]);
        let pie = put("apple pie recipe", "bob", &["food", "baking"]);
        let gone = put("pears only", "bob", &[]);
        let expiring = NewMemory { expires_ms: Some(50), ..new_memory("pears expiring soon", None, &[], [1.0, 0.0]) };
        store.memory_put(v.id, &expiring, 10).unwrap();
        let text =
            MemoryPatch { text: Some("walking shoes".into()), vector: Some(vec![0.0, 1.0]), ..Default::default() };
        store.memory_update(v.id, &first.id, &text, 20).unwrap().unwrap();
        let tags = MemoryPatch { tags: Some(vec!["dessert".into()]), ..Default::default() };
        store.memory_update(v.id, &pie.id, &tags, 20).unwrap().unwrap();
        let expiry = MemoryPatch { expires_ms: Some(Some(40)), ..Default::default() };
        store.memory_update(v.id, &apples.id, &expiry, 20).unwrap().unwrap();
        store.memory_delete(v.id, &gone.id).unwrap();
        assert_eq!(store.memory_purge_expired(45).unwrap(), 1, "the apples memory expired at 40");
        let fresh = EmbeddedStore::open_reader(dir.path()).unwrap();
        for q in ["apples", "running shoes", "pears", "food dessert", "walk", "sport", "baking"] {
            let patched = store.memory_keyword_search(v.id, q, &live(30), 10).unwrap();
            assert_eq!(patched, fresh.memory_keyword_search(v.id, q, &live(30), 10).unwrap(), "{q}");
        }
        let found = |q: &str, now_ms: i64| store.memory_keyword_search(v.id, q, &live(now_ms), 10).unwrap().len();
        assert_eq!(found("running", 30), 0, "replaced text gone");
        assert_eq!(found("walking", 30), 1);
        assert_eq!(found("baking", 30), 0, "replaced tag gone");
        assert_eq!(found("dessert", 30), 1);
        assert_eq!(found("apples", 30), 1, "purged memory gone, the pie left");
        assert_eq!(found("pears", 30), 1, "deleted memory gone, the expiring one live at 30");
        assert_eq!(found("pears", 50), 0, "expired at 50");
        // The index as the writes left it is the one a rebuild from the rows makes.
        crate::embedded::keywords::tests::assert_equals_a_rebuild(&store, v.id, Space::Memories);
    }

    #[test]
    fn a_reader_follows_the_writers_memories() {
        use crate::conformance::new_memory;
        let dir = tempfile::tempdir().unwrap();
        let writer = EmbeddedStore::open_writer(dir.path(), "test").unwrap();
        let v = writer.ensure_vault("v").unwrap();
        writer.set_vault_embedder(v.id, "m", 2).unwrap();
        let reader = EmbeddedStore::open_reader(dir.path()).unwrap();
        let live = MemoryFilter { now_ms: 20, ..MemoryFilter::default() };
        let hits = |store: &EmbeddedStore, q: &str| -> Vec<i64> {
            store.memory_keyword_search(v.id, q, &live, 10).unwrap().iter().map(|h| h.id).collect()
        };
        assert!(hits(&reader, "falcon").is_empty(), "an empty vault");
        let m = writer.memory_put(v.id, &new_memory("a falcon", None, &["sky"], [1.0, 0.0]), 10).unwrap();
        assert_eq!(hits(&reader, "falcon"), [m.rowid], "the reader sees the writer's index");
        let patch = MemoryPatch { text: Some("a heron".into()), vector: Some(vec![0.0, 1.0]), ..Default::default() };
        writer.memory_update(v.id, &m.id, &patch, 15).unwrap().unwrap();
        assert!(hits(&reader, "falcon").is_empty(), "old text still found by the reader");
        assert_eq!(hits(&reader, "heron sky"), [m.rowid]);
        writer.memory_delete(v.id, &m.id).unwrap();
        assert!(hits(&reader, "heron").is_empty(), "deleted memory found by the reader");
        assert!(hits(&writer, "heron").is_empty());
    }
}
