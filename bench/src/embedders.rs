//! Trove's built-in embedder beside the engines Python users would otherwise run: PyTorch
//! (through sentence-transformers) and ONNX Runtime (fp32), on the same inputs, in one run.
//!
//! The inputs are SciFact abstracts cut to exactly 16, 79 and 256 tokens (`[CLS]`/`[SEP]`
//! included; 32 different texts per length), embedded in batches of 1, 8 and 32. Each of these
//! nine cells is timed in interleaved rounds (Trove, PyTorch, ONNX Runtime, then again,
//! `--rounds` times, `--seconds` per engine and round), so that a noisy minute on a shared
//! machine hits every engine; the table reports medians of rounds: sentences/s per engine,
//! Trove's speed over each other engine's (the median of the per-round ratios, and their
//! range), CPU ÷ wall (how many cores an engine kept busy; a runtime's spinning threads count
//! as busy), and the wall-clock and CPU milliseconds per call. Every engine's vectors for all
//! inputs are compared with PyTorch's (cosine). The Python engines run in one child process
//! (`bench/python/embedders.py`) that times one round per request.
//!
//! `cargo run --release -p trove-bench --bin embedders [-- --threads 2 --seconds 2 --rounds 5]`.
//! The Python engines come from `scripts/bench-venv` (a pinned virtualenv under Trove's cache
//! folder, made on first use); `--trove-only` skips them. `--stages` then prints where Trove's
//! time goes in every cell: each stage's wall milliseconds per call and its thread utilisation
//! (busy ÷ (wall × threads); [`trove_embed::StageTimes`]).
//!
//! `--int16` instead compares Trove's two precisions (`embedder.precision: f32 | int16`): tokens/s
//! for the shapes that matter (1 query of 16 tokens, 16 merged queries of 20, 32 passages of
//! 256), timed in alternating rounds so that noise from other processes hits both alike; the
//! cosine between the int16 and f32 vector of every SciFact abstract and test query; and SciFact
//! nDCG@10 / Recall@100 by exact (brute-force) cosine search with documents and queries
//! embedded f32/f32, int16/int16 and f32 documents / int16 queries (a vault indexed before
//! switching). `--quality-docs N` embeds only the first N documents and every judged one (nDCG over that
//! pool compares the precisions, not with published figures).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::Deserialize;
use trove_bench::{CorpusDoc, Query, ndcg_at, read_jsonl, read_qrels, recall_at};
use trove_embed::{Embedder, LocalEmbedder, LocalOptions, Precision, Stage, StageTimes, model};

const LENGTHS: [usize; 3] = [16, 79, 256];
const BATCHES: [usize; 3] = [1, 8, 32];

/// Options.
#[derive(Debug, Parser)]
struct Args {
    /// The SciFact folder (its corpus.jsonl gives the input texts).
    #[arg(long, default_value = "../shared/data/scifact")]
    data: PathBuf,
    /// Threads every engine may use.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds per engine in each round of a (batch, length) cell (with --int16: per cell,
    /// split over its rounds).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Interleaved rounds per cell; the table reports their medians.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Time Trove only; do not install or run the Python engines.
    #[arg(long)]
    trove_only: bool,
    /// Also print where Trove's time goes in every cell (per-stage wall time and thread
    /// utilisation).
    #[arg(long)]
    stages: bool,
    /// Compare Trove's f32 and int16 precisions (speed, cosine, SciFact retrieval) instead.
    #[arg(long)]
    int16: bool,
    /// With --int16: embed only the first N SciFact documents and every judged one for the
    /// fidelity/retrieval part (0 skips it).
    #[arg(long)]
    quality_docs: Option<usize>,
    /// The Python holding torch, sentence-transformers and onnxruntime (default: the one
    /// `scripts/bench-venv` prints, installing it on first use).
    #[arg(long)]
    python: Option<PathBuf>,
}

