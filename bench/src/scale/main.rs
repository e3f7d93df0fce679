//! Scale benchmark: Trove's embedded store at N chunks (default 100k, 500k and 1M), with
//! LanceDB (embedded, Rust core: native full-text index + IVF_HNSW_SQ) on the same chunks and
//! vectors in the same run as the reference. It drives Trove only through its binary and
//! `config.yaml`, so the engine can change under it.
//!
//! For each N it writes N chunks of real text as Markdown files (see `corpus.rs`: Python's
//! documentation and SciFact, varied beyond their ~60,000 paragraphs), ingests them with an
//! embeddings server inside this process (hashed bag-of-words vectors of 384 dimensions,
//! `embedder.provider: llm`, so that no model is measured) that captures every chunk and
//! vector, and measures: ingest time and Trove's share of CPU; `.trove/` on disk; the first
//! query of each mode in a new `trove search` process, after dropping the page cache (when
//! run as root) and with the files cached (wall time and peak RSS); `trove serve`'s time to
//! ready and first search per mode; warm p50/p99 per mode through the server (one client, a
//! fixed set of queries: SciFact claims and Python documentation section titles); recall@10 of
//! semantic search against an exact scan of the captured vectors; the server's RSS ready, idle
//! and under load; and the cost of adding 1,000 chunks to the full index. LanceDB gets the
//! captured chunks and vectors: its write and index build times, disk size, a new process's
//! open + first query per mode, warm p50/p99, and recall@10 at its defaults and at
//! `--lancedb-nprobes` / `--lancedb-refine`.
//!
//! It prints one Markdown table per N (for `docs/benchmarks.md`) and writes every raw figure to
//! a JSON file; `--compare BEFORE.json AFTER.json` prints two runs' headline figures side by
//! side. Run: `cargo build --release -p trove --bin trove && cargo run --release -p
//! trove-bench --bin scale -- [--sizes 100000,500000,1000000] [--no-lancedb]`. Python's
//! documentation comes from `bench/python-docs` (Debian's `python3.11-doc`), LanceDB from
//! `scripts/bench-scale-venv`; GNU time (`/usr/bin/time`) measures the child processes.

mod compare;
mod corpus;
mod embedder;
mod exact;
mod lancedb;
mod process;
mod report;
mod trove;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::corpus::Corpus;
use crate::embedder::{EmbeddingServer, capture_files, hashed_vector};
use crate::process::{drop_caches, percentile, run_timed};
use crate::report::{CliFirst, Latency, Load, Serve, ServeFirst, SizeReport};
use crate::trove::{MODES, Server, Workspace};
use trove_bench::procfs::cpu_seconds;

/// Time limit of one `trove ingest`.
const INGEST_LIMIT: Duration = Duration::from_secs(6 * 3600);
/// Time limit of one `trove search` process.
const SEARCH_LIMIT: Duration = Duration::from_secs(900);
/// Results per query.
const K: usize = 10;

/// Options.
#[derive(Debug, Parser)]
struct Args {
    /// The `trove` binary (build it with `cargo build --release -p trove --bin trove`).
    #[arg(long, default_value = "target/release/trove")]
    trove: PathBuf,
    /// Chunk counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,500000,1000000")]
    sizes: Vec<usize>,
    /// Scratch folder: one workspace, capture and LanceDB database per size.
    #[arg(long, default_value = "target/bench-scale")]
    work: PathBuf,
    /// The raw figures (JSON); default WORK/scale.json.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Python's HTML documentation (default: the folder `bench/python-docs` prints, downloading
    /// Debian's python3.11-doc on first use).
    #[arg(long)]
    python_docs: Option<PathBuf>,
    /// The SciFact folder (corpus.jsonl, queries.jsonl).
    #[arg(long, default_value = "../shared/data/scifact")]
    scifact: PathBuf,
    /// Queries: half SciFact claims, half Python documentation section titles.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Measured passes over the queries per mode (after one unmeasured pass).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent clients of the load run (RSS under load).
    #[arg(long, default_value_t = 4)]
    load_clients: usize,
    /// Seconds of the load run.
    #[arg(long, default_value_t = 10.0)]
    load_seconds: f64,
    /// Do not run LanceDB.
    #[arg(long)]
    no_lancedb: bool,
    /// The Python holding lancedb (default: the one `scripts/bench-scale-venv` prints).
    #[arg(long)]
    python: Option<PathBuf>,
    /// LanceDB's nprobes for the tuned semantic and hybrid queries.
    #[arg(long, default_value_t = 50)]
    lancedb_nprobes: u32,
    /// LanceDB's refine factor for the tuned semantic and hybrid queries.
    #[arg(long, default_value_t = 10)]
    lancedb_refine: u32,
    /// Keep each size's workspace, capture and database (default: removed once measured).
    #[arg(long)]
    keep: bool,
    /// Never drop the page cache (cold-cache figures are then left out).
    #[arg(long)]
    no_drop_caches: bool,
    /// Measure nothing: print the headline figures of two JSON files of this benchmark side by
    /// side (BEFORE AFTER).
    #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"])]
    compare: Option<Vec<PathBuf>>,
}

