//! Approximate vector search benchmark (`trove-ann`): builds an index of N vectors, then in a
//! fresh child process (so that nothing of the build is resident) opens it and measures what
//! a new `trove search` or a serving process would see. Per data set and N it prints:
//! - build time (all cores), file size;
//! - open time, first query and resident memory after open, with the index's pages in the
//!   page cache (warm) and evicted from it (cold, `posix_fadvise(DONTNEED)` on the index and
//!   vector files only);
//! - p50 / p99 latency and recall@10 against exact search for a few search widths (`ef`) and
//!   numbers of exactly re-scored candidates (`rescore`), and
//!   resident memory after all those queries; and the queries' mean time on a CPU (the
//!   thread's `schedstat`), which is their cost without the waits of a busy machine;
//! - filtered search (a filter passing 10 % and 1 % of ids) by traversal and by `search_in`;
//! - adding 1,000 vectors to the full index: the adds, a search with them in the delta, and
//!   folding them into a new base file.
//!
//! Recall@10 counts a hit as right when it is among the exact top 10 or scores as high as the
//! 10th (ann-benchmarks' definition: ties are not misses). Exact re-scoring reads the candidates' f32 vectors from a file with `pread`, as the store
//! will read them from SQLite. Data sets (`--data`):
//! - `random`: Gaussian unit vectors (queries alike);
//! - `bow`: hashed bag-of-words vectors (feature hashing of words, `1 + ln tf`, signed buckets)
//!   of passages made from BEIR SciFact abstracts in `../shared/data/scifact` (each a window
//!   of one abstract joined to a window of another, so that 10⁶ of them are distinct); queries
//!   are SciFact's questions, then passages not in the index. Like the vectors of the issue's
//!   measurements, these are much harder for graph search than model embeddings;
//! - `model`: the same passages and questions embedded by the built-in model (`--model-n`
//!   passages; embeddings cached under `--cache`).
//!
//! Run: `cargo run --release -p trove-bench --bin ann -- --n 100000,1000000 [--data random,bow,model]`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::{Deserialize, Serialize};
use trove_ann::{AnnIndex, BuildParams, SearchOptions, VectorSource, exact, splitmix};
use trove_bench::procfs::{status_mb, thread_cpu_ns};

#[derive(Parser, Debug)]
struct Args {
    /// Index sizes.
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    n: Vec<usize>,
    /// Data sets: random, bow, model.
    #[arg(long, value_delimiter = ',', default_value = "random,bow")]
    data: Vec<String>,
    /// Search widths measured.
    #[arg(long, value_delimiter = ',', default_value = "40,64,128,256,512")]
    ef: Vec<usize>,
    /// Candidates re-scored exactly: every value is measured with every `ef`; the first is
    /// the one of the filtered searches and the adds.
    #[arg(long, value_delimiter = ',', default_value = "40")]
    rescore: Vec<usize>,
    /// Queries timed per width.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Queries whose exact answers are computed, for recall.
    #[arg(long, default_value_t = 200)]
    truth: usize,
    /// Links per node (level 0 has twice as many).
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// Construction search width.
    #[arg(long, default_value_t = 128)]
    ef_construction: usize,
    /// Build threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Passages embedded by the built-in model for `--data model` (their own N).
    #[arg(long, default_value_t = 20_000)]
    model_n: usize,
    /// Where model embeddings are cached between runs.
    #[arg(long, default_value = "target/ann-cache")]
    cache: PathBuf,
    /// Work folder for the index and vector files (a temporary one by default).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Internal: measure the index in this folder (the child process).
    #[arg(long, hide = true)]
    serve: Option<PathBuf>,
    /// Internal, with --serve: evict the files from the page cache first and stop after the
    /// first query.
    #[arg(long, hide = true)]
    cold: bool,
}

const K: usize = 10;
const DIM_BOW: usize = 384;
/// Filter pass rates measured, in per mille.
const FILTERS: [u64; 2] = [100, 10];
const ADDS: usize = 1000;

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.serve {
        let report = serve(dir, &args)?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let scratch = tempfile::tempdir_in(args.dir.clone().unwrap_or_else(std::env::temp_dir))?;
    let dir = scratch.path();
    println!(
        "# trove-ann benchmark: k = {K}, m = {}, ef_construction = {}, rescore = {}",
        args.m,
        args.ef_construction,
        join(&args.rescore)
    );
    println!("machine: {} cores, load average {}", std::thread::available_parallelism()?.get(), load_average());
    for data in &args.data {
        let sizes = if data == "model" { vec![args.model_n] } else { args.n.clone() };
        for &n in &sizes {
            run(data, n, &args, dir).with_context(|| format!("{data} at N = {n}"))?;
        }
    }
    Ok(())
}

