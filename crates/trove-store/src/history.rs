//! Memory versions and batched memory changes: the [`MemoryEvent`] each change records, the
//! [`MemoryVersion`] rows a memory's history is made of, and the [`MemoryOp`]s that
//! [`crate::MemoryStore::memory_apply`] applies in one transaction, each checked against the
//! version its caller read so that concurrent writers never lose an update.

use serde::{Deserialize, Serialize};

use crate::{MemoryPatch, MemoryRecord, NewMemory};

/// What a version of a memory records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemoryEvent {
    /// The memory was stored.
    Add,
    /// Its text or fields changed.
    Update,
    /// It was removed (softly: its last state stays in the history until purged).
    Delete,
    /// Another memory (or a new text) was folded into it.
    Merge,
}

impl MemoryEvent {
    /// Every event.
    pub const ALL: [MemoryEvent; 4] = [MemoryEvent::Add, MemoryEvent::Update, MemoryEvent::Delete, MemoryEvent::Merge];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryEvent::Add => "ADD",
            MemoryEvent::Update => "UPDATE",
            MemoryEvent::Delete => "DELETE",
            MemoryEvent::Merge => "MERGE",
        }
    }

    /// The event of a stored name; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<MemoryEvent> {
        MemoryEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// One version of a memory: a change, what the text was and became, who and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryVersion {
    /// The memory's public id.
    pub memory_id: String,
    /// 1 for the first version, one more for each change.
    pub version: i64,
    /// What happened.
    pub event: MemoryEvent,
    /// The text before (`None` for an add).
    pub old_text: Option<String>,
    /// The text after (`None` for a delete).
    pub new_text: Option<String>,
    /// Who made the change (an API key's id, `local`, `consolidation`), when known.
    pub actor: Option<String>,
    /// Why (a consolidation's reason, a model's decision), when given.
    pub reason: Option<String>,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// One change of a batch for [`crate::MemoryStore::memory_apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryOp {
    /// Stores a new memory (version 1, event ADD).
    Add {
        /// The memory.
        memory: NewMemory,
        /// Why, for its history.
        reason: Option<String>,
    },
    /// Changes a live memory; recorded as `event` (UPDATE or MERGE).
    Update {
        /// Its public id.
        id: String,
        /// The version the caller read; another version fails the batch with
        /// [`crate::StoreError::Stale`]. `None` skips the check.
        expected_version: Option<i64>,
        /// The change.
        patch: MemoryPatch,
        /// UPDATE or MERGE.
        event: MemoryEvent,
        /// Why, for its history.
        reason: Option<String>,
    },
    /// Removes a live memory: `soft` keeps its history (with a DELETE version) until
    /// [`crate::MemoryStore::memory_purge_deleted`]; otherwise the history goes with it.
    Delete {
        /// Its public id.
        id: String,
        /// As for [`MemoryOp::Update`].
        expected_version: Option<i64>,
        /// Keep the history.
        soft: bool,
        /// Why, for its history.
        reason: Option<String>,
    },
}

impl MemoryOp {
    /// The public id the op changes (`None` for an add).
    pub fn target(&self) -> Option<&str> {
        match self {
            MemoryOp::Add { .. } => None,
            MemoryOp::Update { id, .. } | MemoryOp::Delete { id, .. } => Some(id),
        }
    }
}

/// What one op of a batch did.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryApplied {
    /// The event recorded.
    pub event: MemoryEvent,
    /// The memory's public id.
    pub id: String,
    /// The memory as it is now (`None` after a delete).
    pub memory: Option<MemoryRecord>,
}

/// What a backend writes in a version row besides the memory's id, version number, actor
/// and time (shared by the backends' `memory_apply`).
#[derive(Debug, Clone, Copy)]
pub struct VersionRow<'a> {
    /// What happened.
    pub event: MemoryEvent,
    /// The text before.
    pub old: Option<&'a str>,
    /// The text after.
    pub new: Option<&'a str>,
    /// Why.
    pub reason: Option<&'a str>,
    /// The memory's last state as JSON, on a soft delete.
    pub snapshot: Option<&'a str>,
}
