//! Records that cross the storage traits.

use serde::{Deserialize, Serialize};

/// A vault's numeric id.
pub type VaultId = i64;
/// A document's numeric id.
pub type DocumentId = i64;
/// A chunk's numeric id, stable for the life of the chunk.
pub type ChunkId = i64;

/// A vault as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultInfo {
    /// Id.
    pub id: VaultId,
    /// Unique name.
    pub name: String,
    /// The model that made the vault's vectors, once any exist.
    pub model_id: Option<String>,
    /// The vectors' dimension, once any exist.
    pub dimension: Option<usize>,
    /// Incremented by every change to the vault's chunks (derived indexes compare it).
    pub generation: i64,
    /// Incremented by every change to the vault's memories.
    pub memory_generation: i64,
    /// The organization that owns the vault (none in single-user mode, or before one claims it).
    pub organization: Option<i64>,
    /// The model and dimension a re-embed in progress stages vectors for.
    pub restaging: Option<(String, usize)>,
}

/// What is stored for one document, for incremental sync.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentState {
    /// Id.
    pub id: DocumentId,
    /// URI within its source.
    pub uri: String,
    /// Hash of the content the chunks were made from.
    pub content_hash: String,
}

/// A stored document, without its chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRecord {
    /// Id.
    pub id: DocumentId,
    /// Source name within the vault.
    pub source: String,
    /// URI within its source.
    pub uri: String,
    /// Title.
    pub title: String,
    /// The stored content hash (as written by ingest).
    pub content_hash: String,
    /// Free-form metadata.
    pub metadata: serde_json::Value,
    /// Modification time at the source, milliseconds since the epoch.
    pub modified_unix_ms: Option<i64>,
    /// When it was written, RFC 3339.
    pub indexed_at: String,
    /// Its chunks.
    pub chunks: u64,
    /// Model tokens over its chunks.
    pub tokens: u64,
}

/// A document to write, with every chunk and its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    /// Source name within the vault.
    pub source: String,
    /// Stable URI within the source.
    pub uri: String,
    /// Title.
    pub title: String,
    /// Content hash (`sha256:<hex>`).
    pub content_hash: String,
    /// Free-form metadata.
    pub metadata: serde_json::Value,
    /// Modification time at the source, milliseconds since the epoch.
    pub modified_unix_ms: Option<i64>,
    /// Chunks in order.
    pub chunks: Vec<NewChunk>,
}

/// A chunk to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    /// Text.
    pub text: String,
    /// Headings above the chunk, outermost first.
    pub heading_path: Vec<String>,
    /// Model tokens in `text`.
    pub token_count: usize,
    /// Normalised vector.
    pub vector: Vec<f32>,
}

/// A chunk read back, with its document's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    /// Chunk id.
    pub id: ChunkId,
    /// Document id.
    pub document_id: DocumentId,
    /// Position in the document.
    pub index: u32,
    /// Source name.
    pub source: String,
    /// Document URI.
    pub uri: String,
    /// Document title.
    pub title: String,
    /// Headings above the chunk.
    pub heading_path: Vec<String>,
    /// Text.
    pub text: String,
    /// Model tokens.
    pub token_count: usize,
}

/// A search result before it is joined with its chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The chunk.
    pub id: ChunkId,
    /// Higher is better.
    pub score: f32,
}

/// A hybrid query a backend may answer in one step (keyword and nearest-neighbour candidates
/// fused by reciprocal rank), as the engine would fuse them: see
/// [`crate::DocumentStore::hybrid_search`].
#[derive(Debug, Clone, Copy)]
pub struct HybridQuery<'a> {
    /// The query text (plain text; analyzed by the shared analyzer).
    pub text: &'a str,
    /// The query's vector.
    pub vector: &'a [f32],
    /// Candidates taken from each side before fusion.
    pub candidates: usize,
    /// Results kept after fusion.
    pub limit: usize,
    /// The fusion constant: a candidate at rank `r` (from 1) adds `1 / (rrf_k + r)`.
    pub rrf_k: f32,
}

