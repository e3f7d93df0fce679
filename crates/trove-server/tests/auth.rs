//! Tenancy over HTTP: once users exist every `/v1` route needs an API key; a key reaches only
//! its organization's vaults it names, with the actions it holds; everything else is `401`,
//! `403` or, for another tenant's vault, document, memory or job, a `404` that looks exactly
//! like absence and carries none of its data.

mod common;

use common::Server;
use serde_json::{Value, json};
use trove_config::Workspace;
use trove_engine::auth::KeyRequest;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode};
use trove_server::auth::{Need, PERMISSIONS};
use trove_types::Action;

const CONFIG: &str = "embedder:
  auto_install: false
vaults:
  a:
    organization: acme
    sources:
      docs:
        type: localfile
        path: docs-a
  b:
    organization: globex
    sources:
      docs:
        type: localfile
        path: docs-b
";

const PASSWORD: &str = "correct horse battery staple";

struct Keys {
    /// acme, vault a, every action.
    a_admin: String,
    /// acme, vault a, search only.
    a_search: String,
    /// acme, every vault of acme, memories only.
    a_memories: String,
    /// globex, vault b, every action.
    b_admin: String,
    revoked: String,
    expired: String,
}

fn key(engine: &Engine, email: &str, org: &str, vaults: &[&str], actions: &[Action], days: Option<u32>) -> String {
    let req = KeyRequest {
        email: email.into(),
        organization: org.into(),
        name: format!("{org} test key"),
        vaults: vaults.iter().map(|v| v.to_string()).collect(),
        actions: actions.to_vec(),
        expires_in_days: days,
    };
    let created = engine.create_api_key(&req).unwrap();
    KEY_IDS.with(|ids| ids.borrow_mut().push((created.key.clone(), created.info.id.clone())));
    created.key
}

/// The matrix below presents ~100 bad keys from one address: above the default limit.
fn start() -> (Server, Keys) {
    start_with(&format!("{CONFIG}auth:\n  rate_limits:\n    failed_auth_per_ip_per_hour: 1000\n"))
}

fn start_with(config: &str) -> (Server, Keys) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    for (folder, text) in [
        ("docs-a", "# Apples\n\nAcme grows secret apples in the north orchard.\n"),
        ("docs-b", "# Bananas\n\nGlobex ripens secret bananas in the warm shed.\n"),
    ] {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        std::fs::write(dir.path().join(folder).join("note.md"), text).unwrap();
    }
    let ws = Workspace::load(Some(dir.path()), None).unwrap();
    let engine = Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(common::embedder());
    engine.ingest(&IngestOptions::default(), &NoProgress).unwrap();
    engine.create_user("ada@acme.test", PASSWORD, "acme", trove_types::Role::Owner).unwrap();
    engine.create_user("bob@globex.test", PASSWORD, "globex", trove_types::Role::Owner).unwrap();
    let all = Action::ALL;
    let keys = Keys {
        a_admin: key(&engine, "ada@acme.test", "acme", &["a"], &all, None),
        a_search: key(&engine, "ada@acme.test", "acme", &["a"], &[Action::Search], None),
        a_memories: key(&engine, "ada@acme.test", "acme", &["*"], &[Action::MemoriesWrite], Some(30)),
        b_admin: key(&engine, "bob@globex.test", "globex", &["b"], &all, None),
        revoked: key(&engine, "ada@acme.test", "acme", &["a"], &all, None),
        expired: key(&engine, "ada@acme.test", "acme", &["a"], &all, Some(0)),
    };
    let revoked_id =
        engine.api_keys("acme").unwrap().into_iter().find(|k| keys.revoked.starts_with(&k.prefix)).unwrap().id;
    engine.revoke_api_key("acme", &revoked_id).unwrap();
    (Server::launch(dir, engine, |_| {}), keys)
}

