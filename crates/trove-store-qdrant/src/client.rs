//! The Qdrant REST client: one blocking `ureq` agent with a time limit on every request, the
//! `api-key` header when configured, bounded retries with exponential backoff and full jitter
//! for transient failures only (connection errors, time limits, 5xx, 429 with `Retry-After`),
//! never for 4xx answers, and a circuit breaker ([`trove_http::Breaker`], timed by the options'
//! clock): after [`BREAKER_FAILURES`] transient failures in a row, calls fail at once for
//! [`BREAKER_OPEN`], then one call is let through to try.
//! Failures are `StoreError::Unavailable` (transient: an outage fails fast and heals without a
//! restart) or `StoreError::Database` (Qdrant refused the request), naming the URL and what to
//! check; the API key never appears in them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use trove_clock::SharedClock;
use trove_http::{Breaker, BreakerChange, Failure, GaveUp, Retries};
use trove_store::StoreError;

/// Transient failures in a row that open the breaker.
pub const BREAKER_FAILURES: u32 = 3;
/// How long an open breaker refuses calls.
pub const BREAKER_OPEN: Duration = Duration::from_secs(5);
/// The most bytes of an answer read (a scroll page of ids, a batch of hits).
const MAX_BODY: u64 = 256 * 1024 * 1024;

/// How to reach Qdrant.
#[derive(Clone)]
pub struct ClientOptions {
    /// The REST base URL (`http://qdrant:6333`).
    pub url: String,
    /// Sent as the `api-key` header.
    pub api_key: Option<String>,
    /// Longest time one request may take.
    pub timeout: Duration,
    /// Retries of a transient failure.
    pub max_retries: u32,
    /// The first retry's delay ceiling (doubling each time, at most 30 s).
    pub retry_delay: Duration,
    /// How long the open circuit breaker refuses calls ([`BREAKER_OPEN`] by default).
    pub breaker_cooldown: Duration,
    /// Times the circuit breaker and reads `Retry-After` dates.
    pub clock: SharedClock,
}

impl ClientOptions {
    /// Options for `url`: 10 s per request, 3 retries from 200 ms, the breaker's 5 s pause.
    pub fn new(url: impl Into<String>) -> ClientOptions {
        ClientOptions {
            url: url.into(),
            api_key: None,
            timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_delay: Duration::from_millis(200),
            breaker_cooldown: BREAKER_OPEN,
            clock: trove_clock::system(),
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_delay", &self.retry_delay)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("clock", &self.clock)
            .finish()
    }
}

/// A Qdrant REST client.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    opts: ClientOptions,
    breaker: Breaker,
    requests: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
}

/// What a client has done, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Of those, retries.
    pub retries: u64,
    /// Calls that failed (after retries, refused, or by the open breaker).
    pub failures: u64,
}

/// Why one attempt failed: worth another attempt (after the server's `Retry-After`, if it
/// named one), or Qdrant refused the request (its status and why).
type Failed = Failure<String, (u16, String)>;

/// The longest wait between two attempts, whether the backoff's or the server's.
const RETRY_WAIT_MAX: Duration = Duration::from_secs(30);

