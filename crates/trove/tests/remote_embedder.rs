//! `trove ingest` and `trove search` with `embedder.provider: llm`, against a local server that
//! speaks the OpenAI embeddings API, reached through a proxy named by `HTTP_PROXY` in the
//! process environment (the same server plays the proxy). Also: `trove config` refuses an
//! incomplete `llm:` section with the key to fix, and a wrong dimension fails ingest cleanly.

#[path = "../../trove-embed/tests/support/embeddings_mock.rs"]
mod mock;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mock::{Mock, Reply};

const KEY: &str = "sk-e2e-secret-value";

fn trove(root: &Path, proxy: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trove"))
        .arg("--workspace")
        .arg(root)
        .args(args)
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env("HTTP_PROXY", proxy)
        .env("EMBEDDINGS_KEY", KEY)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A workspace whose embedder is the OpenAI-compatible API at an address only the proxy knows.
fn workspace(vector_size: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = trove(dir.path(), "", &["init"]);
    assert!(out.status.success(), "{}", text(&out));
    let config = dir.path().join("config.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap().replace("provider: builtin", "provider: llm");
    let llm = format!(
        "\nllm:\n  provider: custom\n  base_url: http://embeddings.example.invalid/v1\n  api_key: ${{EMBEDDINGS_KEY}}\n  \
         models:\n    embeddings: hashed-words\n  embeddings:\n    vector_size: {vector_size}\n  request:\n    \
         timeout_s: 5\n    max_retries: 1\n    backoff_min_s: 0.01\n    backoff_max_s: 0.05\n"
    );
    std::fs::write(&config, yaml + &llm).unwrap();
    let docs = dir.path().join("docs");
    std::fs::remove_file(docs.join("welcome.md")).unwrap();
    std::fs::write(docs.join("kettle.md"), "# Kettle\n\nThe kettle boils water for tea in the kitchen.\n").unwrap();
    std::fs::write(docs.join("bicycle.md"), "# Bicycle\n\nA bicycle chain needs oil after rain and mud.\n").unwrap();
    dir
}

#[test]
fn ingest_and_search_through_a_remote_api_behind_a_proxy() {
    let server = Mock::start(false, vec![Reply::Hashed(64)]);
    let ws = workspace(64);
    let out = trove(ws.path(), &server.url(), &["ingest", "--json"]);
    assert!(out.status.success(), "ingest failed: {}", text(&out));
    assert!(!text(&out).contains(KEY), "the key was printed: {}", text(&out));
    let seen = server.seen();
    assert!(seen.iter().any(|s| s.line.starts_with("CONNECT embeddings.example.invalid:80 ")), "no tunnel: {seen:?}");
    let posts: Vec<_> = seen.iter().filter(|s| s.line.starts_with("POST /v1/embeddings ")).collect();
    assert!(!posts.is_empty(), "{seen:?}");
    assert_eq!(posts[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(posts[0].body["model"], "hashed-words");

    let out = trove(ws.path(), &server.url(), &["search", "--mode", "semantic", "--json", "oil for the bicycle chain"]);
    assert!(out.status.success(), "search failed: {}", text(&out));
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = hits["hits"][0]["uri"].as_str().or_else(|| hits[0]["uri"].as_str()).unwrap_or_default().to_string();
    assert!(first.ends_with("bicycle.md"), "the bicycle document should rank first: {hits}");

    let out = trove(ws.path(), &server.url(), &["status", "--json"]);
    assert!(text(&out).contains("custom/hashed-words"), "status should name the model: {}", text(&out));
}

#[test]
fn a_wrong_dimension_fails_ingest_and_writes_nothing() {
    let server = Mock::start(false, vec![Reply::Hashed(32)]);
    let ws = workspace(64);
    let out = trove(ws.path(), &server.url(), &["ingest"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("32 dimensions") && msg.contains("vector_size"), "{msg}");
    // Nothing was indexed: a keyword search (which needs no embedding) finds neither document.
    let out = trove(ws.path(), &server.url(), &["search", "--mode", "keyword", "--json", "bicycle kettle"]);
    assert!(!text(&out).contains("bicycle.md") && !text(&out).contains("kettle.md"), "{}", text(&out));
}

#[test]
fn an_incomplete_llm_section_names_the_key_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    assert!(trove(dir.path(), "", &["init"]).status.success());
    let config = dir.path().join("config.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap().replace("provider: builtin", "provider: llm");
    std::fs::write(&config, yaml + "\nllm:\n  provider: openai\n  models:\n    embeddings: text-embedding-3-small\n")
        .unwrap();
    let out = trove(dir.path(), "", &["config"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("llm.embeddings.vector_size"), "{}", text(&out));
}