/// Restricts searches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkFilter {
    /// Only this source.
    pub source: Option<String>,
    /// Only documents whose URI starts with this.
    pub uri_prefix: Option<String>,
    /// Only documents whose metadata has each key with this scalar value (or, when the stored
    /// value is an array, containing it). Keys are top-level and contain no `"`.
    pub metadata: Vec<(String, serde_json::Value)>,
}

impl ChunkFilter {
    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.source.is_none() && self.uri_prefix.is_none() && self.metadata.is_empty()
    }
}

/// Counts for a vault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VaultStats {
    /// Documents.
    pub documents: u64,
    /// Chunks.
    pub chunks: u64,
    /// Tokens over all chunks.
    pub tokens: u64,
    /// Chunks with a staged (re-embedding) vector.
    pub staged_vectors: u64,
}

/// The result of an integrity check; empty `problems` means consistent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrityReport {
    /// Documents.
    pub documents: u64,
    /// Chunks.
    pub chunks: u64,
    /// Chunks with a vector.
    pub vectors: u64,
    /// Human-readable inconsistencies.
    pub problems: Vec<String>,
}

/// A memory to store, with its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory {
    /// The remembered text.
    pub text: String,
    /// Whose memory (end user).
    pub user_id: Option<String>,
    /// Which agent stored it.
    pub agent_id: Option<String>,
    /// Which conversation or run.
    pub session_id: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Free-form metadata (a JSON object).
    pub metadata: serde_json::Value,
    /// 0.0 (trivia) to 1.0 (essential).
    pub importance: f32,
    /// What kind of memory (`fact`, `preference`, `event`, `procedure` or a custom name).
    pub kind: Option<String>,
    /// When it stops being returned, milliseconds since the epoch.
    pub expires_ms: Option<i64>,
    /// Normalised vector of `text`.
    pub vector: Vec<f32>,
}

/// A stored memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// Public id (opaque string).
    pub id: String,
    /// Internal row id (search results refer to it).
    #[serde(skip)]
    pub rowid: i64,
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
    /// Metadata.
    pub metadata: serde_json::Value,
    /// Importance, 0.0–1.0.
    pub importance: f32,
    /// What kind of memory, when known.
    pub kind: Option<String>,
    /// 1 when stored, one more for each change (see [`crate::MemoryVersion`]).
    pub version: i64,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last update, ms since the epoch.
    pub updated_ms: i64,
    /// Expiry, ms since the epoch.
    pub expires_ms: Option<i64>,
}

/// Changes to a memory; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryPatch {
    /// New text (the caller supplies the new vector with it).
    pub text: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New metadata.
    pub metadata: Option<serde_json::Value>,
    /// New importance.
    pub importance: Option<f32>,
    /// New kind.
    pub kind: Option<String>,
    /// New expiry (`Some(None)` removes it).
    pub expires_ms: Option<Option<i64>>,
    /// New vector; required when `text` changes.
    pub vector: Option<Vec<f32>>,
}

impl MemoryPatch {
    /// `memory` with this patch's fields applied, updated at `now_ms` (the vector is the
    /// store's to write).
    pub fn applied(&self, memory: &MemoryRecord, now_ms: i64) -> MemoryRecord {
        let mut next = memory.clone();
        if let Some(t) = &self.text {
            next.text = t.clone();
        }
        if let Some(t) = &self.tags {
            next.tags = t.clone();
        }
        if let Some(m) = &self.metadata {
            next.metadata = m.clone();
        }
        if let Some(i) = self.importance {
            next.importance = i;
        }
        if let Some(k) = &self.kind {
            next.kind = Some(k.clone());
        }
        if let Some(e) = self.expires_ms {
            next.expires_ms = e;
        }
        next.updated_ms = now_ms;
        next.version = memory.version + 1;
        next
    }
}

