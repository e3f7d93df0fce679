//! PLACEHOLDER

use crate::*;

pub(crate) fn job_get(s: &PgStore, id: &str) -> Result<Option<JobRecord>, StoreError> {
    let _ = (s, id);
    Err(StoreError::Database { what: s.what().into(), reason: "job_get: not written yet".into() })
}

pub(crate) fn job_list(
    s: &PgStore,
    filter: &JobFilter,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<JobRecord>, StoreError> {
    let _ = (s, filter, before, limit);
    Err(StoreError::Database { what: s.what().into(), reason: "job_list: not written yet".into() })
}

pub(crate) fn job_counts(s: &PgStore) -> Result<JobCounts, StoreError> {
    let _ = s;
    Err(StoreError::Database { what: s.what().into(), reason: "job_counts: not written yet".into() })
}

pub(crate) fn job_enqueue(s: &PgStore, job: &NewJob, now_ms: i64) -> Result<JobRecord, StoreError> {
    let _ = (s, job, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "job_enqueue: not written yet".into() })
}

pub(crate) fn job_claim(
    s: &PgStore,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<JobRecord>, StoreError> {
    let _ = (s, worker, now_ms, lease_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "job_claim: not written yet".into() })
}

pub(crate) fn job_heartbeat(
    s: &PgStore,
    id: &str,
    worker: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Heartbeat, StoreError> {
    let _ = (s, id, worker, now_ms, lease_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "job_heartbeat: not written yet".into() })
}

pub(crate) fn job_finish(
    s: &PgStore,
    id: &str,
    worker: &str,
    outcome: &JobOutcome,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let _ = (s, id, worker, outcome, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "job_finish: not written yet".into() })
}

pub(crate) fn job_cancel(s: &PgStore, id: &str, now_ms: i64) -> Result<Option<JobRecord>, StoreError> {
    let _ = (s, id, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "job_cancel: not written yet".into() })
}

pub(crate) fn job_retry(s: &PgStore, id: &str, now_ms: i64) -> Result<Option<JobRecord>, StoreError> {
    let _ = (s, id, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "job_retry: not written yet".into() })
}

pub(crate) fn job_delete(s: &PgStore, id: &str, status: JobStatus) -> Result<bool, StoreError> {
    let _ = (s, id, status);
    Err(StoreError::Database { what: s.what().into(), reason: "job_delete: not written yet".into() })
}

pub(crate) fn job_recover(s: &PgStore, now_ms: i64) -> Result<u64, StoreError> {
    let _ = (s, now_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "job_recover: not written yet".into() })
}

pub(crate) fn job_prune(s: &PgStore, finished_before_ms: i64) -> Result<u64, StoreError> {
    let _ = (s, finished_before_ms);
    Err(StoreError::Database { what: s.what().into(), reason: "job_prune: not written yet".into() })
}
