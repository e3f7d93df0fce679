//! The tools (and resources) Trove offers over MCP: their JSON schemas and descriptions, and
//! how each call maps onto the engine. Every vault-scoped call first checks the
//! [`Principal`]: the action it needs, and that it can see the vault (a vault outside its
//! reach is reported exactly like one that does not exist).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use trove_engine::auth::Principal;
use trove_engine::{Engine, EngineError, SearchRequest};
use trove_store::ChunkFilter;
use trove_types::{Action, Code, HasCode, MemoryInput, MemoryQuery, MemoryScope, MemoryUpdate, SearchMode};

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

fn bad(message: impl Into<String>) -> ToolError {
    ToolError { code: Code::BadRequest, message: message.into() }
}

const VAULT: &str = "The vault to use (see list_vaults). Optional when there is only one vault or a default.";
const SCOPE_USER: &str = "The end user the memory is about or belongs to.";
const SCOPE_AGENT: &str = "The agent storing or reading the memory.";
const SCOPE_SESSION: &str = "The conversation or run the memory belongs to.";

fn scope_properties() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("vault".into(), json!({"type": "string", "description": VAULT}));
    m.insert("user_id".into(), json!({"type": "string", "description": SCOPE_USER}));
    m.insert("agent_id".into(), json!({"type": "string", "description": SCOPE_AGENT}));
    m.insert("session_id".into(), json!({"type": "string", "description": SCOPE_SESSION}));
    m.insert(
        "tags".into(),
        json!({"type": "array", "items": {"type": "string"}, "description": "Labels; when filtering, memories must have all of them."}),
    );
    m
}

fn object(mut props: Map<String, Value>, extra: Value, required: &[&str]) -> Value {
    if let Value::Object(e) = extra {
        props.extend(e);
    }
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn vault_only() -> Value {
    json!({"type": "object", "properties": {"vault": {"type": "string", "description": VAULT}}, "additionalProperties": false})
}

/// Every tool, as `tools/list` shows it (built once).
pub fn definitions() -> &'static [Value] {
    static DEFINITIONS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    DEFINITIONS.get_or_init(build_definitions)
}

