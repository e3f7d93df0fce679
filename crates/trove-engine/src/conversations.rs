//! Conversations of answers: the turns a principal's questions in a vault make, kept so that a
//! follow-up can be asked as one (see [`crate::answer`]), listed, read and deleted by their
//! owner only, and purged a while after their last turn (`answers.conversation_ttl_hours`).
//!
//! **Owner.** A conversation belongs to the user behind the principal that started it (the
//! user who holds the API key, or whose session it is; in the single-user mode, `local`), in
//! one vault. Every read names the vault and the owner, so another user's conversation, or one
//! in another vault, answers exactly like one that does not exist (`conversation_not_found`),
//! and the vault itself passed the [`Access`] check first (so another organization's vault is
//! `vault_not_found` before any conversation is looked up).
//!
//! **History.** `Engine::conversation_history` gives the newest turns that fit a token
//! budget, oldest first, for the follow-up rewrite.

use trove_store::{ConversationRecord, NewTurn, TurnRecord, VaultInfo};
use trove_types::{Citation, Conversation, ConversationPage, ConversationSummary, ConversationTurn};

use crate::access::{Access, perm};
use crate::auth::Principal;
use crate::memory::format_ms;
use crate::{Engine, EngineError};

/// The most conversations a page lists.
pub const MAX_CONVERSATION_LIMIT: usize = 100;

/// The most turns a conversation shows (and the most its history is read from).
pub const MAX_TURNS: usize = 500;

/// The longest title, in characters (the first question, shortened).
const TITLE_CHARS: usize = 80;

/// A turn whose answer is complete, to be added to its conversation
/// ([`Engine::record_turn`]).
#[derive(Debug, Clone)]
pub struct FinishedTurn {
    pub(crate) conversation: i64,
    pub(crate) turn: NewTurn,
}

/// Whose conversations a principal reaches: its user's.
pub fn owner(principal: &Principal) -> String {
    match principal {
        Principal::Local => "local".into(),
        Principal::Key(k) => format!("user:{}", k.user_email.to_lowercase()),
    }
}

/// The first question, shortened to a title.
fn title(question: &str) -> String {
    let line = question.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= TITLE_CHARS {
        return line;
    }
    let mut short: String = line.chars().take(TITLE_CHARS - 1).collect();
    short.push('…');
    short
}

fn summary(vault: &str, c: &ConversationRecord) -> ConversationSummary {
    ConversationSummary {
        id: c.id.clone(),
        vault: vault.to_string(),
        title: c.title.clone(),
        turns: c.turns,
        created_at: format_ms(c.created_ms),
        updated_at: format_ms(c.updated_ms),
        expires_at: format_ms(c.expires_ms),
    }
}

fn turn_view(t: TurnRecord) -> ConversationTurn {
    ConversationTurn {
        question: t.turn.question,
        rewritten_question: t.turn.rewritten,
        answer: t.turn.answer,
        // Stored as the engine made them; a turn whose citations no longer read (written by
        // another version) shows none rather than failing the whole conversation.
        citations: serde_json::from_value::<Vec<Citation>>(t.turn.citations).unwrap_or_default(),
        created_at: format_ms(t.created_ms),
    }
}

fn bad(message: String) -> EngineError {
    EngineError::BadRequest(message)
}

impl Engine {
    /// When a conversation touched now expires.
    fn conversation_expiry(&self) -> i64 {
        let hours = self.workspace.config.answers.conversation_ttl_hours;
        self.now_ms().saturating_add((hours * 3_600_000.0) as i64)
    }

    fn not_found(access: &Access<perm::Search>, id: &str) -> EngineError {
        EngineError::ConversationNotFound { vault: access.vault().into(), id: id.into() }
    }

    /// The vault's row, if it exists yet (a configured vault nobody used has none, and so no
    /// conversations).
    fn conversation_vault(&self, access: &Access<perm::Search>) -> Result<Option<VaultInfo>, EngineError> {
        Ok(self.store.vault(access.vault())?)
    }

    /// The caller's live conversation `id` in the vault.
    pub(crate) fn own_conversation(
        &self,
        access: &Access<perm::Search>,
        id: &str,
    ) -> Result<ConversationRecord, EngineError> {
        let Some(vault) = self.conversation_vault(access)? else {
            return Err(Engine::not_found(access, id));
        };
        self.store
            .conversation_get(vault.id, &owner(access.principal()), id, self.now_ms())?
            .ok_or_else(|| Engine::not_found(access, id))
    }

