//! [`Backend`]: what kind of backend a store is (shared by several processes or not, its
//! connection pool, an external vector index beside it) and its upkeep (integrity checks,
//! reconciling the external index, rate-limit buckets shared across nodes).

use crate::{ConnectionStats, ExternalIndexStats, ExternalIndexStatus, IntegrityReport, StoreError};

/// Blocks up to the given time for news of jobs from other processes (see
/// [`Backend::job_waiter`]).
pub type JobWaiter = Box<dyn FnMut(std::time::Duration) -> Result<bool, StoreError> + Send>;

/// Facts about the backend and its maintenance. Every method but [`Self::check_integrity`] has
/// the answer of a store with one process and nothing beside it (the embedded store).
pub trait Backend: Send + Sync {
    /// Whether other nodes (other machines) may write this store at the same time, so
    /// nothing may assume that a running job without a live worker here is abandoned. The
    /// embedded store is written only by processes of one machine, which it knows (its
    /// process registry): its `job_recover` takes back only expired leases while other
    /// writers have it open.
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
    /// idle workers wake at once instead of at their next look. `None` for the embedded
    /// store: enqueues notify this process's workers directly, and other processes' workers
    /// find the job at their next look.
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
    /// Finishes the index work this process queued in the background (the embedded store's
    /// vector index files being built or folded), so that the next process opens current
    /// indexes; `waiting` is called once if that means waiting for a file to be written.
    /// Nothing to do for other stores.
    fn settle_indexes(&self, _waiting: &mut dyn FnMut()) -> Result<(), StoreError> {
        Ok(())
    }
    /// Internal consistency: every chunk has its vector and keyword row, nothing is orphaned.
    fn check_integrity(&self) -> Result<IntegrityReport, StoreError>;
    /// Compares an external vector index with the system of record and repairs what differs
    /// (missing points, orphans); how many vaults needed it. `Ok(0)` without an index.
    fn reconcile_index(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
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
}
