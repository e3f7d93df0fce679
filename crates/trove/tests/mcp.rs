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
use trove_store::embedded::EmbeddedStore;
use trove_store::lock::WorkspaceLock;

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
    std::fs::write(docs.join("bread.md"), "---\nurl: https://wiki.example.com/kitchen/sourdough\nteam: kitchen\n---\n# Sourdough\n\nFeed the sourdough starter with flour and water, then let the dough rise overnight before baking.\n").unwrap();
    succeeded(trove(root, &["ingest"]).output().unwrap(), "trove ingest");
    dir
}

#[test]
fn the_mcp_sdk_uses_every_tool_over_stdio() {
    let dir = workspace();
    let out = client(&["stdio", env!("CARGO_BIN_EXE_trove"), dir.path().to_str().unwrap()]);
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["protocol"], "2025-11-25", "{seen}");
    assert_eq!(seen["tools"].as_array().unwrap().len(), 13);
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
fn a_second_trove_mcp_writes_beside_the_first_and_read_only_beside_trove_migrate() {
    use std::io::Write;
    let dir = workspace();
    let piped = |args: &[&str]| {
        trove(dir.path(), args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    // The first keeps the workspace open until its stdin closes.
    let mut first = piped(&["mcp"]);
    let mut first_out = BufReader::new(first.stdout.take().unwrap());
    let mut ask_first = |request: &str| -> serde_json::Value {
        writeln!(first.stdin.as_mut().unwrap(), "{request}").unwrap();
        let mut line = String::new();
        first_out.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    };
    assert!(ask_first(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)["result"].is_object());
    let answers = exchange(
        piped(&["mcp"]),
        &[
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"tomatoes","mode":"keyword"}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"store_memory","arguments":{"text":"the second agent was here: zebrafish"}}}"#,
        ],
    );
    assert_eq!(answers[0]["result"]["isError"], false, "{}", answers[0]);
    assert_eq!(answers[1]["result"]["isError"], false, "the second one writes: {}", answers[1]);
    let recalled = ask_first(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"retrieve_memory","arguments":{"query":"zebrafish"}}}"#,
    );
    assert!(recalled["result"]["structuredContent"].to_string().contains("second agent was here"), "{recalled}");
    drop(first.stdin.take());
    assert!(first.wait().unwrap().success());

    // While a process has the workspace to itself (as `trove migrate` does), an MCP server
    // still answers, read-only, and says why.
    let (_migrating, _) = WorkspaceLock::acquire(&dir.path().join(".trove"), "trove migrate").unwrap();
    let answers = exchange(
        trove(dir.path(), &["mcp"])
            .env("TROVE__STORAGE__WRITE_WAIT_S", "0.2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        &[
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"tomatoes","mode":"keyword"}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"store_memory","arguments":{"text":"x"}}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"expand_context","arguments":{"vault":"nope","chunk_id":1}}}"#,
        ],
    );
    assert_eq!(answers[0]["result"]["isError"], false, "searching works read-only: {}", answers[0]);
    let refused = answers[1]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(refused.starts_with("error workspace_locked") && refused.contains("trove migrate"), "{refused}");
    let unknown = answers[2]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(unknown.starts_with("error vault_not_found"), "{unknown}");
}

/// Notes `extra-0.md` .. for an ingest to work through (a few chunks each).
fn write_extra_notes(root: &Path, n: usize) {
    for i in 0..n {
        let text = format!(
            "# Note {i}\n\nThe greenhouse log of day {i}: watered the seedlings, checked the soil, and wrote down how the basil row {i} grew.\n\n## Later\n\nMoved tray {i} to the bright shelf; the peppers there need warmth and the lettuce shade.\n"
        );
        std::fs::write(root.join("docs").join(format!("extra-{i}.md")), text).unwrap();
    }
}

/// Starts `agents.py` with `agents` agents storing `memories` memories each, then, once
/// their servers answer, a `trove ingest` committing every `group` chunks.
fn agents_beside_an_ingest(
    root: &Path,
    agents: usize,
    memories: usize,
    group: usize,
) -> (std::process::Child, std::process::Child) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/agents.py");
    let started = root.join("agents-started");
    let agents = Command::new(python())
        .arg(script)
        .args([env!("CARGO_BIN_EXE_trove"), root.to_str().unwrap(), &agents.to_string(), &memories.to_string()])
        .arg(&started)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the agents' servers never answered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ingest = trove(root, &["ingest", "--no-progress"])
        .env("TROVE__INGEST__GROUP_CHUNKS", group.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (agents, ingest)
}