    /// Starts a conversation for the caller, titled after its first question.
    pub(crate) fn start_conversation(
        &self,
        access: &Access<perm::Search>,
        question: &str,
    ) -> Result<ConversationRecord, EngineError> {
        let vault = self.existing_vault(access.vault())?;
        let id = format!("cnv_{}", crate::auth::random_token(24)?);
        let now = self.now_ms();
        Ok(self.store.conversation_create(
            vault.id,
            &owner(access.principal()),
            &id,
            &title(question),
            now,
            self.conversation_expiry(),
        )?)
    }

    /// The newest turns of a conversation whose questions and answers fit `budget` tokens
    /// (as `count` measures them), oldest first.
    pub(crate) fn conversation_history(
        &self,
        conversation: &ConversationRecord,
        budget: usize,
        count: impl Fn(&str) -> usize,
    ) -> Result<Vec<NewTurn>, EngineError> {
        let mut turns = self.store.conversation_turns(conversation.rowid, MAX_TURNS)?;
        let mut left = budget;
        let mut kept = Vec::new();
        while let Some(t) = turns.pop() {
            let cost = count(&t.turn.question) + count(&t.turn.answer) + 8;
            if cost > left {
                break;
            }
            left -= cost;
            kept.push(t.turn);
        }
        kept.reverse();
        Ok(kept)
    }

    /// Adds a finished turn to its conversation (and pushes its expiry back). A conversation
    /// deleted meanwhile takes no turn.
    pub fn record_turn(&self, finished: FinishedTurn) -> Result<(), EngineError> {
        self.store.conversation_add_turn(
            finished.conversation,
            &finished.turn,
            self.now_ms(),
            self.conversation_expiry(),
        )?;
        Ok(())
    }

    /// The caller's live conversations in the vault, newest first, in pages.
    pub fn conversations(
        &self,
        access: &Access<perm::Search>,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<ConversationPage, EngineError> {
        let limit = limit.unwrap_or(20);
        if limit == 0 || limit > MAX_CONVERSATION_LIMIT {
            return Err(bad(format!("limit: must be between 1 and {MAX_CONVERSATION_LIMIT}")));
        }
        let before = cursor
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    bad(format!(
                        "cursor: `{c}` is not a cursor this server issued; pass `next_cursor` from the previous page"
                    ))
                })
            })
            .transpose()?;
        let Some(vault) = self.conversation_vault(access)? else {
            return Ok(ConversationPage { conversations: Vec::new(), next_cursor: None });
        };
        let mut rows =
            self.store.conversation_list(vault.id, &owner(access.principal()), self.now_ms(), before, limit + 1)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(|c| c.rowid.to_string()) } else { None };
        Ok(ConversationPage { conversations: rows.iter().map(|c| summary(access.vault(), c)).collect(), next_cursor })
    }

    /// One of the caller's conversations with its turns, oldest first.
    pub fn conversation(&self, access: &Access<perm::Search>, id: &str) -> Result<Conversation, EngineError> {
        let c = self.own_conversation(access, id)?;
        let turns = self.store.conversation_turns(c.rowid, MAX_TURNS)?;
        Ok(Conversation { summary: summary(access.vault(), &c), turns: turns.into_iter().map(turn_view).collect() })
    }

    /// Deletes one of the caller's conversations with its turns.
    pub fn conversation_delete(&self, access: &Access<perm::Search>, id: &str) -> Result<(), EngineError> {
        let Some(vault) = self.conversation_vault(access)? else {
            return Err(Engine::not_found(access, id));
        };
        if self.store.conversation_delete(vault.id, &owner(access.principal()), id)? {
            Ok(())
        } else {
            Err(Engine::not_found(access, id))
        }
    }

    /// Deletes every conversation past its expiry; how many (the server's periodic purge).
    pub fn conversation_purge_expired(&self) -> Result<u64, EngineError> {
        Ok(self.store.conversation_purge_expired(self.now_ms())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_question_on_one_line_shortened() {
        assert_eq!(title("how  often\nto water?"), "how often to water?");
        let long = "word ".repeat(40);
        let t = title(&long);
        assert_eq!(t.chars().count(), TITLE_CHARS);
        assert!(t.ends_with('…'));
    }
}
