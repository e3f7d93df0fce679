//! Answers over HTTP (`POST /v1/vaults/{vault}/answer`) against the fake OpenAI-compatible
//! chat server on 127.0.0.1:0: a whole answer with its citations, audited (the question, not
//! the answer) and measured; the streamed answer's Server-Sent Events in order; a stall
//! mid-answer as an `error` event; a client that disconnects stopping the generation; a 429
//! waited out and a 500 retried (on a stepped clock); a 401 and a missing chat model as JSON
//! errors with their status; another organization's vault a 404 that never asks the model.
//! Conversations: a follow-up rewritten by the model (which sees the rewrite prompt with the
//! history) and retrieved by the rewritten question, turns listed, shown and deleted, expiry
//! on a stepped clock, another user's conversation a 404; memories cited as their own sources.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Server;
use serde_json::{Value, json};
use trove_chat::testing::{FakeChat, Script};
use trove_chat::{ChatClient, ChatModel, ChatOptions};
use trove_engine::auth::KeyRequest;
use trove_types::Action;

const TOMATOES: &str = "# Tomatoes\n\n## Watering\n\nWater tomato plants deeply twice a week at the base.\n\n## Harvest\n\nPick tomatoes when fully red and slightly soft.\n";

/// A workspace whose vault `garden` holds `tomatoes.md`, answering through `chat` (named
/// `fake` under `chat_models:`), with `extra` YAML appended to the configuration.
fn config(chat: &FakeChat, extra: &str) -> String {
    format!(
        "embedder:\n  auto_install: false\nvaults:\n  garden:\n    sources:\n      docs:\n        type: localfile\n        path: docs\n\
         chat_models:\n  fake:\n    provider: custom\n    base_url: {}\n    api_key: sk-test\n    models: {{chat: fake-model}}\n    request: {{max_retries: 0, timeout_s: 0.3}}\n{extra}",
        chat.url()
    )
}

fn tomatoes(docs: &Path) {
    std::fs::write(docs.join("tomatoes.md"), TOMATOES).unwrap();
}

fn start(chat: &FakeChat) -> Server {
    Server::start_config(&config(chat, ""), tomatoes, |_| {})
}

fn question(stream: bool) -> Value {
    json!({"question": "how often to water tomato plants", "mode": "keyword", "stream": stream})
}

/// The `(event, data)` pairs of a Server-Sent Events body (keep-alive comments left out).
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap_or(Value::String(data))))
        })
        .collect()
}

/// A chat client of `chat` whose waits (backoff, Retry-After) step a manual clock; the waits.
fn stepped(chat: &FakeChat, retries: u32) -> (Arc<dyn ChatModel>, Arc<Mutex<Vec<Duration>>>) {
    let mut opts = ChatOptions::new(&chat.url(), "fake-model", "chat_models.fake");
    opts.max_retries = retries;
    let (clock, sleep, waits) = trove_http::testing::stepped_time();
    (Arc::new(ChatClient::with_time(opts, clock, sleep).unwrap()), waits)
}

#[test]
fn a_whole_answer_cites_its_chunks_and_is_audited_and_measured() {
    let chat = FakeChat::always(Script::answer(&["Water them deeply twice a week [1]", " at the base [4]."]));
    let server = start(&chat);
    let r = server.post("/v1/vaults/garden/answer", &question(false));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["answer"], "Water them deeply twice a week [1] at the base .");
    assert_eq!(v["citations"][0]["n"], 1);
    assert_eq!(v["citations"][0]["uri"], "tomatoes.md");
    assert!(v["citations"][0]["snippet"].as_str().unwrap().contains("twice a week"), "{v}");
    assert_eq!(v["model"], "custom/fake-model");
    assert_eq!(v["usage"], json!({"prompt_tokens": 100, "completion_tokens": 2, "estimated": false}));
    // The prompt the model got holds the chunk the answer cites as [1].
    let prompt = chat.requests()[0].json()["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(prompt.contains("<source n=\"1\"") && prompt.contains("twice a week"), "{prompt}");

    // The audit entry is written beside the answer, on the blocking pool: bounded polling.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let audit = loop {
        let page = server.get("/v1/audit?event=answer.asked").json();
        if !page["events"].as_array().unwrap().is_empty() || std::time::Instant::now() > deadline {
            break page;
        }
        std::thread::yield_now();
    };
    let entry = &audit["events"][0];
    assert_eq!(entry["target"], "vault:garden");
    assert_eq!(entry["outcome"], "ok");
    assert_eq!(entry["details"]["question"], "how often to water tomato plants");
    assert!(!entry.to_string().contains("deeply"), "the answer's text is not audited: {entry}");

    let metrics = server.get("/metrics").body;
    assert!(metrics.contains("trove_answer_tokens_total{direction=\"in\"} 100"), "{metrics}");
    assert!(metrics.contains("trove_answer_tokens_total{direction=\"out\"} 2"), "{metrics}");
    assert!(metrics.contains("trove_answer_generation_seconds_count 1"), "{metrics}");
}

