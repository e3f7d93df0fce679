//! The blocking HTTP client of Trove's remote sources (Confluence, JIRA), on `ureq`.
//!
//! [`Client`] owns what goes wrong with a remote API so that sources only say what they ask
//! for: every request has a time limit; connection errors, timeouts, bodies cut off mid-way and
//! 5xx answers are retried with exponential backoff and full jitter, a bounded number of times;
//! 429 and 503 honour `Retry-After` (seconds or an HTTP date, capped) and pause every request of
//! the client, not just the one that got it; a requests-per-minute limit spaces requests out.
//! The proxy comes from the environment ([`proxy_from_env`]), trust from the built-in Mozilla
//! roots plus a CA bundle (configured, else `SSL_CERT_FILE`; see [`tls`]). Credentials ([`Auth`]) travel only
//! in the `Authorization` header: they are absent from `Debug`, logs and messages. Files
//! ([`Client::get_file`], attachments) follow a bounded number of redirects, send the
//! credentials only to the configured host, and read no more than a limit of bytes.
//!
//! The model APIs (the REST embedders, the chat models) call `ureq` themselves with this
//! crate's pieces: [`tls_config`], [`proxy_from_env`], [`backoff_delay`], [`parse_retry_after`],
//! [`model_error_message`], [`redacted`], [`is_tls_failure`], the [`Breaker`], and [`Quota`] (requests and tokens per minute,
//! requests in flight, the pause after a 429, with [`estimate_tokens`]).
//!
//! Failures are [`HttpError`]s that say what to check, naming the configuration key: 401 the
//! credentials, 403 the permission on the space or project, 404 the base URL or the key,
//! DNS, TLS, time limits and dropped connections the network path. Their [`Code`] is
//! `source_refused` (fix the configuration; a job does not retry) or `source_unreachable`
//! (the network or the server; a job retries).
//!
//! ```no_run
//! use trove_http::{Auth, Client, ClientOptions};
//! let mut opts = ClientOptions::new("Confluence", "https://acme.atlassian.net", "vaults.kb.sources.wiki");
//! opts.auth = Auth::Basic { user: "ada@acme.com".into(), secret: "api-token".into() };
//! let client = Client::new(opts)?;
//! let spaces: serde_json::Value = client.get_json("/wiki/api/v2/spaces", &[("keys", "ENG")])?;
//! # Ok::<(), trove_http::HttpError>(())
//! ```

pub mod breaker;
mod limiter;
mod proxy;
pub mod quota;
mod retry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use trove_types::{Code, HasCode};

pub use crate::breaker::{Breaker, BreakerOpen, Change as BreakerChange, Permit as BreakerPermit};
use crate::limiter::Limiter;
pub use crate::proxy::proxy_from_env;
pub use crate::quota::{Quota, QuotaPermit, Sleep, estimate_tokens, real_sleep};
pub use crate::retry::{Failure, GaveUp, Retries, Wait, backoff_delay, is_tls_failure, redacted};
pub use crate::tls::tls_config;

/// The most bytes of an answer read (a page of 250 wiki pages with bodies stays well below).
const MAX_BODY: u64 = 64 * 1024 * 1024;
/// The most bytes of an error answer read.
const MAX_ERROR_BODY: u64 = 16 * 1024;

/// How requests authenticate.
#[derive(Clone, Default)]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// HTTP basic: a user (Atlassian Cloud: the account's email) and a secret (an API token).
    Basic {
        /// The user name or email.
        user: String,
        /// The password or API token.
        secret: String,
    },
    /// `Authorization: Bearer` (Atlassian Data Center: a personal access token).
    Bearer(String),
}

