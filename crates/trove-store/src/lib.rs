//! Where Trove keeps what it knows. This crate owns the storage traits ([`StoreRead`],
//! [`StoreWrite`]) that the engine is written against, the embedded backend
//! ([`embedded::EmbeddedStore`]: SQLite in WAL mode as the system of record, with a BM25
//! keyword index and a vector index derived from it in memory), the workspace's
//! single-writer [`lock`], and the [`conformance`] suite that every backend must pass.
//!
//! Invariants: only store crates know SQL; a document's chunks and vectors change together in one
//! transaction (derived indexes follow by generation), so no reader ever sees a half-written document
//! and a crash leaves either the old or the new version; every stored format carries a schema
//! version and is migrated forward on open (never backward).

pub mod analysis;
mod bm25;
pub mod conformance;
pub mod embedded;
mod error;
pub mod fusion;
pub mod lock;
pub mod metrics;
mod types;
mod vector;

pub use error::StoreError;
pub use types::*;

/// Blocks up to the given time for news of jobs from other processes (see
/// [`StoreRead::job_waiter`]).
pub type JobWaiter = Box<dyn FnMut(std::time::Duration) -> Result<bool, StoreError> + Send>;

/// Reads. Implementations are cheap to share across threads.
pub trait StoreRead: Send + Sync {
    /// Whether other processes (other nodes) may write this store at the same time. The
    /// embedded store has one writer; a shared database does not, so nothing may assume that
    /// a running job without a live worker here is abandoned.
    fn shared(&self) -> bool {
        false
    }
    /// The connection pool's figures, for stores that talk to a server (`None` for the
    /// embedded store).
    fn connections(&self) -> Option<ConnectionStats> {
        None
    }
    /// For stores shared by several processes: a waiter that blocks up to the given time for
    /// news that another process enqueued or retried a job (`Ok(true)` when some arrived), so
    /// idle workers wake at once instead of at their next look. `None` when every writer is
    /// in this process (the embedded store: enqueues notify the workers directly).
    fn job_waiter(&self) -> Option<JobWaiter> {
        None
    }
    /// The external vector index beside the store (Qdrant), if one is attached: what it is,
    /// whether it answers, and how many changes it has not applied yet. `None` without one.
    fn external_index(&self) -> Option<ExternalIndexStatus> {
        None
    }
    /// The external vector index's request figures and pending changes (no request to the
    /// index; one count in the store). `None` without one.
    fn external_index_stats(&self) -> Option<ExternalIndexStats> {
        None
    }
    /// A vault by name.
    fn vault(&self, name: &str) -> Result<Option<VaultInfo>, StoreError>;
    /// All vaults, by name.
    fn vaults(&self) -> Result<Vec<VaultInfo>, StoreError>;
    /// What is stored for one source of a vault: uri, content hash, document id.
    fn document_states(&self, vault: VaultId, source: &str) -> Result<Vec<DocumentState>, StoreError>;
    /// The names of every source that has documents in the vault.
    fn sources_with_documents(&self, vault: VaultId) -> Result<Vec<String>, StoreError>;
    /// Up to `limit` documents of the vault with id greater than `after`, ascending id.
    fn documents(&self, vault: VaultId, after: DocumentId, limit: usize) -> Result<Vec<DocumentRecord>, StoreError>;
    /// One document of the vault by id (`None` when absent or in another vault).
    fn document(&self, vault: VaultId, id: DocumentId) -> Result<Option<DocumentRecord>, StoreError>;
    /// A document's chunks in order (empty when the document is absent).
    fn document_chunks(&self, document: DocumentId) -> Result<Vec<ChunkRecord>, StoreError>;
    /// BM25 over chunk text and headings. The query is plain text (no operator syntax): its
    /// words are matched with OR semantics. Best first; score higher is better.
    fn keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Vec<Scored>, StoreError>;
    /// Nearest chunks by cosine similarity to `query` (normalised). Best first.
    fn vector_search(
        &self,
        vault: VaultId,
        query: &[f32],
        limit: usize,
        filter: &ChunkFilter,
    ) -> Result<Vec<Scored>, StoreError>;
    /// Hybrid search answered by the backend in one step, when it can (an external index that
    /// holds both sparse and dense vectors: Qdrant); `None` when the caller should fuse
    /// [`Self::keyword_search`] and [`Self::vector_search`] itself, which is the default.
    fn hybrid_search(
        &self,
        _vault: VaultId,
        _query: &HybridQuery<'_>,
        _filter: &ChunkFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        Ok(None)
    }
    /// Chunks with their document's fields, in the order of `ids` (missing ids are skipped).
    fn chunks(&self, ids: &[ChunkId]) -> Result<Vec<ChunkRecord>, StoreError>;
    /// Counts for a vault.
    fn vault_stats(&self, vault: VaultId) -> Result<VaultStats, StoreError>;
    /// Up to `limit` chunks whose id is greater than `after` and that have no staged vector,
    /// for re-embedding; ascending id.
    fn chunks_to_reembed(&self, vault: VaultId, after: ChunkId, limit: usize) -> Result<Vec<ChunkRecord>, StoreError>;
    /// Internal consistency: every chunk has its vector and keyword row, nothing is orphaned.
    fn check_integrity(&self) -> Result<IntegrityReport, StoreError>;

