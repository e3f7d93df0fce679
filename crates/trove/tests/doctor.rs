//! `trove doctor` against injected faults: each test breaks one thing the way it breaks in
//! the field and checks that doctor names it, says the fix, and exits with the right code.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn doctor(root: &Path, extra: &[&str]) -> (i32, Value) {
    doctor_env(root, extra, &[])
}

fn doctor_env(root: &Path, extra: &[&str], env: &[(&str, &Path)]) -> (i32, Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trove"));
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
        use trove_store::StoreWrite;
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
