//! The Qdrant client against a local server answering as Qdrant does: the `api-key` header is
//! sent; 5xx and 429 (after its `Retry-After`) are retried within the limit, 4xx never; a 401
//! names `storage.qdrant.api_key`; a closed port fails with the URL, and after three failed
//! calls in a row the breaker answers at once, then lets a call through once Qdrant is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use trove_http::testing::{MockServer, Reply};
use trove_store::StoreError;
use trove_store_qdrant::{Client, ClientOptions};

fn client(url: &str, retries: u32) -> Client {
    client_timed(url, retries, trove_clock::system())
}

/// A client whose breaker is timed by `clock`.
fn client_timed(url: &str, retries: u32, clock: trove_clock::SharedClock) -> Client {
    Client::new(ClientOptions {
        url: url.into(),
        api_key: Some("qdrant-key".into()),
        timeout: Duration::from_secs(2),
        max_retries: retries,
        retry_delay: Duration::from_millis(20),
        breaker_cooldown: Duration::from_millis(300),
        clock,
    })
}

#[test]
fn transient_failures_are_retried_and_refusals_are_not() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = MockServer::start(move |r| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        match (r.path.as_str(), n) {
            ("/collections", 0) => Reply::json(503, &json!({"status": {"error": "overloaded"}})),
            ("/collections", 1) => {
                Reply::json(429, &json!({"status": {"error": "slow down"}})).header("Retry-After", "0")
            }
            ("/collections", _) => Reply::json(200, &json!({"status": "ok", "result": {"collections": []}})),
            _ => Reply::json(400, &json!({"status": {"error": "Wrong input: bad filter"}})),
        }
    });
    let c = client(&server.url(), 3);
    assert_eq!(c.get("/collections").unwrap(), json!({"collections": []}));
    assert_eq!(calls.load(Ordering::SeqCst), 3, "two transient failures retried");
    assert!(server.requests().iter().all(|r| r.header("api-key") == Some("qdrant-key")));

    let before = calls.load(Ordering::SeqCst);
    let e = c.post("/collections/x/points/query", &json!({})).unwrap_err();
    assert!(matches!(&e, StoreError::Database { reason, .. } if reason.contains("bad filter")), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), before + 1, "a 400 is not retried");
    // What /metrics shows: 4 requests, 2 of them retries, 1 call failed.
    assert_eq!(c.counters(), trove_store_qdrant::client::Counters { requests: 4, retries: 2, failures: 1 });
}

#[test]
fn a_wrong_api_key_names_the_setting_and_never_shows_the_key() {
    let server = MockServer::start(|_| Reply::text(401, "Must provide an API key or an Authorization bearer token"));
    let e = client(&server.url(), 2).get("/collections").unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Unavailable { .. }), "{text}");
    assert!(text.contains("storage.qdrant.api_key") && !text.contains("qdrant-key"), "{text}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_closed_port_is_named() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let e = client(&format!("http://{addr}"), 1).get("/collections").unwrap_err().to_string();
    assert!(e.contains(&addr.to_string()) && e.contains("connection refused") && e.contains("after 2 attempts"), "{e}");
}

#[test]
fn an_outage_fails_fast_once_the_breaker_opens_and_heals_without_a_restart() {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let state = up.clone();
    let server = MockServer::start(move |_| {
        if state.load(Ordering::SeqCst) {
            Reply::json(200, &json!({"status": "ok", "result": {"collections": []}}))
        } else {
            Reply::json(502, &json!({"status": {"error": "bad gateway"}}))
        }
    });
    let clock = trove_clock::ManualClock::at_ms(1_000);
    let c = client_timed(&server.url(), 0, clock.clone());
    for _ in 0..3 {
        assert!(c.get("/collections").is_err());
    }
    assert!(c.circuit_open());
    let e = c.get("/collections").unwrap_err().to_string();
    assert!(e.contains("refused for 0.3 s") && e.contains("bad gateway"), "{e}");
    assert_eq!(server.requests().len(), 3, "the open breaker sent nothing");
    let counted = c.counters();
    assert_eq!((counted.requests, counted.failures), (3, 4), "a refusal by the breaker is a failure, not a request");

    // Qdrant is back, but the pause is not over: still refused, still nothing sent.
    up.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_millis(299));
    assert!(c.get("/collections").is_err() && c.circuit_open());
    assert_eq!(server.requests().len(), 3, "the open breaker sent nothing");
    // After the pause, one call goes through and closes the breaker.
    clock.advance(Duration::from_millis(1));
    assert!(c.get("/collections").is_ok());
    assert!(!c.circuit_open());
    assert!(c.get("/collections").is_ok());
    assert_eq!(server.requests().len(), 5);
}
