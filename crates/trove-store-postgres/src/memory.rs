//! Memories in PostgreSQL: one row each in `memories`, carrying its keyword terms (a
//! `tsvector` of the shared analyzer's stemmed terms of its text and tags, rewritten in the
//! same statement as the text) and its pgvector vector, searched through the vault's partial
//! HNSW index. Every read applies the scope filter and hides expired memories; expired rows
//! are removed by [`MemoryStore::memory_purge_expired`]. Public ids are `mem_` and 24 random hex digits,
//! like the embedded store's, and every change bumps the vault's `memory_generation`. Terms,
//! keyword queries and the HNSW search are the chunks' own (`documents::index_terms`,
//! `or_query`, `nearest`), so memories and chunks are analysed and ranked alike.
//!
//! Lock order: a write that changes memories of a vault first locks the vault's row (the
//! generation bump or an explicit `FOR NO KEY UPDATE`) and only then memory rows, so writes
//! of one vault cannot deadlock each other, and the vault's dimension cannot change between
//! checking a vector and storing it.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use crate::documents::{Narrowing, memory_terms, nearest, or_query};
use crate::vector::VectorRef;
use crate::*;
use trove_store::{MemoryApplied, MemoryEvent, MemoryOp, MemoryVersion, VersionRow};

/// The columns [`record`] reads, on alias `m`.
const COLUMNS: &str = "m.id, m.public_id, m.text, m.user_id, m.agent_id, m.session_id, m.tags, m.metadata::text, \
                       m.importance, m.created_ms, m.updated_ms, m.expires_ms, m.kind, m.version";

/// A new public id: `mem_` and 24 random hex digits (96 bits: a v4 UUID without its fixed
/// version and variant digits), the form of the embedded store's `randomblob(12)` ids.
const NEW_PUBLIC_ID: &str = "(SELECT 'mem_' || substr(h, 1, 12) || substr(h, 14, 3) || substr(h, 18, 9) \
                             FROM (SELECT replace(gen_random_uuid()::text, '-', '') AS h) AS u)";

type Param<'a> = &'a (dyn ToSql + Sync);

fn record(r: &Row) -> Res<MemoryRecord> {
    let id: String = r.try_get(1)?;
    let metadata: String = r.try_get(7)?;
    let metadata =
        serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt(format!("memory {id}: metadata: {e}")))?;
    Ok(MemoryRecord {
        rowid: r.try_get(0)?,
        text: r.try_get(2)?,
        user_id: r.try_get(3)?,
        agent_id: r.try_get(4)?,
        session_id: r.try_get(5)?,
        tags: r.try_get(6)?,
        metadata,
        importance: r.try_get::<_, f64>(8)? as f32,
        kind: r.try_get(12)?,
        version: r.try_get(13)?,
        created_ms: r.try_get(9)?,
        updated_ms: r.try_get(10)?,
        expires_ms: r.try_get(11)?,
        id,
    })
}

fn records(rows: &[Row]) -> Res<Vec<MemoryRecord>> {
    rows.iter().map(record).collect()
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The SQL condition of a filter on the memories under `alias` (without the vault), its
/// values appended to `params` and numbered `$(offset + position)`. Expiry always applies.
fn condition<'a>(f: &'a MemoryFilter, alias: &str, offset: usize, params: &mut Vec<Param<'a>>) -> String {
    let mut add = |v: Param<'a>| {
        params.push(v);
        offset + params.len()
    };
    let mut sql = format!("({alias}.expires_ms IS NULL OR {alias}.expires_ms > ${})", add(&f.now_ms));
    for (col, value) in [("user_id", &f.user_id), ("agent_id", &f.agent_id), ("session_id", &f.session_id)] {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {alias}.{col} = ${}", add(v)));
        }
    }
    if !f.tags.is_empty() {
        sql.push_str(&format!(" AND {alias}.tags @> ${}::text[]", add(&f.tags)));
    }
    if let Some(t) = &f.created_after_ms {
        sql.push_str(&format!(" AND {alias}.created_ms >= ${}", add(t)));
    }
    if let Some(t) = &f.created_before_ms {
        sql.push_str(&format!(" AND {alias}.created_ms < ${}", add(t)));
    }
    if !f.kinds.is_empty() {
        sql.push_str(&format!(" AND {alias}.kind = ANY(${}::text[])", add(&f.kinds)));
    }
    if let Some(i) = &f.min_importance {
        sql.push_str(&format!(" AND {alias}.importance >= ${}::real::double precision", add(i)));
    }
    sql
}

