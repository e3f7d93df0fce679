//! Connections that misbehave: a client that opens a connection and never finishes its
//! request headers is disconnected after the header timeout instead of holding the connection
//! forever, and the server keeps answering everyone else meanwhile.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

const CONFIG: &str = "embedder:\n  auto_install: false\nvaults:\n  notes: {}\n";

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let s = Server::start_config(CONFIG, |_| {}, |o| o.header_read_timeout = Duration::from_millis(300));
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    slow.write_all(b"GET /live HTTP/1.1\r\nhost: x\r\n").unwrap();
    let idle = TcpStream::connect(s.addr).unwrap();
    // Others are served while the slow client dawdles.
    assert_eq!(s.get("/live").status, 200);
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = slow.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(read.is_ok() || took < Duration::from_secs(5), "{read:?}");
    assert!(took < Duration::from_secs(5), "the slow connection was held for {took:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "an incomplete request was answered: {text}");
    let mut idle = idle;
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let n = idle.read(&mut [0u8; 64]).unwrap_or(0);
    assert_eq!(n, 0, "a connection that sent nothing is closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.get("/live").status, 200);
}
