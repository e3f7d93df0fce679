//! The job queue over HTTP, on the real server with the real model: uploads (multipart and
//! JSON) become jobs that make documents searchable; a permanent failure lands in the
//! dead-letter queue, where it can be inspected, retried and deleted; a sync that failed is
//! retried after the fault is fixed; running jobs can be cancelled and are stopped by the time
//! limit; vaults are created and deleted; and bad requests get the right 4xx.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Gate, Server};
use serde_json::json;

const CONFIG: &str = "embedder:
  auto_install: false
ingest:
  group_chunks: 4
jobs:
  backoff_base_ms: 20
  backoff_max_s: 1
  max_attempts: 2
vaults:
  notes:
    sources:
      docs:
        type: localfile
        path: docs
";

const TOMATOES: &[u8] = b"# Tomatoes\n\nTomatoes need full sun, regular watering and support stakes as they grow.\n";
const SOURDOUGH: &[u8] = b"Feed the sourdough starter with flour and water, then let the dough rise overnight.\n";

fn start() -> Server {
    Server::start_config(CONFIG, |_| {}, |_| {})
}

fn upload_folders(s: &Server) -> usize {
    std::fs::read_dir(s.data_dir().join("uploads")).map(|d| d.count()).unwrap_or(0)
}

/// Whether every upload folder is gone, once the worker has had a moment (it removes a
/// finished job's files just after recording how the job ended).
fn uploads_cleared(s: &Server) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while upload_folders(s) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    upload_folders(s) == 0
}

fn keyword_uris(s: &Server, query: &str) -> Vec<String> {
    let r = s.post("/v1/vaults/notes/search", &json!({"query": query, "mode": "keyword"}));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["hits"].as_array().unwrap().iter().map(|h| h["uri"].as_str().unwrap().to_string()).collect()
}

