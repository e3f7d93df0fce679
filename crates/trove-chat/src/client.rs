//! [`ChatClient`]: OpenAI-compatible chat completions over the networking of the REST
//! embedders (see the crate documentation). A request is retried, with backoff and full
//! jitter, on connection errors, time limits, 408, 429 (after its `Retry-After`, which pauses
//! every caller of the client) and 5xx, until an answer starts; a streamed answer is never
//! retried once its first byte arrived (its tokens may already be on their way to a user).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use trove_clock::SharedClock;
use trove_http::{Breaker, Failure, GaveUp, Quota, QuotaPermit, Retries, Sleep};

use crate::stream::ChatStream;
use crate::{ChatError, ChatModel, Completion, Message, ModelRole, Usage, prompt_tokens};

/// The most bytes of an error answer read.
const MAX_ERROR_BODY: u64 = 16 * 1024;
/// The most bytes of a whole answer read.
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// Failures in a row that open the breaker, and how long it then refuses.
const BREAKER_THRESHOLD: u32 = 5;
const BREAKER_COOLDOWN: Duration = Duration::from_secs(30);

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatProtocol {
    /// `POST {base}/chat/completions` with `{model, messages}`, bearer key: OpenAI, and the
    /// OpenAI-compatible routes of Ollama (`http://localhost:11434/v1`), vLLM and LiteLLM.
    OpenAi,
    /// `POST {base}/openai/deployments/{model}/chat/completions?api-version=V`, `api-key`
    /// header (Azure OpenAI; the model is the deployment).
    Azure,
}

/// Everything a [`ChatClient`] needs; the engine builds it from `llm:` or `chat_models.NAME`.
#[derive(Clone)]
pub struct ChatOptions {
    /// The provider's name (`openai`, `ollama`...), the first half of the model id.
    pub provider: String,
    /// The protocol.
    pub protocol: ChatProtocol,
    /// Base URL, without a trailing slash.
    pub base_url: String,
    /// The key, if the API wants one (never logged or shown).
    pub api_key: Option<String>,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// The model (Azure: the deployment).
    pub model: String,
    /// The configuration section, for messages (`llm`, `chat_models.fast`).
    pub key: String,
    /// Tokens a prompt may fill.
    pub context_tokens: usize,
    /// The most tokens of an answer (`max_tokens`).
    pub max_output_tokens: usize,
    /// Sampling temperature; `None`: the server's default.
    pub temperature: Option<f32>,
    /// The longest silence: connecting, waiting for the answer to start, and between two
    /// pieces of a streamed answer.
    pub timeout: Duration,
    /// The longest whole request, the answer's generation included.
    pub total_timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay; doubles per retry up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// Longest wait a `Retry-After` may impose; longer ones are cut to it.
    pub retry_after_max: Duration,
    /// Requests per minute (0 = no limit).
    pub rpm: u32,
    /// Estimated tokens per minute, prompt and answer (0 = no limit).
    pub tpm: u32,
    /// Requests in flight at once (at least 1).
    pub concurrency: u32,
    /// PEM bundle of CAs trusted in addition to the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Proxy URL (see [`trove_http::proxy_from_env`]).
    pub proxy: Option<String>,
    /// What the model does (answers by default), which names its setting in messages.
    pub role: ModelRole,
}

impl std::fmt::Debug for ChatOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatOptions")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .field("key", &self.key)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl ChatOptions {
    /// The OpenAI protocol at `base_url` for `model`, with the defaults of `llm.request`
    /// (30 s of silence, 5 retries from 0.5 s to 30 s) and of `llm.chat` (8,192 tokens of
    /// prompt, 1,024 of answer, 300 s per answer).
    pub fn new(base_url: &str, model: &str, key: &str) -> ChatOptions {
        ChatOptions {
            provider: "custom".into(),
            protocol: ChatProtocol::OpenAi,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: None,
            api_version: None,
            model: model.to_string(),
            key: key.to_string(),
            context_tokens: 8192,
            max_output_tokens: 1024,
            temperature: None,
            timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(300),
            max_retries: 5,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(120),
            rpm: 0,
            tpm: 0,
            concurrency: 4,
            ca_file: None,
            proxy: None,
            role: ModelRole::Chat,
        }
    }
}

