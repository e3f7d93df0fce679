//! The tools (and resources) Trove offers over MCP, as one table (`table`): each row is a
//! tool's name, title and description (written for a model), its annotations (`Effect`), the
//! action it needs (the permission in its engine call's [`Access`] type), its arguments (an
//! `Args` of typed structs, whose schema `tools/list` shows) and the engine call.
//!
//! A row's call runs only after the engine's access boundary decided it
//! ([`Engine::authorize`]): the action, then the vault's visibility (a vault outside the
//! principal's reach is reported exactly like one that does not exist), then its grant, in the
//! same order as REST. Validation and limits are the engine's, so a tool refuses what the REST
//! route refuses, with the same code and message. Failures are results with `isError: true`
//! whose `structuredContent.error` is Trove's error body: the stable code, its `type`, the
//! message and the `link` to the code's entry in the error reference.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trove_engine::access::perm::Permission;
use trove_engine::auth::Principal;
use trove_engine::{Access, AnswerRequest, ConversationChoice, Engine, EngineError, SearchRequest, chunk_filter, perm};
use trove_types::{
    Action, Code, ContextChunk, ContextRequest, ErrorBody, Fusion, GroupBy, HasCode, MemoryInput, MemoryQuery,
    MemoryScope, MemoryUpdate, SearchFilters, SearchMode, SimilarRequest,
};
use utoipa::ToSchema;

use crate::args::{Args, ChunkRef, MemoryRef, Nothing, Page, no_arguments, parse_none};

/// A tool's failure: a stable code and what the model should do about it.
#[derive(Debug)]
struct ToolError {
    code: Code,
    message: String,
}

impl From<EngineError> for ToolError {
    fn from(e: EngineError) -> ToolError {
        ToolError { code: e.code(), message: e.to_string() }
    }
}

/// How a tool touches data: its MCP annotations, and whether a read-only server refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Reads,
    Writes,
    Destroys,
}

impl Effect {
    fn annotations(self) -> Value {
        match self {
            Effect::Reads => json!({"readOnlyHint": true, "openWorldHint": false}),
            Effect::Writes => json!({"readOnlyHint": false, "destructiveHint": false, "openWorldHint": false}),
            Effect::Destroys => {
                json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": false})
            }
        }
    }
}

type Run = Box<dyn Fn(&Engine, &Principal, Value) -> Result<Value, ToolError> + Send + Sync>;

/// One row of the table.
struct Tool {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    effect: Effect,
    input_schema: fn() -> Value,
    run: Run,
}

fn answer(r: impl Serialize) -> Result<Value, ToolError> {
    serde_json::to_value(r).map_err(|e| ToolError { code: Code::Internal, message: e.to_string() })
}

/// A tool's arguments, or why they are wrong.
fn parse<A>(tool: &str, parsed: Result<A, String>) -> Result<A, ToolError> {
    parsed
        .map_err(|m| ToolError { code: Code::BadRequest, message: format!("{tool}: {m}; see the tool's input schema") })
}

/// A tool on one vault (the one its arguments name, else the principal's default): the
/// engine decides the access for `P`, then `call` runs with it.
fn in_vault<P, E, T, R, F>(
    name: &'static str,
    title: &'static str,
    effect: Effect,
    description: &'static str,
    call: F,
) -> Tool
where
    P: Permission,
    E: DeserializeOwned + ToSchema + 'static,
    T: DeserializeOwned + ToSchema + 'static,
    R: Serialize,
    F: Fn(&Engine, &Access<P>, Args<E, T>) -> Result<R, EngineError> + Send + Sync + 'static,
{
    let run: Run = Box::new(move |engine, principal, args| {
        let args = parse(name, Args::<E, T>::parse(args))?;
        let vault = match &args.vault {
            Some(v) => v.clone(),
            None => engine.default_vault(principal)?,
        };
        let access = engine.authorize::<P>(principal, &vault)?;
        answer(call(engine, &access, args)?)
    });
    Tool { name, title, description, effect, input_schema: Args::<E, T>::input_schema, run }
}