/// Whether `f` filters on what an external vector index's points do not carry (kind,
/// importance), so PostgreSQL answers the search itself.
fn narrows_beyond_the_index(f: &MemoryFilter) -> bool {
    !f.kinds.is_empty() || f.min_importance.is_some()
}

/// A vector of `got` dimensions fits the vault's recorded `dimension`.
fn check_dimension(vault: VaultId, dimension: Option<i32>, got: usize) -> Res<()> {
    let Some(expected) = dimension else { return Err(StoreError::NoEmbedder { vault }.into()) };
    let expected = usize::try_from(expected).unwrap_or(0);
    if got != expected {
        return Err(StoreError::Dimension { expected, got }.into());
    }
    Ok(())
}

/// Bumps the vault's memory generation (locking its row) and returns its dimension; `None`
/// when there is no such vault.
fn bump_generation(c: &mut impl GenericClient, vault: VaultId) -> Res<Option<Option<i32>>> {
    let row = c.query_opt(
        "UPDATE vaults SET memory_generation = memory_generation + 1 WHERE id = $1 RETURNING dimension",
        &[&vault],
    )?;
    Ok(match row {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

/// Locks the vault's row for a change of its memories and returns its dimension; `None` when
/// there is no such vault.
fn lock_vault(c: &mut impl GenericClient, vault: VaultId) -> Res<Option<Option<i32>>> {
    let row = c.query_opt("SELECT dimension FROM vaults WHERE id = $1 FOR NO KEY UPDATE", &[&vault])?;
    Ok(match row {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

fn record_version(
    c: &mut impl GenericClient,
    vault: VaultId,
    id: &str,
    version: i64,
    v: &VersionRow<'_>,
    actor: Option<&str>,
    now_ms: i64,
) -> Res<()> {
    c.execute(
        "INSERT INTO memory_versions (vault_id, memory_id, version, event, old_text, new_text, actor, reason, at_ms, snapshot) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[&vault, &id, &version, &v.event.as_str(), &v.old, &v.new, &actor, &v.reason, &now_ms, &v.snapshot],
    )?;
    Ok(())
}

/// The memory `id` of `vault`, locked, live at `now_ms` (any expiry when `None`), at the
/// `expected` version when given; otherwise [`StoreError::Stale`].
fn live_for_change(
    c: &mut impl GenericClient,
    vault: VaultId,
    id: &str,
    expected: Option<i64>,
    now_ms: Option<i64>,
) -> Res<MemoryRecord> {
    let row = c.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM memories m WHERE m.vault_id = $1 AND m.public_id = $2 \
             AND ($3::bigint IS NULL OR m.expires_ms IS NULL OR m.expires_ms > $3) FOR UPDATE"
        ),
        &[&vault, &id, &now_ms],
    )?;
    let stale = |found: i64| StoreError::Stale { id: id.to_string(), expected: expected.unwrap_or(0), found };
    let Some(row) = row else { return Err(stale(0).into()) };
    let m = record(&row)?;
    if expected.is_some_and(|e| e != m.version) {
        return Err(stale(m.version).into());
    }
    Ok(m)
}

impl PgStore {
    /// Inserts `memory` (version 1) inside `tx`.
    fn add_in(
        &self,
        tx: &mut impl GenericClient,
        vault: VaultId,
        memory: &NewMemory,
        now_ms: i64,
    ) -> Res<MemoryRecord> {
        let terms = memory_terms(&self.analyzer, &memory.text, &memory.tags);
        let metadata = memory.metadata.to_string();
        let importance = f64::from(memory.importance);
        let row = tx.query_one(
            &format!(
                "INSERT INTO memories (public_id, vault_id, text, user_id, agent_id, session_id, tags, metadata, \
                 importance, created_ms, updated_ms, expires_ms, terms, vector, kind) \
                 VALUES ({NEW_PUBLIC_ID}, $1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9, $9, $10, \
                 to_tsvector('simple', $11), $12, $13) RETURNING id, public_id"
            ),
            &[
                &vault,
                &memory.text,
                &memory.user_id,
                &memory.agent_id,
                &memory.session_id,
                &memory.tags,
                &metadata,
                &importance,
                &now_ms,
                &memory.expires_ms,
                &terms,
                &VectorRef(&memory.vector),
                &memory.kind,
            ],
        )?;
        Ok(MemoryRecord {
            rowid: row.try_get(0)?,
            id: row.try_get(1)?,
            text: memory.text.clone(),
            user_id: memory.user_id.clone(),
            agent_id: memory.agent_id.clone(),
            session_id: memory.session_id.clone(),
            tags: memory.tags.clone(),
            metadata: memory.metadata.clone(),
            importance: memory.importance,
            kind: memory.kind.clone(),
            version: 1,
            created_ms: now_ms,
            updated_ms: now_ms,
            expires_ms: memory.expires_ms,
        })
    }

    /// Writes `next` over its row inside `tx` (with `vector` when the text changed).
    fn update_in(&self, tx: &mut impl GenericClient, next: &MemoryRecord, vector: Option<&[f32]>) -> Res<()> {
        let terms = memory_terms(&self.analyzer, &next.text, &next.tags);
        let metadata = next.metadata.to_string();
        let importance = f64::from(next.importance);
        let vector = vector.map(VectorRef);
        // A staged vector (of a re-embed in progress) was computed from the old text: a new
        // vector drops it.
        tx.execute(
            "UPDATE memories SET text = $2, tags = $3, metadata = $4::text::jsonb, importance = $5, expires_ms = $6, \
             updated_ms = $7, terms = to_tsvector('simple', $8), vector = coalesce($9::vector, vector), \
             staged_vector = CASE WHEN $9::vector IS NULL THEN staged_vector END, kind = $10, version = $11 WHERE id = $1",
            &[
                &next.rowid,
                &next.text,
                &next.tags,
                &metadata,
                &importance,
                &next.expires_ms,
                &next.updated_ms,
                &terms,
                &vector,
                &next.kind,
                &next.version,
            ],
        )?;
        Ok(())
    }
}

impl MemoryStore for PgStore {
    fn memory_get(&self, vault: VaultId, id: &str, now_ms: i64) -> Result<Option<MemoryRecord>, StoreError> {
        self.read(|c| {
            let row = c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM memories m WHERE m.vault_id = $1 AND m.public_id = $2 \
                     AND (m.expires_ms IS NULL OR m.expires_ms > $3)"
                ),
                &[&vault, &id, &now_ms],
            )?;
            row.as_ref().map(record).transpose()
        })
    }

    fn memory_list(
        &self,
        vault: VaultId,
        filter: &MemoryFilter,
        after: Option<MemoryCursor>,
        limit: usize,
    ) -> Result<Vec<MemoryRecord>, StoreError> {
        let limit = sql_limit(limit);
        let cursor = after.map(|c| (c.created_ms, c.rowid));
        self.read(|c| {
            let mut params: Vec<Param<'_>> = vec![&vault];
            let mut cond = format!("m.vault_id = $1 AND {}", condition(filter, "m", 0, &mut params));
            if let Some((created_ms, rowid)) = &cursor {
                params.push(created_ms);
                params.push(rowid);
                cond.push_str(&format!(" AND (m.created_ms, m.id) < (${}, ${})", params.len() - 1, params.len()));
            }
            params.push(&limit);
            let sql = format!(
                "SELECT {COLUMNS} FROM memories m WHERE {cond} ORDER BY m.created_ms DESC, m.id DESC LIMIT ${}",
                params.len()
            );
            records(&c.query(&sql, &params)?)
        })
    }

    fn memory_keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError> {
        let Some(q) = or_query(&self.analyzer, query) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = sql_limit(limit);
        self.read(|c| {
            let mut params: Vec<Param<'_>> = vec![&q, &vault];
            let cond = condition(filter, "m", 0, &mut params);
            params.push(&limit);
            let sql = format!(
                "SELECT m.id, ts_rank(m.terms, q.query, 1) AS s \
                 FROM memories m CROSS JOIN to_tsquery('simple', $1) AS q(query) \
                 WHERE m.vault_id = $2 AND m.terms @@ q.query AND {cond} \
                 ORDER BY s DESC, m.id LIMIT ${}",
                params.len()
            );
            c.query(&sql, &params)?
                .iter()
                .map(|r| Ok(Scored { id: r.try_get(0)?, score: r.try_get::<_, f32>(1)? }))
                .collect()
        })
    }

    fn memory_vector_search(
        &self,
        vault: VaultId,
        vector: &[f32],
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError> {
        // The external index's points carry no kind or importance: those filters are
        // PostgreSQL's.
        if !narrows_beyond_the_index(filter)
            && let Some(hits) = self.index_search(vault, vector.len(), |index, model| {
                index.search_memories(vault, model, vector, limit, filter)
            })
        {
            return Ok(hits);
        }
        self.read(|c| {
            let row = c.query_opt("SELECT dimension FROM vaults WHERE id = $1", &[&vault])?;
            // No vault, or no vectors yet: nothing can match.
            let Some(row) = row else { return Ok(Vec::new()) };
            let Some(dimension) = row.try_get::<_, Option<i32>>(0)? else { return Ok(Vec::new()) };
            let dimension = usize::try_from(dimension).unwrap_or(0);
            if dimension != vector.len() {
                return Err(StoreError::Dimension { expected: dimension, got: vector.len() }.into());
            }
            if limit == 0 {
                return Ok(Vec::new());
            }
            // `nearest` names the memories `c`, numbers its parameters from $2, writes vault and
            // dimension into the SQL (so the planner picks the vault's partial HNSW index), scans
            // iteratively so filtered searches still fill `limit`, and re-sorts by similarity.
            let mut params: Vec<Param<'_>> = Vec::new();
            let cond = format!(" AND {}", condition(filter, "c", 1, &mut params));
            let narrowing = Narrowing { join: "", conditions: &cond, params: &params };
            let hits = nearest(c, "memories", (vault, dimension), vector, &narrowing, limit)?;
            Ok(hits.into_iter().map(|(id, score)| Scored { id, score }).collect())
        })
    }

    fn memory_hybrid_search(
        &self,
        vault: VaultId,
        query: &HybridQuery<'_>,
        filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        if narrows_beyond_the_index(filter) {
            return Ok(None);
        }
        self.index_hybrid_search(vault, query, |index, model, sparse| {
            index.hybrid_memories(vault, model, query, sparse, filter)
        })
    }

    fn memory_records(&self, rowids: &[i64]) -> Result<Vec<MemoryRecord>, StoreError> {
        if rowids.is_empty() {
            return Ok(Vec::new());
        }
        let found: HashMap<i64, MemoryRecord> = self.read(|c| {
            let rows = c.query(&format!("SELECT {COLUMNS} FROM memories m WHERE m.id = ANY($1)"), &[&rowids])?;
            rows.iter().map(|r| record(r).map(|m| (m.rowid, m))).collect()
        })?;
        // In the order asked, skipping ids that are gone.
        Ok(rowids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    fn memory_stats(&self, vault: VaultId, now_ms: i64) -> Result<MemoryStats, StoreError> {
        const DAY: i64 = 86_400_000;
        const LIVE: &str = "vault_id = $1 AND (expires_ms IS NULL OR expires_ms > $2)";
        self.read(|c| {
            let mut tx = c
                .build_transaction()
                .read_only(true)
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .start()?;
            let row = tx.query_one(
                &format!(
                    "SELECT count(*), min(created_ms), max(created_ms), \
                     coalesce(sum(octet_length(text)::bigint + 4 * vector_dims(vector)), 0)::bigint \
                     FROM memories WHERE {LIVE}"
                ),
                &[&vault, &now_ms],
            )?;
            let (total, oldest_ms, newest_ms, bytes): (i64, Option<i64>, Option<i64>, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
            let expired: i64 = tx
                .query_one(
                    "SELECT count(*) FROM memories WHERE vault_id = $1 AND expires_ms IS NOT NULL AND expires_ms <= $2",
                    &[&vault, &now_ms],
                )?
                .try_get(0)?;
            let counts = |rows: Vec<Row>| -> Res<Vec<(String, u64)>> {
                rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)?.max(0) as u64))).collect()
            };
            let mut group = |col: &str| -> Res<Vec<(String, u64)>> {
                counts(tx.query(
                    &format!(
                        "SELECT coalesce({col}, '') COLLATE \"C\", count(*) FROM memories WHERE {LIVE} \
                         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100"
                    ),
                    &[&vault, &now_ms],
                )?)
            };
            let by_user = group("user_id")?;
            let by_agent = group("agent_id")?;
            let by_session = group("session_id")?;
            let by_type = group("kind")?;
            let history = tx.query_one(
                "SELECT count(*) FILTER (WHERE event = 'MERGE'), count(*) FILTER (WHERE event = 'DELETE') \
                 FROM memory_versions WHERE vault_id = $1",
                &[&vault],
            )?;
            let (merges, deleted): (i64, i64) = (history.try_get(0)?, history.try_get(1)?);
            let by_tag = counts(tx.query(
                &format!(
                    "SELECT t.tag COLLATE \"C\", count(*) FROM memories CROSS JOIN unnest(tags) AS t(tag) \
                     WHERE {LIVE} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100"
                ),
                &[&vault, &now_ms],
            )?)?;
            let mut by_age: Vec<(String, u64)> = ["under 1 day", "1–7 days", "7–30 days", "over 30 days"]
                .iter()
                .map(|label| (label.to_string(), 0))
                .collect();
            let rows = tx.query(
                &format!(
                    "SELECT CASE WHEN $2 - created_ms < {DAY} THEN 0 WHEN $2 - created_ms < {} THEN 1 \
                     WHEN $2 - created_ms < {} THEN 2 ELSE 3 END AS bucket, count(*) \
                     FROM memories WHERE {LIVE} GROUP BY 1",
                    7 * DAY,
                    30 * DAY
                ),
                &[&vault, &now_ms],
            )?;
            for r in &rows {
                let (bucket, n): (i32, i64) = (r.try_get(0)?, r.try_get(1)?);
                if let Some(e) = usize::try_from(bucket).ok().and_then(|b| by_age.get_mut(b)) {
                    e.1 = n.max(0) as u64;
                }
            }
            tx.commit()?;
            Ok(MemoryStats {
                total: total.max(0) as u64,
                expired: expired.max(0) as u64,
                by_user,
                by_agent,
                by_session,
                by_tag,
                by_age,
                oldest_ms,
                newest_ms,
                bytes: bytes.max(0) as u64,
                by_type,
                merges: merges.max(0) as u64,
                deleted: deleted.max(0) as u64,
            })
        })
    }

    fn memories_to_reembed(&self, vault: VaultId, after: i64, limit: usize) -> Result<Vec<MemoryRecord>, StoreError> {
        let limit = sql_limit(limit);
        self.read(|c| {
            records(&c.query(
                &format!(
                    "SELECT {COLUMNS} FROM memories m WHERE m.vault_id = $1 AND m.id > $2 AND m.staged_vector IS NULL \
                     ORDER BY m.id LIMIT $3"
                ),
                &[&vault, &after, &limit],
            )?)
        })
    }

    fn memory_apply(
        &self,
        vault: VaultId,
        ops: &[MemoryOp],
        actor: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<MemoryApplied>, StoreError> {
        let done = self.write(|tx| {
            let Some(dimension) = lock_vault(tx, vault)? else {
                return Err(StoreError::Database {
                    what: self.what().into(),
                    reason: format!("no vault with id {vault}"),
                }
                .into());
            };
            let mut done = Vec::with_capacity(ops.len());
            let mut touched = Vec::new();
            for op in ops {
                let applied = match op {
                    MemoryOp::Add { memory, reason } => {
                        check_dimension(vault, dimension, memory.vector.len())?;
                        let m = self.add_in(tx, vault, memory, now_ms)?;
                        touched.push(m.rowid);
                        let v = VersionRow {
                            event: MemoryEvent::Add,
                            old: None,
                            new: Some(&m.text),
                            reason: reason.as_deref(),
                            snapshot: None,
                        };
                        record_version(tx, vault, &m.id, m.version, &v, actor, now_ms)?;
                        MemoryApplied { event: MemoryEvent::Add, id: m.id.clone(), memory: Some(m) }
                    }
                    MemoryOp::Update { id, expected_version, patch, event, reason } => {
                        if patch.text.is_some() && patch.vector.is_none() {
                            return Err(
                                StoreError::Corrupt("a memory's text changed without a new vector".into()).into()
                            );
                        }
                        if let Some(v) = &patch.vector {
                            check_dimension(vault, dimension, v.len())?;
                        } else if dimension.is_none() {
                            return Err(StoreError::NoEmbedder { vault }.into());
                        }
                        let current = live_for_change(tx, vault, id, *expected_version, Some(now_ms))?;
                        let next = patch.applied(&current, now_ms);
                        self.update_in(tx, &next, patch.vector.as_deref())?;
                        touched.push(next.rowid);
                        let v = VersionRow {
                            event: *event,
                            old: Some(&current.text),
                            new: Some(&next.text),
                            reason: reason.as_deref(),
                            snapshot: None,
                        };
                        record_version(tx, vault, id, next.version, &v, actor, now_ms)?;
                        MemoryApplied { event: *event, id: id.clone(), memory: Some(next) }
                    }
                    MemoryOp::Delete { id, expected_version, soft, reason } => {
                        let current = live_for_change(tx, vault, id, *expected_version, None)?;
                        tx.execute("DELETE FROM memories WHERE id = $1", &[&current.rowid])?;
                        touched.push(current.rowid);
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
                            record_version(tx, vault, id, current.version + 1, &v, actor, now_ms)?;
                        } else {
                            tx.execute(
                                "DELETE FROM memory_versions WHERE vault_id = $1 AND memory_id = $2",
                                &[&vault, &id],
                            )?;
                        }
                        MemoryApplied { event: MemoryEvent::Delete, id: id.clone(), memory: None }
                    }
                };
                done.push(applied);
            }
            if !ops.is_empty() {
                bump_generation(tx, vault)?;
            }
            for rowid in touched {
                crate::index::queue_memory(tx, self, vault, rowid)?;
            }
            Ok(done)
        })?;
        self.after_write(vault);
        Ok(done)
    }

    fn memory_history(&self, vault: VaultId, id: &str) -> Result<Vec<MemoryVersion>, StoreError> {
        self.read(|c| {
            let rows = c.query(
                "SELECT memory_id, version, event, old_text, new_text, actor, reason, at_ms FROM memory_versions \
                 WHERE vault_id = $1 AND memory_id = $2 ORDER BY version, id",
                &[&vault, &id],
            )?;
            rows.iter()
                .map(|r| {
                    let event: String = r.try_get(2)?;
                    let memory_id: String = r.try_get(0)?;
                    let Some(parsed) = MemoryEvent::parse(&event) else {
                        return Err(StoreError::Corrupt(format!(
                            "memory {memory_id}: unknown history event `{event}`"
                        ))
                        .into());
                    };
                    Ok(MemoryVersion {
                        memory_id,
                        version: r.try_get(1)?,
                        event: parsed,
                        old_text: r.try_get(3)?,
                        new_text: r.try_get(4)?,
                        actor: r.try_get(5)?,
                        reason: r.try_get(6)?,
                        at_ms: r.try_get(7)?,
                    })
                })
                .collect()
        })
    }

    fn memory_purge_deleted(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.write(|tx| {
            let gone = tx.query(
                "SELECT vault_id, memory_id FROM memory_versions WHERE event = 'DELETE' AND at_ms <= $1",
                &[&before_ms],
            )?;
            for r in &gone {
                let (vault, id): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
                tx.execute("DELETE FROM memory_versions WHERE vault_id = $1 AND memory_id = $2", &[&vault, &id])?;
            }
            Ok(gone.len() as u64)
        })
    }

    fn memory_purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        let n = self.write(|tx| {
            // Vault rows first, in id order (see the module's lock order); memories expiring in
            // another vault meanwhile wait for the next purge.
            let vaults: Vec<i64> = tx
                .query(
                    "SELECT id FROM vaults WHERE id IN (SELECT DISTINCT vault_id FROM memories \
                     WHERE expires_ms IS NOT NULL AND expires_ms <= $1) ORDER BY id FOR NO KEY UPDATE",
                    &[&now_ms],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            if vaults.is_empty() {
                return Ok(0);
            }
            let gone = tx.query(
                "DELETE FROM memories WHERE vault_id = ANY($1) AND expires_ms IS NOT NULL AND expires_ms <= $2 RETURNING id, vault_id",
                &[&vaults, &now_ms],
            )?;
            for row in &gone {
                crate::index::queue_memory(tx, self, row.try_get(1)?, row.try_get(0)?)?;
            }
            let n = gone.len() as u64;
            tx.execute("UPDATE vaults SET memory_generation = memory_generation + 1 WHERE id = ANY($1)", &[&vaults])?;
            Ok(n)
        })?;
        if n > 0 && self.index.is_some() {
            // Every vault's purged memories: the outbox rows name them.
            if let Err(e) = self.sync_index(None) {
                tracing::warn!(error = %e, "the vector index lags behind PostgreSQL after a purge");
            }
        }
        Ok(n)
    }

    fn stage_memory_vectors(&self, vault: VaultId, vectors: &[(i64, i64, Vec<f32>)]) -> Result<(), StoreError> {
        if vectors.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            // A memory updated since it was read (`updated_ms` differs) keeps no staged vector:
            // its text is not the one the vector was computed from.
            let stmt = tx.prepare(
                "UPDATE memories SET staged_vector = $1::vector WHERE id = $2 AND vault_id = $3 AND updated_ms = $4",
            )?;
            for (rowid, updated_ms, v) in vectors {
                tx.execute(&stmt, &[&VectorRef(v), rowid, &vault, updated_ms])?;
            }
            Ok(())
        })
    }
}