/// The vectors of one run: `n` indexed, `queries`, and `ADDS` more to add later.
struct Data {
    dim: usize,
    vectors: Vec<f32>,
    queries: Vec<f32>,
    extra: Vec<f32>,
}

fn run(data: &str, n: usize, args: &Args, dir: &Path) -> Result<()> {
    let started = Instant::now();
    let d = match data {
        "random" => random_data(n, args.queries),
        "bow" => bow_data(n, args.queries)?,
        "model" => model_data(n, args.queries, &args.cache)?,
        other => bail!("unknown data set {other:?}: use random, bow or model"),
    };
    let dim = d.dim;
    eprintln!("[{data} {n}] data ready in {:.1} s", started.elapsed().as_secs_f64());

    let t = Instant::now();
    let truth = truths(&d, args.truth.min(args.queries));
    eprintln!("[{data} {n}] exact answers in {:.1} s", t.elapsed().as_secs_f64());

    let index_path = dir.join("index.ann");
    let params = BuildParams {
        m: args.m,
        ef_construction: args.ef_construction,
        threads: args.threads,
        ..BuildParams::default()
    };
    let t = Instant::now();
    let items = d.vectors.chunks_exact(dim).enumerate().map(|(i, v)| (i as i64, i as i64 / 10, v));
    AnnIndex::build(&index_path, dim, params, 1, items)?;
    let build_s = t.elapsed().as_secs_f64();
    let file_mb = std::fs::metadata(&index_path)?.len() as f64 / 1e6;
    eprintln!("[{data} {n}] built in {build_s:.1} s, {file_mb:.0} MB");

    write_f32(&dir.join("vectors.f32"), &d.vectors)?;
    write_f32(&dir.join("queries.f32"), &d.queries)?;
    write_f32(&dir.join("extra.f32"), &d.extra)?;
    std::fs::write(dir.join("truth.json"), serde_json::to_vec(&truth)?)?;
    drop(d);

    let cold = child(dir, args, true)?;
    let warm = child(dir, args, false)?;
    print_report(data, n, dim, build_s, file_mb, &cold, &warm);
    Ok(())
}

