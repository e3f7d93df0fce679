//! End-to-end tests of the `trove` binary: each test makes a workspace in a temporary folder,
//! runs the real binary with the real built-in model (installed by `scripts/test`), and checks
//! what a user would see: exit codes, messages, JSON output, and the store afterwards.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use trove_store::embedded::EmbeddedStore;
use trove_store::lock::WorkspaceLock;
use trove_store::prelude::*;

#[path = "support/run.rs"]
mod run;

struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    /// A workspace made by `trove init`, with its welcome document removed.
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let ws = Ws { dir };
        ws.ok(&["init"]);
        std::fs::remove_file(ws.docs().join("welcome.md")).unwrap();
        ws
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn docs(&self) -> PathBuf {
        self.root().join("docs")
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.docs().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        run::trove(self.root(), args)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        run::succeeded(self.run(args), &format!("trove {args:?}"))
    }

    /// Runs a command that must fail; returns (exit code, stderr).
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(!out.status.success(), "trove {args:?} succeeded:\n{}", String::from_utf8_lossy(&out.stdout));
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    fn ingest(&self) -> Value {
        serde_json::from_str(&self.ok(&["ingest", "--json"])).unwrap()
    }

    fn search(&self, mode: &str, query: &str) -> Value {
        serde_json::from_str(&self.ok(&["search", "--json", "--mode", mode, query])).unwrap()
    }

    fn store(&self) -> EmbeddedStore {
        EmbeddedStore::open_reader(&self.root().join(".trove")).unwrap()
    }

    fn assert_consistent(&self) -> trove_store::IntegrityReport {
        let report = self.store().check_integrity().unwrap();
        assert!(report.problems.is_empty(), "store inconsistent: {:?}", report.problems);
        report
    }
}

fn totals(report: &Value) -> (u64, u64, u64, u64, u64) {
    let t = &report["total"];
    let n = |k: &str| t[k].as_u64().unwrap();
    (n("added"), n("updated"), n("deleted"), n("unchanged"), n("failed"))
}

fn uris(response: &Value) -> Vec<String> {
    response["hits"].as_array().unwrap().iter().map(|h| h["uri"].as_str().unwrap().to_string()).collect()
}

const GARDEN: &str = "# Gardening\n\nTomatoes need full sun, regular watering and support stakes as they grow.\n\n## Pests\n\nAphids can be washed off leaves with a strong spray of water.\n";
const ENGINE: &str =
    "# Car maintenance\n\nChange the engine oil every ten thousand kilometres and check the brake pads twice a year.\n";
const BAKING: &str = "<html><head><title>Sourdough bread</title></head><body><nav>Home | Recipes</nav><main><h1>Sourdough</h1><p>Feed the starter with flour and water, let the dough rise overnight, then bake at high heat.</p></main><footer>Copyright</footer></body></html>";