/// The JSON file.
#[derive(Debug, serde::Serialize)]
struct Output<'a> {
    /// Seconds since the Unix epoch at the start.
    started_unix_s: u64,
    /// `trove --version`.
    trove_version: String,
    /// Cores of the machine.
    cores: usize,
    /// The corpus.
    corpus: CorpusInfo,
    /// The queries.
    queries: &'a [String],
    /// Measured passes per mode.
    rounds: usize,
    /// Per size.
    sizes: &'a [SizeReport],
}

#[derive(Debug, Clone, serde::Serialize)]
struct CorpusInfo {
    /// The python3.11-doc package version.
    python_docs_version: String,
    /// Distinct pieces from Python's documentation.
    python_pieces: usize,
    /// Distinct pieces from SciFact.
    scifact_pieces: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some([before, after]) = args.compare.as_deref() {
        print!("{}", compare::compare(before, after)?);
        return Ok(());
    }
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        bail!("--sizes: give positive chunk counts, e.g. 100000,500000,1000000");
    }
    if args.queries < 2 || args.rounds == 0 {
        bail!("--queries must be at least 2 and --rounds at least 1");
    }
    if !args.trove.exists() {
        bail!(
            "{} does not exist: run `cargo build --release -p trove --bin trove` or pass --trove",
            args.trove.display()
        );
    }
    if !args.scifact.join("corpus.jsonl").exists() {
        bail!("{} has no corpus.jsonl: pass --scifact DIR pointing at BEIR SciFact", args.scifact.display());
    }
    process::check_tools()?;
    let lance = if args.no_lancedb { None } else { Some(lancedb::Lance::new(args.python.clone())?) };
    let python_docs = match &args.python_docs {
        Some(p) => p.clone(),
        None => fetch_python_docs(&args.work)?,
    };
    let started = Instant::now();
    let corpus = Corpus::load(&python_docs, &args.scifact)?;
    let queries = corpus.queries(args.queries);
    let info = CorpusInfo {
        python_docs_version: std::fs::read_to_string(python_docs.join("../../../../../VERSION"))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        python_pieces: corpus.python_pieces,
        scifact_pieces: corpus.pieces() - corpus.python_pieces,
    };
    eprintln!(
        "corpus: {} pieces ({} from Python's documentation, {} from SciFact), read in {:.1} s; {} queries",
        corpus.pieces(),
        info.python_pieces,
        info.scifact_pieces,
        started.elapsed().as_secs_f64(),
        queries.len()
    );
    std::fs::create_dir_all(&args.work).with_context(|| format!("cannot create {}", args.work.display()))?;
    let out_path = args.out.clone().unwrap_or_else(|| args.work.join("scale.json"));
    let embedder = EmbeddingServer::start()?;
    let version = trove::version(&args.trove)?;
    let started_unix_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let can_drop = !args.no_drop_caches && drop_caches();
    if !args.no_drop_caches && !can_drop {
        eprintln!("note: the page cache cannot be dropped (run as root for cold-cache figures); only cached figures");
    }
    let mut reports = Vec::new();
    let mut tables = Vec::new();
    let note = format!(
        "{} queries ({} SciFact claims, {} Python documentation section titles), measured passes per mode: {}",
        queries.len(),
        queries.len() / 2,
        queries.len() - queries.len() / 2,
        args.rounds
    );
    for &n in &args.sizes {
        let report = run_size(&args, &corpus, &queries, &embedder, lance.as_ref(), n, can_drop)?;
        let table = report::markdown(&report, &note);
        println!("{table}");
        std::io::stdout().flush()?;
        tables.push(table);
        reports.push(report);
        let output = Output {
            started_unix_s,
            trove_version: version.clone(),
            cores,
            corpus: info.clone(),
            queries: &queries,
            rounds: args.rounds,
            sizes: &reports,
        };
        std::fs::write(&out_path, serde_json::to_string_pretty(&output)?)
            .with_context(|| format!("cannot write {}", out_path.display()))?;
    }
    eprintln!(
        "raw figures in {}; {version}; {:.0} min in all",
        out_path.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// The folder `bench/python-docs` prints (it downloads the package on first use).
fn fetch_python_docs(work: &Path) -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python-docs");
    let t = run_timed(&std::process::Command::new(&script), &work.join("scratch"), Duration::from_secs(900))
        .with_context(|| format!("{} failed (or pass --python-docs DIR)", script.display()))?;
    Ok(PathBuf::from(t.stdout.trim()))
}

