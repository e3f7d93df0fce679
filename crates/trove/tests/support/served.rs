//! `trove serve` as a child process for integration tests: started on a free port it prints,
//! called over plain HTTP/1.1, its stderr lines collected, killed when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_bytes(addr, method, path, "application/json", body.unwrap_or("").as_bytes())
}

pub fn http_bytes(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    http_with(addr, method, path, &[("content-type", content_type)], body)
}

/// A request with `Authorization: Bearer <token>`.
pub fn http_auth(addr: &str, token: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    http_with(addr, method, path, &headers, body.unwrap_or("").as_bytes())
}

pub fn http_with(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nx-request-id: from-the-test-{method}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_string())
}

pub fn init(dir: &std::path::Path) {
    let init = Command::new(env!("CARGO_BIN_EXE_trove")).arg("--workspace").arg(dir).arg("init").output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
}

/// `trove serve` running as a child process, with its stderr lines collected.
pub struct Served {
    pub child: Child,
    pub addr: String,
    lines: Vec<String>,
    rx: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Starts the server on a free port with extra environment and waits for its address.
    pub fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Served {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trove"));
        cmd.arg("--workspace")
            .arg(dir)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("TROVE_WORKSPACE")
            .env_remove("TROVE_CONFIG")
            .env_remove("TROVE_BIND")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
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
        Served { child, addr, lines, rx, reader: Some(reader) }
    }

    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = http(&self.addr, "GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls a job until it leaves `queued` and `running`; returns it.
    pub fn wait_finished(&self, id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let job = self.get(&format!("/v1/jobs/{id}"));
            if job["status"] != "queued" && job["status"] != "running" {
                return job;
            }
            assert!(Instant::now() < deadline, "the job did not finish: {job}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the process has logged so far.
    pub fn logs(&mut self) -> &[String] {
        self.lines.extend(self.rx.try_iter());
        &self.lines
    }

    /// Waits for the process to exit; returns its status and everything it logged.
    pub fn wait(mut self, within: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("trove serve did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.lines.extend(self.rx.try_iter());
        (status, std::mem::take(&mut self.lines))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
