//! [`RestEmbedder`]: embeddings from a REST API — OpenAI, Azure OpenAI, Ollama, or any
//! OpenAI-compatible server (vLLM, Hugging Face TEI, LiteLLM) — over one blocking HTTP client.
//!
//! It owns what goes wrong with such APIs: every request has a timeout; 429 honours
//! `Retry-After` and pauses every caller, not just the one that got it; 5xx, timeouts and
//! connection errors are retried with exponential backoff and full jitter; 400/401/403/404 are
//! not retried and say what to fix; a vector of another dimension than configured is an error
//! before the caller writes anything. Client-side limits (requests and tokens per minute,
//! requests in flight: [`trove_http::Quota`], the one limiter of Trove's model clients) keep Trove
//! under the provider's quotas. The proxy comes from
//! `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` ([`crate::proxy_from_env`]), trust from the
//! built-in Mozilla roots plus a CA bundle. The key is sent only in its header: it is absent from
//! `Debug`, logs and error messages.
//!
//! Tokens are estimated, not counted ([`trove_http::estimate_tokens`]: no tokenizer of the remote
//! model is at hand): one per three bytes, which over-counts English for BPE tokenizers, so chunks
//! stay within the model's limit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use trove_clock::SharedClock;
use trove_http::{
    Failure, GaveUp, Quota, Retries, Sleep, estimate_tokens, is_tls_failure, model_error_message, redacted,
};

use crate::{EmbedError, Embedder};

/// The wire protocol of an embeddings API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestProtocol {
    /// `POST {base}/embeddings` with `{model, input}`, bearer key (OpenAI and compatibles).
    OpenAi,
    /// `POST {base}/openai/deployments/{model}/embeddings?api-version=V`, `api-key` header.
    Azure,
    /// `POST {base}/api/embed` with `{model, input}` (Ollama).
    Ollama,
}

/// What to do about a TLS failure.
const TLS_FIX: &str =
    "if the server (or a TLS-inspecting proxy) uses a private CA, set llm.tls.ca_file to its PEM bundle";

/// Everything a [`RestEmbedder`] needs; the engine builds it from the `llm:` section.
#[derive(Clone)]
pub struct RestOptions {
    /// The provider's name for messages and the model id (`openai`, `ollama`...).
    pub provider: String,
    /// The protocol.
    pub protocol: RestProtocol,
    /// Base URL, without a trailing slash.
    pub base_url: String,
    /// The key, if the API wants one.
    pub api_key: Option<String>,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// Model (Azure: deployment).
    pub model: String,
    /// The dimension every vector must have.
    pub dimension: usize,
    /// Texts per request.
    pub batch_size: usize,
    /// Longest input in estimated tokens; longer texts are cut.
    pub max_input_tokens: usize,
    /// Time limit of one HTTP request, connecting included.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay; doubles per retry up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest backoff delay (a longer `Retry-After` is still honoured).
    pub backoff_max: Duration,
    /// Requests per minute (0 = unlimited).
    pub rpm: u32,
    /// Estimated tokens per minute (0 = unlimited).
    pub tpm: u32,
    /// Requests in flight at once (at least 1).
    pub concurrency: u32,
    /// PEM bundle of CAs trusted in addition to the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Proxy URL (see [`crate::proxy_from_env`]).
    pub proxy: Option<String>,
}

impl std::fmt::Debug for RestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestOptions")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .field("dimension", &self.dimension)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

/// A failure worth retrying: what went wrong, and whether the server said to slow down (a 429,
/// whose wait then pauses every caller).
struct Transient {
    why: String,
    throttled: bool,
}

impl Transient {
    fn new(why: String) -> Transient {
        Transient { why, throttled: false }
    }
}

/// Why one attempt failed: worth retrying (after the server's `Retry-After` when it sent one),
/// or not.
type Attempt = Failure<Transient, EmbedError>;

/// The longest `Retry-After` honoured: an hour (longer than the backoff, on purpose).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// Embeddings from a REST API; see the module documentation.
pub struct RestEmbedder {
    opts: RestOptions,
    model_id: String,
    url: String,
    agent: ureq::Agent,
    quota: Arc<Quota>,
    last: std::sync::Mutex<Option<crate::LastCall>>,
}

impl std::fmt::Debug for RestEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestEmbedder").field("model_id", &self.model_id).field("url", &self.url).finish_non_exhaustive()
    }
}

/// The most bytes of an error response Trove reads.
const MAX_ERROR_BODY: u64 = 16 * 1024;
/// The most bytes of a successful response Trove reads (a batch of 2,048 vectors of 3,072
/// floats as JSON is about 130 MB).
const MAX_BODY: u64 = 256 * 1024 * 1024;

impl RestEmbedder {
    /// Prepares the client on the system's clock; makes no request.
    pub fn new(opts: RestOptions) -> Result<Self, EmbedError> {
        RestEmbedder::with_time(opts, trove_clock::system(), trove_http::real_sleep())
    }