/// Which OpenAI-compatible route a client posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/chat/completions`: answers and captions.
    ChatCompletions,
    /// `/audio/transcriptions`: speech to text.
    AudioTranscriptions,
}

/// One request's body, ready to send (and re-send on a retry).
pub(crate) struct Payload {
    /// `application/json`, or `multipart/form-data; boundary=...`.
    pub(crate) content_type: String,
    /// The bytes.
    pub(crate) body: Vec<u8>,
    /// Estimated tokens, for the tokens-per-minute quota.
    pub(crate) tokens: usize,
    /// The longest whole request when it differs from the options' `total_timeout`.
    pub(crate) total_timeout: Option<Duration>,
}

/// Why one attempt failed.
enum Attempt {
    /// Worth retrying (after the server's `Retry-After` when it sent one).
    Retry { error: ChatError, retry_after: Option<Duration> },
    /// Retrying cannot help.
    Fatal(ChatError),
}

/// A chat model behind an OpenAI-compatible API; see the module documentation. Clones share
/// the connection pool, the quota and the breaker.
#[derive(Clone)]
pub struct ChatClient {
    opts: Arc<ChatOptions>,
    model_id: String,
    url: String,
    agent: ureq::Agent,
    quota: Arc<Quota>,
    breaker: Arc<Breaker>,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient").field("model_id", &self.model_id).field("url", &self.url).finish_non_exhaustive()
    }
}

/// A response whose answer has started, with the quota slot it holds.
pub(crate) struct Started {
    pub(crate) body: Box<dyn Read + Send>,
    pub(crate) permit: QuotaPermit,
}

impl ChatClient {
    /// Prepares the client on the system's clock; makes no request.
    pub fn new(opts: ChatOptions) -> Result<ChatClient, ChatError> {
        ChatClient::with_time(opts, trove_clock::system(), trove_http::real_sleep())
    }

    /// Prepares the client with time from `clock` and waits (backoff, `Retry-After`, rate
    /// limits) through `sleep`: tests step a manual clock instead of sleeping.
    pub fn with_time(opts: ChatOptions, clock: SharedClock, sleep: Sleep) -> Result<ChatClient, ChatError> {
        ChatClient::on_route(opts, Route::ChatCompletions, clock, sleep)
    }

