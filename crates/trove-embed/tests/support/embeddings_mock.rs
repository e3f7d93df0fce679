//! A scripted HTTP server speaking the OpenAI, Azure and Ollama embeddings APIs, for tests of
//! the REST embedder (this crate's `tests/rest.rs`, and the `trove` binary's end-to-end test).
//! It also plays an HTTPS/HTTP proxy: a `CONNECT` is accepted and the tunnelled request served.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Clone)]
pub enum Reply {
    /// Embeddings of this dimension in the protocol's format (OpenAI answers in reverse order,
    /// with indexes).
    Vectors(usize),
    /// A status, extra headers and a body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// Wait, then answer like `Vectors`.
    Slow(Duration, usize),
    /// Bag-of-words vectors of this dimension (each lowercase word adds 1 at a position
    /// hashed from it), so that texts sharing words are similar: enough for search to rank.
    Hashed(usize),
    /// Like `Hashed`, with the dimension and a delay chosen by the request's `model`: two
    /// models served side by side (an unknown model is answered 404).
    PerModel(Vec<(&'static str, Duration, usize)>),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn inputs(&self) -> usize {
        self.body["input"].as_array().map_or(0, Vec::len)
    }
}

/// A scripted server on 127.0.0.1:0; replies are used in order, the last one repeats.
pub struct Mock {
    pub addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    pub fn start(ollama: bool, script: Vec<Reply>) -> Mock {
        Mock::listen(script, move |stream, reply, log| serve(stream, reply, ollama, log))
    }

    /// Like [`Mock::start`] (OpenAI protocol), over TLS with this certificate chain and key
    /// (PEM). A handshake the client aborts is logged as nothing.
    pub fn start_tls(script: Vec<Reply>, cert_pem: &str, key_pem: &str) -> Mock {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes()).map(|c| c.unwrap()).collect();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let config = Arc::new(config);
        Mock::listen(script, move |stream, reply, log| {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            serve(rustls::StreamOwned::new(conn, stream), reply, false, log);
        })
    }

    /// Accepts connections on 127.0.0.1:0, each answered by `handle` on its own thread with
    /// the next reply of the script (the last one repeats).
    fn listen(
        script: Vec<Reply>,
        handle: impl Fn(TcpStream, Reply, &Mutex<Vec<Seen>>) + Send + Sync + 'static,
    ) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let handle = Arc::new(handle);
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let reply = script.get(n).or(script.last()).cloned().unwrap();
                let (log, handle) = (log.clone(), handle.clone());
                std::thread::spawn(move || handle(stream, reply, &log));
            }
        });
        Mock { addr, seen }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: impl Read + Write, reply: Reply, ollama: bool, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    if line.starts_with("CONNECT ") {
        // Playing a proxy: accept the tunnel, then serve the request that comes through it.
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim_end().is_empty() {
                break;
            }
        }
        log.lock().unwrap().push(Seen {
            line: line.trim_end().to_string(),
            headers: vec![],
            body: serde_json::Value::Null,
        });
        reader.get_mut().write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize =
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let seen =
        Seen { line: line.trim_end().to_string(), headers, body: serde_json::from_slice(&body).unwrap_or_default() };
    let inputs = seen.inputs();
    let texts: Vec<String> =
        seen.body["input"].as_array().into_iter().flatten().map(|t| t.as_str().unwrap_or("").to_string()).collect();
    let seen_model = seen.body["model"].as_str().map(str::to_string);
    log.lock().unwrap().push(seen);
    let encode = |v: Vec<Vec<f32>>| {
        if ollama {
            serde_json::json!({"model": "m", "embeddings": v}).to_string()
        } else {
            let data: Vec<_> = v
                .iter()
                .enumerate()
                .rev()
                .map(|(i, e)| serde_json::json!({"object": "embedding", "index": i, "embedding": e}))
                .collect();
            serde_json::json!({"object": "list", "data": data, "model": "m"}).to_string()
        }
    };
    // Vector i points along axis (i % dim), so order can be checked after normalising.
    let vectors = |dim: usize| {
        encode((0..inputs).map(|i| (0..dim).map(|d| if d == i % dim { 3.0 } else { 0.0 }).collect()).collect())
    };
    let (status, extra, text) = match reply {
        Reply::Vectors(dim) => (200, vec![], vectors(dim)),
        Reply::Status(s, h, b) => (s, h, b),
        Reply::Hashed(dim) => (200, vec![], encode(hashed(&texts, dim))),
        Reply::PerModel(models) => {
            let model = seen_model.as_deref().unwrap_or("");
            match models.iter().find(|(m, _, _)| *m == model) {
                Some((_, wait, dim)) => {
                    std::thread::sleep(*wait);
                    (200, vec![], encode(hashed(&texts, *dim)))
                }
                None => (404, vec![], format!(r#"{{"error":{{"message":"model `{model}` not found"}}}}"#)),
            }
        }
        Reply::Slow(wait, dim) => {
            std::thread::sleep(wait);
            (200, vec![], vectors(dim))
        }
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        text.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let stream = reader.get_mut();
    let _ = stream.write_all(format!("{head}\r\n{text}").as_bytes());
    let _ = stream.flush();
}

/// Bag-of-words vectors: each lowercase alphanumeric word adds 1 at a hashed position.
fn hashed(texts: &[String], dim: usize) -> Vec<Vec<f32>> {
    texts
        .iter()
        .map(|t| {
            let mut v = vec![0f32; dim];
            for w in t.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                let h = w
                    .to_lowercase()
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
                v[(h % dim as u64) as usize] += 1.0;
            }
            v[0] += 0.01; // never the zero vector
            v
        })
        .collect()
}