fn build_definitions() -> Vec<Value> {
    let read_only = json!({"readOnlyHint": true, "openWorldHint": false});
    let writes = json!({"readOnlyHint": false, "destructiveHint": false, "openWorldHint": false});
    let destroys =
        json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": false});
    vec![
        json!({
            "name": "search",
            "title": "Search the knowledge base",
            "description": "Find passages in a vault's indexed documents. Hybrid mode (default) matches meaning and keywords; use keyword mode for exact names, codes and error messages. Each hit has the document's uri, title, heading path, the passage text, a score (higher is better) and a chunk_id to pass to expand_context or find_similar. Cite the uri when you use a hit.",
            "inputSchema": object(Map::new(), json!({
                "query": {"type": "string", "description": "What to look for, in natural language or keywords."},
                "vault": {"type": "string", "description": VAULT},
                "mode": {"type": "string", "enum": ["hybrid", "semantic", "keyword"], "description": "hybrid (default), semantic (meaning only) or keyword (BM25 only)."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "Hits wanted (default 8)."},
                "source": {"type": "string", "description": "Only documents from this source of the vault (see list_sources)."},
                "uri_prefix": {"type": "string", "description": "Only documents whose uri starts with this, e.g. `guides/`."},
                "metadata": {"type": "object", "description": "Only documents whose metadata (e.g. Markdown front matter) has each key with this string, number or boolean value, or an array containing it.", "additionalProperties": {"type": ["string", "number", "boolean"]}}
            }), &["query"]),
            "annotations": read_only,
        }),
        json!({
            "name": "expand_context",
            "title": "Read around a search hit",
            "description": "Return the chunks around a search hit (by its chunk_id) from the same document, in order, so you can read more than the passage: `before`/`after` neighbouring chunks, or the whole section under the hit's heading with `section: true`.",
            "inputSchema": object(Map::new(), json!({
                "chunk_id": {"type": "integer", "description": "chunk_id of a search hit."},
                "vault": {"type": "string", "description": VAULT},
                "before": {"type": "integer", "minimum": 0, "maximum": 20, "description": "Chunks before the hit (default 2)."},
                "after": {"type": "integer", "minimum": 0, "maximum": 20, "description": "Chunks after the hit (default 2)."},
                "section": {"type": "boolean", "description": "Return every chunk under the same heading as the hit instead (default false)."}
            }), &["chunk_id"]),
            "annotations": read_only,
        }),
        json!({
            "name": "find_similar",
            "title": "Find similar documents",
            "description": "Find other documents about the same thing as the document of a search hit (by its chunk_id), best first; the document itself is left out.",
            "inputSchema": object(Map::new(), json!({
                "chunk_id": {"type": "integer", "description": "chunk_id of a search hit whose document to match."},
                "vault": {"type": "string", "description": VAULT},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20, "description": "Documents wanted (default 5)."}
            }), &["chunk_id"]),
            "annotations": read_only,
        }),
        json!({
            "name": "list_vaults",
            "title": "List vaults",
            "description": "The vaults you can use, with their document and chunk counts and embedding model.",
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
            "annotations": read_only,
        }),
        json!({
            "name": "list_sources",
            "title": "List a vault's sources",
            "description": "The sources of a vault (folders, uploads, ...) with their type, location and document counts.",
            "inputSchema": vault_only(),
            "annotations": read_only,
        }),
        json!({
            "name": "ingest_status",
            "title": "Ingest status of a vault",
            "description": "How fresh a vault is: its counts, its sources, and its recent ingest jobs (uploads and syncs) with their status, finish time and errors, including failures waiting in the dead-letter queue.",
            "inputSchema": vault_only(),
            "annotations": read_only,
        }),
        json!({
            "name": "store_memory",
            "title": "Remember something",
            "description": "Store a memory: a short, self-contained fact worth recalling later (a user's preference, a decision, an outcome). Scope it with user_id / agent_id / session_id so it is found again by the right party. Returns the memory with its id.",
            "inputSchema": object(scope_properties(), json!({
                "text": {"type": "string", "minLength": 1, "maxLength": 16384, "description": "What to remember, written so it makes sense on its own."},
                "metadata": {"type": "object", "description": "Any other JSON fields to keep with it."},
                "importance": {"type": "number", "minimum": 0, "maximum": 1, "description": "0 (trivia) to 1 (essential); default 0.5."},
                "expires_at": {"type": "string", "description": "RFC 3339 time after which it is forgotten, e.g. 2026-12-31T00:00:00Z."}
            }), &["text"]),
            "annotations": writes,
        }),
        json!({
            "name": "retrieve_memory",
            "title": "Recall memories",
            "description": "Find the memories most relevant to a query, by meaning and keywords, within a scope (user_id, agent_id, session_id, tags, creation time). Call this before answering a user to recall what you know about them.",
            "inputSchema": object(scope_properties(), json!({
                "query": {"type": "string", "description": "What you want to recall."},
                "created_after": {"type": "string", "description": "Only memories created at or after this RFC 3339 time."},
                "created_before": {"type": "string", "description": "Only memories created before this RFC 3339 time."},
                "mode": {"type": "string", "enum": ["hybrid", "semantic", "keyword"], "description": "hybrid (default), semantic or keyword."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Memories wanted (default 10)."}
            }), &["query"]),
            "annotations": read_only,
        }),
        json!({
            "name": "list_memories",
            "title": "List memories",
            "description": "List memories newest first within a scope, a page at a time; pass next_cursor back as cursor for the next page.",
            "inputSchema": object(scope_properties(), json!({
                "created_after": {"type": "string", "description": "Only memories created at or after this RFC 3339 time."},
                "created_before": {"type": "string", "description": "Only memories created before this RFC 3339 time."},
                "cursor": {"type": "string", "description": "next_cursor of the previous page."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Memories per page (default 20)."}
            }), &[]),
            "annotations": read_only,
        }),
        json!({
            "name": "update_memory",
            "title": "Correct a memory",
            "description": "Change a memory by id: new text (re-embedded), tags, metadata, importance or expiry; fields left out stay as they are. Use it when a fact changed rather than storing a contradicting one.",
            "inputSchema": object(Map::new(), json!({
                "id": {"type": "string", "description": "The memory's id."},
                "vault": {"type": "string", "description": VAULT},
                "text": {"type": "string", "minLength": 1, "maxLength": 16384, "description": "New text."},
                "tags": {"type": "array", "items": {"type": "string"}, "description": "New tags (replace the old ones)."},
                "metadata": {"type": "object", "description": "New metadata (replaces the old object)."},
                "importance": {"type": "number", "minimum": 0, "maximum": 1, "description": "New importance."},
                "expires_at": {"type": ["string", "null"], "description": "New expiry (RFC 3339), or null to keep it forever."}
            }), &["id"]),
            "annotations": writes,
        }),
        json!({
            "name": "delete_memory",
            "title": "Forget a memory",
            "description": "Delete a memory by id, for good: when the user asks you to forget something, or a memory is wrong and update_memory cannot fix it.",
            "inputSchema": object(Map::new(), json!({
                "id": {"type": "string", "description": "The memory's id."},
                "vault": {"type": "string", "description": VAULT}
            }), &["id"]),
            "annotations": destroys,
        }),
        json!({
            "name": "memory_stats",
            "title": "Memory statistics",
            "description": "How many memories a vault holds, by user, agent, session, tag and age, and the storage they use.",
            "inputSchema": vault_only(),
            "annotations": read_only,
        }),
    ]
}

/// Whether a tool of that name exists.
pub fn exists(name: &str) -> bool {
    definitions().iter().any(|t| t["name"] == name)
}

/// The tools that change data.
const WRITING: &[&str] = &["store_memory", "update_memory", "delete_memory"];

/// Runs a tool; failures become a result with `isError: true`. With `read_only` set, tools
/// that change data are refused with that reason.
pub fn call(engine: &Engine, principal: &Principal, name: &str, args: &Value, read_only: Option<&str>) -> Value {
    let result = match read_only {
        Some(why) if WRITING.contains(&name) => Err(ToolError {
            code: Code::WorkspaceLocked,
            message: format!(
                "this MCP server is read-only: {why}. Searching and reading memories work; to change memories, use the /mcp endpoint of the `trove serve` that holds the workspace, or retry once the other process has stopped"
            ),
        }),
        _ => run(engine, principal, name, args),
    };
    match result {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            json!({"content": [{"type": "text", "text": text}], "structuredContent": value, "isError": false})
        }
        Err(e) => {
            let info = e.code.info();
            let text = format!("error {}: {}", info.name, e.message);
            json!({
                "content": [{"type": "text", "text": text}],
                "structuredContent": {"error": {"code": info.name, "message": e.message}},
                "isError": true,
            })
        }
    }
}

