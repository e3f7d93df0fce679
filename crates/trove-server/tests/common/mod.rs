//! The harness of the HTTP integration tests: a workspace in a temporary folder, the real
//! engine with the real built-in model (installed by `scripts/test`; loaded once per test
//! binary and shared), the real server on `127.0.0.1:0` in its own runtime, and a plain
//! HTTP/1.1 client on a socket, as any client would talk to it. Tests that depend on time
//! give the engine a [`trove_clock::ManualClock`] and step it; tests that must catch a job
//! mid-way hold its embedding at a [`Gate`].

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use trove_config::Workspace;
use trove_embed::{Embedder, EmbedderWrapper, LocalEmbedder, LocalOptions};
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode};
use trove_server::{AppState, ServerOptions};

/// The built-in model, loaded once per test binary.
pub fn embedder() -> Arc<dyn Embedder> {
    static SHARED: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let dir = trove_embed::model::resolve(None).expect("the built-in model is not installed: run scripts/test");
            Arc::new(LocalEmbedder::load(&dir, &LocalOptions::default()).expect("load the model")) as Arc<dyn Embedder>
        })
        .clone()
}

/// An embedder that holds every call while it is closed, so a test can catch a job in the
/// middle of its work (and know it is there) without racing it.
pub struct Gate {
    inner: Arc<dyn Embedder>,
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    closed: bool,
    held: usize,
}

impl Gate {
    /// An open gate in front of `inner`.
    pub fn new(inner: Arc<dyn Embedder>) -> Arc<Gate> {
        Arc::new(Gate { inner, state: Mutex::default(), changed: Condvar::new() })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds the calls that come from now on.
    pub fn close(&self) {
        self.state().closed = true;
    }

    /// Lets every call through.
    pub fn open(&self) {
        self.state().closed = false;
        self.changed.notify_all();
    }

    /// Waits until a call is held at the closed gate; fails after `within`.
    pub fn wait_held(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let mut st = self.state();
        while st.held == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no embedding call reached the gate within {within:?}");
            st = self.changed.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl EmbedderWrapper for Gate {
    fn inner(&self) -> &dyn Embedder {
        self.inner.as_ref()
    }
    fn embed_wrapped(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, trove_embed::EmbedError> {
        let mut st = self.state();
        if st.closed {
            st.held += 1;
            self.changed.notify_all();
            while st.closed {
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.held -= 1;
        }
        drop(st);
        self.inner.embed(texts)
    }
}

/// A running server on a temporary workspace.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// A workspace with `config` as its `config.yaml` and a `docs` folder filled by `docs`,
    /// ingested before the server starts; `opts` changes limits.
    pub fn start_config(config: &str, docs: impl FnOnce(&Path), opts: impl FnOnce(&mut ServerOptions)) -> Server {
        Server::start_engine(config, docs, opts, |engine| engine)
    }

    /// [`Server::start_config`] with the engine changed by `setup` before anything runs on it
    /// (another clock, another embedder).
    pub fn start_engine(
        config: &str,
        docs: impl FnOnce(&Path),
        opts: impl FnOnce(&mut ServerOptions),
        setup: impl FnOnce(Engine) -> Engine,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        docs(&dir.path().join("docs"));
        let ws = Workspace::load(Some(dir.path()), None).unwrap();
        let engine = setup(Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(embedder()));
        engine.ingest(&IngestOptions::default(), &NoProgress).unwrap();
        Server::launch(dir, engine, opts)
    }

    /// Serves `engine` (whose workspace lives in `dir`).
    pub fn launch(dir: tempfile::TempDir, engine: Engine, opts: impl FnOnce(&mut ServerOptions)) -> Server {
        let mut options = ServerOptions::from_config(&engine.workspace().config.server);
        opts(&mut options);
        let state = AppState::new(engine, options);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                addr_tx.send(listener.local_addr()?).unwrap();
                trove_server::run(listener, state, async move {
                    let _ = rx.await;
                })
                .await
            })
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("the server did not start");
        Server { addr, stop: Some(tx), thread: Some(thread), dir }
    }

    /// The workspace's data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join(".trove")
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> Resp {
        request(self.addr, method, path, body, headers)
    }

    /// A JSON request with `key` as `Authorization: Bearer` (none: no header).
    pub fn call_as(&self, key: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = key.map(|k| format!("Bearer {k}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let body = body.map(|b| b.to_string());
        self.call(method, path, body.as_deref().map(str::as_bytes), &headers)
    }

    /// Calls the MCP tool `name` with `args` through `POST /mcp` as `key` (none: no header);
    /// the JSON-RPC `result` (a failed tool is a result with `isError`).
    pub fn tool(&self, key: Option<&str>, name: &str, args: Value) -> Value {
        let message = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args},
        });
        let r = self.call_as(key, "POST", "/mcp", Some(&message));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["result"].clone()
    }

    pub fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None, &[])
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(body.to_string().as_bytes()), &[("content-type", "application/json")])
    }

    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.call("PATCH", path, Some(body.to_string().as_bytes()), &[("content-type", "application/json")])
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, None, &[])
    }

    /// Sends `files` (name, content) as `multipart/form-data`, after an optional `format` field.
    pub fn upload(&self, path: &str, format: Option<&str>, files: &[(&str, &[u8])]) -> Resp {
        let boundary = "trove-test-boundary-7d1f";
        let mut body = Vec::new();
        if let Some(f) = format {
            body.extend_from_slice(
                format!("--{boundary}\r\ncontent-disposition: form-data; name=\"format\"\r\n\r\n{f}\r\n").as_bytes(),
            );
        }
        for (name, content) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\ncontent-type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.call("POST", path, Some(&body), &[("content-type", &content_type)])
    }

    /// Polls a job until `done` accepts it; panics with the last state after `within`.
    pub fn wait_job(&self, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.get(&format!("/v1/jobs/{id}")).json();
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job did not reach the expected state in {within:?}: {job}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls a job until it reaches a final status.
    pub fn wait_final(&self, id: &str) -> Value {
        self.wait_job(id, Duration::from_secs(120), |j| {
            matches!(j["status"].as_str(), Some("succeeded" | "dead" | "cancelled"))
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let result = t.join();
            if !std::thread::panicking() {
                result.expect("server thread panicked").expect("server returned an error");
            }
        }
    }
}

/// A response.
pub struct Resp {
    /// The server that answered.
    pub from: SocketAddr,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts the status and the `{message, code, type, link}` shape; returns the body.
    pub fn error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        let v = self.json();
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| m.len() > 10), "{v}");
        assert!(v["type"].is_string(), "{v}");
        follow_link(self.from, v["link"].as_str().unwrap(), code);
        assert_eq!(v.as_object().unwrap().len(), 4, "extra fields: {v}");
        v
    }
}