    /// Prepares the client with time from `clock` and waits (backoff, `Retry-After`, rate
    /// limits) through `sleep`: tests step a manual clock instead of sleeping.
    pub fn with_time(opts: RestOptions, clock: SharedClock, sleep: Sleep) -> Result<Self, EmbedError> {
        let base = opts.base_url.trim_end_matches('/').to_string();
        let url = match opts.protocol {
            RestProtocol::OpenAi => format!("{base}/embeddings"),
            RestProtocol::Ollama => format!("{base}/api/embed"),
            RestProtocol::Azure => format!(
                "{base}/openai/deployments/{}/embeddings?api-version={}",
                opts.model,
                opts.api_version.as_deref().unwrap_or("2024-10-21")
            ),
        };
        let tls =
            trove_http::tls_config(opts.ca_file.as_deref(), "llm.tls.ca_file").map_err(EmbedError::ProviderConfig)?;
        let proxy = match &opts.proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|e| {
                EmbedError::ProviderConfig(format!("the proxy `{p}` (from HTTPS_PROXY/HTTP_PROXY) is not usable: {e}"))
            })?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout))
            .proxy(proxy)
            .tls_config(tls)
            .user_agent(concat!("trove/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build();
        let model_id = format!("{}/{}", opts.provider, opts.model);
        let quota = Quota::new(opts.concurrency, opts.rpm, opts.tpm, clock, sleep);
        Ok(RestEmbedder {
            agent: ureq::Agent::new_with_config(config),
            model_id,
            url,
            quota,
            opts,
            last: std::sync::Mutex::new(None),
        })
    }

    /// The endpoint this embedder posts to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `text` cut to the model's limit (at a character boundary).
    fn truncated<'a>(&self, text: &'a str) -> &'a str {
        &text[..text.floor_char_boundary(self.opts.max_input_tokens.saturating_mul(3))]
    }

    /// One request for one batch.
    fn attempt(&self, batch: &[&str]) -> Result<Vec<Vec<f32>>, Attempt> {
        let body = match self.opts.protocol {
            RestProtocol::OpenAi => {
                serde_json::json!({"model": self.opts.model, "input": batch, "encoding_format": "float"})
            }
            RestProtocol::Azure => serde_json::json!({"input": batch}),
            RestProtocol::Ollama => serde_json::json!({"model": self.opts.model, "input": batch}),
        };
        let body = serde_json::to_vec(&body).map_err(|e| Failure::Fatal(EmbedError::Embedding(e.to_string())))?;
        let mut request = self.agent.post(&self.url).header("Content-Type", "application/json");
        if let Some(key) = &self.opts.api_key {
            request = match self.opts.protocol {
                RestProtocol::Azure => request.header("api-key", key),
                _ => request.header("Authorization", format!("Bearer {key}")),
            };
        }
        let mut response = match request.send(&body[..]) {
            Ok(r) => r,
            Err(e) => return Err(self.transport_failure(e)),
        };
        let status = response.status().as_u16();
        if status == 200 {
            let bytes = response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .map_err(|e| Failure::Retry(Transient::new(format!("reading the answer: {e}")), None))?;
            return self.parse(&bytes, batch.len()).map_err(Failure::Fatal);
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(RETRY_AFTER_MAX.as_secs_f64())));
        let text = response.body_mut().with_config().limit(MAX_ERROR_BODY).read_to_string().unwrap_or_default();
        let detail = redacted(&model_error_message(&text), self.opts.api_key.as_deref());
        let (provider, url) = (self.opts.provider.clone(), self.url.clone());
        Err(match status {
            401 | 403 => Failure::Fatal(EmbedError::ProviderUnauthorized { provider, url, status, detail }),
            429 => Failure::Retry(
                Transient { why: format!("HTTP 429 (rate limited): {detail}"), throttled: true },
                retry_after,
            ),
            408 | 500..=599 => Failure::Retry(Transient::new(format!("HTTP {status}: {detail}")), retry_after),
            _ => {
                let fix = match status {
                    404 => format!(
                        "check llm.base_url (the URL called was {}) and llm.models.embeddings (`{}`): the server \
                         has no such route, model or deployment",
                        self.url, self.opts.model
                    ),
                    413 => "the request is too large: lower llm.embeddings.batch_size or max_input_tokens".into(),
                    _ => format!(
                        "check llm.models.embeddings (`{}`), llm.provider and llm.embeddings.max_input_tokens",
                        self.opts.model
                    ),
                };
                Failure::Fatal(EmbedError::ProviderRejected { provider, url, status, detail, fix })
            }
        })
    }

    fn transport_failure(&self, e: ureq::Error) -> Attempt {
        let secs = self.opts.timeout.as_secs_f64();
        if is_tls_failure(&e) {
            return Failure::Fatal(EmbedError::ProviderRejected {
                provider: self.opts.provider.clone(),
                url: self.url.clone(),
                status: 0,
                detail: format!("TLS failed: {e}"),
                fix: TLS_FIX.into(),
            });
        }
        let why = match &e {
            ureq::Error::Timeout(_) => format!("no answer within {secs} s (llm.request.timeout_s)"),
            ureq::Error::Io(io) => format!("connection failed: {io}"),
            ureq::Error::ConnectionFailed => "connection failed".to_string(),
            ureq::Error::HostNotFound => "host not found (DNS)".to_string(),
            ureq::Error::Protocol(p) => format!("the answer was not valid HTTP: {p}"),
            other => {
                return Failure::Fatal(EmbedError::ProviderRejected {
                    provider: self.opts.provider.clone(),
                    url: self.url.clone(),
                    status: 0,
                    detail: other.to_string(),
                    fix: "check llm.base_url and the proxy variables".into(),
                });
            }
        };
        Failure::Retry(Transient::new(why), None)
    }

    /// The vectors of a 200 answer, in input order, each of the configured dimension.
    fn parse(&self, bytes: &[u8], expected: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        #[derive(Deserialize)]
        struct Item {
            embedding: Vec<f32>,
            #[serde(default)]
            index: Option<usize>,
        }
        #[derive(Deserialize)]
        struct OpenAiAnswer {
            data: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct OllamaAnswer {
            embeddings: Vec<Vec<f32>>,
        }
        let bad = |why: String| EmbedError::ProviderRejected {
            provider: self.opts.provider.clone(),
            url: self.url.clone(),
            status: 200,
            detail: why,
            fix: "check llm.provider: the server does not answer in that provider's format".into(),
        };
        let vectors: Vec<Vec<f32>> = match self.opts.protocol {
            RestProtocol::Ollama => {
                serde_json::from_slice::<OllamaAnswer>(bytes)
                    .map_err(|e| bad(format!("unexpected answer: {e}")))?
                    .embeddings
            }
            _ => {
                let mut items = serde_json::from_slice::<OpenAiAnswer>(bytes)
                    .map_err(|e| bad(format!("unexpected answer: {e}")))?
                    .data;
                if items.iter().all(|i| i.index.is_some()) {
                    items.sort_by_key(|i| i.index);
                }
                items.into_iter().map(|i| i.embedding).collect()
            }
        };
        if vectors.len() != expected {
            return Err(bad(format!("{} vectors for {expected} inputs", vectors.len())));
        }
        if let Some(v) = vectors.iter().find(|v| v.len() != self.opts.dimension) {
            return Err(EmbedError::Dimension {
                provider: self.opts.provider.clone(),
                model: self.opts.model.clone(),
                got: v.len(),
                want: self.opts.dimension,
            });
        }
        Ok(vectors)
    }

    /// One batch, with retries.
    fn embed_batch(&self, batch: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let tokens: usize = batch.iter().map(|t| estimate_tokens(t)).sum();
        let retries = Retries {
            max_retries: self.opts.max_retries,
            backoff_min: self.opts.backoff_min,
            backoff_max: self.opts.backoff_max,
            retry_after_max: RETRY_AFTER_MAX,
        };
        let answer = retries.run(
            |_| {
                let _permit = self.quota.acquire(tokens);
                self.attempt(batch)
            },
            |failed, wait| {
                tracing::warn!(provider = %self.opts.provider, attempt = wait.attempt + 1, delay_ms = wait.delay.as_millis() as u64, "embeddings request failed, retrying: {}", failed.why);
                if failed.throttled {
                    self.quota.pause(wait.delay);
                } else {
                    self.quota.sleep(wait.delay);
                }
            },
        );
        match answer {
            Ok(vectors) => Ok(vectors.into_iter().map(normalized).collect()),
            Err(GaveUp::Fatal(e)) => Err(e),
            Err(GaveUp::Exhausted { last, attempts }) => Err(EmbedError::ProviderUnavailable {
                provider: self.opts.provider.clone(),
                url: self.url.clone(),
                attempts,
                last: last.why,
            }),
        }
    }
}

/// `v` scaled to unit length (providers differ on whether they normalise).
fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl Embedder for RestEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.opts.dimension
    }

    fn max_input_tokens(&self) -> usize {
        self.opts.max_input_tokens
    }

    fn count_tokens(&self, text: &str) -> usize {
        estimate_tokens(text)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inputs: Vec<&str> = texts.iter().map(|t| self.truncated(t)).collect();
        let mut out = Vec::with_capacity(texts.len());
        let mut result = Ok(());
        for batch in inputs.chunks(self.opts.batch_size.max(1)) {
            match self.embed_batch(batch) {
                Ok(v) => out.extend(v),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if !inputs.is_empty() {
            let at_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let error = result.as_ref().err().map(ToString::to_string);
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(crate::LastCall { at_ms, error });
        }
        result.map(|()| out)
    }

    fn last_call(&self) -> Option<crate::LastCall> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
