//! Conformance of [`crate::JobQueue`]: a job's life through the queue, retries into the
//! dead-letter status, leases that expire and hand the job over, cancellation, recovery,
//! dedupe keys and listings.

use crate::{Heartbeat, JobFilter, JobOutcome, JobStatus, NewJob, Store};

fn job(kind: &str, max_attempts: u32) -> NewJob {
    NewJob {
        kind: kind.into(),
        vault: Some("v".into()),
        payload: serde_json::json!({"n": 1}),
        dedupe_key: None,
        max_attempts,
        timeout_ms: 60_000,
    }
}

pub fn job_lifecycle(store: &dyn Store) {
    let j = store.job_enqueue(&job("upload", 3), 1_000).unwrap();
    assert!(j.id.starts_with("job_"), "{}", j.id);
    assert_eq!((j.status, j.attempts, j.run_at_ms), (JobStatus::Queued, 0, 1_000));
    assert_eq!(j.payload, serde_json::json!({"n": 1}));
    assert_eq!(store.job_counts().unwrap().queued, 1);
    assert!(store.job_claim("w1", 999, 10_000).unwrap().is_none(), "not due before run_at");
    let c = store.job_claim("w1", 1_000, 10_000).unwrap().expect("a due job is claimed");
    assert_eq!((c.id.as_str(), c.status, c.attempts), (j.id.as_str(), JobStatus::Running, 1));
    assert_eq!((c.lease_owner.as_deref(), c.lease_until_ms, c.started_ms), (Some("w1"), Some(11_000), Some(1_000)));
    assert!(store.job_claim("w2", 1_001, 10_000).unwrap().is_none(), "a leased job is not claimed twice");
    assert_eq!(store.job_heartbeat(&j.id, "w1", 5_000, 10_000).unwrap(), Heartbeat::Held { cancel_requested: false });
    assert_eq!(store.job_get(&j.id).unwrap().unwrap().lease_until_ms, Some(15_000));
    assert_eq!(store.job_heartbeat(&j.id, "w2", 5_000, 10_000).unwrap(), Heartbeat::Lost, "not w2's lease");
    let ok = JobOutcome::Succeeded(serde_json::json!({"added": 2}));
    assert!(!store.job_finish(&j.id, "w2", &ok, 6_000).unwrap(), "only the lease owner reports");
    assert!(store.job_finish(&j.id, "w1", &ok, 6_000).unwrap());
    let done = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!((done.status, done.finished_ms, done.lease_owner), (JobStatus::Succeeded, Some(6_000), None));
    assert_eq!(done.result, Some(serde_json::json!({"added": 2})));
    assert!(!store.job_finish(&j.id, "w1", &ok, 7_000).unwrap(), "a finished job cannot finish again");
    let counts = store.job_counts().unwrap();
    assert_eq!((counts.queued, counts.running, counts.succeeded, counts.next_run_at_ms), (0, 0, 1, None));
    assert_eq!(store.job_prune(6_000).unwrap(), 0, "pruning keeps jobs finished at or after the cutoff");
    assert_eq!(store.job_prune(6_001).unwrap(), 1);
    assert!(store.job_get(&j.id).unwrap().is_none());
    assert!(store.job_get("job_missing").unwrap().is_none());
}

pub fn job_retries_then_dead_letter(store: &dyn Store) {
    let j = store.job_enqueue(&job("sync", 2), 0).unwrap();
    store.job_claim("w", 0, 1_000).unwrap().unwrap();
    let retry = JobOutcome::Retry { error: "disk busy".into(), code: "io_failed".into(), run_at_ms: 500 };
    assert!(store.job_finish(&j.id, "w", &retry, 10).unwrap());
    let r = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!((r.status, r.run_at_ms, r.error.as_deref()), (JobStatus::Queued, 500, Some("disk busy")));
    assert_eq!(store.job_counts().unwrap().next_run_at_ms, Some(500));
    assert!(store.job_claim("w", 499, 1_000).unwrap().is_none(), "backoff is respected");
    assert_eq!(store.job_claim("w", 500, 1_000).unwrap().unwrap().attempts, 2);
    assert!(store.job_finish(&j.id, "w", &retry, 600).unwrap());
    let dead = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!((dead.status, dead.attempts, dead.finished_ms), (JobStatus::Dead, 2, Some(600)), "attempts used up");
    assert_eq!(store.job_counts().unwrap().dead, 1);
    assert!(store.job_retry("job_missing", 700).unwrap().is_none());
    let again = store.job_retry(&j.id, 700).unwrap().expect("a dead job can be retried");
    assert_eq!((again.status, again.attempts, again.retries, again.run_at_ms), (JobStatus::Queued, 0, 1, 700));
    assert!(store.job_retry(&j.id, 700).unwrap().is_none(), "only dead jobs are retried");
    assert!(!store.job_delete(&j.id, JobStatus::Dead).unwrap(), "a queued job is not deleted as dead");
    store.job_claim("w", 700, 1_000).unwrap().unwrap();
    let dead = JobOutcome::Dead { error: "not a PDF".into(), code: "document_unreadable".into() };
    assert!(store.job_finish(&j.id, "w", &dead, 800).unwrap());
    let d = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!((d.status, d.attempts, d.error_code.as_deref()), (JobStatus::Dead, 1, Some("document_unreadable")));
    assert!(store.job_delete(&j.id, JobStatus::Dead).unwrap());
    assert!(store.job_get(&j.id).unwrap().is_none());
}