#[test]
fn an_upload_is_stored_then_indexed_by_a_worker_and_becomes_searchable() {
    let s = start();
    let r = s.upload("/v1/vaults/notes/documents", None, &[("garden/tomatoes.md", TOMATOES), ("bread.txt", SOURDOUGH)]);
    assert_eq!(r.status, 202, "{}", r.body);
    let job = r.json();
    assert!(job["id"].as_str().unwrap().starts_with("job_"), "{job}");
    assert_eq!((job["kind"].as_str(), job["vault"].as_str()), (Some("upload"), Some("notes")));
    assert_eq!(job["payload"]["documents"], 2, "{job}");
    assert_eq!(job["payload"]["uris"], json!(["garden/tomatoes.md", "bread.txt"]));
    let id = job["id"].as_str().unwrap();

    let done = s.wait_final(id);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!((done["attempts"].as_u64(), done["result"]["added"].as_u64()), (Some(1), Some(2)), "{done}");
    assert!(done["finished_at"].is_string() && done["error"].is_null(), "{done}");
    assert_eq!(keyword_uris(&s, "tomatoes sun stakes")[0], "garden/tomatoes.md");
    let hit =
        &s.post("/v1/vaults/notes/search", &json!({"query": "sourdough starter", "mode": "hybrid"})).json()["hits"][0];
    assert_eq!((hit["uri"].as_str(), hit["source"].as_str()), (Some("bread.txt"), Some("uploads")), "{hit}");
    assert!(uploads_cleared(&s), "the uploaded files are removed once indexed");

    // JSON documents with the same uri replace the document; the job list shows both jobs.
    let r = s.post(
        "/v1/vaults/notes/documents",
        &json!({"documents": [{"uri": "bread.txt", "text": "Rye bread needs a long, cool proof."}]}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let done = s.wait_final(r.json()["id"].as_str().unwrap());
    assert_eq!((done["status"].as_str(), done["result"]["updated"].as_u64()), (Some("succeeded"), Some(1)), "{done}");
    assert_eq!(keyword_uris(&s, "rye proof"), ["bread.txt"]);
    assert!(keyword_uris(&s, "sourdough").is_empty(), "the old version is gone");
    let sources = s.get("/v1/vaults/notes/sources").json();
    assert_eq!(sources[0]["name"], "docs");
    assert!(sources[0]["last_sync"]["finished_at"].is_string(), "the start-up ingest is recorded: {sources}");
    let mut uploads = sources[1].clone();
    let last = uploads.as_object_mut().unwrap().remove("last_sync").unwrap();
    assert_eq!(
        uploads,
        json!({"name": "uploads", "type": "upload", "location": null, "documents": 2, "configured": false})
    );
    assert_eq!(
        (last["updated"].as_u64(), last["added"].as_u64(), last["failed"].as_u64()),
        (Some(1), Some(0), Some(0)),
        "{last}"
    );
    let jobs = s.get("/v1/jobs?kind=upload&status=succeeded").json();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 2, "{jobs}");
    let page = s.get("/v1/jobs?limit=1").json();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    let next = s.get(&format!("/v1/jobs?limit=1&cursor={}", page["next_cursor"].as_str().unwrap())).json();
    assert_ne!(next["jobs"][0]["id"], page["jobs"][0]["id"], "pages do not overlap");
    let metrics = s.get("/metrics").body;
    assert!(metrics.contains("trove_queue_depth{status=\"queued\"} 0"), "{metrics}");
    assert!(metrics.contains("trove_dlq_depth 0"), "{metrics}");
    assert!(
        metrics.contains("trove_job_processing_duration_seconds_count{kind=\"upload\",outcome=\"succeeded\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("trove_ingested_documents_total 3"), "{metrics}");
    assert!(metrics.contains("trove_db_query_duration_seconds_count{access=\"read\"}"), "{metrics}");
    assert!(!metrics.contains("trove_db_query_duration_seconds_count{access=\"write\"} 0\n"), "{metrics}");
    assert!(!metrics.contains("trove_ingest_latency_seconds_count 0"), "{metrics}");
}

#[test]
fn a_permanent_failure_goes_to_the_dead_letter_queue_where_it_is_inspected_retried_and_deleted() {
    let s = start();
    let r = s.upload("/v1/vaults/notes/documents", None, &[("broken.json", b"{\"unclosed\": [1, 2")]);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let dead = s.wait_final(&id);
    assert_eq!(dead["status"], "dead", "{dead}");
    assert_eq!(dead["attempts"], 1, "bad input is not retried: {dead}");
    assert_eq!(dead["error"]["code"], "document_unreadable", "{dead}");
    assert!(dead["error"]["message"].as_str().unwrap().contains("broken.json"), "{dead}");

    let dlq = s.get("/v1/dlq").json();
    assert_eq!(dlq["jobs"].as_array().unwrap().len(), 1, "{dlq}");
    let inspected = s.get(&format!("/v1/dlq/{id}")).json();
    assert_eq!(
        (inspected["payload"]["documents"].as_u64(), inspected["payload"]["bytes"].as_u64()),
        (Some(1), Some(18))
    );
    assert!(!inspected["payload"].to_string().contains("up-"), "no internal paths: {inspected}");
    let health = s.get("/health").json();
    assert_eq!(health["components"]["queue"]["status"], "degraded", "{health}");
    assert!(s.get("/metrics").body.contains("trove_dlq_depth 1"));
    assert_eq!(upload_folders(&s), 1, "a dead upload keeps its files for a retry");

    let retried = s.post(&format!("/v1/dlq/{id}/retry"), &json!({}));
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.json()["retries"], 1);
    let again = s.wait_job(&id, Duration::from_secs(60), |j| j["status"] == "dead" && j["retries"] == 1);
    assert_eq!(again["attempts"], 1, "{again}");
    s.post(&format!("/v1/jobs/{id}/cancel"), &json!({})).error(409, "job_state_conflict");

    assert_eq!(s.delete(&format!("/v1/dlq/{id}")).status, 204);
    s.get(&format!("/v1/dlq/{id}")).error(404, "job_not_found");
    s.get(&format!("/v1/jobs/{id}")).error(404, "job_not_found");
    s.post(&format!("/v1/dlq/{id}/retry"), &json!({})).error(404, "job_not_found");
    assert!(uploads_cleared(&s), "deleting the dead job removes its files");
}

#[test]
fn a_sync_that_failed_is_retried_from_the_dead_letter_queue_after_the_fix() {
    let s = start();
    let docs = s.dir.path().join("docs");
    std::fs::remove_dir(&docs).unwrap();
    let r = s.post("/v1/vaults/notes/sources/docs/sync", &json!({}));
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let dead = s.wait_final(&id);
    assert_eq!((dead["status"].as_str(), dead["error"]["code"].as_str()), (Some("dead"), Some("config_bad_path")));

    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("tomatoes.md"), TOMATOES).unwrap();
    assert_eq!(s.post(&format!("/v1/dlq/{id}/retry"), &json!({})).status, 200);
    let done = s.wait_final(&id);
    assert_eq!((done["status"].as_str(), done["result"]["added"].as_u64()), (Some("succeeded"), Some(1)), "{done}");
    assert_eq!(keyword_uris(&s, "tomatoes"), ["tomatoes.md"]);
    s.post("/v1/vaults/notes/sources/nope/sync", &json!({})).error(404, "source_not_found");
    s.post("/v1/vaults/nope/sources/docs/sync", &json!({})).error(404, "vault_not_found");
}

/// Sixty notes: many groups of chunks, so a checkpoint follows the first group's embedding.
fn big_upload() -> Vec<(String, Vec<u8>)> {
    (0..60)
        .map(|i| {
            let body: String = (0..40)
                .map(|j| format!("Paragraph {j} of note {i} talks about gardens, bread, engines and rivers. "))
                .collect();
            (format!("notes/n{i:03}.md"), format!("# Note {i}\n\n{body}\n").into_bytes())
        })
        .collect()
}

/// A server whose embedder is behind a gate (and whose engine `setup` may change further).
fn gated(config: &str, setup: impl FnOnce(trove_engine::Engine) -> trove_engine::Engine) -> (Server, Arc<Gate>) {
    let gate = Gate::new(common::embedder());
    let inner = gate.clone();
    let s = Server::start_engine(config, |_| {}, |_| {}, move |e| setup(e.with_embedder(inner)));
    (s, gate)
}

#[test]
fn running_jobs_stop_when_cancelled_and_when_out_of_time() {
    let (s, gate) = gated(CONFIG, |e| e);
    let files = big_upload();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    gate.close();
    let id = s.upload("/v1/vaults/notes/documents", None, &refs).json()["id"].as_str().unwrap().to_string();
    // The job is held at its first embedding: it is running, and cannot end until the gate opens.
    gate.wait_held(Duration::from_secs(60));
    // A running job shows how far it has got (documents done of those listed).
    let running =
        s.wait_job(&id, Duration::from_secs(60), |j| j["status"] == "running" && j["progress"]["total"] == 60);
    assert!(running["progress"]["done"].as_u64().unwrap() <= 60, "{running}");
    let listed = s.get("/v1/jobs?status=running").json();
    assert_eq!(listed["jobs"][0]["progress"]["total"], 60, "{listed}");
    let r = s.post(&format!("/v1/jobs/{id}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["cancel_requested"], true, "{}", r.body);
    gate.open();
    let cancelled = s.wait_final(&id);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancelled["progress"].is_null(), "only running jobs have progress: {cancelled}");
    assert!(uploads_cleared(&s), "a cancelled upload's files are removed");
    let again = s.post(&format!("/v1/jobs/{id}/cancel"), &json!({}));
    assert_eq!((again.status, again.json()["status"].as_str()), (200, Some("cancelled")), "cancelling twice is fine");
    drop(s);

    // Out of time: the engine's clock passes jobs.timeout_s while the job is held (ten
    // minutes, which the real run never takes; the lease outlasts the step).
    let config = CONFIG.replace("  max_attempts: 2\n", "  max_attempts: 1\n  timeout_s: 600\n  lease_s: 3600\n");
    let clock = trove_clock::ManualClock::starting_now();
    let engine_clock = clock.clone();
    let (s, gate) = gated(&config, move |e| e.with_clock(engine_clock));
    gate.close();
    let id = s.upload("/v1/vaults/notes/documents", None, &refs).json()["id"].as_str().unwrap().to_string();
    gate.wait_held(Duration::from_secs(60));
    clock.advance(Duration::from_secs(601));
    gate.open();
    let dead = s.wait_final(&id);
    assert_eq!((dead["status"].as_str(), dead["error"]["code"].as_str()), (Some("dead"), Some("timeout")), "{dead}");
    assert!(dead["error"]["message"].as_str().unwrap().contains("jobs.timeout_s"), "{dead}");
}

#[test]
fn vaults_are_created_and_deleted_over_http() {
    let s = start();
    let r = s.post("/v1/vaults", &json!({"name": "team-kb"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!((r.json()["documents"].as_u64(), r.json()["configured"].as_bool()), (Some(0), Some(false)));
    s.post("/v1/vaults", &json!({"name": "team-kb"})).error(409, "vault_exists");
    s.post("/v1/vaults", &json!({"name": "notes"})).error(409, "vault_exists");
    s.post("/v1/vaults", &json!({"name": "Bad Name"})).error(400, "bad_request");
    s.post("/v1/vaults", &json!({"title": "x"})).error(422, "invalid_fields");

    let id = s.upload("/v1/vaults/team-kb/documents", None, &[("t.md", TOMATOES)]).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.wait_final(&id)["status"], "succeeded");
    let r = s.post("/v1/vaults/team-kb/memories", &json!({"text": "the team meets on Tuesdays"}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(s.get("/v1/vaults/team-kb").json()["documents"], 1);
    s.post("/v1/vaults/team-kb/sources/docs/sync", &json!({})).error(400, "bad_request");

    s.delete("/v1/vaults/notes").error(409, "vault_configured");
    assert_eq!(s.delete("/v1/vaults/team-kb").status, 204);
    s.get("/v1/vaults/team-kb").error(404, "vault_not_found");
    s.delete("/v1/vaults/team-kb").error(404, "vault_not_found");
    s.get("/v1/vaults/team-kb/memories").error(404, "vault_not_found");
}

#[test]
fn bad_uploads_and_job_requests_get_the_right_4xx() {
    let s = Server::start_config(CONFIG, |_| {}, |o| o.max_upload_bytes = 4096);
    let up = "/v1/vaults/notes/documents";
    s.upload("/v1/vaults/nope/documents", None, &[("a.md", b"# A")]).error(404, "vault_not_found");
    let e = s.upload(up, None, &[("layers.psd", b"8BPS")]).error(415, "unsupported_media_type");
    assert!(e["message"].as_str().unwrap().contains("layers.psd"), "{e}");
    s.upload(up, Some("psd"), &[("a.bin", b"x")]).error(400, "bad_request");
    s.upload(up, None, &[("../etc/passwd.md", b"x")]).error(400, "bad_request");
    s.upload(up, None, &[]).error(400, "bad_request");
    s.upload(up, None, &[("big.md", &vec![b'a'; 8192])]).error(413, "payload_too_large");
    s.call("POST", up, Some(b"hello"), &[("content-type", "text/plain")]).error(415, "unsupported_media_type");
    s.call("POST", up, Some(b"{\"documents\": ["), &[("content-type", "application/json")])
        .error(400, "malformed_json");
    s.post(up, &json!({"documents": [{"uri": "a.md"}]})).error(422, "invalid_fields");
    let e = s.post(up, &json!({"documents": [{"uri": "ok.md", "text": "x"}, {"uri": "/abs.md", "text": "y"}]}));
    assert!(e.error(400, "bad_request")["message"].as_str().unwrap().starts_with("documents[1]"), "{}", e.body);
    s.post(up, &json!({"documents": []})).error(400, "bad_request");
    let boundary_only = "multipart/form-data; boundary=zzz";
    s.call("POST", up, Some(b"--zzz\r\nnot a header\r\n"), &[("content-type", boundary_only)])
        .error(400, "bad_request");
    assert!(uploads_cleared(&s), "rejected uploads leave no files");

    s.get("/v1/jobs/job_nope").error(404, "job_not_found");
    s.post("/v1/jobs/job_nope/cancel", &json!({})).error(404, "job_not_found");
    s.get("/v1/jobs?status=finished").error(400, "bad_request");
    s.get("/v1/jobs?kind=email").error(400, "bad_request");
    s.get("/v1/jobs?cursor=abc").error(400, "bad_request");
    s.get("/v1/jobs?limit=0").error(400, "bad_request");
    s.get("/v1/jobs?limit=ten").error(400, "bad_request");
    s.get("/v1/jobs?color=red").error(400, "bad_request");
    s.get("/v1/dlq/job_nope").error(404, "job_not_found");
    s.delete("/v1/dlq/job_nope").error(404, "job_not_found");
}