/// Which memories an operation sees. Expired memories (expiry ≤ `now_ms`) are never seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryFilter {
    /// Only this user's.
    pub user_id: Option<String>,
    /// Only this agent's.
    pub agent_id: Option<String>,
    /// Only this session's.
    pub session_id: Option<String>,
    /// Only memories carrying every one of these tags.
    pub tags: Vec<String>,
    /// Created at or after (ms).
    pub created_after_ms: Option<i64>,
    /// Created before (ms).
    pub created_before_ms: Option<i64>,
    /// Only memories of one of these kinds (none: every kind).
    pub kinds: Vec<String>,
    /// Only memories at least this important.
    pub min_importance: Option<f32>,
    /// The current time (ms), for expiry.
    pub now_ms: i64,
}

/// Where a page of memories ends: the last item's creation time and row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryCursor {
    /// Creation time of the last item returned.
    pub created_ms: i64,
    /// Row id of the last item returned.
    pub rowid: i64,
}

/// Counts of a vault's memories.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Live (unexpired) memories.
    pub total: u64,
    /// Expired but not yet purged.
    pub expired: u64,
    /// Per user id (live only; `null` scope shown as "").
    pub by_user: Vec<(String, u64)>,
    /// Per agent id.
    pub by_agent: Vec<(String, u64)>,
    /// Per session id.
    pub by_session: Vec<(String, u64)>,
    /// Per tag.
    pub by_tag: Vec<(String, u64)>,
    /// Live memories by age: under a day, a week, a month, older.
    pub by_age: Vec<(String, u64)>,
    /// Oldest live memory's creation time (ms).
    pub oldest_ms: Option<i64>,
    /// Newest live memory's creation time (ms).
    pub newest_ms: Option<i64>,
    /// Bytes of text and vectors stored for live memories.
    pub bytes: u64,
    /// Live memories per kind ("" = none given).
    pub by_type: Vec<(String, u64)>,
    /// Merges recorded in the vault's memory histories.
    pub merges: u64,
    /// Memories deleted softly (by consolidation) whose history awaits the purge.
    pub deleted: u64,
}

/// Where a job is in its life. `Dead` jobs form the dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker (possibly until `run_at_ms`, after a failed attempt).
    Queued,
    /// A worker holds its lease.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Failed permanently or ran out of attempts: in the dead-letter queue.
    Dead,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Queued, JobStatus::Running, JobStatus::Succeeded, JobStatus::Dead, JobStatus::Cancelled];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Dead => "dead",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// The status of a name; `None` for an unknown name.
    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the job will not run again by itself.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Dead | JobStatus::Cancelled)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What to do (`upload`, `sync`, ...); the engine interprets it.
    pub kind: String,
    /// The vault it concerns, if any.
    pub vault: Option<String>,
    /// Everything the worker needs (a JSON object).
    pub payload: serde_json::Value,
    /// When set and a queued job has the same key, that job is returned instead of a new one.
    pub dedupe_key: Option<String>,
    /// Attempts before the job goes to the dead-letter queue.
    pub max_attempts: u32,
    /// Time limit of one attempt, milliseconds.
    pub timeout_ms: i64,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Internal row id (list cursors).
    pub rowid: i64,
    /// Public id (`job_…`).
    pub id: String,
    /// What to do.
    pub kind: String,
    /// The vault it concerns.
    pub vault: Option<String>,
    /// The worker's input.
    pub payload: serde_json::Value,
    /// Where it is.
    pub status: JobStatus,
    /// Attempts started (a crashed attempt counts).
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Time limit of one attempt, milliseconds.
    pub timeout_ms: i64,
    /// Not taken before this time (ms).
    pub run_at_ms: i64,
    /// Enqueued (ms).
    pub created_ms: i64,
    /// Last change (ms).
    pub updated_ms: i64,
    /// When the latest attempt started (ms).
    pub started_ms: Option<i64>,
    /// When it reached a final status (ms).
    pub finished_ms: Option<i64>,
    /// The worker holding the lease.
    pub lease_owner: Option<String>,
    /// When the lease runs out (ms).
    pub lease_until_ms: Option<i64>,
    /// Cancellation was asked for while it ran.
    pub cancel_requested: bool,
    /// The latest failure's message.
    pub error: Option<String>,
    /// The latest failure's code.
    pub error_code: Option<String>,
    /// What a successful run returned.
    pub result: Option<serde_json::Value>,
    /// Times it was sent back from the dead-letter queue.
    pub retries: u32,
}