fn child(dir: &Path, args: &Args, cold: bool) -> Result<Report> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--serve").arg(dir).arg("--rescore").arg(join(&args.rescore));
    cmd.arg("--ef").arg(join(&args.ef));
    if cold {
        cmd.arg("--cold");
    }
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("the measuring process failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Exact answers: unfiltered for the first `t` queries, and per filter for the first `t / 2`.
#[derive(Serialize, Deserialize)]
struct Truth {
    all: Vec<Answer>,
    filtered: Vec<(u64, Vec<Answer>)>,
}

/// The exact top k of one query.
#[derive(Serialize, Deserialize)]
struct Answer {
    ids: Vec<i64>,
    /// The k-th best exact score.
    kth: f32,
}

impl Answer {
    /// How many of `hits` are right, as ann-benchmarks counts: a hit is right when it is one
    /// of the exact top k or scores as high as the k-th of them (ties are not misses; hashed
    /// bag-of-words vectors of short questions tie often).
    fn found(&self, hits: &[trove_ann::Hit]) -> usize {
        hits.iter().filter(|h| self.ids.contains(&h.id) || h.score >= self.kth - 1e-6).count()
    }
}

fn truths(d: &Data, t: usize) -> Truth {
    let dim = d.dim;
    let exact_for = |permille: Option<u64>, count: usize| -> Vec<Answer> {
        parallel_map(count, |q| {
            let query = &d.queries[q * dim..(q + 1) * dim];
            let rows = d.vectors.chunks_exact(dim).enumerate().map(|(i, v)| (i as i64, v));
            let hits = match permille {
                None => exact::top_k(query, rows, K),
                Some(p) => exact::top_k(query, rows.filter(|(id, _)| passes(*id, p)), K),
            };
            Answer {
                kth: hits.last().map_or(f32::NEG_INFINITY, |h| h.score),
                ids: hits.into_iter().map(|h| h.id).collect(),
            }
        })
    };
    Truth { all: exact_for(None, t), filtered: FILTERS.iter().map(|&p| (p, exact_for(Some(p), t / 2))).collect() }
}

/// The benchmark's filter: a fixed pseudo-random `permille` / 1000 of ids pass.
fn passes(id: i64, permille: u64) -> bool {
    splitmix(id as u64 ^ 0xF1_17E2) % 1000 < permille
}

fn parallel_map<T: Send>(count: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
    let mut out: Vec<Option<T>> = (0..count).map(|_| None).collect();
    std::thread::scope(|s| {
        for (t, chunk) in out.chunks_mut(count.div_ceil(threads).max(1)).enumerate() {
            let f = &f;
            let base = t * count.div_ceil(threads).max(1);
            s.spawn(move || {
                for (i, slot) in chunk.iter_mut().enumerate() {
                    *slot = Some(f(base + i));
                }
            });
        }
    });
    out.into_iter().flatten().collect()
}

/// What the child process measured.
#[derive(Serialize, Deserialize, Default)]
struct Report {
    open_ms: f64,
    first_query_ms: f64,
    rss_open_mb: f64,
    rss_first_mb: f64,
    widths: Vec<Width>,
    rss_after_mb: f64,
    rss_after_file_mb: f64,
    filtered: Vec<Filtered>,
    adds: Option<Adds>,
}

#[derive(Serialize, Deserialize)]
struct Width {
    ef: usize,
    rescore: usize,
    p50_ms: f64,
    p99_ms: f64,
    /// The same queries' mean time on a CPU: their cost without the waits of a busy machine.
    mean_cpu_ms: f64,
    recall: f64,
}

#[derive(Serialize, Deserialize)]
struct Filtered {
    permille: u64,
    ef: usize,
    traversal_p50_ms: f64,
    traversal_mean_cpu_ms: f64,
    traversal_recall: f64,
    search_in_p50_ms: f64,
    search_in_mean_cpu_ms: f64,
    search_in_recall: f64,
}

#[derive(Serialize, Deserialize)]
struct Adds {
    add_ms: f64,
    p50_with_delta_ms: f64,
    recall_with_delta: f64,
    fold_s: f64,
    p50_after_fold_ms: f64,
}

/// Vectors read from a file by row, as the store reads them from SQLite.
struct FileVectors {
    file: File,
    dim: usize,
    rows: usize,
}

impl VectorSource for FileVectors {
    type Error = anyhow::Error;
    fn vectors(&self, ids: &[i64], found: &mut dyn FnMut(i64, &[f32])) -> Result<()> {
        let mut bytes = vec![0u8; self.dim * 4];
        let mut v = vec![0f32; self.dim];
        for &id in ids {
            if id < 0 || id as usize >= self.rows {
                continue;
            }
            self.file.read_exact_at(&mut bytes, (id as usize * self.dim * 4) as u64)?;
            for (x, b) in v.iter_mut().zip(bytes.chunks_exact(4)) {
                *x = f32::from_ne_bytes(b.try_into()?);
            }
            found(id, &v);
        }
        Ok(())
    }
}

/// The child: opens the index in a fresh process and measures it.
fn serve(dir: &Path, args: &Args) -> Result<Report> {
    let index_path = dir.join("index.ann");
    let vectors_path = dir.join("vectors.f32");
    if args.cold {
        for p in [&index_path, &vectors_path] {
            rustix::fs::fadvise(File::open(p)?, 0, None, rustix::fs::Advice::DontNeed)?;
        }
    }
    let t = Instant::now();
    let mut index = AnnIndex::open(&index_path, BuildParams::default())?;
    let open_ms = ms(t);
    let rss_open_mb = rss()?.0;
    let dim = index.dim();
    let file = File::open(&vectors_path)?;
    let rows = (file.metadata()?.len() as usize) / (dim * 4);
    let source = FileVectors { file, dim, rows };
    let queries = read_f32(&dir.join("queries.f32"))?;
    let queries: Vec<&[f32]> = queries.chunks_exact(dim).collect();
    let first_rescore = args.rescore.first().copied().unwrap_or(40);
    let opts = |ef: usize| SearchOptions { ef, rescore: first_rescore };

    let t = Instant::now();
    index.search(queries[0], K, &opts(64), |_, _| true, &source)?;
    let first_query_ms = ms(t);
    let mut report = Report { open_ms, first_query_ms, rss_open_mb, rss_first_mb: rss()?.0, ..Report::default() };
    if args.cold {
        return Ok(report);
    }

    let truth: Truth = serde_json::from_slice(&std::fs::read(dir.join("truth.json"))?)?;
    for (&ef, &rescore) in args.ef.iter().flat_map(|ef| args.rescore.iter().map(move |r| (ef, r))) {
        let mut lat = Vec::with_capacity(queries.len());
        let mut found = 0usize;
        let cpu = thread_cpu_ns()?;
        for (qi, q) in queries.iter().enumerate() {
            let t = Instant::now();
            let hits = index.search(q, K, &SearchOptions { ef, rescore }, |_, _| true, &source)?;
            lat.push(ms(t));
            if let Some(want) = truth.all.get(qi) {
                found += want.found(&hits);
            }
        }
        report.widths.push(Width {
            ef,
            rescore,
            p50_ms: pct(&mut lat, 0.5),
            p99_ms: pct(&mut lat, 0.99),
            mean_cpu_ms: cpu_ms(cpu)? / queries.len() as f64,
            recall: found as f64 / (truth.all.len() * K) as f64,
        });
    }
    let (after, after_file) = rss()?;
    (report.rss_after_mb, report.rss_after_file_mb) = (after, after_file);

    // Filtered searches at a middle width: the traversal widens itself until it has found
    // `ef` passing candidates.
    let filter_ef = args.ef.get(args.ef.len() / 2).copied().unwrap_or(64);
    for (permille, want) in &truth.filtered {
        let allowed: Vec<i64> = (0..rows as i64).filter(|&id| passes(id, *permille)).collect();
        let (mut lt, mut li, mut ft, mut fi) = (Vec::new(), Vec::new(), 0usize, 0usize);
        let cpu = thread_cpu_ns()?;
        for (qi, w) in want.iter().enumerate() {
            let t = Instant::now();
            let hits = index.search(queries[qi], K, &opts(filter_ef), |id, _| passes(id, *permille), &source)?;
            lt.push(ms(t));
            ft += w.found(&hits);
        }
        let traversal_cpu = cpu_ms(cpu)?;
        let cpu = thread_cpu_ns()?;
        for (qi, w) in want.iter().enumerate() {
            let t = Instant::now();
            let hits = index.search_in(queries[qi], &allowed, K, &opts(filter_ef), &source)?;
            li.push(ms(t));
            fi += w.found(&hits);
        }
        let search_in_cpu = cpu_ms(cpu)?;
        let total = (want.len() * K).max(1) as f64;
        report.filtered.push(Filtered {
            permille: *permille,
            ef: filter_ef,
            traversal_p50_ms: pct(&mut lt, 0.5),
            traversal_mean_cpu_ms: traversal_cpu / want.len().max(1) as f64,
            traversal_recall: ft as f64 / total,
            search_in_p50_ms: pct(&mut li, 0.5),
            search_in_mean_cpu_ms: search_in_cpu / want.len().max(1) as f64,
            search_in_recall: fi as f64 / total,
        });
    }

    // Adding vectors to the full index: a mid-width search afterwards, then a fold.
    let extra = read_f32(&dir.join("extra.f32"))?;
    let t = Instant::now();
    for (i, v) in extra.chunks_exact(dim).enumerate() {
        index.add((rows + i) as i64, (rows + i) as i64 / 10, v)?;
    }
    let add_ms = ms(t);
    let mid = opts(*args.ef.get(args.ef.len() / 2).unwrap_or(&64));
    let mut lat = Vec::new();
    let mut found = 0usize;
    for (qi, q) in queries.iter().enumerate().take(200) {
        let t = Instant::now();
        let hits = index.search(q, K, &mid, |_, _| true, &source)?;
        lat.push(ms(t));
        // The added vectors are not in the exact answers: a hit among them counts as right
        // (the delta is scanned exactly), so this is the recall of the base part.
        if let Some(want) = truth.all.get(qi) {
            found +=
                want.found(&hits) + hits.iter().filter(|h| h.id as usize >= rows && h.score < want.kth - 1e-6).count();
        }
    }
    let p50_with_delta_ms = pct(&mut lat, 0.5);
    let t = Instant::now();
    let folded = index.fold().write(&dir.join("folded.ann"))?;
    index.install(folded)?;
    let fold_s = t.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = queries
        .iter()
        .take(200)
        .map(|q| {
            let t = Instant::now();
            index.search(q, K, &mid, |_, _| true, &source).map(|_| ms(t))
        })
        .collect::<Result<_>>()?;
    report.adds = Some(Adds {
        add_ms,
        p50_with_delta_ms,
        recall_with_delta: found as f64 / (truth.all.len().min(200) * K).max(1) as f64,
        fold_s,
        p50_after_fold_ms: pct(&mut lat, 0.5),
    });
    Ok(report)
}

fn print_report(data: &str, n: usize, dim: usize, build_s: f64, file_mb: f64, cold: &Report, warm: &Report) {
    println!();
    println!("## {data}, N = {n}, dim = {dim}");
    println!();
    println!(
        "| build | file | open (warm / cold) | first query (warm / cold) | RSS after open / first query (warm) | RSS after every query at every width (of it mapped file) |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {build_s:.1} s | {file_mb:.0} MB | {:.2} / {:.2} ms | {:.1} / {:.1} ms | {:.0} / {:.0} MB | {:.0} MB ({:.0} MB) |",
        warm.open_ms,
        cold.open_ms,
        warm.first_query_ms,
        cold.first_query_ms,
        warm.rss_open_mb,
        warm.rss_first_mb,
        warm.rss_after_mb,
        warm.rss_after_file_mb
    );
    println!();
    println!("| ef | rescore | p50 / p99 | mean on a CPU | recall@10 |");
    println!("|---|---|---|---|---|");
    for w in &warm.widths {
        println!(
            "| {} | {} | {:.2} / {:.2} ms | {:.2} ms | {:.3} |",
            w.ef, w.rescore, w.p50_ms, w.p99_ms, w.mean_cpu_ms, w.recall
        );
    }
    println!();
    println!(
        "| filter passes | ef | traversal p50 (mean on a CPU) | recall@10 | search_in p50 (mean on a CPU) | recall@10 |"
    );
    println!("|---|---|---|---|---|---|");
    for f in &warm.filtered {
        println!(
            "| {:.0} % | {} | {:.2} ms ({:.2} ms) | {:.3} | {:.2} ms ({:.2} ms) | {:.3} |",
            f.permille as f64 / 10.0,
            f.ef,
            f.traversal_p50_ms,
            f.traversal_mean_cpu_ms,
            f.traversal_recall,
            f.search_in_p50_ms,
            f.search_in_mean_cpu_ms,
            f.search_in_recall
        );
    }
    if let Some(a) = &warm.adds {
        println!();
        println!(
            "adding {ADDS} vectors: {:.1} ms; search p50 with them in the delta {:.2} ms (recall@10 {:.3}); fold into a new base {:.1} s; search p50 after {:.2} ms",
            a.add_ms, a.p50_with_delta_ms, a.recall_with_delta, a.fold_s, a.p50_after_fold_ms
        );
    }
    let _ = std::io::stdout().flush();
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// This thread's CPU time since `start` (from [`thread_cpu_ns`]), in ms.
fn cpu_ms(start: u64) -> Result<f64> {
    Ok(thread_cpu_ns()?.saturating_sub(start) as f64 / 1e6)
}

fn pct(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

/// Resident memory of this process and the part of it that is mapped files, in MB.
fn rss() -> Result<(f64, f64)> {
    let pid = std::process::id();
    Ok((status_mb(pid, "VmRSS")?, status_mb(pid, "RssFile")?))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn write_f32(path: &Path, xs: &[f32]) -> Result<()> {
    let mut out = std::io::BufWriter::new(File::create(path)?);
    for x in xs {
        out.write_all(&x.to_ne_bytes())?;
    }
    out.flush()?;
    Ok(())
}

fn read_f32(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// Uniform in (0, 1) from a counter.
fn uniform(state: &mut u64) -> f32 {
    *state = splitmix(*state);
    ((*state >> 40) as f32 + 0.5) / (1u64 << 24) as f32
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

fn random_data(n: usize, queries: usize) -> Data {
    let dim = 384;
    let gen_rows = |count: usize, seed: u64| -> Vec<f32> {
        let rows: Vec<Vec<f32>> = parallel_map(count, |i| {
            let mut s = splitmix(seed ^ i as u64);
            let mut v: Vec<f32> = (0..dim)
                .map(|_| {
                    let (u1, u2) = (uniform(&mut s), uniform(&mut s));
                    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
                })
                .collect();
            normalise(&mut v);
            v
        });
        rows.concat()
    };
    Data { dim, vectors: gen_rows(n, 1), queries: gen_rows(queries, 2), extra: gen_rows(ADDS, 3) }
}

/// SciFact abstracts and questions as lowercase word lists.
struct Corpus {
    docs: Vec<Vec<String>>,
    questions: Vec<Vec<String>>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn corpus() -> Result<Corpus> {
    let root = Path::new("../shared/data/scifact");
    let root = if root.exists() { root.to_path_buf() } else { PathBuf::from("/work/shared/data/scifact") };
    let docs: Vec<trove_bench::CorpusDoc> = trove_bench::read_jsonl(&root.join("corpus.jsonl"))?;
    let questions: Vec<trove_bench::Query> = trove_bench::read_jsonl(&root.join("queries.jsonl"))?;
    Ok(Corpus {
        docs: docs.iter().map(|d| words(&format!("{} {}", d.title, d.text))).filter(|w| w.len() >= 8).collect(),
        questions: questions.iter().map(|q| words(&q.text)).collect(),
    })
}

/// Passage `i` (seeded by `seed`): a window of one abstract joined to a window of another.
fn passage(c: &Corpus, seed: u64, i: usize) -> Vec<&str> {
    let mut s = splitmix(seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut window = |min: usize, max: usize| -> Vec<&str> {
        s = splitmix(s);
        let doc = &c.docs[(s % c.docs.len() as u64) as usize];
        s = splitmix(s);
        let len = (min + (s % (max - min) as u64) as usize).min(doc.len());
        s = splitmix(s);
        let start = (s % (doc.len() - len + 1) as u64) as usize;
        doc[start..start + len].iter().map(String::as_str).collect()
    };
    let mut words = window(30, 120);
    words.extend(window(10, 60));
    words
}

/// The hashed bag-of-words vector of some words.
fn hash_vector(words: &[&str]) -> Vec<f32> {
    let mut tf: HashMap<&str, f32> = HashMap::new();
    for w in words {
        *tf.entry(w).or_default() += 1.0;
    }
    let mut v = vec![0f32; DIM_BOW];
    for (w, count) in tf {
        let h = w.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h % DIM_BOW as u64) as usize] += sign * (1.0 + count.ln());
    }
    normalise(&mut v);
    v
}

/// Queries: the SciFact questions, then passages of another seed (not in the index).
fn query_texts(c: &Corpus, queries: usize) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> =
        c.questions.iter().take(queries).map(|q| q.iter().map(String::as_str).collect()).collect();
    let more = queries - out.len();
    out.extend((0..more).map(|i| passage(c, 99, i)));
    out
}

fn bow_data(n: usize, queries: usize) -> Result<Data> {
    let c = corpus()?;
    let rows = |count: usize, seed: u64| parallel_map(count, |i| hash_vector(&passage(&c, seed, i))).concat();
    let qs: Vec<f32> = query_texts(&c, queries).iter().flat_map(|w| hash_vector(w)).collect();
    Ok(Data { dim: DIM_BOW, vectors: rows(n, 1), queries: qs, extra: rows(ADDS, 3) })
}

fn model_data(n: usize, queries: usize, cache: &Path) -> Result<Data> {
    let c = corpus()?;
    std::fs::create_dir_all(cache)?;
    let dir = trove_embed::model::resolve(None)?;
    let embedder = trove_embed::LocalEmbedder::load(&dir, &trove_embed::LocalOptions::default())?;
    let dim = trove_embed::Embedder::dimension(&embedder);
    let embed = |name: String, texts: Vec<String>| -> Result<Vec<f32>> {
        let path = cache.join(format!("{name}-{}.f32", texts.len()));
        if let Ok(v) = read_f32(&path)
            && v.len() == texts.len() * dim
        {
            return Ok(v);
        }
        let t = Instant::now();
        let mut out = Vec::with_capacity(texts.len() * dim);
        for batch in texts.chunks(256) {
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            for v in trove_embed::Embedder::embed(&embedder, &refs)? {
                out.extend(v);
            }
            eprint!(
                "\r[model] {name}: {}/{} embedded ({:.0}/s)",
                out.len() / dim,
                texts.len(),
                (out.len() / dim) as f64 / t.elapsed().as_secs_f64()
            );
        }
        eprintln!();
        write_f32(&path, &out)?;
        Ok(out)
    };
    let join = |w: Vec<&str>| w.join(" ");
    let vectors = embed("passages".into(), (0..n).map(|i| join(passage(&c, 1, i))).collect())?;
    let qs = embed("queries".into(), query_texts(&c, queries).into_iter().map(join).collect())?;
    let extra = embed("extra".into(), (0..ADDS).map(|i| join(passage(&c, 3, i))).collect())?;
    Ok(Data { dim, vectors, queries: qs, extra })
}

/// Comma-separated values, as the options take them.
fn join(values: &[usize]) -> String {
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}