impl Auth {
    fn header(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Basic { user, secret } => {
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))))
            }
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
        }
    }

    fn secret(&self) -> Option<&str> {
        match self {
            Auth::None => None,
            Auth::Basic { secret, .. } | Auth::Bearer(secret) => Some(secret),
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => f.debug_struct("Basic").field("user", user).field("secret", &"***").finish(),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// What to tell the user for the answers whose fix depends on the source (filled in by it,
/// naming its configuration keys).
#[derive(Debug, Clone)]
pub struct Hints {
    /// After a 401.
    pub unauthorized: String,
    /// After a 403.
    pub forbidden: String,
    /// After a 404.
    pub not_found: String,
    /// After another 4xx (a query the server rejects).
    pub rejected: String,
}

/// Everything a [`Client`] needs.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The service's name in messages (`Confluence`, `JIRA`).
    pub service: String,
    /// The API's base URL (scheme, host, optional path), without a trailing slash.
    pub base_url: String,
    /// Credentials.
    pub auth: Auth,
    /// Time limit of one request, connecting and reading the answer included.
    pub timeout: Duration,
    /// Retries after the first attempt (on connection errors, timeouts, 429 and 5xx).
    pub max_retries: u32,
    /// First backoff delay; doubles per retry up to `backoff_max`, with full jitter.
    pub backoff_min: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// Longest wait a `Retry-After` may impose; longer ones are cut to it.
    pub retry_after_max: Duration,
    /// Requests per minute; 0 = no limit.
    pub requests_per_minute: u32,
    /// A PEM bundle of CAs to trust in addition to the built-in roots; when `None`, the file
    /// `SSL_CERT_FILE` names, if set (also in addition).
    pub ca_file: Option<PathBuf>,
    /// A proxy URL (see [`proxy_from_env`]).
    pub proxy: Option<String>,
    /// The configuration key of the source, for messages (`vaults.kb.sources.wiki`).
    pub key: String,
    /// Source-specific fixes.
    pub hints: Hints,
    /// The `User-Agent` header; `None`: `trove/<version>`.
    pub user_agent: Option<String>,
}

impl ClientOptions {
    /// Options with the defaults: 30 s per request, 5 retries from 0.5 s to 30 s, Retry-After
    /// capped at 120 s, no rate limit, no credentials, no proxy.
    pub fn new(service: &str, base_url: &str, key: &str) -> ClientOptions {
        ClientOptions {
            service: service.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            auth: Auth::None,
            timeout: Duration::from_secs(30),
            max_retries: 5,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(120),
            requests_per_minute: 0,
            ca_file: None,
            proxy: None,
            key: key.to_string(),
            hints: Hints {
                unauthorized: format!("the server refused the credentials: check those of {key}"),
                forbidden: format!("the credentials of {key} lack permission for this"),
                not_found: format!("nothing there: check {key}.base_url"),
                rejected: format!("the server rejected the request: check {key}"),
            },
            user_agent: None,
        }
    }
}

/// What kind of failure an [`HttpError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401: the credentials.
    Unauthorized,
    /// 403: a permission.
    Forbidden,
    /// 404: the URL or a key.
    NotFound,
    /// Another 4xx, or a redirect: the request.
    Rejected,
    /// 429 until the retries ran out.
    Throttled,
    /// 5xx until the retries ran out.
    Server,
    /// DNS, TLS, connection refused or reset, time limit, an answer cut off.
    Network,
    /// A 2xx whose body is not the JSON expected.
    BadAnswer,
    /// The client cannot be built (CA file, proxy URL).
    Config,
}

/// A request that failed, with what to check.
#[derive(Debug, thiserror::Error)]
#[error("{service} {method} {url} failed: {detail}; {fix}")]
pub struct HttpError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The service's name.
    pub service: String,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The URL, without the query string (which may hold user data).
    pub url: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// What the server or the network said (credentials removed, cut to a readable length).
    pub detail: String,
    /// What to check or change.
    pub fix: String,
}

impl HasCode for HttpError {
    fn code(&self) -> Code {
        match self.kind {
            ErrorKind::Unauthorized
            | ErrorKind::Forbidden
            | ErrorKind::NotFound
            | ErrorKind::Rejected
            | ErrorKind::BadAnswer
            | ErrorKind::Config => Code::SourceRefused,
            ErrorKind::Throttled | ErrorKind::Server | ErrorKind::Network => Code::SourceUnreachable,
        }
    }
}

/// The wait a `Retry-After` value asks for: delay seconds, or an HTTP date (a date already
/// past is no wait).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Accept` header of [`Client::get_page`].
const PAGE_ACCEPT: &str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5";

