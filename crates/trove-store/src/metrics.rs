//! Database timing for `/metrics`: every store operation reports how long it held a database
//! connection (a read connection of the pool, or the writer connection), into lock-free
//! histograms by access kind (`read`, `write`). One observation per operation, whatever number
//! of SQL statements it ran (SQLite's per-statement profile hook also fires for FTS5's
//! internal statements, once per matching row, and cost a few percent of every memory search).
//! The histograms are process-wide; [`query_histograms`] reads a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (the server's latency buckets, finer at the low
/// end, where most statements are).
pub const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// Access kinds, in label order.
pub const KINDS: [&str; 2] = ["read", "write"];

/// How an operation used the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A read (a read connection of the pool).
    Read = 0,
    /// A write (the writer connection, or a transaction).
    Write = 1,
}

struct Atomic {
    /// Per bucket, not cumulative; the last slot is above every bound.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

impl Atomic {
    const fn new() -> Atomic {
        Atomic { counts: [const { AtomicU64::new(0) }; BUCKETS.len() + 1], sum_ns: AtomicU64::new(0) }
    }
}

static HISTOGRAMS: [Atomic; KINDS.len()] = [const { Atomic::new() }; KINDS.len()];

/// One statement kind's histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryHistogram {
    /// `read` or `write`.
    pub kind: &'static str,
    /// Observations at or below each bound of [`BUCKETS`] (cumulative), then the total count
    /// (the `+Inf` bucket).
    pub cumulative: Vec<u64>,
    /// Sum of the durations, seconds.
    pub sum_seconds: f64,
}

/// Records one operation.
pub fn observe(access: Access, took: Duration) {
    let h = &HISTOGRAMS[access as usize];
    let s = took.as_secs_f64();
    let i = BUCKETS.iter().position(|b| s <= *b).unwrap_or(BUCKETS.len());
    h.counts[i].fetch_add(1, Ordering::Relaxed);
    h.sum_ns.fetch_add(took.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
}

/// A snapshot of every access kind's histogram.
pub fn query_histograms() -> Vec<QueryHistogram> {
    KINDS
        .iter()
        .zip(&HISTOGRAMS)
        .map(|(kind, h)| {
            let mut running = 0;
            let cumulative: Vec<u64> = h
                .counts
                .iter()
                .map(|c| {
                    running += c.load(Ordering::Relaxed);
                    running
                })
                .collect();
            QueryHistogram { kind, cumulative, sum_seconds: h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_kind_and_bucket() {
        let before = query_histograms()[1].cumulative.clone();
        observe(Access::Write, Duration::from_millis(3));
        let after = &query_histograms()[1];
        assert_eq!(after.kind, "write");
        assert_eq!(*after.cumulative.last().unwrap(), before.last().unwrap() + 1);
        // 3 ms is above the 2.5 ms bound and within the 5 ms one.
        assert_eq!(after.cumulative[4], before[4], "not counted at or below 2.5 ms");
        assert_eq!(after.cumulative[5], before[5] + 1, "counted at or below 5 ms");
        assert!(after.sum_seconds >= 0.003);
    }
}
