//! `trove admin` end to end: the first user turns authentication on, keys are printed once
//! and listed without their secret, revocation sticks, bad input is refused with its exit
//! code, and `trove serve` refuses a public address while no user exists.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn trove(root: &Path, args: &[&str], password: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trove"));
    c.arg("--workspace").arg(root).args(args);
    c.env_remove("TROVE_WORKSPACE").env_remove("TROVE_CONFIG").env_remove("TROVE_BIND");
    match password {
        Some(p) => c.env("TROVE_ADMIN_PASSWORD", p),
        None => c.env_remove("TROVE_ADMIN_PASSWORD"),
    };
    c.stdin(Stdio::null());
    c.output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn users_and_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert!(trove(root, &["init"], None).status.success());
    // The vault must exist in the store before a key can name it.
    std::fs::write(
        root.join("config.yaml"),
        "embedder:\n  auto_install: false\nvaults:\n  default:\n    sources: {}\n",
    )
    .unwrap();
    let o = trove(root, &["admin", "assign-vault", "default", "--org", "acme"], None);
    assert_eq!(o.status.code(), Some(66), "no such vault or organization yet: {:?}", text(&o));

    // A public address is refused while nobody can log in.
    let o = trove(root, &["serve", "--bind", "0.0.0.0:0"], None);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(78), "{err}");
    assert!(err.contains("without authentication") && err.contains("trove admin create-user"), "{err}");

    let short =
        trove(root, &["admin", "create-user", "--email", "ada@acme.test", "--org", "acme", "--owner"], Some("short"));
    let (_, err) = text(&short);
    assert_eq!(short.status.code(), Some(65), "{err}");
    assert!(err.contains("at least 12"), "{err}");
    let o = trove(root, &["admin", "create-user", "--email", "ada@acme.test", "--org", "acme", "--owner"], None);
    assert!(!o.status.success(), "no password given: {:?}", text(&o));

    let o = trove(
        root,
        &["admin", "create-user", "--email", "ada@acme.test", "--org", "acme", "--owner"],
        Some("correct horse battery staple"),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("owner of organization `acme`") && out.contains("authentication is on"), "{out}");
    let again = trove(
        root,
        &["admin", "create-user", "--email", "ADA@acme.test", "--org", "acme"],
        Some("another long password"),
    );
    assert_eq!(again.status.code(), Some(73), "{:?}", text(&again));

    let o = trove(
        root,
        &[
            "admin",
            "create-key",
            "--email",
            "ada@acme.test",
            "--org",
            "acme",
            "--vault",
            "*",
            "--action",
            "search",
            "--action",
            "memories.write",
            "--json",
        ],
        None,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("trove_") && key.len() > 40, "{key}");
    assert_eq!(created["actions"], serde_json::json!(["search", "memories.write"]));
    let id = created["id"].as_str().unwrap();

    let bad = trove(
        root,
        &["admin", "create-key", "--email", "ada@acme.test", "--org", "acme", "--vault", "*", "--action", "root"],
        None,
    );
    assert_eq!(bad.status.code(), Some(64), "{:?}", text(&bad));
    let other = trove(
        root,
        &["admin", "create-key", "--email", "ada@acme.test", "--org", "globex", "--vault", "*", "--action", "search"],
        None,
    );
    assert_eq!(other.status.code(), Some(66), "{:?}", text(&other));

    let list = trove(root, &["admin", "list-keys", "--org", "acme", "--json"], None);
    let (out, _) = text(&list);
    assert!(!out.contains(key), "the secret is never listed");
    let keys: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(keys[0]["id"], id);
    assert!(keys[0]["revoked_at"].is_null());

    assert!(trove(root, &["admin", "revoke-key", id, "--org", "acme"], None).status.success());
    let keys: serde_json::Value =
        serde_json::from_str(&text(&trove(root, &["admin", "list-keys", "--org", "acme", "--json"], None)).0).unwrap();
    assert!(keys[0]["revoked_at"].is_string(), "{keys}");
    let o = trove(root, &["admin", "revoke-key", "key_nope", "--org", "acme"], None);
    assert_eq!(o.status.code(), Some(66), "{:?}", text(&o));

    // What the commands did is in the audit log, oldest last, attributed to the CLI.
    use trove_store::prelude::*;
    let store = trove_store::embedded::EmbeddedStore::open_reader(&root.join(".trove")).unwrap();
    let log = store.audit_query(&trove_store::AuditFilter::default(), None, 10).unwrap();
    let events: Vec<(&str, &str)> = log.iter().map(|r| (r.event.event.as_str(), r.event.actor.as_str())).collect();
    assert_eq!(events, [("key.revoked", "cli"), ("key.created", "cli"), ("user.created", "cli")]);
    assert_eq!(log[0].event.target.as_deref(), Some(format!("key:{id}").as_str()));
    assert_eq!(log[2].organization_name.as_deref(), Some("acme"));
}

#[path = "support/served.rs"]
mod served;

#[test]
fn an_administrator_resets_a_password_and_the_users_sessions_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    served::init(root);
    let old = "correct horse battery staple";
    let created =
        trove(root, &["admin", "create-user", "--email", "ada@acme.test", "--org", "acme", "--owner"], Some(old));
    assert!(created.status.success(), "{:?}", text(&created));
    let s = served::Served::start(root, &[]);
    let login = |password: &str| {
        let body = serde_json::json!({"email": "ada@acme.test", "password": password, "client": "cli"}).to_string();
        served::http(&s.addr, "POST", "/v1/auth/login", Some(&body))
    };
    let (status, body) = login(old);
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"].as_str().unwrap().to_string();
    assert_eq!(served::http_auth(&s.addr, &token, "GET", "/v1/auth/me", None).0, 200);

    let short = trove(root, &["admin", "reset-password", "--email", "ada@acme.test"], Some("short"));
    assert_eq!(short.status.code(), Some(65), "{:?}", text(&short));
    let nobody = trove(root, &["admin", "reset-password", "--email", "bob@acme.test"], Some("a long enough password"));
    assert_eq!(nobody.status.code(), Some(67), "{:?}", text(&nobody));
    let (_, err) = text(&nobody);
    assert!(err.contains("user_not_found") && err.contains("trove admin create-user"), "{err}");

    let new = "tomatoes in the morning sun";
    let reset = trove(root, &["admin", "reset-password", "--email", "ada@acme.test"], Some(new));
    let (out, err) = text(&reset);
    assert!(reset.status.success(), "{out}{err}");
    assert_eq!(out.trim(), "set a new password for ada@acme.test; 1 session(s) ended");
    assert_eq!(served::http_auth(&s.addr, &token, "GET", "/v1/auth/me", None).0, 401, "the old session ended");
    assert_eq!(login(old).0, 401, "the old password no longer works");
    assert_eq!(login(new).0, 200, "the new one does");
}
