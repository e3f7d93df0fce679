//! Answers: `POST /v1/vaults/{vault}/answer`, a question answered by the configured chat
//! model from the vault's best chunks, with numbered citations ([`trove_engine::Engine::answer`]).
//!
//! Whole, the answer is one JSON body. With `stream: true` it is Server-Sent Events, in this
//! order: `citations` (the sources, once), `token` (pieces of the answer, their citations
//! already verified), then `done` (usage and times), or `error` when the model fails
//! mid-answer. Failures before the answer starts (no chat model, the vault, the model's first
//! answer) are ordinary JSON errors with their status.
//!
//! The engine's stream is a blocking iterator: it is driven on tokio's blocking pool and hands
//! its events over through a bounded channel. When the client goes away the channel closes,
//! the driver stops at the next piece and drops the stream, which closes the connection to the
//! model (how its server learns to stop generating).
//!
//! Each answer is audited as `answer.asked` with the question (never the answer) and measured
//! (generation latency, tokens in and out, failures by kind).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use trove_engine::auth::Principal;
use trove_engine::{AnswerEvent, AnswerRequest, AnswerStream, EngineError, chunk_filter, perm};
use trove_types::{AnswerResponse, AnswerUsage, Citation, ErrorBody, HasCode, SearchFilters, SearchMode};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Allowed;
use crate::call::EngineCall;
use crate::error::{ApiError, Json, errors_reference};
use crate::metrics::Metrics;
use crate::openapi::{
    BadGateway, BadRequest, Conflict, GatewayTimeout, InvalidFields, NotFound, PayloadTooLarge, UnsupportedMediaType,
    VaultPath,
};

/// Events a streamed answer may hold in its channel before the model's reading waits for the
/// client.
const CHANNEL: usize = 32;

/// The body of `POST /v1/vaults/{vault}/answer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The question (at most 4,000 characters).
    pub question: String,
    /// How chunks are retrieved: hybrid, semantic or keyword (default: `answers.mode`).
    #[serde(default)]
    pub mode: Option<SearchMode>,
    /// The most chunks retrieved (default: `answers.chunks`); those that fit the chat model's
    /// prompt budget are given to it.
    #[serde(default)]
    pub limit: Option<usize>,
    /// The same restrictions as a search.
    #[serde(default)]
    pub filters: Option<SearchFilters>,
    /// Answer as Server-Sent Events (`citations`, `token`..., `done` or `error`) instead of one
    /// JSON body.
    #[serde(default)]
    pub stream: bool,
}

/// The data of a streamed answer's `citations` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct CitationsEvent {
    /// The sources given to the model, numbered as the answer cites them.
    pub citations: Vec<Citation>,
}

/// The data of a streamed answer's `token` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenEvent {
    /// The next piece of the answer.
    pub text: String,
}

/// The data of a streamed answer's `done` event (the last one).
#[derive(Debug, Serialize, ToSchema)]
pub struct DoneEvent {
    /// Tokens used (zero when the model was not asked).
    pub usage: AnswerUsage,
    /// The chat model that answered; `null` when it was not asked.
    pub model: Option<String>,
    /// Milliseconds spent retrieving.
    pub retrieval_ms: u64,
    /// Milliseconds spent generating.
    pub generation_ms: u64,
}

