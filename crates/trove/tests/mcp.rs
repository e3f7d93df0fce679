//! The MCP server driven by a client nobody here wrote: the official MCP Python SDK
//! (`tests/mcp/client.py`, run with the interpreter `scripts/test` prepares in
//! `$TROVE_MCP_PYTHON`), over stdio (`trove mcp`) and over streamable HTTP (`/mcp` of
//! `trove serve` with authentication on): initialize, list tools, call each tool, read a
//! resource; a key for another organization's vault and a request without a key are refused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/run.rs"]
mod run;

use run::succeeded;

fn trove(root: &Path, args: &[&str]) -> Command {
    let mut c = run::trove(root, args);
    c.env_remove("TROVE_BIND");
    c
}

fn python() -> PathBuf {
    let p = std::env::var_os("TROVE_MCP_PYTHON").expect(
        "TROVE_MCP_PYTHON is not set: run the tests with scripts/test, which installs the MCP Python SDK (scripts/mcp-venv)",
    );
    PathBuf::from(p)
}

fn client(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let out = Command::new(python()).arg(script).args(args).output().unwrap();
    succeeded(out, "the MCP SDK client")
}

/// A workspace with one vault of three notes, ingested.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("config.yaml"),
        "vaults:\n  notes:\n    organization: acme\n    chunking:\n      max_tokens: 40\n      overlap_tokens: 0\n    sources:\n      docs:\n        type: localfile\n        path: docs\n  other:\n    organization: globex\n    sources: {}\n",
    )
    .unwrap();
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("tomatoes.md"), "# Tomatoes\n\n## Watering\n\nWater tomato plants deeply twice a week, at the base, in the morning so the leaves dry.\n\n## Support\n\nTie the stems to stakes as they grow so the fruit does not touch the ground.\n\n## Harvest\n\nPick tomatoes when they are fully red and slightly soft.\n").unwrap();
    std::fs::write(docs.join("peppers.md"), "# Peppers\n\nPepper plants in the vegetable garden like warm soil; water them at the base, like tomatoes, and stake the tall ones.\n").unwrap();
    std::fs::write(docs.join("bread.md"), "# Sourdough\n\nFeed the sourdough starter with flour and water, then let the dough rise overnight before baking.\n").unwrap();
    succeeded(trove(root, &["ingest"]).output().unwrap(), "trove ingest");
    dir
}

#[test]
fn the_mcp_sdk_uses_every_tool_over_stdio() {
    let dir = workspace();
    let out = client(&["stdio", env!("CARGO_BIN_EXE_trove"), dir.path().to_str().unwrap()]);
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["protocol"], "2025-11-25", "{seen}");
    assert_eq!(seen["tools"].as_array().unwrap().len(), 12);
}

#[test]
fn the_mcp_sdk_uses_every_tool_over_http_with_an_api_key() {
    let dir = workspace();
    let root = dir.path();
    let mut create = trove(root, &["admin", "create-user", "--email", "ada@acme.test", "--org", "acme", "--owner"]);
    succeeded(create.env("TROVE_ADMIN_PASSWORD", "correct horse battery staple").output().unwrap(), "create-user");
    let mut other = trove(root, &["admin", "create-user", "--email", "bob@globex.test", "--org", "globex", "--owner"]);
    succeeded(other.env("TROVE_ADMIN_PASSWORD", "correct horse battery staple").output().unwrap(), "create-user");
    let key = |email: &str, org: &str, vault: &str| {
        let args = ["admin", "create-key", "--email", email, "--org", org, "--vault", vault];
        let mut c = trove(root, &args);
        c.args(["--action", "search", "--action", "memories.write", "--action", "jobs"]);
        succeeded(c.output().unwrap(), "create-key").trim().to_string()
    };
    let acme = key("ada@acme.test", "acme", "notes");
    let globex = key("bob@globex.test", "globex", "other");

    let mut child =
        trove(root, &["serve", "--bind", "127.0.0.1:0"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        assert!(Instant::now() < deadline, "trove serve printed no address");
        let line = lines.next().expect("trove serve exited early").unwrap();
        if let Some(a) = line.strip_prefix("trove: listening on http://") {
            break a.to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    let drain = std::thread::spawn(move || for _ in lines {});
    let url = format!("http://{addr}/mcp");
    let result = std::panic::catch_unwind(|| client(&["http", &url, &acme, &globex]));
    let _ = child.kill();
    let _ = child.wait();
    let _ = drain.join();
    let seen: serde_json::Value = serde_json::from_str(result.unwrap().trim()).unwrap();
    assert_eq!(seen["without_key"], 401, "{seen}");
}

#[test]
fn stdio_writes_nothing_but_protocol_to_stdout() {
    use std::io::Write;
    let dir = workspace();
    let mut child = trove(dir.path(), &["--log-level", "debug", "mcp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let messages = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{"query":"watering tomatoes"}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"store_memory","arguments":{"text":"x","user_id":"u"}}}"#,
        "this line is not JSON",
    ];
    for m in messages {
        writeln!(stdin, "{m}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON-RPC ({e}): {l}")))
        .collect();
    let ids: Vec<serde_json::Value> = answers.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(ids, [serde_json::json!(1), serde_json::json!(2), serde_json::json!(3), serde_json::Value::Null]);
    assert_eq!(answers[2]["result"]["isError"], false, "{}", answers[2]);
    assert!(!out.stderr.is_empty(), "debug logs went to stderr");
}

/// Sends `lines` to a `trove mcp` and returns its answers (one JSON value per stdout line).
fn exchange(mut child: std::process::Child, lines: &[&str]) -> Vec<serde_json::Value> {
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_second_trove_mcp_serves_read_only_beside_the_first() {
    let dir = workspace();
    let piped = |args: &[&str]| {
        trove(dir.path(), args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    // The first holds the writer lock until its stdin closes.
    let mut first = piped(&["mcp"]);
    let mut first_out = BufReader::new(first.stdout.take().unwrap());
    {
        use std::io::Write;
        let stdin = first.stdin.as_mut().unwrap();
        writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"ping"}}"#).unwrap();
        let mut line = String::new();
        first_out.read_line(&mut line).unwrap();
        assert!(line.contains("\"result\""), "the first server answers: {line}");
    }
    let answers = exchange(
        piped(&["mcp"]),
        &[
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"tomatoes","mode":"keyword"}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"store_memory","arguments":{"text":"x"}}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"expand_context","arguments":{"vault":"nope","chunk_id":1}}}"#,
        ],
    );
    assert_eq!(answers[0]["result"]["isError"], false, "searching works read-only: {}", answers[0]);
    let refused = answers[1]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(refused.starts_with("error workspace_locked") && refused.contains("/mcp"), "{refused}");
    let unknown = answers[2]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(unknown.starts_with("error vault_not_found"), "{unknown}");
    drop(first.stdin.take());
    assert!(first.wait().unwrap().success());
}