/// What a request asks for beyond its URL.
struct Shape<'a> {
    /// The `Accept` header.
    accept: &'a str,
    /// More headers.
    headers: &'a [(&'a str, &'a str)],
    /// 3xx answers are answers (with their `Location`), not errors.
    redirects: bool,
    /// A file: at most this many bytes of the body are read, the rest left unread (no error);
    /// `None`: the whole body, an error past [`MAX_BODY`].
    cut_at: Option<u64>,
}

impl Shape<'static> {
    const JSON: Shape<'static> = Shape { accept: "application/json", headers: &[], redirects: false, cut_at: None };
}

/// Redirects [`Client::get_file`] follows at most.
const MAX_REDIRECTS: usize = 5;

/// A successful answer: its status, headers (names in lowercase) and body (empty for 3xx).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status (2xx, or 3xx from [`Client::get_page`]).
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why one attempt failed: worth retrying (after the server's `Retry-After` when it sent
/// one), or not.
type Failed = Failure<Box<HttpError>, Box<HttpError>>;

/// A blocking client of one remote API; see the module documentation. Clones share the
/// connection pool and the rate limit.
#[derive(Clone)]
pub struct Client {
    opts: Arc<ClientOptions>,
    agent: ureq::Agent,
    limiter: Arc<Limiter>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("opts", &self.opts).finish_non_exhaustive()
    }
}

