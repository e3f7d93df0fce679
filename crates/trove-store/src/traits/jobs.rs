//! [`JobQueue`]: the durable job queue with leases, retries, a dead-letter status and
//! cancellation.

use crate::{Heartbeat, JobCounts, JobFilter, JobOutcome, JobRecord, JobStatus, NewJob, StoreError};

/// The job queue.
pub trait JobQueue: Send + Sync {
    /// A job by public id.
    fn job_get(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// Jobs matching the filter, newest first, with row id below `before`.
    fn job_list(&self, filter: &JobFilter, before: Option<i64>, limit: usize) -> Result<Vec<JobRecord>, StoreError>;
    /// Jobs by status (queue and dead-letter depth) and the next delayed job's time.
    fn job_counts(&self) -> Result<JobCounts, StoreError>;
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
}
