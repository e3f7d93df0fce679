//! Memories in the embedded store: rows in `memories`, keyword rows in `memories_fts` (same
//! transaction), vectors in the derived index of [`Space::Memories`]. Every read applies the
//! scope filter and hides expired memories; expired rows are removed by
//! [`EmbeddedStore::m_purge_expired`].

use std::collections::{BTreeMap, HashSet};

use rusqlite::{OptionalExtension, params, params_from_iter, types::Value as SqlValue};

use super::keyword::{self, FtsTable};
use super::{EmbeddedStore, Space, encode_vector, fts_query};
use crate::{
    MemoryCursor, MemoryFilter, MemoryPatch, MemoryRecord, MemoryStats, NewMemory, Scored, StoreError, VaultId,
};

const COLUMNS: &str = "m.id, m.public_id, m.text, m.user_id, m.agent_id, m.session_id, m.tags, m.metadata, m.importance, m.created_ms, m.updated_ms, m.expires_ms";

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
    (sql, args)
}

/// Every match of `query` among the memories meeting `cond`, ranked in SQL: the fallback of
/// keyword search when the filter is narrow.
fn all_matches(
    conn: &rusqlite::Connection,
    query: &str,
    cond: &str,
    cond_args: &[SqlValue],
    limit: usize,
) -> Result<Vec<Scored>, StoreError> {
    let mut args: Vec<SqlValue> = vec![query.to_string().into()];
    args.extend(cond_args.iter().cloned());
    args.push((limit as i64).into());
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT f.rowid, bm25(memories_fts) AS s FROM memories_fts f JOIN memories m ON m.id = f.rowid
         WHERE memories_fts MATCH ? AND {cond} ORDER BY s, f.rowid LIMIT ?"
    ))?;
    let rows = stmt.query_map(params_from_iter(args), keyword::scored)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn tags_text(tags: &[String]) -> String {
    tags.join(" ")
}

impl EmbeddedStore {
    fn dimension_of(conn: &rusqlite::Connection, vault: VaultId) -> Result<usize, StoreError> {
        let dim: Option<i64> =
            conn.prepare_cached("SELECT dimension FROM vaults WHERE id = ?")?.query_row([vault], |r| r.get(0))?;
        dim.map(|d| d as usize)
            .ok_or_else(|| StoreError::Corrupt("vault has no embedder recorded; call set_vault_embedder first".into()))
    }

