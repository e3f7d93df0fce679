//! Trove's built-in embedder beside the engines Python users would otherwise run: PyTorch
//! (through sentence-transformers) and ONNX Runtime (fp32), on the same inputs, in one run.
//!
//! The inputs are SciFact abstracts cut to exactly 16, 79 and 256 tokens (`[CLS]`/`[SEP]`
//! included; 32 different texts per length), embedded in batches of 1, 8 and 32 for a few
//! seconds each. For every engine the table shows sentences/s and tokens/s, the wall-clock and
//! CPU milliseconds per call (CPU time shows the cost even when other processes share the
//! cores), and every engine's vectors for all inputs are compared with PyTorch's (cosine).
//!
//! `cargo run --release -p trove-bench --bin embedders [-- --threads 2 --seconds 2]`. The Python
//! engines come from `scripts/bench-venv` (a pinned virtualenv under Trove's cache folder, made
//! on first use); `--trove-only` skips them.
//!
//! `--int16` instead compares Trove's two precisions (`embedder.precision: f32 | int16`): tokens/s
//! for the shapes that matter (1 query of 16 tokens, 16 merged queries of 20, 32 passages of
//! 256), timed in alternating rounds so that noise from other processes hits both alike; the
//! cosine between the int16 and f32 vector of every SciFact abstract and test query; and SciFact
//! nDCG@10 / Recall@100 by exact (brute-force) cosine search with documents and queries
//! embedded f32/f32, int16/int16 and f32 documents / int16 queries (a vault indexed before
//! switching). `--quality-docs N` embeds only the first N documents and every judged one (nDCG over that
//! pool compares the precisions, not with published figures).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde::Deserialize;
use trove_bench::{CorpusDoc, Query, ndcg_at, read_jsonl, read_qrels, recall_at};
use trove_embed::{Embedder, LocalEmbedder, LocalOptions, Precision, model};

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
    /// Seconds per (engine, batch, length) cell.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Time Trove only; do not install or run the Python engines.
    #[arg(long)]
    trove_only: bool,
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

/// One timed (batch, length) cell of one engine.
#[derive(Debug, Clone, Deserialize)]
struct Cell {
    batch: usize,
    tokens: usize,
    sentences_per_s: f64,
    ms_per_call: f64,
    cpu_ms_per_call: f64,
}

/// One engine's cells and the vectors it made for every input, by length.
#[derive(Debug, Deserialize)]
struct EngineRun {
    name: String,
    version: String,
    cells: Vec<Cell>,
    vectors: std::collections::BTreeMap<String, Vec<Vec<f32>>>,
}

#[derive(Debug, Deserialize)]
struct PythonOutput {
    engines: Vec<EngineRun>,
}

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

/// Times Trove's embedder on the same cells the Python script times.
fn time_trove(e: &LocalEmbedder, inputs: &[(usize, Vec<String>)], seconds: f64) -> Result<EngineRun> {
    let mut cells = Vec::new();
    let mut vectors = std::collections::BTreeMap::new();
    for (tokens, texts) in inputs {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for batch in BATCHES {
            let batch_refs = &refs[..batch];
            e.embed(batch_refs)?; // warm-up
            let cpu_before = cpu_seconds();
            let started = Instant::now();
            let mut calls = 0;
            while calls < 3 || started.elapsed().as_secs_f64() < seconds {
                e.embed(batch_refs)?;
                calls += 1;
            }
            let secs = started.elapsed().as_secs_f64();
            let cpu = match (cpu_before, cpu_seconds()) {
                (Some(a), Some(b)) => (b - a) * 1e3 / calls as f64,
                _ => f64::NAN,
            };
            let cell = Cell {
                batch,
                tokens: *tokens,
                sentences_per_s: (calls * batch) as f64 / secs,
                ms_per_call: secs * 1e3 / calls as f64,
                cpu_ms_per_call: cpu,
            };
            eprintln!("    batch {batch:>2} x {tokens:>3} tokens: {:.1} sentences/s", cell.sentences_per_s);
            cells.push(cell);
        }
        vectors.insert(tokens.to_string(), e.embed(&refs)?);
    }
    Ok(EngineRun { name: "Trove".into(), version: format!("built-in, {} threads", e.threads()), cells, vectors })
}