/// One timed round of one engine on one (batch, length) cell: calls made, and the wall-clock
/// and CPU (user + system, every thread of the engine's process) seconds they took.
#[derive(Debug, Clone, Copy, Deserialize)]
struct Round {
    calls: usize,
    wall_s: f64,
    cpu_s: f64,
}

impl Round {
    fn per_call_ms(&self, secs: f64) -> f64 {
        secs * 1e3 / self.calls as f64
    }
}

/// An engine's name and version, as the table header lists them.
#[derive(Debug, Clone, Deserialize)]
struct EngineInfo {
    name: String,
    version: String,
}

/// Every engine's vectors for every input: engine name → length → vectors.
type Vectors = BTreeMap<String, BTreeMap<String, Vec<Vec<f32>>>>;

/// CPU seconds (user + system) this process has used so far, where `/proc` tells.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// `count` abstracts cut to exactly `tokens` tokens with the special tokens: the longest word
/// prefix within `tokens - 2` wordpieces, topped up with " a" when a long word did not fit.
fn inputs_of(e: &LocalEmbedder, docs: &[CorpusDoc], tokens: usize, count: usize) -> Result<Vec<String>> {
    let want = tokens - 2;
    let mut out = Vec::with_capacity(count);
    for doc in docs {
        if out.len() == count {
            break;
        }
        let words: Vec<&str> = doc.text.split_whitespace().collect();
        if e.count_tokens(&doc.text) < want {
            continue;
        }
        let (mut lo, mut hi) = (0, words.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if e.count_tokens(&words[..mid].join(" ")) <= want {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let mut text = words[..lo].join(" ");
        while e.count_tokens(&text) < want {
            text.push_str(" a");
        }
        if e.count_tokens(&text) == want {
            out.push(text);
        }
    }
    if out.len() < count {
        bail!("SciFact has only {} abstracts of {tokens} tokens or more; {count} are needed", out.len());
    }
    Ok(out)
}

/// One round of Trove on `texts`, timed as the Python engines time theirs: one untimed warm-up
/// call, then calls for at least `seconds` (and 3 calls).
fn trove_round(e: &LocalEmbedder, texts: &[&str], seconds: f64) -> Result<Round> {
    e.embed(texts)?;
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut calls = 0;
    while calls < 3 || started.elapsed().as_secs_f64() < seconds {
        e.embed(texts)?;
        calls += 1;
    }
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = match (cpu_before, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    Ok(Round { calls, wall_s, cpu_s })
}

/// `bench/python/embedders.py` running PyTorch and ONNX Runtime in a child process that times
/// one round per request, so that its rounds interleave with Trove's.
struct PythonEngines {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Lines of the child's stdout, read by a thread so that every wait has a time limit.
    answers: mpsc::Receiver<std::io::Result<String>>,
    engines: Vec<EngineInfo>,
}

/// Longest wait for the Python engines to load (torch exports the ONNX graph on the way).
const PYTHON_LOAD_LIMIT: Duration = Duration::from_secs(1200);
/// Longest wait for an answer beyond the seconds a request asks for (a warm-up call and three
/// calls of 32 × 256 tokens on a crowded machine).
const PYTHON_ANSWER_SLACK: Duration = Duration::from_secs(600);

impl PythonEngines {
    /// Starts the script on `inputs` and waits until its engines are loaded.
    fn start(python: &Path, model_dir: &Path, inputs: &[(usize, Vec<String>)], threads: usize) -> Result<Self> {
        let spec = serde_json::json!({
            "lengths": inputs.iter().map(|(t, texts)| (t.to_string(), serde_json::json!(texts))).collect::<serde_json::Map<_, _>>(),
        });
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), serde_json::to_vec(&spec)?)?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/embedders.py");
        let mut child = Command::new(python)
            .arg(&script)
            .arg(model_dir)
            .arg(file.path())
            .arg(threads.to_string())
            .env("HF_HUB_OFFLINE", "1")
            .env("TOKENIZERS_PARALLELISM", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot run {} {}", python.display(), script.display()))?;
        let stdout = child.stdout.take().context("the Python engines' stdout is not piped")?;
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut me = PythonEngines { child, stdin, answers, engines: Vec::new() };
        #[derive(Deserialize)]
        struct Ready {
            engines: Vec<EngineInfo>,
        }
        let ready: Ready = me.answer(PYTHON_LOAD_LIMIT).context("loading the Python engines")?;
        me.engines = ready.engines;
        // The inputs file is read at start-up; it may go now.
        drop(file);
        Ok(me)
    }

    /// The next answer line, parsed, waiting at most `limit`.
    fn answer<T: for<'de> Deserialize<'de>>(&mut self, limit: Duration) -> Result<T> {
        let line = match self.answers.recv_timeout(limit) {
            Ok(line) => line.context("reading the Python engines' answer")?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("the Python engines did not answer within {} s (their messages are above)", limit.as_secs())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                bail!("the Python engines exited ({status}); their messages are above")
            }
        };
        serde_json::from_str(&line).with_context(|| format!("the Python engines answered {line:?}"))
    }

    /// Sends one request and waits at most `limit` for its answer.
    fn request<T: for<'de> Deserialize<'de>>(&mut self, req: serde_json::Value, limit: Duration) -> Result<T> {
        let stdin = self.stdin.as_mut().context("the Python engines' stdin is closed")?;
        writeln!(stdin, "{req}").and_then(|()| stdin.flush()).context("writing to the Python engines")?;
        self.answer(limit)
    }

    /// One round of `engine` on the first `batch` inputs of `tokens` tokens.
    fn round(&mut self, engine: &str, batch: usize, tokens: usize, seconds: f64) -> Result<Round> {
        let req =
            serde_json::json!({"cmd": "time", "engine": engine, "batch": batch, "tokens": tokens, "seconds": seconds});
        self.request(req, Duration::from_secs_f64(seconds) + PYTHON_ANSWER_SLACK)
    }

    /// Every engine's vectors for every input.
    fn vectors(&mut self) -> Result<Vectors> {
        #[derive(Deserialize)]
        struct Answer {
            vectors: Vectors,
        }
        let answer: Answer = self.request(serde_json::json!({"cmd": "vectors"}), PYTHON_ANSWER_SLACK)?;
        Ok(answer.vectors)
    }
}

impl Drop for PythonEngines {
    /// Closes the child's stdin (it exits at end of input), waits briefly, then kills it.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python of `scripts/bench-venv`, installing the virtualenv on first use.
fn bench_python() -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench-venv");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({}): pass --python or --trove-only", script.display(), out.status);
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Lowest cosine between two engines' vectors over every input.
fn lowest_cosine(a: &BTreeMap<String, Vec<Vec<f32>>>, b: &BTreeMap<String, Vec<Vec<f32>>>) -> (f64, usize) {
    let mut worst = f64::INFINITY;
    let mut n = 0;
    for (len, va) in a {
        for (x, y) in va.iter().zip(b.get(len).into_iter().flatten()) {
            worst = worst.min(cosine(x, y));
            n += 1;
        }
    }
    (worst, n)
}

/// Lowest cosine between Trove's vectors and the pinned sentence-transformers reference
/// vectors of `crates/trove-embed/tests/fixtures` (made by an older torch, so a second witness).
fn fixture_cosine(e: &LocalEmbedder) -> Result<(f64, usize)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/trove-embed/tests/fixtures/reference_embeddings.json");
    let fixture: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let sentences = fixture["sentences"].as_array().context("fixture without sentences")?;
    let texts: Vec<&str> = sentences.iter().filter_map(|s| s["text"].as_str()).collect();
    let got = e.embed(&texts)?;
    let mut worst = f64::INFINITY;
    for (s, v) in sentences.iter().zip(&got) {
        let want: Vec<f32> = s["embedding"]
            .as_array()
            .context("no embedding")?
            .iter()
            .filter_map(|x| x.as_f64())
            .map(|x| x as f32)
            .collect();
        worst = worst.min(cosine(v, &want));
    }
    Ok((worst, got.len()))
}

