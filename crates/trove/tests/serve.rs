//! `trove serve` as a user runs it: the real binary on a workspace made by `trove init`,
//! listening on a free port it prints, answering HTTP, logging JSON lines that carry the
//! request id, and exiting 0 after SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nx-request-id: from-the-test-{method}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_string())
}

#[test]
fn trove_serve_answers_http_logs_json_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let trove = env!("CARGO_BIN_EXE_trove");
    let init = Command::new(trove).arg("--workspace").arg(dir.path()).arg("init").output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let mut child = Command::new(trove)
        .arg("--workspace")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .env_remove("TROVE_BIND")
        .env("TROVE__LOG__FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("no address printed; stderr so far:\n{}", lines.join("\n"))
        });
        lines.push(line.clone());
        if let Some(a) = line.strip_prefix("trove: listening on http://") {
            break a.to_string();
        }
    };

    let (status, body) = http(&addr, "GET", "/live", None);
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    let (status, body) =
        http(&addr, "POST", "/v1/vaults/default/memories", Some("{\"text\": \"served by the binary\"}"));
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(&addr, "GET", "/v1/vaults/elsewhere", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"code\":\"vault_not_found\"") && body.contains("default"), "{body}");
    // A second writer is refused while the server holds the workspace.
    let ingest = Command::new(trove).arg("--workspace").arg(dir.path()).arg("ingest").output().unwrap();
    assert_eq!(ingest.status.code(), Some(75), "{}", String::from_utf8_lossy(&ingest.stderr));

    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("trove serve did not exit within 20s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    lines.extend(rx.try_iter());
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