/// Follows an error's `link` from the server at `server` (once per link and test binary): it
/// must be `http://ADDR/docs/errors#CODE` with the address the request reached (or, on a
/// server configured with `auth.public_url`, that URL's `/docs/errors#CODE`), and the server
/// answers the page `200` with an element whose id is the code.
pub fn follow_link(server: SocketAddr, link: &str, code: &str) {
    static FOLLOWED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    if FOLLOWED.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|l| l == link) {
        return;
    }
    let (page, anchor) = link.split_once('#').unwrap_or_else(|| panic!("`{link}` has no anchor"));
    assert_eq!(anchor, code, "{link}");
    let (_, rest) = page.split_once("://").unwrap_or_else(|| panic!("`{link}` is not a URL"));
    let (host, path) = rest.split_once('/').unwrap_or_else(|| panic!("`{link}` has no path"));
    assert_eq!(path, "docs/errors", "{link}");
    if page.starts_with("http://127.") {
        assert_eq!(host, server.to_string(), "{link}");
    }
    let r = request(server, "GET", "/docs/errors", None, &[]);
    assert_eq!(r.status, 200, "{link}: {}", r.body);
    assert!(r.body.contains(&format!("id=\"{anchor}\"")), "{link}: no entry `{anchor}` on the page");
    FOLLOWED.lock().unwrap_or_else(|e| e.into_inner()).push(link.to_string());
}

/// One HTTP/1.1 exchange on a new connection.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or(b"");
    if !body.is_empty() || method == "POST" || method == "PATCH" {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no response head: {text:?}"));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    Resp { from: addr, status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}
