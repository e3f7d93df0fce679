//! Memories as the transports see them: what a client sends to store, update, retrieve and
//! list memories, and what it gets back. Times are RFC 3339 strings in UTC.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A memory to store.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryInput {
    /// What to remember (1 to 16,384 characters).
    pub text: String,
    /// Whose memory (an end user of the agent).
    #[serde(default)]
    pub user_id: Option<String>,
    /// Which agent stores it.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Which conversation or run it belongs to.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Labels (at most 32, each 1 to 64 characters).
    #[serde(default)]
    pub tags: Vec<String>,
    /// A JSON object of anything else.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// 0.0 (trivia) to 1.0 (essential); default 0.5.
    #[serde(default)]
    pub importance: Option<f32>,
    /// When the memory stops being returned (RFC 3339); it is purged afterwards.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// Changes to a memory; absent fields stay as they are. Changing `text` re-embeds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryUpdate {
    /// New text.
    #[serde(default)]
    pub text: Option<String>,
    /// New tags (replace the old ones).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// New metadata (replaces the old object).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// New importance.
    #[serde(default)]
    pub importance: Option<f32>,
    /// New expiry; `null` removes it.
    #[serde(default, with = "double_option")]
    pub expires_at: Option<Option<String>>,
}

/// A stored memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Memory {
    /// Opaque id.
    pub id: String,
    /// The vault it lives in.
    pub vault: String,
    /// The remembered text.
    pub text: String,
    /// Whose memory.
    pub user_id: Option<String>,
    /// Which agent.
    pub agent_id: Option<String>,
    /// Which session.
    pub session_id: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Metadata object.
    pub metadata: serde_json::Value,
    /// 0.0–1.0.
    pub importance: f32,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Expiry, if any.
    pub expires_at: Option<String>,
}

/// Which memories a list or retrieval considers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryScope {
    /// Only this user's.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only this agent's.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Only this session's.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Only memories with all of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Created at or after (RFC 3339).
    #[serde(default)]
    pub created_after: Option<String>,
    /// Created before (RFC 3339).
    #[serde(default)]
    pub created_before: Option<String>,
}

/// A retrieval: a query matched by meaning and keywords within a scope.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryQuery {
    /// What to look for.
    pub query: String,
    /// Restrictions.
    #[serde(default, flatten)]
    pub scope: MemoryScope,
    /// hybrid (default), semantic or keyword.
    #[serde(default)]
    pub mode: Option<crate::SearchMode>,
    /// Results wanted (1–100, default 10).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// One retrieved memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct MemoryHit {
    /// The memory.
    #[serde(flatten)]
    pub memory: Memory,
    /// Higher is better.
    pub score: f32,
}

/// A page of memories, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct MemoryPage {
    /// The memories.
    pub memories: Vec<Memory>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Counts of a vault's memories.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct MemoryStatsResponse {
    /// The vault.
    pub vault: String,
    /// Live memories.
    pub total: u64,
    /// Expired, awaiting purge.
    pub expired: u64,
    /// Live memories per user id ("" = none).
    pub by_user: Vec<(String, u64)>,
    /// Per agent id.
    pub by_agent: Vec<(String, u64)>,
    /// Per session id.
    pub by_session: Vec<(String, u64)>,
    /// Per tag.
    pub by_tag: Vec<(String, u64)>,
    /// By age bucket.
    pub by_age: Vec<(String, u64)>,
    /// Oldest live memory.
    pub oldest_at: Option<String>,
    /// Newest live memory.
    pub newest_at: Option<String>,
    /// Bytes of text and vectors.
    pub bytes: u64,
}

/// Distinguishes "absent" (`None`) from "null" (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}
