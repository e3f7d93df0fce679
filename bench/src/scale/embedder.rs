//! The benchmark's embeddings server: an OpenAI-compatible `POST /v1/embeddings` on
//! `127.0.0.1:0`, run by a small tokio runtime inside the benchmark process, answering hashed
//! bag-of-words vectors, so that Trove's figures do not include a model.
//!
//! A vector ([`hashed_vector`]) has [`DIMENSION`] dimensions: every word (a run of alphanumeric
//! characters, lower-cased) adds ±1 to the dimension its FNV-1a hash picks (the sign from the
//! hash's top bit), and the sum is L2-normalised; a text without words gets the first unit
//! vector. It is deterministic and costs microseconds.
//!
//! While a capture is on, every input text the server is asked for is appended to
//! `texts.jsonl` (one JSON string a line) and its vector to `vectors.f32` (little-endian f32,
//! [`DIMENSION`] a row, same order): during an ingest these are exactly the chunks and vectors
//! Trove stored, which the exact search and LanceDB then get. Texts seen before are written
//! again (two chunks may embed the same text) and counted, since a retried request would also
//! repeat them: the caller compares the rows with Trove's chunk count.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

/// Dimensions of every vector.
pub const DIMENSION: usize = 384;

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The hashed bag-of-words vector of `text` (see the module documentation).
pub fn hashed_vector(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIMENSION];
    let mut word = String::new();
    let mut add = |word: &mut String| {
        if !word.is_empty() {
            let h = fnv1a(word.as_bytes());
            v[(h % DIMENSION as u64) as usize] += if h >> 63 == 1 { -1.0 } else { 1.0 };
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            add(&mut word);
        }
    }
    add(&mut word);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        v[0] = 1.0;
    } else {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Where a capture writes, and what it has seen.
struct Capture {
    texts: BufWriter<std::fs::File>,
    vectors: BufWriter<std::fs::File>,
    /// FNV-1a of every text written.
    seen: HashSet<u64>,
    /// Rows written.
    rows: usize,
    /// Rows whose text had been written before.
    repeats: u64,
}

/// What a finished capture wrote.
#[derive(Debug, Clone, Copy)]
pub struct Captured {
    /// Texts (rows of both files).
    pub rows: usize,
    /// Rows whose text an earlier row has.
    pub repeats: u64,
}

/// State the handler shares.
struct Shared {
    capture: Mutex<Option<Capture>>,
    /// Requests answered.
    requests: AtomicU64,
    /// Input texts embedded.
    inputs: AtomicU64,
}

/// The running server; stops when dropped.
pub struct EmbeddingServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Kept for the server's life; dropping it stops the server's tasks.
    _runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for EmbeddingServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(serde::Deserialize)]
struct EmbeddingRequest {
    input: Input,
    #[serde(default)]
    model: Option<String>,
}

#[derive(serde::Serialize)]
struct Item {
    object: &'static str,
    index: usize,
    embedding: Vec<f32>,
}

#[derive(serde::Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

#[derive(serde::Serialize)]
struct EmbeddingResponse {
    object: &'static str,
    data: Vec<Item>,
    model: String,
    usage: Usage,
}

impl EmbeddingServer {
    /// Binds `127.0.0.1:0` and serves on two runtime threads.
    pub fn start() -> Result<EmbeddingServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("embeddings")
            .enable_all()
            .build()
            .context("cannot start the embeddings server's runtime")?;
        let shared =
            Arc::new(Shared { capture: Mutex::new(None), requests: AtomicU64::new(0), inputs: AtomicU64::new(0) });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("cannot bind the embeddings server to 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route("/v1/embeddings", post(embeddings))
            .layer(axum::extract::DefaultBodyLimit::max(256 << 20))
            .with_state(shared.clone());
        runtime.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("embeddings server stopped: {e}");
            }
        });
        Ok(EmbeddingServer { addr, shared, _runtime: runtime })
    }

    /// The base URL Trove's `llm.base_url` takes (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests answered and texts embedded so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.shared.requests.load(Ordering::Relaxed), self.shared.inputs.load(Ordering::Relaxed))
    }

    /// Starts capturing into `dir/texts.jsonl` and `dir/vectors.f32` (created anew).
    pub fn start_capture(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let open = |name: &str| -> Result<BufWriter<std::fs::File>> {
            let path = dir.join(name);
            Ok(BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?,
            ))
        };
        let capture = Capture {
            texts: open("texts.jsonl")?,
            vectors: open("vectors.f32")?,
            seen: HashSet::new(),
            rows: 0,
            repeats: 0,
        };
        *self.shared.capture.lock().unwrap_or_else(|e| e.into_inner()) = Some(capture);
        Ok(())
    }

    /// Stops the capture and flushes its files.
    pub fn stop_capture(&self) -> Result<Captured> {
        let taken = self.shared.capture.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut capture = taken.context("no capture was running")?;
        capture.texts.flush().context("cannot write texts.jsonl")?;
        capture.vectors.flush().context("cannot write vectors.f32")?;
        Ok(Captured { rows: capture.rows, repeats: capture.repeats })
    }
}

