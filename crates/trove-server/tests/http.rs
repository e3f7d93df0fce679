//! Integration tests of the HTTP server: each test makes a workspace in a temporary folder,
//! opens the real engine with the real built-in model (installed by `scripts/test`; loaded
//! once per test binary and shared), starts the real router on `127.0.0.1:0` in its own
//! runtime, and talks plain HTTP/1.1 to it over a socket, as any client would.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Server;
use serde_json::{Value, json};
use trove_config::Workspace;
use trove_engine::{Engine, OpenMode};
use trove_server::ServerOptions;

const CONFIG: &str = "embedder:\n  auto_install: false\nvaults:\n  notes:\n    sources:\n      docs:\n        type: localfile\n        path: docs\n  scratch: {}\n";

const GARDEN: &str = "# Gardening\n\nTomatoes need full sun, regular watering and support stakes as they grow.\n\n## Pests\n\nAphids can be washed off leaves with a strong spray of water.\n";
const ENGINE: &str =
    "# Car maintenance\n\nChange the engine oil every ten thousand kilometres and check the brake pads twice a year.\n";
const BAKING: &str =
    "# Sourdough\n\nFeed the starter with flour and water, let the dough rise overnight, then bake at high heat.\n";

/// A server on a workspace with [`CONFIG`], its `docs` folder filled by `docs`.
fn start_with(docs: impl FnOnce(&Path), opts: impl FnOnce(&mut ServerOptions)) -> Server {
    Server::start_config(CONFIG, docs, opts)
}

/// `garden.md`, `car.md` and `food/bread.md`.
fn three_notes(docs: &Path) {
    std::fs::write(docs.join("garden.md"), GARDEN).unwrap();
    std::fs::write(docs.join("car.md"), ENGINE).unwrap();
    std::fs::create_dir_all(docs.join("food")).unwrap();
    std::fs::write(docs.join("food/bread.md"), BAKING).unwrap();
}

fn start() -> Server {
    start_with(|_| {}, |_| {})
}