    pub(crate) fn m_put(&self, vault: VaultId, m: &NewMemory, now_ms: i64) -> Result<MemoryRecord, StoreError> {
        let mut conn = self.conn();
        let dim = Self::dimension_of(&conn, vault)?;
        if m.vector.len() != dim {
            return Err(StoreError::Dimension { expected: dim, got: m.vector.len() });
        }
        let tx = conn.transaction()?;
        let mut bytes = Vec::new();
        encode_vector(&m.vector, &mut bytes);
        let tags = serde_json::to_string(&m.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (rowid, public_id): (i64, String) = tx.query_row(
            "INSERT INTO memories (public_id, vault_id, text, user_id, agent_id, session_id, tags, metadata, importance, created_ms, updated_ms, expires_ms, vector)
             VALUES ('mem_' || lower(hex(randomblob(12))), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, public_id",
            params![vault, m.text, m.user_id, m.agent_id, m.session_id, tags, m.metadata.to_string(), m.importance as f64, now_ms, now_ms, m.expires_ms, bytes],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.execute(
            "INSERT INTO memories_fts (rowid, text, tags) VALUES (?, ?, ?)",
            params![rowid, m.text, tags_text(&m.tags)],
        )?;
        let after = Self::bump_generation(&tx, vault, Space::Memories)?;
        tx.commit()?;
        drop(conn);
        self.patch_index(vault, Space::Memories, after - 1, after, |index| index.push(rowid, rowid, &m.vector));
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
            created_ms: now_ms,
            updated_ms: now_ms,
            expires_ms: m.expires_ms,
        })
    }

    pub(crate) fn m_get(&self, vault: VaultId, id: &str, now_ms: i64) -> Result<Option<MemoryRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.vault_id = ? AND m.public_id = ? AND (m.expires_ms IS NULL OR m.expires_ms > ?)"
        ))?;
        stmt.query_row(params![vault, id, now_ms], row).optional()?.map(finish).transpose()
    }

    pub(crate) fn m_update(
        &self,
        vault: VaultId,
        id: &str,
        patch: &MemoryPatch,
        now_ms: i64,
    ) -> Result<Option<MemoryRecord>, StoreError> {
        let Some(current) = self.m_get(vault, id, now_ms)? else { return Ok(None) };
        if patch.text.is_some() && patch.vector.is_none() {
            return Err(StoreError::Corrupt("a memory's text changed without a new vector".into()));
        }
        let mut conn = self.conn();
        let dim = Self::dimension_of(&conn, vault)?;
        if let Some(v) = &patch.vector
            && v.len() != dim
        {
            return Err(StoreError::Dimension { expected: dim, got: v.len() });
        }
        let mut next = current.clone();
        if let Some(t) = &patch.text {
            next.text = t.clone();
        }
        if let Some(t) = &patch.tags {
            next.tags = t.clone();
        }
        if let Some(m) = &patch.metadata {
            next.metadata = m.clone();
        }
        if let Some(i) = patch.importance {
            next.importance = i;
        }
        if let Some(e) = patch.expires_ms {
            next.expires_ms = e;
        }
        next.updated_ms = now_ms;
        let tags = serde_json::to_string(&next.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE memories SET text = ?, tags = ?, metadata = ?, importance = ?, expires_ms = ?, updated_ms = ? WHERE id = ?",
            params![next.text, tags, next.metadata.to_string(), next.importance as f64, next.expires_ms, now_ms, current.rowid],
        )?;
        if let Some(v) = &patch.vector {
            let mut bytes = Vec::new();
            encode_vector(v, &mut bytes);
            // The staged vector (of a re-embed in progress) was computed from the old text.
            tx.execute(
                "UPDATE memories SET vector = ?, staged_vector = NULL WHERE id = ?",
                params![bytes, current.rowid],
            )?;
        }
        tx.execute("DELETE FROM memories_fts WHERE rowid = ?", [current.rowid])?;
        tx.execute(
            "INSERT INTO memories_fts (rowid, text, tags) VALUES (?, ?, ?)",
            params![current.rowid, next.text, tags_text(&next.tags)],
        )?;
        let after = Self::bump_generation(&tx, vault, Space::Memories)?;
        tx.commit()?;
        drop(conn);
        let rowid = current.rowid;
        match &patch.vector {
            Some(v) => self.patch_index(vault, Space::Memories, after - 1, after, |index| {
                index.remove_document(rowid, &[rowid]);
                index.push(rowid, rowid, v);
            }),
            None => self.patch_index(vault, Space::Memories, after - 1, after, |_| {}),
        }
        Ok(Some(next))
    }

    pub(crate) fn m_delete(&self, vault: VaultId, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let rowid: Option<i64> = tx
            .query_row(
                "DELETE FROM memories WHERE vault_id = ? AND public_id = ? RETURNING id",
                params![vault, id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(rowid) = rowid else { return Ok(false) };
        let after = Self::bump_generation(&tx, vault, Space::Memories)?;
        tx.commit()?;
        drop(conn);
        self.patch_index(vault, Space::Memories, after - 1, after, |index| index.remove_document(rowid, &[rowid]));
        Ok(true)
    }

    pub(crate) fn m_list(
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

    pub(crate) fn m_records(&self, rowids: &[i64]) -> Result<Vec<MemoryRecord>, StoreError> {
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

    pub(crate) fn m_keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        f: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError> {
        let Some(q) = fts_query(query) else { return Ok(Vec::new()) };
        let (cond, args) = condition(vault, f);
        let check = format!("SELECT EXISTS (SELECT 1 FROM memories m WHERE m.id = ? AND {cond})");
        let conn = self.read()?;
        keyword::best_passing(
            &conn,
            FtsTable::Memories,
            &q,
            limit,
            |tx, id| {
                let one = std::iter::once(SqlValue::from(id)).chain(args.iter().cloned());
                Ok(tx.prepare_cached(&check)?.query_row(params_from_iter(one), |r| r.get(0))?)
            },
            |tx| all_matches(tx, &q, &cond, &args, limit),
        )
    }

    pub(crate) fn m_vector_search(
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
        let (candidates, total) =
            self.with_index(&info, Space::Memories, |index| (index.search(vector, window, None), index.len()))?;
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
        self.with_index(&info, Space::Memories, |index| index.search(vector, limit, Some(&allowed)))
    }

    pub(crate) fn m_stats(&self, vault: VaultId, now_ms: i64) -> Result<MemoryStats, StoreError> {
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
        })
    }

    pub(crate) fn m_purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let vaults: Vec<i64> = {
            let mut stmt =
                tx.prepare("SELECT DISTINCT vault_id FROM memories WHERE expires_ms IS NOT NULL AND expires_ms <= ?")?;
            stmt.query_map([now_ms], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        let n = tx.execute("DELETE FROM memories WHERE expires_ms IS NOT NULL AND expires_ms <= ?", [now_ms])?;
        for v in &vaults {
            Self::bump_generation(&tx, *v, Space::Memories)?;
        }
        tx.commit()?;
        Ok(n as u64)
    }

    pub(crate) fn m_to_reembed(
        &self,
        vault: VaultId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<MemoryRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.vault_id = ? AND m.id > ? AND m.staged_vector IS NULL ORDER BY m.id LIMIT ?"
        ))?;
        let rows = stmt.query_map(params![vault, after, limit as i64], row)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// Stages re-embedded vectors of memories not updated since they were read (an update
    /// replaces the text the vector was computed from).
    pub(crate) fn m_stage(&self, vault: VaultId, vectors: &[(i64, i64, Vec<f32>)]) -> Result<(), StoreError> {
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