/// The arguments as an object.
fn args_map(args: &Value) -> Result<Map<String, Value>, ToolError> {
    match args {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(Map::new()),
        other => Err(bad(format!("arguments must be a JSON object, got {other}"))),
    }
}

/// Takes the fields `keys` out of `m` (for those not in the target type).
fn take(m: &mut Map<String, Value>, key: &str) -> Option<Value> {
    m.remove(key).filter(|v| !v.is_null())
}

fn parse<T: DeserializeOwned>(tool: &str, m: Map<String, Value>) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(m)).map_err(|e| bad(format!("{tool}: {e}; see the tool's input schema")))
}

fn string(tool: &str, v: Option<Value>, field: &str) -> Result<Option<String>, ToolError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(bad(format!("{tool}: `{field}` must be a string, got {other}"))),
    }
}

fn integer(tool: &str, v: Option<Value>, field: &str, (min, max): (u64, u64)) -> Result<Option<u64>, ToolError> {
    match v {
        None => Ok(None),
        Some(n) => {
            // 3.0 is a whole number too.
            let whole = n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
            match whole {
                Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
                _ => Err(bad(format!("{tool}: `{field}` must be a whole number from {min} to {max}, got {n}"))),
            }
        }
    }
}

/// The vault a call uses, after checking the principal may use it for `action`.
fn vault(engine: &Engine, principal: &Principal, named: Option<String>, action: Action) -> Result<String, ToolError> {
    if !principal.allows(action) {
        return Err(ToolError {
            code: Code::Forbidden,
            message: format!("this API key lacks the `{action}` action; ask for a key that has it"),
        });
    }
    let name = match named {
        Some(n) => n,
        None => {
            let visible = visible_vaults(engine, principal)?;
            match (engine.workspace().config.vaults.keys().find(|v| visible.contains(v)), visible.first()) {
                (Some(default), _) => default.clone(),
                (None, Some(only)) if visible.len() == 1 => only.clone(),
                _ => {
                    return Err(bad(format!(
                        "say which `vault` to use: one of {}",
                        if visible.is_empty() { "(none)".to_string() } else { visible.join(", ") }
                    )));
                }
            }
        }
    };
    if !engine.sees_vault(principal, &name)? {
        return Err(ToolError {
            code: Code::VaultNotFound,
            message: format!("no vault named `{name}` is visible to you; call list_vaults for the ones you can use"),
        });
    }
    if !principal.allows_in(action, &name) {
        return Err(ToolError {
            code: Code::Forbidden,
            message: format!("your grant on vault `{name}` does not allow `{action}`; ask an admin for a higher level"),
        });
    }
    Ok(name)
}