/// The median of `xs` (the mean of the middle two for an even count); NaN when empty.
fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 { xs[mid] } else { (xs[mid - 1] + xs[mid]) / 2.0 }
}

/// Pause before each round, so that the previous engine's threads (OpenMP and ONNX Runtime
/// spin a while after a call) are idle when the next engine starts.
const SETTLE: Duration = Duration::from_millis(200);

fn main() -> Result<()> {
    let args = Args::parse();
    let corpus = args.data.join("corpus.jsonl");
    if !corpus.exists() {
        bail!("{} has no corpus.jsonl: pass --data DIR pointing at BEIR SciFact", args.data.display());
    }
    let docs: Vec<CorpusDoc> = read_jsonl(&corpus)?;
    let dir = model::resolve(None)?;
    if args.int16 {
        return compare_int16(&args, &dir, &docs);
    }
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let started = Instant::now();
    let e = LocalEmbedder::load(&dir, &LocalOptions { batch_size: 32, threads: args.threads, ..Default::default() })?;
    eprintln!("loaded {} in {:.0} ms", dir.display(), started.elapsed().as_secs_f64() * 1e3);
    let inputs: Vec<(usize, Vec<String>)> =
        LENGTHS.iter().map(|&t| Ok((t, inputs_of(&e, &docs, t, 32)?))).collect::<Result<_>>()?;

    let mut engines = vec![EngineInfo { name: "Trove".into(), version: format!("built-in, {} threads", e.threads()) }];
    let mut python = if args.trove_only {
        None
    } else {
        let exe = match &args.python {
            Some(p) => p.clone(),
            None => bench_python()?,
        };
        eprintln!("==> loading the Python engines");
        let p = PythonEngines::start(&exe, &dir, &inputs, args.threads)?;
        engines.extend(p.engines.iter().cloned());
        Some(p)
    };

    // rounds[cell][engine]: the cells in table order, each timed in interleaved rounds.
    let cells: Vec<(usize, usize)> = LENGTHS.iter().flat_map(|&t| BATCHES.map(|b| (b, t))).collect();
    let mut rounds: Vec<Vec<Vec<Round>>> = vec![vec![Vec::new(); engines.len()]; cells.len()];
    for (&(batch, tokens), cell_rounds) in cells.iter().zip(&mut rounds) {
        let texts = &inputs.iter().find(|(t, _)| *t == tokens).context("inputs of every length")?.1;
        let refs: Vec<&str> = texts[..batch].iter().map(String::as_str).collect();
        for round in 0..args.rounds {
            let mut line = format!("    {batch:>2} x {tokens:>3} tokens, round {}:", round + 1);
            for (engine, engine_rounds) in engines.iter().zip(cell_rounds.iter_mut()) {
                std::thread::sleep(SETTLE);
                let r = match &mut python {
                    Some(p) if engine.name != "Trove" => p.round(&engine.name, batch, tokens, args.seconds)?,
                    _ => trove_round(&e, &refs, args.seconds)?,
                };
                line.push_str(&format!(" {} {:.1}/s", engine.name, (r.calls * batch) as f64 / r.wall_s));
                engine_rounds.push(r);
            }
            eprintln!("{line}");
        }
    }

    println!(
        "\nall-MiniLM-L6-v2, {} threads, SciFact abstracts cut to exact token counts; each cell {} interleaved \
         rounds ({}) of {:.1} s per engine, medians of rounds",
        args.threads,
        args.rounds,
        engines.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
        args.seconds
    );
    for engine in &engines {
        println!("- {}: {}", engine.name, engine.version);
    }
    print_table(&engines, &cells, &rounds);

    println!();
    let mut vectors: Vectors = match &mut python {
        Some(p) => p.vectors()?,
        None => Vectors::new(),
    };
    let trove_vectors = inputs
        .iter()
        .map(|(t, texts)| Ok((t.to_string(), e.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())?)))
        .collect::<Result<_>>()?;
    vectors.insert("Trove".into(), trove_vectors);
    if let Some(torch) = vectors.get("PyTorch") {
        for (name, v) in vectors.iter().filter(|(n, _)| *n != "PyTorch") {
            let (worst, n) = lowest_cosine(v, torch);
            println!("lowest cosine, {name} vs PyTorch over {n} inputs: {worst:.7}");
        }
    }
    let (worst, n) = fixture_cosine(&e)?;
    println!("lowest cosine, Trove vs the pinned sentence-transformers reference over {n} inputs: {worst:.7}");
    drop(python);

    if args.stages {
        print_stages(&e, &inputs, &cells, args.seconds)?;
    }
    Ok(())
}

