//! SciFact benchmark: ingests BEIR SciFact (read from `../shared/data/scifact`, never copied
//! into the project) through the real ingest path, then prints
//! - nDCG@10 and Recall@100 for keyword, semantic and hybrid search (document level: a
//!   document's rank is the rank of its best chunk), beside the published baselines;
//! - ingest throughput (chunks/s, tokens/s) beside the raw throughput of the same model on
//!   the same inputs, and the time of an unchanged re-ingest.
//!
//! Run: `cargo run --release -p trove-bench --bin scifact -- [--docs N] [--raw-sample N]`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use trove_bench::{Query, ndcg_at, ranked_documents, read_jsonl, read_qrels, recall_at, write_corpus};
use trove_config::Workspace;
use trove_engine::auth::Principal;
use trove_engine::{ChunkFilter, Engine, IngestOptions, NoProgress, OpenMode, embedding_input, perm};
use trove_store::embedded::EmbeddedStore;
use trove_store::prelude::*;
use trove_types::SearchMode;

/// Options.
#[derive(Debug, Parser)]
struct Args {
    /// The SciFact folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).
    #[arg(long, default_value = "../shared/data/scifact")]
    data: PathBuf,
    /// Scratch workspace (deleted and rebuilt).
    #[arg(long, default_value = "target/bench-scifact")]
    work: PathBuf,
    /// Only the first N documents (quick runs; metrics are then not comparable).
    #[arg(long)]
    docs: Option<usize>,
    /// Chunks embedded again, directly, to measure the model's raw throughput.
    #[arg(long, default_value_t = 1000)]
    raw_sample: usize,
    /// Chunk size (model tokens). 512 keeps nearly every abstract in one chunk, which the
    /// model truncates at 256 tokens, as the published baseline does.
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    /// Reuse an existing index in --work instead of rebuilding it.
    #[arg(long)]
    reuse: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt().with_env_filter("warn").with_writer(std::io::stderr).init();
    if !args.data.join("corpus.jsonl").exists() {
        bail!("{} has no corpus.jsonl: pass --data DIR pointing at BEIR SciFact", args.data.display());
    }
    let corpus_dir = args.work.join("corpus");
    if !args.reuse {
        let _ = std::fs::remove_dir_all(&args.work);
        std::fs::create_dir_all(&corpus_dir)?;
        let n = write_corpus(&args.data.join("corpus.jsonl"), &corpus_dir, args.docs)?;
        eprintln!("wrote {n} documents to {}", corpus_dir.display());
    }
    let config = format!(
        "log:\n  level: warn\nvaults:\n  scifact:\n    chunking:\n      max_tokens: {}\n      overlap_tokens: 32\n    sources:\n      corpus:\n        type: localfile\n        path: corpus\n        file_types: [md]\n",
        args.max_tokens
    );
    std::fs::write(args.work.join("config.yaml"), config)?;
    let ws = Workspace::load(Some(&args.work), None)?;

    // First ingest.
    let engine = Engine::open(ws.clone(), OpenMode::Write, "bench scifact")?;
    let t = Instant::now();
    let report = engine.ingest(&IngestOptions::default(), &NoProgress)?;
    let ingest_s = t.elapsed().as_secs_f64();
    let s = &report.total;
    if s.failed > 0 {
        bail!("{} documents failed: {:?}", s.failed, &s.failures[..s.failures.len().min(5)]);
    }