/// Everything at one size.
fn run_size(
    args: &Args,
    corpus: &Corpus,
    queries: &[String],
    embedder: &EmbeddingServer,
    lance: Option<&lancedb::Lance>,
    n: usize,
    can_drop: bool,
) -> Result<SizeReport> {
    let dir = args.work.join(format!("n{n}"));
    let scratch = dir.join("scratch");
    let load_before = process::load_average();
    let ws = Workspace::create(&args.trove, &dir.join("trove"), &embedder.base_url())?;
    eprintln!("== {} chunks: writing the corpus ({:.1} rounds of the pieces)", n, n as f64 / corpus.pieces() as f64);
    let files = corpus.write_files(&ws.corpus_dir(), 0, n)?;

    eprintln!("   trove ingest of {files} files");
    let capture = dir.join("capture");
    embedder.start_capture(&capture)?;
    let cpu_before = cpu_seconds("self")?;
    let counts_before = embedder.counts();
    let ingest = run_timed(&ws.command(&["ingest"]), &scratch, INGEST_LIMIT);
    let embedder_cpu = cpu_seconds("self")? - cpu_before;
    let counts = embedder.counts();
    let captured = embedder.stop_capture()?;
    let ingest = ingest?;
    let chunks = ws.chunks()?;
    eprintln!(
        "   {} s, {chunks} chunks, {} texts embedded ({} of them repeat an earlier text)",
        ingest.wall_s.round(),
        captured.rows,
        captured.repeats
    );
    if chunks != n as u64 || captured.rows != n {
        eprintln!("   WARNING: {n} chunks were written but Trove holds {chunks} and embedded {} texts", captured.rows);
    }
    let disk_bytes = process::dir_bytes(&ws.data_dir())?;

    let query_vectors: Vec<Vec<f32>> = queries.iter().map(|q| hashed_vector(q)).collect();
    let (_, vectors) = capture_files(&capture);
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (exact, rows) = exact::exact_top_scores(&vectors, &query_vectors, K, cores)?;
    eprintln!(
        "   exact top {K} of {} queries over {rows} vectors in {:.1} s",
        queries.len(),
        started.elapsed().as_secs_f64()
    );
    let queries_json = dir.join("queries.json");
    let qs: Vec<serde_json::Value> =
        queries.iter().zip(&query_vectors).map(|(t, v)| serde_json::json!({"text": t, "vector": v})).collect();
    std::fs::write(&queries_json, serde_json::json!({"queries": qs}).to_string())?;

    let cli_first = cli_first_queries(&ws, queries, &scratch, can_drop)?;
    let serve_first = serve_first_searches(&ws, queries)?;
    let (serve, semantic_scores) = serve_session(args, &ws, queries)?;
    let recall_at_10 = mean_recall(&semantic_scores, &exact);
    eprintln!("   recall@10 of semantic search against exact: {recall_at_10:.4}");

    eprintln!("   adding 1,000 chunks");
    corpus.write_files(&ws.corpus_dir().join("added"), n, n + 1000)?;
    let add_1000 = run_timed(&ws.command(&["ingest"]), &scratch, INGEST_LIMIT)?;
    let after = ws.chunks()?;
    eprintln!("   {:.2} s; {after} chunks now", add_1000.wall_s);

    if !args.keep {
        // Trove's workspace is not needed any more: free its disk before LanceDB's database grows.
        std::fs::remove_dir_all(&ws.root).with_context(|| format!("cannot remove {}", ws.root.display()))?;
    }
    let lancedb = match lance {
        Some(lance) => {
            Some(run_lancedb(args, lance, &dir, &capture, &queries_json, &query_vectors, &exact, &scratch, can_drop)?)
        }
        None => None,
    };
    if !args.keep {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(SizeReport {
        n,
        chunks,
        files,
        captured: (captured.rows, captured.repeats),
        embedder_requests: (counts.0 - counts_before.0, counts.1 - counts_before.1),
        load_average: (load_before, process::load_average()),
        ingest_cpu_share: ingest.cpu_share(),
        embedder_cpu_share: embedder_cpu / ingest.wall_s.max(1e-9),
        ingest,
        disk_bytes,
        cli_first,
        serve_first,
        serve,
        recall_at_10,
        queries: queries.len(),
        add_1000,
        lancedb,
    })
}

/// Mean recall@K over the queries.
fn mean_recall(scores: &[Vec<f32>], exact: &[Vec<f32>]) -> f64 {
    let sum: f64 = scores.iter().zip(exact).map(|(s, e)| exact::recall_at(s, e, K)).sum();
    sum / scores.len().max(1) as f64
}

/// A new `trove search` process per mode, after dropping the page cache and again with the
/// files cached; each mode asks a different query.
fn cli_first_queries(
    ws: &Workspace,
    queries: &[String],
    scratch: &Path,
    can_drop: bool,
) -> Result<BTreeMap<String, CliFirst>> {
    let mut out = BTreeMap::new();
    for (i, mode) in MODES.iter().enumerate() {
        let query = &queries[i % queries.len()];
        let cmd = ws.command(&["search", "--mode", mode, "--limit", &K.to_string(), "--json", "--", query]);
        let cold_cache = if can_drop && drop_caches() { Some(run_timed(&cmd, scratch, SEARCH_LIMIT)?) } else { None };
        let warm_cache = run_timed(&cmd, scratch, SEARCH_LIMIT)?;
        let answer: serde_json::Value =
            serde_json::from_str(&warm_cache.stdout).context("`trove search --json` did not print JSON")?;
        let hits = trove::hit_scores(&answer)?.len();
        eprintln!(
            "   new process, {mode}: {} s with the page cache dropped, {:.2} s cached, peak RSS {:.0} MB, {hits} hits",
            cold_cache.as_ref().map_or("—".into(), |c| format!("{:.2}", c.wall_s)),
            warm_cache.wall_s,
            warm_cache.max_rss_mb
        );
        out.insert(mode.to_string(), CliFirst { cold_cache, warm_cache, hits });
    }
    Ok(out)
}

/// A new `trove serve` per mode: time to ready, then its first search of that mode.
fn serve_first_searches(ws: &Workspace, queries: &[String]) -> Result<BTreeMap<String, ServeFirst>> {
    let mut out = BTreeMap::new();
    for (i, mode) in MODES.iter().enumerate() {
        let (server, ready_s) = Server::start(ws)?;
        let (first_ms, _) = server.search(mode, &queries[(i + MODES.len()) % queries.len()], K)?;
        server.stop()?;
        eprintln!("   trove serve, {mode}: ready in {ready_s:.2} s, first search {first_ms:.0} ms");
        out.insert(mode.to_string(), ServeFirst { ready_s, first_ms });
    }
    Ok(out)
}

/// One server: RSS ready, per mode one unmeasured pass and `rounds` measured passes, RSS idle,
/// then the load run. Also the cosines of the semantic hits of the first measured pass.
fn serve_session(args: &Args, ws: &Workspace, queries: &[String]) -> Result<(Serve, Vec<Vec<f32>>)> {
    let (server, ready_s) = Server::start(ws)?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_ready_mb = server.rss_mb()?.0;
    let mut modes = BTreeMap::new();
    let mut semantic = Vec::new();
    for mode in MODES {
        for q in queries {
            server.search(mode, q, K)?;
        }
        let mut times = Vec::with_capacity(queries.len() * args.rounds);
        for round in 0..args.rounds {
            for q in queries {
                let (ms, scores) = server.search(mode, q, K)?;
                times.push(ms);
                if round == 0 && mode == "semantic" {
                    semantic.push(scores);
                }
            }
        }
        times.sort_by(f64::total_cmp);
        let latency =
            Latency { p50_ms: percentile(&times, 0.5), p99_ms: percentile(&times, 0.99), samples: times.len() };
        eprintln!("   warm {mode}: p50 {:.2} ms, p99 {:.2} ms", latency.p50_ms, latency.p99_ms);
        modes.insert(mode.to_string(), latency);
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle_mb = server.rss_mb()?.0;
    let rss_idle_anon_mb = server.rss_anon_mb()?;
    let load = load_run(args, &server, queries)?;
    eprintln!(
        "   RSS ready {rss_ready_mb:.0} MB, idle {rss_idle_mb:.0} MB ({rss_idle_anon_mb:.0} MB anonymous), peak under load {:.0} MB ({} requests)",
        load.rss_peak_mb, load.requests
    );
    server.stop()?;
    Ok((Serve { ready_s, rss_ready_mb, rss_idle_mb, rss_idle_anon_mb, modes, load }, semantic))
}

/// `load_clients` threads each sending searches back to back (the modes in turn) for
/// `load_seconds`, while the server's RSS is sampled.
fn load_run(args: &Args, server: &Server, queries: &[String]) -> Result<Load> {
    let stop = AtomicBool::new(false);
    let clients = args.load_clients.max(1);
    let (results, rss_max_sampled_mb) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let client = server.client();
                let stop = &stop;
                scope.spawn(move || -> Result<Vec<f64>> {
                    let mut times = Vec::new();
                    let mut i = c * queries.len() / clients;
                    while !stop.load(Ordering::Relaxed) {
                        let (ms, _) = client.search(MODES[i % MODES.len()], &queries[i % queries.len()], K)?;
                        times.push(ms);
                        i += 1;
                    }
                    Ok(times)
                })
            })
            .collect();
        let started = Instant::now();
        let mut max_rss = 0f64;
        while started.elapsed().as_secs_f64() < args.load_seconds {
            if let Ok((rss, _)) = server.rss_mb() {
                max_rss = max_rss.max(rss);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let results: Vec<Result<Vec<f64>>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a load client panicked"))))
            .collect();
        (results, max_rss)
    });
    let mut times = Vec::new();
    for r in results {
        times.extend(r?);
    }
    times.sort_by(f64::total_cmp);
    Ok(Load {
        clients,
        seconds: args.load_seconds,
        requests: times.len(),
        latency: Latency { p50_ms: percentile(&times, 0.5), p99_ms: percentile(&times, 0.99), samples: times.len() },
        rss_max_sampled_mb,
        rss_peak_mb: server.rss_mb()?.1,
    })
}

