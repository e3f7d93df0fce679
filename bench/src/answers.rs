//! Answers' own overhead: the latency of an answer over SciFact, against the fake
//! OpenAI-compatible chat server streaming at a fixed token rate, broken into retrieval, the
//! chat model's generation, and what Trove adds around them (prompt building, citation
//! verification, the stream's plumbing), which is the figure of interest (target: under 5 ms).
//!
//! For each SciFact claim, measured in turn after one unmeasured pass:
//! - **retrieval**: [`Engine::search`] of the claim with the answer's mode and chunk count;
//! - **generation**: the chat client alone streaming one answer from the fake server (the
//!   same tokens at the same pace, a prompt of the answer's size);
//! - **answer**: [`Engine::answer_stream`] read to its end (retrieval, prompt, generation,
//!   citation verification, events);
//! - **overhead** = answer − retrieval − generation, per claim; medians and p99 over claims.
//!
//! Keyword retrieval by default (no embedding model needed, so the figure does not ride on
//! the model's time); `--mode hybrid` uses the built-in model.
//!
//! Run: `cargo run --release -p trove-bench --bin answers -- --docs 1000 --queries 100`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use trove_bench::{Query, read_jsonl, write_corpus};
use trove_chat::testing::{FakeChat, Script};
use trove_chat::{ChatClient, ChatEvent, ChatModel, ChatOptions, Message};
use trove_config::Workspace;
use trove_engine::auth::Principal;
use trove_engine::{
    AnswerEvent, AnswerRequest, ChunkFilter, Engine, IngestOptions, NoProgress, OpenMode, SearchRequest, perm,
};
use trove_types::SearchMode;

#[derive(Debug, Parser)]
struct Args {
    /// SciFact abstracts indexed.
    #[arg(long, default_value_t = 1000)]
    docs: usize,
    /// Claims asked (measured; one more unmeasured pass first).
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Tokens of every answer.
    #[arg(long, default_value_t = 50)]
    tokens: usize,
    /// Milliseconds between streamed tokens (the fixed token rate).
    #[arg(long, default_value_t = 2)]
    pace_ms: u64,
    /// keyword, semantic or hybrid.
    #[arg(long, default_value = "keyword")]
    mode: String,
    /// Chunks retrieved per answer.
    #[arg(long, default_value_t = 8)]
    chunks: usize,
    /// Scratch folder (removed first).
    #[arg(long, default_value = "target/bench-answers")]
    work: PathBuf,
    /// The SciFact folder (corpus.jsonl, queries.jsonl).
    #[arg(long, default_value = "../shared/data/scifact")]
    scifact: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mode: SearchMode = serde_json::from_value(serde_json::Value::String(args.mode.clone()))
        .with_context(|| format!("--mode {}: use keyword, semantic or hybrid", args.mode))?;
    let claims: Vec<String> =
        read_jsonl::<Query>(&args.scifact.join("queries.jsonl"))?.into_iter().map(|q| q.text).collect();
    let claims: Vec<String> = claims.into_iter().take(args.queries).collect();
    if claims.is_empty() {
        bail!("no claims in {}", args.scifact.display());
    }
    let tokens: Vec<String> =
        (0..args.tokens).map(|i| if i == 0 { "Yes [1]".into() } else { format!(" w{i}") }).collect();
    let pace = Duration::from_millis(args.pace_ms);
    let script = {
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        Script::answer(&refs).paced(pace)
    };
    let chat = FakeChat::always(script);

    if args.work.exists() {
        std::fs::remove_dir_all(&args.work).with_context(|| format!("cannot remove {}", args.work.display()))?;
    }
    let corpus = args.work.join("corpus");
    std::fs::create_dir_all(&corpus)?;
    let n = write_corpus(&args.scifact.join("corpus.jsonl"), &corpus, Some(args.docs))?;
    let ws = workspace(&args.work, &corpus, &chat.url(), args.chunks)?;
    let engine = Engine::open(ws, OpenMode::Write, "bench answers")?;
    let t = Instant::now();
    engine.ingest(&IngestOptions::default(), &NoProgress)?;
    eprintln!("indexed {n} abstracts in {:.1} s", t.elapsed().as_secs_f64());
    let access = engine.authorize::<perm::Search>(&Principal::Local, "scifact")?;
    let model = engine.chat_model()?;
    // The chat client alone, as the engine makes it (same options, same server).
    let alone: Arc<dyn ChatModel> = Arc::new(ChatClient::new(ChatOptions::new(&chat.url(), "fake-model", "bench"))?);