/// The vaults `principal` sees, with their counts.
fn visible_overview(engine: &Engine, principal: &Principal) -> Result<Vec<trove_types::VaultSummary>, ToolError> {
    let mut out = Vec::new();
    for v in engine.vaults_overview()? {
        if engine.sees_vault(principal, &v.name)? {
            out.push(v);
        }
    }
    Ok(out)
}

fn visible_vaults(engine: &Engine, principal: &Principal) -> Result<Vec<String>, ToolError> {
    Ok(visible_overview(engine, principal)?.into_iter().map(|v| v.name).collect())
}

fn run(engine: &Engine, principal: &Principal, name: &str, args: &Value) -> Result<Value, ToolError> {
    let mut m = args_map(args)?;
    let named = string(name, take(&mut m, "vault"), "vault")?;
    match name {
        "search" => {
            let vault = vault(engine, principal, named, Action::Search)?;
            let query =
                string(name, take(&mut m, "query"), "query")?.ok_or_else(|| bad("search: `query` is required"))?;
            let mode = take(&mut m, "mode")
                .map(serde_json::from_value::<SearchMode>)
                .transpose()
                .map_err(|e| bad(format!("search: `mode` must be hybrid, semantic or keyword ({e})")))?;
            let limit = integer(name, take(&mut m, "limit"), "limit", (1, 50))?.unwrap_or(8) as usize;
            let mut filter = ChunkFilter {
                source: string(name, take(&mut m, "source"), "source")?,
                uri_prefix: string(name, take(&mut m, "uri_prefix"), "uri_prefix")?,
                ..ChunkFilter::default()
            };
            match take(&mut m, "metadata") {
                None => {}
                Some(Value::Object(meta)) => filter.metadata = meta.into_iter().collect(),
                Some(other) => return Err(bad(format!("search: `metadata` must be an object, got {other}"))),
            }
            no_extra(name, &m)?;
            let response = engine.search(&SearchRequest {
                vault: Some(vault.clone()),
                query,
                mode,
                limit: Some(limit),
                filter,
            })?;
            let hits: Vec<Value> = response
                .hits
                .into_iter()
                .map(|h| {
                    json!({"uri": h.uri, "title": h.title, "heading_path": h.heading_path, "text": h.text,
                           "score": h.score, "source": h.source, "chunk_id": h.chunk_id, "chunk_index": h.chunk_index})
                })
                .collect();
            Ok(json!({"vault": vault, "mode": response.mode, "hits": hits}))
        }
        "expand_context" => {
            let vault = vault(engine, principal, named, Action::Search)?;
            let chunk = integer(name, take(&mut m, "chunk_id"), "chunk_id", (0, i64::MAX as u64))?
                .ok_or_else(|| bad("expand_context: `chunk_id` (from a search hit) is required"))?
                as i64;
            let before = integer(name, take(&mut m, "before"), "before", (0, 20))?.unwrap_or(2) as usize;
            let after = integer(name, take(&mut m, "after"), "after", (0, 20))?.unwrap_or(2) as usize;
            let section = match take(&mut m, "section") {
                None => false,
                Some(Value::Bool(b)) => b,
                Some(other) => {
                    return Err(bad(format!("expand_context: `section` must be true or false, got {other}")));
                }
            };
            no_extra(name, &m)?;
            let (doc, hit_index) = document_of(engine, &vault, chunk)?;
            let hit_heading =
                doc.chunks.iter().find(|c| c.id == chunk).map(|c| c.heading_path.clone()).unwrap_or_default();
            let chunks: Vec<Value> = doc
                .chunks
                .iter()
                .filter(|c| {
                    if section {
                        c.heading_path.starts_with(&hit_heading)
                    } else {
                        let i = c.index as usize;
                        i + before >= hit_index && i <= hit_index + after
                    }
                })
                .map(|c| json!({"chunk_id": c.id, "index": c.index, "heading_path": c.heading_path, "text": c.text, "is_hit": c.id == chunk}))
                .collect();
            Ok(json!({
                "document": {"id": doc.document.id, "uri": doc.document.uri, "title": doc.document.title, "source": doc.document.source},
                "chunks": chunks,
            }))
        }
        "find_similar" => {
            let vault = vault(engine, principal, named, Action::Search)?;
            let chunk = integer(name, take(&mut m, "chunk_id"), "chunk_id", (0, i64::MAX as u64))?
                .ok_or_else(|| bad("find_similar: `chunk_id` (from a search hit) is required"))?
                as i64;
            let limit = integer(name, take(&mut m, "limit"), "limit", (1, 20))?.unwrap_or(5) as usize;
            no_extra(name, &m)?;
            let (doc, _) = document_of(engine, &vault, chunk)?;
            let first = doc.chunks.first().ok_or_else(|| bad("find_similar: the document has no text"))?;
            let query = trove_engine::embedding_input(&doc.document.title, &first.heading_path, &first.text);
            let response = engine.search(&SearchRequest {
                vault: Some(vault),
                query,
                mode: Some(SearchMode::Semantic),
                limit: Some((limit * 4 + doc.chunks.len()).min(200)),
                filter: ChunkFilter::default(),
            })?;
            let mut seen = std::collections::HashSet::new();
            seen.insert((doc.document.source.clone(), doc.document.uri.clone()));
            let mut documents = Vec::new();
            for h in response.hits {
                if documents.len() == limit {
                    break;
                }
                if seen.insert((h.source.clone(), h.uri.clone())) {
                    documents.push(json!({"uri": h.uri, "title": h.title, "source": h.source, "score": h.score,
                        "chunk_id": h.chunk_id, "heading_path": h.heading_path, "text": h.text}));
                }
            }
            Ok(json!({"document": {"uri": doc.document.uri, "title": doc.document.title}, "similar": documents}))
        }
        "list_vaults" => {
            no_extra(name, &m)?;
            if !principal.allows(Action::Search) && !principal.allows(Action::MemoriesRead) {
                return Err(ToolError {
                    code: Code::Forbidden,
                    message: "this API key can neither search nor read memories".into(),
                });
            }
            Ok(json!({"vaults": visible_overview(engine, principal)?}))
        }
        "list_sources" => {
            let vault = vault(engine, principal, named, Action::Search)?;
            no_extra(name, &m)?;
            Ok(json!({"vault": vault, "sources": engine.vault_sources(&vault)?}))
        }
        "ingest_status" => {
            let vault = vault(engine, principal, named, Action::Search)?;
            no_extra(name, &m)?;
            let overview = engine.vault_overview(&vault)?;
            let sources = engine.vault_sources(&vault)?;
            let mut status = json!({"vault": overview, "sources": sources});
            if principal.allows(Action::Jobs) {
                let recent = engine.jobs_list(None, None, Some(&vault), None, Some(20))?;
                let dead = engine.jobs_list(Some("dead"), None, Some(&vault), None, Some(20))?;
                let brief = |j: &trove_types::Job| {
                    json!({"id": j.id, "kind": j.kind, "status": j.status, "created_at": j.created_at,
                           "finished_at": j.finished_at, "error": j.error.as_ref().map(|e| e.message.clone()), "result": j.result})
                };
                status["recent_jobs"] = recent.jobs.iter().map(brief).collect();
                status["failed_jobs"] = dead.jobs.iter().map(brief).collect();
            } else {
                status["jobs"] = json!("not shown: this API key lacks the `jobs` action");
            }
            Ok(status)
        }
        "store_memory" => {
            let vault = vault(engine, principal, named, Action::MemoriesWrite)?;
            let input: MemoryInput = parse(name, m)?;
            Ok(serde_json::to_value(engine.memory_store(&vault, &input)?).unwrap_or_default())
        }
        "retrieve_memory" => {
            let vault = vault(engine, principal, named, Action::MemoriesRead)?;
            let q: MemoryQuery = parse(name, m)?;
            Ok(json!({"memories": engine.memory_retrieve(&vault, &q)?}))
        }
        "list_memories" => {
            let vault = vault(engine, principal, named, Action::MemoriesRead)?;
            let cursor = string(name, take(&mut m, "cursor"), "cursor")?;
            let limit = integer(name, take(&mut m, "limit"), "limit", (1, 100))?.map(|l| l as usize);
            let scope: MemoryScope = parse(name, m)?;
            Ok(serde_json::to_value(engine.memory_list(&vault, &scope, cursor.as_deref(), limit)?).unwrap_or_default())
        }
        "update_memory" => {
            let vault = vault(engine, principal, named, Action::MemoriesWrite)?;
            let id = string(name, take(&mut m, "id"), "id")?.ok_or_else(|| bad("update_memory: `id` is required"))?;
            let update: MemoryUpdate = parse(name, m)?;
            Ok(serde_json::to_value(engine.memory_update(&vault, &id, &update)?).unwrap_or_default())
        }
        "delete_memory" => {
            let vault = vault(engine, principal, named, Action::MemoriesWrite)?;
            let id = string(name, take(&mut m, "id"), "id")?.ok_or_else(|| bad("delete_memory: `id` is required"))?;
            no_extra(name, &m)?;
            engine.memory_delete(&vault, &id)?;
            Ok(json!({"deleted": id, "vault": vault}))
        }
        "memory_stats" => {
            let vault = vault(engine, principal, named, Action::MemoriesRead)?;
            no_extra(name, &m)?;
            Ok(serde_json::to_value(engine.memory_stats(&vault)?).unwrap_or_default())
        }
        other => Err(bad(format!("unknown tool `{other}`"))),
    }
}

