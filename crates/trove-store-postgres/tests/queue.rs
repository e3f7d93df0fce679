//! The job queue shared by several nodes: two `PgStore`s (two `trove serve` processes) on one
//! database, with workers on both claiming at once. Every job runs exactly once, an expired
//! lease on one node is taken over by the other, and concurrent enqueues of one dedupe key
//! make one queued job.

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};

use trove_store::prelude::*;
use trove_store::{Heartbeat, JobOutcome, JobStatus, NewJob};
use trove_store_postgres::testing::PgServer;
use trove_store_postgres::{PgOptions, PgStore};

const WORKERS_PER_NODE: usize = 4;

fn job(n: usize, max_attempts: u32) -> NewJob {
    NewJob {
        kind: "upload".into(),
        vault: Some("v".into()),
        payload: serde_json::json!({ "n": n }),
        dedupe_key: None,
        max_attempts,
        timeout_ms: 60_000,
    }
}

fn two_nodes(server: &PgServer) -> [Arc<PgStore>; 2] {
    let url = server.create_database();
    let a = PgStore::open(PgOptions::new(url.clone())).unwrap();
    let b = PgStore::open(PgOptions::new(url)).unwrap();
    [Arc::new(a), Arc::new(b)]
}

#[test]
fn two_nodes_share_the_queue() {
    let server = PgServer::start();
    let nodes = two_nodes(&server);

    // 50 jobs, 4 workers on each node claiming and finishing at once.
    let mut enqueued = HashSet::new();
    for n in 0..50 {
        let node = &nodes[n % 2];
        enqueued.insert(node.job_enqueue(&job(n, 3), 1_000).unwrap().id);
    }
    assert_eq!(enqueued.len(), 50);
    let claimed = Arc::new(Mutex::new(Vec::new()));
    let start = Arc::new(Barrier::new(2 * WORKERS_PER_NODE));
    let mut threads = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..WORKERS_PER_NODE {
            let (node, claimed, start) = (Arc::clone(node), Arc::clone(&claimed), Arc::clone(&start));
            threads.push(std::thread::spawn(move || {
                let worker = format!("node{n}-w{w}");
                start.wait();
                while let Some(job) = node.job_claim(&worker, 2_000, 60_000).unwrap() {
                    assert_eq!((job.status, job.attempts), (JobStatus::Running, 1));
                    assert_eq!(job.lease_owner.as_deref(), Some(worker.as_str()));
                    claimed.lock().unwrap().push(job.id.clone());
                    let done = JobOutcome::Succeeded(serde_json::json!({ "by": worker }));
                    assert!(node.job_finish(&job.id, &worker, &done, 2_001).unwrap(), "the owner reports");
                }
            }));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    let claimed = claimed.lock().unwrap();
    let unique: HashSet<_> = claimed.iter().cloned().collect();
    assert_eq!(claimed.len(), 50, "every job claimed once, none twice");
    assert_eq!(unique, enqueued);
    for node in &nodes {
        let counts = node.job_counts().unwrap();
        assert_eq!((counts.queued, counts.running, counts.succeeded, counts.dead), (0, 0, 50, 0));
    }
    for id in &enqueued {
        let j = nodes[0].job_get(id).unwrap().unwrap();
        assert_eq!((j.status, j.attempts, j.lease_owner), (JobStatus::Succeeded, 1, None));
    }

    // A job whose lease on node A ran out is taken over on node B, by exactly one of the
    // workers racing for it; node A's worker can then neither extend nor report.
    let [a, b] = &nodes;
    let j = a.job_enqueue(&job(99, 3), 10_000).unwrap();
    let first = a.job_claim("a-w", 10_000, 100).unwrap().unwrap();
    assert_eq!((first.id.as_str(), first.lease_owner.as_deref()), (j.id.as_str(), Some("a-w")));
    assert!(b.job_claim("b-early", 10_100, 100).unwrap().is_none(), "the lease runs until its end");
    let start = Arc::new(Barrier::new(2 * WORKERS_PER_NODE));
    let mut threads = Vec::new();
    for w in 0..2 * WORKERS_PER_NODE {
        let (node, start) = (Arc::clone(if w % 2 == 0 { a } else { b }), Arc::clone(&start));
        threads.push(std::thread::spawn(move || {
            let worker = format!("racer{w}");
            start.wait();
            node.job_claim(&worker, 10_101, 60_000).unwrap().map(|j| (worker, j))
        }));
    }
    let winners: Vec<_> = threads.into_iter().filter_map(|t| t.join().unwrap()).collect();
    assert_eq!(winners.len(), 1, "one worker takes the expired job over");
    let (winner, taken) = &winners[0];
    assert_eq!((taken.id.as_str(), taken.attempts), (j.id.as_str(), 2), "the lost attempt counts");
    assert_eq!(taken.error_code.as_deref(), Some("worker_lost"));
    assert_eq!(a.job_heartbeat(&j.id, "a-w", 10_102, 100).unwrap(), Heartbeat::Lost);
    let ok = JobOutcome::Succeeded(serde_json::json!({}));
    assert!(!a.job_finish(&j.id, "a-w", &ok, 10_102).unwrap(), "node A's worker cannot report");
    assert!(b.job_finish(&j.id, winner, &ok, 10_103).unwrap());
    let done = a.job_get(&j.id).unwrap().unwrap();
    assert_eq!((done.status, done.lease_owner), (JobStatus::Succeeded, None));

    // Node B claims a job with a short lease and stops; node A takes it over.
    let j = b.job_enqueue(&job(100, 3), 20_000).unwrap();
    b.job_claim("b-w", 20_000, 100).unwrap().unwrap();
    let taken = a.job_claim("a-w2", 20_101, 60_000).unwrap().expect("node A takes over node B's expired job");
    assert_eq!((taken.id.as_str(), taken.lease_owner.as_deref(), taken.attempts), (j.id.as_str(), Some("a-w2"), 2));
    assert!(!b.job_finish(&j.id, "b-w", &ok, 20_102).unwrap(), "node B's worker cannot report");
    assert!(a.job_finish(&j.id, "a-w2", &ok, 20_103).unwrap());
}

#[test]
fn concurrent_enqueues_of_one_dedupe_key_make_one_job() {
    let server = PgServer::start();
    let nodes = two_nodes(&server);
    let start = Arc::new(Barrier::new(2 * WORKERS_PER_NODE));
    let mut threads = Vec::new();
    for w in 0..2 * WORKERS_PER_NODE {
        let (node, start) = (Arc::clone(&nodes[w % 2]), Arc::clone(&start));
        threads.push(std::thread::spawn(move || {
            let mut keyed = job(w, 3);
            keyed.dedupe_key = Some("sync:v:docs".into());
            start.wait();
            node.job_enqueue(&keyed, 1_000).unwrap().id
        }));
    }
    let ids: HashSet<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(ids.len(), 1, "every enqueue returns the same queued job");
    assert_eq!(nodes[1].job_counts().unwrap().queued, 1);
    let id = ids.into_iter().next().unwrap();
    assert!(id.starts_with("job_") && id.len() == 28, "{id}");
    assert!(id[4..].chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{id}");
}

#[test]
fn rate_limit_buckets_are_shared_by_every_node() {
    let server = PgServer::start();
    let url = server.create_database();
    let a = PgStore::open(PgOptions::new(url.clone())).unwrap();
    let b = PgStore::open(PgOptions::new(url)).unwrap();
    let take = |s: &PgStore, now: i64| s.rate_limit("login:1.2.3.4", 3.0, 1.0, now, true).unwrap().unwrap();
    let t0 = 1_700_000_000_000;
    // Three tokens between both nodes, then a refusal naming the wait (one token a second).
    assert_eq!(take(&a, t0), Ok(()));
    assert_eq!(take(&b, t0), Ok(()));
    assert_eq!(take(&a, t0), Ok(()));
    assert_eq!(take(&b, t0), Err(1000));
    assert_eq!(a.rate_limit("login:1.2.3.4", 3.0, 1.0, t0 + 500, false).unwrap().unwrap(), Err(500));
    // Half a second later half a token is back: still refused; a second later one is.
    assert!(take(&a, t0 + 500).is_err());
    assert_eq!(take(&b, t0 + 1000), Ok(()));
    // Other keys have buckets of their own.
    assert_eq!(a.rate_limit("login:5.6.7.8", 3.0, 1.0, t0, true).unwrap().unwrap(), Ok(()));
    // Concurrent takes never hand out more tokens than there are.
    let store = std::sync::Arc::new(a);
    let granted: usize = (0..8)
        .map(|_| {
            let s = store.clone();
            std::thread::spawn(move || {
                (0..5).filter(|_| s.rate_limit("key:k", 10.0, 0.001, t0, true).unwrap().unwrap().is_ok()).count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    assert_eq!(granted, 10);
}