#[test]
fn a_streamed_answer_is_citations_then_tokens_then_done() {
    let chat = FakeChat::always(Script::answer(&["Water ", "deeply [", "1] not [", "5]", "."]));
    let server = start(&chat);
    let r = server.post("/v1/vaults/garden/answer", &question(true));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = events(&r.body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"citations"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert!(names[1..names.len() - 1].iter().all(|n| *n == "token"), "{names:?}");
    assert_eq!(events[0].1["citations"][0]["uri"], "tomatoes.md");
    let text: String = events.iter().filter(|(n, _)| n == "token").map(|(_, d)| d["text"].as_str().unwrap()).collect();
    assert_eq!(text, "Water deeply [1] not .");
    let done = &events.last().unwrap().1;
    assert_eq!(done["usage"]["completion_tokens"], 5);
    assert_eq!(done["model"], "custom/fake-model");
    assert_eq!(chat.requests()[0].json()["stream"], true);
}

#[test]
fn a_stall_mid_answer_ends_the_stream_with_an_error_event() {
    // The chat model's time limit is 0.3 s (a real socket read limit); the stall outlasts it.
    let chat = FakeChat::always(Script::answer(&["Water ", "deeply", " [1]"]).stalled(1, Duration::from_secs(30)));
    let server = start(&chat);
    let r = server.post("/v1/vaults/garden/answer", &question(true));
    assert_eq!(r.status, 200, "{}", r.body);
    let events = events(&r.body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["citations", "token", "error"], "{}", r.body);
    let error = &events[2].1;
    assert_eq!(error["code"], "chat_timeout");
    assert!(error["message"].as_str().unwrap().contains("chat_models.fake.request.timeout_s"), "{error}");
    assert!(server.get("/metrics").body.contains("trove_answer_failures_total{kind=\"timeout\"} 1"));
}

#[test]
fn a_client_that_disconnects_stops_the_generation_upstream() {
    let tokens: Vec<String> = (0..5000).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let chat = FakeChat::always(Script::answer(&refs).paced(Duration::from_millis(2)));
    let server = start(&chat);
    let body = question(true).to_string();
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/vaults/garden/answer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("event: token") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    drop(s);
    assert_eq!(chat.wait_abandoned(Duration::from_secs(30)), 1, "the generation went on for a client that left");
    assert!(chat.streamed() < 5000);
}

#[test]
fn a_429_is_waited_out_and_a_500_retried_before_the_answer() {
    let chat = FakeChat::start(|_, n| match n {
        0 => Script::status(429, "slow down").header("Retry-After", "7"),
        1 => Script::status(500, "upstream exploded"),
        _ => Script::answer(&["Twice a week [1]."]),
    });
    let (model, waits) = stepped(&chat, 3);
    let server = Server::start_engine(&config(&chat, ""), tomatoes, |_| {}, |e| e.with_chat_model(model));
    let r = server.post("/v1/vaults/garden/answer", &question(false));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["answer"], "Twice a week [1].");
    assert_eq!(chat.calls(), 3);
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.first(), Some(&Duration::from_secs(7)), "Retry-After was not honoured: {waits:?}");
    assert_eq!(waits.len(), 2, "one wait per retry: {waits:?}");
}

#[test]
fn failures_before_the_answer_are_json_errors_with_their_status() {
    let chat = FakeChat::always(Script::status(401, "Incorrect API key provided: sk-test"));
    let server = start(&chat);
    for stream in [false, true] {
        let r = server.post("/v1/vaults/garden/answer", &question(stream));
        let e = r.error(502, "chat_unauthorized");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains("chat_models.fake.api_key") && !message.contains("sk-test"), "{message}");
    }
    let r = server.post("/v1/vaults/garden/answer", &json!({"question": "  "}));
    r.error(400, "bad_request");
    let r = server.post("/v1/vaults/garden/answer", &json!({"question": "x", "conversation": "c1"}));
    r.error(422, "invalid_fields");
    let r = server.post("/v1/vaults/nowhere/answer", &question(false));
    r.error(404, "vault_not_found");

    let bare = Server::start_config(
        "embedder:\n  auto_install: false\nvaults:\n  garden:\n    sources:\n      docs:\n        type: localfile\n        path: docs\n",
        tomatoes,
        |_| {},
    );
    let r = bare.post("/v1/vaults/garden/answer", &question(true));
    let e = r.error(409, "chat_not_configured");
    assert!(e["message"].as_str().unwrap().contains("llm.models.chat"), "{e}");
}

