//! `/v1/org/secrets` over HTTP: an organization's administrators set, list and delete
//! secrets; values are never answered, never in the audit log, never in the workspace's files
//! in the clear; another organization sees and touches none of them; a key without `admin`
//! is refused; without `auth.key_encryption_secret` the routes say what to configure.

mod common;

use common::Server;
use serde_json::{Value, json};
use trove_config::Workspace;
use trove_engine::auth::KeyRequest;
use trove_engine::{Engine, OpenMode};
use trove_types::{Action, Role};

const KEK: &str = "auth:\n  key_encryption_secret: this-is-a-test-key-encryption-secret-0123\n";
const VALUE: &str = "tok-Zq81-very-secret-value";

struct Keys {
    acme_admin: String,
    acme_search: String,
    globex_admin: String,
}

fn start(config: &str) -> (Server, Keys) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), format!("embedder:\n  auto_install: false\n{config}")).unwrap();
    let ws = Workspace::load(Some(dir.path()), None).unwrap();
    let engine = Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(common::embedder());
    engine.create_user("ada@acme.test", "correct horse battery staple", "acme", Role::Owner).unwrap();
    engine.create_user("bob@globex.test", "correct horse battery staple", "globex", Role::Owner).unwrap();
    let key = |email: &str, org: &str, actions: &[Action]| {
        engine
            .create_api_key(&KeyRequest {
                email: email.into(),
                organization: org.into(),
                name: "test".into(),
                vaults: vec!["*".into()],
                actions: actions.to_vec(),
                expires_in_days: None,
            })
            .unwrap()
            .key
    };
    let keys = Keys {
        acme_admin: key("ada@acme.test", "acme", &Action::ALL),
        acme_search: key("ada@acme.test", "acme", &[Action::Search]),
        globex_admin: key("bob@globex.test", "globex", &Action::ALL),
    };
    (Server::launch(dir, engine, |_| {}), keys)
}

fn call(s: &Server, key: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> common::Resp {
    s.call_as(key, method, path, body)
}

fn files_contain(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            files_contain(&p, needle)
        } else {
            std::fs::read(&p).unwrap_or_default().windows(needle.len()).any(|w| w == needle.as_bytes())
        }
    })
}

#[test]
fn administrators_set_list_and_delete_secrets_whose_values_never_come_back() {
    let (s, keys) = start(KEK);
    let admin = Some(keys.acme_admin.as_str());

    let r = call(&s, admin, "PUT", "/v1/org/secrets/jira", Some(&json!({"value": VALUE})));
    assert_eq!(r.status, 201, "{}", r.body);
    let info = r.json();
    assert_eq!(info["name"], "jira");
    assert_eq!(info["current_key"], true);
    assert!(info["updated_by"].as_str().unwrap().starts_with("ada@acme.test (key "), "{info}");
    let r = call(&s, admin, "PUT", "/v1/org/secrets/jira", Some(&json!({"value": format!("{VALUE}-2")})));
    assert_eq!(r.status, 200, "replaced: {}", r.body);
    call(&s, admin, "PUT", "/v1/org/secrets/openai.prod", Some(&json!({"value": "sk-other"})));

    let list = call(&s, admin, "GET", "/v1/org/secrets", None);
    assert_eq!(list.status, 200);
    let names: Vec<String> =
        list.json().as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["jira", "openai.prod"]);
    for r in [&list, &r] {
        assert!(!r.body.contains(VALUE) && !r.body.contains("sk-other"), "a value came back: {}", r.body);
    }

    // Bad input: a clear 400, nothing stored.
    call(&s, admin, "PUT", "/v1/org/secrets/bad%20name", Some(&json!({"value": "x"}))).error(400, "bad_request");
    call(&s, admin, "PUT", "/v1/org/secrets/empty", Some(&json!({"value": ""}))).error(400, "bad_request");
    let r = call(&s, admin, "PUT", "/v1/org/secrets/x", Some(&json!({"value": "x", "extra": 1})));
    assert!(r.status == 400 || r.status == 422, "{}", r.body);
    assert_eq!(call(&s, admin, "GET", "/v1/org/secrets", None).json().as_array().unwrap().len(), 2);

    // Another organization: sees none, deletes none; the same name there is its own.
    let globex = Some(keys.globex_admin.as_str());
    assert_eq!(call(&s, globex, "GET", "/v1/org/secrets", None).json(), json!([]));
    call(&s, globex, "DELETE", "/v1/org/secrets/jira", None).error(404, "secret_not_found");
    assert_eq!(call(&s, globex, "PUT", "/v1/org/secrets/jira", Some(&json!({"value": "globex-own"}))).status, 201);
    assert_eq!(call(&s, admin, "GET", "/v1/org/secrets", None).json().as_array().unwrap().len(), 2);

    // Without `admin`, or without a key: refused.
    let search = Some(keys.acme_search.as_str());
    for (method, path) in
        [("GET", "/v1/org/secrets"), ("PUT", "/v1/org/secrets/jira"), ("DELETE", "/v1/org/secrets/jira")]
    {
        let body = json!({"value": "stolen"});
        assert_eq!(call(&s, search, method, path, Some(&body)).status, 403, "{method} {path}");
        assert_eq!(call(&s, None, method, path, Some(&body)).status, 401, "{method} {path}");
    }

    // The audit log names who set what, never the value.
    let audit = call(&s, admin, "GET", "/v1/audit?event=secret.&limit=50", None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    let events: Vec<(String, String)> = audit.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap().to_string(), e["target"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(events.iter().filter(|(e, t)| e == "secret.set" && t == "secret:jira").count(), 2, "{events:?}");
    assert!(!audit.body.contains(VALUE), "{}", audit.body);

    assert_eq!(call(&s, admin, "DELETE", "/v1/org/secrets/jira", None).status, 204);
    call(&s, admin, "DELETE", "/v1/org/secrets/jira", None).error(404, "secret_not_found");
    assert!(call(&s, admin, "GET", "/v1/audit?event=secret.deleted", None).body.contains("secret:jira"));
    assert!(!files_contain(s.dir.path(), VALUE), "a value is in the workspace's files in the clear");
    assert!(!files_contain(s.dir.path(), "sk-other"));
}

#[test]
fn without_a_key_encryption_secret_the_routes_say_what_to_configure() {
    let (s, keys) = start("");
    let admin = Some(keys.acme_admin.as_str());
    for (method, path) in [("GET", "/v1/org/secrets"), ("PUT", "/v1/org/secrets/jira")] {
        let e = call(&s, admin, method, path, Some(&json!({"value": VALUE}))).error(409, "secrets_disabled");
        assert!(e["message"].as_str().unwrap().contains("auth.key_encryption_secret"), "{e}");
    }
}