/// `POST /v1/vaults/{vault}/answer`.
#[utoipa::path(
    post, path = "/v1/vaults/{vault}/answer", operation_id = "vaults_answer", tag = "answers",
    params(VaultPath), request_body = AnswerBody,
    responses(
        (status = 200, description = "The answer with its citations; with `stream: true`, Server-Sent Events: `citations` ({citations}), then `token` ({text})..., then `done` ({usage, model, retrieval_ms, generation_ms}), or `error` ({message, code, type, link}) when the model fails mid-answer.",
            content((AnswerResponse = "application/json"), (String = "text/event-stream"))),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 409, response = Conflict), (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType), (status = 422, response = InvalidFields),
        (status = 502, response = BadGateway), (status = 504, response = GatewayTimeout),
    )
)]
pub async fn answer(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    allowed: Allowed<perm::Search>,
    Json(body): Json<AnswerBody>,
) -> Result<Response, ApiError> {
    let audit = Audit {
        ip: peer.map(|Extension(ConnectInfo(a))| a.ip().to_string()),
        target: format!("vault:{}", allowed.access().vault()),
        details: serde_json::json!({
            "question": body.question,
            "mode": body.mode.map(|m| m.as_str()),
            "stream": body.stream,
        }),
    };
    let req = AnswerRequest {
        question: body.question,
        mode: body.mode,
        limit: body.limit,
        filter: chunk_filter(body.filters.unwrap_or_default()),
    };
    let metrics = state.metrics.clone();
    if !body.stream {
        let answered = allowed.run(move |e, access| e.answer(access, &req).inspect_err(|e| failed(&metrics, e))).await;
        audit.record(&state, &principal, &answered);
        let answer = answered?;
        if answer.model.is_some() {
            state.metrics.answered(answer.generation_ms, answer.usage.prompt_tokens, answer.usage.completion_tokens);
        }
        return Ok(axum::Json(answer).into_response());
    }
    let started =
        allowed.run(move |e, access| e.answer_stream(access, &req).inspect_err(|e| failed(&metrics, e))).await;
    audit.record(&state, &principal, &started);
    let stream = started?;
    let (tx, rx) = mpsc::channel(CHANNEL);
    let (metrics, reference, span) = (state.metrics.clone(), errors_reference(), tracing::Span::current());
    tokio::task::spawn_blocking(move || span.in_scope(|| drive(stream, &tx, &metrics, &reference)));
    Ok(Sse::new(Events(rx)).keep_alive(KeepAlive::default()).into_response())
}

/// The audit entry of one answer: who asked what, never the answer.
struct Audit {
    ip: Option<String>,
    target: String,
    details: serde_json::Value,
}

impl Audit {
    fn record<T>(mut self, state: &AppState, principal: &Principal, outcome: &Result<T, ApiError>) {
        let outcome = match outcome {
            Ok(_) => "ok",
            Err(e) => {
                self.details["code"] = e.code.info().name.into();
                "failed"
            }
        };
        crate::auth::record(state, principal, self.ip, "answer.asked", Some(self.target), outcome, self.details);
    }
}

/// Counts a failed generation by its kind (failures that are not the model's, such as an
/// unknown vault, are not generation failures).
fn failed(metrics: &Metrics, e: &EngineError) {
    if let EngineError::Chat(chat) = e {
        metrics.answer_failed(chat.kind());
    }
}

/// Sends the events of `stream` to `tx` until it ends or the client is gone; returning drops
/// the stream, which stops the generation upstream.
fn drive(stream: AnswerStream, tx: &mpsc::Sender<Event>, metrics: &Metrics, reference: &str) {
    for item in stream {
        let event = match item {
            Ok(event) => {
                if let AnswerEvent::Done { usage, model: Some(_), generation_ms, .. } = &event {
                    metrics.answered(*generation_ms, usage.prompt_tokens, usage.completion_tokens);
                }
                sse_event(event)
            }
            Err(e) => {
                failed(metrics, &e);
                tracing::warn!(error = %e, "the answer failed mid-stream");
                let body = ErrorBody::new(e.code(), e.to_string(), reference);
                Event::default().event("error").json_data(body)
            }
        };
        let event = event.unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
        if tx.blocking_send(event).is_err() {
            tracing::info!("the client went away mid-answer; the generation is stopped");
            return;
        }
    }
}

/// One engine event as a Server-Sent Event.
fn sse_event(event: AnswerEvent) -> Result<Event, axum::Error> {
    match event {
        AnswerEvent::Citations(citations) => {
            Event::default().event("citations").json_data(CitationsEvent { citations })
        }
        AnswerEvent::Token(text) => Event::default().event("token").json_data(TokenEvent { text }),
        AnswerEvent::Done { usage, model, retrieval_ms, generation_ms } => {
            Event::default().event("done").json_data(DoneEvent { usage, model, retrieval_ms, generation_ms })
        }
    }
}

/// The receiving end of a streamed answer as the event stream of its response body; dropping
/// it (the client went away) closes the channel.
struct Events(mpsc::Receiver<Event>);

impl futures_core::Stream for Events {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|event| event.map(Ok))
    }
}
