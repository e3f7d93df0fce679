//! The web page of `trove serve`, in a real browser: headless Chromium driven by playwright-core
//! (`tests/web/e2e.mjs`, installed by `scripts/web-e2e-deps`, found through `$TROVE_WEB_E2E`)
//! against the real server with authentication on. The script logs in, searches and opens a
//! result, asks a question and a follow-up in the Ask view (answered by the fake chat server)
//! and opens a citation, syncs a source, edits a memory, retries a dead job, reads the health page, creates
//! an API key and revokes it after a reload; this test then checks over the API that each of
//! those things happened. With `TROVE_SCREENSHOTS=DIR` it also saves a screenshot per page
//! (how `docs/screenshots/` is made).

#[path = "support/served.rs"]
mod served;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use served::{Served, http, http_auth, http_with};

const EMAIL: &str = "ada@acme.test";
const PASSWORD: &str = "correct horse battery staple";

fn playwright() -> PathBuf {
    let p = std::env::var_os("TROVE_WEB_E2E").expect(
        "TROVE_WEB_E2E is not set: run the tests with scripts/test, which installs Chromium and playwright-core (scripts/web-e2e-deps)",
    );
    PathBuf::from(p)
}

fn trove(root: &Path, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_trove"))
        .arg("--workspace")
        .arg(root)
        .args(args)
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .env("TROVE_ADMIN_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "trove {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn call(s: &Served, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (status, text) = http_auth(&s.addr, token, method, path, body.as_deref());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn wait_for(what: &str, mut done: impl FnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The answer the fake chat model gives (rewrites get [`STANDALONE`]).
const ANSWER: &str = "Requests wait for a free connection, then fail [1].";
const STANDALONE: &str = "how to fix the database running out of connections";

/// The fake chat server the Ask view's answers come from.
fn fake_chat() -> trove_chat::testing::FakeChat {
    use trove_chat::testing::{FakeChat, Script};
    FakeChat::start(|req, _| {
        let system = req.json()["messages"][0]["content"].as_str().unwrap_or_default().to_string();
        let text = if system.starts_with("You rewrite") { STANDALONE } else { ANSWER };
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        Script::answer(&refs)
    })
}

/// A workspace with the sample corpus ingested and an owner account, answering through `chat`.
fn workspace(chat: &trove_chat::testing::FakeChat) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    served::init(root);
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sample"), &root.join("docs"));
    let mut config = std::fs::read_to_string(root.join("config.yaml")).unwrap();
    config.push_str("\njobs:\n  max_attempts: 1\n  backoff_base_ms: 20\n");
    config.push_str(&format!(
        "chat_models:\n  fake:\n    provider: custom\n    base_url: {}\n    api_key: sk-test\n    models: {{chat: fake-model}}\n",
        chat.url()
    ));
    std::fs::write(root.join("config.yaml"), config).unwrap();
    trove(root, &["ingest", "--no-progress"]);
    trove(root, &["admin", "create-user", "--email", EMAIL, "--org", "acme", "--owner"]);
    trove(root, &["admin", "assign-vault", "default", "--org", "acme"]);
    dir
}

#[test]
fn the_web_page_in_a_browser() {
    let modules = playwright();
    let chat = fake_chat();
    let dir = workspace(&chat);
    let mut s = Served::start(dir.path(), &[]);

    // The page itself is public and revalidates with its ETag.
    let (status, html) = http(&s.addr, "GET", "/", None);
    assert_eq!(status, 200);
    assert!(html.contains("/ui/app.js") && html.contains("<title>Trove</title>"), "{html}");
    let (status, _) = http_with(&s.addr, "GET", "/ui/app.js", &[("if-none-match", "\"nope\"")], b"");
    assert_eq!(status, 200);

    // An API session for setting up and checking.
    let (status, text) = http(
        &s.addr,
        "POST",
        "/v1/auth/login",
        Some(&json!({"email": EMAIL, "password": PASSWORD, "client": "cli"}).to_string()),
    );
    assert_eq!(status, 200, "{text}");
    let token = serde_json::from_str::<Value>(&text).unwrap()["token"].as_str().unwrap().to_string();
    let (status, me) = call(&s, &token, "GET", "/v1/auth/me", None);
    assert_eq!((status, me["kind"].as_str(), me["role"].as_str()), (200, Some("session"), Some("owner")), "{me}");
    assert!(me["csrf_token"].is_null(), "a bearer session has no CSRF token: {me}");

    let (status, memory) = call(
        &s,
        &token,
        "POST",
        "/v1/vaults/default/memories",
        Some(json!({"text": "Ada prefers tea", "user_id": "ada", "tags": ["drinks"]})),
    );
    assert_eq!(status, 201, "{memory}");
    let (status, job) = call(
        &s,
        &token,
        "POST",
        "/v1/vaults/default/documents",
        Some(json!({"documents": [{"uri": "broken.json", "text": "{", "format": "json"}]})),
    );
    assert_eq!(status, 202, "{job}");
    let dead = job["id"].as_str().unwrap().to_string();
    wait_for("the upload's failure", || {
        let (_, j) = call(&s, &token, "GET", &format!("/v1/jobs/{dead}"), None);
        (j["status"] == "dead").then_some(j)
    });

    let found = browser(&modules, &s.addr, &[("TROVE_DEAD_JOB", &dead)]);

    assert!(found["bad_login"].as_str().unwrap().contains("invalid_credentials"), "{found}");
    // The error links to its entry in this server's error reference.
    assert_eq!(found["bad_login_link"], format!("http://{}/docs/errors#invalid_credentials", s.addr), "{found}");
    assert!(found["hits"].as_u64().unwrap() >= 1, "{found}");
    assert_eq!(found["document_title"], found["first_hit"], "the opened document is the first hit");
    let filtered = found["filtered_uris"].as_array().unwrap();
    assert!(
        !filtered.is_empty() && filtered.iter().all(|u| u == "guides/onboarding.html"),
        "only the page with lang=en: {found}"
    );
    assert!(found["dead_error"].as_str().unwrap().contains("document_unreadable"), "{found}");
    assert_eq!(found["health_components"], 5, "{found}");
    assert_eq!(found["answer"], ANSWER, "the streamed answer, whole: {found}");
    assert!(found["answer_citations"].as_u64().unwrap() >= 1, "{found}");
    assert!(found["rewritten_shown"].as_str().unwrap().contains(STANDALONE), "{found}");
    assert_eq!(found["history_turns"], 2, "{found}");
    assert!(!found["cited_document"].as_str().unwrap().is_empty(), "{found}");
    let conversation = found["conversation"].as_str().unwrap();
    assert!(conversation.starts_with("cnv_"), "{found}");
    assert_eq!(found["page_errors"], json!([]), "{found}");
    assert_eq!(found["key_shown_again"], false, "the key's secret is shown only when created");
    let pages = found["accessibility"].as_object().unwrap();
    assert_eq!(pages.len(), 9, "every page was checked: {found}");
    for (page, violations) in pages {
        assert_eq!(violations, &json!([]), "serious accessibility problems on the {page} page");
    }

    // What the browser did, seen over the API.
    let (status, c) = call(&s, &token, "GET", &format!("/v1/vaults/default/conversations/{conversation}"), None);
    assert_eq!(status, 200, "{c}");
    let turns = c["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2, "{c}");
    assert_eq!(turns[1]["question"], "and how do I fix it?");
    assert_eq!(turns[1]["rewritten_question"], STANDALONE);
    assert_eq!(turns[0]["answer"], ANSWER);
    let (_, m) =
        call(&s, &token, "GET", &format!("/v1/vaults/default/memories/{}", memory["id"].as_str().unwrap()), None);
    assert_eq!(m["text"], "Ada prefers tea, not coffee (edited in the browser)", "{m}");
    let (_, j) = call(&s, &token, "GET", &format!("/v1/jobs/{dead}"), None);
    assert_eq!(j["retries"], 1, "the dead job was retried from the page: {j}");
    let (_, keys) = call(&s, &token, "GET", "/v1/keys", None);
    let key = keys.as_array().unwrap().iter().find(|k| k["name"] == "e2e-bot").expect("the key made in the page");
    assert!(key["revoked_at"].is_string(), "revoked from the page: {key}");
    let secret = found["key"].as_str().unwrap();
    assert!(secret.starts_with("trove_"), "{found}");
    let (status, _) = call(&s, secret, "GET", "/v1/vaults", None);
    assert_eq!(status, 401, "a revoked key is refused");
    let (_, grants) = call(&s, &token, "GET", "/v1/vaults/default/grants", None);
    assert_eq!((grants[0]["name"].as_str(), grants[0]["level"].as_str()), (Some("support"), Some("write")), "{grants}");
    let (_, jobs) = call(&s, &token, "GET", "/v1/jobs?kind=sync", None);
    assert!(!jobs["jobs"].as_array().unwrap().is_empty(), "the Sync button queued a sync: {jobs}");
    let (_, audit) = call(&s, &token, "GET", "/v1/audit?event=key.revoked", None);
    let revoked = &audit["events"][0];
    assert!(revoked["actor"].as_str().unwrap().starts_with("session:ses_"), "{audit}");
    assert_eq!(revoked["target"], format!("key:{}", key["id"].as_str().unwrap()), "{audit}");

    // The reset link the page asked for is in the server's log (the development mailer):
    // following it in the browser sets a new password that then logs in.
    assert!(found["reset_requested"].as_str().unwrap().contains("link to choose a new password"), "{found}");
    let mut link = |kind: &str| {
        let marker = format!("#/{kind}?token=");
        wait_for("the mail", || {
            let logs = s.logs().join("\n");
            let at = logs.rfind(&marker)? + marker.len();
            let token: String = logs[at..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            Some(Value::String(token))
        })
        .as_str()
        .unwrap()
        .to_string()
    };
    let (reset_token, invite_token) = (link("reset"), link("invite"));
    let reset = browser(
        &modules,
        &s.addr,
        &[("TROVE_PHASE", "reset"), ("TROVE_RESET_TOKEN", &reset_token), ("TROVE_INVITE_TOKEN", &invite_token)],
    );
    assert_eq!(reset["logged_in_after_reset"], true, "{reset}");
    assert!(reset["joined"].as_str().unwrap().contains("newcomer@acme.test joined acme"), "{reset}");
    let (status, _) = http(
        &s.addr,
        "POST",
        "/v1/auth/login",
        Some(
            &json!({"email": "newcomer@acme.test", "password": "the newcomer passphrase", "client": "cli"}).to_string(),
        ),
    );
    assert_eq!(status, 200, "the invited account logs in");
    assert_eq!(reset["page_errors"], json!([]), "{reset}");
    let (status, _) =
        http(&s.addr, "POST", "/v1/auth/login", Some(&json!({"email": EMAIL, "password": PASSWORD}).to_string()));
    assert_eq!(status, 401, "the old password no longer works");

    eprintln!(
        "first contentful paint of the login page: {} ms with the browser starting, {} ms warm",
        found["first_contentful_paint_ms"], found["warm_first_contentful_paint_ms"]
    );
}

/// Runs the browser script with the server's address and `extra` environment; its findings.
fn browser(modules: &Path, addr: &str, extra: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new("node");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web/e2e.mjs"))
        .env("TROVE_WEB_E2E", modules)
        .env("TROVE_URL", format!("http://{addr}/"))
        .env("TROVE_EMAIL", EMAIL)
        .env("TROVE_PASSWORD", PASSWORD)
        .envs(extra.iter().copied())
        .stdin(Stdio::null());
    let out = cmd.output().expect("node runs (Node.js 20 is on the machine)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let found: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    eprintln!("browser findings: {found}");
    found
}

#[test]
fn the_page_is_served_with_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    served::init(dir.path());
    let s = Served::start(dir.path(), &[]);
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    use std::io::{Read, Write};
    write!(conn, "GET /ui/app.css HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    let head = raw.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.contains("content-type: text/css"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let etag = head.lines().find_map(|l| l.strip_prefix("etag: ")).unwrap().trim().to_string();
    let (status, body) = http_with(&s.addr, "GET", "/ui/app.css", &[("if-none-match", &etag)], b"");
    assert_eq!((status, body.as_str()), (304, ""), "revalidated");
    let (status, body) = http(&s.addr, "GET", "/ui/secrets.txt", None);
    assert_eq!(status, 404);
    assert!(body.contains("app.js"), "names the files there are: {body}");
    // Without users, the page's session check says authentication is off.
    let me = s.get("/v1/auth/me");
    assert_eq!((me["kind"].as_str(), me["auth_required"].as_bool()), (Some("local"), Some(false)), "{me}");
}