/// How an attempt ended, as the worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done.
    Succeeded(serde_json::Value),
    /// Failed in a way that may pass later: queued again for `run_at_ms`, or dead when no
    /// attempts are left.
    Retry {
        /// What went wrong.
        error: String,
        /// Its code.
        code: String,
        /// When to try again (ms).
        run_at_ms: i64,
    },
    /// Failed in a way retrying cannot fix: straight to the dead-letter queue.
    Dead {
        /// What went wrong.
        error: String,
        /// Its code.
        code: String,
    },
    /// Stopped because cancellation was asked for.
    Cancelled,
    /// Stopped because its worker is shutting down: queued again at once, and the attempt
    /// does not count.
    Released,
}

/// Which jobs a listing shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this vault's.
    pub vault: Option<String>,
}

/// Jobs by status, and when the next delayed one is due.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    /// Waiting (including delayed retries).
    pub queued: u64,
    /// Held by a worker.
    pub running: u64,
    /// Finished.
    pub succeeded: u64,
    /// In the dead-letter queue.
    pub dead: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// The earliest `run_at_ms` of a queued job.
    pub next_run_at_ms: Option<i64>,
}

/// What a worker learns when it extends its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// Still ours; `cancel_requested` says whether to stop.
    Held {
        /// Cancellation was asked for.
        cancel_requested: bool,
    },
    /// The lease expired and the job was taken back (or it was deleted): stop without
    /// reporting.
    Lost,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRecord {
    /// The user's row id.
    pub user: i64,
    /// The user's stable id (`usr_…`).
    pub public_id: String,
    /// Their email.
    pub email: String,
    /// Their role.
    pub role: String,
    /// Unix ms they joined.
    pub created_ms: i64,
}

/// What [`crate::OrganizationStore::membership_set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    /// Done.
    Changed,
    /// The user is not a member.
    NotMember,
    /// Refused: the organization would have no owner left.
    LastOwner,
}

/// A login session to store: only the hash of its token is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// The user's row id.
    pub user: i64,
    /// The organization it acts in.
    pub organization: i64,
    /// SHA-256 (hex) of the session token.
    pub hash: String,
    /// The token a cookie-authenticated write must echo (`X-CSRF-Token`).
    pub csrf: String,
    /// `web`, `cli` or `sdk`.
    pub client: String,
    /// The address that logged in.
    pub ip: Option<String>,
    /// Unix ms after which it no longer works.
    pub expires_ms: i64,
}

/// A stored session, with its user's email and role in its organization.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Row id.
    pub id: i64,
    /// Stable id (`ses_…`), for listing and revoking.
    pub public_id: String,
    /// What was stored.
    pub session: NewSession,
    /// The user's email.
    pub user_email: String,
    /// The organization's name.
    pub organization_name: String,
    /// The user's role there now (`None` once they left it).
    pub role: Option<String>,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms of the last request (recorded at most once a minute).
    pub last_used_ms: Option<i64>,
    /// Unix ms when revoked (logout, revocation, or pushed out by the per-user cap).
    pub revoked_ms: Option<i64>,
}

