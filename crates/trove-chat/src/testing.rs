//! A fake OpenAI-compatible chat server for tests (feature `testing`): it listens on
//! `127.0.0.1:0`, hands every `POST .../chat/completions` to a closure of the test with the
//! number of the call, and answers with the [`Script`] it returns: an answer (whole, or
//! streamed as Server-Sent Events token by token at a fixed pace, optionally stalling), or an
//! error status with headers. It records the requests, the tokens it streamed, and the streams
//! whose client went away before the end. Vision requests (captions) are chat requests, so
//! the same server answers them; [`Request`]s show the image sent ([`image_of`]).
//!
//! [`FakeWhisper`] is a fake OpenAI-compatible transcription server: it reads the multipart
//! upload of `POST .../audio/transcriptions` ([`Upload`]) and answers with the [`Reply`] a
//! closure of the test returns, such as [`FakeWhisper::verbose_json`] segments, a 429, or a
//! late answer. Not for production: they trust their client.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use trove_http::testing::{Reply, Request};

/// What the fake server does with one request.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answers with these pieces (joined for a whole answer; one SSE chunk each when the
    /// request asks for a stream).
    Answer {
        /// The answer's pieces.
        tokens: Vec<String>,
        /// The pause after each streamed piece.
        pace: Duration,
        /// Stop for this long after this many pieces (a stall mid-answer).
        stall: Option<(usize, Duration)>,
        /// Report `usage` (prompt 100 tokens, completion one per piece).
        usage: bool,
    },
    /// Answers with a status, headers and a body, after a delay.
    Status {
        /// The HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: String,
        /// Wait this long before answering.
        delay: Duration,
    },
}

impl Script {
    /// An answer of these pieces, at once, with usage.
    pub fn answer(tokens: &[&str]) -> Script {
        Script::Answer {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            pace: Duration::ZERO,
            stall: None,
            usage: true,
        }
    }

    /// An error status with an OpenAI-style error body.
    pub fn status(status: u16, message: &str) -> Script {
        Script::Status {
            status,
            headers: Vec::new(),
            body: serde_json::json!({"error": {"message": message}}).to_string(),
            delay: Duration::ZERO,
        }
    }

    /// With one more header (for [`Script::Status`]).
    pub fn header(mut self, name: &str, value: &str) -> Script {
        if let Script::Status { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// Streamed pieces follow each other `pace` apart (for [`Script::Answer`]).
    pub fn paced(mut self, every: Duration) -> Script {
        if let Script::Answer { pace, .. } = &mut self {
            *pace = every;
        }
        self
    }

    /// Stalls for `pause` after `after` pieces (for [`Script::Answer`]); an error status is
    /// delayed by `pause` instead.
    pub fn stalled(mut self, after: usize, pause: Duration) -> Script {
        match &mut self {
            Script::Answer { stall, .. } => *stall = Some((after, pause)),
            Script::Status { delay, .. } => *delay = pause,
        }
        self
    }

    /// Without `usage` (for [`Script::Answer`]).
    pub fn without_usage(mut self) -> Script {
        if let Script::Answer { usage, .. } = &mut self {
            *usage = false;
        }
        self
    }
}

type Handler = dyn Fn(&Request, usize) -> Script + Send + Sync;

#[derive(Default)]
struct Log {
    requests: Mutex<Vec<Request>>,
    streamed: AtomicUsize,
    abandoned: AtomicUsize,
    calls: AtomicUsize,
}

/// A running fake chat server; stops when dropped.
pub struct FakeChat {
    addr: SocketAddr,
    log: Arc<Log>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for FakeChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeChat").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl FakeChat {
    /// Starts a server answering the `n`th call (from 0) with `handler(request, n)`.
    pub fn start(handler: impl Fn(&Request, usize) -> Script + Send + Sync + 'static) -> FakeChat {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let log = Arc::new(Log::default());
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (log2, stopped) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (handler, log) = (handler.clone(), log2.clone());
                std::thread::spawn(move || serve(stream, handler.as_ref(), &log));
            }
        });
        FakeChat { addr, log, stop }
    }

    /// Answers every call with the same script.
    pub fn always(script: Script) -> FakeChat {
        FakeChat::start(move |_, _| script.clone())
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL to configure.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests answered so far (or being answered).
    pub fn calls(&self) -> usize {
        self.log.calls.load(Ordering::SeqCst)
    }

    /// Pieces written to streams so far.
    pub fn streamed(&self) -> usize {
        self.log.streamed.load(Ordering::SeqCst)
    }

    /// Streams whose client went away before their end (the server stopped writing them).
    pub fn abandoned(&self) -> usize {
        self.log.abandoned.load(Ordering::SeqCst)
    }

    /// [`FakeChat::abandoned`] once it is not zero, or after `within`: the server notices a
    /// client that left at its next writes, so this waits for real I/O, bounded.
    pub fn wait_abandoned(&self, within: Duration) -> usize {
        let deadline = std::time::Instant::now() + within;
        while self.abandoned() == 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        self.abandoned()
    }
}