impl Client {
    /// Prepares the client (reads the CA bundle); makes no request.
    pub fn new(opts: ClientOptions) -> Result<Client, HttpError> {
        let config_error = |detail: String, fix: String| HttpError {
            kind: ErrorKind::Config,
            service: opts.service.clone(),
            method: "GET",
            url: opts.base_url.clone(),
            status: None,
            detail,
            fix,
        };
        let (ca_file, ca_key) = match &opts.ca_file {
            Some(path) => (Some(path.clone()), format!("{}.ca_file", opts.key)),
            None => (std::env::var_os("SSL_CERT_FILE").map(PathBuf::from), "SSL_CERT_FILE".to_string()),
        };
        let tls = tls_config(ca_file.as_deref(), &ca_key)
            .map_err(|e| config_error(e, format!("point {ca_key} at a PEM file of CA certificates, or remove it")))?;
        let proxy = match &opts.proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|e| {
                config_error(
                    format!("the proxy `{p}` is not usable: {e}"),
                    "fix HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, or exclude the host with NO_PROXY".into(),
                )
            })?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout))
            .proxy(proxy)
            .tls_config(tls)
            .user_agent(opts.user_agent.clone().unwrap_or_else(|| concat!("trove/", env!("CARGO_PKG_VERSION")).into()))
            .max_redirects(0)
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
            limiter: Arc::new(Limiter::new(opts.requests_per_minute)),
            opts: Arc::new(opts),
        })
    }

    /// The base URL followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.opts.base_url)
    }

    /// `GET base_url + path` with the query pairs (percent-encoded), parsed as `T`.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, HttpError> {
        let bytes = self.execute("GET", path, query, None, &Shape::JSON)?.body;
        self.parse("GET", path, &bytes)
    }

    /// `POST base_url + path` with a JSON body, the answer parsed as `T`.
    pub fn post_json<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T, HttpError> {
        let body = serde_json::to_vec(body).unwrap_or_default();
        let bytes = self.execute("POST", path, &[], Some(&body), &Shape::JSON)?.body;
        self.parse("POST", path, &bytes)
    }

    /// `GET base_url + path` (path and query already encoded) as a web page: `Accept` HTML,
    /// the `headers` given (`If-None-Match`, `If-Modified-Since`), and the answer whatever
    /// its type. A 2xx answer comes with its body; a 304 (unchanged) and other 3xx (a
    /// redirect, its `Location` among the headers) without. Other statuses are errors as for
    /// [`Client::get_json`]: retried (429, 5xx) or not (404 and other 4xx).
    pub fn get_page(&self, path: &str, headers: &[(&str, &str)]) -> Result<Answer, HttpError> {
        self.execute("GET", path, &[], None, &Shape { accept: PAGE_ACCEPT, headers, redirects: true, cut_at: None })
    }

    /// `GET` a file (an attachment's download): `path` under the base URL, following up to
    /// five redirects, to any host (Atlassian Cloud sends downloads to its media service with a
    /// token in the URL). The credentials go only to the base URL's scheme, host and port,
    /// never to another host. At most `max_bytes + 1` bytes of the body are read (0 = up to
    /// 64 MiB), so a body longer than `max_bytes` comes back cut, one byte over: the caller
    /// tells a file too large by its length (or its `content-length` header), without reading
    /// it whole. Failures are as for [`Client::get_json`].
    pub fn get_file(&self, path: &str, max_bytes: u64) -> Result<Answer, HttpError> {
        let cut_at = if max_bytes == 0 { MAX_BODY } else { max_bytes.saturating_add(1).min(MAX_BODY) };
        let shape = Shape { accept: "*/*", headers: &[], redirects: true, cut_at: Some(cut_at) };
        let mut at = path.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let answer = self.execute("GET", &at, &[], None, &shape)?;
            if !(300..400).contains(&answer.status) {
                return Ok(answer);
            }
            let Some(location) = answer.header("location").filter(|l| !l.trim().is_empty()) else {
                return Err(self.error(
                    ErrorKind::Rejected,
                    "GET",
                    &at,
                    Some(answer.status),
                    format!("HTTP {}: a redirect without a Location", answer.status),
                    self.opts.hints.rejected.clone(),
                ));
            };
            at = join_url(&self.absolute(&at), location.trim());
        }
        Err(self.error(
            ErrorKind::Rejected,
            "GET",
            &at,
            None,
            format!("more than {MAX_REDIRECTS} redirects"),
            format!("check {}.base_url: the server keeps redirecting the download", self.opts.key),
        ))
    }

    /// `path` as an absolute URL: itself when it has a scheme, else under the base URL.
    fn absolute(&self, path: &str) -> String {
        if has_scheme(path) { path.to_string() } else { self.url(path) }
    }

    /// Whether the credentials may go to `url`: the base URL's scheme, host and port.
    fn same_origin(&self, url: &str) -> bool {
        origin(url).is_some_and(|o| Some(o) == origin(&self.opts.base_url))
    }

    fn parse<T: DeserializeOwned>(&self, method: &'static str, path: &str, bytes: &[u8]) -> Result<T, HttpError> {
        serde_json::from_slice(bytes).map_err(|e| {
            let key = &self.opts.key;
            self.error(
                ErrorKind::BadAnswer,
                method,
                path,
                Some(200),
                format!("the answer is not the JSON expected: {e}"),
                format!("check that {key}.base_url points at {} (and {key}.deployment)", self.opts.service),
            )
        })
    }

    fn error(
        &self,
        kind: ErrorKind,
        method: &'static str,
        path: &str,
        status: Option<u16>,
        detail: String,
        fix: String,
    ) -> HttpError {
        HttpError {
            kind,
            service: self.opts.service.clone(),
            method,
            url: without_query(&self.absolute(path)),
            status,
            detail: redacted(&detail, self.opts.auth.secret()),
            fix,
        }
    }

    /// One request with retries; the answer's bytes.
    fn execute(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
        shape: &Shape<'_>,
    ) -> Result<Answer, HttpError> {
        let retries = Retries {
            max_retries: self.opts.max_retries,
            backoff_min: self.opts.backoff_min,
            backoff_max: self.opts.backoff_max,
            retry_after_max: self.opts.retry_after_max,
        };
        let answer = retries.run(
            |_| {
                self.limiter.acquire();
                self.attempt(method, path, query, body, shape)
            },
            |error, wait| {
                if wait.asked {
                    // Every request of this client waits, not only this one.
                    self.limiter.pause(wait.delay);
                } else {
                    std::thread::sleep(wait.delay);
                }
                tracing::warn!(
                    service = %self.opts.service,
                    url = %error.url,
                    attempt = wait.attempt + 1,
                    delay_ms = wait.delay.as_millis() as u64,
                    "request failed, retrying: {}",
                    error.detail
                );
            },
        );
        answer.map_err(|gave_up| match gave_up {
            GaveUp::Fatal(error) => *error,
            GaveUp::Exhausted { last, attempts } => {
                let mut error = *last;
                error.detail = format!("{} (after {attempts} attempts)", error.detail);
                error
            }
        })
    }

    fn attempt(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
        shape: &Shape<'_>,
    ) -> Result<Answer, Failed> {
        let url = self.absolute(path);
        // A redirect may lead to another host: the credentials stay with the configured one.
        let auth = self.opts.auth.header().filter(|_| self.same_origin(&url));
        let sent = match body {
            Some(body) => {
                let mut request = self.agent.post(&url).query_pairs(query.iter().copied());
                request = request.header("Content-Type", "application/json").header("Accept", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(body)
            }
            None => {
                let mut request = self.agent.get(&url).query_pairs(query.iter().copied());
                request = request.header("Accept", shape.accept);
                for (name, value) in shape.headers {
                    request = request.header(*name, *value);
                }
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
        };
        let mut response = sent.map_err(|e| self.transport_failure(method, path, e))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
            .collect();
        if shape.redirects && (300..400).contains(&status) {
            return Ok(Answer { status, headers, body: Vec::new() });
        }
        if (200..300).contains(&status) {
            let read = match shape.cut_at {
                Some(cut_at) => {
                    let mut body = Vec::new();
                    let reader = response.body_mut().as_reader();
                    std::io::Read::read_to_end(&mut std::io::Read::take(reader, cut_at), &mut body)
                        .map(|_| body)
                        .map_err(ureq::Error::from)
                }
                None => response.body_mut().with_config().limit(MAX_BODY).read_to_vec(),
            };
            return read.map(|body| Answer { status, headers, body }).map_err(|e| {
                let failure = self.transport_failure(method, path, e);
                match failure {
                    Failure::Retry(mut e, _) => {
                        e.detail = format!("the answer was cut off: {}", e.detail);
                        Failure::Retry(e, None)
                    }
                    fatal => fatal,
                }
            });
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let location = header("location");
        let text = response.body_mut().with_config().limit(MAX_ERROR_BODY).read_to_string().unwrap_or_default();
        let detail = format!("HTTP {status}: {}", error_message(&text));
        let key = &self.opts.key;
        let hints = &self.opts.hints;
        let fatal = |kind: ErrorKind, fix: String| {
            Failure::Fatal(Box::new(self.error(kind, method, path, Some(status), detail.clone(), fix)))
        };
        Err(match status {
            401 => fatal(ErrorKind::Unauthorized, hints.unauthorized.clone()),
            403 => fatal(ErrorKind::Forbidden, hints.forbidden.clone()),
            404 => fatal(ErrorKind::NotFound, hints.not_found.clone()),
            429 => Failure::Retry(
                Box::new(self.error(
                    ErrorKind::Throttled,
                    method,
                    path,
                    Some(status),
                    detail.clone(),
                    format!(
                        "the server keeps limiting the request rate: lower {key}.requests_per_minute or sync later"
                    ),
                )),
                retry_after,
            ),
            408 | 500..=599 => Failure::Retry(
                Box::new(self.error(
                    ErrorKind::Server,
                    method,
                    path,
                    Some(status),
                    detail.clone(),
                    format!(
                        "{} is failing or overloaded: try again later (a sync job retries by itself)",
                        self.opts.service
                    ),
                )),
                retry_after,
            ),
            300..=399 => fatal(
                ErrorKind::Rejected,
                format!(
                    "the server redirects to {}: set {key}.base_url to the address it names",
                    location.as_deref().unwrap_or("another address")
                ),
            ),
            _ => fatal(ErrorKind::Rejected, hints.rejected.clone()),
        })
    }

    fn transport_failure(&self, method: &'static str, path: &str, e: ureq::Error) -> Failed {
        let key = &self.opts.key;
        let network = |detail: String, fix: String| self.error(ErrorKind::Network, method, path, None, detail, fix);
        let path_fix = || {
            format!("check the network path to {} (connection, proxy, firewall) and {key}.base_url", self.opts.service)
        };
        if is_tls_failure(&e) {
            return Failure::Fatal(Box::new(network(
                format!("TLS failed: {e}"),
                format!(
                    "the server's certificate is not trusted: set {key}.ca_file (or SSL_CERT_FILE) to the PEM bundle of your CA"
                ),
            )));
        }
        Failure::Retry(
            Box::new(match &e {
                ureq::Error::Timeout(_) => network(
                    format!("no answer within {} s", self.opts.timeout.as_secs_f64()),
                    format!("{}, or raise {key}.timeout_s", path_fix()),
                ),
                ureq::Error::HostNotFound => network(
                    "the host name does not resolve (DNS)".into(),
                    format!("check {key}.base_url, DNS and any proxy (HTTPS_PROXY)"),
                ),
                ureq::Error::Io(io) => network(format!("connection failed: {io}"), path_fix()),
                ureq::Error::ConnectionFailed => network("connection failed".into(), path_fix()),
                ureq::Error::Protocol(p) => network(format!("the answer was not valid HTTP: {p}"), path_fix()),
                other => {
                    return Failure::Fatal(Box::new(self.error(
                        ErrorKind::Rejected,
                        method,
                        path,
                        None,
                        other.to_string(),
                        format!("check {key}.base_url and the proxy variables"),
                    )));
                }
            }),
            None,
        )
    }
}

/// Whether `url` starts with `http://` or `https://` (any case).
fn has_scheme(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `scheme://host[:port]` of an absolute URL, lowercase, with the default port made explicit.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?.to_ascii_lowercase();
    let has_port =
        host_port.rsplit_once(':').is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let default = if scheme == "https" { "443" } else { "80" };
    Some(if has_port { format!("{scheme}://{host_port}") } else { format!("{scheme}://{host_port}:{default}") })
}

/// A redirect's `Location` resolved against the URL that answered it.
fn join_url(base: &str, location: &str) -> String {
    if has_scheme(location) {
        return location.to_string();
    }
    let Some(origin_end) = base.find("://").map(|i| i + 3) else { return location.to_string() };
    let after = &base[origin_end..];
    let authority_end = origin_end + after.find(['/', '?', '#']).unwrap_or(after.len());
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}//{rest}", &base[..origin_end - 2]);
    }
    let target = if location.starts_with('/') {
        location.to_string()
    } else {
        // Relative to the directory of the base's path.
        let path_end = authority_end + base[authority_end..].find(['?', '#']).unwrap_or(base.len() - authority_end);
        let path = &base[authority_end..path_end];
        format!("{}{location}", path.rfind('/').map_or("/", |i| &path[..=i]))
    };
    let split = target.find(['?', '#']).unwrap_or(target.len());
    format!("{}{}{}", &base[..authority_end], remove_dot_segments(&target[..split]), &target[split..])
}

