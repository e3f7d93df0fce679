//! Answers' conversations in PostgreSQL: a `conversations` row per conversation (its vault and
//! owner, title, expiry) and a `conversation_turns` row per turn, deleted with it (foreign keys
//! cascade, also when its vault goes). Expired conversations are invisible to reads before the
//! purge deletes them.

use trove_store::{ConversationRecord, NewTurn, TurnRecord};

use crate::*;

/// The columns [`record`] reads, from `conversations c`.
const COLUMNS: &str = "c.id, c.public_id, c.vault_id, c.owner, c.title, c.created_ms, c.updated_ms, c.expires_ms, \
     (SELECT count(*) FROM conversation_turns t WHERE t.conversation_id = c.id)";

fn record(r: &postgres::Row) -> Res<ConversationRecord> {
    Ok(ConversationRecord {
        rowid: r.try_get(0)?,
        id: r.try_get(1)?,
        vault_id: r.try_get(2)?,
        owner: r.try_get(3)?,
        title: r.try_get(4)?,
        created_ms: r.try_get(5)?,
        updated_ms: r.try_get(6)?,
        expires_ms: r.try_get(7)?,
        turns: r.try_get::<_, i64>(8)?.max(0) as u64,
    })
}

impl ConversationStore for PgStore {
    fn conversation_create(
        &self,
        vault: VaultId,
        owner: &str,
        id: &str,
        title: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<ConversationRecord, StoreError> {
        let rowid: i64 = self.write(|tx| {
            Ok(tx
                .query_one(
                    "INSERT INTO conversations (public_id, vault_id, owner, title, created_ms, updated_ms, expires_ms)
                     VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id",
                    &[&id, &vault, &owner, &title, &now_ms, &expires_ms],
                )?
                .try_get(0)?)
        })?;
        Ok(ConversationRecord {
            rowid,
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
        self.read(|c| {
            let row = c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM conversations c \
                     WHERE c.vault_id = $1 AND c.owner = $2 AND c.public_id = $3 AND c.expires_ms > $4"
                ),
                &[&vault, &owner, &id, &now_ms],
            )?;
            row.as_ref().map(record).transpose()
        })
    }

    fn conversation_list(
        &self,
        vault: VaultId,
        owner: &str,
        now_ms: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        self.read(|c| {
            c.query(
                &format!(
                    "SELECT {COLUMNS} FROM conversations c \
                     WHERE c.vault_id = $1 AND c.owner = $2 AND c.expires_ms > $3 AND c.id < $4 \
                     ORDER BY c.id DESC LIMIT $5"
                ),
                &[&vault, &owner, &now_ms, &before, &big(limit)],
            )?
            .iter()
            .map(record)
            .collect()
        })
    }

    fn conversation_add_turn(
        &self,
        conversation: i64,
        turn: &NewTurn,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool, StoreError> {
        let citations = turn.citations.to_string();
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE conversations SET updated_ms = $1, expires_ms = $2 WHERE id = $3",
                &[&now_ms, &expires_ms, &conversation],
            )?;
            if n == 1 {
                tx.execute(
                    "INSERT INTO conversation_turns (conversation_id, question, rewritten, answer, citations, created_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&conversation, &turn.question, &turn.rewritten, &turn.answer, &citations, &now_ms],
                )?;
            }
            Ok(n == 1)
        })
    }

    fn conversation_turns(&self, conversation: i64, last: usize) -> Result<Vec<TurnRecord>, StoreError> {
        let mut turns = self.read(|c| {
            c.query(
                "SELECT id, question, rewritten, answer, citations, created_ms FROM conversation_turns \
                 WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2",
                &[&conversation, &big(last)],
            )?
            .iter()
            .map(|r| {
                let rowid: i64 = r.try_get(0)?;
                let citations: String = r.try_get(4)?;
                let citations = serde_json::from_str(&citations).map_err(|e| {
                    Fail::Store(StoreError::Corrupt(format!("citations of conversation turn {rowid}: {e}")))
                })?;
                Ok(TurnRecord {
                    rowid,
                    turn: NewTurn {
                        question: r.try_get(1)?,
                        rewritten: r.try_get(2)?,
                        answer: r.try_get(3)?,
                        citations,
                    },
                    created_ms: r.try_get(5)?,
                })
            })
            .collect::<Res<Vec<_>>>()
        })?;
        turns.reverse();
        Ok(turns)
    }

    fn conversation_delete(&self, vault: VaultId, owner: &str, id: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM conversations WHERE vault_id = $1 AND owner = $2 AND public_id = $3",
                &[&vault, &owner, &id],
            )? == 1)
        })
    }

    fn conversation_purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.write(|tx| Ok(tx.execute("DELETE FROM conversations WHERE expires_ms <= $1", &[&now_ms])?))
    }
}
