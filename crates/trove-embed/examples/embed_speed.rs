//! Measures the built-in model's throughput: 32 passages of ~79 tokens in one `embed` call,
//! and single short queries one call each.
//!
//! `cargo run -p trove-embed --example embed_speed [-- THREADS [BATCH_SIZE]]` (the model is found like
//! Trove finds it: `$TROVE_MODEL_DIR`, else the cache directory).

use std::time::Instant;

use trove_embed::{Embedder, LocalEmbedder, LocalOptions, model};

const PASSAGE: &str = "Trove keeps notes, documents and web pages in vaults on your own machine. \
    Each document is split into passages of a few hundred words, every passage is turned into a \
    vector by a small local language model, and searches combine those vectors with a classic \
    keyword index so that both exact names and loosely worded questions find the passage that \
    answers them, even when the words differ";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads = std::env::args().nth(1).map(|t| t.parse()).transpose()?.unwrap_or(0);
    let batch_size = std::env::args().nth(2).map(|t| t.parse()).transpose()?.unwrap_or(32);
    let dir = model::resolve(None)?;
    let started = Instant::now();
    let e = LocalEmbedder::load(&dir, &LocalOptions { batch_size, threads })?;
    println!("loaded {} in {:.0} ms ({} threads)", dir.display(), started.elapsed().as_secs_f64() * 1e3, e.threads());

    let passages: Vec<String> = (0..32).map(|i| format!("{PASSAGE} {i}.")).collect();
    let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
    println!("passage tokens: {}", e.count_tokens(refs[0]));
    e.embed(&refs)?; // warm-up
    let rounds = 10;
    let started = Instant::now();
    for _ in 0..rounds {
        e.embed(&refs)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("batch of 32 passages: {:.1} sentences/s", (rounds * refs.len()) as f64 / secs);

    let queries = ["how do I reset my password", "quarterly revenue", "cats on mats", "rust borrow checker"];
    let n = 200;
    let started = Instant::now();
    for i in 0..n {
        e.embed(&[queries[i % queries.len()]])?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("single short queries: {:.1} queries/s ({:.2} ms each)", n as f64 / secs, secs * 1e3 / n as f64);
    Ok(())
}