#[test]
fn init_writes_a_valid_workspace_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Ws { dir };
    let out = ws.ok(&["init"]);
    assert!(out.contains("Created a Trove workspace"), "{out}");
    for f in ["config.yaml", ".env.example", "docs/welcome.md"] {
        assert!(ws.root().join(f).exists(), "{f} missing");
    }
    let config = ws.ok(&["config"]);
    assert!(config.contains("vaults:") && config.contains("localfile"), "{config}");
    let (code, err) = ws.fails(&["init"]);
    assert_eq!(code, 73, "{err}");
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn config_errors_name_the_place_and_the_fix() {
    let ws = Ws::new();
    let config = ws.root().join("config.yaml");
    let good = std::fs::read_to_string(&config).unwrap();

    std::fs::write(&config, good.replace("default_limit: 10", "default_limit: 10\n  colour: blue")).unwrap();
    let (code, err) = ws.fails(&["config"]);
    assert_eq!(code, 78);
    assert!(err.contains("config.yaml:") && err.contains("colour") && err.contains("remove the key"), "{err}");

    std::fs::write(&config, good.replace("default_limit: 10", "default_limit: ten")).unwrap();
    let (_, err) = ws.fails(&["config"]);
    assert!(err.contains("search.default_limit") && err.contains("invalid type"), "{err}");

    std::fs::write(&config, good.replace("path: docs", "path: ${DOCS_DIR_FOR_TEST}")).unwrap();
    let (_, err) = ws.fails(&["config"]);
    assert!(err.contains("DOCS_DIR_FOR_TEST") && err.contains(".env"), "{err}");
    // .env supplies it.
    std::fs::write(ws.root().join(".env"), "DOCS_DIR_FOR_TEST=docs\n").unwrap();
    ws.ok(&["config"]);

    std::fs::write(&config, good.replace("path: docs", "path: no/such/folder")).unwrap();
    let (_, err) = ws.fails(&["config"]);
    assert!(err.contains("vaults.default.sources.docs.path") && err.contains("no/such/folder"), "{err}");

    // Overrides from the environment.
    std::fs::write(&config, &good).unwrap();
    let out = ws.cmd(&["config"]).env("TROVE__SEARCH__DEFAULT_LIMIT", "33").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("default_limit: 33"));
    let out = ws.cmd(&["config"]).env("TROVE__SEARCH__DEFAULT_LIMIT", "many").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TROVE__SEARCH__DEFAULT_LIMIT"));

    let empty = tempfile::tempdir().unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_trove")).arg("--workspace").arg(empty.path()).arg("config").output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trove init"));
}