/// A new API key of `email` in `org` that may search every vault.
fn search_key(engine: &trove_engine::Engine, email: &str, org: &str) -> String {
    let request = KeyRequest {
        email: email.into(),
        organization: org.into(),
        name: "k".into(),
        vaults: vec!["*".into()],
        actions: vec![Action::Search],
        expires_in_days: None,
    };
    engine.create_api_key(&request).unwrap().key
}

#[test]
fn another_organizations_vault_is_a_404_and_its_model_is_never_asked() {
    let chat = FakeChat::always(Script::answer(&["secret [1]"]));
    let extra = "    organization: acme\n";
    // The vault belongs to acme (the line lands under vaults.garden).
    let yaml = config(&chat, "").replace("  garden:\n", &format!("  garden:\n{extra}"));
    let mut bob = String::new();
    let server = Server::start_engine(
        &yaml,
        tomatoes,
        |_| {},
        |engine| {
            for (email, org) in [("ada@acme.test", "acme"), ("bob@globex.test", "globex")] {
                engine.create_user(email, "correct horse battery staple", org, trove_types::Role::Owner).unwrap();
            }
            bob = search_key(&engine, "bob@globex.test", "globex");
            engine
        },
    );
    let theirs = server.call_as(Some(&bob), "POST", "/v1/vaults/garden/answer", Some(&question(false)));
    let absent = server.call_as(Some(&bob), "POST", "/v1/vaults/nowhere/answer", Some(&question(false)));
    let (a, b) = (theirs.error(404, "vault_not_found"), absent.error(404, "vault_not_found"));
    assert_eq!(
        a["message"].as_str().unwrap().replace("garden", "X"),
        b["message"].as_str().unwrap().replace("nowhere", "X")
    );
    assert_eq!(chat.calls(), 0);
}

/// The standalone question the fake model gives every rewrite.
const STANDALONE: &str = "how often to water tomato plants";

/// A fake model that rewrites follow-ups to [`STANDALONE`] and answers `answer` otherwise.
fn rewriting(answer: &'static str) -> FakeChat {
    FakeChat::start(move |req, _| {
        let system = req.json()["messages"][0]["content"].as_str().unwrap_or_default().to_string();
        if system.starts_with("You rewrite") { Script::answer(&[STANDALONE]) } else { Script::answer(&[answer]) }
    })
}

fn ask(server: &Server, question: &str, conversation: Option<&str>, stream: bool) -> common::Resp {
    let mut body = json!({"question": question, "mode": "keyword", "stream": stream});
    if let Some(c) = conversation {
        body["conversation_id"] = c.into();
    }
    server.post("/v1/vaults/garden/answer", &body)
}