/// A user account.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    /// Row id.
    pub id: i64,
    /// Stable id (`usr_…`).
    pub public_id: String,
    /// Login email, unique without regard to case.
    pub email: String,
    /// The password's PHC string (argon2id).
    pub password_hash: String,
    /// Unix ms.
    pub created_ms: i64,
    /// When the user proved the email theirs (a verification or reset link); accounts made by
    /// an administrator count as verified.
    pub email_verified_ms: Option<i64>,
}

/// An organization: it owns vaults, has members, and issues API keys.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationRecord {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Unix ms.
    pub created_ms: i64,
}

/// An API key to store: only a hash of its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApiKey {
    /// Organization.
    pub organization: i64,
    /// The user creating it.
    pub user: i64,
    /// Its creator's label.
    pub name: String,
    /// The public, unique lookup part of the key.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub hash: String,
    /// Vault names, or `*`.
    pub vaults: Vec<String>,
    /// Action names.
    pub actions: Vec<String>,
    /// Unix ms; `None` never expires.
    pub expires_ms: Option<i64>,
}

/// A stored API key.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    /// Row id.
    pub id: i64,
    /// Stable id (`key_…`).
    pub public_id: String,
    /// What was asked to be stored.
    pub key: NewApiKey,
    /// The organization's name.
    pub organization_name: String,
    /// The creator's email.
    pub user_email: String,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms.
    pub last_used_ms: Option<i64>,
    /// Unix ms.
    pub revoked_ms: Option<i64>,
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewAuditEvent {
    /// Unix ms.
    pub at_ms: i64,
    /// Organization row id, when known.
    pub organization: Option<i64>,
    /// Who.
    pub actor: String,
    /// Client IP.
    pub ip: Option<String>,
    /// What happened.
    pub event: String,
    /// To what.
    pub target: Option<String>,
    /// `ok` or `denied`.
    pub outcome: String,
    /// JSON object.
    pub details: serde_json::Value,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Row id (ascending with time).
    pub id: i64,
    /// The entry.
    pub event: NewAuditEvent,
    /// The organization's name.
    pub organization_name: Option<String>,
}

/// Which audit entries to read; every set field must match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditFilter {
    /// Only this organization's entries.
    pub organization: Option<i64>,
    /// At or after (unix ms).
    pub from_ms: Option<i64>,
    /// Before (unix ms).
    pub to_ms: Option<i64>,
    /// Exactly this event, or every event starting with it when it ends with `.` (e.g. `key.`).
    pub event: Option<String>,
    /// Exactly this actor.
    pub actor: Option<String>,
}

/// A secret of an organization (a source token, a provider key), as stored: the value is
/// sealed by the engine before it reaches the store, which never sees it in the clear.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRecord {
    /// Its organization's row id.
    pub organization: i64,
    /// Its name, unique in the organization.
    pub name: String,
    /// The sealed value (`v1.<key id>.<nonce and ciphertext>`, written by the engine).
    pub sealed: String,
    /// Unix ms it was first set.
    pub created_ms: i64,
    /// Unix ms it was last set.
    pub updated_ms: i64,
    /// Who last set it (an actor label such as `user:usr_…`).
    pub updated_by: String,
}

/// A team of an organization: a name for a group of members that vaults can be granted to.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamRecord {
    /// Row id.
    pub id: i64,
    /// Stable id (`team_…`).
    pub public_id: String,
    /// Its organization's row id.
    pub organization: i64,
    /// Its name, unique in the organization.
    pub name: String,
    /// Unix ms it was made.
    pub created_ms: i64,
    /// Its members as (user row id, user public id, email), by email.
    pub members: Vec<(i64, String, String)>,
}

/// Who a vault is granted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantee {
    /// A user (row id).
    User(i64),
    /// A team (row id).
    Team(i64),
}

