//! Keyword search of the embedded store at 10⁵–10⁶ chunks, measured at the store's API (no
//! model, no binary, no HTTP), so that the keyword index's own costs show: ingest per chunk
//! (analysis and index writes; vectors are 4-dimensional so that they cost nearly nothing),
//! disk size, the first keyword query in a new process (the page cache dropped when run as
//! root, and with the files cached), warm p50/p99 over SciFact's 300 claims, the same with a
//! URI-prefix filter, RSS, and the cost of adding 1,000 chunks to the full vault.
//!
//! The corpus: chunk `k` is built from SciFact abstract `k mod 5,183`: in the first round the
//! abstract cut to at most 480 bytes at a sentence end (as the scale benchmark's chunks), in
//! later rounds its first sentence filled up to the same length with sentences drawn
//! pseudo-randomly (seeded by `k`) from all abstracts, so every chunk is a distinct text with
//! the vocabulary's natural frequencies. 25 chunks per document, written in groups of 512
//! chunks (the default `ingest.group_chunks`).
//!
//! Run: `cargo run --release -p trove-bench --bin keywords -- --sizes 100000,500000`.
//! The first query is measured by running this binary again as a child (`--child DIR`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use trove_bench::{CorpusDoc, Query, read_jsonl};
use trove_store::embedded::{DB_FILE, EmbeddedStore};
use trove_store::prelude::*;
use trove_store::{ChunkFilter, NewChunk, NewDocument};

/// Longest chunk text in bytes.
const MAX_PIECE: usize = 480;
/// Chunks per document.
const CHUNKS_PER_DOC: usize = 25;
/// Chunks per transaction (the default `ingest.group_chunks`).
const GROUP_CHUNKS: usize = 512;
/// Results per query.
const K: usize = 10;