#[test]
fn usage_errors_exit_with_the_usage_code_and_as_json_when_json_was_asked() {
    let ws = Ws::new();
    // Text: clap's message on stderr, exit code 64 (bad_request) of the table.
    for args in [&["search", "--mode", "nope", "water"][..], &["ingest", "--bogus"][..], &["nope"][..]] {
        let (code, err) = ws.fails(args);
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains("--help"), "{args:?}: {err}");
    }
    // JSON: an error body on stderr, like the command's other errors; nothing on stdout.
    for (args, says) in [
        (&["search", "--json", "--mode", "nope", "water"][..], "hybrid, semantic, keyword"),
        (&["status", "--bogus", "--json"][..], "--bogus"),
    ] {
        let out = ws.run(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
        let body: Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(body["code"], "bad_request", "{body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{args:?}: {body}");
    }
    // Help and version are not errors.
    for args in [&["search", "--help"][..], &["--version"][..]] {
        let out = ws.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty() && out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn search_modes_find_the_right_document_with_the_full_hit_shape() {
    let ws = Ws::new();
    ws.write("garden.md", GARDEN);
    ws.write("car.md", ENGINE);
    ws.write("bread.html", BAKING);
    ws.write("notes/readme.txt", "Plain text notes about nothing in particular.\n\nA second paragraph.");
    let report = ws.ingest();
    assert_eq!(totals(&report), (4, 0, 0, 0, 0), "{report}");

    let r = ws.search("keyword", "aphids");
    assert_eq!(uris(&r)[0], "garden.md");
    let hit = &r["hits"][0];
    for key in ["uri", "title", "text", "heading_path", "score", "source", "vault", "snippet"] {
        assert!(!hit[key].is_null(), "hit lacks {key}: {hit}");
    }
    assert_eq!(hit["heading_path"], serde_json::json!(["Gardening", "Pests"]));
    assert_eq!(hit["title"], "Gardening");
    assert_eq!(hit["vault"], "default");
    assert_eq!(hit["source"], "docs");
    assert!(hit["snippet"].as_str().unwrap().contains("**Aphids**"), "{hit}");
    assert_eq!(r["mode"], "keyword");

    // Semantic search finds meaning without shared words.
    let r = ws.search("semantic", "how to look after an automobile");
    assert_eq!(uris(&r)[0], "car.md", "{r}");
    let r = ws.search("hybrid", "baking a loaf with a starter");
    assert_eq!(uris(&r)[0], "bread.html", "{r}");
    assert_eq!(r["hits"][0]["title"], "Sourdough bread");
    assert!(!r["hits"][0]["text"].as_str().unwrap().contains("Copyright"), "boilerplate was indexed");

    // Human output shows title, location and snippet.
    let human = ws.ok(&["search", "--mode", "keyword", "oil"]);
    assert!(human.contains("Car maintenance") && human.contains("car.md") && human.contains("**oil**"), "{human}");

    // Limit and filters.
    let r: Value = serde_json::from_str(&ws.ok(&["search", "--json", "--limit", "1", "water"])).unwrap();
    assert_eq!(r["hits"].as_array().unwrap().len(), 1);
    let r: Value = serde_json::from_str(&ws.ok(&["search", "--json", "--uri-prefix", "notes/", "paragraph"])).unwrap();
    assert!(uris(&r).iter().all(|u| u.starts_with("notes/")), "{r}");

    // Bad requests are clear errors.
    let (code, err) = ws.fails(&["search", "--vault", "nope", "x"]);
    assert_eq!(code, 66, "{err}");
    assert!(err.contains("no vault named `nope`") && err.contains("default"), "{err}");
    // The link is the code's entry in the checkout's error reference, a file that exists and
    // has that entry.
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md").canonicalize().unwrap();
    assert!(err.contains(&format!("code: vault_not_found ({}#vault_not_found)", reference.display())), "{err}");
    assert!(std::fs::read_to_string(&reference).unwrap().contains("\n## vault_not_found\n"));
    // Or the reference TROVE_DOCS_URL names.
    let out = ws
        .cmd(&["search", "--vault", "nope", "x"])
        .env("TROVE_DOCS_URL", "https://docs.example.com/errors")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(https://docs.example.com/errors#vault_not_found)"), "{err}");
    let (_, err) = ws.fails(&["search", "--limit", "0", "x"]);
    assert!(err.contains("limit"), "{err}");
}

/// A new workspace's first ingest says in one line that it created the store (not one line
/// per schema migration), then reports the ingest.
#[test]
fn the_first_ingest_says_once_that_it_created_the_store() {
    let ws = Ws::new();
    ws.write("a.md", "# A\n\nOne small document.\n");
    let out = ws.cmd(&["ingest"]).env("NO_COLOR", "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    let store: Vec<&str> = err.lines().filter(|l| l.contains("store")).collect();
    assert_eq!(store.len(), 1, "{err}");
    let schema = format!("schema={}", trove_store::embedded::SCHEMA_VERSION);
    assert!(store[0].contains("created the embedded store") && store[0].contains(&schema), "{err}");
    assert!(!err.contains("migrated"), "{err}");
    // The next run has nothing to say about the store.
    let out = ws.cmd(&["ingest"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.lines().any(|l| l.contains("store")), "{err}");
}

#[test]
fn batch_queries_print_one_line_per_query() {
    let ws = Ws::new();
    ws.write("garden.md", GARDEN);
    ws.write("car.md", ENGINE);
    ws.ingest();
    let q = ws.root().join("q.jsonl");
    std::fs::write(&q, "{\"id\":\"a\",\"text\":\"tomato watering\"}\n\n{\"id\":7,\"text\":\"brake pads\"}\n").unwrap();
    let out = ws.ok(&["search", "--queries", q.to_str().unwrap(), "--limit", "1"]);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(uris(&lines[0]), ["garden.md"]);
    assert_eq!(lines[1]["id"], 7);
    assert_eq!(uris(&lines[1]), ["car.md"]);
    std::fs::write(&q, "{\"id\":\"a\"}\n").unwrap();
    let (_, err) = ws.fails(&["search", "--queries", q.to_str().unwrap()]);
    assert!(err.contains("q.jsonl:1") && err.contains("text"), "{err}");
}

#[test]
fn batch_queries_take_beir_ids_and_searches_group_and_bring_context() {
    let ws = Ws::new();
    ws.write("garden.md", GARDEN);
    ws.write("car.md", ENGINE);
    ws.ingest();
    let q = ws.root().join("q.jsonl");
    std::fs::write(&q, "{\"_id\": \"12\", \"text\": \"brake pads\"}\n").unwrap();
    let out = ws.ok(&["search", "--queries", q.to_str().unwrap(), "--limit", "1", "--mode", "keyword"]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((&line["id"], uris(&line)), (&Value::from("12"), vec!["car.md".to_string()]));
    let grouped = ws.ok(&["search", "--json", "-m", "keyword", "--group-by", "document", "--context", "1", "aphids"]);
    let grouped: Value = serde_json::from_str(&grouped).unwrap();
    let hit = &grouped["hits"][0];
    assert_eq!(hit["uri"], "garden.md", "{grouped}");
    assert_eq!(hit["other_chunks"].as_u64(), Some(hit["other_chunk_ids"].as_array().unwrap().len() as u64));
    let context = hit["context"].as_array().unwrap();
    assert!(context.iter().any(|c| c["is_hit"] == true && c["chunk_id"] == hit["chunk_id"]), "{hit}");
    let plain: Value = serde_json::from_str(&ws.ok(&["search", "--json", "-m", "keyword", "aphids"])).unwrap();
    assert!(plain["hits"][0].get("other_chunks").is_none() && plain["hits"][0].get("context").is_none());
}

#[test]
fn eval_prints_the_metrics_computed_by_hand_on_a_tiny_qrels_file() {
    let ws = Ws::new();
    ws.write("garden.md", GARDEN);
    ws.write("car.md", ENGINE);
    ws.write("bread.html", BAKING);
    ws.ingest();
    let queries = ws.root().join("queries.jsonl");
    std::fs::write(
        &queries,
        concat!(
            "{\"_id\": \"1\", \"text\": \"aphids\"}\n",
            "{\"_id\": \"2\", \"text\": \"brake pads\"}\n",
            "{\"_id\": \"3\", \"text\": \"sourdough starter\"}\n",
            "{\"_id\": \"4\", \"text\": \"not judged\"}\n",
        ),
    )
    .unwrap();
    let qrels = ws.root().join("test.tsv");
    // Documents by file name without extension, as BEIR's corpus ids; a header line.
    std::fs::write(&qrels, "query-id\tcorpus-id\tscore\n1\tgarden\t1\n2\tbread\t1\n3\tbread\t2\n3\tcar\t1\n").unwrap();
    let (q, r) = (queries.to_str().unwrap(), qrels.to_str().unwrap());
    let out = ws.ok(&["eval", "--queries", q, "--qrels", r, "--mode", "keyword", "--json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["queries_in_file"].as_u64(), report["judged_queries"].as_u64()), (Some(4), Some(3)));
    let row = &report["modes"][0];
    assert_eq!(row["mode"], "keyword");
    // Keyword search finds one document per query: 1 → garden (relevant), 2 → car (not),
    // 3 → bread (relevance 2 of an ideal 2, 1).
    let q3 = 2.0 / (2.0 + 1.0 / 3f64.log2());
    let expected =
        [("ndcg_at_10", (1.0 + 0.0 + q3) / 3.0), ("recall_at_100", (1.0 + 0.0 + 0.5) / 3.0), ("mrr", 2.0 / 3.0)];
    for (key, want) in expected {
        let got = row[key].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "{key}: {got} != {want}: {report}");
    }
    // For people: a row per mode, all three by default.
    let text = ws.ok(&["eval", "--queries", q, "--qrels", r]);
    assert!(text.contains("3 judged queries (4 in") && text.contains("nDCG@10"), "{text}");
    for mode in ["keyword", "semantic", "hybrid"] {
        assert!(text.lines().any(|l| l.starts_with(mode)), "{mode}: {text}");
    }
    std::fs::write(&qrels, "9 garden 1\n").unwrap();
    let (code, err) = ws.fails(&["eval", "--queries", q, "--qrels", r]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("none of the 4 queries") && err.contains("`_id`"), "{err}");
}

#[test]
fn incremental_ingest_handles_add_change_delete_and_rename() {
    let ws = Ws::new();
    ws.write("garden.md", GARDEN);
    ws.write("car.md", ENGINE);
    assert_eq!(totals(&ws.ingest()), (2, 0, 0, 0, 0));

    // Nothing changed: nothing embedded.
    let again = ws.ingest();
    assert_eq!(totals(&again), (0, 0, 0, 2, 0));
    assert_eq!(again["total"]["chunks"], 0);

    // Change one, add one, delete one, rename one.
    ws.write("garden.md", &GARDEN.replace("Aphids", "Slugs"));
    ws.write("bread.html", BAKING);
    std::fs::rename(ws.docs().join("car.md"), ws.docs().join("vehicles.md")).unwrap();
    let r = ws.ingest();
    // added: bread.html + vehicles.md; updated: garden.md; deleted: car.md.
    assert_eq!(totals(&r), (2, 1, 1, 0, 0), "{r}");
    assert!(ws.search("keyword", "aphids")["hits"].as_array().unwrap().is_empty(), "changed text still found");
    assert_eq!(uris(&ws.search("keyword", "slugs")), ["garden.md"]);
    assert_eq!(uris(&ws.search("keyword", "brake")), ["vehicles.md"]);

    std::fs::remove_file(ws.docs().join("bread.html")).unwrap();
    assert_eq!(totals(&ws.ingest()), (0, 0, 1, 2, 0));
    assert!(ws.search("keyword", "sourdough")["hits"].as_array().unwrap().is_empty());
    let semantic = ws.search("semantic", "sourdough bread baking");
    assert!(!uris(&semantic).contains(&"bread.html".to_string()), "deleted document still has vectors");
    let report = ws.assert_consistent();
    assert_eq!(report.documents, 2);

    // --force re-processes unchanged documents.
    assert_eq!(totals(&serde_json::from_str(&ws.ok(&["ingest", "--json", "--force"])).unwrap()), (0, 2, 0, 0, 0));
}

#[test]
fn unreadable_files_are_reported_and_skipped() {
    let ws = Ws::new();
    ws.write("good.md", GARDEN);
    std::fs::write(ws.docs().join("binary.txt"), b"\x00\x01\x02 not text \xff\xfe").unwrap();
    ws.write("broken.json", "{\"a\": [1, 2");
    let out = ws.run(&["ingest", "--json"]);
    assert!(out.status.success(), "a bad file aborted the run: {}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(totals(&r), (1, 0, 0, 0, 2), "{r}");
    let failures = r["total"]["failures"].to_string();
    assert!(failures.contains("binary.txt") && failures.contains("broken.json"), "{failures}");
    let human = ws.ok(&["ingest"]);
    assert!(human.contains("failed: broken.json"), "{human}");
}

#[test]
fn a_live_lock_is_refused_and_a_stale_one_recovered() {
    let ws = Ws::new();
    ws.write("garden.md", GARDEN);
    let data = ws.root().join(".trove");
    {
        let (_lock, _) = WorkspaceLock::acquire(&data, "test holder").unwrap();
        let (code, err) = ws.fails(&["ingest"]);
        assert_eq!(code, 75, "{err}");
        assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("test holder"), "{err}");
    }
    // A holder that died (its record is left, its flock is gone) is recovered and logged.
    let mut child = Command::new("sleep").arg("0").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let record =
        serde_json::json!({"pid": dead_pid, "host": "h", "since": "2026-01-01T00:00:00Z", "command": "trove ingest"});
    std::fs::write(data.join("writer.lock"), record.to_string()).unwrap();
    let out = ws.run(&["ingest"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("recovered a stale writer lock") && err.contains(&dead_pid.to_string()), "{err}");
    // Searching while a writer holds the lock works.
    let (_lock, _) = WorkspaceLock::acquire(&data, "test holder").unwrap();
    assert_eq!(uris(&ws.search("keyword", "tomatoes")), ["garden.md"]);
}

#[test]
fn kill_9_during_ingest_loses_nothing_and_duplicates_nothing() {
    let ws = Ws::new();
    let n: u64 = 150;
    write_notes(&ws, n);
    let mut child = ws
        .cmd(&["ingest", "--no-progress"])
        .env("TROVE__INGEST__GROUP_CHUNKS", "16")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let data = ws.root().join(".trove");
    let started = Instant::now();
    // Wait until some documents are committed, then kill -9 mid-run.
    let committed = loop {
        assert!(started.elapsed() < Duration::from_secs(300), "ingest made no progress");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("ingest finished ({status}) before it could be killed; make the corpus larger");
        }
        if let Ok(store) = EmbeddedStore::open_reader(&data)
            && let Ok(Some(v)) = store.vault("default")
            && let Ok(stats) = store.vault_stats(v.id)
            && stats.documents > 0
        {
            break stats.documents;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(committed < n, "everything was committed before the kill");
    let after_kill = ws.assert_consistent();
    assert!(after_kill.documents < n);

    // The next run finishes the work: the dead writer's lock is recovered, nothing is redone.
    let r = ws.ingest();
    let (added, updated, deleted, unchanged, failed) = totals(&r);
    assert_eq!(added + unchanged, n, "{r}");
    assert_eq!((updated, deleted, failed), (0, 0, 0), "{r}");
    assert_eq!(unchanged, after_kill.documents, "{r}");
    let report = ws.assert_consistent();
    assert_eq!(report.documents, n);
    // Chunk by chunk, the store holds what one uninterrupted run makes of the same notes: each
    // document's chunks numbered 0.. without gaps or repeats, and each chunk text as often as
    // the notes have it (no chunk of the killed run left beside its redone copy).
    let rows = chunk_rows(&ws);
    let mut per_document: HashMap<&str, Vec<i64>> = HashMap::new();
    for (uri, idx, _, _) in &rows {
        per_document.entry(uri.as_str()).or_default().push(*idx);
    }
    assert_eq!(per_document.len(), n as usize);
    for (uri, idx) in &per_document {
        assert_eq!(*idx, (0..idx.len() as i64).collect::<Vec<_>>(), "the chunks of {uri} by index");
    }
    let clean = Ws::new();
    write_notes(&clean, n);
    clean.ingest();
    let expected = chunk_rows(&clean);
    assert_eq!(rows.len(), expected.len(), "chunks after the kill and the rerun, against one clean run");
    assert!(text_counts(&rows) == text_counts(&expected), "chunk texts differ from one clean run's");
    assert!(rows == expected, "chunks (document, index, headings, text) differ from one clean run's");
}

/// `n` notes of a few chunks each under `notes/`.
fn write_notes(ws: &Ws, n: u64) {
    for i in 0..n {
        let body: String = (0..6)
            .map(|j| format!("Sentence {j} of note {i} talks about topic {} and item {}. ", i % 17, j * i))
            .collect();
        ws.write(&format!("notes/note-{i:03}.md"), &format!("# Note {i}\n\n{body}\n\n## Details\n\n{body}\n"));
    }
}

/// How often each chunk text occurs.
fn text_counts(rows: &[ChunkRow]) -> HashMap<&str, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, _, _, text) in rows {
        *counts.entry(text.as_str()).or_default() += 1;
    }
    counts
}

/// A chunk as stored: its document's URI, its index, its heading path and its text.
type ChunkRow = (String, i64, String, String);

/// Every chunk of the workspace's embedded store, read from the SQLite file, in (URI, index)
/// order (repeats included: nothing is de-duplicated here).
fn chunk_rows(ws: &Ws) -> Vec<ChunkRow> {
    let db = rusqlite::Connection::open_with_flags(
        ws.root().join(".trove/trove.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = db
        .prepare(
            "SELECT d.uri, c.idx, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id
             ORDER BY d.uri, c.idx, c.id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn a_vault_embedded_by_another_model_is_reembedded_by_ingest() {
    let ws = Ws::new();
    ws.write("garden.md", GARDEN);
    ws.write("car.md", ENGINE);
    ws.ingest();
    // Pretend a model no configured embedder makes produced the vectors.
    let db = rusqlite::Connection::open(ws.root().join(".trove/trove.db")).unwrap();
    db.execute("UPDATE vaults SET model_id = 'other/model-v1'", []).unwrap();
    drop(db);
    let (code, err) = ws.fails(&["search", "--mode", "semantic", "tomatoes"]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("other/model-v1") && err.contains("trove ingest --vault default"), "{err}");
    // Keyword search needs no model and keeps working.
    assert_eq!(uris(&ws.search("keyword", "tomatoes")), ["garden.md"]);
    // Without re-embedding, new vectors would have to come from the old model: refused.
    ws.write("new.md", "# Bread\n\nKnead the dough and let it rise overnight.\n");
    let (code, err) = ws.fails(&["ingest", "--no-reembed"]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("other/model-v1"), "{err}");

    let r: Value = serde_json::from_str(&ws.ok(&["ingest", "--json"])).unwrap();
    assert!(r["reembedded_chunks"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(r["total"]["added"], 1, "{r}");
    assert_eq!(uris(&ws.search("semantic", "looking after a car"))[0], "car.md");
    let status: Value = serde_json::from_str(&ws.ok(&["status", "--json"])).unwrap();
    assert_eq!(status[0]["model"], "builtin/all-MiniLM-L6-v2");
    ws.assert_consistent();
}

#[test]
fn removing_a_source_from_the_config_removes_its_documents() {
    let ws = Ws::new();
    ws.write("garden.md", GARDEN);
    std::fs::create_dir(ws.root().join("more")).unwrap();
    std::fs::write(ws.root().join("more/car.md"), ENGINE).unwrap();
    let config = ws.root().join("config.yaml");
    let good = std::fs::read_to_string(&config).unwrap();
    let two =
        good.replace("    sources:\n", "    sources:\n      more:\n        type: localfile\n        path: more\n");
    std::fs::write(&config, &two).unwrap();
    assert_eq!(totals(&ws.ingest()), (2, 0, 0, 0, 0));
    // --source limits the run.
    let r: Value = serde_json::from_str(&ws.ok(&["ingest", "--json", "--source", "more"])).unwrap();
    assert_eq!(totals(&r), (0, 0, 0, 1, 0));
    let (code, err) = ws.fails(&["ingest", "--source", "nope"]);
    assert_eq!(code, 66, "{err}");
    std::fs::write(&config, &good).unwrap();
    assert_eq!(totals(&ws.ingest()), (0, 0, 1, 1, 0));
    assert!(ws.search("keyword", "brake")["hits"].as_array().unwrap().is_empty());
}

/// With `vectors.ann.min_rows` below the vault's size, `trove ingest` leaves the vault's
/// approximate index file built before it exits, and semantic search through it answers like
/// the exact scan.
#[test]
fn ingest_leaves_the_approximate_vector_index_built_and_search_answers_like_the_exact_scan() {
    let ws = Ws::new();
    let config = ws.root().join("config.yaml");
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{base}\nvectors:\n  ann:\n    min_rows: 2\n")).unwrap();
    ws.write("garden.md", GARDEN);
    ws.write("engine.md", ENGINE);
    ws.write("baking.html", BAKING);
    ws.ingest();
    let files: Vec<String> = std::fs::read_dir(ws.root().join(".trove/vectors"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".chunks.ann"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let approximate = uris(&ws.search("semantic", "how often to change oil"));
    assert_eq!(approximate.first().map(String::as_str), Some("engine.md"), "{approximate:?}");
    std::fs::write(&config, format!("{base}\nvectors:\n  ann:\n    enabled: false\n")).unwrap();
    assert_eq!(uris(&ws.search("semantic", "how often to change oil")), approximate);
}
