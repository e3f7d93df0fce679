//! Secrets from the command line and in `trove doctor`: a provider key stored with
//! `trove admin set-secret` is what the embedder check sends for `api_key: ${secret:acme/…}`;
//! doctor's `secrets` check fails naming a reference nothing is stored for, warns while a
//! secret is encrypted with a previous key (until `trove admin rotate-secrets`), and the
//! `config` check names a key encryption secret shorter than 32 bytes.

#[path = "../../trove-embed/tests/support/embeddings_mock.rs"]
mod mock;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mock::{Mock, Reply};
use serde_json::Value;

const KEY_A: &str = "first-key-encryption-secret-for-the-cli-test";
const KEY_B: &str = "second-key-encryption-secret-for-the-cli-test";
const PROVIDER_KEY: &str = "sk-from-the-secret-store-42";

fn trove(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trove"));
    c.arg("--workspace").arg(root).args(args);
    for var in
        ["TROVE_WORKSPACE", "TROVE_CONFIG", "TROVE_SECRET_VALUE", "TROVE_ADMIN_PASSWORD", "HTTP_PROXY", "http_proxy"]
    {
        c.env_remove(var);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null()).output().unwrap()
}

fn ok(root: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let o = trove(root, args, env);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "trove {args:?}: {out}{err}");
    out.into_owned()
}

fn write_config(root: &Path, url: &str, key: &str, previous: Option<&str>) {
    let previous = previous.map(|p| format!("  previous_key_encryption_secrets: [{p}]\n")).unwrap_or_default();
    std::fs::write(
        root.join("config.yaml"),
        format!(
            "auth:\n  key_encryption_secret: {key}\n{previous}embedder:\n  provider: llm\nllm:\n  provider: custom\n  \
             base_url: {url}\n  api_key: ${{secret:acme/openai}}\n  models: {{embeddings: m1}}\n  \
             embeddings: {{vector_size: 8}}\n  request: {{timeout_s: 2, max_retries: 0}}\nvaults:\n  notes:\n    sources: {{}}\n"
        ),
    )
    .unwrap();
}

/// `trove doctor --json --only …`: the exit code and the named checks.
fn doctor(root: &Path, only: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["doctor", "--json"];
    for o in only {
        args.extend(["--only", o]);
    }
    let out = trove(root, &args, &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
    (out.status.code().unwrap(), v["checks"].as_array().unwrap().clone())
}

fn finding<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks.iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("no {name}: {checks:?}"))
}

#[test]
fn a_provider_key_stored_as_a_secret_is_used_rotated_and_checked_by_doctor() {
    let server = Mock::start(false, vec![Reply::Vectors(8), Reply::Vectors(8), Reply::Vectors(8)]);
    let url = format!("{}/v1", server.url());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_config(root, &url, KEY_A, None);

    // Nothing stored yet: the reference is named with the fix, and exit code 2.
    let (code, checks) = doctor(root, &["secrets"]);
    let c = finding(&checks, "secrets");
    assert_eq!((code, c["status"].as_str()), (2, Some("fail")), "{c}");
    assert!(c["found"].as_str().unwrap().contains("llm.api_key"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("trove admin set-secret"), "{c}");
    // The embedder check does not send the reference as a key: it points at the secrets check.
    let (_, checks) = doctor(root, &["embedder"]);
    let c = finding(&checks, "embedder");
    assert!(c["found"].as_str().unwrap().contains("`${secret:acme/openai}`, which does not open"), "{c}");
    assert!(server.seen().is_empty(), "a request was sent without the key");

    ok(
        root,
        &["admin", "create-user", "--email", "ada@acme.test", "--org", "acme", "--owner"],
        &[("TROVE_ADMIN_PASSWORD", "correct horse battery staple")],
    );
    let out = ok(root, &["admin", "set-secret", "openai", "--org", "acme"], &[("TROVE_SECRET_VALUE", PROVIDER_KEY)]);
    assert!(out.contains("stored secret `openai`"), "{out}");
    let listed = ok(root, &["admin", "list-secrets", "--org", "acme", "--json"], &[]);
    assert!(listed.contains("\"openai\"") && !listed.contains(PROVIDER_KEY), "{listed}");

    // Now it opens, and the embedder check sends the stored value (printing it nowhere).
    let (code, checks) = doctor(root, &["secrets", "embedder"]);
    assert_eq!(code, 0, "{checks:?}");
    assert!(finding(&checks, "secrets")["found"].as_str().unwrap().contains("${secret:acme/openai}"));
    let seen = server.seen();
    assert_eq!(seen.last().and_then(|s| s.header("authorization")), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
    assert!(!format!("{checks:?}").contains(PROVIDER_KEY));

    // A new key with the old one listed: still opens, but doctor warns until rotation.
    write_config(root, &url, KEY_B, Some(KEY_A));
    let (code, checks) = doctor(root, &["secrets"]);
    let c = finding(&checks, "secrets");
    assert_eq!((code, c["status"].as_str()), (1, Some("warn")), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("trove admin rotate-secrets"), "{c}");
    let out = ok(root, &["admin", "rotate-secrets"], &[]);
    assert!(out.contains("re-encrypted 1 secret(s)"), "{out}");
    write_config(root, &url, KEY_B, None);
    let (code, checks) = doctor(root, &["secrets", "embedder"]);
    assert_eq!(code, 0, "{checks:?}");

    // The key it was sealed with is gone: named, with the fix.
    write_config(root, &url, "a-third-key-that-never-sealed-anything-0123", None);
    let (code, checks) = doctor(root, &["secrets"]);
    let c = finding(&checks, "secrets");
    assert_eq!(code, 2, "{c}");
    assert!(c["found"].as_str().unwrap().contains("previous_key_encryption_secrets"), "{c}");

    // Too short a key encryption secret: the configuration is refused, naming it.
    write_config(root, &url, "short-key", None);
    let (code, checks) = doctor(root, &[]);
    let c = finding(&checks, "config");
    assert_eq!(code, 2);
    assert!(c["found"].as_str().unwrap().contains("key encryption secret must be at least 32 bytes"), "{c}");
    assert!(c["found"].as_str().unwrap().contains("auth.key_encryption_secret"), "{c}");

    // Deleting: then the reference fails again.
    write_config(root, &url, KEY_B, None);
    ok(root, &["admin", "delete-secret", "openai", "--org", "acme"], &[]);
    let o = trove(root, &["admin", "delete-secret", "openai", "--org", "acme"], &[]);
    assert_eq!(o.status.code(), Some(66), "{o:?}");
}