/// A grant of a vault.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRecord {
    /// The vault.
    pub vault: VaultId,
    /// To whom.
    pub grantee: Grantee,
    /// The grantee's public id (`usr_…` or `team_…`).
    pub grantee_id: String,
    /// The user's email or the team's name.
    pub grantee_name: String,
    /// `read`, `write` or `admin`.
    pub level: String,
    /// Unix ms it was given (or last changed).
    pub created_ms: i64,
}

/// An invitation to join an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationRecord {
    /// Stable id (`inv_…`).
    pub public_id: String,
    /// The organization's row id.
    pub organization: i64,
    /// Its name.
    pub organization_name: String,
    /// Who is invited.
    pub email: String,
    /// The role they get.
    pub role: String,
    /// SHA-256 of the link's token.
    pub hash: String,
    /// Who invited them (an email, or `key:<id>`).
    pub invited_by: String,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms after which the link no longer works.
    pub expires_ms: i64,
    /// When it was accepted.
    pub accepted_ms: Option<i64>,
    /// When it was withdrawn.
    pub revoked_ms: Option<i64>,
}

/// An external vector index's state, for `/health`, `/metrics` and `trove doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalIndexStatus {
    /// What it is (`Qdrant at http://qdrant:6333`).
    pub describe: String,
    /// What it answered (its version), or why it did not.
    pub reachable: Result<String, String>,
    /// Changes written to the system of record that the index has not applied yet (searches
    /// of those vaults use the system of record meanwhile).
    pub pending: u64,
}

/// An external vector index's request figures, for `/metrics` (read without a request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalIndexStats {
    /// `qdrant`.
    pub backend: String,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Of those, retries of a transient failure.
    pub retries: u64,
    /// Calls that failed (after their retries, refused by the server, or by the open breaker).
    pub failures: u64,
    /// Whether the circuit breaker refuses calls now.
    pub circuit_open: bool,
    /// Changes not yet applied to the index (`None` when they could not be counted).
    pub pending: Option<u64>,
}

/// The connections of a store that talks to a database server, for `/health` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionStats {
    /// `postgres`.
    pub backend: String,
    /// What it connects to, without credentials (`PostgreSQL at db:5432/trove`).
    pub target: String,
    /// Connections open (idle and lent).
    pub open: u64,
    /// Connections lent out now.
    pub in_use: u64,
    /// The pool's size.
    pub max: u64,
    /// Callers that had to wait for a connection.
    pub waits: u64,
    /// Callers that gave up waiting.
    pub timeouts: u64,
    /// Connections opened.
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Whether the circuit breaker refuses new connections now.
    pub breaker_open: bool,
    /// The last connection failure, while the breaker is not closed.
    pub last_error: Option<String>,
}

/// A conversation as stored: one owner's questions in one vault, with their turns apart
/// ([`crate::ConversationStore::conversation_turns`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    /// Row id (ascending with creation; the cursor of a listing).
    pub rowid: i64,
    /// Public id (`cnv_…`).
    pub id: String,
    /// The vault it asks about.
    pub vault_id: VaultId,
    /// Whose it is (the engine's owner key of a principal).
    pub owner: String,
    /// A title: the first question, shortened.
    pub title: String,
    /// When it was started.
    pub created_ms: i64,
    /// When its last turn was added.
    pub updated_ms: i64,
    /// When it expires (pushed back by every turn).
    pub expires_ms: i64,
    /// How many turns it has.
    pub turns: u64,
}

/// A turn to append to a conversation: the question, the standalone question retrieval used
/// (when it was rewritten), the answer and its citations (JSON, as the engine shows them).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTurn {
    /// The question as asked.
    pub question: String,
    /// The standalone question retrieval used, when the question was rewritten.
    pub rewritten: Option<String>,
    /// The answer.
    pub answer: String,
    /// The answer's citations, a JSON array.
    pub citations: serde_json::Value,
}

/// A stored turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    /// Row id (ascending with time).
    pub rowid: i64,
    /// The turn.
    pub turn: NewTurn,
    /// When it was added.
    pub created_ms: i64,
}
