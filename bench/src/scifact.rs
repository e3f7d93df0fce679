//! SciFact benchmark: ingests BEIR SciFact (read from `../shared/data/scifact`, never copied
//! into the project) through the real ingest path, then prints
//! - nDCG@10, Recall@100 and MRR for keyword, semantic and hybrid search under every fusion
//!   (RRF, relative score) and keyword weight, side by side (document level, as `trove eval`
//!   measures: a document's rank is the rank of its best chunk), beside the published
//!   baselines, and on other judged queries with `--check-queries/--check-qrels`;
//! - ingest throughput (chunks/s, tokens/s) beside the raw throughput of the same model on
//!   the same inputs, and the time of an unchanged re-ingest.
//!
//! Run: `cargo run --release -p trove-bench --bin scifact -- [--docs N] [--raw-sample N]`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use trove_bench::{read_qrels, write_corpus};
use trove_config::Workspace;
use trove_engine::auth::Principal;
use trove_engine::eval::parse_queries;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode, SearchSettings, embedding_input, perm};
use trove_store::embedded::EmbeddedStore;
use trove_store::prelude::*;
use trove_types::{Fusion, FusionMethod, SearchMode};

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
    /// Keyword weights tried for each hybrid fusion.
    #[arg(long, value_delimiter = ',', default_values_t = [0.3, 0.4, 0.5, 0.6, 0.7])]
    weights: Vec<f32>,
    /// Other judged queries (BEIR queries JSONL) to check every setting on, beside the test
    /// queries the defaults are chosen on (e.g. SciFact's train split).
    #[arg(long, value_name = "FILE")]
    check_queries: Option<PathBuf>,
    /// The judgments of --check-queries.
    #[arg(long, value_name = "FILE")]
    check_qrels: Option<PathBuf>,
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

    // Retrieval quality, measured as `trove eval` measures it (one hit per document): each
    // mode, and hybrid under every fusion and keyword weight, side by side.
    let queries = parse_queries(&std::fs::read_to_string(args.data.join("queries.jsonl"))?, "queries.jsonl")?;
    let qrels = read_qrels(&args.data.join("qrels/test.tsv"))?;
    let engine = Engine::open(ws, OpenMode::Read, "bench scifact")?;
    let access = engine.authorize::<perm::Search>(&Principal::Local, "scifact")?;
    let defaults = &engine.workspace().config.search;
    let default_fusion = (defaults.fusion, defaults.keyword_weight);
    let mut settings = vec![
        ("keyword".to_string(), SearchMode::Keyword, Fusion::default()),
        ("semantic".to_string(), SearchMode::Semantic, Fusion::default()),
    ];
    for method in [FusionMethod::Rrf, FusionMethod::RelativeScore] {
        for w in args.weights.iter().copied() {
            let fusion = Fusion { method: Some(method), keyword_weight: Some(w) };
            let default = if (method, w) == default_fusion { " (default)" } else { "" };
            settings.push((format!("hybrid {} w={w}{default}", method.as_str()), SearchMode::Hybrid, fusion));
        }
    }
    let check = match (&args.check_queries, &args.check_qrels) {
        (Some(q), Some(r)) => {
            Some((parse_queries(&std::fs::read_to_string(q)?, &q.display().to_string())?, read_qrels(r)?))
        }
        (None, None) => None,
        _ => bail!("--check-queries and --check-qrels go together"),
    };
    let mut rows = Vec::new();
    for (label, mode, fusion) in settings {
        let s = SearchSettings { mode: Some(mode), fusion, ..SearchSettings::default() };
        let t = Instant::now();
        let scores = engine.evaluate(&access, &queries, &qrels, &s)?;
        let per_query_ms = t.elapsed().as_secs_f64() * 1000.0 / scores.queries.max(1) as f64;
        let checked = match &check {
            Some((q, r)) => Some(engine.evaluate(&access, q, r, &s)?),
            None => None,
        };
        eprintln!("{label}: nDCG@10 {:.4}", scores.ndcg_at_10);
        rows.push((label, mode, scores, per_query_ms, checked));
    }
    let n_queries = rows.first().map_or(0, |r| r.2.queries);

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\n## SciFact ({} documents, {n_queries} test queries; chunks of at most {} tokens)\n",
        s.added, args.max_tokens
    )?;
    let check_head = if check.is_some() { " check nDCG@10 | check Recall@100 |" } else { "" };
    let check_rule = if check.is_some() { "---|---|" } else { "" };
    writeln!(
        out,
        "| setting | nDCG@10 | Recall@100 | MRR | ms/query (batch of {n_queries}) |{check_head} published baseline |"
    )?;
    writeln!(out, "|---|---|---|---|---|{check_rule}---|")?;
    for (label, mode, scores, ms, checked) in &rows {
        let baseline = match mode {
            SearchMode::Keyword => "BM25 0.665–0.687",
            SearchMode::Semantic => "all-MiniLM-L6-v2 0.645",
            SearchMode::Hybrid => "beat both",
        };
        let check = checked.map(|c| format!(" {:.4} | {:.4} |", c.ndcg_at_10, c.recall_at_100)).unwrap_or_default();
        writeln!(
            out,
            "| {label} | {:.4} | {:.4} | {:.4} | {ms:.2} |{check} {baseline} |",
            scores.ndcg_at_10, scores.recall_at_100, scores.mrr
        )?;
    }
    if let Some(best) =
        rows.iter().filter(|r| r.1 == SearchMode::Hybrid).max_by(|a, b| a.2.ndcg_at_10.total_cmp(&b.2.ndcg_at_10))
    {
        writeln!(out, "\nBest hybrid setting on the test queries: {} (nDCG@10 {:.4}).", best.0, best.2.ndcg_at_10)?;
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