    let mut rows = Vec::new();
    for pass in 0..2 {
        for claim in &claims {
            let search = SearchRequest {
                query: claim.clone(),
                mode: Some(mode),
                limit: Some(args.chunks),
                filter: ChunkFilter::default(),
                ..SearchRequest::default()
            };
            let t = Instant::now();
            let found = engine.search(&access, &search)?;
            let retrieval = t.elapsed();
            let prompt: String = found.hits.iter().map(|h| h.text.as_str()).collect::<Vec<_>>().join("\n");
            let messages =
                vec![Message::system("You answer."), Message::user(format!("{prompt}\n\nQuestion: {claim}"))];
            let t = Instant::now();
            for event in alone.stream(&messages)? {
                if let ChatEvent::Finished { .. } = event? {
                    break;
                }
            }
            let generation = t.elapsed();
            let req = AnswerRequest {
                question: claim.clone(),
                mode: Some(mode),
                limit: Some(args.chunks),
                ..AnswerRequest::default()
            };
            let t = Instant::now();
            let mut done = false;
            for event in engine.answer_stream(&access, &req)? {
                done |= matches!(event?, AnswerEvent::Done { .. });
            }
            let answer = t.elapsed();
            if !done {
                bail!("an answer ended without its last event");
            }
            if pass == 1 {
                rows.push((retrieval, generation, answer));
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let column = |f: &dyn Fn(&(Duration, Duration, Duration)) -> f64| {
        let mut v: Vec<f64> = rows.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[((v.len() * 99).div_ceil(100)).saturating_sub(1)])
    };
    let retrieval = column(&|r| ms(r.0));
    let generation = column(&|r| ms(r.1));
    let answer = column(&|r| ms(r.2));
    let overhead = column(&|r| ms(r.2) - ms(r.0) - ms(r.1));
    println!(
        "answers over {n} SciFact abstracts, {} claims, {mode:?} retrieval of {} chunks, {} tokens at {} ms each ({}), model {}",
        rows.len(),
        args.chunks,
        args.tokens,
        args.pace_ms,
        if cfg!(debug_assertions) { "debug build" } else { "release build" },
        model.model_id()
    );
    println!("| part | p50 ms | p99 ms |");
    println!("|---|---|---|");
    for (name, (p50, p99)) in
        [("retrieval", retrieval), ("generation (chat client alone)", generation), ("whole answer", answer)]
    {
        println!("| {name} | {p50:.2} | {p99:.2} |");
    }
    println!(
        "| Trove's overhead (answer − retrieval − generation, per claim) | {:.2} | {:.2} |",
        overhead.0, overhead.1
    );
    Ok(())
}

/// A workspace over `corpus` answering through the fake chat server at `url`.
fn workspace(dir: &Path, corpus: &Path, url: &str, chunks: usize) -> Result<Workspace> {
    let corpus = std::fs::canonicalize(corpus)?;
    let config = format!(
        "log:\n  level: warn\nvaults:\n  scifact:\n    sources:\n      corpus:\n        type: localfile\n        path: {}\n        file_types: [md]\n\
         chat_models:\n  fake:\n    provider: custom\n    base_url: {url}\n    api_key: sk-bench\n    models: {{chat: fake-model}}\n    chat: {{context_tokens: 16000}}\n\
         answers:\n  chunks: {chunks}\n",
        corpus.display()
    );
    std::fs::write(dir.join("config.yaml"), config)?;
    Ok(Workspace::load(Some(dir), None)?)
}