impl Drop for FakeChat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Log) {
    let Some(request) = trove_http::testing::read_request(&stream) else { return };
    log.requests.lock().unwrap_or_else(|e| e.into_inner()).push(request.clone());
    let n = log.calls.fetch_add(1, Ordering::SeqCst);
    let streaming = request.json()["stream"] == serde_json::Value::Bool(true);
    let mut out = &stream;
    match handler(&request, n) {
        Script::Status { status, headers, body, delay } => {
            std::thread::sleep(delay);
            let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("Content-Type: application/json\r\n\r\n");
            let _ = out.write_all(head.as_bytes()).and_then(|()| out.write_all(body.as_bytes()));
        }
        Script::Answer { tokens, pace, stall, usage } => {
            let usage_json = serde_json::json!({"prompt_tokens": 100, "completion_tokens": tokens.len()});
            if !streaming {
                let mut answer = serde_json::json!({
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": tokens.concat()}, "finish_reason": "stop"}],
                });
                if usage {
                    answer["usage"] = usage_json;
                }
                if let Some((_, pause)) = stall {
                    std::thread::sleep(pause);
                }
                let body = answer.to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = out.write_all(head.as_bytes()).and_then(|()| out.write_all(body.as_bytes()));
            } else {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
                if out.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
                    let c = serde_json::json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
                    format!("data: {c}\n\n")
                };
                for (i, token) in tokens.iter().enumerate() {
                    if stall.is_some_and(|(after, _)| after == i) {
                        std::thread::sleep(stall.map(|s| s.1).unwrap_or_default());
                    }
                    let sent = out
                        .write_all(chunk(serde_json::json!({"content": token}), serde_json::Value::Null).as_bytes())
                        .and_then(|()| out.flush());
                    if sent.is_err() {
                        log.abandoned.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    log.streamed.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(pace);
                }
                let mut tail = chunk(serde_json::json!({}), "stop".into());
                if usage {
                    tail.push_str(&format!("data: {}\n\n", serde_json::json!({"choices": [], "usage": usage_json})));
                }
                tail.push_str("data: [DONE]\n\n");
                if out.write_all(tail.as_bytes()).is_err() {
                    log.abandoned.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
    let _ = out.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// The image of a vision request (`data:` URL in an `image_url` part): its media type and
/// base64 text; `None` when the request carries none.
pub fn image_of(request: &Request) -> Option<(String, String)> {
    let body = request.json();
    let parts = body["messages"].as_array()?.iter().filter_map(|m| m["content"].as_array()).flatten();
    for part in parts {
        if part["type"] == "image_url" {
            let url = part["image_url"]["url"].as_str()?;
            let rest = url.strip_prefix("data:")?;
            let (mime, data) = rest.split_once(";base64,")?;
            return Some((mime.to_string(), data.to_string()));
        }
    }
    None
}

/// A multipart upload as [`FakeWhisper`] read it.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// The text fields, in order (`model`, `response_format`...).
    pub fields: Vec<(String, String)>,
    /// The file part's `filename`.
    pub file_name: String,
    /// The file part's `Content-Type`.
    pub content_type: String,
    /// The file's bytes.
    pub file: Vec<u8>,
}

impl Upload {
    /// The first value of a text field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Reads the `multipart/form-data` body of `request`; `None` when it is not one.
    pub fn parse(request: &Request) -> Option<Upload> {
        let boundary = request.header("content-type")?.split("boundary=").nth(1)?.trim().to_string();
        let delimiter = format!("--{boundary}");
        let body = &request.body;
        let mut upload = Upload::default();
        let mut starts = Vec::new();
        let mut i = 0;
        while let Some(at) = find(&body[i..], delimiter.as_bytes()) {
            starts.push(i + at);
            i += at + delimiter.len();
        }
        for pair in starts.windows(2) {
            let part = &body[pair[0] + delimiter.len()..pair[1]];
            let part = part.strip_prefix(b"\r\n")?.strip_suffix(b"\r\n")?;
            let split = find(part, b"\r\n\r\n")?;
            let head = String::from_utf8_lossy(&part[..split]).to_string();
            let content = &part[split + 4..];
            let name = head.split("name=\"").nth(1)?.split('"').next()?.to_string();
            match head.split("filename=\"").nth(1) {
                Some(file_name) => {
                    upload.file_name = file_name.split('"').next()?.to_string();
                    upload.content_type =
                        head.lines().find_map(|l| l.strip_prefix("Content-Type: ")).unwrap_or_default().to_string();
                    upload.file = content.to_vec();
                }
                None => upload.fields.push((name, String::from_utf8_lossy(content).to_string())),
            }
        }
        Some(upload)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

type WhisperHandler = dyn Fn(&Upload, usize) -> Reply + Send + Sync;

/// A running fake transcription server; stops when dropped.
pub struct FakeWhisper {
    server: trove_http::testing::MockServer,
}

impl std::fmt::Debug for FakeWhisper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeWhisper").field("url", &self.server.url()).finish_non_exhaustive()
    }
}

impl FakeWhisper {
    /// Starts a server answering the `n`th upload (from 0) with `handler(upload, n)`; a
    /// request that is not a multipart upload gets a 400.
    pub fn start(handler: impl Fn(&Upload, usize) -> Reply + Send + Sync + 'static) -> FakeWhisper {
        let calls = AtomicUsize::new(0);
        let handler: Box<WhisperHandler> = Box::new(handler);
        let server = trove_http::testing::MockServer::start(move |request| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            match Upload::parse(request) {
                Some(upload) if !upload.file.is_empty() => handler(&upload, n),
                _ => Reply::json(
                    400,
                    &serde_json::json!({"error": {"message": "expected a multipart upload with a file"}}),
                ),
            }
        });
        FakeWhisper { server }
    }

    /// A `verbose_json` answer of these segments (`start`, `end`, `text`).
    pub fn verbose_json(segments: &[(f64, f64, &str)]) -> Reply {
        let text: Vec<&str> = segments.iter().map(|s| s.2).collect();
        let segments: Vec<serde_json::Value> = segments
            .iter()
            .enumerate()
            .map(|(id, (start, end, text))| serde_json::json!({"id": id, "start": start, "end": end, "text": text}))
            .collect();
        Reply::json(
            200,
            &serde_json::json!({
                "task": "transcribe",
                "language": "english",
                "duration": segments.last().map_or(0.0, |s| s["end"].as_f64().unwrap_or(0.0)),
                "text": text.join(""),
                "segments": segments,
            }),
        )
    }

    /// An OpenAI-style error answer.
    pub fn status(status: u16, message: &str) -> Reply {
        Reply::json(status, &serde_json::json!({"error": {"message": message}}))
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL to configure.
    pub fn url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }

    /// Every upload read so far.
    pub fn uploads(&self) -> Vec<Upload> {
        self.requests().iter().filter_map(Upload::parse).collect()
    }
}