/// A tool that names no vault.
fn global<R, F>(name: &'static str, title: &'static str, description: &'static str, call: F) -> Tool
where
    R: Serialize,
    F: Fn(&Engine, &Principal) -> Result<R, EngineError> + Send + Sync + 'static,
{
    let run: Run = Box::new(move |engine, principal, args| {
        parse(name, parse_none(args))?;
        answer(call(engine, principal)?)
    });
    Tool { name, title, description, effect: Effect::Reads, input_schema: no_arguments, run }
}

/// The arguments of `search` beside its filters (flat, unlike the REST body's `filters`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// What to look for, in natural language or keywords.
    pub query: String,
    /// hybrid (default), semantic (meaning only) or keyword (BM25 only).
    #[serde(default)]
    pub mode: Option<SearchMode>,
    /// Hits wanted (default 8).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Hits skipped first, for the next page (default 0).
    #[serde(default)]
    pub offset: Option<usize>,
    /// `chunk` (default): every matching passage; `document`: one hit per document, its best
    /// passage, with the ids of its other matching passages.
    #[serde(default)]
    pub group_by: Option<GroupBy>,
    /// Passages to include before and after each hit (0–20), to read it whole.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 20)]
    pub context: Option<usize>,
    /// How hybrid mode fuses keyword and meaning rankings (default: the server's).
    #[serde(default)]
    pub fusion: Option<Fusion>,
}

/// The arguments of `answer` beside its filters (flat, as `search`'s).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerArgs {
    /// The question, in natural language (at most 4,000 characters).
    pub question: String,
    /// How passages are retrieved: hybrid (default), semantic or keyword.
    #[serde(default)]
    pub mode: Option<SearchMode>,
    /// The most passages retrieved (default: the server's answers.chunks); those that fit the
    /// chat model's prompt are used.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Continue this conversation (the `conversation_id` of an earlier answer): the question is
    /// a follow-up, rewritten into a standalone one before retrieval. Absent: a new one.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// Also cite the user's memories in the vault (needs memories:read).
    #[serde(default)]
    pub memories: Option<bool>,
}

/// A search hit as a model reads it.
#[derive(Debug, Serialize)]
struct Hit {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    title: String,
    heading_path: Vec<String>,
    text: String,
    score: f32,
    source: String,
    source_type: String,
    metadata: Value,
    chunk_id: i64,
    chunk_index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_chunks: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    other_chunk_ids: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Vec<ContextChunk>>,
}

/// Hits a search answers unless asked otherwise (a model's context is precious).
const SEARCH_HITS: usize = 8;