/// The comparison table: per cell, each engine's median sentences/s, Trove's speed over each
/// other engine's (the median of the per-round ratios, with their range), CPU ÷ wall, and the
/// wall and CPU milliseconds per call (medians).
fn print_table(engines: &[EngineInfo], cells: &[(usize, usize)], rounds: &[Vec<Vec<Round>>]) {
    let names: Vec<&str> = engines.iter().map(|e| e.name.as_str()).collect();
    let mut head = String::from("| batch × tokens |");
    let mut rule = String::from("|---|");
    for n in &names {
        head.push_str(&format!(" {n} sentences/s |"));
        rule.push_str("---:|");
    }
    for n in &names[1..] {
        head.push_str(&format!(" Trove ÷ {n} (range) |"));
        rule.push_str("---:|");
    }
    head.push_str(" CPU ÷ wall | ms per call | CPU ms per call |");
    rule.push_str("---:|---:|---:|");
    println!("\n{head}\n{rule}");
    for (&(batch, tokens), cell) in cells.iter().zip(rounds) {
        let rate = |r: &Round| (r.calls * batch) as f64 / r.wall_s;
        let mut row = format!("| {batch} × {tokens} |");
        for engine_rounds in cell {
            row.push_str(&format!(" {:.1} |", median(engine_rounds.iter().map(rate).collect())));
        }
        for other in &cell[1..] {
            let ratios: Vec<f64> = cell[0].iter().zip(other).map(|(t, o)| rate(t) / rate(o)).collect();
            let (lo, hi) =
                ratios.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| (lo.min(r), hi.max(r)));
            row.push_str(&format!(" {:.2}× ({lo:.2}–{hi:.2}) |", median(ratios)));
        }
        let join = |f: &dyn Fn(&Round) -> f64, decimals: usize| {
            cell.iter()
                .map(|rs| format!("{:.*}", decimals, median(rs.iter().map(f).collect())))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        row.push_str(&format!(
            " {} | {} | {} |",
            join(&|r| r.cpu_s / r.wall_s, 2),
            join(&|r| r.per_call_ms(r.wall_s), 1),
            join(&|r| r.per_call_ms(r.cpu_s), 1)
        ));
        println!("{row}");
    }
    if names.len() > 1 {
        println!("\n(CPU ÷ wall, ms and CPU ms per call: {})", names.join(" / "));
    }
}

