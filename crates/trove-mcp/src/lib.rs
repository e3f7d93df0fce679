//! Trove's Model Context Protocol server. [`McpServer::handle`] answers one JSON-RPC 2.0
//! message (MCP's handshake era: `initialize`, `ping`, `tools/list`, `tools/call`,
//! `resources/list`, `resources/templates/list`, `resources/read`), knowing no transport:
//! [`serve_stdio`] drives it over newline-delimited stdin/stdout for `trove mcp`, and the
//! HTTP server posts messages to it at `/mcp`. Every call acts as a [`Principal`], so an MCP
//! client reaches exactly what the same API key reaches over REST.
//!
//! Tools ([`tools`]) are the engine's operations, one table of rows with descriptions written
//! for a model and typed arguments whose schemas are derived from their types (`args`). A
//! failing tool answers a result with `isError: true` whose text names Trove's stable error
//! code and what to do; malformed JSON-RPC gets JSON-RPC errors.
//!
//! Invariant: over stdio, stdout carries protocol messages only (logs go to stderr).

mod args;
pub mod tools;

use std::io::{BufRead, Write};
use std::sync::Arc;

use serde_json::{Value, json};
use trove_engine::Engine;
use trove_engine::auth::Principal;

/// The protocol revisions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// JSON-RPC error codes.
pub mod codes {
    /// The message is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The message is not a valid request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The parameters are wrong.
    pub const INVALID_PARAMS: i64 = -32602;
    /// MCP: no such resource.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
}

/// One MCP server: an engine and the identity its calls act as.
#[derive(Debug, Clone)]
pub struct McpServer {
    engine: Arc<Engine>,
    principal: Principal,
    /// Why tools that write are refused (the store was opened read-only), if they are.
    read_only: Option<String>,
    /// The error reference that failed tools link into.
    errors_reference: String,
}

fn rpc_error(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

fn rpc_result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

impl McpServer {
    /// A server acting as `principal`.
    pub fn new(engine: Arc<Engine>, principal: Principal) -> McpServer {
        McpServer { engine, principal, read_only: None, errors_reference: trove_types::ERRORS_PATH.to_string() }
    }

    /// Links failed tools' errors into the error reference at `url` (a server's
    /// `…/docs/errors`, or the path of `docs/errors.md`); the bare `/docs/errors` otherwise.
    pub fn errors_reference(mut self, url: impl Into<String>) -> McpServer {
        self.errors_reference = url.into();
        self
    }

    /// Refuses the tools that write, saying `why` (for a store opened read-only).
    pub fn read_only(mut self, why: impl Into<String>) -> McpServer {
        self.read_only = Some(why.into());
        self
    }

    /// Answers one message; `None` for notifications (and responses a client sends us).
    pub fn handle(&self, message: Value) -> Option<Value> {
        let Some(obj) = message.as_object() else {
            return Some(rpc_error(Value::Null, codes::INVALID_REQUEST, "a JSON-RPC message must be an object"));
        };
        let id = obj.get("id").cloned();
        let Some(method) = obj.get("method").and_then(Value::as_str) else {
            // A response to a request we never sent, or garbage with an id.
            return id
                .filter(|_| !obj.contains_key("result") && !obj.contains_key("error"))
                .map(|id| rpc_error(id, codes::INVALID_REQUEST, "a JSON-RPC request needs a `method` string"));
        };
        let params = obj.get("params").cloned().unwrap_or(Value::Null);
        let Some(id) = id else {
            // Notifications (`notifications/initialized`, cancellations) need no answer.
            tracing::debug!(method, "notification");
            return None;
        };
        Some(match self.call(method, &params) {
            Ok(result) => rpc_result(id, result),
            Err((code, message)) => rpc_error(id, code, message),
        })
    }

    fn call(&self, method: &str, params: &Value) -> Result<Value, (i64, String)> {
        match method {
            "initialize" => {
                let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
                let version = PROTOCOL_VERSIONS.iter().find(|v| **v == asked).unwrap_or(&PROTOCOL_VERSIONS[0]);
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}, "resources": {"listChanged": false, "subscribe": false}},
                    "serverInfo": {"name": "trove", "title": "Trove", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": "Trove holds this team's knowledge (vaults of indexed documents) and your long-term memory. Use `search` to find passages (then `expand_context` for more of a document; `answer` asks the server's own chat model instead), `list_vaults` to see what exists, and the memory tools to remember and recall facts about users, scoped by user_id / agent_id / session_id.",
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => Ok(json!({"tools": tools::definitions()})),
            "tools/call" => {
                let name = params.get("name").and_then(Value::as_str).ok_or((
                    codes::INVALID_PARAMS,
                    "tools/call needs `name`, one of the names from tools/list".to_string(),
                ))?;
                let args = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
                if !tools::exists(name) {
                    return Err((
                        codes::INVALID_PARAMS,
                        format!("unknown tool `{name}`; call tools/list for the tools"),
                    ));
                }
                let cx = tools::CallContext {
                    read_only: self.read_only.as_deref(),
                    errors_reference: &self.errors_reference,
                };
                Ok(tools::call(&self.engine, &self.principal, name, &args, cx))
            }
            "resources/list" => Ok(json!({"resources": tools::resources(&self.engine, &self.principal)})),
            "resources/templates/list" => Ok(json!({"resourceTemplates": tools::resource_templates()})),
            "resources/read" => {
                let uri = params.get("uri").and_then(Value::as_str).ok_or((
                    codes::INVALID_PARAMS,
                    "resources/read needs `uri`, e.g. trove://vaults/notes/sources".to_string(),
                ))?;
                tools::read_resource(&self.engine, &self.principal, uri)
                    .map_err(|message| (codes::RESOURCE_NOT_FOUND, message))
            }
            other => Err((codes::METHOD_NOT_FOUND, format!("Trove's MCP server has no method `{other}`"))),
        }
    }

    /// Answers one line of text (a message, or a parse error); `None` when nothing is owed.
    pub fn handle_text(&self, text: &str) -> Option<Value> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(_)) => Some(rpc_error(
                Value::Null,
                codes::INVALID_REQUEST,
                "JSON-RPC batches are not supported; send one message per line",
            )),
            Ok(message) => self.handle(message),
            Err(e) => Some(rpc_error(Value::Null, codes::PARSE_ERROR, format!("the message is not JSON: {e}"))),
        }
    }
}