/// Every tool, in the order `tools/list` shows them (built once).
fn table() -> &'static [Tool] {
    static TABLE: std::sync::OnceLock<Vec<Tool>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        use Effect::*;
        vec![
            in_vault(
                "search",
                "Search the knowledge base",
                Reads,
                "Find passages in a vault's indexed documents. Hybrid mode (default) matches meaning and keywords; use keyword mode for exact names, codes and error messages. Each hit has the document's uri, its url when it lives on the web (a Confluence page, a JIRA issue), title, heading path, source and source_type, metadata, the passage text, a score (higher is better) and a chunk_id to pass to expand_context or find_similar. Narrow with `source`, `uri_prefix` or `metadata` (e.g. {\"space\": \"OPS\"}); `group_by: document` gives one hit per document, `context: N` the N passages around each hit. Cite the url (else the uri) when you use a hit.",
                |e, access: &Access<perm::Search>, a: Args<SearchArgs, SearchFilters>| {
                    let (filter, a) = (chunk_filter(a.request), a.own);
                    let limit = Some(a.limit.unwrap_or(SEARCH_HITS));
                    let req = SearchRequest {
                        query: a.query,
                        mode: a.mode,
                        limit,
                        filter,
                        offset: a.offset,
                        group_by: a.group_by.unwrap_or_default(),
                        context: a.context,
                        fusion: a.fusion.unwrap_or_default(),
                    };
                    let r = e.search(access, &req)?;
                    let hits: Vec<Hit> = r
                        .hits
                        .into_iter()
                        .map(|h| Hit {
                            uri: h.uri,
                            url: h.url,
                            title: h.title,
                            heading_path: h.heading_path,
                            text: h.text,
                            score: h.score,
                            source: h.source,
                            source_type: h.source_type,
                            metadata: h.metadata,
                            chunk_id: h.chunk_id,
                            chunk_index: h.chunk_index,
                            other_chunks: h.other_chunks,
                            other_chunk_ids: h.other_chunk_ids,
                            context: h.context,
                        })
                        .collect();
                    Ok(json!({"vault": access.vault(), "mode": r.mode, "hits": hits}))
                },
            ),
            in_vault(
                "answer",
                "Answer a question from the knowledge base",
                Reads,
                "Ask the server's own chat model a question about a vault: it answers only from the vault's best passages, citing them as [n], and returns the answer with its citations (n, uri, title, heading path, snippet, chunk_id) and a conversation_id: pass it back with a follow-up question to continue the conversation. An agent with a model of its own usually wants `search` instead, which returns the passages themselves to reason over. Fails with chat_not_configured when the server has no chat model.",
                |e, access: &Access<perm::Search>, a: Args<AnswerArgs, SearchFilters>| {
                    let (filter, a) = (chunk_filter(a.request), a.own);
                    let conversation = match a.conversation_id {
                        Some(id) => ConversationChoice::Continue(id),
                        None => ConversationChoice::New,
                    };
                    let req = AnswerRequest {
                        question: a.question,
                        mode: a.mode,
                        limit: a.limit,
                        filter,
                        conversation,
                        memories: a.memories,
                    };
                    e.answer(access, &req)
                },
            ),
            in_vault(
                "expand_context",
                "Read around a search hit",
                Reads,
                "Return the chunks around a search hit (by its chunk_id) from the same document, in order, so you can read more than the passage: `before`/`after` neighbouring chunks, or the whole section under the hit's heading with `section: true`.",
                |e, access: &Access<perm::Search>, a: Args<ChunkRef, ContextRequest>| {
                    e.chunk_context(access, a.own.chunk_id, &a.request)
                },
            ),
            in_vault(
                "find_similar",
                "Find similar documents",
                Reads,
                "Find other documents about the same thing as the document of a search hit (by its chunk_id), best first; the document itself is left out.",
                |e, access: &Access<perm::Search>, a: Args<ChunkRef, SimilarRequest>| {
                    e.similar_documents(access, a.own.chunk_id, &a.request)
                },
            ),
            global(
                "list_vaults",
                "List vaults",
                "The vaults you can use, with their document and chunk counts and embedding model.",
                |e, principal| {
                    // Either action will do: the vaults are where searches and memories live.
                    e.authorize_global(principal, Action::Search)
                        .or_else(|_| e.authorize_global(principal, Action::MemoriesRead))?;
                    Ok(json!({"vaults": e.visible_vaults(principal)?}))
                },
            ),
            in_vault(
                "list_sources",
                "List a vault's sources",
                Reads,
                "The sources of a vault (folders, uploads, ...) with their type, location and document counts.",
                |e, access: &Access<perm::Search>, _: Args| {
                    Ok(json!({"vault": access.vault(), "sources": e.vault_sources(access)?}))
                },
            ),
            in_vault(
                "ingest_status",
                "Ingest status of a vault",
                Reads,
                "How fresh a vault is: its counts, its sources, and its recent ingest jobs (uploads and syncs) with their status, finish time and errors, including failures waiting in the dead-letter queue.",
                |e, access: &Access<perm::Search>, _: Args| e.ingest_status(access),
            ),
            in_vault(
                "store_memory",
                "Remember something",
                Writes,
                "Store a memory: a short, self-contained fact worth recalling later (a user's preference, a decision, an outcome). Scope it with user_id / agent_id / session_id so it is found again by the right party. Returns the memory with its id.",
                |e, access: &Access<perm::MemoriesWrite>, a: Args<Nothing, MemoryInput>| {
                    e.memory_store(access, &a.request)
                },
            ),
            in_vault(
                "retrieve_memory",
                "Recall memories",
                Reads,
                "Find the memories most relevant to a query, by meaning and keywords, within a scope (user_id, agent_id, session_id, tags, creation time). Call this before answering a user to recall what you know about them.",
                |e, access: &Access<perm::MemoriesRead>, a: Args<Nothing, MemoryQuery>| {
                    Ok(json!({"memories": e.memory_retrieve(access, &a.request)?}))
                },
            ),
            in_vault(
                "list_memories",
                "List memories",
                Reads,
                "List memories newest first within a scope, a page at a time; pass next_cursor back as cursor for the next page.",
                |e, access: &Access<perm::MemoriesRead>, a: Args<Page, MemoryScope>| {
                    e.memory_list(access, &a.request, a.own.cursor.as_deref(), a.own.limit)
                },
            ),
            in_vault(
                "update_memory",
                "Correct a memory",
                Writes,
                "Change a memory by id: new text (re-embedded), tags, metadata, importance or expiry; fields left out stay as they are. Use it when a fact changed rather than storing a contradicting one.",
                |e, access: &Access<perm::MemoriesWrite>, a: Args<MemoryRef, MemoryUpdate>| {
                    e.memory_update(access, &a.own.id, &a.request)
                },
            ),
            in_vault(
                "delete_memory",
                "Forget a memory",
                Destroys,
                "Delete a memory by id, for good: when the user asks you to forget something, or a memory is wrong and update_memory cannot fix it.",
                |e, access: &Access<perm::MemoriesWrite>, a: Args<MemoryRef>| {
                    e.memory_delete(access, &a.own.id)?;
                    Ok(json!({"deleted": a.own.id, "vault": access.vault()}))
                },
            ),
            in_vault(
                "memory_stats",
                "Memory statistics",
                Reads,
                "How many memories a vault holds, by user, agent, session, tag and age, and the storage they use.",
                |e, access: &Access<perm::MemoriesRead>, _: Args| e.memory_stats(access),
            ),
        ]
    })
}

