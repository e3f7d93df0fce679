//! The scale benchmark's figures: what one size measured (kept raw in the JSON file, so a
//! later run can be compared) and its Markdown table for `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::lancedb;
use crate::process::Timed;
use crate::trove::MODES;

/// A new `trove search` process's first query, with the page cache dropped first and not.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CliFirst {
    /// After `echo 3 > /proc/sys/vm/drop_caches` (absent when that was not permitted).
    pub cold_cache: Option<Timed>,
    /// Right after, the files in the page cache.
    pub warm_cache: Timed,
    /// Hits the first run printed.
    pub hits: usize,
}

/// `trove serve`: start to ready, then its first search.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServeFirst {
    /// Seconds from spawn to `/ready` answering 200.
    pub ready_s: f64,
    /// Milliseconds of the first search.
    pub first_ms: f64,
}

/// Latencies of one mode.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latency {
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Requests measured.
    pub samples: usize,
}

/// Concurrent clients mixing the three modes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Load {
    /// Clients.
    pub clients: usize,
    /// Seconds.
    pub seconds: f64,
    /// Requests answered.
    pub requests: usize,
    /// Latencies over all of them.
    pub latency: Latency,
    /// Largest RSS sampled during the run, MB.
    pub rss_max_sampled_mb: f64,
    /// The server's `VmHWM` after the run, MB.
    pub rss_peak_mb: f64,
}

/// A `trove serve` session with warm indexes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Serve {
    /// Seconds from spawn to ready.
    pub ready_s: f64,
    /// RSS once ready, before any search, MB.
    pub rss_ready_mb: f64,
    /// RSS after the warm passes, idle, MB.
    pub rss_idle_mb: f64,
    /// Of it, anonymous memory (`RssAnon`: the heap), MB; the rest is mapped files (the
    /// database and index pages, shared with the page cache and reclaimable).
    pub rss_idle_anon_mb: f64,
    /// Sequential requests (one client) per mode, after one unmeasured pass.
    pub modes: BTreeMap<String, Latency>,
    /// Under load.
    pub load: Load,
}

/// A new LanceDB process's first query, with the page cache dropped first and not.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LanceFirst {
    /// After dropping the page cache (absent when that was not permitted).
    pub cold_cache: Option<lancedb::First>,
    /// Right after, the files cached.
    pub warm_cache: lancedb::First,
}

/// The reference's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lance {
    /// Table and index builds.
    pub build: lancedb::Build,
    /// Per mode: a new process's open + first query.
    pub first: BTreeMap<String, LanceFirst>,
    /// Warm latencies.
    pub warm: lancedb::Warm,
    /// Recall@10 of semantic search at LanceDB's default settings.
    pub recall_default: f64,
    /// Recall@10 at `nprobes` / `refine`.
    pub recall_tuned: f64,
}

/// Everything measured at one size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SizeReport {
    /// Chunks asked for.
    pub n: usize,
    /// Chunks Trove reports after the ingest.
    pub chunks: u64,
    /// Markdown files written.
    pub files: usize,
    /// Texts the embeddings server was asked for during the ingest (what LanceDB and the exact
    /// search get), and how many of them repeat an earlier one.
    pub captured: (usize, u64),
    /// Requests to the embeddings server during the ingest, and texts in them.
    pub embedder_requests: (u64, u64),
    /// 1-minute load average before and after this size's run.
    pub load_average: (f64, f64),
    /// `trove ingest` of the whole corpus.
    pub ingest: Timed,
    /// Trove's CPU time over wall time during it.
    pub ingest_cpu_share: f64,
    /// The benchmark process's (the embeddings server's) CPU time over wall time during it.
    pub embedder_cpu_share: f64,
    /// Bytes of `.trove/` after the ingest.
    pub disk_bytes: u64,
    /// Per mode: a new `trove search` process.
    pub cli_first: BTreeMap<String, CliFirst>,
    /// Per mode: a new `trove serve` and its first search of that mode.
    pub serve_first: BTreeMap<String, ServeFirst>,
    /// The warm session.
    pub serve: Serve,
    /// Mean recall@10 of Trove's semantic search against exact search.
    pub recall_at_10: f64,
    /// Queries the recall and latencies are over.
    pub queries: usize,
    /// `trove ingest` after 1,000 chunks (40 files) were added to the full corpus.
    pub add_1000: Timed,
    /// The reference, unless skipped.
    pub lancedb: Option<Lance>,
}

fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

fn secs(s: f64) -> String {
    if s < 10.0 { format!("{s:.2}") } else { format!("{s:.1}") }
}

fn mb(m: f64) -> String {
    if m >= 1000.0 { format!("{:.2} GB", m / 1024.0) } else { format!("{m:.0} MB") }
}

/// "a / b / c" of the three modes.
fn per_mode(f: impl Fn(&str) -> Option<String>) -> String {
    MODES.iter().map(|m| f(m).unwrap_or_else(|| "—".into())).collect::<Vec<_>>().join(" / ")
}

/// The Markdown table of one size.
pub fn markdown(r: &SizeReport, queries_note: &str) -> String {
    let mut t = String::new();
    let lance_name = r.lancedb.as_ref().map_or("LanceDB".to_string(), |l| format!("LanceDB {}", l.build.version));
    let _ = writeln!(t, "### {} chunks\n", thousands(r.n));
    let _ = writeln!(t, "| what | Trove | {lance_name} |");
    let _ = writeln!(t, "|---|---|---|");
    let l = r.lancedb.as_ref();
    let _ = writeln!(
        t,
        "| ingest (Trove) / table write + index builds (LanceDB) | {} s: {:.0} chunks/s, Trove at {:.0} % CPU, peak RSS {} (embeddings server {:.0} % CPU) | {} |",
        secs(r.ingest.wall_s),
        r.chunks as f64 / r.ingest.wall_s.max(1e-9),
        100.0 * r.ingest_cpu_share,
        mb(r.ingest.max_rss_mb),
        100.0 * r.embedder_cpu_share,
        l.map_or("—".into(), |l| format!(
            "{} s + full-text {} s + IVF_HNSW_SQ {} s",
            secs(l.build.write_s),
            secs(l.build.fts_index_s),
            secs(l.build.vector_index_s)
        ))
    );
    let _ = writeln!(t, "| on disk | {} | {} |", gb(r.disk_bytes), l.map_or("—".into(), |l| gb(l.build.disk_bytes)));
    let cold = |first: &CliFirst| first.cold_cache.as_ref().map(|c| (secs(c.wall_s), c.max_rss_mb));
    let _ = writeln!(
        t,
        "| first query in a new process, page cache dropped: keyword / semantic / hybrid | {} s, RSS {} | {} |",
        per_mode(|m| r.cli_first.get(m).and_then(cold).map(|c| c.0)),
        per_mode(|m| r.cli_first.get(m).and_then(cold).map(|c| mb(c.1))),
        l.map_or("—".into(), |l| lance_first(l, true)),
    );
    let _ = writeln!(
        t,
        "| first query in a new process, files cached | {} s, RSS {} | {} |",
        per_mode(|m| r.cli_first.get(m).map(|c| secs(c.warm_cache.wall_s))),
        per_mode(|m| r.cli_first.get(m).map(|c| mb(c.warm_cache.max_rss_mb))),
        l.map_or("—".into(), |l| lance_first(l, false)),
    );
    let _ = writeln!(
        t,
        "| `trove serve`: ready, then first search (files cached) | ready {} s; {} ms | — |",
        per_mode(|m| r.serve_first.get(m).map(|s| secs(s.ready_s))),
        per_mode(|m| r.serve_first.get(m).map(|s| format!("{:.0}", s.first_ms))),
    );
    let lat = |x: &Latency| format!("{:.1} / {:.1}", x.p50_ms, x.p99_ms);
    let lance_lat = |mode: &str| {
        l.and_then(|l| l.warm.modes.get(mode)).map_or("—".into(), |x| format!("{:.1} / {:.1}", x.p50_ms, x.p99_ms))
    };
    let tuning = l.map_or(String::new(), |l| format!(" (nprobes {}, refine {})", l.warm.nprobes, l.warm.refine));
    for mode in MODES {
        let what = if mode == "keyword" { "keyword (Trove: `trove serve` over HTTP, one client)" } else { mode };
        let lance = match mode {
            "semantic" => {
                format!("{} ms{tuning}; {} ms at its defaults", lance_lat(mode), lance_lat("semantic_default"))
            }
            "hybrid" => format!("{} ms{tuning}", lance_lat(mode)),
            _ => format!("{} ms", lance_lat(mode)),
        };
        let trove = r.serve.modes.get(mode).map_or("—".into(), lat);
        let _ = writeln!(t, "| warm p50 / p99, {what} | {trove} ms | {lance} |");
    }
    let _ = writeln!(
        t,
        "| recall@10 of semantic search against exact | {:.3} | {} |",
        r.recall_at_10,
        l.map_or("—".into(), |l| format!("{:.3}{tuning}; {:.3} at its defaults", l.recall_tuned, l.recall_default))
    );
    let _ = writeln!(
        t,
        "| RSS: server ready / idle after the warm queries (of it anonymous) / peak under load ({} clients, {:.0} s, {:.0} req/s) | {} / {} ({}) / {} | {} |",
        r.serve.load.clients,
        r.serve.load.seconds,
        r.serve.load.requests as f64 / r.serve.load.seconds.max(1e-9),
        mb(r.serve.rss_ready_mb),
        mb(r.serve.rss_idle_mb),
        mb(r.serve.rss_idle_anon_mb),
        mb(r.serve.load.rss_peak_mb),
        l.map_or("—".into(), |l| format!(
            "warm-query process: {} at the end, peak {}",
            mb(l.warm.rss_mb),
            mb(l.warm.peak_rss_mb)
        ))
    );
    let _ = writeln!(
        t,
        "| adding 1,000 chunks (40 files) to the full index | {} s (Trove at {:.0} % CPU, peak RSS {}) | — |",
        secs(r.add_1000.wall_s),
        100.0 * r.add_1000.cpu_share(),
        mb(r.add_1000.max_rss_mb)
    );
    let _ = writeln!(
        t,
        "\n{} chunks in {} files; {queries_note}; load average {:.1} before, {:.1} after.",
        thousands(r.chunks as usize),
        thousands(r.files),
        r.load_average.0,
        r.load_average.1
    );
    t
}

/// "open + query a / b / c s (process x / y / z s), RSS …" for LanceDB's first queries.
fn lance_first(l: &Lance, cold: bool) -> String {
    let pick = |m: &str| l.first.get(m).and_then(|f| if cold { f.cold_cache.as_ref() } else { Some(&f.warm_cache) });
    if MODES.iter().all(|m| pick(m).is_none()) {
        return "—".into();
    }
    format!(
        "open + query {} s (new process {} s with Python and `import lancedb`), RSS {}",
        per_mode(|m| pick(m).map(|f| secs(f.open_query_s))),
        per_mode(|m| pick(m).and_then(|f| f.process.as_ref()).map(|p| secs(p.wall_s))),
        per_mode(|m| pick(m).and_then(|f| f.process.as_ref()).map(|p| mb(p.max_rss_mb))),
    )
}

/// 1234567 → "1,234,567".
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn per_mode_marks_what_is_missing() {
        assert_eq!(per_mode(|m| (m != "semantic").then(|| m.len().to_string())), "7 / — / 6");
    }
}