/// Serves newline-delimited JSON-RPC from `input` to `output` until `input` ends. A line that
/// is not UTF-8 gets a parse error like any other malformed line; serving goes on.
pub fn serve_stdio(server: &McpServer, mut input: impl BufRead, mut output: impl Write) -> std::io::Result<()> {
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&raw);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(answer) = server.handle_text(&line) {
            serde_json::to_writer(&mut output, &answer)?;
            output.write_all(b"\n")?;
            output.flush()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> (McpServer, tempfile::TempDir) {
        server_with("")
    }

    /// A server on a vault `notes` with no documents, `extra` appended to its configuration.
    fn server_with(extra: &str) -> (McpServer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            format!("embedder:\n  auto_install: false\nvaults:\n  notes:\n    sources: {{}}\n{extra}"),
        )
        .unwrap();
        let ws = trove_config::Workspace::load(Some(dir.path()), None).unwrap();
        let engine = Engine::open(ws, trove_engine::OpenMode::Write, "test").unwrap();
        (McpServer::new(Arc::new(engine), Principal::Local), dir)
    }

    fn ask(s: &McpServer, text: &str) -> Value {
        s.handle_text(text).expect("an answer")
    }

    #[test]
    fn initialize_answers_the_clients_version_or_the_newest() {
        let (s, _d) = server();
        let r = ask(&s, r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#);
        assert_eq!(r["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(r["result"]["serverInfo"]["name"], "trove");
        let r =
            ask(&s, r#"{"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#);
        assert_eq!(
            (r["id"].as_str(), r["result"]["protocolVersion"].as_str()),
            (Some("a"), Some(PROTOCOL_VERSIONS[0]))
        );
    }

    #[test]
    fn protocol_errors_are_json_rpc_errors_and_notifications_get_no_answer() {
        let (s, _d) = server();
        assert_eq!(ask(&s, "{not json")["error"]["code"], codes::PARSE_ERROR);
        assert_eq!(ask(&s, "[1]")["error"]["code"], codes::INVALID_REQUEST);
        assert_eq!(
            ask(&s, r#"{"jsonrpc":"2.0","id":2,"method":"server/discover"}"#)["error"]["code"],
            codes::METHOD_NOT_FOUND
        );
        assert_eq!(
            ask(&s, r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rm"}}"#)["error"]["code"],
            codes::INVALID_PARAMS
        );
        assert!(s.handle_text(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_none());
        assert_eq!(ask(&s, r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#)["result"], json!({}));
    }

    #[test]
    fn the_answer_tool_goes_through_the_engine_and_says_when_no_model_is_configured() {
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"answer","arguments":{"vault":"notes","question":"what is in here?","mode":"keyword"}}}"#;
        let (s, _d) = server();
        let r = ask(&s, call);
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert_eq!(r["result"]["structuredContent"]["error"]["code"], "chat_not_configured", "{r}");

        let chat = trove_chat::testing::FakeChat::always(trove_chat::testing::Script::answer(&["unused"]));
        let (s, _d) = server_with(&format!(
            "chat_models:\n  fake:\n    provider: custom\n    base_url: {}\n    models: {{chat: fake-model}}\n",
            chat.url()
        ));
        s.engine.vault_create("empty", Principal::Local.organization()).unwrap();
        let r = ask(&s, &call.replace("\"notes\"", "\"empty\""));
        assert_ne!(r["result"]["isError"], true, "{r}");
        let answer = &r["result"]["structuredContent"];
        assert!(answer["answer"].as_str().unwrap().contains("Nothing in vault `empty`"), "{r}");
        assert_eq!(answer["citations"], json!([]));
        assert_eq!(chat.calls(), 0, "nothing retrieved: the model is not asked");
        let r = ask(
            &s,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"answer","arguments":{"vault":"empty","question":"x","thread_id":"c"}}}"#,
        );
        assert_eq!(
            r["result"]["structuredContent"]["error"]["code"], "bad_request",
            "unknown arguments are refused: {r}"
        );
        let r = ask(
            &s,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"answer","arguments":{"vault":"empty","question":"x","conversation_id":"c"}}}"#,
        );
        assert_eq!(
            r["result"]["structuredContent"]["error"]["code"], "conversation_not_found",
            "a conversation the caller does not have: {r}"
        );
    }

    #[test]
    fn tools_have_schemas_and_bad_arguments_are_tool_errors() {
        let (s, _d) = server();
        let tools = ask(&s, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)["result"]["tools"].clone();
        assert_eq!(tools.as_array().unwrap().len(), 13);
        for t in tools.as_array().unwrap() {
            assert_eq!(t["inputSchema"]["type"], "object", "{t}");
            assert!(t["description"].as_str().unwrap().len() > 40, "{t}");
        }
        let r = ask(
            &s,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{"query":5}}}"#,
        );
        assert_eq!(r["result"]["isError"], true, "{r}");
        let text = r["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("`query`: invalid type: integer `5`, expected a string"), "{r}");
        let r = ask(
            &s,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_sources","arguments":{"vault":"notes","x":1}}}"#,
        );
        assert_eq!(r["result"]["structuredContent"]["error"]["code"], "bad_request", "{r}");
        assert_eq!(r["result"]["structuredContent"]["error"]["link"], "/docs/errors#bad_request", "{r}");
        let s = s.errors_reference("https://trove.example.com/docs/errors");
        let r = ask(
            &s,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_sources","arguments":{"vault":"nosuch"}}}"#,
        );
        let error = &r["result"]["structuredContent"]["error"];
        assert_eq!(
            (error["code"].as_str(), error["type"].as_str(), error["link"].as_str()),
            (
                Some("vault_not_found"),
                Some("invalid_request"),
                Some("https://trove.example.com/docs/errors#vault_not_found")
            ),
            "{r}"
        );
        assert!(
            r["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .ends_with("(see https://trove.example.com/docs/errors#vault_not_found)"),
            "{r}"
        );
        let r = ask(&s, r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"https://example.com"}}"#);
        assert_eq!(r["error"]["code"], codes::RESOURCE_NOT_FOUND, "{r}");
    }

    /// Calls `tool` with `args`; the error code, if it failed.
    fn failure(s: &McpServer, tool: &str, args: Value) -> Option<String> {
        let r = s.handle(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}),
        );
        let result = &r.expect("an answer")["result"];
        (result["isError"] == true).then(|| result["structuredContent"]["error"]["code"].as_str().unwrap().to_string())
    }

    #[test]
    fn every_bound_a_schema_states_is_the_one_the_engine_checks() {
        let (s, _d) = server();
        let mut checked = 0;
        for tool in tools::definitions() {
            let name = tool["name"].as_str().unwrap();
            let schema = &tool["inputSchema"];
            // Whatever the tool requires, with a harmless value.
            let mut base = json!({});
            for field in schema["required"].as_array().into_iter().flatten() {
                let field = field.as_str().unwrap();
                base[field] = if schema["properties"][field]["type"] == "integer" { json!(1) } else { json!("x") };
            }
            for (field, p) in schema["properties"].as_object().unwrap() {
                for (edge, outside) in [("minimum", -1i64), ("maximum", 1)] {
                    let Some(bound) = p[edge].as_i64() else { continue };
                    let at = |n: i64| {
                        let mut args = base.clone();
                        args[field.as_str()] = json!(n);
                        failure(&s, name, args)
                    };
                    assert_ne!(at(bound).as_deref(), Some("bad_request"), "{name}.{field} = {bound} is allowed");
                    let refused = at(bound + outside);
                    assert_eq!(
                        refused.as_deref(),
                        Some("bad_request"),
                        "{name}.{field} = {} is refused",
                        bound + outside
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 8, "{checked} bounds checked");
    }

    #[test]
    fn stdio_answers_line_by_line_until_the_input_ends() {
        let (s, _d) = server();
        let mut input: Vec<u8> = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\nnope\n".to_vec();
        input.extend_from_slice(b"\xff\xfe not utf-8\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
        let mut out = Vec::new();
        serve_stdio(&s, input.as_slice(), &mut out).unwrap();
        let lines: Vec<Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4, "one answer per request, none for the notification");
        assert_eq!(lines[0]["id"], 1);
        assert_eq!(lines[1]["error"]["code"], codes::PARSE_ERROR);
        assert_eq!(lines[2]["error"]["code"], codes::PARSE_ERROR, "invalid UTF-8 is a parse error, not the end");
        assert_eq!(lines[3]["id"], 2, "and serving goes on (a last line without newline included)");
    }
}