fn call(s: &Server, key: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> common::Resp {
    s.call_as(key, method, path, body)
}

/// Vault b's things, made through b's own admin key: a memory id, a document id, a dead job id.
fn b_things(s: &Server, keys: &Keys) -> (String, String, String) {
    let k = Some(keys.b_admin.as_str());
    let memory = call(s, k, "POST", "/v1/vaults/b/memories", Some(&json!({"text": "Bob likes secret bananas"})));
    assert_eq!(memory.status, 201, "{}", memory.body);
    let memory = memory.json()["id"].as_str().unwrap().to_string();
    let docs = call(s, k, "GET", "/v1/vaults/b/documents", None).json();
    let document = docs["documents"][0]["id"].to_string();
    let upload = call(
        s,
        k,
        "POST",
        "/v1/vaults/b/documents",
        Some(&json!({"documents": [{"uri": "bad.json", "text": "{", "format": "json"}]})),
    );
    assert_eq!(upload.status, 202, "{}", upload.body);
    let job = upload.json()["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let j = call(s, k, "GET", &format!("/v1/jobs/{job}"), None).json();
        if j["status"] == "dead" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the job did not fail: {j}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (memory, document, job)
}

#[test]
fn keys_reach_only_their_own_vaults_and_actions() {
    let (s, keys) = start();
    let (memory, document, job) = b_things(&s, &keys);

    // Every protected route, aimed at vault b (or b's job) with acme's all-powerful key:
    // a 404 that looks like absence and says nothing of b's data.
    let mut checked = 0;
    for (method, template, need) in PERMISSIONS {
        if *need != Need::Public && !matches!(need, Need::Action(_)) {
            // /mcp: its tools check the key themselves (tested with the MCP SDK).
            continue;
        }
        if *need == Need::Public
            || template.starts_with("/v1/keys")
            || template.starts_with("/v1/org/")
            || template == &"/v1/tokens"
        {
            // Keys and members are per organization, not per vault: tested below and in
            // sessions.rs.
            continue;
        }
        let path = template.replace("{vault}", "b").replace("{source}", "docs").replace(
            "{id}",
            if template.contains("/memories/") {
                &memory
            } else if template.contains("/documents/") {
                &document
            } else {
                &job
            },
        );
        let body =
            json!({"query": "secret bananas", "text": "x", "name": "zz", "documents": [{"uri": "x.md", "text": "x"}]});
        let r = call(&s, Some(&keys.a_admin), method, &path, Some(&body));
        if template == &"/v1/audit" {
            // acme's own log (which records this very probing of b), never globex's entries.
            assert_eq!(r.status, 200, "{}", r.body);
            assert!(!r.body.contains("globex") && !r.body.contains(&keys_id(&s, &keys.b_admin)), "{}", r.body);
            continue;
        }
        if template == &"/v1/vaults" || template == &"/v1/jobs" || template == &"/v1/dlq" {
            // Lists answer, without b's entries.
            if *method == "GET" {
                assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
                assert!(!r.body.contains("\"b\"") && !r.body.contains(&job), "{method} {path} leaks b: {}", r.body);
            }
            continue;
        }
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        for secret in ["bananas", "Bob", &memory, "globex"] {
            assert!(!r.body.contains(secret), "{method} {path} leaks `{secret}`: {}", r.body);
        }
        checked += 1;

        // Without a key, with a revoked, expired or tampered one: 401, whatever the route.
        for bad in [None, Some(keys.revoked.as_str()), Some(keys.expired.as_str())] {
            let r = call(&s, bad, method, &path, Some(&body));
            assert_eq!(r.status, 401, "{method} {path} with {bad:?}: {}", r.body);
        }
        let mut tampered = keys.b_admin.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'a' { 'b' } else { 'a' });
        let r = call(&s, Some(&tampered), method, &path, Some(&body));
        r.error(401, "invalid_api_key");
    }
    assert!(checked >= 20, "only {checked} routes checked");

    // The same key works on its own vault; lists show only what it may see.
    let hits = call(
        &s,
        Some(&keys.a_admin),
        "POST",
        "/v1/vaults/a/search",
        Some(&json!({"query": "apples", "mode": "keyword"})),
    );
    assert_eq!(hits.status, 200, "{}", hits.body);
    assert_eq!(hits.json()["hits"][0]["uri"], "note.md");
    let vaults = call(&s, Some(&keys.a_admin), "GET", "/v1/vaults", None).json();
    let names: Vec<&str> = vaults.as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a"]);
    let jobs = call(&s, Some(&keys.b_admin), "GET", "/v1/jobs", None).json();
    assert_eq!(jobs["jobs"][0]["id"], job.as_str(), "b's own key sees b's job");

    // Actions: a search-only key cannot write; a memories key cannot search.
    let r = call(&s, Some(&keys.a_search), "POST", "/v1/vaults/a/memories", Some(&json!({"text": "x"})));
    let e = r.error(403, "forbidden");
    assert!(e["message"].as_str().unwrap().contains("memories.write"), "{e}");
    let r = call(&s, Some(&keys.a_search), "POST", "/v1/vaults/a/search", Some(&json!({"query": "apples"})));
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        call(&s, Some(&keys.a_memories), "POST", "/v1/vaults/a/memories", Some(&json!({"text": "Ada likes apples"})));
    assert_eq!(r.status, 201, "a `*` key reaches every vault of its organization: {}", r.body);
    call(&s, Some(&keys.a_memories), "POST", "/v1/vaults/a/search", Some(&json!({"query": "apples"})))
        .error(403, "forbidden");
    call(&s, Some(&keys.a_memories), "GET", "/v1/vaults/b/memories", None).error(404, "vault_not_found");

    // A vault created by a key belongs to the key's organization only.
    let r = call(&s, Some(&keys.b_admin), "POST", "/v1/vaults", Some(&json!({"name": "shared"})));
    assert_eq!(r.status, 201, "{}", r.body);
    call(&s, Some(&keys.a_admin), "GET", "/v1/vaults/shared", None).error(404, "vault_not_found");

    // The audit log: b's admin sees b's changes and nothing of acme; acme's log holds the
    // refused attempts on b, attributed to the key that made them.
    let log = call(&s, Some(&keys.b_admin), "GET", "/v1/audit?event=memory.created", None).json();
    let events = log["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{log}");
    assert_eq!(events[0]["target"], format!("vault:b/memory:{memory}"));
    assert_eq!(events[0]["actor"], format!("key:{}", keys_id(&s, &keys.b_admin)));
    assert_eq!((events[0]["ip"].as_str(), events[0]["organization"].as_str()), (Some("127.0.0.1"), Some("globex")));
    let denied = call(&s, Some(&keys.a_admin), "GET", "/v1/audit?event=auth.&limit=5", None).json();
    assert_eq!(denied["events"].as_array().unwrap().len(), 5, "{denied}");
    assert!(
        denied["events"].as_array().unwrap().iter().all(|e| e["outcome"] == "denied" && e["organization"] == "acme")
    );
    let mut pages = 1;
    let mut cursor = denied["next_cursor"].as_str().map(str::to_string);
    while let Some(c) = cursor {
        let page =
            call(&s, Some(&keys.a_admin), "GET", &format!("/v1/audit?event=auth.&limit=5&cursor={c}"), None).json();
        cursor = page["next_cursor"].as_str().map(str::to_string);
        pages += 1;
    }
    assert!(pages >= 4, "{checked} refused routes, read 5 at a time");
    call(&s, Some(&keys.a_search), "GET", "/v1/audit", None).error(403, "forbidden");
    call(&s, Some(&keys.b_admin), "GET", "/v1/audit?from=yesterday", None).error(400, "bad_request");

    // Keys over the API: an admin key manages its organization's keys, never beyond its reach.
    let created = call(
        &s,
        Some(&keys.a_admin),
        "POST",
        "/v1/keys",
        Some(&json!({"name": "bot", "vaults": ["a"], "actions": ["search"]})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let (bot, bot_id) = (created["key"].as_str().unwrap().to_string(), created["id"].as_str().unwrap().to_string());
    assert_eq!(created["created_by"], "ada@acme.test");
    assert_eq!(call(&s, Some(&bot), "POST", "/v1/vaults/a/search", Some(&json!({"query": "apples"}))).status, 200);
    let listed = call(&s, Some(&keys.a_admin), "GET", "/v1/keys", None);
    assert!(listed.body.contains(&bot_id) && !listed.body.contains(&bot), "listed without the secret");
    assert!(!listed.body.contains("globex"), "{}", listed.body);
    // A new key reaches no further than the key creating it (vault `a` only): not `*`, not `b`.
    for vaults in [json!(["*"]), json!(["b"])] {
        let body = json!({"name": "x", "vaults": vaults, "actions": ["search"]});
        call(&s, Some(&keys.a_admin), "POST", "/v1/keys", Some(&body)).error(403, "forbidden");
    }
    call(&s, Some(&keys.a_search), "GET", "/v1/keys", None).error(403, "forbidden");
    let b_keys = call(&s, Some(&keys.b_admin), "GET", "/v1/keys", None).json();
    let b_id = b_keys[0]["id"].as_str().unwrap().to_string();
    call(&s, Some(&keys.a_admin), "DELETE", &format!("/v1/keys/{b_id}"), None).error(404, "api_key_not_found");
    assert_eq!(call(&s, Some(&keys.a_admin), "DELETE", &format!("/v1/keys/{bot_id}"), None).status, 204);
    call(&s, Some(&bot), "POST", "/v1/vaults/a/search", Some(&json!({"query": "apples"})))
        .error(401, "invalid_api_key");
    let log = call(&s, Some(&keys.a_admin), "GET", "/v1/audit?event=key.", None).json();
    let events: Vec<&str> = log["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["key.revoked", "key.created"], "{log}");

    // Probes stay public.
    assert_eq!(call(&s, None, "GET", "/live", None).status, 200);
    assert_eq!(call(&s, None, "GET", "/openapi.json", None).status, 200);
    assert_eq!(call(&s, None, "GET", "/docs/errors", None).status, 200);
    call(&s, None, "GET", "/v1/vaults", None).error(401, "missing_authorization");
}

#[test]
fn reading_around_hits_goes_through_the_same_boundary_over_rest_and_mcp() {
    let (s, keys) = start();
    let (a, b) = (Some(keys.a_admin.as_str()), Some(keys.b_admin.as_str()));
    let chunk_of = |key, vault: &str| {
        let body = json!({"query": "secret", "mode": "keyword"});
        let hits = call(&s, key, "POST", &format!("/v1/vaults/{vault}/search"), Some(&body)).json();
        hits["hits"][0]["chunk_id"].as_i64().unwrap_or_else(|| panic!("{hits}"))
    };
    let (ours, theirs) = (chunk_of(a, "a"), chunk_of(b, "b"));
    let around = |vault: &str, chunk: i64, what: &str| format!("/v1/vaults/{vault}/chunks/{chunk}/{what}");
    for what in ["context", "similar"] {
        assert_eq!(call(&s, a, "GET", &around("a", ours, what), None).status, 200, "{what}");
        // Another organization's vault is absent, and so is its chunk read through one's own.
        call(&s, a, "GET", &around("b", theirs, what), None).error(404, "vault_not_found");
        let r = call(&s, a, "GET", &around("a", theirs, what), None);
        r.error(404, "document_not_found");
        assert!(!r.body.contains("ananas"), "{}", r.body);
        // A key without the `search` action is refused before anything is looked up.
        call(&s, Some(&keys.a_memories), "GET", &around("a", ours, what), None).error(403, "forbidden");
    }
    // The status shows jobs only to keys with the `jobs` action.
    let status = call(&s, Some(&keys.a_search), "GET", "/v1/vaults/a/status", None).json();
    assert!(status["recent_jobs"].is_null() && status["jobs"].as_str().is_some_and(|j| j.contains("`jobs`")));
    assert!(call(&s, a, "GET", "/v1/vaults/a/status", None).json()["recent_jobs"].is_array());
    call(&s, Some(&keys.a_memories), "GET", "/v1/vaults/a/status", None).error(403, "forbidden");
    call(&s, a, "GET", "/v1/vaults/b/status", None).error(404, "vault_not_found");

    // The MCP tools over the same operations answer the same codes.
    let code = |key: Option<&str>, tool: &str, args: Value| {
        let r = s.tool(key, tool, args);
        r["structuredContent"]["error"]["code"].as_str().map(str::to_string)
    };
    assert_eq!(code(a, "expand_context", json!({"vault": "a", "chunk_id": ours})), None);
    assert_eq!(code(a, "find_similar", json!({"vault": "b", "chunk_id": theirs})).as_deref(), Some("vault_not_found"));
    let foreign = code(a, "expand_context", json!({"vault": "a", "chunk_id": theirs}));
    assert_eq!(foreign.as_deref(), Some("document_not_found"));
    let refused = code(Some(&keys.a_memories), "ingest_status", json!({"vault": "a"}));
    assert_eq!(refused.as_deref(), Some("forbidden"));
}

/// The id (`key_…`) of a key, from its organization's listing.
fn keys_id(s: &Server, key: &str) -> String {
    let _ = s;
    KEY_IDS.with(|ids| ids.borrow().iter().find(|(k, _)| k == key).map(|(_, id)| id.clone()).unwrap_or_default())
}

thread_local! {
    static KEY_IDS: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let config = format!(
        "{CONFIG}auth:\n  rate_limits:\n    requests_per_key_per_minute: 5\n    failed_auth_per_ip_per_hour: 3\n"
    );
    let (s, keys) = start_with(&config);
    for i in 0..5 {
        let r = call(&s, Some(&keys.a_search), "GET", "/v1/vaults/a", None);
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
    }
    let r = call(&s, Some(&keys.a_search), "GET", "/v1/vaults/a", None);
    r.error(429, "rate_limited");
    let wait: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=12).contains(&wait), "one of 5 tokens a minute comes back within 12 s: {wait}");
    // Another key has its own allowance.
    assert_eq!(call(&s, Some(&keys.b_admin), "GET", "/v1/vaults/b", None).status, 200);

    // Guessing keys: three refusals, then this address is refused outright, even with a
    // valid key, until the bucket refills.
    for _ in 0..3 {
        call(&s, Some("trove_AAAAAAAAAAAA_guess"), "GET", "/v1/vaults", None).error(401, "invalid_api_key");
    }
    call(&s, Some("trove_AAAAAAAAAAAA_guess"), "GET", "/v1/vaults", None).error(429, "rate_limited");
    let r = call(&s, Some(&keys.b_admin), "GET", "/v1/vaults/b", None);
    r.error(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Probes are never limited.
    assert_eq!(call(&s, None, "GET", "/live", None).status, 200);
}
