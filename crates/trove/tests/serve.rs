//! `trove serve` as a user runs it: the real binary on a workspace made by `trove init`,
//! listening on a free port it prints, answering HTTP, logging JSON lines that carry the
//! request id, and exiting 0 after SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/served.rs"]
mod served;

use served::{Served, http, http_bytes, init};

#[test]
fn trove_serve_answers_http_logs_json_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let trove = env!("CARGO_BIN_EXE_trove");
    init(dir.path());
    let served = Served::start(dir.path(), &[("TROVE__LOG__FORMAT", "json")]);
    let addr = served.addr.clone();
    let (status, body) = http(&addr, "GET", "/live", None);
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    let (status, body) =
        http(&addr, "POST", "/v1/vaults/default/memories", Some("{\"text\": \"served by the binary\"}"));
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(&addr, "GET", "/v1/vaults/elsewhere", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"code\":\"vault_not_found\"") && body.contains("default"), "{body}");
    // An ingest writes the workspace beside the server (issue 31), and the server sees what it
    // added.
    let ingest = Command::new(trove).arg("--workspace").arg(dir.path()).arg("ingest").output().unwrap();
    let stderr = String::from_utf8_lossy(&ingest.stderr);
    assert_eq!(ingest.status.code(), Some(0), "{stderr}");
    let (status, body) = http(&addr, "GET", "/v1/vaults/default", None);
    assert_eq!(status, 200, "{body}");
    let vault: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(vault["chunks"].as_u64().is_some_and(|n| n > 0), "the server sees the ingested chunks: {body}");

    let kill = Command::new("kill").args(["-TERM", &served.child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let (status, lines) = served.wait(Duration::from_secs(20));
    let log = lines.join("\n");
    assert_eq!(status.code(), Some(0), "exit status {status:?}; stderr:\n{log}");
    // JSON log lines; the request's lines carry its id.
    let answered: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "answered")
        .collect();
    assert!(answered.len() >= 3, "no JSON request log lines:\n{log}");
    assert!(
        answered.iter().any(|v| v["span"]["request_id"] == "from-the-test-POST"
            && v["span"]["route"] == "/v1/vaults/{vault}/memories"
            && v["fields"]["status"] == 201),
        "request id missing from the log:\n{log}"
    );
    assert!(log.contains("SIGTERM received") && log.contains("server stopped"), "{log}");
}

/// Many documents, so indexing them takes a while with the real model.
fn multipart_notes(n: usize) -> (String, Vec<u8>) {
    let boundary = "kill-test-boundary";
    let mut body = Vec::new();
    for i in 0..n {
        let text: String = (0..12).map(|j| format!("Note {i} line {j} is about marker{i} and rivers. ")).collect();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"n{i:03}.md\"\r\n\r\n# Note {i}\n\n{text}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn a_job_interrupted_by_kill_9_completes_exactly_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    // Small groups: the first attempt commits some documents before it is killed.
    let env = [("TROVE__INGEST__GROUP_CHUNKS", "2")];
    let served = Served::start(dir.path(), &env);
    let n = 40;
    let (content_type, body) = multipart_notes(n);
    let (status, answer) = http_bytes(&served.addr, "POST", "/v1/vaults/default/documents", &content_type, &body);
    assert_eq!(status, 202, "{answer}");
    let job: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let id = job["id"].as_str().unwrap().to_string();

    // Kill the server once the job is running and part of the upload is indexed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let partial = loop {
        let sources = served.get("/v1/vaults/default/sources");
        let done = sources.as_array().unwrap().iter().find(|s| s["name"] == "uploads").map(|s| s["documents"].clone());
        let job = served.get(&format!("/v1/jobs/{id}"));
        assert_ne!(job["status"], "succeeded", "the job finished before it could be interrupted: {job}");
        if let Some(d) = done.and_then(|d| d.as_u64()).filter(|d| *d > 0) {
            break d;
        }
        assert!(Instant::now() < deadline, "the job never got going: {job}");
        std::thread::sleep(Duration::from_millis(10));
    };
    let kill = Command::new("kill").args(["-KILL", &served.child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let (status, _) = served.wait(Duration::from_secs(10));
    assert_eq!(status.code(), None, "killed by a signal");
    assert!(partial < n as u64, "only part of the upload was indexed before the kill ({partial})");

    // The restarted server takes the job again and finishes it.
    let served = Served::start(dir.path(), &env);
    let done = served.wait_finished(&id);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2, "the killed attempt counts, and one more finished it: {done}");
    let result = &done["result"];
    assert_eq!(
        result["added"].as_u64().unwrap() + result["unchanged"].as_u64().unwrap(),
        n as u64,
        "the second attempt added what the first had not, and skipped the rest: {result}"
    );
    assert!(result["unchanged"].as_u64().unwrap() >= partial, "{result}");
    // Nothing lost, nothing duplicated: one job, n documents, each found once.
    let jobs = served.get("/v1/jobs?kind=upload");
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "{jobs}");
    let sources = served.get("/v1/vaults/default/sources");
    let uploads = sources.as_array().unwrap().iter().find(|s| s["name"] == "uploads").unwrap();
    assert_eq!(uploads["documents"], n as u64, "{sources}");
    for i in [0, n / 2, n - 1] {
        let query = format!("{{\"query\": \"marker{i}\", \"mode\": \"keyword\"}}");
        let (status, body) = http(&served.addr, "POST", "/v1/vaults/default/search", Some(&query));
        assert_eq!(status, 200, "{body}");
        let hits: serde_json::Value = serde_json::from_str(&body).unwrap();
        let uris: Vec<&str> = hits["hits"].as_array().unwrap().iter().map(|h| h["uri"].as_str().unwrap()).collect();
        let expected = format!("n{i:03}.md");
        assert_eq!(uris.iter().filter(|u| **u == expected).count(), uris.len().min(1), "{uris:?}");
        assert_eq!(uris.first().copied(), Some(expected.as_str()), "{uris:?}");
    }
    // The worker removes the files just after recording the job's end.
    let uploads = dir.path().join(".trove/uploads");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(&uploads).unwrap().next().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(std::fs::read_dir(&uploads).unwrap().next().is_none(), "the upload's files are removed after it succeeded");
}

#[test]
fn sigterm_puts_a_running_job_back_in_the_queue_without_using_an_attempt() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let env = [("TROVE__INGEST__GROUP_CHUNKS", "2"), ("TROVE__SERVER__SHUTDOWN_GRACE_S", "0")];
    let served = Served::start(dir.path(), &env);
    let (content_type, body) = multipart_notes(40);
    let (status, answer) = http_bytes(&served.addr, "POST", "/v1/vaults/default/documents", &content_type, &body);
    assert_eq!(status, 202, "{answer}");
    let id = serde_json::from_str::<serde_json::Value>(&answer).unwrap()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while served.get(&format!("/v1/jobs/{id}"))["status"] != "running" {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = Command::new("kill").args(["-TERM", &served.child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let (status, lines) = served.wait(Duration::from_secs(30));
    let log = lines.join("\n");
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("putting them back in the queue"), "{log}");

    let served = Served::start(dir.path(), &env);
    let job = served.get(&format!("/v1/jobs/{id}"));
    assert_ne!(job["error"]["code"], "worker_lost", "a graceful stop is not a crash: {job}");
    let done = served.wait_finished(&id);
    assert_eq!((done["status"].as_str(), done["attempts"].as_u64()), (Some("succeeded"), Some(1)), "{done}");
}