pub fn job_lease_expiry_hands_the_job_over(store: &dyn Store) {
    let j = store.job_enqueue(&job("upload", 2), 0).unwrap();
    store.job_claim("w1", 0, 100).unwrap().unwrap();
    assert!(store.job_claim("w2", 100, 100).unwrap().is_none(), "the lease runs until its end");
    let taken = store.job_claim("w2", 101, 100).unwrap().expect("an expired lease is taken over");
    assert_eq!((taken.lease_owner.as_deref(), taken.attempts), (Some("w2"), 2));
    assert_eq!(store.job_heartbeat(&j.id, "w1", 102, 100).unwrap(), Heartbeat::Lost);
    let ok = JobOutcome::Succeeded(serde_json::json!({}));
    assert!(!store.job_finish(&j.id, "w1", &ok, 102).unwrap(), "the old worker cannot report");
    // w2 dies too: no attempts are left, so the job goes to the dead-letter queue.
    assert!(store.job_claim("w3", 500, 100).unwrap().is_none());
    let dead = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.error_code.as_deref(), Some("worker_lost"));
}

pub fn job_cancel_recover_dedupe_and_list(store: &dyn Store) {
    let queued = store.job_enqueue(&job("upload", 3), 0).unwrap();
    let c = store.job_cancel(&queued.id, 5).unwrap().unwrap();
    assert_eq!((c.status, c.finished_ms), (JobStatus::Cancelled, Some(5)), "a queued job is cancelled at once");
    assert!(store.job_cancel("job_missing", 5).unwrap().is_none());

    let running = store.job_enqueue(&job("upload", 3), 10).unwrap();
    store.job_claim("w", 10, 1_000).unwrap().unwrap();
    let c = store.job_cancel(&running.id, 20).unwrap().unwrap();
    assert_eq!((c.status, c.cancel_requested), (JobStatus::Running, true), "a running job is asked to stop");
    assert_eq!(store.job_heartbeat(&running.id, "w", 30, 1_000).unwrap(), Heartbeat::Held { cancel_requested: true });
    assert!(store.job_finish(&running.id, "w", &JobOutcome::Cancelled, 40).unwrap());
    assert_eq!(store.job_get(&running.id).unwrap().unwrap().status, JobStatus::Cancelled);

    let released = store.job_enqueue(&job("upload", 3), 41).unwrap();
    store.job_claim("w", 41, 1_000).unwrap().unwrap();
    assert!(store.job_finish(&released.id, "w", &JobOutcome::Released, 42).unwrap());
    let r = store.job_get(&released.id).unwrap().unwrap();
    assert_eq!((r.status, r.attempts, r.run_at_ms), (JobStatus::Queued, 0, 42), "a released attempt does not count");
    assert!(store.job_cancel(&released.id, 43).unwrap().is_some());

    let crashed = store.job_enqueue(&job("upload", 3), 50).unwrap();
    store.job_claim("w", 50, 1_000_000).unwrap().unwrap();
    assert_eq!(store.job_recover(60).unwrap(), 1, "recovery takes back running jobs whatever their lease");
    let r = store.job_get(&crashed.id).unwrap().unwrap();
    assert_eq!((r.status, r.attempts, r.error_code.as_deref()), (JobStatus::Queued, 1, Some("worker_lost")));
    assert_eq!(store.job_claim("w", 60, 1_000).unwrap().unwrap().attempts, 2, "the crashed attempt counts");

    let mut keyed = job("sync", 3);
    keyed.dedupe_key = Some("sync:v:docs".into());
    let first = store.job_enqueue(&keyed, 70).unwrap();
    assert_eq!(store.job_enqueue(&keyed, 71).unwrap().id, first.id, "a queued duplicate is returned");
    let mut other = keyed.clone();
    other.dedupe_key = Some("sync:v:other".into());
    let different = store.job_enqueue(&other, 72).unwrap();
    assert_ne!(different.id, first.id);

    let all = store.job_list(&JobFilter::default(), None, 100).unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].rowid > w[1].rowid), "newest first");
    let page = store.job_list(&JobFilter::default(), None, 2).unwrap();
    let rest = store.job_list(&JobFilter::default(), Some(page[1].rowid), 100).unwrap();
    assert_eq!(page.len() + rest.len(), 6, "pages cover the list without overlap");
    let filter = JobFilter { status: Some(JobStatus::Cancelled), ..JobFilter::default() };
    assert_eq!(store.job_list(&filter, None, 100).unwrap().len(), 3);
    let filter = JobFilter { kind: Some("sync".into()), status: Some(JobStatus::Queued), vault: Some("v".into()) };
    assert_eq!(store.job_list(&filter, None, 100).unwrap().len(), 2);
    let filter = JobFilter { vault: Some("elsewhere".into()), ..JobFilter::default() };
    assert!(store.job_list(&filter, None, 100).unwrap().is_empty());
}