/// A path without its `.` and `..` segments (RFC 3986, 5.2.4); `..` never climbs above `/`.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." && out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    out.join("/")
}

/// A URL without its query string and fragment (which may carry a token or user data).
fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_string()
}

/// The human part of an error body: JIRA's `errorMessages` (and `errors`), Confluence's
/// `message` or `errors[].title`, else the text itself.
pub fn error_message(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else { return body.trim().to_string() };
    let mut parts: Vec<String> = Vec::new();
    if let Some(list) = v.get("errorMessages").and_then(|m| m.as_array()) {
        parts.extend(list.iter().filter_map(|m| m.as_str()).map(str::to_string));
    }
    match v.get("errors") {
        Some(serde_json::Value::Object(map)) => {
            parts.extend(map.iter().map(|(k, m)| format!("{k}: {}", m.as_str().unwrap_or_default())));
        }
        Some(serde_json::Value::Array(list)) => parts.extend(list.iter().filter_map(|e| {
            let title = e.get("title").and_then(|t| t.as_str())?;
            Some(match e.get("detail").and_then(|d| d.as_str()) {
                Some(d) if !d.is_empty() => format!("{title}: {d}"),
                _ => title.to_string(),
            })
        })),
        _ => {}
    }
    if parts.is_empty()
        && let Some(m) = v.get("message").or_else(|| v.pointer("/error/message")).and_then(|m| m.as_str())
    {
        parts.push(m.to_string());
    }
    if parts.is_empty() { body.trim().to_string() } else { parts.join("; ") }
}

/// The human part of a model API's error body (embeddings, chat): OpenAI's `error.message`, Ollama's `error`, else the text.
pub fn model_error_message(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .map(|m| m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string()))
            .unwrap_or_else(|| body.to_string()),
        Err(_) => body.to_string(),
    }
}

#[cfg(test)]
mod tests;