/// Refuses arguments the tool does not take (a misspelt filter must not silently widen).
fn no_extra(tool: &str, m: &Map<String, Value>) -> Result<(), ToolError> {
    match m.keys().next() {
        None => Ok(()),
        Some(k) => Err(bad(format!("{tool}: unknown argument `{k}`; see the tool's input schema"))),
    }
}

/// The document holding `chunk` in `vault`, and the chunk's index.
fn document_of(engine: &Engine, vault: &str, chunk: i64) -> Result<(trove_types::DocumentDetail, usize), ToolError> {
    let not_found = || ToolError {
        code: Code::DocumentNotFound,
        message: format!("vault `{vault}` has no chunk {chunk}; pass a chunk_id from a search hit of this vault"),
    };
    // An unknown vault is reported as such, before looking for the chunk.
    engine.vault_overview(vault)?;
    let record =
        engine.store().chunks(&[chunk]).map_err(EngineError::from)?.into_iter().next().ok_or_else(not_found)?;
    let doc = engine.document_get(vault, &record.document_id.to_string()).map_err(|e| match e {
        EngineError::DocumentNotFound { .. } => not_found(),
        other => other.into(),
    })?;
    Ok((doc, record.index as usize))
}

/// The resources: each visible vault's source list.
pub fn resources(engine: &Engine, principal: &Principal) -> Vec<Value> {
    if !principal.allows(Action::Search) {
        return Vec::new();
    }
    visible_vaults(engine, principal)
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
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
    let fail = |e: ToolError| format!("{uri}: {}", e.message);
    match parts.as_slice() {
        [v, "sources"] => {
            let vault = vault(engine, principal, Some(v.to_string()), Action::Search).map_err(fail)?;
            let sources = engine.vault_sources(&vault).map_err(|e| fail(e.into()))?;
            let text = serde_json::to_string_pretty(&sources).unwrap_or_default();
            Ok(json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": text}]}))
        }
        [v, "documents", id] => {
            let vault = vault(engine, principal, Some(v.to_string()), Action::Search).map_err(fail)?;
            let doc = engine.document_get(&vault, id).map_err(|e| fail(e.into()))?;
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
