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
//! Each answer is audited as `answer.asked` with the question (never the answer) and its
//! conversation, and measured (generation latency, tokens in and out, failures by kind).
//!
//! Conversations: an answer without `conversation_id` starts one, whose id is in the answer
//! (in a stream, in the first event, `citations`, and the last, `done`); with one, the
//! caller's conversation continues (its follow-up rewritten into a standalone question). The
//! driver of a stream adds the finished turn. `GET /v1/vaults/{vault}/conversations` lists the
//! caller's own, `GET .../conversations/{id}` shows one with its turns and their citations,
//! `DELETE .../conversations/{id}` deletes one (audited as `conversation.deleted`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Extension;
use axum::Json as JsonOut;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::mpsc;
use trove_engine::auth::Principal;

use trove_engine::{
    AnswerEvent, AnswerRequest, AnswerStream, ConversationChoice, Engine, EngineError, chunk_filter, perm,
};
use trove_types::{
    AnswerResponse, AnswerUsage, Citation, Conversation, ConversationPage, ErrorBody, HasCode, SearchFilters,
    SearchMode,
};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::Allowed;
use crate::call::EngineCall;
use crate::error::{ApiError, Json, Path, Query, errors_reference};
use crate::metrics::Metrics;
use crate::openapi::{
    BadGateway, BadRequest, Conflict, GatewayTimeout, InvalidFields, NotFound, PayloadTooLarge, UnsupportedMediaType,
    VaultItemPath, VaultPath,
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
    /// Continue this conversation of yours (a follow-up is rewritten into a standalone
    /// question before retrieval); absent: start a new one.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Also cite your memories in the vault (needs `memories:read`); absent:
    /// `answers.use_memories`.
    #[serde(default)]
    pub memories: Option<bool>,
}

/// The data of a streamed answer's `citations` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct CitationsEvent {
    /// The sources given to the model, numbered as the answer cites them.
    pub citations: Vec<Citation>,
    /// The conversation this answer is a turn of.
    pub conversation_id: Option<String>,
    /// The standalone question retrieval used, when a follow-up was rewritten.
    pub rewritten_question: Option<String>,
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
    /// The conversation this answer is a turn of.
    pub conversation_id: Option<String>,
}