    // Raw model throughput on a sample of the same embedding inputs.
    let embedder = engine.embedder()?;
    // The stored chunks, read beside the engine (the bench measures; it serves nobody).
    let store = EmbeddedStore::open_reader(ws.data_dir())?;
    let vault = store.vault("scifact")?.context("vault missing")?;
    let stats = store.vault_stats(vault.id)?;
    let mut inputs = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.chunks_to_reembed(vault.id, after, 1000)?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        inputs.extend(batch.iter().map(|c| (embedding_input(&c.title, &c.heading_path, &c.text), c.token_count)));
    }
    // An even spread over the corpus, not its first documents.
    let step = (inputs.len() / args.raw_sample.max(1)).max(1);
    let sample: Vec<&(String, usize)> = inputs.iter().step_by(step).take(args.raw_sample).collect();
    let texts: Vec<&str> = sample.iter().map(|(t, _)| t.as_str()).collect();
    let sample_tokens: usize = texts.iter().map(|t| embedder.count_tokens(t).min(254) + 2).sum();
    let t = Instant::now();
    let _ = embedder.embed(&texts)?;
    let raw_s = t.elapsed().as_secs_f64();
    let raw_chunks_per_s = texts.len() as f64 / raw_s;
    let raw_tokens_per_s = sample_tokens as f64 / raw_s;
    drop(engine);

    // Unchanged re-ingest: a fresh process-like engine, which must not even load the model.
    let engine = Engine::open(ws.clone(), OpenMode::Write, "bench scifact")?;
    let t = Instant::now();
    let again = engine.ingest(&IngestOptions::default(), &NoProgress)?;
    let reingest_s = t.elapsed().as_secs_f64();
    let reingest_embedded = again.total.chunks;
    let model_loaded = engine.embedder_loaded();
    drop(engine);

    // Retrieval quality.
    let queries: Vec<Query> = read_jsonl(&args.data.join("queries.jsonl"))?;
    let qrels = read_qrels(&args.data.join("qrels/test.tsv"))?;
    let queries: Vec<Query> = queries.into_iter().filter(|q| qrels.contains_key(&q.id)).collect();
    let engine = Engine::open(ws, OpenMode::Read, "bench scifact")?;
    let access = engine.authorize::<perm::Search>(&Principal::Local, "scifact")?;
    let texts: Vec<String> = queries.iter().map(|q| q.text.clone()).collect();
    let mut rows = Vec::new();
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let t = Instant::now();
        // Chunk-level hits; ask for more than 100 so 100 distinct documents remain.
        let answers = engine.search_batch(&access, Some(mode), Some(200), &ChunkFilter::default(), &texts)?;
        let per_query_ms = t.elapsed().as_secs_f64() * 1000.0 / texts.len() as f64;
        let (mut ndcg, mut recall) = (0.0, 0.0);
        for (q, a) in queries.iter().zip(&answers) {
            let docs = ranked_documents(&a.hits);
            let rel = &qrels[&q.id];
            ndcg += ndcg_at(&docs, rel, 10);
            recall += recall_at(&docs, rel, 100);
        }
        let n = queries.len() as f64;
        rows.push((mode, ndcg / n, recall / n, per_query_ms));
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\n## SciFact ({} documents, {} queries; chunks of at most {} tokens)\n",
        s.added,
        queries.len(),
        args.max_tokens
    )?;
    writeln!(out, "| mode | nDCG@10 | Recall@100 | ms/query (batch of {}) | published baseline |", queries.len())?;
    writeln!(out, "|---|---|---|---|---|")?;
    for (mode, ndcg, recall, ms) in &rows {
        let baseline = match mode {
            SearchMode::Keyword => "BM25 0.665–0.687",
            SearchMode::Semantic => "all-MiniLM-L6-v2 0.645",
            SearchMode::Hybrid => "beat both",
        };
        writeln!(out, "| {mode} | {ndcg:.4} | {recall:.4} | {ms:.2} | {baseline} |")?;
    }
    writeln!(out, "\n## Ingest\n")?;
    writeln!(out, "| measure | value |")?;
    writeln!(out, "|---|---|")?;
    writeln!(out, "| documents / chunks / tokens | {} / {} / {} |", s.added, stats.chunks, stats.tokens)?;
    writeln!(out, "| first ingest | {ingest_s:.1} s |")?;
    let ingest_chunks_per_s = stats.chunks as f64 / ingest_s;
    let ingest_tokens_per_s =
        inputs.iter().map(|(t, _)| embedder.count_tokens(t).min(254) + 2).sum::<usize>() as f64 / ingest_s;
    writeln!(out, "| ingest throughput | {ingest_chunks_per_s:.1} chunks/s, {ingest_tokens_per_s:.0} tokens/s |")?;
    writeln!(
        out,
        "| raw model throughput ({} chunks, same inputs) | {raw_chunks_per_s:.1} chunks/s, {raw_tokens_per_s:.0} tokens/s |",
        sample.len()
    )?;
    writeln!(out, "| ingest / raw | {:.2} |", ingest_tokens_per_s / raw_tokens_per_s)?;
    writeln!(
        out,
        "| unchanged re-ingest | {reingest_s:.2} s ({:.1}% of first), {reingest_embedded} chunks embedded, model loaded: {model_loaded} |",
        100.0 * reingest_s / ingest_s
    )?;
    Ok(())
}
