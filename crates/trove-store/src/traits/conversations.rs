//! [`ConversationStore`]: the turns of answers' conversations, each owned by one principal in
//! one vault, expiring a while after their last turn.

use crate::{ConversationRecord, NewTurn, StoreError, TurnRecord, VaultId};

/// Conversations. Every read and delete names the vault and the owner, so one owner's
/// conversation is never reached through another's (or another vault's) call.
pub trait ConversationStore: Send + Sync {
    /// Starts a conversation with public id `id`, expiring at `expires_ms`.
    fn conversation_create(
        &self,
        vault: VaultId,
        owner: &str,
        id: &str,
        title: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<ConversationRecord, StoreError>;
    /// A live (unexpired) conversation of `owner` in `vault` by public id.
    fn conversation_get(
        &self,
        vault: VaultId,
        owner: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<ConversationRecord>, StoreError>;
    /// Live conversations of `owner` in `vault` with row id below `before`, newest first.
    fn conversation_list(
        &self,
        vault: VaultId,
        owner: &str,
        now_ms: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ConversationRecord>, StoreError>;
    /// Appends a turn to the conversation with row id `conversation` and moves its expiry to
    /// `expires_ms`; `false` when it is gone.
    fn conversation_add_turn(
        &self,
        conversation: i64,
        turn: &NewTurn,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<bool, StoreError>;
    /// The last `last` turns of the conversation with row id `conversation`, oldest first.
    fn conversation_turns(&self, conversation: i64, last: usize) -> Result<Vec<TurnRecord>, StoreError>;
    /// Deletes a conversation of `owner` in `vault` with its turns; `false` when absent.
    fn conversation_delete(&self, vault: VaultId, owner: &str, id: &str) -> Result<bool, StoreError>;
    /// Deletes every conversation whose expiry has passed, with its turns; returns how many.
    fn conversation_purge_expired(&self, now_ms: i64) -> Result<u64, StoreError>;
}