/// LanceDB on the captured chunks and vectors.
#[allow(clippy::too_many_arguments)]
fn run_lancedb(
    args: &Args,
    lance: &lancedb::Lance,
    dir: &Path,
    capture: &Path,
    queries_json: &Path,
    query_vectors: &[Vec<f32>],
    exact: &[Vec<f32>],
    scratch: &Path,
    can_drop: bool,
) -> Result<report::Lance> {
    let db = dir.join("lancedb");
    eprintln!("   LanceDB: writing the table and building its indexes");
    let build = lance.build(&db, capture, scratch)?;
    let tuning = (args.lancedb_nprobes, args.lancedb_refine);
    let mut first = BTreeMap::new();
    for (i, mode) in MODES.iter().enumerate() {
        let cold = if can_drop && drop_caches() {
            Some(lance.first(&db, queries_json, mode, i, tuning, scratch)?)
        } else {
            None
        };
        let warm = lance.first(&db, queries_json, mode, i, tuning, scratch)?;
        eprintln!(
            "   LanceDB new process, {mode}: open + query {} s with the page cache dropped, {:.2} s cached",
            cold.as_ref().map_or("—".into(), |c| format!("{:.2}", c.open_query_s)),
            warm.open_query_s
        );
        first.insert(mode.to_string(), report::LanceFirst { cold_cache: cold, warm_cache: warm });
    }
    let warm = lance.warm(&db, queries_json, args.rounds, tuning, scratch)?;
    // LanceDB's hits by row id, scored with their exact cosines (its own distances are those
    // of quantized vectors unless refined).
    let (_, vectors) = capture_files(capture);
    let recall = |mode: &str| -> Result<f64> {
        let Some(m) = warm.modes.get(mode) else { bail!("scale_lancedb.py warm reported no `{mode}`") };
        let mut scores = Vec::with_capacity(m.ids.len());
        for (ids, q) in m.ids.iter().zip(query_vectors) {
            scores.push(exact::cosines_of(&vectors, q, ids)?);
        }
        Ok(mean_recall(&scores, exact))
    };
    let (recall_default, recall_tuned) = (recall("semantic_default")?, recall("semantic")?);
    eprintln!(
        "   LanceDB recall@10: {recall_tuned:.4} (nprobes {}, refine {}), {recall_default:.4} at its defaults",
        tuning.0, tuning.1
    );
    Ok(report::Lance { build, first, warm, recall_default, recall_tuned })
}