/// `--stages`: where Trove's time goes per cell: each stage's wall milliseconds per call and
/// its thread utilisation (busy time ÷ (wall × threads)).
fn print_stages(
    e: &LocalEmbedder,
    inputs: &[(usize, Vec<String>)],
    cells: &[(usize, usize)],
    seconds: f64,
) -> Result<()> {
    let threads = e.threads() as f64;
    let mut head = String::from("| batch × tokens | ms per call | utilisation |");
    let mut rule = String::from("|---|---:|---:|");
    for stage in Stage::ALL {
        head.push_str(&format!(" {} |", stage.name()));
        rule.push_str("---:|");
    }
    println!("\nTrove's stages: wall ms per call (thread utilisation: busy ÷ (wall × {threads}))\n\n{head}\n{rule}");
    for &(batch, tokens) in cells {
        let texts = &inputs.iter().find(|(t, _)| *t == tokens).context("inputs of every length")?.1;
        let refs: Vec<&str> = texts[..batch].iter().map(String::as_str).collect();
        e.embed(&refs)?;
        let times = StageTimes::new();
        let started = Instant::now();
        let mut calls = 0u32;
        while calls < 3 || started.elapsed().as_secs_f64() < seconds {
            e.embed_timed(&refs, &times)?;
            calls += 1;
        }
        let wall = started.elapsed();
        let busy: Duration = times.all().map(|(_, t)| t.busy).sum();
        let mut row = format!(
            "| {batch} × {tokens} | {:.1} | {:.0} % |",
            wall.as_secs_f64() * 1e3 / f64::from(calls),
            busy.as_secs_f64() / (wall.as_secs_f64() * threads) * 1e2
        );
        for (_, t) in times.all() {
            let util = t.busy.as_secs_f64() / (t.wall.as_secs_f64() * threads) * 1e2;
            row.push_str(&format!(" {:.2} ({util:.0} %) |", t.wall.as_secs_f64() * 1e3 / f64::from(calls)));
        }
        println!("{row}");
    }
    Ok(())
}