/// `POST /v1/vaults/{vault}/answer`.
#[utoipa::path(
    post, path = "/v1/vaults/{vault}/answer", operation_id = "vaults_answer", tag = "answers",
    params(VaultPath), request_body = AnswerBody,
    responses(
        (status = 200, description = "The answer with its citations and its conversation; with `stream: true`, Server-Sent Events: `citations` ({citations, conversation_id, rewritten_question}), then `token` ({text})..., then `done` ({usage, model, retrieval_ms, generation_ms, conversation_id}), or `error` ({message, code, type, link}) when the model fails mid-answer.",
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
            "conversation_id": body.conversation_id,
        }),
    };
    let req = AnswerRequest {
        question: body.question,
        mode: body.mode,
        limit: body.limit,
        filter: chunk_filter(body.filters.unwrap_or_default()),
        conversation: match body.conversation_id {
            Some(id) => ConversationChoice::Continue(id),
            None => ConversationChoice::New,
        },
        memories: body.memories,
    };
    let metrics = state.metrics.clone();
    if !body.stream {
        let answered = allowed.run(move |e, access| e.answer(access, &req).inspect_err(|e| failed(&metrics, e))).await;
        let mut audit = audit;
        if let Ok(a) = &answered {
            audit.details["conversation_id"] = a.conversation_id.clone().into();
        }
        audit.record(&state, &principal, &answered);
        let answer = answered?;
        if answer.model.is_some() {
            state.metrics.answered(answer.generation_ms, answer.usage.prompt_tokens, answer.usage.completion_tokens);
        }
        return Ok(axum::Json(answer).into_response());
    }
    let started =
        allowed.run(move |e, access| e.answer_stream(access, &req).inspect_err(|e| failed(&metrics, e))).await;
    let mut audit = audit;
    if let Ok(stream) = &started {
        audit.details["conversation_id"] = stream.conversation_id().into();
    }
    audit.record(&state, &principal, &started);
    let stream = started?;
    let (tx, rx) = mpsc::channel(CHANNEL);
    let (metrics, reference, span) = (state.metrics.clone(), errors_reference(), tracing::Span::current());
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || span.in_scope(|| drive(stream, &engine, &tx, &metrics, &reference)));
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
/// the stream, which stops the generation upstream. A finished answer's turn is added to its
/// conversation before the last event goes out (so a client that reads `done` then the
/// conversation finds the turn).
fn drive(mut stream: AnswerStream, engine: &Arc<Engine>, tx: &mpsc::Sender<Event>, metrics: &Metrics, reference: &str) {
    let conversation_id = stream.conversation_id().map(str::to_string);
    let rewritten_question = stream.rewritten_question().map(str::to_string);
    while let Some(item) = stream.next() {
        let event = match item {
            Ok(event) => {
                if let AnswerEvent::Done { usage, model: Some(_), generation_ms, .. } = &event {
                    metrics.answered(*generation_ms, usage.prompt_tokens, usage.completion_tokens);
                }
                if let Some(turn) = stream.take_finished()
                    && let Err(e) = engine.record_turn(turn)
                {
                    tracing::warn!(error = %e, "the answer's turn could not be added to its conversation");
                }
                sse_event(event, &conversation_id, &rewritten_question)
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
fn sse_event(
    event: AnswerEvent,
    conversation_id: &Option<String>,
    rewritten_question: &Option<String>,
) -> Result<Event, axum::Error> {
    let conversation_id = conversation_id.clone();
    match event {
        AnswerEvent::Citations(citations) => Event::default().event("citations").json_data(CitationsEvent {
            citations,
            conversation_id,
            rewritten_question: rewritten_question.clone(),
        }),
        AnswerEvent::Token(text) => Event::default().event("token").json_data(TokenEvent { text }),
        AnswerEvent::Done { usage, model, retrieval_ms, generation_ms } => Event::default()
            .event("done")
            .json_data(DoneEvent { usage, model, retrieval_ms, generation_ms, conversation_id }),
    }
}

/// The query of `GET /v1/vaults/{vault}/conversations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationListParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Conversations per page (1–100, default 20).
    pub limit: Option<usize>,
}

/// `GET /v1/vaults/{vault}/conversations`: the caller's own, newest first.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/conversations", operation_id = "conversations_list", tag = "answers",
    params(VaultPath, ConversationListParams),
    responses(
        (status = 200, description = "A page of your live conversations in the vault, newest first.", body = ConversationPage),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
    )
)]
pub async fn conversations(
    allowed: Allowed<perm::Search>,
    Query(q): Query<ConversationListParams>,
) -> Result<JsonOut<ConversationPage>, ApiError> {
    allowed.json(move |e, access| e.conversations(access, q.cursor.as_deref(), q.limit)).await
}

/// `GET /v1/vaults/{vault}/conversations/{id}`.
#[utoipa::path(
    get, path = "/v1/vaults/{vault}/conversations/{id}", operation_id = "conversations_get", tag = "answers",
    params(VaultItemPath),
    responses(
        (status = 200, description = "One of your conversations with its turns (and their citations), oldest first.", body = Conversation),
        (status = 404, response = NotFound),
    )
)]
pub async fn conversation(
    allowed: Allowed<perm::Search>,
    Path((_, id)): Path<(String, String)>,
) -> Result<JsonOut<Conversation>, ApiError> {
    allowed.json(move |e, access| e.conversation(access, &id)).await
}

/// `DELETE /v1/vaults/{vault}/conversations/{id}`.
#[utoipa::path(
    delete, path = "/v1/vaults/{vault}/conversations/{id}", operation_id = "conversations_delete", tag = "answers",
    params(VaultItemPath),
    responses(
        (status = 204, description = "Deleted with its turns."),
        (status = 404, response = NotFound),
    )
)]
pub async fn conversation_delete(
    allowed: Allowed<perm::Search>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    allowed.no_content(move |e, access| e.conversation_delete(access, &id)).await
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