#[test]
fn a_follow_up_is_rewritten_before_retrieval_and_the_turns_are_kept_listed_and_deleted() {
    let chat = rewriting("Twice a week [1].");
    let server = start(&chat);
    let first = ask(&server, "when are tomatoes ready to pick", None, false);
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    let id = first["conversation_id"].as_str().expect("a new conversation's id").to_string();
    assert!(id.starts_with("cnv_"), "{id}");
    assert_eq!(first["rewritten_question"], Value::Null, "the first turn is never rewritten");
    assert_eq!(chat.calls(), 1, "no rewrite on the first turn");

    // The follow-up alone matches nothing by keyword; its rewrite does.
    let follow = ask(&server, "and what about that other chore?", Some(&id), false);
    assert_eq!(follow.status, 200, "{}", follow.body);
    let follow = follow.json();
    assert_eq!(follow["conversation_id"], id.as_str());
    assert_eq!(follow["rewritten_question"], STANDALONE);
    assert!(follow["citations"][0]["snippet"].as_str().unwrap().contains("twice a week"), "{follow}");
    let requests = chat.requests();
    assert_eq!(requests.len(), 3, "the first answer, the rewrite, the second answer");
    let rewrite = requests[1].json()["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(
        rewrite.contains("<history>")
            && rewrite.contains("User: when are tomatoes ready to pick")
            && rewrite.contains("Assistant: Twice a week [1].")
            && rewrite.contains("Follow-up question: and what about that other chore?"),
        "{rewrite}"
    );
    let prompt = requests[2].json()["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(prompt.ends_with(&format!("Question: {STANDALONE}")), "{prompt}");

    // Streamed, the conversation's id is in the first and the last event.
    let r = ask(&server, "and again?", Some(&id), true);
    assert_eq!(r.status, 200, "{}", r.body);
    let events = events(&r.body);
    assert_eq!(events[0].0, "citations");
    assert_eq!(events[0].1["conversation_id"], id.as_str());
    assert_eq!(events[0].1["rewritten_question"], STANDALONE);
    assert_eq!(events.last().unwrap().0, "done");
    assert_eq!(events.last().unwrap().1["conversation_id"], id.as_str());

    let page = server.get("/v1/vaults/garden/conversations").json();
    assert_eq!(page["conversations"].as_array().unwrap().len(), 1, "{page}");
    let listed = &page["conversations"][0];
    assert_eq!((listed["id"].as_str(), listed["turns"].as_u64()), (Some(id.as_str()), Some(3)), "{page}");
    assert_eq!(listed["title"], "when are tomatoes ready to pick");
    let c = server.get(&format!("/v1/vaults/garden/conversations/{id}"));
    assert_eq!(c.status, 200, "{}", c.body);
    let c = c.json();
    let turns = c["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 3, "{c}");
    assert_eq!(turns[1]["question"], "and what about that other chore?");
    assert_eq!(turns[1]["rewritten_question"], STANDALONE);
    assert_eq!(turns[1]["answer"], "Twice a week [1].");
    assert_eq!(turns[1]["citations"][0]["uri"], "tomatoes.md");
    assert_eq!(turns[2]["answer"], "Twice a week [1].", "the streamed turn is kept whole");

    // A second conversation, and pages.
    let other = ask(&server, "tomato harvest", None, false).json();
    let page = server.get("/v1/vaults/garden/conversations?limit=1").json();
    assert_eq!(page["conversations"][0]["id"], other["conversation_id"], "newest first: {page}");
    let cursor = page["next_cursor"].as_str().expect("a second page").to_string();
    let page = server.get(&format!("/v1/vaults/garden/conversations?limit=1&cursor={cursor}")).json();
    assert_eq!(page["conversations"][0]["id"], id.as_str());
    assert_eq!(page["next_cursor"], Value::Null);

    assert_eq!(server.delete(&format!("/v1/vaults/garden/conversations/{id}")).status, 204);
    server.get(&format!("/v1/vaults/garden/conversations/{id}")).error(404, "conversation_not_found");
    server.delete(&format!("/v1/vaults/garden/conversations/{id}")).error(404, "conversation_not_found");
    ask(&server, "more?", Some(&id), false).error(404, "conversation_not_found");
    assert_eq!(chat.calls(), 6, "a deleted conversation's follow-up never reaches the model");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.get("/v1/audit?event=conversation.deleted").json()["events"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no conversation.deleted audit entry");
        std::thread::yield_now();
    }
}

#[test]
fn conversations_expire_after_their_last_turn_on_a_stepped_clock() {
    let chat = rewriting("Twice a week [1].");
    let clock = trove_clock::ManualClock::starting_now();
    let engine_clock = clock.clone();
    let server = Server::start_engine(
        &config(&chat, "answers:\n  conversation_ttl_hours: 1\n"),
        tomatoes,
        |_| {},
        move |e| e.with_clock(engine_clock),
    );
    let first = ask(&server, "when are tomatoes ready to pick", None, false);
    assert_eq!(first.status, 200, "{}", first.body);
    let id = first.json()["conversation_id"].as_str().unwrap().to_string();
    clock.advance(Duration::from_secs(50 * 60));
    // A turn 50 minutes in keeps it an hour from then.
    assert_eq!(ask(&server, "and watering?", Some(&id), false).status, 200);
    clock.advance(Duration::from_secs(50 * 60));
    assert_eq!(server.get(&format!("/v1/vaults/garden/conversations/{id}")).status, 200, "expired early");
    clock.advance(Duration::from_secs(10 * 60));
    server.get(&format!("/v1/vaults/garden/conversations/{id}")).error(404, "conversation_not_found");
    assert!(server.get("/v1/vaults/garden/conversations").json()["conversations"].as_array().unwrap().is_empty());
    ask(&server, "and now?", Some(&id), false).error(404, "conversation_not_found");
}

#[test]
fn another_users_conversation_is_a_404_and_another_organizations_vault_too() {
    let chat = rewriting("Twice a week [1].");
    let yaml = config(&chat, "").replace("  garden:\n", "  garden:\n    organization: acme\n");
    let mut keys = Vec::new();
    let server = Server::start_engine(
        &yaml,
        tomatoes,
        |_| {},
        |engine| {
            for (email, org) in [("ada@acme.test", "acme"), ("carol@acme.test", "acme"), ("bob@globex.test", "globex")]
            {
                engine.create_user(email, "correct horse battery staple", org, trove_types::Role::Owner).unwrap();
            }
            for (email, org) in [("ada@acme.test", "acme"), ("carol@acme.test", "acme"), ("bob@globex.test", "globex")]
            {
                keys.push(search_key(&engine, email, org));
            }
            engine
        },
    );
    let (ada, carol, bob) = (Some(keys[0].as_str()), Some(keys[1].as_str()), Some(keys[2].as_str()));
    let body = json!({"question": "when are tomatoes ready to pick", "mode": "keyword"});
    let r = server.call_as(ada, "POST", "/v1/vaults/garden/answer", Some(&body));
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["conversation_id"].as_str().unwrap().to_string();
    let path = format!("/v1/vaults/garden/conversations/{id}");
    assert_eq!(server.call_as(ada, "GET", &path, None).status, 200);
    let calls = chat.calls();

    // Carol, of the same organization, sees no conversation of Ada's.
    server.call_as(carol, "GET", &path, None).error(404, "conversation_not_found");
    server.call_as(carol, "DELETE", &path, None).error(404, "conversation_not_found");
    let follow = json!({"question": "and watering?", "mode": "keyword", "conversation_id": id});
    server.call_as(carol, "POST", "/v1/vaults/garden/answer", Some(&follow)).error(404, "conversation_not_found");
    let list = server.call_as(carol, "GET", "/v1/vaults/garden/conversations", None).json();
    assert!(list["conversations"].as_array().unwrap().is_empty(), "{list}");
    // Bob, of another organization, does not even see the vault.
    server.call_as(bob, "GET", &path, None).error(404, "vault_not_found");
    server.call_as(bob, "GET", "/v1/vaults/garden/conversations", None).error(404, "vault_not_found");
    server.call_as(bob, "POST", "/v1/vaults/garden/answer", Some(&follow)).error(404, "vault_not_found");
    assert_eq!(chat.calls(), calls, "nobody else's question reached the model");
    assert_eq!(server.call_as(ada, "GET", &path, None).json()["turns"].as_array().unwrap().len(), 1);
}

#[test]
fn memories_are_cited_as_their_own_sources() {
    let chat = FakeChat::always(Script::answer(&["Water twice a week [1]; you prefer mornings [2]."]));
    let server = start(&chat);
    let r = server.post(
        "/v1/vaults/garden/memories",
        &json!({"text": "The user waters tomato plants in the morning before work.", "user_id": "u1"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let memory = r.json()["id"].as_str().unwrap().to_string();
    let body = json!({"question": "how often to water tomato plants", "mode": "keyword", "memories": true});
    let r = server.post("/v1/vaults/garden/answer", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["answer"], "Water twice a week [1]; you prefer mornings [2].", "{v}");
    let citations = v["citations"].as_array().unwrap();
    assert_eq!(citations[0]["kind"], "chunk");
    let m = citations.iter().find(|c| c["kind"] == "memory").expect("a memory citation");
    assert_eq!(m["memory_id"], memory.as_str());
    assert!(m["snippet"].as_str().unwrap().contains("in the morning"), "{m}");
    let prompt = chat.requests()[0].json()["messages"][1]["content"].as_str().unwrap().to_string();
    assert!(prompt.contains(&format!("<source n=\"{}\" kind=\"memory\"", m["n"])), "{prompt}");
    // Without `memories` (and answers.use_memories off), none.
    let r = server
        .post("/v1/vaults/garden/answer", &json!({"question": "how often to water tomato plants", "mode": "keyword"}));
    assert!(r.json()["citations"].as_array().unwrap().iter().all(|c| c["kind"] == "chunk"), "{}", r.body);
}