fn memory_texts(v: &Value, key: &str) -> Vec<String> {
    v[key].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_memory_lifecycle_over_http() {
    let s = start();
    let base = "/v1/vaults/scratch/memories";
    let r = s.post(
        base,
        &json!({"text": "Alice prefers dark roast coffee in the morning", "user_id": "alice", "tags": ["prefs", "drinks"], "metadata": {"from": "chat"}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let coffee = r.json();
    let id = coffee["id"].as_str().unwrap().to_string();
    assert_eq!((coffee["vault"].as_str(), coffee["user_id"].as_str()), (Some("scratch"), Some("alice")));
    for (text, user, tag) in [
        ("Bob plays chess every Thursday evening", "bob", "hobby"),
        ("Alice is training for a marathon in spring", "alice", "hobby"),
        ("Alice's cat is called Miso", "alice", "pets"),
    ] {
        assert_eq!(s.post(base, &json!({"text": text, "user_id": user, "tags": [tag]})).status, 201);
    }

    let got = s.get(&format!("{base}/{id}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["metadata"], json!({"from": "chat"}));

    // Filters, and cursor pages that neither skip nor repeat.
    let alice = s.get(&format!("{base}?user_id=alice"));
    assert_eq!(alice.json()["memories"].as_array().unwrap().len(), 3, "{}", alice.body);
    let hobby = s.get(&format!("{base}?user_id=alice&tag=hobby"));
    assert_eq!(memory_texts(&hobby.json(), "memories"), ["Alice is training for a marathon in spring"]);
    assert_eq!(s.get(&format!("{base}?tag=hobby&tag=prefs")).json()["memories"], json!([]));
    let mut seen = Vec::new();
    let mut path = format!("{base}?limit=3");
    loop {
        let page = s.get(&path).json();
        seen.extend(memory_texts(&page, "memories"));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("{base}?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen.iter().collect::<std::collections::HashSet<_>>().len(), 4, "{seen:?}");
    assert_eq!(seen[0], "Alice's cat is called Miso", "newest first");

    // Retrieval by meaning, within a scope.
    let hits = s.post(
        &format!("{base}/retrieve"),
        &json!({"query": "what does alice like to drink?", "user_id": "alice", "limit": 2}),
    );
    assert_eq!(hits.status, 200, "{}", hits.body);
    let hits = hits.json();
    assert_eq!(hits["hits"][0]["id"], id.as_str(), "{hits}");
    assert!(hits["hits"][0]["score"].as_f64().unwrap() > 0.0);
    assert_eq!(hits["hits"].as_array().unwrap().len(), 2);
    let bob = s.post(&format!("{base}/retrieve"), &json!({"query": "coffee", "user_id": "bob"})).json();
    assert!(bob["hits"].as_array().unwrap().iter().all(|h| h["user_id"] == "bob"), "{bob}");

    // Update re-embeds: the new text is found by meaning and keyword, the old one is not.
    let r = s.patch(&format!("{base}/{id}"), &json!({"text": "Alice switched to green tea", "importance": 0.9}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["importance"], json!(0.9));
    let tea = s
        .post(
            &format!("{base}/retrieve"),
            &json!({"query": "which tea does she drink", "mode": "semantic", "user_id": "alice", "limit": 1}),
        )
        .json();
    assert_eq!(tea["hits"][0]["id"], id.as_str(), "{tea}");
    let old = s.post(&format!("{base}/retrieve"), &json!({"query": "roast", "mode": "keyword"})).json();
    assert_eq!(old["hits"], json!([]), "the old text still matches: {old}");
    let new = s.post(&format!("{base}/retrieve"), &json!({"query": "green", "mode": "keyword"})).json();
    assert_eq!(new["hits"][0]["id"], id.as_str());

    let stats = s.get(&format!("{base}/stats"));
    assert_eq!(stats.status, 200);
    let stats = stats.json();
    assert_eq!(stats["total"], 4);
    assert!(stats["by_user"].as_array().unwrap().contains(&json!(["alice", 3])), "{stats}");

    assert_eq!(s.delete(&format!("{base}/{id}")).status, 204);
    s.get(&format!("{base}/{id}")).error(404, "memory_not_found");
    s.delete(&format!("{base}/{id}")).error(404, "memory_not_found");
    s.patch(&format!("{base}/mem_nope"), &json!({"importance": 0.1})).error(404, "memory_not_found");
    assert_eq!(s.get(&format!("{base}/stats")).json()["total"], 3);
}

#[test]
fn search_and_documents_after_an_ingest() {
    let s = start_with(three_notes, |_| {});
    let vaults = s.get("/v1/vaults").json();
    let notes = vaults.as_array().unwrap().iter().find(|v| v["name"] == "notes").expect("notes listed").clone();
    assert_eq!((notes["documents"].as_u64(), notes["configured"].as_bool()), (Some(3), Some(true)), "{vaults}");
    assert_eq!(notes["model"], "builtin/all-MiniLM-L6-v2");
    assert!(vaults.as_array().unwrap().iter().any(|v| v["name"] == "scratch"));
    assert_eq!(s.get("/v1/vaults/notes").json()["chunks"], notes["chunks"]);

    for mode in ["hybrid", "semantic", "keyword"] {
        let r = s.post(
            "/v1/vaults/notes/search",
            &json!({"query": "how often should I change the motor oil", "mode": mode}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = r.json();
        assert_eq!(r["mode"], mode);
        assert_eq!(r["hits"][0]["uri"], "car.md", "{mode}: {r}");
        for key in ["vault", "source", "title", "heading_path", "text", "snippet", "score", "chunk_index", "chunk_id"] {
            assert!(r["hits"][0].get(key).is_some(), "hit lacks {key}");
        }
    }
    let filtered = s
        .post(
            "/v1/vaults/notes/search",
            &json!({"query": "water", "mode": "keyword", "filters": {"uri_prefix": "food/"}}),
        )
        .json();
    let uris: Vec<&str> = filtered["hits"].as_array().unwrap().iter().map(|h| h["uri"].as_str().unwrap()).collect();
    assert_eq!(uris, ["food/bread.md"], "{filtered}");
    s.post("/v1/vaults/notes/search", &json!({"query": "  "})).error(400, "bad_request");
    s.post("/v1/vaults/notes/search", &json!({"query": "x", "limit": 0})).error(400, "bad_request");

    // Documents: pages, one with its chunks, delete.
    let first = s.get("/v1/vaults/notes/documents?limit=2").json();
    assert_eq!(first["documents"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a second page").to_string();
    let second = s.get(&format!("/v1/vaults/notes/documents?limit=2&cursor={cursor}")).json();
    assert_eq!(second["documents"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    let all: Vec<Value> =
        first["documents"].as_array().unwrap().iter().chain(second["documents"].as_array().unwrap()).cloned().collect();
    let car = all.iter().find(|d| d["uri"] == "car.md").expect("car.md listed").clone();
    assert!(
        car["content_hash"].as_str().unwrap().starts_with("sha256:")
            && !car["content_hash"].as_str().unwrap().contains(';')
    );
    assert_eq!((car["source"].as_str(), car["title"].as_str()), (Some("docs"), Some("Car maintenance")));
    assert!(car["indexed_at"].as_str().unwrap().len() >= 20 && car["chunks"].as_u64().unwrap() >= 1);
    let id = car["id"].as_i64().unwrap();
    let detail = s.get(&format!("/v1/vaults/notes/documents/{id}"));
    assert_eq!(detail.status, 200, "{}", detail.body);
    let detail = detail.json();
    assert_eq!(detail["document"]["uri"], "car.md");
    assert!(detail["chunks"][0]["text"].as_str().unwrap().contains("engine oil"), "{detail}");
    assert_eq!(s.delete(&format!("/v1/vaults/notes/documents/{id}")).status, 204);
    s.get(&format!("/v1/vaults/notes/documents/{id}")).error(404, "document_not_found");
    s.delete(&format!("/v1/vaults/notes/documents/{id}")).error(404, "document_not_found");
    s.get("/v1/vaults/notes/documents/abc").error(404, "document_not_found");
    let after = s.post("/v1/vaults/notes/search", &json!({"query": "engine oil brake pads", "mode": "keyword"})).json();
    assert!(
        after["hits"].as_array().unwrap().iter().all(|h| h["uri"] != "car.md"),
        "deleted document still found: {after}"
    );
    assert_eq!(s.get("/v1/vaults/notes").json()["documents"], 2);
    s.get("/v1/vaults/notes/documents?limit=5000").error(400, "bad_request");
    s.get("/v1/vaults/notes/documents?cursor=zzz").error(400, "bad_request");
    s.get("/v1/vaults/notes/documents?limt=5").error(400, "bad_request");
}

#[test]
fn search_groups_hits_by_document_pages_them_and_brings_their_context() {
    // Small chunks: each watering tip is a chunk of its own.
    let config =
        CONFIG.replace("  notes:\n", "  notes:\n    chunking:\n      max_tokens: 16\n      overlap_tokens: 0\n");
    let tips = "# Watering\n\n## Pots\n\nWater pots daily in hot weather.\n\n## Beds\n\nWater raised beds deeply once a week.\n\n## Lawn\n\nWater the lawn at dawn in summer.\n";
    let s = Server::start_config(
        &config,
        |docs| {
            std::fs::write(docs.join("tips.md"), tips).unwrap();
            std::fs::write(docs.join("well.md"), "# Well\n\nDraw water from the well by hand.\n").unwrap();
        },
        |_| {},
    );
    let search = |body: Value| {
        let r = s.post("/v1/vaults/notes/search", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["hits"].as_array().unwrap().clone()
    };
    let chunks = search(json!({"query": "water", "mode": "keyword"}));
    let tips_chunks: Vec<&Value> = chunks.iter().filter(|h| h["uri"] == "tips.md").map(|h| &h["chunk_id"]).collect();
    assert_eq!(tips_chunks.len(), 3, "{chunks:?}");
    let docs = search(json!({"query": "water", "mode": "keyword", "group_by": "document"}));
    assert_eq!(docs.len(), 2, "{docs:?}");
    let tips_hit = docs.iter().find(|h| h["uri"] == "tips.md").unwrap();
    assert_eq!(&tips_hit["chunk_id"], tips_chunks[0], "the best chunk stands for the document");
    assert_eq!(tips_hit["other_chunks"], 2);
    assert_eq!(tips_hit["other_chunk_ids"].as_array().unwrap().iter().collect::<Vec<_>>(), tips_chunks[1..]);
    // Pages are slices of one ranking.
    let page = |offset: usize| {
        search(json!({"query": "water", "mode": "keyword", "group_by": "document", "limit": 1, "offset": offset}))
    };
    assert_eq!([page(0), page(1)].concat(), docs);
    assert!(page(2).is_empty());
    // Context: the hit between its neighbours, cut at the document's end.
    let hits = search(json!({"query": "lawn dawn", "mode": "keyword", "limit": 1, "context": 1}));
    let context = hits[0]["context"].as_array().unwrap();
    let hit_at: Vec<bool> = context.iter().map(|c| c["is_hit"].as_bool().unwrap()).collect();
    assert_eq!(hit_at, [false, true], "the last chunk has a neighbour before it only: {context:?}");
    assert!(context[1]["text"].as_str().unwrap().contains("lawn"));
    // Fusion per request, its weight checked.
    let fused = search(json!({"query": "water", "fusion": {"method": "relative_score", "keyword_weight": 0.3}}));
    assert!(!fused.is_empty());
    let v = s
        .post("/v1/vaults/notes/search", &json!({"query": "x", "fusion": {"keyword_weight": 2}}))
        .error(400, "bad_request");
    assert!(v["message"].as_str().unwrap().contains("fusion.keyword_weight"), "{v}");
    s.post("/v1/vaults/notes/search", &json!({"query": "x", "group_by": "page"})).error(422, "invalid_fields");
    s.post("/v1/vaults/notes/search", &json!({"query": "x", "context": 21})).error(400, "bad_request");
}

#[test]
fn bad_requests_get_the_right_status_and_a_useful_message() {
    let s = start_with(|_| {}, |o| o.max_body_bytes = 4096);
    let base = "/v1/vaults/scratch/memories";
    let json_ct = [("content-type", "application/json")];

    let v = s.call("POST", base, Some(b"{\"text\": \"unterminated"), &json_ct).error(400, "malformed_json");
    assert!(v["message"].as_str().unwrap().contains("not valid JSON"), "{v}");
    let v = s.post(base, &json!({"text": 42})).error(422, "invalid_fields");
    assert!(v["message"].as_str().unwrap().contains("text"), "{v}");
    let v = s.post(base, &json!({"user_id": "u"})).error(422, "invalid_fields");
    assert!(v["message"].as_str().unwrap().contains("missing field `text`"), "{v}");
    let v = s.post(base, &json!({"text": "hello", "colour": "red"})).error(422, "invalid_fields");
    assert!(v["message"].as_str().unwrap().contains("colour"), "{v}");
    let v = s.post(&format!("{base}/retrieve"), &json!({"query": "x", "usr_id": "u"})).error(422, "invalid_fields");
    assert!(v["message"].as_str().unwrap().contains("usr_id"), "{v}");
    s.post("/v1/vaults/notes/search", &json!({"query": "x", "mode": "fuzzy"})).error(422, "invalid_fields");
    s.call("POST", base, Some(b"{\"text\": \"hi\"}"), &[]).error(415, "unsupported_media_type");
    let big = json!({"text": "x".repeat(10_000)});
    let v = s.post(base, &big).error(413, "payload_too_large");
    assert!(v["message"].as_str().unwrap().contains("4096"), "{v}");
    // Engine validation: one message per field.
    let v = s.post(base, &json!({"text": "hi", "importance": 7.0})).error(400, "bad_request");
    assert!(v["message"].as_str().unwrap().contains("importance"), "{v}");
    s.post(base, &json!({"text": "hi", "expires_at": "tomorrow"})).error(400, "bad_request");
    s.get(&format!("{base}?limit=many")).error(400, "bad_request");
    s.get(&format!("{base}?cursor=garbage")).error(400, "bad_request");
    s.get(&format!("{base}?created_after=yesterday")).error(400, "bad_request");

    let v = s.get("/v1/vaults/nope/memories").error(404, "vault_not_found");
    let m = v["message"].as_str().unwrap();
    assert!(m.contains("nope") && m.contains("notes") && m.contains("scratch"), "known vaults not listed: {m}");
    s.get("/v1/vaults/nope").error(404, "vault_not_found");
    s.post("/v1/vaults/nope/search", &json!({"query": "x"})).error(404, "vault_not_found");
    s.get("/v1/vaults/nope/documents").error(404, "vault_not_found");
    s.get(&format!("{base}/mem_doesnotexist")).error(404, "memory_not_found");

    let v = s.get("/v2/whatever").error(404, "not_found");
    assert!(v["message"].as_str().unwrap().contains("/v2/whatever"), "{v}");
    s.call("PUT", "/v1/vaults", Some(b"{}"), &json_ct).error(405, "method_not_allowed");
    s.delete("/v1/vaults/scratch/memories").error(405, "method_not_allowed");
    // Every answer, error or not, carries a request id.
    assert!(s.get("/v2/whatever").header("x-request-id").is_some());
}

#[test]
fn probes_and_metrics() {
    let s = start();
    let live = s.get("/live");
    assert_eq!((live.status, live.json()), (200, json!({"status": "ok"})));
    let ready = s.get("/ready");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["status"], "ready");
    let health = s.get("/health");
    assert_eq!(health.status, 200, "{}", health.body);
    let h = health.json();
    assert_eq!(h["status"], "ok", "{h}");
    for c in ["storage", "embedder", "disk"] {
        let comp = &h["components"][c];
        assert!(["ok", "degraded", "down"].contains(&comp["status"].as_str().unwrap()), "{c}: {comp}");
        assert!(comp["latency_ms"].is_number() && comp["message"].as_str().unwrap().len() > 5, "{c}: {comp}");
    }
    assert_eq!(h["components"]["embedder"]["details"]["model"], "builtin/all-MiniLM-L6-v2");
    assert_eq!(h["components"]["embedder"]["details"]["dimension"], 384);
    assert!(h["components"]["disk"]["details"]["free_bytes"].as_u64().unwrap() > 0);

    // The client's request id is echoed; otherwise one is made.
    let r = s.call("GET", "/live", None, &[("x-request-id", "test-123")]);
    assert_eq!(r.header("x-request-id"), Some("test-123"));
    let a = s.get("/live").header("x-request-id").unwrap().to_string();
    let b = s.get("/live").header("x-request-id").unwrap().to_string();
    assert_ne!(a, b);

    s.post("/v1/vaults/scratch/memories", &json!({"text": "metrics count this"}));
    s.post("/v1/vaults/scratch/memories/retrieve", &json!({"query": "count", "mode": "keyword"}));
    s.get("/v1/vaults/scratch/memories/mem_x");
    s.get("/no/such/route");
    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = &m.body;
    for line in [
        "trove_http_requests_total{route=\"/live\",method=\"GET\",status=\"200\"} 4",
        "trove_http_requests_total{route=\"/v1/vaults/{vault}/memories\",method=\"POST\",status=\"201\"} 1",
        "trove_http_requests_total{route=\"/v1/vaults/{vault}/memories/{id}\",method=\"GET\",status=\"404\"} 1",
        "trove_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "trove_http_request_duration_seconds_count{route=\"/live\"} 4",
        "trove_search_latency_seconds_count{kind=\"memories\",mode=\"keyword\"} 1",
        "# TYPE trove_embedder_latency_seconds histogram",
        "# TYPE trove_process_resident_memory_bytes gauge",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    // Storing a memory embedded its text once.
    assert!(!text.contains("trove_embedder_latency_seconds_count 0"), "{text}");
    assert!(!text.contains("/no/such/route"), "raw paths leak into labels");
}

#[test]
fn slow_requests_time_out_with_a_json_error() {
    let s = start_with(|_| {}, |o| o.request_timeout = Duration::from_millis(1));
    // Embedding a query takes far longer than a millisecond.
    let v = s
        .post(
            "/v1/vaults/scratch/memories/retrieve",
            &json!({"query": "a question that needs embedding", "mode": "semantic"}),
        )
        .error(503, "timeout");
    assert!(v["message"].as_str().unwrap().contains("server.request_timeout_s"), "{v}");
    // Answers that need no waiting still come back.
    assert_eq!(s.get("/live").status, 200);
}

#[test]
fn expired_memories_are_purged_in_the_background() {
    let clock = trove_clock::ManualClock::starting_now();
    let engine_clock = clock.clone();
    let s = Server::start_engine(
        CONFIG,
        |_| {},
        |o| o.purge_interval = Duration::from_millis(100),
        move |e| e.with_clock(engine_clock),
    );
    let soon = trove_engine::memory::format_ms(trove_clock::Clock::now_ms(clock.as_ref()) + 1500);
    let r = s.post("/v1/vaults/scratch/memories", &json!({"text": "a fleeting thought", "expires_at": soon}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(s.post("/v1/vaults/scratch/memories", &json!({"text": "a lasting thought"})).status, 201);
    assert_eq!(s.get("/v1/vaults/scratch/memories/stats").json()["total"], 2);
    clock.advance(Duration::from_millis(1499));
    let stats = s.get("/v1/vaults/scratch/memories/stats").json();
    assert_eq!((stats["total"].as_u64(), stats["expired"].as_u64()), (Some(2), Some(0)), "expired early: {stats}");
    clock.advance(Duration::from_millis(1));
    // Expired now: the next purge removes it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stats = s.get("/v1/vaults/scratch/memories/stats").json();
        if (stats["total"].as_u64(), stats["expired"].as_u64()) == (Some(1), Some(0)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not purged within 30 s: {stats}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn without_a_usable_model_the_server_is_alive_but_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("empty-model")).unwrap();
    std::fs::write(dir.path().join("config.yaml"), "embedder:\n  model_dir: empty-model\nvaults:\n  scratch: {}\n")
        .unwrap();
    let ws = Workspace::load(Some(dir.path()), None).unwrap();
    let engine = Engine::open(ws, OpenMode::Write, "test").unwrap();
    let s = Server::launch(dir, engine, |_| {});
    assert_eq!(s.get("/live").status, 200);
    let ready = s.get("/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.json()["reasons"][0].as_str().unwrap().contains("embedder"), "{}", ready.body);
    let health = s.get("/health");
    assert_eq!(health.status, 503);
    let h = health.json();
    assert_eq!((h["status"].as_str(), h["components"]["embedder"]["status"].as_str()), (Some("down"), Some("down")));
    assert_eq!(h["components"]["storage"]["status"], "ok");
    // Requests that need the model fail with the model's error; the others still work.
    s.post("/v1/vaults/scratch/memories", &json!({"text": "needs a vector"})).error(503, "model_invalid");
    assert_eq!(s.get("/v1/vaults/scratch/memories").status, 200);
    assert!(!s.get("/metrics").body.contains("trove_embedder_latency_seconds"), "embedder timed without a model");
}

/// The OpenAPI document as reviewed: every route and schema the server offers, checked in so
/// that a change to the API shows in the diff. After a deliberate change, update it with
/// `TROVE_UPDATE_OPENAPI=1 cargo nextest run -p trove-server -E 'test(the_openapi_document)'`
/// and review the difference.
const OPENAPI_SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn the_openapi_document_describes_every_route() {
    let s = start();
    let r = s.get("/openapi.json");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("application/json")));
    let doc = r.json();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    assert_eq!(
        (doc["info"]["title"].as_str(), doc["info"]["version"].as_str()),
        (Some("Trove"), Some(env!("CARGO_PKG_VERSION")))
    );
    // Every route's row in auth::PERMISSIONS is checked beside the table (auth.rs); here, the
    // document is the reviewed one.
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("TROVE_UPDATE_OPENAPI").is_some() {
        std::fs::write(OPENAPI_SNAPSHOT, &text).unwrap();
    }
    let reviewed: Value = serde_json::from_str(&std::fs::read_to_string(OPENAPI_SNAPSHOT).unwrap()).unwrap();
    let mut changed = Vec::new();
    differences(&reviewed, &doc, String::new(), &mut changed);
    assert!(
        changed.is_empty(),
        "the OpenAPI document differs from {OPENAPI_SNAPSHOT} at {}: if the change is meant, update it with \
         TROVE_UPDATE_OPENAPI=1 cargo nextest run -p trove-server -E 'test(the_openapi_document)' and review the diff",
        changed.join(", ")
    );

    // The search answer is a referenced schema with its fields; errors share `ErrorBody`.
    let search = &doc["paths"]["/v1/vaults/{vault}/search"]["post"];
    let at = |v: &Value| doc.pointer(v["$ref"].as_str().unwrap().trim_start_matches('#')).unwrap().clone();
    let response = at(&search["responses"]["200"]["content"]["application/json"]["schema"]);
    for field in ["query", "mode", "hits"] {
        assert!(response["properties"][field].is_object(), "{field}: {response}");
    }
    assert_eq!(search["parameters"][0]["name"], "vault");
    assert!(search["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string());
    let not_found = at(&search["responses"]["404"]);
    let error = at(&not_found["content"]["application/json"]["schema"]);
    assert_eq!(error["required"], json!(["message", "code", "type", "link"]));
    let upload = &doc["paths"]["/v1/vaults/{vault}/documents"]["post"];
    assert!(upload["responses"]["202"].is_object() && upload["responses"]["413"].is_object());
    let content = upload["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/json") && content.contains_key("multipart/form-data"));
    assert!(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"].is_object());
    let stats = &doc["components"]["schemas"]["MemoryStatsResponse"]["properties"]["by_user"]["items"];
    assert_eq!(stats["prefixItems"][1]["type"], "integer", "{stats}");
}

/// Every error links to its code's entry in the reference this server serves (the harness's
/// `Resp::error` follows each link a test meets; here, the page itself and the links' base).
#[test]
fn errors_link_to_the_reference_the_server_serves() {
    let s = start();
    let page = s.get("/docs/errors");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    for code in ["vault_not_found", "bad_request", "rate_limited", "internal"] {
        assert_eq!(page.body.matches(&format!("<section id=\"{code}\">")).count(), 1, "{code}");
    }
    assert!(page.body.contains("exit code 66"), "the entry of vault_not_found states its exit code");
    let e = s.post("/v1/vaults/nosuch/search", &json!({"query": "x"})).error(404, "vault_not_found");
    assert_eq!(e["link"], format!("http://{}/docs/errors#vault_not_found", s.addr));
    // Unknown routes too, and the MCP endpoint's failed tools.
    let e = s.get("/no/such/route").error(404, "not_found");
    assert!(e["message"].as_str().unwrap().contains("/docs/errors"), "{e}");
    let failed = s.tool(None, "search", json!({"vault": "nosuch", "query": "x"}));
    let link = failed["structuredContent"]["error"]["link"].as_str().unwrap();
    common::follow_link(s.addr, link, "vault_not_found");

    // With `auth.public_url`, links are under it (the address clients know the server by).
    let config = format!("{CONFIG}auth:\n  public_url: https://trove.example.com/\n");
    let s = Server::start_config(&config, |_| {}, |_| {});
    let e = s.get("/v1/vaults/nosuch").json();
    assert_eq!(e["link"], "https://trove.example.com/docs/errors#vault_not_found", "{e}");
}

/// The JSON pointers at which `a` and `b` differ (the outermost of each difference).
fn differences(a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (va, vb) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                differences(va, vb, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        _ if a != b => out.push(if at.is_empty() { "/".into() } else { at }),
        _ => {}
    }
}

#[test]
fn every_documented_operation_is_served() {
    let s = start();
    let doc = s.get("/openapi.json").json();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{vault}", "no-such-vault")
            .replace("{source}", "no-source")
            .replace("{id}", "no-id")
            .replace("{member}", "no-member")
            .replace("{grantee}", "no-grantee")
            .replace("{name}", "no-name");
        for method in item.as_object().unwrap().keys() {
            let r = s.call(&method.to_uppercase(), &concrete, Some(b"{}"), &[("content-type", "application/json")]);
            let code = serde_json::from_str::<Value>(&r.body).ok().and_then(|v| v["code"].as_str().map(str::to_string));
            assert!(
                !matches!(code.as_deref(), Some("not_found" | "method_not_allowed")),
                "{method} {path} is documented but not routed: {}",
                r.body
            );
            // A handler whose access type disagrees with its permission row answers `internal`.
            assert_ne!(code.as_deref(), Some("internal"), "{method} {path}: {}", r.body);
            operations += 1;
        }
    }
    assert_eq!(operations, trove_server::auth::PERMISSIONS.len());
}

#[test]
fn a_hits_context_similar_documents_and_a_vaults_status_over_http() {
    let s = start_with(three_notes, |_| {});
    let hits = s.post("/v1/vaults/notes/search", &json!({"query": "aphids", "mode": "keyword"})).json();
    let hit = &hits["hits"][0];
    assert_eq!(hit["uri"], "garden.md", "{hits}");
    let chunk = hit["chunk_id"].as_i64().unwrap();

    let r = s.get(&format!("/v1/vaults/notes/chunks/{chunk}/context?before=5&after=5"));
    assert_eq!(r.status, 200, "{}", r.body);
    let context = r.json();
    assert_eq!(context["document"]["uri"], "garden.md");
    let chunks = context["chunks"].as_array().unwrap();
    assert!(chunks.len() >= 2 && chunks.iter().filter(|c| c["is_hit"] == true).count() == 1, "{context}");
    let section = s.get(&format!("/v1/vaults/notes/chunks/{chunk}/context?section=true")).json();
    assert!(section["chunks"].as_array().unwrap().iter().all(|c| c["heading_path"].to_string().contains("Pests")));

    let similar = s.get(&format!("/v1/vaults/notes/chunks/{chunk}/similar?limit=2")).json();
    let uris: Vec<&str> = similar["similar"].as_array().unwrap().iter().map(|d| d["uri"].as_str().unwrap()).collect();
    assert_eq!(uris.len(), 2, "{similar}");
    assert!(!uris.contains(&"garden.md"), "the hit's own document is left out: {similar}");

    let status = s.get("/v1/vaults/notes/status").json();
    assert_eq!(status["vault"]["documents"], 3, "{status}");
    assert_eq!(status["sources"][0]["last_sync"]["added"], 3, "{status}");
    assert!(status["recent_jobs"].is_array() && status.get("jobs").is_none(), "the single-user mode sees jobs");

    // Absent chunks and vaults, malformed ids and unknown parameters.
    s.get("/v1/vaults/notes/chunks/999999/context").error(404, "document_not_found");
    s.get("/v1/vaults/nope/chunks/1/similar").error(404, "vault_not_found");
    s.get("/v1/vaults/nope/status").error(404, "vault_not_found");
    assert_eq!(s.get("/v1/vaults/notes/chunks/first/context").status, 400);
    s.get(&format!("/v1/vaults/notes/chunks/{chunk}/context?lines=3")).error(400, "bad_request");
}

#[test]
fn rest_and_mcp_refuse_the_same_inputs_with_the_same_answer() {
    let s = start();
    let cases: [(&str, &str, Option<Value>, &str, Value); 9] = [
        ("POST", "/v1/vaults/notes/search", Some(json!({"query": "  "})), "search", json!({"query": "  "})),
        (
            "POST",
            "/v1/vaults/notes/search",
            Some(json!({"query": "x", "limit": 0})),
            "search",
            json!({"query": "x", "limit": 0}),
        ),
        (
            "POST",
            "/v1/vaults/notes/search",
            Some(json!({"query": "x", "limit": 1001})),
            "search",
            json!({"query": "x", "limit": 1001}),
        ),
        (
            "GET",
            "/v1/vaults/notes/chunks/1/context?before=21",
            None,
            "expand_context",
            json!({"chunk_id": 1, "before": 21}),
        ),
        (
            "GET",
            "/v1/vaults/notes/chunks/1/similar?limit=21",
            None,
            "find_similar",
            json!({"chunk_id": 1, "limit": 21}),
        ),
        ("GET", "/v1/vaults/notes/chunks/1/similar?limit=0", None, "find_similar", json!({"chunk_id": 1, "limit": 0})),
        (
            "POST",
            "/v1/vaults/notes/memories/retrieve",
            Some(json!({"query": " "})),
            "retrieve_memory",
            json!({"query": " "}),
        ),
        (
            "POST",
            "/v1/vaults/notes/memories/retrieve",
            Some(json!({"query": "x", "limit": 101})),
            "retrieve_memory",
            json!({"query": "x", "limit": 101}),
        ),
        ("GET", "/v1/vaults/notes/memories?limit=101", None, "list_memories", json!({"limit": 101})),
    ];
    for (method, path, body, tool, mut args) in cases {
        let rest = s.call_as(None, method, path, body.as_ref()).error(400, "bad_request");
        args["vault"] = json!("notes");
        let mcp = s.tool(None, tool, args);
        assert_eq!(mcp["isError"], true, "{tool}: {mcp}");
        assert_eq!(mcp["structuredContent"]["error"]["code"], "bad_request", "{tool}: {mcp}");
        assert_eq!(mcp["structuredContent"]["error"]["message"], rest["message"], "{method} {path} and {tool}");
    }
}

#[test]
fn searches_filter_by_document_metadata() {
    let s = start_with(
        |docs| {
            let doc = |team: &str, tags: &str, topic: &str| {
                format!(
                    "---\nteam: {team}\ntags: [{tags}]\nyear: 2024\n---\n# Runbook\n\nHow to restart the {topic} service.\n"
                )
            };
            std::fs::write(docs.join("db.md"), doc("infra", "db, ops", "database")).unwrap();
            std::fs::write(docs.join("web.md"), doc("web", "ops", "frontend")).unwrap();
        },
        |_| {},
    );
    let uris = |filters: Value, mode: &str| -> Vec<String> {
        let r =
            s.post("/v1/vaults/notes/search", &json!({"query": "restart service", "mode": mode, "filters": filters}));
        assert_eq!(r.status, 200, "{}", r.body);
        let mut u: Vec<String> =
            r.json()["hits"].as_array().unwrap().iter().map(|h| h["uri"].as_str().unwrap().to_string()).collect();
        u.sort();
        u
    };
    for mode in ["keyword", "semantic", "hybrid"] {
        assert_eq!(uris(json!({"metadata": {"team": "infra"}}), mode), ["db.md"], "{mode}");
        assert_eq!(uris(json!({"metadata": {"tags": "ops"}}), mode), ["db.md", "web.md"], "{mode}");
        assert_eq!(uris(json!({"metadata": {"tags": "ops", "team": "web"}}), mode), ["web.md"], "{mode}");
        assert_eq!(uris(json!({"metadata": {"year": 2024, "tags": "db"}}), mode), ["db.md"], "{mode}");
        assert!(uris(json!({"metadata": {"team": "nobody"}}), mode).is_empty(), "{mode}");
    }
    let search = "/v1/vaults/notes/search";
    let e = s.post(search, &json!({"query": "x", "filters": {"metadata": {"team": {"name": "infra"}}}}));
    assert!(e.error(400, "bad_request")["message"].as_str().unwrap().contains("filters.metadata.team"), "{}", e.body);
    s.post(search, &json!({"query": "x", "filters": {"metadata": {"a\"b": "x"}}})).error(400, "bad_request");
    s.post(search, &json!({"query": "x", "filters": {"metadata": ["team"]}})).error(422, "invalid_fields");
}

#[test]
fn health_reports_a_remote_embedders_last_request() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "embedder:\n  provider: llm\nllm:\n  provider: custom\n  base_url: http://{closed}/v1\n  models: {{embeddings: m}}\n  \
         embeddings: {{vector_size: 8}}\n  request: {{timeout_s: 2, max_retries: 0}}\nvaults:\n  notes:\n    sources: {{}}\n"
    );
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    let ws = Workspace::load(Some(dir.path()), None).unwrap();
    let engine = Engine::open(ws, OpenMode::Write, "test").unwrap();
    let s = Server::launch(dir, engine, |_| {});
    let embedder = |s: &Server| s.get("/health").json()["components"]["embedder"].clone();
    let before = embedder(&s);
    assert_eq!(before["status"], "ok", "{before}");
    assert!(before["message"].as_str().unwrap().contains("no request made yet"), "{before}");
    assert_eq!(before["details"]["base_url"], format!("http://{closed}/v1"));

    let stored = s.call(
        "POST",
        "/v1/vaults/notes/memories",
        Some(br#"{"text": "a memory that needs a vector"}"#),
        &[("content-type", "application/json")],
    );
    stored.error(503, "embedder_unavailable");
    let after = embedder(&s);
    assert_eq!(after["status"], "degraded", "{after}");
    let message = after["message"].as_str().unwrap();
    assert!(message.contains("failed") && message.contains("trove doctor --only embedder"), "{after}");
    assert!(after["details"]["last_call_at"].is_string(), "{after}");
}
