//! `trove doctor` against injected faults: each test breaks one thing the way it breaks in
//! the field and checks that doctor names it, says the fix, and exits with the right code.
//! Remote embedders are probed against local servers: a closed port, a port that never answers,
//! a stub answering 401/403/429, a `.invalid` host, certificates made in the test.

#[path = "../../trove-embed/tests/support/embeddings_mock.rs"]
mod mock;
#[path = "../../trove-ingest/tests/support/git.rs"]
mod repo;
#[path = "../../trove-engine/tests/support/smtp_mock.rs"]
mod smtp_mock;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mock::{Mock, Reply};
use serde_json::Value;

fn doctor(root: &Path, extra: &[&str]) -> (i32, Value) {
    doctor_env(root, extra, &[])
}

fn doctor_env(root: &Path, extra: &[&str], env: &[(&str, &Path)]) -> (i32, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trove"));
    for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd
        .arg("--workspace")
        .arg(root)
        .args(["doctor", "--json"])
        .args(extra)
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().unwrap(), v)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name}: {report}"))
}

fn workspace(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    dir
}

const BASE: &str = "vaults:\n  notes:\n    sources: {}\n";

#[test]
fn a_healthy_workspace_passes_and_only_selects_checks() {
    let dir = workspace(&format!("{BASE}server:\n  bind: 127.0.0.1:0\n"));
    let (code, r) = doctor(dir.path(), &["--only", "config", "--only", "lock", "--only", "bind", "--only", "data_dir"]);
    assert_eq!(code, 0, "{r}");
    let names: Vec<&str> = r["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(names, ["config", "data_dir", "lock", "bind"]);
    assert!(r["checks"].as_array().unwrap().iter().all(|c| c["status"] == "ok" && c["latency_ms"].is_number()), "{r}");
    let out = Command::new(env!("CARGO_BIN_EXE_trove"))
        .arg("-w")
        .arg(dir.path())
        .args(["doctor", "--only", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("config, data_dir, disk"), "lists the checks");
}

/// `trove ARGS` run in `root` as a workspace: exit code, stdout, stderr.
fn trove(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trove"))
        .arg("-w")
        .arg(root)
        .args(args)
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn with_json_a_usage_error_is_a_json_error_body_on_stdout_with_the_usage_exit_code() {
    let dir = workspace(BASE);
    for (args, says) in [
        (&["doctor", "--json", "--only", "nope"][..], "nope"),
        (&["doctor", "--only", "nope", "--json"][..], "nope"),
        (&["doctor", "--json", "--bogus"][..], "--bogus"),
        (&["doctor", "--json", "--only"][..], "--only"),
    ] {
        let (code, stdout, stderr) = trove(dir.path(), args);
        assert_eq!(code, 64, "{args:?}: {stdout}{stderr}");
        let body: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not one JSON body ({e}): {stdout}"));
        let keys: std::collections::BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["code", "link", "message", "type"].into(), "{body}");
        assert_eq!((body["code"].as_str(), body["type"].as_str()), (Some("bad_request"), Some("invalid_request")));
        assert!(body["link"].as_str().unwrap().ends_with("#bad_request"), "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says) && !message.starts_with("error:"), "{args:?}: {message}");
        assert!(stderr.is_empty(), "{args:?}: nothing on stderr, got {stderr}");
    }
    // An unknown check's message names the ones there are.
    let (_, stdout, _) = trove(dir.path(), &["doctor", "--json", "--only", "nope"]);
    assert!(stdout.contains("data_dir") && stdout.contains("tls"), "{stdout}");
    // Without --json it stays clap's text on stderr, with the same exit code.
    let (code, stdout, stderr) = trove(dir.path(), &["doctor", "--bogus"]);
    assert_eq!((code, stdout.as_str()), (64, ""));
    assert!(stderr.contains("--bogus") && stderr.contains("Usage:"), "{stderr}");
}

#[test]
fn every_check_doctor_reports_is_listed_in_its_help() {
    // Without a configuration every check is reported: the config failing, the rest skipped.
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = doctor(dir.path(), &[]);
    let names: Vec<String> =
        report["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap().to_string()).collect();
    assert!(names.len() >= 13, "{names:?}");
    let (code, help, _) = trove(dir.path(), &["doctor", "--help"]);
    assert_eq!(code, 0, "{help}");
    let (_, short, _) = trove(dir.path(), &["doctor", "-h"]);
    for name in &names {
        assert!(help.contains(&format!("- {name}:")), "`trove doctor --help` does not describe {name}:\n{help}");
        assert!(short.contains(name.as_str()), "`trove doctor -h` does not list {name}:\n{short}");
    }
}

#[test]
fn configuration_file_not_found_and_missing_variables() {
    let dir = tempfile::tempdir().unwrap();
    let (code, r) = doctor(dir.path(), &[]);
    assert_eq!(code, 2);
    let c = check(&r, "config");
    assert_eq!(c["status"], "fail");
    assert!(c["found"].as_str().unwrap().contains("trove init"), "{c}");
    assert_eq!(check(&r, "store")["status"], "skip");

    let dir = workspace(&format!("{BASE}embedder:\n  model_dir: ${{TROVE_TEST_UNSET_VARIABLE}}\n"));
    let (code, r) = doctor(dir.path(), &["--only", "config"]);
    assert_eq!(code, 2);
    assert!(check(&r, "config")["found"].as_str().unwrap().contains("TROVE_TEST_UNSET_VARIABLE"), "{r}");

    // A signing secret too short to be safe.
    let dir = workspace(&format!("{BASE}auth:\n  jwt:\n    secret: short-secret\n"));
    let (code, r) = doctor(dir.path(), &["--only", "config"]);
    assert_eq!(code, 2);
    let found = check(&r, "config")["found"].as_str().unwrap().to_string();
    assert!(found.contains("auth.jwt.secret") && found.contains("at least 32 bytes"), "{found}");
}

/// Issue 31: doctor names the processes that have the workspace open and what each holds, and
/// removes the entries of processes that are gone.
#[test]
fn the_processes_that_have_the_workspace_open_are_listed_and_dead_ones_removed() {
    let dir = workspace(BASE);
    let data = dir.path().join(".trove");
    let registry = data.join("processes");
    std::fs::create_dir_all(&registry).unwrap();
    let dead =
        r#"{"pid":999999,"host":"old-host","command":"trove ingest","since":"2026-01-01T00:00:00Z","role":"writer"}"#;
    std::fs::write(registry.join("old-host-999999-0.json"), dead).unwrap();
    let (code, r) = doctor(dir.path(), &["--only", "processes"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        check(&r, "processes")["found"],
        "no process has the workspace open; removed the entries of processes that are gone: pid 999999 (trove ingest)"
    );
    let mut mcp = Command::new(env!("CARGO_BIN_EXE_trove"))
        .arg("--workspace")
        .arg(dir.path())
        .arg("mcp")
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let needle = format!("pid {} ", mcp.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (code, r) = loop {
        let (code, r) = doctor(dir.path(), &["--only", "lock", "--only", "processes"]);
        // Once it has created the store (with the workspace to itself), it holds it shared.
        if check(&r, "processes")["found"].as_str().unwrap().contains(&needle)
            && check(&r, "lock")["found"].as_str().unwrap().contains("shared")
        {
            break (code, r);
        }
        assert!(std::time::Instant::now() < deadline, "trove mcp never showed up: {r}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(code, 0, "{r}");
    let found = check(&r, "processes")["found"].as_str().unwrap();
    assert!(
        found.contains("(trove mcp, since") && found.contains("writes: holds the workspace lock shared"),
        "{found}"
    );
    assert!(!found.contains("999999"), "removed once: {found}");
    drop(mcp.stdin.take());
    assert!(mcp.wait().unwrap().success());
    let (_, r) = doctor(dir.path(), &["--only", "processes"]);
    assert_eq!(check(&r, "processes")["found"], "no process has the workspace open", "{r}");
}

#[test]
fn a_stale_lock_is_named_and_fixed() {
    let dir = workspace(BASE);
    let data = dir.path().join(".trove");
    std::fs::create_dir_all(&data).unwrap();
    let record = r#"{"pid":999999,"host":"old-host","since":"2026-01-01T00:00:00Z","command":"trove ingest"}"#;
    std::fs::write(data.join("writer.lock"), record).unwrap();
    let (code, r) = doctor(dir.path(), &["--only", "lock"]);
    assert_eq!(code, 1, "{r}");
    let c = check(&r, "lock");
    assert!(c["found"].as_str().unwrap().contains("pid 999999") && c["fix"].as_str().unwrap().contains("--fix"), "{c}");
    let (code, r) = doctor(dir.path(), &["--only", "lock", "--fix"]);
    assert_eq!(code, 0, "{r}");
    assert!(check(&r, "lock")["found"].as_str().unwrap().contains("cleared"));
    assert_eq!(std::fs::read_to_string(data.join("writer.lock")).unwrap(), "", "the record is gone");
    assert_eq!(doctor(dir.path(), &["--only", "lock"]).0, 0);
}

#[test]
fn a_data_dir_that_is_not_a_folder_fails() {
    let dir = workspace(&format!("{BASE}storage:\n  data_dir: not-a-folder\n"));
    std::fs::write(dir.path().join("not-a-folder"), "x").unwrap();
    let (code, r) = doctor(dir.path(), &["--only", "data_dir"]);
    assert_eq!(code, 2);
    let c = check(&r, "data_dir");
    assert!(
        c["found"].as_str().unwrap().contains("is not a folder")
            && c["fix"].as_str().unwrap().contains("storage.data_dir"),
        "{c}"
    );
}

#[test]
fn address_already_in_use_names_the_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = workspace(&format!("{BASE}server:\n  bind: 127.0.0.1:{port}\n"));
    let (code, r) = doctor(dir.path(), &["--only", "bind"]);
    assert_eq!(code, 2);
    let c = check(&r, "bind");
    assert!(c["found"].as_str().unwrap().contains("Address already in use"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains(&format!("sport = :{port}")), "{c}");
}

#[test]
fn a_missing_model_and_an_expired_certificate_are_named() {
    // A configured model folder that does not exist: the configuration itself fails, and is
    // reported even when only the model was asked for.
    let dir = workspace(&format!("{BASE}embedder:\n  model_dir: no-model-here\n  auto_install: false\n"));
    let (code, r) = doctor(dir.path(), &["--only", "model"]);
    assert_eq!(code, 2, "{r}");
    assert!(check(&r, "config")["found"].as_str().unwrap().contains("no-model-here"), "{r}");
    assert_eq!(check(&r, "model")["status"], "skip");

    // No model anywhere Trove looks: an empty cache folder and no model_dir.
    let dir = workspace(&format!("{BASE}embedder:\n  auto_install: false\n"));
    let cache = tempfile::tempdir().unwrap();
    let (code, r) = doctor_env(dir.path(), &["--only", "model"], &[("TROVE_CACHE_DIR", cache.path())]);
    assert_eq!(code, 2);
    assert!(check(&r, "model")["fix"].as_str().unwrap().contains("trove model install"), "{r}");

    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(60);
    params.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let cert = params.self_signed(&key).unwrap();
    let dir = workspace(&format!("{BASE}server:\n  tls:\n    cert_file: cert.pem\n    key_file: key.pem\n"));
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    let (code, r) = doctor(dir.path(), &["--only", "tls"]);
    assert_eq!(code, 2);
    let c = check(&r, "tls");
    assert!(
        c["found"].as_str().unwrap().contains("cert.pem") && c["found"].as_str().unwrap().contains("expired"),
        "{c}"
    );

    // One expiring within 14 days is a warning.
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    std::fs::write(dir.path().join("cert.pem"), params.self_signed(&key).unwrap().pem()).unwrap();
    let (code, r) = doctor(dir.path(), &["--only", "tls"]);
    assert_eq!(code, 1, "{r}");
}

#[test]
fn an_inconsistent_store_fails_with_the_rebuild_fix() {
    let dir = workspace(BASE);
    let data = dir.path().join(".trove");
    {
        let store = trove_store::embedded::EmbeddedStore::open_writer(&data, "test").unwrap();
        use trove_store::prelude::*;
        store.ensure_vault("notes").unwrap();
    }
    let conn = rusqlite::Connection::open(data.join("trove.db")).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; INSERT INTO chunks (document_id, vault_id, idx, text, heading_path, token_count, vector) VALUES (424242, 1, 0, 'orphan', '[]', 1, x'');").unwrap();
    drop(conn);
    let (code, r) = doctor(dir.path(), &["--only", "store"]);
    assert_eq!(code, 2, "{r}");
    let c = check(&r, "store");
    assert!(c["found"].as_str().unwrap().contains("belong to no document"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("trove ingest --force"), "{c}");
}

/// A workspace whose default embedder is the OpenAI-compatible API at `url`.
fn remote(url: &str, dim: usize, extra: &str) -> tempfile::TempDir {
    workspace(&format!(
        "{BASE}embedder:\n  provider: llm\nllm:\n  provider: custom\n  base_url: {url}\n  api_key: sk-doctor\n  \
         models: {{embeddings: m1}}\n  embeddings: {{vector_size: {dim}}}\n  request: {{timeout_s: 1, max_retries: 0}}\n{extra}"
    ))
}

/// `trove doctor --only embedder` on `dir`: exit code, status, found and fix.
fn embedder_check(dir: &Path, env: &[(&str, &Path)]) -> (i32, String, String, String) {
    let (code, r) = doctor_env(dir, &["--only", "embedder"], env);
    let c = check(&r, "embedder");
    let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    (code, text("status"), text("found"), text("fix"))
}

#[test]
fn remote_embedder_refused_silent_unauthorized_limited_and_unknown_hosts_are_named() {
    // Nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = remote(&format!("http://{closed}/v1"), 8, "");
    let (code, status, found, fix) = embedder_check(dir.path(), &[]);
    assert_eq!((code, status.as_str()), (2, "fail"), "{found}");
    assert!(found.contains("connection refused") && fix.contains("start the service"), "{found} / {fix}");

    // A port that accepts connections but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = remote(&format!("http://{}/v1", silent.local_addr().unwrap()), 8, "");
    let (code, _, found, fix) = embedder_check(dir.path(), &[]);
    assert_eq!(code, 2);
    assert!(found.contains("no answer within") && fix.contains("does not answer"), "{found} / {fix}");

    for (status, word, hint) in [(401, "Unauthorized", "api_key"), (403, "Forbidden", "may not use this model")] {
        let server = Mock::start(false, vec![Reply::Status(status, vec![], r#"{"error":{"message":"no"}}"#.into())]);
        let dir = remote(&format!("{}/v1", server.url()), 8, "");
        let (code, _, found, fix) = embedder_check(dir.path(), &[]);
        assert_eq!(code, 2);
        assert!(found.contains(word) && fix.contains(hint), "{found} / {fix}");
        assert!(!found.contains("sk-doctor") && !fix.contains("sk-doctor"), "the key was printed");
    }

    let server = Mock::start(false, vec![Reply::Status(429, vec![("Retry-After", "1".into())], "slow down".into())]);
    let dir = remote(&format!("{}/v1", server.url()), 8, "");
    let (code, status, found, fix) = embedder_check(dir.path(), &[]);
    assert_eq!((code, status.as_str()), (1, "warn"), "{found}");
    assert!(found.contains("429") && fix.contains("rate_limits"), "{found} / {fix}");

    let server = Mock::start(false, vec![Reply::Status(404, vec![], r#"{"error":"model not found"}"#.into())]);
    let dir = remote(&format!("{}/v1", server.url()), 8, "");
    let (_, _, found, fix) = embedder_check(dir.path(), &[]);
    assert!(found.contains("404") && fix.contains("models.embeddings"), "{found} / {fix}");

    // The model answers another dimension than configured.
    let server = Mock::start(false, vec![Reply::Vectors(8)]);
    let dir = remote(&format!("{}/v1", server.url()), 16, "");
    let (_, _, found, fix) = embedder_check(dir.path(), &[]);
    assert!(found.contains("8-dimensional") && fix.contains("vector_size to 8"), "{found} / {fix}");

    let dir = remote("http://embeddings.invalid/v1", 8, "");
    let (code, _, found, _) = embedder_check(dir.path(), &[]);
    assert_eq!(code, 2);
    assert!(found.contains("Name or service not known"), "{found}");

    // The same unknown host through a proxy from the environment: the proxy resolves it.
    let proxy = Mock::start(false, vec![Reply::Vectors(8)]);
    let dir = remote("http://embeddings.invalid/v1", 8, "");
    let url = proxy.url();
    let (code, _, found, _) = embedder_check(dir.path(), &[("HTTP_PROXY", Path::new(&url))]);
    assert_eq!(code, 0, "{found}");
    assert!(found.contains("via proxy") && found.contains("8-dimensional"), "{found}");
}

/// A certificate for `names`, valid from `from` to `to` days from now, signed by `ca`.
fn leaf(ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, names: &[&str], from: i64, to: i64) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from);
    params.not_after = now + time::Duration::days(to);
    let key = rcgen::KeyPair::generate().unwrap();
    (params.signed_by(&key, ca).unwrap().pem(), key.serialize_pem())
}

#[test]
fn remote_embedder_certificates_unknown_expired_wrong_host_and_expiring_are_named() {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "Doctor Test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
    let bundle = tempfile::tempdir().unwrap();
    let ca_file = bundle.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let trust = format!("  tls: {{ca_file: {}}}\n", ca_file.display());
    let serve = |names: &[&str], from: i64, to: i64| {
        let (cert, key) = leaf(&ca, names, from, to);
        Mock::start_tls(vec![Reply::Vectors(8)], &cert, &key)
    };

    // A private CA the built-in roots do not know.
    let server = serve(&["127.0.0.1"], -1, 365);
    let dir = remote(&format!("https://{}/v1", server.addr), 8, "");
    let (code, _, found, fix) = embedder_check(dir.path(), &[]);
    assert_eq!(code, 2);
    assert!(found.contains("SSL certificate verify failed") && fix.contains("tls.ca_file"), "{found} / {fix}");
    // Trusted through tls.ca_file: all good, and the request went through.
    let dir = remote(&format!("https://{}/v1", server.addr), 8, &trust);
    let (code, _, found, _) = embedder_check(dir.path(), &[]);
    assert_eq!(code, 0, "{found}");
    assert!(found.contains("TLS verified"), "{found}");

    let server = serve(&["127.0.0.1"], -30, -1);
    let dir = remote(&format!("https://{}/v1", server.addr), 8, &trust);
    let (code, _, found, _) = embedder_check(dir.path(), &[]);
    assert_eq!(code, 2);
    assert!(found.contains("certificate has expired"), "{found}");

    let server = serve(&["api.example.com"], -1, 365);
    let dir = remote(&format!("https://{}/v1", server.addr), 8, &trust);
    let (_, _, found, fix) = embedder_check(dir.path(), &[]);
    assert!(found.contains("hostname doesn't match") && fix.contains("host name"), "{found} / {fix}");

    let server = serve(&["127.0.0.1"], -1, 5);
    let dir = remote(&format!("https://{}/v1", server.addr), 8, &trust);
    let (code, status, found, _) = embedder_check(dir.path(), &[]);
    assert_eq!((code, status.as_str()), (1, "warn"), "{found}");
    assert!(found.contains("expires in"), "{found}");
}

#[test]
fn sources_are_probed_and_a_missing_branch_or_repository_is_named() {
    let repo = tempfile::tempdir().unwrap();
    repo::git(repo.path(), &["init", "--quiet", "-b", "main"]);
    repo::write(repo.path(), "a.md", "# A\n");
    repo::commit(repo.path(), "first");
    let url = format!("file://{}", repo.path().display());
    let config = |branch: &str, repo_url: &str| {
        format!(
            "vaults:\n  code:\n    sources:\n      repo:\n        type: git\n        repo: {repo_url}\n        branch: {branch}\n"
        )
    };
    let dir = workspace(&config("main", &url));
    let (code, report) = doctor(dir.path(), &["--only", "sources"]);
    let c = check(&report, "sources");
    assert_eq!((code, c["status"].as_str()), (0, Some("ok")), "{report}");
    assert!(c["found"].as_str().unwrap().contains("main is at"), "{c}");
    assert!(!dir.path().join(".trove/git").exists(), "a probe fetches nothing");

    let dir = workspace(&config("release", &url));
    let (code, report) = doctor(dir.path(), &["--only", "sources"]);
    let c = check(&report, "sources");
    assert_eq!((code, c["status"].as_str()), (2, Some("fail")), "{report}");
    assert!(c["fix"].as_str().unwrap().contains("vaults.code.sources.repo.branch"), "{c}");

    let dir = workspace(&config("main", "file:///nonexistent/kb.git"));
    let (code, report) = doctor(dir.path(), &["--only", "sources"]);
    let c = check(&report, "sources");
    assert_eq!(code, 2, "{report}");
    assert!(c["fix"].as_str().unwrap().contains("vaults.code.sources.repo.repo"), "{c}");
}

#[test]
fn the_mail_server_is_reached_and_its_refusals_are_named() {
    let s = smtp_mock::setup();
    let config = |port: u16| {
        format!(
            "{BASE}mail:\n  transport: smtp\n  from: Trove <trove@example.com>\n  smtp:\n    host: localhost\n    port: {port}\n    username: ada\n    password: s3cret\n    ca_file: {}\n    timeout_s: 5\n",
            s.ca_file.display()
        )
    };
    let (port, _) = smtp_mock::start(&s, smtp_mock::Mock { starttls: true, password_ok: true });
    let dir = workspace(&config(port));
    let (code, report) = doctor(dir.path(), &["--only", "mail"]);
    assert_eq!((code, check(&report, "mail")["status"].as_str()), (0, Some("ok")), "{report}");

    let (port, _) = smtp_mock::start(&s, smtp_mock::Mock { starttls: false, password_ok: true });
    let dir = workspace(&config(port));
    let (code, report) = doctor(dir.path(), &["--only", "mail"]);
    let c = check(&report, "mail");
    assert_eq!(code, 2, "{report}");
    assert!(c["found"].as_str().unwrap().contains("mail.smtp.tls"), "{c}");

    // The log mailer is fine, unless people need mailed links.
    let dir = workspace(BASE);
    assert_eq!(doctor(dir.path(), &["--only", "mail"]).0, 0);
    let dir = workspace(&format!("{BASE}auth:\n  open_registration: true\n"));
    let (code, report) = doctor(dir.path(), &["--only", "mail"]);
    assert_eq!((code, check(&report, "mail")["status"].as_str()), (1, Some("warn")), "{report}");
}

#[test]
fn qdrant_unreachable_or_refusing_the_key_is_named() {
    let qdrant = |url: &str| {
        workspace(&format!(
            "{BASE}storage:\n  backend: postgres\n  postgres:\n    url: postgres://trove@127.0.0.1:1/trove\n  \
             qdrant:\n    url: {url}\n    api_key: qdrant-secret-key\n    timeout_s: 1\n    max_retries: 0\n"
        ))
    };
    // Nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = qdrant(&format!("http://{closed}"));
    let (code, report) = doctor(dir.path(), &["--only", "qdrant"]);
    let c = check(&report, "qdrant");
    assert_eq!((code, c["status"].as_str()), (2, Some("fail")), "{c}");
    assert!(c["found"].as_str().unwrap().contains("connection refused"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("start Qdrant"), "{c}");

    // A host that does not resolve, and a port that accepts but never answers.
    let dir = qdrant("http://qdrant.invalid:6333");
    let c = check(&doctor(dir.path(), &["--only", "qdrant"]).1, "qdrant").clone();
    assert!(c["found"].as_str().unwrap().contains("Name or service not known"), "{c}");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = qdrant(&format!("http://{}", silent.local_addr().unwrap()));
    let c = check(&doctor(dir.path(), &["--only", "qdrant"]).1, "qdrant").clone();
    assert!(c["found"].as_str().unwrap().contains("no answer within storage.qdrant.timeout_s"), "{c}");

    // Qdrant wants another key: the setting is named, the key is not shown.
    let server = Mock::start(false, vec![Reply::Status(401, vec![], "Invalid api-key".into())]);
    let dir = qdrant(&server.url());
    let (code, report) = doctor(dir.path(), &["--only", "qdrant"]);
    let c = check(&report, "qdrant");
    assert_eq!(code, 2, "{c}");
    assert!(c["fix"].as_str().unwrap().contains("storage.qdrant.api_key"), "{c}");
    assert!(!report.to_string().contains("qdrant-secret-key"), "{report}");
    assert_eq!(server.seen()[0].header("api-key"), Some("qdrant-secret-key"));

    // Without storage.qdrant the check does not apply; on the embedded store it is refused.
    let dir = workspace(BASE);
    assert_eq!(check(&doctor(dir.path(), &["--only", "qdrant"]).1, "qdrant")["status"], "skip");
    let dir = workspace(&format!("{BASE}storage:\n  qdrant:\n    url: http://127.0.0.1:6333\n"));
    let (code, report) = doctor(dir.path(), &[]);
    assert_eq!(code, 2);
    assert!(check(&report, "config")["found"].as_str().unwrap().contains("storage.backend: postgres"), "{report}");
}

/// The vectors check: a large vault's approximate index file not built yet warns (searched
/// exactly meanwhile), a built one is reported with its generation and vectors, and a
/// damaged one warns again (the writer rebuilds it).
#[test]
fn vector_index_files_are_reported_per_vault() {
    use trove_store::embedded::{AnnSettings, EmbeddedStore, Folding};
    use trove_store::prelude::*;
    let dir = workspace(&format!("{BASE}vectors:\n  ann:\n    min_rows: 2\n"));
    let data = dir.path().join(".trove");
    let settings = AnnSettings { min_rows: 2, folding: Folding::OnSettle, ..AnnSettings::default() };
    let store = EmbeddedStore::open_writer(&data, "test").unwrap().with_ann(settings);
    let v = store.ensure_vault("notes").unwrap();
    store.set_vault_embedder(v.id, "m", 2).unwrap();
    let docs: Vec<trove_store::NewDocument> = (0..3)
        .map(|i| trove_store::NewDocument {
            source: "s".into(),
            uri: format!("{i}.md"),
            title: format!("doc {i}"),
            content_hash: "h".into(),
            metadata: serde_json::json!({}),
            modified_unix_ms: None,
            chunks: vec![trove_store::NewChunk {
                text: format!("chunk {i}"),
                heading_path: Vec::new(),
                token_count: 2,
                vector: vec![(i as f32).cos(), (i as f32).sin()],
            }],
        })
        .collect();
    store.put_documents(v.id, &docs).unwrap();

    let (code, r) = doctor(dir.path(), &["--only", "vectors"]);
    assert_eq!(code, 1, "{r}");
    let c = check(&r, "vectors");
    assert!(c["found"].as_str().unwrap().contains("notes/chunks (3 rows): no file"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("trove ingest"), "{c}");

    store.settle_indexes(&mut || ()).unwrap();
    let (code, r) = doctor(dir.path(), &["--only", "vectors"]);
    assert_eq!(code, 0, "{r}");
    let found = check(&r, "vectors")["found"].as_str().unwrap().to_string();
    assert!(found.contains("notes/chunks: generation 1 of 1 (3 vectors in the file, 3 caught up)"), "{found}");

    let file = std::fs::read_dir(data.join("vectors"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "ann"))
        .unwrap();
    std::fs::write(&file, b"damaged").unwrap();
    let (code, r) = doctor(dir.path(), &["--only", "vectors"]);
    assert_eq!(code, 1, "{r}");
    assert!(check(&r, "vectors")["found"].as_str().unwrap().contains("unusable"), "{r}");
}