/// Runs `bench/python/embedders.py` with the same inputs; its engines' runs.
fn time_python(
    python: &Path,
    model_dir: &Path,
    inputs: &[(usize, Vec<String>)],
    args: &Args,
) -> Result<Vec<EngineRun>> {
    let spec = serde_json::json!({
        "lengths": inputs.iter().map(|(t, texts)| (t.to_string(), serde_json::json!(texts))).collect::<serde_json::Map<_, _>>(),
        "batches": BATCHES,
    });
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), serde_json::to_vec(&spec)?)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/embedders.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(model_dir)
        .arg(file.path())
        .arg(args.threads.to_string())
        .arg(args.seconds.to_string())
        .env("HF_HUB_OFFLINE", "1")
        .env("TOKENIZERS_PARALLELISM", "false")
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("{} failed ({}); its messages are above", script.display(), out.status);
    }
    let parsed: PythonOutput =
        serde_json::from_slice(&out.stdout).context("the Python engines printed no valid JSON")?;
    Ok(parsed.engines)
}

/// The Python of `scripts/bench-venv`, installing the virtualenv on first use.
fn bench_python() -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench-venv");
    let out = Command::new(&script)
        .stderr(std::process::Stdio::inherit())
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
fn lowest_cosine(a: &EngineRun, b: &EngineRun) -> (f64, usize) {
    let mut worst = f64::INFINITY;
    let mut n = 0;
    for (len, va) in &a.vectors {
        for (x, y) in va.iter().zip(b.vectors.get(len).into_iter().flatten()) {
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
    let started = Instant::now();
    let e = LocalEmbedder::load(&dir, &LocalOptions { batch_size: 32, threads: args.threads, ..Default::default() })?;
    eprintln!("loaded {} in {:.0} ms", dir.display(), started.elapsed().as_secs_f64() * 1e3);
    let inputs: Vec<(usize, Vec<String>)> =
        LENGTHS.iter().map(|&t| Ok((t, inputs_of(&e, &docs, t, 32)?))).collect::<Result<_>>()?;

    eprintln!("==> Trove");
    let mut runs = vec![time_trove(&e, &inputs, args.seconds)?];
    if !args.trove_only {
        let python = match &args.python {
            Some(p) => p.clone(),
            None => bench_python()?,
        };
        runs.extend(time_python(&python, &dir, &inputs, &args)?);
    }

    println!(
        "\nall-MiniLM-L6-v2, {} threads, SciFact abstracts cut to exact token counts ({:.0} s per cell)",
        args.threads, args.seconds
    );
    for r in &runs {
        println!("- {}: {}", r.name, r.version);
    }
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let mut head = String::from("| batch | tokens |");
    let mut rule = String::from("|---:|---:|");
    for n in &names {
        head.push_str(&format!(" {n} sentences/s |"));
        rule.push_str("---:|");
    }
    for n in &names[1..] {
        head.push_str(&format!(" Trove ÷ {n} |"));
        rule.push_str("---:|");
    }
    head.push_str(" tokens/s | ms per call | CPU ms per call |");
    rule.push_str("---:|---:|---:|");
    println!("\n{head}\n{rule}");
    for trove in &runs[0].cells {
        let mut row = format!("| {} | {} |", trove.batch, trove.tokens);
        let cells: Vec<Option<&Cell>> =
            runs.iter().map(|r| r.cells.iter().find(|c| c.batch == trove.batch && c.tokens == trove.tokens)).collect();
        for c in &cells {
            row.push_str(&c.map_or(" - |".to_string(), |c| format!(" {:.1} |", c.sentences_per_s)));
        }
        for c in &cells[1..] {
            row.push_str(
                &c.map_or(" - |".to_string(), |c| format!(" {:.2}× |", trove.sentences_per_s / c.sentences_per_s)),
            );
        }
        let join = |f: &dyn Fn(&Cell) -> f64, decimals: usize| {
            cells
                .iter()
                .map(|c| c.map_or("-".to_string(), |c| format!("{:.*}", decimals, f(c))))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        row.push_str(&format!(
            " {} | {} | {} |",
            join(&|c| c.sentences_per_s * c.tokens as f64, 0),
            join(&|c| c.ms_per_call, 1),
            join(&|c| c.cpu_ms_per_call, 1)
        ));
        println!("{row}");
    }
    if names.len() > 1 {
        println!("\n(tokens/s, ms and CPU ms per call: {})", names.join(" / "));
    }

    println!();
    if let Some(torch) = runs.iter().find(|r| r.name == "PyTorch") {
        for r in runs.iter().filter(|r| r.name != "PyTorch") {
            let (worst, n) = lowest_cosine(r, torch);
            println!("lowest cosine, {} vs PyTorch over {n} inputs: {worst:.7}", r.name);
        }
    }
    let (worst, n) = fixture_cosine(&e)?;
    println!("lowest cosine, Trove vs the pinned sentence-transformers reference over {n} inputs: {worst:.7}");
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
