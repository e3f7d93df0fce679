//! Answers' conversations in the embedded store: a `conversations` row per conversation (its
//! vault and owner, title, expiry) and a `conversation_turns` row per turn, deleted with it
//! (foreign keys cascade, also when its vault goes). Expired conversations are invisible to
//! reads before the purge deletes them.

use rusqlite::{OptionalExtension, params};

use super::EmbeddedStore;
use crate::{ConversationRecord, ConversationStore, NewTurn, StoreError, TurnRecord, VaultId};

/// The columns [`record`] reads, from `conversations c`.
const COLUMNS: &str = "c.id, c.public_id, c.vault_id, c.owner, c.title, c.created_ms, c.updated_ms, c.expires_ms, \
     (SELECT count(*) FROM conversation_turns t WHERE t.conversation_id = c.id)";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationRecord> {
    Ok(ConversationRecord {
        rowid: r.get(0)?,
        id: r.get(1)?,
        vault_id: r.get(2)?,
        owner: r.get(3)?,
        title: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
        expires_ms: r.get(7)?,
        turns: r.get::<_, i64>(8)?.max(0) as u64,
    })
}

impl ConversationStore for EmbeddedStore {
    fn conversation_create(
        &self,
        vault: VaultId,
        owner: &str,
        id: &str,
        title: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<ConversationRecord, StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO conversations (public_id, vault_id, owner, title, created_ms, updated_ms, expires_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![id, vault, owner, title, now_ms, now_ms, expires_ms])?;
        Ok(ConversationRecord {
            rowid: conn.last_insert_rowid(),
            id: id.into(),
            vault_id: vault,
            owner: owner.into(),
            title: title.into(),
            created_ms: now_ms,
            updated_ms: now_ms,
            expires_ms,
            turns: 0,
        })
    }

    fn conversation_get(
        &self,
        vault: VaultId,
        owner: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM conversations c
             WHERE c.vault_id = ? AND c.owner = ? AND c.public_id = ? AND c.expires_ms > ?"
        ))?;
        Ok(stmt.query_row(params![vault, owner, id, now_ms], record).optional()?)
    }

    fn conversation_list(
        &self,
        vault: VaultId,
        owner: &str,
        now_ms: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM conversations c
             WHERE c.vault_id = ? AND c.owner = ? AND c.expires_ms > ? AND c.id < ?
             ORDER BY c.id DESC LIMIT ?"
        ))?;
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![vault, owner, now_ms, before, limit], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn conversation_add_turn(
        &self,
        conversation: i64,
        turn: &NewTurn,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE conversations SET updated_ms = ?, expires_ms = ? WHERE id = ?",
            params![now_ms, expires_ms, conversation],
        )?;
        if n == 1 {
            tx.execute(
                "INSERT INTO conversation_turns (conversation_id, question, rewritten, answer, citations, created_ms)
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![conversation, turn.question, turn.rewritten, turn.answer, turn.citations.to_string(), now_ms],
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn conversation_turns(&self, conversation: i64, last: usize) -> Result<Vec<TurnRecord>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, question, rewritten, answer, citations, created_ms FROM conversation_turns
             WHERE conversation_id = ? ORDER BY id DESC LIMIT ?",
        )?;
        let last = i64::try_from(last).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![conversation, last], |r| {
            Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?, r.get(5)?))
        })?;
        let mut turns = rows
            .map(|row| {
                let (rowid, question, rewritten, answer, citations, created_ms) = row?;
                let citations = serde_json::from_str(&citations)
                    .map_err(|e| StoreError::Corrupt(format!("citations of conversation turn {rowid}: {e}")))?;
                Ok(TurnRecord { rowid, turn: NewTurn { question, rewritten, answer, citations }, created_ms })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        turns.reverse();
        Ok(turns)
    }

    fn conversation_delete(&self, vault: VaultId, owner: &str, id: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "DELETE FROM conversations WHERE vault_id = ? AND owner = ? AND public_id = ?",
            params![vault, owner, id],
        )?;
        Ok(n == 1)
    }

    fn conversation_purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        Ok(self.conn().execute("DELETE FROM conversations WHERE expires_ms <= ?", [now_ms])? as u64)
    }
}