/// The paths a capture in `dir` writes.
pub fn capture_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("texts.jsonl"), dir.join("vectors.f32"))
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<EmbeddingRequest>,
) -> Result<Json<EmbeddingResponse>, (StatusCode, String)> {
    let texts = match request.input {
        Input::One(t) => vec![t],
        Input::Many(v) => v,
    };
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| hashed_vector(t)).collect();
    shared.requests.fetch_add(1, Ordering::Relaxed);
    shared.inputs.fetch_add(texts.len() as u64, Ordering::Relaxed);
    {
        let mut guard = shared.capture.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(capture) = guard.as_mut() {
            write_captured(capture, &texts, &vectors)
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("capture failed: {e:#}")))?;
        }
    }
    let tokens = texts.iter().map(|t| t.len().div_ceil(4)).sum();
    let data = vectors.into_iter().enumerate().map(|(index, embedding)| Item { object: "embedding", index, embedding });
    Ok(Json(EmbeddingResponse {
        object: "list",
        data: data.collect(),
        model: request.model.unwrap_or_else(|| "hashed-words".into()),
        usage: Usage { prompt_tokens: tokens, total_tokens: tokens },
    }))
}

fn write_captured(capture: &mut Capture, texts: &[String], vectors: &[Vec<f32>]) -> Result<()> {
    for (text, vector) in texts.iter().zip(vectors) {
        if !capture.seen.insert(fnv1a(text.as_bytes())) {
            capture.repeats += 1;
        }
        capture.rows += 1;
        serde_json::to_writer(&mut capture.texts, text)?;
        capture.texts.write_all(b"\n")?;
        for x in vector {
            capture.vectors.write_all(&x.to_le_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_normalised_deterministic_and_word_based() {
        let a = hashed_vector("The kettle boils water.");
        assert_eq!(a.len(), DIMENSION);
        assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(a, hashed_vector("the KETTLE, boils; water"));
        assert_ne!(a, hashed_vector("the kettle boils milk"));
        let empty = hashed_vector(" ... ");
        assert_eq!(empty[0], 1.0);
        assert_eq!(empty.iter().filter(|x| **x != 0.0).count(), 1);
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_server_answers_the_openai_shape_and_captures_every_text() {
        let server = EmbeddingServer::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        server.start_capture(dir.path()).unwrap();
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(std::time::Duration::from_secs(10))).build().into();
        let url = format!("{}/embeddings", server.base_url());
        let body = serde_json::json!({"model": "m", "input": ["alpha beta", "gamma"], "encoding_format": "float"});
        let post = |body: serde_json::Value| -> serde_json::Value {
            let mut r = agent.post(&url).header("content-type", "application/json").send(body.to_string()).unwrap();
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
        };
        let answer = post(body);
        assert_eq!(answer["data"][1]["index"], 1);
        let got: Vec<f32> = serde_json::from_value(answer["data"][0]["embedding"].clone()).unwrap();
        assert_eq!(got, hashed_vector("alpha beta"));
        let body = serde_json::json!({"model": "m", "input": "gamma"});
        post(body);
        let captured = server.stop_capture().unwrap();
        assert_eq!((captured.rows, captured.repeats), (3, 1));
        assert_eq!(server.counts(), (2, 3));
        let (texts, vectors) = capture_files(dir.path());
        assert_eq!(std::fs::read_to_string(texts).unwrap(), "\"alpha beta\"\n\"gamma\"\n\"gamma\"\n");
        assert_eq!(std::fs::read(vectors).unwrap().len(), 3 * DIMENSION * 4);
    }
}
