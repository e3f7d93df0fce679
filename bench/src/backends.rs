//! The storage backends side by side: the same SciFact abstracts ingested through the real
//! pipeline into the embedded store and into PostgreSQL + pgvector, then searched with the
//! SciFact test queries in every mode; plus `trove migrate`'s copy of the embedded store into
//! a fresh database. Prints one table: ingest time and throughput, unchanged re-ingest, copy
//! throughput, and per mode the time per query and nDCG@10 (PostgreSQL ranks keywords with
//! `ts_rank`, not BM25, so its keyword quality is reported beside the embedded store's).
//!
//! With `--qdrant URL`, a third run puts the same corpus on PostgreSQL with that Qdrant as its
//! vector index (collections of a prefix of the run's own, deleted afterwards).
//!
//! Run: `cargo run --release -p trove-bench --bin backends -- [--docs N] [--pg-url URL]
//! [--qdrant URL]`. Without `--pg-url`, a throwaway PostgreSQL is started from `$TROVE_PG_BIN`
//! (`scripts/pg-test-deps` prints it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Parser;
use trove_bench::{Query, ndcg_at, ranked_documents, read_jsonl, read_qrels, write_corpus};
use trove_config::Workspace;
use trove_engine::auth::Principal;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode, SearchSettings, perm};
use trove_types::SearchMode;

/// Options.
#[derive(Debug, Parser)]
struct Args {
    /// The SciFact folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).
    #[arg(long, default_value = "../shared/data/scifact")]
    data: PathBuf,
    /// Scratch folder (deleted and rebuilt).
    #[arg(long, default_value = "target/bench-backends")]
    work: PathBuf,
    /// Only the first N documents (metrics then are not comparable to published ones).
    #[arg(long, default_value_t = 1000)]
    docs: usize,
    /// An empty PostgreSQL database with pgvector (default: start one from $TROVE_PG_BIN).
    #[arg(long)]
    pg_url: Option<String>,
    /// A Qdrant server for a third run: PostgreSQL with Qdrant as its vector index.
    #[arg(long)]
    qdrant: Option<String>,
}

struct Row {
    backend: &'static str,
    ingest_s: f64,
    chunks: u64,
    reingest_s: f64,
    modes: Vec<(SearchMode, f64, f64)>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt().with_env_filter("warn").with_writer(std::io::stderr).init();
    if !args.data.join("corpus.jsonl").exists() {
        bail!("{} has no corpus.jsonl: pass --data DIR pointing at BEIR SciFact", args.data.display());
    }
    let _ = std::fs::remove_dir_all(&args.work);
    let corpus = args.work.join("corpus");
    std::fs::create_dir_all(&corpus)?;
    let n = write_corpus(&args.data.join("corpus.jsonl"), &corpus, Some(args.docs))?;
    eprintln!("wrote {n} documents");

    let server = match &args.pg_url {
        Some(_) => None,
        None => {
            if std::env::var_os("TROVE_PG_BIN").is_none() {
                bail!("pass --pg-url, or set TROVE_PG_BIN=$(scripts/pg-test-deps) to start a throwaway server");
            }
            Some(trove_store_postgres::testing::PgServer::start())
        }
    };
    let url = |server: &Option<trove_store_postgres::testing::PgServer>| match (&args.pg_url, server) {
        (Some(u), _) => u.clone(),
        (None, Some(s)) => s.create_database(),
        (None, None) => unreachable!("checked above"),
    };

    let queries: Vec<Query> = read_jsonl(&args.data.join("queries.jsonl"))?;
    let qrels = read_qrels(&args.data.join("qrels/test.tsv"))?;
    let queries: Vec<Query> = queries.into_iter().filter(|q| qrels.contains_key(&q.id)).collect();
    let texts: Vec<String> = queries.iter().map(|q| q.text.clone()).collect();

    // One model for both runs, loaded once.
    let embedded_ws = workspace(&args.work.join("embedded"), &corpus, None)?;
    let shared_model = Engine::open(embedded_ws.clone(), OpenMode::Write, "bench backends")?.embedder()?;
    let mut rows = Vec::new();
    rows.push(run("embedded", embedded_ws.clone(), &shared_model, &queries, &texts, &qrels)?);
    let pg_ws = workspace(&args.work.join("postgres"), &corpus, Some((&url(&server), None)))?;
    rows.push(run("postgres", pg_ws, &shared_model, &queries, &texts, &qrels)?);
    if let Some(qdrant) = &args.qdrant {
        let prefix = format!("trove_bench_{}_", std::process::id());
        let ws = workspace(&args.work.join("qdrant"), &corpus, Some((&url(&server), Some((qdrant, &prefix)))))?;
        let row = run("postgres + qdrant", ws, &shared_model, &queries, &texts, &qrels);
        let client = trove_store_qdrant::Client::new(trove_store_qdrant::ClientOptions::new(qdrant.clone()));
        for c in client.get("/collections")?["collections"].as_array().into_iter().flatten() {
            if let Some(name) = c["name"].as_str().filter(|n| n.starts_with(&prefix)) {
                client.delete(&format!("/collections/{name}"))?;
            }
        }
        rows.push(row?);
    }