    /// A live memory by public id.
    fn memory_get(&self, vault: VaultId, id: &str, now_ms: i64) -> Result<Option<MemoryRecord>, StoreError>;
    /// Live memories matching the filter, newest first, after the cursor.
    fn memory_list(
        &self,
        vault: VaultId,
        filter: &MemoryFilter,
        after: Option<MemoryCursor>,
        limit: usize,
    ) -> Result<Vec<MemoryRecord>, StoreError>;
    /// BM25 over memory text and tags (plain-text query, OR semantics). Best first.
    fn memory_keyword_search(
        &self,
        vault: VaultId,
        query: &str,
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError>;
    /// Nearest live memories to `vector`. Best first.
    fn memory_vector_search(
        &self,
        vault: VaultId,
        vector: &[f32],
        filter: &MemoryFilter,
        limit: usize,
    ) -> Result<Vec<Scored>, StoreError>;
    /// Hybrid memory search in one step, when the backend can; see [`Self::hybrid_search`].
    fn memory_hybrid_search(
        &self,
        _vault: VaultId,
        _query: &HybridQuery<'_>,
        _filter: &MemoryFilter,
    ) -> Result<Option<Vec<Scored>>, StoreError> {
        Ok(None)
    }
    /// Memories by the row ids search results carry, in that order (missing ones skipped).
    fn memory_records(&self, rowids: &[i64]) -> Result<Vec<MemoryRecord>, StoreError>;
    /// Counts by scope, tag and age, and storage used.
    fn memory_stats(&self, vault: VaultId, now_ms: i64) -> Result<MemoryStats, StoreError>;
    /// Up to `limit` memories with row id above `after` and no staged vector (re-embedding).
    fn memories_to_reembed(&self, vault: VaultId, after: i64, limit: usize) -> Result<Vec<MemoryRecord>, StoreError>;

    /// A job by public id.
    fn job_get(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// Jobs matching the filter, newest first, with row id below `before`.
    fn job_list(&self, filter: &JobFilter, before: Option<i64>, limit: usize) -> Result<Vec<JobRecord>, StoreError>;
    /// Jobs by status (queue and dead-letter depth) and the next delayed job's time.
    fn job_counts(&self) -> Result<JobCounts, StoreError>;

    /// How many users exist (none: the single-user mode without authentication).
    fn user_count(&self) -> Result<u64, StoreError>;
    /// The user with this email (case-insensitive).
    fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    /// An organization by name.
    fn organization(&self, name: &str) -> Result<Option<OrganizationRecord>, StoreError>;
    /// A user's role in an organization, if a member.
    fn membership(&self, organization: i64, user: i64) -> Result<Option<String>, StoreError>;
    /// An organization's members, oldest first.
    fn members(&self, organization: i64) -> Result<Vec<MemberRecord>, StoreError>;
    /// An organization's invitations, newest first (all states).
    fn invitations(&self, organization: i64) -> Result<Vec<InvitationRecord>, StoreError>;
    /// The invitation whose token hashes to `hash`, whatever its state.
    fn invitation_by_hash(&self, hash: &str) -> Result<Option<InvitationRecord>, StoreError>;
    /// An organization's teams with their members, by name.
    fn teams(&self, organization: i64) -> Result<Vec<TeamRecord>, StoreError>;
    /// Secrets of one organization, or of every organization (`None`), by organization then
    /// name.
    fn secrets(&self, organization: Option<i64>) -> Result<Vec<SecretRecord>, StoreError>;
    /// One secret of an organization.
    fn secret(&self, organization: i64, name: &str) -> Result<Option<SecretRecord>, StoreError>;
    /// The vault's grants, users first then teams, by name.
    fn vault_grants(&self, vault: VaultId) -> Result<Vec<GrantRecord>, StoreError>;
    /// The vaults of `organization` granted to the user directly or through a team, with the
    /// levels of those grants: (vault name, level), one row per grant.
    fn user_grants(&self, organization: i64, user: i64) -> Result<Vec<(String, String)>, StoreError>;
    /// The organizations a user belongs to, as (row id, name, role), oldest membership first.
    fn user_organizations(&self, user: i64) -> Result<Vec<(i64, String, String)>, StoreError>;
    /// The session whose token hashes to `hash` (revoked and expired ones included).
    fn session_by_hash(&self, hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// A user's live sessions at `now_ms`, newest first.
    fn sessions_of_user(&self, user: i64, now_ms: i64) -> Result<Vec<SessionRecord>, StoreError>;
    /// The API key with this public prefix.
    fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Every API key of an organization (revoked ones included), oldest first.
    fn api_keys(&self, organization: i64) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Each source's last completed sync: (source, finished unix ms, summary JSON), by source.
    fn source_syncs(&self, vault: VaultId) -> Result<Vec<(String, i64, String)>, StoreError>;
    /// Audit entries matching `filter` with id below `before`, newest first, at most `limit`.
    fn audit_query(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Writes. Only one writer exists per embedded workspace (see [`lock`]).
pub trait StoreWrite: StoreRead {
    /// Returns the vault, creating it when absent.
    fn ensure_vault(&self, name: &str) -> Result<VaultInfo, StoreError>;
    /// Records which model made the vault's vectors.
    fn set_vault_embedder(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError>;
    /// Replaces each document (by vault, source and uri) with its new version, chunks and
    /// vectors included, in one transaction: all of them or none.
    fn put_documents(&self, vault: VaultId, docs: &[NewDocument]) -> Result<Vec<DocumentId>, StoreError>;
    /// Removes a document with its chunks, vectors and keyword rows. `false` when absent.
    fn delete_document(&self, vault: VaultId, source: &str, uri: &str) -> Result<bool, StoreError>;
    /// Stages new vectors for re-embedding (not yet searched).
    fn stage_vectors(&self, vault: VaultId, vectors: &[(ChunkId, Vec<f32>)]) -> Result<(), StoreError>;
    /// Atomically switches the vault to its staged vectors and the new model. Fails when a
    /// chunk has no staged vector.
    fn commit_staged_vectors(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError>;
    /// Drops staged vectors (a re-embed that is abandoned).
    fn clear_staged_vectors(&self, vault: VaultId) -> Result<(), StoreError>;
    /// Starts (or resumes) re-embedding to `model_id`: vectors already staged for that model
    /// and dimension are kept (returns `true`), ones staged for another are dropped.
    fn begin_restage(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<bool, StoreError>;

    /// Stores a memory (its vector included) and returns it with its new id.
    fn memory_put(&self, vault: VaultId, memory: &NewMemory, now_ms: i64) -> Result<MemoryRecord, StoreError>;
    /// Changes a live memory; `None` when there is none with that id.
    fn memory_update(
        &self,
        vault: VaultId,
        id: &str,
        patch: &MemoryPatch,
        now_ms: i64,
    ) -> Result<Option<MemoryRecord>, StoreError>;
    /// Deletes a memory with its keyword row and vector. `false` when absent.
    fn memory_delete(&self, vault: VaultId, id: &str) -> Result<bool, StoreError>;
    /// Deletes every memory whose expiry has passed; returns how many.
    fn memory_purge_expired(&self, now_ms: i64) -> Result<u64, StoreError>;
    /// Stages re-embedded memory vectors as `(rowid, updated_ms, vector)` (switched by
    /// `commit_staged_vectors`); a memory updated since `updated_ms` is skipped, as its text
    /// changed.
    fn stage_memory_vectors(&self, vault: VaultId, vectors: &[(i64, i64, Vec<f32>)]) -> Result<(), StoreError>;
    /// Deletes a vault with everything in it (documents, chunks, memories, their indexes).
    /// `false` when absent. Jobs that name it stay (they fail when they run).
    fn delete_vault(&self, vault: VaultId) -> Result<bool, StoreError>;

    /// Adds a job to the queue (or returns the queued job with the same dedupe key).
    fn job_enqueue(&self, job: &NewJob, now_ms: i64) -> Result<JobRecord, StoreError>;
    /// Takes the oldest due job for `worker`, with a lease until `now_ms + lease_ms`; first
    /// takes back jobs whose lease expired. `None` when nothing is due.
    fn job_claim(&self, worker: &str, now_ms: i64, lease_ms: i64) -> Result<Option<JobRecord>, StoreError>;
    /// Extends `worker`'s lease on a running job and says whether to stop.
    fn job_heartbeat(&self, id: &str, worker: &str, now_ms: i64, lease_ms: i64) -> Result<Heartbeat, StoreError>;
    /// Records how `worker`'s attempt ended; `false` (and no change) when it no longer holds
    /// the lease.
    fn job_finish(&self, id: &str, worker: &str, outcome: &JobOutcome, now_ms: i64) -> Result<bool, StoreError>;
    /// Cancels a queued job, or asks a running one to stop; returns the job as it now is
    /// (final jobs are returned unchanged). `None` when absent.
    fn job_cancel(&self, id: &str, now_ms: i64) -> Result<Option<JobRecord>, StoreError>;
    /// Sends a dead job back to the queue with fresh attempts. `None` when it is not dead.
    fn job_retry(&self, id: &str, now_ms: i64) -> Result<Option<JobRecord>, StoreError>;
    /// Deletes a job if it has `status`. `false` otherwise.
    fn job_delete(&self, id: &str, status: JobStatus) -> Result<bool, StoreError>;
    /// Takes back every running job (at startup, when no worker of this store can be alive).
    fn job_recover(&self, now_ms: i64) -> Result<u64, StoreError>;
    /// Deletes succeeded and cancelled jobs that finished before the given time.
    fn job_prune(&self, finished_before_ms: i64) -> Result<u64, StoreError>;
    /// Creates a user; `None` when the email is taken.
    fn user_create(&self, email: &str, password_hash: &str, now_ms: i64) -> Result<Option<UserRecord>, StoreError>;
    /// The organization of that name, created when missing.
    fn organization_ensure(&self, name: &str, now_ms: i64) -> Result<OrganizationRecord, StoreError>;
    /// Adds a member, or changes their role.
    fn membership_put(&self, organization: i64, user: i64, role: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Gives a vault to an organization (or to none).
    fn vault_set_organization(&self, vault: VaultId, organization: Option<i64>) -> Result<(), StoreError>;
    /// Gives every vault that has no organization to this one; returns how many.
    fn vaults_claim_unowned(&self, organization: i64) -> Result<u64, StoreError>;
    /// Stores an API key (its hash).
    fn api_key_create(&self, key: &NewApiKey, now_ms: i64) -> Result<ApiKeyRecord, StoreError>;
    /// Revokes a key of the organization; `false` when it has no such key. Revoking twice
    /// keeps the first time.
    fn api_key_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Records a key's use.
    fn api_key_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError>;
    /// Changes a member's role (`Some`) or removes them (`None`), in one transaction that
    /// refuses to leave the organization without an owner.
    fn membership_set(&self, organization: i64, user: i64, role: Option<&str>) -> Result<MembershipChange, StoreError>;
    /// Stores a single-use token (its hash) of a user for `purpose` (`verify`, `reset`),
    /// ending the user's earlier unused tokens of that purpose.
    fn user_token_create(
        &self,
        user: i64,
        purpose: &str,
        hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError>;
    /// Uses up a live token: its user, or `None` when unknown, used, expired or of another
    /// purpose (in one transaction, so a token works once).
    fn user_token_take(&self, purpose: &str, hash: &str, now_ms: i64) -> Result<Option<UserRecord>, StoreError>;
    /// Sets a user's password hash and/or marks the email verified (the first time counts).
    fn user_update(&self, user: i64, password_hash: Option<&str>, verified_ms: Option<i64>) -> Result<(), StoreError>;
    /// Stores an invitation (`accepted_ms` and `revoked_ms` are ignored).
    fn invitation_create(&self, invitation: &InvitationRecord) -> Result<(), StoreError>;
    /// Withdraws a pending invitation of the organization; `false` when there is none.
    fn invitation_revoke(&self, organization: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Marks a pending, unexpired invitation accepted; `false` when it is not (in one
    /// statement, so an invitation is accepted once).
    fn invitation_accept(&self, hash: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Makes a team; `None` when the organization has one of that name.
    fn team_create(
        &self,
        organization: i64,
        public_id: &str,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<TeamRecord>, StoreError>;
    /// Sets a secret (its `created_ms` is kept when it exists); `true` when it was new.
    fn secret_put(&self, secret: &SecretRecord) -> Result<bool, StoreError>;
    /// Replaces a secret's sealed value only if it is still `old` (re-encryption under a new
    /// key must not undo a concurrent update); whether it was replaced.
    fn secret_reseal(&self, organization: i64, name: &str, old: &str, new: &str) -> Result<bool, StoreError>;
    /// Deletes a secret; `false` when absent.
    fn secret_delete(&self, organization: i64, name: &str) -> Result<bool, StoreError>;
    /// Compares an external vector index with the system of record and repairs what differs
    /// (missing points, orphans); how many vaults needed it. `Ok(0)` without an index.
    fn reconcile_index(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Deletes a team of the organization (its grants go with it); `false` when absent.
    fn team_delete(&self, organization: i64, public_id: &str) -> Result<bool, StoreError>;
    /// Adds (`true`) or removes (`false`) a user from a team; whether anything changed.
    fn team_member_set(&self, team: i64, user: i64, member: bool) -> Result<bool, StoreError>;
    /// Grants a vault at `level` (replacing the grantee's previous level).
    fn grant_put(&self, vault: VaultId, grantee: Grantee, level: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Takes a grant back; `false` when there was none.
    fn grant_remove(&self, vault: VaultId, grantee: Grantee) -> Result<bool, StoreError>;
    /// Stores a session; when the user then has more than `cap` live sessions, the oldest are
    /// revoked (in the same transaction).
    fn session_create(&self, session: &NewSession, cap: usize, now_ms: i64) -> Result<SessionRecord, StoreError>;
    /// Records a session's use.
    fn session_touch(&self, id: i64, now_ms: i64) -> Result<(), StoreError>;
    /// Revokes a user's session by public id; `false` when they have no such live session.
    fn session_revoke(&self, user: i64, public_id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Revokes every live session of a user; returns how many.
    fn sessions_revoke_all(&self, user: i64, now_ms: i64) -> Result<u64, StoreError>;
    /// Records (replacing the previous one) the outcome of a source's completed sync.
    fn source_sync_record(
        &self,
        vault: VaultId,
        source: &str,
        finished_ms: i64,
        summary: &str,
    ) -> Result<(), StoreError>;
    /// A token bucket shared by every process of a shared store (rate limits counted across
    /// nodes): bucket `key` holds up to `capacity` tokens and refills `per_second`. With `take`
    /// a token is taken when there is one. `Some(Ok(()))` when there was a token,
    /// `Some(Err(ms))` how long until the next one, `None` when this store keeps no shared
    /// buckets (the embedded store: its one process counts in memory).
    fn rate_limit(
        &self,
        key: &str,
        capacity: f64,
        per_second: f64,
        now_ms: i64,
        take: bool,
    ) -> Option<Result<Result<(), i64>, StoreError>> {
        let _ = (key, capacity, per_second, now_ms, take);
        None
    }
    /// Appends an audit entry; returns its id.
    fn audit_append(&self, event: &NewAuditEvent) -> Result<i64, StoreError>;
    /// Deletes audit entries older than `older_than_ms`; returns how many.
    fn audit_prune(&self, older_than_ms: i64) -> Result<u64, StoreError>;
}
