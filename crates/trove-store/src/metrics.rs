//! Database timing for `/metrics`: every SQL statement the embedded store runs reports its
//! duration through SQLite's profile hook into lock-free histograms kept per statement kind
//! (`select`, `insert`, `update`, `delete`, `other`). They are process-wide because SQLite's
//! hook outlives any one request; [`query_histograms`] reads a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (the server's latency buckets, finer at the low
/// end, where most statements are).
pub const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// Statement kinds, in label order.
pub const KINDS: [&str; 5] = ["select", "insert", "update", "delete", "other"];

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
    /// `select`, `insert`, `update`, `delete` or `other`.
    pub kind: &'static str,
    /// Observations at or below each bound of [`BUCKETS`] (cumulative), then the total count
    /// (the `+Inf` bucket).
    pub cumulative: Vec<u64>,
    /// Sum of the durations, seconds.
    pub sum_seconds: f64,
}

/// The kind of a statement from its first word.
fn kind_of(sql: &str) -> usize {
    let word = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    KINDS[..4].iter().position(|k| word.eq_ignore_ascii_case(k)).unwrap_or(4)
}

/// Records one statement.
pub(crate) fn observe(sql: &str, took: Duration) {
    let h = &HISTOGRAMS[kind_of(sql)];
    let s = took.as_secs_f64();
    let i = BUCKETS.iter().position(|b| s <= *b).unwrap_or(BUCKETS.len());
    h.counts[i].fetch_add(1, Ordering::Relaxed);
    h.sum_ns.fetch_add(took.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
}

/// Installs the profile hook on a connection.
pub(crate) fn instrument(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::trace::{TraceEvent, TraceEventCodes};
    conn.trace_v2(
        TraceEventCodes::SQLITE_TRACE_PROFILE,
        Some(|event: TraceEvent<'_>| {
            if let TraceEvent::Profile(stmt, took) = event {
                observe(&stmt.sql(), took);
            }
        }),
    )
}

/// A snapshot of every statement kind's histogram.
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
    fn statements_are_sorted_by_their_first_word() {
        assert_eq!(KINDS[kind_of("  SELECT 1")], "select");
        assert_eq!(KINDS[kind_of("insert into t values (1)")], "insert");
        assert_eq!(KINDS[kind_of("WITH x AS (SELECT 1) SELECT * FROM x")], "other");
        let before = query_histograms()[3].cumulative.last().copied().unwrap_or(0);
        observe("DELETE FROM t", Duration::from_millis(3));
        let after = &query_histograms()[3];
        assert_eq!(after.kind, "delete");
        assert_eq!(*after.cumulative.last().unwrap(), before + 1);
        assert!(after.sum_seconds >= 0.003);
    }
}
