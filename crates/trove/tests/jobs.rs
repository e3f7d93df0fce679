//! `trove jobs` and `trove dlq` as an operator runs them: against a running `trove serve`
//! (`--url`, the key from `$TROVE_API_KEY`) and on the workspace beside it, listing with
//! filters, showing, retrying, deleting and cancelling, as tables and as JSON, and failing
//! with the server's codes (or `server_unreachable`) and their exit codes.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

#[path = "support/run.rs"]
mod run;
#[path = "support/served.rs"]
mod served;

use run::{succeeded, trove};
use serde_json::Value;
use served::{Served, http_auth, init};

const PASSWORD: &str = "correct horse battery staple";

/// `trove ARGS` on `root`, the key (if any) in `$TROVE_API_KEY`.
fn cli(root: &Path, key: Option<&str>, args: &[&str]) -> Output {
    let mut c = trove(root, args);
    c.env_remove("TROVE_URL").env_remove("TROVE_API_KEY").env_remove("HTTP_PROXY").env_remove("http_proxy");
    if let Some(k) = key {
        c.env("TROVE_API_KEY", k);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Polls `GET /v1/jobs/{id}` until `done` holds.
fn wait(s: &Served, key: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = http_auth(&s.addr, key, "GET", &format!("/v1/jobs/{id}"), None);
        assert_eq!(status, 200, "{body}");
        let job: Value = serde_json::from_str(&body).unwrap();
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "the job did not get there: {job}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn jobs_and_the_dead_letter_queue_from_the_command_line_on_a_server_and_on_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    init(root);
    succeeded(cli(root, None, &["ingest", "--no-progress"]), "ingest");
    let mut owner = trove(root, &["admin", "create-user", "--email", "ops@acme.test", "--org", "acme", "--owner"]);
    succeeded(owner.env("TROVE_ADMIN_PASSWORD", PASSWORD).output().unwrap(), "create-user");
    let created = succeeded(
        cli(
            root,
            None,
            &[
                "admin",
                "create-key",
                "--email",
                "ops@acme.test",
                "--org",
                "acme",
                "--vault",
                "*",
                "--action",
                "jobs",
                "--action",
                "admin",
                "--action",
                "documents.write",
                "--json",
            ],
        ),
        "create-key",
    );
    let key = serde_json::from_str::<Value>(&created).unwrap()["key"].as_str().unwrap().to_string();
    let s = Served::start(root, &[]);
    let url = format!("http://{}", s.addr);

    // One upload that succeeds, one that cannot (not JSON): it goes to the dead-letter queue.
    let upload = |uri: &str, text: &str| {
        let body = serde_json::json!({"documents": [{"uri": uri, "text": text}]}).to_string();
        let (status, body) = http_auth(&s.addr, &key, "POST", "/v1/vaults/default/documents", Some(&body));
        assert_eq!(status, 202, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string()
    };
    let good = upload("good.md", "# Tomatoes\n\nWater them in the morning.");
    let bad = upload("broken.json", "{\"unclosed\": [1, 2");
    wait(&s, &key, &good, |j| j["status"] == "succeeded");
    let dead = wait(&s, &key, &bad, |j| j["status"] == "dead");
    assert_eq!(dead["error"]["code"], "document_unreadable", "{dead}");

    // Against the server: the key is required, and sent from $TROVE_API_KEY.
    let refused = cli(root, None, &["jobs", "list", "--url", &url]);
    assert_eq!(refused.status.code(), Some(77), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--key or $TROVE_API_KEY"), "{}", stderr(&refused));
    let listed = succeeded(cli(root, Some(&key), &["jobs", "list", "--url", &url, "--json"]), "jobs list --url");
    let page: Value = serde_json::from_str(&listed).unwrap();
    let ids: Vec<&str> = page["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [bad.as_str(), good.as_str()], "newest first: {page}");
    // The REST filters: status, and a page of one with the cursor to the next.
    let succeeded_only = succeeded(
        cli(root, Some(&key), &["jobs", "list", "--url", &url, "--status", "succeeded", "--json"]),
        "jobs list --status",
    );
    let page: Value = serde_json::from_str(&succeeded_only).unwrap();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["jobs"][0]["id"], good.as_str());
    let first = succeeded(cli(root, Some(&key), &["jobs", "list", "--url", &url, "--limit", "1"]), "jobs list -n 1");
    assert!(first.contains(&bad) && !first.contains(&good), "{first}");
    let next = first.lines().last().unwrap().strip_prefix("more: trove jobs list --cursor ").expect(&first).to_string();
    let second = succeeded(
        cli(root, Some(&key), &["jobs", "list", "--url", &url, "--limit", "1", "--cursor", &next]),
        "jobs list --cursor",
    );
    assert!(second.contains(&good) && !second.contains(&bad), "{second}");
    let wrong = cli(root, Some(&key), &["jobs", "list", "--url", &url, "--status", "sleeping"]);
    assert_eq!(wrong.status.code(), Some(64), "{}", stderr(&wrong));
    assert!(stderr(&wrong).contains("not a job status"), "{}", stderr(&wrong));

    // On the workspace, beside the running server: the same dead job, as a table.
    let table = succeeded(cli(root, None, &["dlq", "list"]), "dlq list");
    let row = table.lines().find(|l| l.starts_with(&bad)).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("upload") && row.contains("dead") && row.ends_with("document_unreadable"), "{table}");
    assert!(!table.contains(&good), "only dead jobs: {table}");
    let shown = succeeded(cli(root, None, &["dlq", "show", &bad]), "dlq show");
    assert!(shown.contains("broken.json") && shown.contains("(document_unreadable)"), "{shown}");
    let not_dead = cli(root, None, &["dlq", "show", &good]);
    assert_eq!(not_dead.status.code(), Some(66), "a succeeded job is not in the queue: {}", stderr(&not_dead));

    // Retry through the server; the workers run it again and it dies again.
    let retried = succeeded(cli(root, Some(&key), &["dlq", "retry", &bad, "--url", &url]), "dlq retry");
    assert!(retried.starts_with(&format!("queued {bad} again (retry 1)")), "{retried}");
    wait(&s, &key, &bad, |j| j["status"] == "dead" && j["retries"] == 1);

    // A dead job cannot be cancelled (on the workspace, its code and exit code as JSON).
    let conflict = cli(root, None, &["jobs", "cancel", &bad, "--json"]);
    assert_eq!(conflict.status.code(), Some(65), "{}", stderr(&conflict));
    let body: Value = serde_json::from_str(stderr(&conflict).trim()).unwrap();
    assert_eq!(body["code"], "job_state_conflict", "{body}");

    // Deleted on the workspace; the server no longer has it.
    let deleted = succeeded(cli(root, None, &["dlq", "delete", &bad]), "dlq delete");
    assert!(deleted.contains(&format!("deleted {bad}")), "{deleted}");
    let gone = cli(root, Some(&key), &["jobs", "show", &bad, "--url", &url, "--json"]);
    assert_eq!(gone.status.code(), Some(66), "{}", stderr(&gone));
    let body: Value = serde_json::from_str(stderr(&gone).trim()).unwrap();
    assert_eq!(body["code"], "job_not_found", "{body}");
    let shown = succeeded(cli(root, Some(&key), &["jobs", "show", &good, "--url", &url]), "jobs show --url");
    assert!(shown.contains("status:      succeeded") && shown.contains("result:"), "{shown}");

    // A server that is not there.
    drop(s);
    let down = cli(root, Some(&key), &["jobs", "list", "--url", &url]);
    assert_eq!(down.status.code(), Some(69), "{}", stderr(&down));
    assert!(stderr(&down).contains("server_unreachable"), "{}", stderr(&down));
}

#[test]
fn a_queued_job_is_cancelled_on_the_workspace_while_the_server_works_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    init(root);
    let s = Served::start(root, &[]);
    // The one worker is busy with a large upload, so the next one waits in the queue.
    let documents: Vec<Value> = (0..400)
        .map(|i| serde_json::json!({"uri": format!("n{i}.md"), "text": format!("# Note {i}\n\n{}", "Tomatoes want water and sun. ".repeat(40))}))
        .collect();
    let post = |body: Value| {
        let (status, body) = served::http(&s.addr, "POST", "/v1/vaults/default/documents", Some(&body.to_string()));
        assert_eq!(status, 202, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string()
    };
    let large = post(serde_json::json!({"documents": documents}));
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.get(&format!("/v1/jobs/{large}"))["status"] == "queued" {
        assert!(Instant::now() < deadline, "the large upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let small = post(serde_json::json!({"documents": [{"uri": "a.md", "text": "# A"}]}));
    let queued = succeeded(cli(root, None, &["jobs", "list", "--status", "queued", "--json"]), "jobs list");
    assert_eq!(serde_json::from_str::<Value>(&queued).unwrap()["jobs"][0]["id"], small.as_str(), "{queued}");
    let cancelled = succeeded(cli(root, None, &["jobs", "cancel", &small]), "jobs cancel");
    assert!(cancelled.starts_with(&format!("cancelled {small}")), "{cancelled}");
    assert!(cancelled.contains("status:      cancelled"), "{cancelled}");
    assert_eq!(s.wait_finished(&small)["status"], "cancelled");
    let listed = succeeded(cli(root, None, &["jobs", "list", "--status", "queued"]), "jobs list");
    assert_eq!(listed.trim(), "no jobs");
    // The large one, running, is asked to stop through the server.
    let url = format!("http://{}", s.addr);
    let asked = succeeded(cli(root, None, &["jobs", "cancel", &large, "--url", &url, "--json"]), "jobs cancel --url");
    let job: Value = serde_json::from_str(&asked).unwrap();
    assert!(job["cancel_requested"] == true || job["status"] == "cancelled", "a running job is asked to stop: {job}");
    assert_eq!(s.wait_finished(&large)["status"], "cancelled");
}