/// The agents' report, after checking what every run must show: no tool failed, no request
/// waited past the configured bound, every memory stored once, every agent recalled the
/// others' memories.
fn check_agents(out: std::process::Output, agents: usize, memories: usize, bound_s: f64) -> serde_json::Value {
    let seen: serde_json::Value = serde_json::from_str(succeeded(out, "the agents").trim()).unwrap();
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    let slowest = seen["slowest_s"].as_f64().unwrap();
    eprintln!("slowest request: {slowest:.3} s ({})", seen["slowest_tool"]);
    assert!(
        slowest < bound_s,
        "a request took {slowest:.2} s ({}), past the bound of {bound_s} s",
        seen["slowest_tool"]
    );
    let mut ids = std::collections::HashSet::new();
    for a in 0..agents {
        let stored = seen["stored"][a.to_string()].as_array().unwrap();
        assert_eq!(stored.len(), memories, "agent {a} stored every memory");
        ids.extend(stored.iter().map(|id| id.as_str().unwrap().to_string()));
        assert_eq!(seen["found_others"][a.to_string()], (agents - 1) * 4, "agent {a} recalled the others' memories");
    }
    assert_eq!(ids.len(), agents * memories, "every memory stored once");
    seen
}

/// The store as a fresh reader sees it: consistent, and how many documents and memories.
fn settled(root: &Path) -> (u64, u64) {
    use trove_store::prelude::*;
    let store = EmbeddedStore::open_reader(&root.join(".trove")).unwrap();
    let report = store.check_integrity().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let vault = store.vault("notes").unwrap().unwrap();
    let memories = store.memory_stats(vault.id, 0).unwrap().total;
    (report.documents, memories)
}

/// Issue 31: four agents' `trove mcp` on one workspace, each storing and recalling 200
/// memories at once while `trove ingest` works through new notes in small groups.
#[test]
fn four_agents_store_and_recall_memories_while_an_ingest_runs() {
    const AGENTS: usize = 4;
    const MEMORIES: usize = 200;
    const BOUND_S: f64 = 5.0;
    let dir = workspace();
    let root = dir.path();
    let mut config = std::fs::read_to_string(root.join("config.yaml")).unwrap();
    config.push_str(&format!("storage:\n  write_wait_s: {BOUND_S}\n"));
    std::fs::write(root.join("config.yaml"), config).unwrap();
    write_extra_notes(root, 40);
    let (agents, ingest) = agents_beside_an_ingest(root, AGENTS, MEMORIES, 8);
    let ingested = ingest.wait_with_output().unwrap();
    let agents_out = agents.wait_with_output().unwrap();
    succeeded(ingested, "trove ingest beside the agents");
    check_agents(agents_out, AGENTS, MEMORIES, BOUND_S);
    assert_eq!(settled(root), (43, (AGENTS * MEMORIES) as u64));
}

/// A process holding the database's write lock with half its changes made: all memories
/// deleted and every generation bumped, not yet committed. Prints `held` once it has them.
const HALF_WRITER: &str = r#"
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("UPDATE vaults SET generation = generation + 1000, memory_generation = memory_generation + 1000")
c.execute("DELETE FROM memories")
print("held", flush=True)
time.sleep(120)
"#;

/// Writers killed with SIGKILL in the middle of their work (an ingest committing groups, and a
/// process holding the write lock with half its changes made) leave the other writers working
/// within the bound, and nothing half-written.
#[test]
fn a_writer_killed_mid_transaction_leaves_the_others_working_and_nothing_half_written() {
    use trove_store::prelude::*;
    const AGENTS: usize = 2;
    const MEMORIES: usize = 100;
    const BOUND_S: f64 = 5.0;
    let dir = workspace();
    let root = dir.path();
    write_extra_notes(root, 120);
    let (agents, mut ingest) = agents_beside_an_ingest(root, AGENTS, MEMORIES, 32);
    // Once its first groups are in, kill it while it works on the next.
    let data = root.join(".trove");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the ingest committed nothing");
        assert!(ingest.try_wait().unwrap().is_none(), "the ingest finished before it could be killed");
        if let Ok(store) = EmbeddedStore::open_reader(&data)
            && let Ok(Some(v)) = store.vault("notes")
            && store.vault_stats(v.id).is_ok_and(|s| s.documents > 3)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut half = Command::new(python())
        .args(["-c", HALF_WRITER])
        .arg(data.join(trove_store::embedded::DB_FILE))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut held = String::new();
    BufReader::new(half.stdout.as_mut().unwrap()).read_line(&mut held).unwrap();
    assert_eq!(held.trim(), "held");
    ingest.kill().unwrap(); // SIGKILL
    ingest.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    half.kill().unwrap(); // SIGKILL, mid-transaction
    half.wait().unwrap();
    check_agents(agents.wait_with_output().unwrap(), AGENTS, MEMORIES, BOUND_S);
    let generations = EmbeddedStore::open_reader(&data).unwrap().vault("notes").unwrap().unwrap();
    assert!(generations.memory_generation < 1000, "the half-written bump is gone: {generations:?}");
    let (documents, memories) = settled(root);
    assert!(documents > 3 && documents < 123, "{documents} documents: the killed ingest's whole groups only");
    assert_eq!(memories, (AGENTS * MEMORIES) as u64);
    // The next ingest finishes the work beside nobody.
    succeeded(trove(root, &["ingest", "--no-progress"]).output().unwrap(), "the next ingest");
    assert_eq!(settled(root).0, 123);
}