    /// A client of `route` (the vision and transcription clients share this machinery).
    pub(crate) fn on_route(
        opts: ChatOptions,
        route: Route,
        clock: SharedClock,
        sleep: Sleep,
    ) -> Result<ChatClient, ChatError> {
        let base = opts.base_url.trim_end_matches('/').to_string();
        let path = match route {
            Route::ChatCompletions => "chat/completions",
            Route::AudioTranscriptions => "audio/transcriptions",
        };
        let url = match opts.protocol {
            ChatProtocol::OpenAi => format!("{base}/{path}"),
            ChatProtocol::Azure => format!(
                "{base}/openai/deployments/{}/{path}?api-version={}",
                opts.model,
                opts.api_version.as_deref().unwrap_or("2024-10-21")
            ),
        };
        let config_error = |detail: String| ChatError::Config { key: opts.key.clone(), detail };
        let tls = trove_http::tls_config(opts.ca_file.as_deref(), &format!("{}.tls.ca_file", opts.key))
            .map_err(config_error)?;
        let proxy = match &opts.proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|e| {
                config_error(format!("the proxy `{p}` (from HTTPS_PROXY/HTTP_PROXY) is not usable: {e}"))
            })?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(opts.timeout))
            .timeout_per_read(Some(opts.timeout))
            .timeout_global(Some(opts.total_timeout))
            .proxy(proxy)
            .tls_config(tls)
            .user_agent(concat!("trove/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build();
        Ok(ChatClient {
            model_id: format!("{}/{}", opts.provider, opts.model),
            url,
            agent: ureq::Agent::new_with_config(config),
            quota: Quota::new(opts.concurrency, opts.rpm, opts.tpm, clock.clone(), sleep),
            breaker: Arc::new(Breaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN, clock)),
            opts: Arc::new(opts),
        })
    }

    /// The endpoint this client posts to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The options.
    pub fn options(&self) -> &ChatOptions {
        &self.opts
    }

    fn body(&self, messages: &[Message], stream: bool) -> Vec<u8> {
        let mut body = serde_json::json!({
            "messages": messages,
            "max_tokens": self.opts.max_output_tokens,
            "stream": stream,
        });
        if self.opts.protocol == ChatProtocol::OpenAi {
            body["model"] = self.opts.model.clone().into();
        }
        if let Some(t) = self.opts.temperature {
            body["temperature"] = t.into();
        }
        if stream {
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// `detail` with the key removed, cut to a readable length.
    fn clean(&self, detail: &str) -> String {
        trove_http::redacted(detail, self.opts.api_key.as_deref())
    }

    pub(crate) fn unavailable(&self, detail: String) -> ChatError {
        ChatError::Unavailable { key: self.opts.key.clone(), url: self.url.clone(), detail }
    }

    pub(crate) fn timeout(&self, what: &'static str, limit: Duration) -> ChatError {
        ChatError::Timeout { key: self.opts.key.clone(), url: self.url.clone(), what, secs: limit.as_secs_f64() }
    }

    pub(crate) fn bad_answer(&self, detail: String) -> ChatError {
        ChatError::Rejected {
            url: self.url.clone(),
            status: 200,
            detail,
            fix: format!(
                "check {key}.provider and {key}.base_url: the server does not answer as an OpenAI-compatible chat API",
                key = self.opts.key
            ),
        }
    }

    /// Sends the request, with retries, until an answer starts.
    fn start(&self, messages: &[Message], stream: bool) -> Result<Started, ChatError> {
        let body = self.body(messages, stream);
        let tokens = prompt_tokens(messages) + self.opts.max_output_tokens;
        self.send(&Payload { content_type: "application/json".into(), body, tokens, total_timeout: None })
    }

    /// Sends `payload`, with retries, until an answer starts.
    pub(crate) fn send(&self, payload: &Payload) -> Result<Started, ChatError> {
        let tokens = payload.tokens;
        let retries = Retries {
            max_retries: self.opts.max_retries,
            backoff_min: self.opts.backoff_min,
            backoff_max: self.opts.backoff_max,
            retry_after_max: self.opts.retry_after_max,
        };
        let answer = retries.run(
            |_| {
                // Held by the answer while it streams; dropped before any wait.
                let permit = self.quota.acquire(tokens);
                let admitted = match self.breaker.admit() {
                    Err(open) => {
                        return Err(Failure::Fatal(self.unavailable(format!(
                            "{} failures in a row (last: {}); not tried again for {} s",
                            open.failures,
                            open.last_error.unwrap_or_else(|| "unknown".into()),
                            open.retry_in.as_secs()
                        ))));
                    }
                    Ok(admitted) => admitted,
                };
                match self.attempt(payload) {
                    Ok(body) => {
                        admitted.succeeded();
                        Ok(Started { body, permit })
                    }
                    Err(Attempt::Fatal(e)) => {
                        admitted.succeeded();
                        Err(Failure::Fatal(e))
                    }
                    Err(Attempt::Retry { error, retry_after }) => {
                        admitted.failed(error.to_string());
                        Err(Failure::Retry(error, retry_after))
                    }
                }
            },
            |error, wait| {
                tracing::warn!(model = %self.model_id, attempt = wait.attempt + 1, delay_ms = wait.delay.as_millis() as u64, "chat request failed, retrying: {error}");
                if wait.asked {
                    // Every caller of this client waits, not only this one.
                    self.quota.pause(wait.delay);
                } else {
                    self.quota.sleep(wait.delay);
                }
            },
        );
        match answer {
            Ok(started) => Ok(started),
            Err(GaveUp::Fatal(e)) => Err(e),
            Err(GaveUp::Exhausted { last, attempts }) => Err(match last {
                ChatError::Throttled { key, url, detail, .. } => ChatError::Throttled { key, url, attempts, detail },
                ChatError::Unavailable { key, url, detail } => {
                    ChatError::Unavailable { key, url, detail: format!("{detail}, after {attempts} attempts") }
                }
                other => other,
            }),
        }
    }

    /// One attempt: the answer's body once its status is 2xx.
    fn attempt(&self, payload: &Payload) -> Result<Box<dyn Read + Send>, Attempt> {
        let mut request = self.agent.post(&self.url).header("Content-Type", &payload.content_type);
        if let Some(total) = payload.total_timeout {
            request = request.config().timeout_global(Some(total)).build();
        }
        if let Some(key) = &self.opts.api_key {
            request = match self.opts.protocol {
                ChatProtocol::Azure => request.header("api-key", key),
                ChatProtocol::OpenAi => request.header("Authorization", format!("Bearer {key}")),
            };
        }
        let mut response = request.send(&payload.body[..]).map_err(|e| self.transport_failure(e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(Box::new(response.into_body().into_reader()));
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| trove_http::parse_retry_after(v, SystemTime::now()));
        let text = response.body_mut().with_config().limit(MAX_ERROR_BODY).read_to_string().unwrap_or_default();
        let detail = self.clean(&trove_http::model_error_message(&text));
        let (key, url) = (self.opts.key.clone(), self.url.clone());
        Err(match status {
            401 | 403 => Attempt::Fatal(ChatError::Unauthorized { key, url, status, detail }),
            404 => Attempt::Fatal(ChatError::ModelNotFound {
                key,
                url,
                model: self.opts.model.clone(),
                role: self.opts.role,
                detail,
            }),
            429 => Attempt::Retry {
                error: ChatError::Throttled { key, url, attempts: 1, detail: format!("HTTP 429: {detail}") },
                retry_after,
            },
            408 | 500..=599 => {
                Attempt::Retry { error: self.unavailable(format!("HTTP {status}: {detail}")), retry_after }
            }
            _ => Attempt::Fatal(ChatError::Rejected {
                url,
                status,
                detail,
                fix: match status {
                    413 => format!("the prompt is too large: lower {key}.chat.context_tokens"),
                    _ if self.opts.role != ModelRole::Chat => format!(
                        "check {key}.{} (`{}`) and what the request sends (see the message)",
                        self.opts.role.setting(),
                        self.opts.model
                    ),
                    _ => format!(
                        "check {key}.models.chat (`{}`), {key}.chat.context_tokens and {key}.chat.max_output_tokens",
                        self.opts.model
                    ),
                },
            }),
        })
    }

    fn transport_failure(&self, e: ureq::Error) -> Attempt {
        let tls = match &e {
            ureq::Error::Io(io) => io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()),
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => true,
            _ => false,
        };
        let key = &self.opts.key;
        if tls {
            return Attempt::Fatal(ChatError::Rejected {
                url: self.url.clone(),
                status: 0,
                detail: format!("TLS failed: {e}"),
                fix: format!(
                    "if the server (or a TLS-inspecting proxy) uses a private CA, set {key}.tls.ca_file to its PEM bundle"
                ),
            });
        }
        let error = match &e {
            ureq::Error::Timeout(_) => self.timeout("did not answer", self.opts.timeout),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                self.timeout("did not answer", self.opts.timeout)
            }
            ureq::Error::Io(io) => self.unavailable(format!("connection failed: {io}")),
            ureq::Error::ConnectionFailed => self.unavailable("connection failed".into()),
            ureq::Error::HostNotFound => self.unavailable("the host name does not resolve (DNS)".into()),
            ureq::Error::Protocol(p) => self.unavailable(format!("the answer was not valid HTTP: {p}")),
            other => {
                return Attempt::Fatal(ChatError::Rejected {
                    url: self.url.clone(),
                    status: 0,
                    detail: other.to_string(),
                    fix: format!("check {key}.base_url and the proxy variables"),
                });
            }
        };
        Attempt::Retry { error, retry_after: None }
    }

    /// The JSON answer of a started request (at most `max` bytes), as `T`; `what` says what
    /// a stall cut short, `expected` what the answer should have been.
    pub(crate) fn read_answer<T: serde::de::DeserializeOwned>(
        &self,
        started: Started,
        max: u64,
        what: &'static str,
        expected: &str,
    ) -> Result<T, ChatError> {
        let mut bytes = Vec::new();
        started.body.take(max).read_to_end(&mut bytes).map_err(|e| self.read_failure(&e, what))?;
        serde_json::from_slice(&bytes).map_err(|e| self.bad_answer(format!("unexpected answer (not {expected}): {e}")))
    }

    /// A read error of an answer's body as a [`ChatError`].
    pub(crate) fn read_failure(&self, e: &std::io::Error, what: &'static str) -> ChatError {
        let timed_out = e.kind() == std::io::ErrorKind::TimedOut
            || e.get_ref().and_then(|inner| inner.downcast_ref::<ureq::Error>()).is_some_and(|u| {
                matches!(u, ureq::Error::Timeout(_))
                    || matches!(u, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
            });
        if timed_out {
            self.timeout(what, self.opts.timeout)
        } else {
            self.unavailable(format!("the answer was cut off: {e}"))
        }
    }
}

impl ChatModel for ChatClient {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn context_tokens(&self) -> usize {
        self.opts.context_tokens
    }

    fn max_output_tokens(&self) -> usize {
        self.opts.max_output_tokens
    }

    fn complete(&self, messages: &[Message]) -> Result<Completion, ChatError> {
        #[derive(Deserialize)]
        struct Answer {
            choices: Vec<Choice>,
            #[serde(default)]
            usage: Option<WireUsage>,
        }
        #[derive(Deserialize)]
        struct Choice {
            message: ChoiceMessage,
            #[serde(default)]
            finish_reason: Option<String>,
        }
        #[derive(Deserialize)]
        struct ChoiceMessage {
            #[serde(default)]
            content: Option<String>,
        }
        let started = self.start(messages, false)?;
        let mut bytes = Vec::new();
        started
            .body
            .take(MAX_BODY)
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_failure(&e, "did not finish the answer"))?;
        let answer: Answer =
            serde_json::from_slice(&bytes).map_err(|e| self.bad_answer(format!("unexpected answer: {e}")))?;
        let Some(choice) = answer.choices.into_iter().next() else {
            return Err(self.bad_answer("the answer has no choices".into()));
        };
        let text = choice.message.content.unwrap_or_default();
        let usage = usage_or_estimate(answer.usage, messages, &text);
        Ok(Completion { text, usage, finish_reason: choice.finish_reason })
    }

    fn stream(&self, messages: &[Message]) -> Result<ChatStream, ChatError> {
        let started = self.start(messages, true)?;
        Ok(ChatStream::new(self.clone(), started, prompt_tokens(messages)))
    }
}

/// `usage` as the server sends it.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub(crate) prompt_tokens: u64,
    #[serde(default)]
    pub(crate) completion_tokens: u64,
}

/// The server's usage, or Trove's estimate when it sent none.
fn usage_or_estimate(usage: Option<WireUsage>, messages: &[Message], text: &str) -> Usage {
    match usage {
        Some(u) => Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, estimated: false },
        None => Usage {
            prompt_tokens: prompt_tokens(messages) as u64,
            completion_tokens: crate::estimate_tokens(text) as u64,
            estimated: true,
        },
    }
}