#[derive(Debug, Parser)]
struct Args {
    /// Chunk counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,500000")]
    sizes: Vec<usize>,
    /// Scratch folder (one store per size, removed once measured unless --keep).
    #[arg(long, default_value = "target/bench-keywords")]
    work: PathBuf,
    /// The SciFact folder (corpus.jsonl, queries.jsonl).
    #[arg(long, default_value = "../shared/data/scifact")]
    scifact: PathBuf,
    /// Measured passes over the queries (after one unmeasured pass).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Keep each size's store.
    #[arg(long)]
    keep: bool,
    /// Internal: measure the first and warm queries of the store in DIR in this process.
    #[arg(long, hide = true)]
    child: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let queries: Vec<String> =
        read_jsonl::<Query>(&args.scifact.join("queries.jsonl"))?.into_iter().map(|q| q.text).collect();
    if let Some(dir) = &args.child {
        return child(dir, &queries, args.rounds);
    }
    let docs: Vec<CorpusDoc> = read_jsonl(&args.scifact.join("corpus.jsonl"))?;
    let corpus = Corpus::new(&docs);
    println!(
        "| chunks | ingest µs/chunk (CPU) | disk MB | first query, cold cache: open + query ms, RSS MB | first query, warm cache | warm p50 / p99 ms | filtered p50 / p99 ms | RSS after queries MB | add 1,000 chunks ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &args.sizes {
        let dir = args.work.join(n.to_string());
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        let (ingest_wall, ingest_cpu) = ingest(&dir, &corpus, 0, n)?;
        let disk = folder_bytes(&dir)? as f64 / 1e6;
        let cold = if drop_caches() { Some(run_child(&dir, args.rounds, &args.scifact)?) } else { None };
        let warm = run_child(&dir, args.rounds, &args.scifact)?;
        let (add_wall, _) = ingest(&dir, &corpus, n, 1000)?;
        let cold_text = cold.map_or("n/a (not root)".to_string(), |c| c.first());
        println!(
            "| {n} | {:.0} ({:.0}) | {disk:.0} | {cold_text} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} | {:.0} |",
            ingest_wall.as_secs_f64() * 1e6 / n as f64,
            ingest_cpu.as_secs_f64() * 1e6 / n as f64,
            warm.first(),
            warm.p50,
            warm.p99,
            warm.filtered_p50,
            warm.filtered_p99,
            warm.rss_after,
            add_wall.as_secs_f64() * 1e3,
        );
        if !args.keep {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    Ok(())
}

/// What a child process measured.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ChildReport {
    open_ms: f64,
    first_ms: f64,
    rss_first: f64,
    p50: f64,
    p99: f64,
    filtered_p50: f64,
    filtered_p99: f64,
    rss_after: f64,
}

impl ChildReport {
    fn first(&self) -> String {
        format!("{:.0} + {:.0}, {:.0}", self.open_ms, self.first_ms, self.rss_first)
    }
}

fn run_child(dir: &Path, rounds: usize, scifact: &Path) -> Result<ChildReport> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .arg("--child")
        .arg(dir)
        .arg("--rounds")
        .arg(rounds.to_string())
        .arg("--scifact")
        .arg(scifact)
        .output()
        .context("cannot run the query child")?;
    if !out.status.success() {
        bail!("the query child failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The child: open a reader, one query, then the warm passes; prints a [`ChildReport`].
fn child(dir: &Path, queries: &[String], rounds: usize) -> Result<()> {
    let started = Instant::now();
    let store = EmbeddedStore::open_reader(dir)?;
    let vault = store.vault("v")?.context("vault v")?.id;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let all = ChunkFilter::default();
    let started = Instant::now();
    store.keyword_search(vault, &queries[0], K, &all)?;
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    let rss_first = rss_mb("VmHWM")?;
    let filtered = ChunkFilter { uri_prefix: Some("d1".into()), ..ChunkFilter::default() };
    let mut times = Vec::new();
    let mut filtered_times = Vec::new();
    for round in 0..=rounds {
        for q in queries {
            let started = Instant::now();
            store.keyword_search(vault, q, K, &all)?;
            let plain = started.elapsed();
            let started = Instant::now();
            store.keyword_search(vault, q, K, &filtered)?;
            if round > 0 {
                times.push(plain);
                filtered_times.push(started.elapsed());
            }
        }
    }
    let (p50, p99) = percentiles(&mut times);
    let (filtered_p50, filtered_p99) = percentiles(&mut filtered_times);
    let report =
        ChildReport { open_ms, first_ms, rss_first, p50, p99, filtered_p50, filtered_p99, rss_after: rss_mb("VmRSS")? };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn percentiles(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

/// Writes chunks `from..from + n` as documents of [`CHUNKS_PER_DOC`] chunks, [`GROUP_CHUNKS`]
/// per transaction; the wall and CPU time of the writes (generation excluded).
fn ingest(dir: &Path, corpus: &Corpus, from: usize, n: usize) -> Result<(Duration, Duration)> {
    let store = EmbeddedStore::open_writer(dir, "bench")?;
    let vault = store.ensure_vault("v")?;
    store.set_vault_embedder(vault.id, "m", 4)?;
    let (mut wall, mut cpu) = (Duration::ZERO, Duration::ZERO);
    let mut group: Vec<NewDocument> = Vec::new();
    let mut k = from;
    while k < from + n {
        let end = (k + CHUNKS_PER_DOC).min(from + n);
        let chunks: Vec<NewChunk> = (k..end)
            .map(|i| {
                let (heading, text) = corpus.chunk(i);
                let a = i as f32 * 0.001;
                NewChunk {
                    text,
                    heading_path: vec![heading],
                    token_count: 100,
                    vector: vec![a.cos(), a.sin(), 0.0, 0.0],
                }
            })
            .collect();
        let doc = k / CHUNKS_PER_DOC;
        group.push(NewDocument {
            source: "s".into(),
            uri: format!("d{doc}.md"),
            title: format!("Document {doc}"),
            content_hash: format!("sha256:{doc}"),
            metadata: serde_json::json!({}),
            modified_unix_ms: None,
            chunks,
        });
        k = end;
        if group.len() * CHUNKS_PER_DOC >= GROUP_CHUNKS || k == from + n {
            let (w, c) = (Instant::now(), cpu_time());
            store.put_documents(vault.id, &group)?;
            wall += w.elapsed();
            cpu += cpu_time().saturating_sub(c);
            group.clear();
        }
    }
    Ok((wall, cpu))
}

/// SciFact's abstracts as sentences.
struct Corpus {
    /// Per abstract: its title and sentences.
    abstracts: Vec<(String, Vec<String>)>,
    /// Every sentence.
    sentences: Vec<String>,
}

impl Corpus {
    fn new(docs: &[CorpusDoc]) -> Corpus {
        let mut abstracts = Vec::new();
        let mut sentences = Vec::new();
        for d in docs {
            let s: Vec<String> =
                d.text.split_inclusive(". ").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            if s.is_empty() {
                continue;
            }
            sentences.extend(s.iter().cloned());
            abstracts.push((d.title.clone(), s));
        }
        Corpus { abstracts, sentences }
    }

    /// Chunk `k`: its heading and text.
    fn chunk(&self, k: usize) -> (String, String) {
        let (title, own) = &self.abstracts[k % self.abstracts.len()];
        let round = k / self.abstracts.len();
        let mut text = own[0].clone();
        let mut seed = (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = 1;
        while text.len() < MAX_PIECE {
            let s = if round == 0 {
                let Some(s) = own.get(next) else { break };
                next += 1;
                s
            } else {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                &self.sentences[(seed % self.sentences.len() as u64) as usize]
            };
            if text.len() + s.len() + 1 > MAX_PIECE {
                break;
            }
            text.push(' ');
            text.push_str(s);
        }
        (title.clone(), text)
    }
}

/// Drops the page cache (root only); whether it did.
fn drop_caches() -> bool {
    let synced = Command::new("sync").status().is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

fn folder_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(DB_FILE) {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// A field of /proc/self/status, in MB.
fn rss_mb(field: &str) -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field}"))?;
    let kb: f64 = line.split_whitespace().nth(1).context("field value")?.parse()?;
    Ok(kb / 1024.0)
}

/// This process's user + system CPU time.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the state.
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / 100.0)
}