/// The (batch, tokens) shapes of the precision comparison: one short query, the queries of 16
/// concurrent clients merged by the batching embedder, and a batch of ingested passages.
const PRECISION_SHAPES: [(usize, usize); 3] = [(1, 16), (16, 20), (32, 256)];

/// Rounds per (shape, precision): the precisions alternate, so slow phases hit both.
const ROUNDS: usize = 4;

/// `--int16`: speed, vector fidelity and retrieval quality of int16 against f32.
fn compare_int16(args: &Args, dir: &Path, docs: &[CorpusDoc]) -> Result<()> {
    let load = |precision| {
        LocalEmbedder::load(dir, &LocalOptions { batch_size: 32, threads: args.threads, precision })
            .with_context(|| format!("loading the model at {precision}"))
    };
    let (f32e, int16e) = (load(Precision::F32)?, load(Precision::Int16)?);
    println!(
        "all-MiniLM-L6-v2, f32 vs int16, {} threads, {ROUNDS} alternating rounds of {:.1} s per cell",
        args.threads,
        args.seconds / ROUNDS as f64
    );
    println!(
        "\n| batch × tokens | f32 tokens/s | int16 tokens/s | int16 ÷ f32 | f32 CPU ms/call | int16 CPU ms/call |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (batch, tokens) in PRECISION_SHAPES {
        let texts = inputs_of(&f32e, docs, tokens, batch)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let engines = [&f32e, &int16e];
        let mut totals = [(0usize, 0f64, 0f64); 2]; // calls, wall s, CPU s
        for e in engines {
            e.embed(&refs)?; // warm-up
        }
        for _ in 0..ROUNDS {
            for (e, total) in engines.iter().zip(totals.iter_mut()) {
                let cpu_before = cpu_seconds();
                let started = Instant::now();
                let mut calls = 0;
                while calls < 2 || started.elapsed().as_secs_f64() < args.seconds / ROUNDS as f64 {
                    e.embed(&refs)?;
                    calls += 1;
                }
                total.0 += calls;
                total.1 += started.elapsed().as_secs_f64();
                total.2 += match (cpu_before, cpu_seconds()) {
                    (Some(a), Some(b)) => b - a,
                    _ => f64::NAN,
                };
            }
        }
        let rate = |t: &(usize, f64, f64)| (t.0 * batch * tokens) as f64 / t.1;
        let cpu_ms = |t: &(usize, f64, f64)| t.2 * 1e3 / t.0 as f64;
        println!(
            "| {batch} × {tokens} | {:.0} | {:.0} | {:.2}× | {:.2} | {:.2} |",
            rate(&totals[0]),
            rate(&totals[1]),
            rate(&totals[1]) / rate(&totals[0]),
            cpu_ms(&totals[0]),
            cpu_ms(&totals[1])
        );
    }

    let (worst, n) = fixture_cosine(&int16e)?;
    println!("\nlowest cosine, int16 vs the pinned sentence-transformers reference over {n} inputs: {worst:.5}");
    let limit = args.quality_docs.unwrap_or(docs.len()).min(docs.len());
    if limit == 0 {
        return Ok(());
    }
    let total_docs = docs.len();
    let queries: Vec<Query> = read_jsonl(&args.data.join("queries.jsonl"))?;
    let qrels = read_qrels(&args.data.join("qrels/test.tsv"))?;
    let queries: Vec<&Query> = queries.iter().filter(|q| qrels.contains_key(&q.id)).collect();
    // With a limit: the first `limit` documents plus every document judged relevant to a test
    // query, so that nDCG can be computed on that smaller pool.
    let judged: std::collections::HashSet<&str> = qrels.values().flat_map(|r| r.keys().map(String::as_str)).collect();
    let docs: Vec<&CorpusDoc> =
        docs.iter().enumerate().filter(|(i, d)| *i < limit || judged.contains(d.id.as_str())).map(|(_, d)| d).collect();
    let doc_texts: Vec<String> = docs.iter().map(|d| format!("{} {}", d.title.trim(), d.text.trim())).collect();
    let query_texts: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
    let embed_all = |e: &LocalEmbedder, texts: &[&str]| -> Result<(Vec<Vec<f32>>, f64)> {
        let started = Instant::now();
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(256) {
            out.extend(e.embed(chunk)?);
        }
        Ok((out, started.elapsed().as_secs_f64()))
    };
    let doc_refs: Vec<&str> = doc_texts.iter().map(String::as_str).collect();
    eprintln!("embedding {} documents and {} queries twice...", doc_refs.len(), query_texts.len());
    let (docs_f32, secs_f32) = embed_all(&f32e, &doc_refs)?;
    let (docs_int16, secs_int16) = embed_all(&int16e, &doc_refs)?;
    let (queries_f32, _) = embed_all(&f32e, &query_texts)?;
    let (queries_int16, _) = embed_all(&int16e, &query_texts)?;
    println!(
        "\n{} SciFact documents (title + abstract, truncated at 256 tokens): f32 {secs_f32:.1} s, int16 {secs_int16:.1} s ({:.2}×)",
        doc_refs.len(),
        secs_f32 / secs_int16
    );
    for (what, a, b) in [("documents", &docs_f32, &docs_int16), ("test queries", &queries_f32, &queries_int16)] {
        let cos: Vec<f64> = a.iter().zip(b.iter()).map(|(x, y)| cosine(x, y)).collect();
        let mut sorted = cos.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "cosine int16 vs f32 over {} {what}: min {:.5}, 1st percentile {:.5}, mean {:.6}",
            cos.len(),
            sorted[0],
            sorted[sorted.len() / 100],
            cos.iter().sum::<f64>() / cos.len() as f64
        );
    }
    if docs.len() < total_docs {
        println!(
            "\nretrieval over a pool of {} of the {total_docs} documents (the first {limit} and every judged one): \
             compare the precisions with each other, not with published figures",
            docs.len()
        );
    }
    println!("\n| documents / queries | nDCG@10 | Recall@100 |\n|---|---:|---:|");
    for (name, d, q) in [
        ("f32 / f32", &docs_f32, &queries_f32),
        ("int16 / int16", &docs_int16, &queries_int16),
        ("f32 / int16", &docs_f32, &queries_int16),
    ] {
        let (mut ndcg, mut recall) = (0.0, 0.0);
        for (query, qv) in queries.iter().zip(q.iter()) {
            let mut scored: Vec<(f32, usize)> =
                d.iter().enumerate().map(|(i, dv)| (qv.iter().zip(dv).map(|(x, y)| x * y).sum(), i)).collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let ranked: Vec<String> = scored.iter().take(100).map(|&(_, i)| docs[i].id.clone()).collect();
            ndcg += ndcg_at(&ranked, &qrels[&query.id], 10);
            recall += recall_at(&ranked, &qrels[&query.id], 100);
        }
        let nq = queries.len() as f64;
        println!("| {name} | {:.4} | {:.4} |", ndcg / nq, recall / nq);
    }
    Ok(())
}