impl Client {
    /// Prepares the client; makes no request.
    pub fn new(mut opts: ClientOptions) -> Client {
        opts.url = opts.url.trim_end_matches('/').to_string();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout))
            .user_agent(concat!("trove/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build();
        let breaker = Breaker::new(BREAKER_FAILURES, opts.breaker_cooldown, opts.clock.clone());
        Client {
            agent: ureq::Agent::new_with_config(config),
            opts,
            breaker,
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// What this client has done so far.
    pub fn counters(&self) -> Counters {
        Counters {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.opts.url
    }

    fn what(&self) -> String {
        format!("Qdrant at {}", self.opts.url)
    }

    /// Wall time by the options' clock.
    fn wall_now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.opts.clock.now_ms().max(0) as u64)
    }

    /// Whether the breaker refuses calls now.
    pub fn circuit_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value, StoreError> {
        self.call("GET", path, None)
    }

    /// `GET /`: Qdrant's name and version (the whole answer, which has no `result`).
    pub fn get_root(&self) -> Result<Value, StoreError> {
        self.call_raw("GET", "/", None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, StoreError> {
        self.call("POST", path, Some(body))
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Result<Value, StoreError> {
        self.call("PUT", path, Some(body))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Value, StoreError> {
        self.call("DELETE", path, None)
    }

    /// One call with its retries; the answer's `result`.
    pub fn call(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<Value, StoreError> {
        Ok(self.call_raw(method, path, body)?.get("result").cloned().unwrap_or(Value::Null))
    }

    /// One call with its retries; the whole answer.
    pub fn call_raw(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<Value, StoreError> {
        let answer = self.call_counted(method, path, body);
        if answer.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    fn call_counted(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<Value, StoreError> {
        let permit = self.breaker.admit().map_err(|open| StoreError::Unavailable {
            what: self.what(),
            reason: format!(
                "{} requests in a row failed, so requests are refused for {:.1} s before one is tried again (last: {}): check that Qdrant is running and reachable",
                open.failures,
                self.opts.breaker_cooldown.as_secs_f64(),
                open.last_error.as_deref().unwrap_or("unknown")
            ),
        })?;
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let retries = Retries {
            max_retries: self.opts.max_retries,
            backoff_min: self.opts.retry_delay,
            backoff_max: RETRY_WAIT_MAX,
            retry_after_max: RETRY_WAIT_MAX,
        };
        let answer = retries.run(
            |_| {
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.attempt(method, path, body.as_deref())
            },
            |detail, wait| {
                tracing::debug!(method, path, %detail, delay_ms = wait.delay.as_millis() as u64, "retrying a Qdrant request");
                std::thread::sleep(wait.delay);
                self.retries.fetch_add(1, Ordering::Relaxed);
            },
        );
        match answer {
            Ok(v) => {
                permit.succeeded();
                Ok(v)
            }
            Err(GaveUp::Fatal((status, detail))) => {
                // Qdrant answered: it is reachable, whatever it thought of the request.
                permit.succeeded();
                Err(self.refused(method, path, status, &detail))
            }
            Err(GaveUp::Exhausted { last: detail, attempts }) => {
                let reason = format!(
                    "{method} {path}: {detail} (after {attempts} attempts): check that Qdrant is running and reachable at storage.qdrant.url"
                );
                if permit.failed(reason.clone()) == BreakerChange::Opened {
                    tracing::warn!(url = %self.opts.url, error = %reason, "Qdrant circuit breaker opened");
                }
                Err(StoreError::Unavailable { what: self.what(), reason })
            }
        }
    }

    fn refused(&self, method: &str, path: &str, status: u16, detail: &str) -> StoreError {
        let hint = match status {
            401 | 403 => "Qdrant wants another API key: set storage.qdrant.api_key to its service key",
            404 => "the collection or point is missing: `trove doctor --only store` checks the collections",
            _ => "the request does not suit this Qdrant (an older version?): Trove needs Qdrant 1.10 or newer",
        };
        let reason = format!("{method} {path}: HTTP {status}: {detail}; {hint}");
        if matches!(status, 401 | 403) {
            // The server will not change its mind: fail like an outage so health shows it.
            return StoreError::Unavailable { what: self.what(), reason };
        }
        StoreError::Database { what: self.what(), reason }
    }

    fn attempt(&self, method: &'static str, path: &str, body: Option<&[u8]>) -> Result<Value, Failed> {
        let url = format!("{}{path}", self.opts.url);
        let key = self.opts.api_key.as_deref();
        let sent = match (method, body) {
            ("PUT", Some(b)) | ("POST", Some(b)) => {
                let mut r = if method == "PUT" { self.agent.put(&url) } else { self.agent.post(&url) };
                r = r.header("Content-Type", "application/json");
                if let Some(k) = key {
                    r = r.header("api-key", k);
                }
                r.send(b)
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                if let Some(k) = key {
                    r = r.header("api-key", k);
                }
                r.call()
            }
            _ => {
                let mut r = self.agent.get(&url);
                if let Some(k) = key {
                    r = r.header("api-key", k);
                }
                r.call()
            }
        };
        let mut response = sent.map_err(|e| Failure::Retry(transport(&e), None))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| trove_http::parse_retry_after(v, self.wall_now()));
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| Failure::Retry(format!("the answer was cut off: {}", transport(&e)), None))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map_err(|e| Failure::Fatal((status, format!("the answer is not JSON ({e})"))));
        }
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["status"]["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.chars().take(300).collect());
        if status == 429 || status >= 500 {
            return Err(Failure::Retry(format!("HTTP {status}: {detail}"), retry_after));
        }
        Err(Failure::Fatal((status, detail)))
    }
}

fn transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "no answer within storage.qdrant.timeout_s".into(),
        ureq::Error::ConnectionFailed => "connection refused".into(),
        ureq::Error::HostNotFound => "host not found (Name or service not known)".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            "no answer within storage.qdrant.timeout_s".into()
        }
        other => other.to_string(),
    }
}