/// Every tool, as `tools/list` shows it (built once).
pub fn definitions() -> &'static [Value] {
    static DEFINITIONS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    DEFINITIONS.get_or_init(|| {
        table()
            .iter()
            .map(|t| {
                json!({"name": t.name, "title": t.title, "description": t.description,
                       "inputSchema": (t.input_schema)(), "annotations": t.effect.annotations()})
            })
            .collect()
    })
}

fn find(name: &str) -> Option<&'static Tool> {
    table().iter().find(|t| t.name == name)
}

/// Whether a tool of that name exists.
pub fn exists(name: &str) -> bool {
    find(name).is_some()
}

/// How a call is made: whether tools that change data are refused (with that reason, for a
/// store opened read-only), and where error links point (the error reference's URL or path).
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// Why tools that write are refused, if they are.
    pub read_only: Option<&'a str>,
    /// The error reference that failures link into.
    pub errors_reference: &'a str,
}

/// Runs a tool; failures become a result with `isError: true` carrying Trove's error body.
pub fn call(engine: &Engine, principal: &Principal, name: &str, args: &Value, cx: CallContext<'_>) -> Value {
    let read_only = cx.read_only;
    let result = match (find(name), read_only) {
        (None, _) => Err(ToolError { code: Code::BadRequest, message: format!("unknown tool `{name}`") }),
        (Some(t), Some(why)) if t.effect != Effect::Reads => Err(ToolError {
            code: Code::WorkspaceLocked,
            message: format!(
                "this MCP server is read-only: {why}. Searching and reading memories work; to change memories, restart it once the process that has the workspace to itself has finished (`trove doctor` lists the processes that have the workspace open)"
            ),
        }),
        (Some(t), _) => (t.run)(engine, principal, args.clone()),
    };
    match result {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            json!({"content": [{"type": "text", "text": text}], "structuredContent": value, "isError": false})
        }
        Err(e) => {
            let body = ErrorBody::new(e.code, e.message, cx.errors_reference);
            let text = format!("error {}: {} (see {})", body.code, body.message, body.link);
            json!({
                "content": [{"type": "text", "text": text}],
                "structuredContent": {"error": body},
                "isError": true,
            })
        }
    }
}

/// The resources: each visible vault's source list.
pub fn resources(engine: &Engine, principal: &Principal) -> Vec<Value> {
    if engine.authorize_global(principal, Action::Search).is_err() {
        return Vec::new();
    }
    engine
        .visible_vaults(principal)
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            let v = v.name;
            json!({"uri": format!("trove://vaults/{v}/sources"), "name": format!("{v}-sources"),
                   "title": format!("Sources of vault {v}"), "mimeType": "application/json",
                   "description": format!("The sources of vault `{v}` with their document counts.")})
        })
        .collect()
}

/// The resource templates.
pub fn resource_templates() -> Vec<Value> {
    vec![
        json!({"uriTemplate": "trove://vaults/{vault}/sources", "name": "vault-sources", "title": "A vault's sources", "mimeType": "application/json"}),
        json!({"uriTemplate": "trove://vaults/{vault}/documents/{id}", "name": "document", "title": "A document's full text", "mimeType": "text/markdown"}),
    ]
}

/// Reads a resource by uri.
pub fn read_resource(engine: &Engine, principal: &Principal, uri: &str) -> Result<Value, String> {
    let rest = uri
        .strip_prefix("trove://vaults/")
        .ok_or_else(|| format!("unknown resource `{uri}`: Trove's resources start with trove://vaults/"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    let fail = |e: EngineError| format!("{uri}: {e}");
    let access = |vault: &str| engine.authorize::<perm::Search>(principal, vault).map_err(fail);
    match parts.as_slice() {
        [v, "sources"] => {
            let sources = engine.vault_sources(&access(v)?).map_err(fail)?;
            let text = serde_json::to_string_pretty(&sources).unwrap_or_default();
            Ok(json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": text}]}))
        }
        [v, "documents", id] => {
            let doc = engine.document_get(&access(v)?, id).map_err(fail)?;
            let mut text = format!("# {}\n", doc.document.title);
            for c in &doc.chunks {
                text.push('\n');
                text.push_str(&c.text);
                text.push('\n');
            }
            Ok(json!({"contents": [{"uri": uri, "mimeType": "text/markdown", "text": text}]}))
        }
        _ => Err(format!(
            "unknown resource `{uri}`: use trove://vaults/{{vault}}/sources or trove://vaults/{{vault}}/documents/{{id}}"
        )),
    }
}
