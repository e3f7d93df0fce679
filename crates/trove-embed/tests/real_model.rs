//! Tests against the real all-MiniLM-L6-v2, found the way Trove finds it (`model::resolve(None)`:
//! `$TROVE_MODEL_DIR`, else the cache directory). The project's test command installs the model
//! first; when it is absent these tests fail with instructions rather than skip.
//!
//! Reference vectors in `fixtures/reference_embeddings.json` were computed by
//! sentence-transformers (see `fixtures/gen_reference.py`).

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;
use trove_embed::{Embedder, LocalEmbedder, LocalOptions, Precision, model};

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<ReferenceSentence>,
}

#[derive(Deserialize)]
struct ReferenceSentence {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference_embeddings.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_slice(&bytes).expect("reference fixture is valid JSON")
    })
}

fn model_dir() -> PathBuf {
    model::resolve(None).unwrap_or_else(|e| {
        panic!(
            "the real-model tests need all-MiniLM-L6-v2 installed: {e}\n\
             (install it with `trove model install`, or point TROVE_MODEL_DIR at a model directory)"
        )
    })
}

fn embedder() -> &'static LocalEmbedder {
    static E: OnceLock<LocalEmbedder> = OnceLock::new();
    E.get_or_init(|| {
        LocalEmbedder::load(&model_dir(), &LocalOptions::default())
            .unwrap_or_else(|e| panic!("loading the real model failed: {e}"))
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn reports_the_builtin_shape() {
    let e = embedder();
    assert_eq!(e.model_id(), "builtin/all-MiniLM-L6-v2");
    assert_eq!(e.dimension(), 384);
    assert_eq!(e.dimension(), model::DIMENSION);
    assert_eq!(e.max_input_tokens(), 256);
    assert_eq!(e.max_input_tokens(), model::MAX_INPUT_TOKENS);
    let v = e.embed(&["hello world"]).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].len(), 384);
}

#[test]
fn matches_sentence_transformers_reference_vectors() {
    let e = embedder();
    let refs = &reference().sentences;
    assert!(refs.iter().any(|r| r.tokens + 2 > 256), "the fixture must include an input that needs truncation");
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let batched = e.embed(&texts).unwrap();
    for (r, got) in refs.iter().zip(&batched) {
        assert_eq!(r.embedding.len(), 384);
        let cos = cosine(got, &r.embedding);
        assert!(cos >= 0.99999, "{:?} ({} tokens): cosine {cos} to the reference", r.text, r.tokens);
        let alone = e.embed(&[&r.text]).unwrap().remove(0);
        let cos = cosine(&alone, &r.embedding);
        assert!(cos >= 0.99999, "{:?} embedded alone: cosine {cos} to the reference", r.text);
    }
}

#[test]
fn counts_tokens_like_the_reference_tokenizer() {
    let e = embedder();
    for r in &reference().sentences {
        assert_eq!(e.count_tokens(&r.text), r.tokens, "{:?}", r.text);
    }
}

#[test]
fn paraphrases_are_closer_than_unrelated_text() {
    let e = embedder();
    let v = e
        .embed(&[
            "The cat sits on the mat.",
            "A cat is sitting on a rug.",
            "Quarterly revenue grew by 12 percent compared to last year.",
            "How do I reset my password?",
            "Steps to recover a forgotten account password",
        ])
        .unwrap();
    let (cat, cat2, revenue, reset, recover) = (&v[0], &v[1], &v[2], &v[3], &v[4]);
    assert!(
        cosine(cat, cat2) > cosine(cat, revenue) + 0.3,
        "cat/cat {} cat/revenue {}",
        cosine(cat, cat2),
        cosine(cat, revenue)
    );
    assert!(cosine(reset, recover) > cosine(reset, cat) + 0.3);
    assert!(cosine(reset, recover) > cosine(recover, revenue) + 0.3);
}

#[test]
fn results_do_not_depend_on_batch_composition() {
    let e = embedder();
    let refs = &reference().sentences;
    let long = refs.iter().max_by_key(|r| r.tokens).unwrap().text.as_str();
    let short = "How do I reset my password?";
    let alone = e.embed(&[short]).unwrap().remove(0);
    let mixed = e.embed(&[long, short, "hello world", long]).unwrap();
    let diff = max_abs_diff(&mixed[1], &alone);
    assert!(diff < 1e-5, "padding changed the result by {diff}");
    assert!(max_abs_diff(&mixed[0], &mixed[3]) < 1e-6);
}

#[test]
fn single_threaded_and_small_batches_agree() {
    let dir = model_dir();
    let e = LocalEmbedder::load(&dir, &LocalOptions { batch_size: 2, threads: 1, ..LocalOptions::default() }).unwrap();
    assert_eq!(e.threads(), 1);
    let refs = &reference().sentences;
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    for (r, got) in refs.iter().zip(e.embed(&texts).unwrap()) {
        assert!(cosine(&got, &r.embedding) >= 0.99999, "{:?}", r.text);
    }
}

#[test]
fn installed_model_passes_verification() {
    model::verify(&model_dir()).unwrap();
}

/// `embedder.precision: int16` (integer linear layers) stays within this cosine of the f32
/// reference: close enough that vectors of both precisions share one index (measured: lowest
/// 0.99997 over these sentences, 0.99998 over 150 SciFact abstracts).
const INT16_MIN_COSINE: f32 = 0.9999;

#[test]
fn int16_precision_stays_within_its_stated_cosine_of_the_reference() {
    let opts = LocalOptions { precision: Precision::Int16, threads: 2, ..LocalOptions::default() };
    let e = LocalEmbedder::load(&model_dir(), &opts).unwrap();
    assert_eq!(e.precision(), Precision::Int16);
    assert_eq!(e.model_id(), "builtin/all-MiniLM-L6-v2", "int16 vectors share the f32 model's index");
    let refs = &reference().sentences;
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let f32_vectors = embedder().embed(&texts).unwrap();
    for ((r, got), f) in refs.iter().zip(e.embed(&texts).unwrap()).zip(&f32_vectors) {
        let cos = cosine(&got, &r.embedding);
        assert!(cos >= INT16_MIN_COSINE, "{:?} ({} tokens): int16 cosine {cos} to the reference", r.text, r.tokens);
        // Really quantized: not bit-identical to the f32 path.
        assert!(max_abs_diff(&got, f) > 1e-7, "{:?}: int16 gave exactly the f32 vector", r.text);
    }
}
