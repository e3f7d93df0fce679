//! Measures the built-in model's throughput and agreement with the reference vectors.
//!
//! Prints one table: for batches of 1, 8 and 32 inputs of exactly 16, 79 and 256 tokens
//! (`[CLS]`/`[SEP]` included), sentences/s, tokens/s, and wall-clock and CPU milliseconds per
//! `embed` call (CPU time shows the cost even when other processes share the cores); then
//! the lowest cosine between Trove's vectors and sentence-transformers' reference vectors
//! (`tests/fixtures/reference_embeddings.json`).
//!
//! `cargo run --release -p trove-embed --example embed_speed [-- THREADS [SECONDS_PER_CELL]]`
//! (THREADS 0 = the default; the model is found like Trove finds it: `$TROVE_MODEL_DIR`, else
//! the cache directory).

use std::time::Instant;

use trove_embed::{Embedder, LocalEmbedder, LocalOptions, model};

const TEXT: &str = "Trove keeps notes, documents and web pages in vaults on your own machine. \
    Each document is split into passages of a few hundred words, every passage is turned into a \
    vector by a small local language model, and searches combine those vectors with a classic \
    keyword index so that both exact names and loosely worded questions find the passage that \
    answers them, even when the words differ. ";

/// A text of exactly `tokens - 2` wordpieces (so `tokens` with the special tokens), varied by
/// `salt` so that inputs differ.
fn input_of(e: &LocalEmbedder, tokens: usize, salt: usize) -> String {
    let words: Vec<String> = std::iter::once(format!("item{salt}"))
        .chain(TEXT.split_whitespace().cycle().map(str::to_string))
        .take(4 * tokens)
        .collect();
    let (mut lo, mut hi) = (0, words.len());
    // Longest word prefix with at most tokens - 2 wordpieces.
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if e.count_tokens(&words[..mid].join(" ")) <= tokens - 2 {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut text = words[..lo].join(" ");
    while e.count_tokens(&text) < tokens - 2 {
        text.push_str(" a");
    }
    text
}

/// CPU seconds (user + system) this process has used so far, where `/proc` tells.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads = std::env::args().nth(1).map(|t| t.parse()).transpose()?.unwrap_or(0);
    let seconds: f64 = std::env::args().nth(2).map(|t| t.parse()).transpose()?.unwrap_or(1.5);
    let dir = model::resolve(None)?;
    let started = Instant::now();
    let e = LocalEmbedder::load(&dir, &LocalOptions { batch_size: 32, threads })?;
    println!("loaded {} in {:.0} ms ({} threads)", dir.display(), started.elapsed().as_secs_f64() * 1e3, e.threads());

    println!("| batch | tokens | sentences/s | tokens/s | ms per call | CPU ms per call |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for tokens in [16, 79, 256] {
        for batch in [1, 8, 32] {
            let texts: Vec<String> = (0..batch).map(|i| input_of(&e, tokens, i)).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            e.embed(&refs)?; // warm-up
            let cpu_before = cpu_seconds();
            let started = Instant::now();
            let mut calls = 0;
            while calls < 3 || started.elapsed().as_secs_f64() < seconds {
                e.embed(&refs)?;
                calls += 1;
            }
            let secs = started.elapsed().as_secs_f64();
            let sentences = (calls * batch) as f64 / secs;
            let cpu = match (cpu_before, cpu_seconds()) {
                (Some(a), Some(b)) => format!("{:.1}", (b - a) * 1e3 / calls as f64),
                _ => "-".to_string(),
            };
            println!(
                "| {batch} | {tokens} | {sentences:.1} | {:.0} | {:.2} | {cpu} |",
                sentences * tokens as f64,
                secs * 1e3 / calls as f64
            );
        }
    }

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference_embeddings.json");
    let fixture: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let sentences = fixture["sentences"].as_array().ok_or("fixture without sentences")?;
    let texts: Vec<&str> = sentences.iter().filter_map(|s| s["text"].as_str()).collect();
    let got = e.embed(&texts)?;
    let mut worst = f64::INFINITY;
    for (s, v) in sentences.iter().zip(&got) {
        let want: Vec<f64> =
            s["embedding"].as_array().ok_or("no embedding")?.iter().filter_map(|x| x.as_f64()).collect();
        let dot: f64 = v.iter().zip(&want).map(|(a, b)| *a as f64 * b).sum();
        let na = v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let nb = want.iter().map(|b| b * b).sum::<f64>().sqrt();
        worst = worst.min(dot / (na * nb));
    }
    println!("lowest cosine to the sentence-transformers reference over {} inputs: {worst:.7}", got.len());
    Ok(())
}