    // The migration's copy of the embedded store.
    let target = trove_store_postgres::PgStore::open(trove_store_postgres::PgOptions::new(url(&server)))?;
    let t = Instant::now();
    let report = trove_store_postgres::migrate::copy_embedded(embedded_ws.data_dir(), &target, |_, _| {})?;
    let copy_s = t.elapsed().as_secs_f64();
    let copied: u64 = report.tables.iter().map(|t| t.copied).sum();
    if !report.verified() {
        bail!("the copy did not verify: {report:?}");
    }

    let mut out = std::io::stdout().lock();
    writeln!(out, "\n## Backends: {n} SciFact documents, {} queries\n", queries.len())?;
    writeln!(
        out,
        "| backend | first ingest | chunks/s | unchanged re-ingest | keyword ms/q (nDCG@10) | semantic ms/q (nDCG@10) | hybrid ms/q (nDCG@10) |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for r in &rows {
        let mode = |m: SearchMode| {
            r.modes
                .iter()
                .find(|(x, _, _)| *x == m)
                .map(|(_, ms, ndcg)| format!("{ms:.2} ({ndcg:.4})"))
                .unwrap_or_default()
        };
        writeln!(
            out,
            "| {} | {:.1} s | {:.1} | {:.2} s | {} | {} | {} |",
            r.backend,
            r.ingest_s,
            r.chunks as f64 / r.ingest_s,
            r.reingest_s,
            mode(SearchMode::Keyword),
            mode(SearchMode::Semantic),
            mode(SearchMode::Hybrid)
        )?;
    }
    writeln!(
        out,
        "\n`trove migrate` copy of the embedded store: {copied} rows in {copy_s:.1} s ({:.0} rows/s), verified",
        copied as f64 / copy_s
    )?;
    Ok(())
}

/// A workspace over the corpus folder, on the embedded store or on PostgreSQL (`url`),
/// optionally with Qdrant (`url`, collection prefix).
fn workspace(dir: &Path, corpus: &Path, pg: Option<(&str, Option<(&str, &str)>)>) -> Result<Workspace> {
    std::fs::create_dir_all(dir)?;
    let storage = match pg {
        None => String::new(),
        Some((url, None)) => format!("storage:\n  backend: postgres\n  postgres:\n    url: {url}\n"),
        Some((url, Some((qdrant, prefix)))) => format!(
            "storage:\n  backend: postgres\n  postgres:\n    url: {url}\n  qdrant:\n    url: {qdrant}\n    collection_prefix: {prefix}\n"
        ),
    };
    let corpus = std::fs::canonicalize(corpus)?;
    let config = format!(
        "{storage}log:\n  level: warn\nvaults:\n  scifact:\n    chunking:\n      max_tokens: 512\n      overlap_tokens: 32\n    sources:\n      corpus:\n        type: localfile\n        path: {}\n        file_types: [md]\n",
        corpus.display()
    );
    std::fs::write(dir.join("config.yaml"), config)?;
    Ok(Workspace::load(Some(dir), None)?)
}

fn run(
    backend: &'static str,
    ws: Workspace,
    model: &std::sync::Arc<dyn trove_embed::Embedder>,
    queries: &[Query],
    texts: &[String],
    qrels: &std::collections::HashMap<String, std::collections::HashMap<String, f64>>,
) -> Result<Row> {
    let engine = Engine::open(ws.clone(), OpenMode::Write, "bench backends")?.with_embedder(model.clone());
    let t = Instant::now();
    let report = engine.ingest(&IngestOptions::default(), &NoProgress)?;
    let ingest_s = t.elapsed().as_secs_f64();
    if report.total.failed > 0 {
        bail!("{backend}: {} documents failed", report.total.failed);
    }
    let t = Instant::now();
    engine.ingest(&IngestOptions::default(), &NoProgress)?;
    let reingest_s = t.elapsed().as_secs_f64();
    let access = engine.authorize::<perm::Search>(&Principal::Local, "scifact")?;
    let chunks = engine.vault_overview(&access)?.chunks;
    let mut modes = Vec::new();
    for mode in [SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid] {
        let t = Instant::now();
        let settings = SearchSettings { mode: Some(mode), limit: Some(20), ..SearchSettings::default() };
        let answers = engine.search_batch(&access, &settings, texts)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0 / texts.len() as f64;
        let mut ndcg = 0.0;
        for (q, a) in queries.iter().zip(&answers) {
            let docs = ranked_documents(&a.hits);
            ndcg += ndcg_at(&docs, &qrels[&q.id], 10);
        }
        modes.push((mode, ms, ndcg / queries.len() as f64));
    }
    eprintln!("{backend}: done");
    Ok(Row { backend, ingest_s, chunks, reingest_s, modes })
}
