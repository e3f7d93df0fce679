//! The client against [`crate::testing::MockServer`]: retries, `Retry-After`, time limits,
//! answers cut off, the messages of 401/403/404, the rate limit, secrets kept out of sight, and
//! web pages (`get_page`: headers, 304, redirects, user agent), files (`get_file`: redirects to
//! another host without the credentials, the size limit).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::*;
use crate::testing::{MockServer, Reply};

fn options(server: &MockServer) -> ClientOptions {
    let mut o = ClientOptions::new("Wiki", &server.url(), "vaults.kb.sources.wiki");
    o.backoff_min = Duration::from_millis(10);
    o.backoff_max = Duration::from_millis(40);
    o.max_retries = 3;
    o.timeout = Duration::from_secs(5);
    o
}

/// A server whose first `failures` answers come from `fail`, then `{"ok": true}`.
fn flaky(failures: usize, fail: impl Fn() -> Reply + Send + Sync + 'static) -> (MockServer, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let server = MockServer::start(move |_| {
        if count.fetch_add(1, Ordering::SeqCst) < failures { fail() } else { Reply::json(200, &json!({"ok": true})) }
    });
    (server, seen)
}

#[test]
fn a_503_is_retried_with_backoff() {
    let (server, seen) = flaky(2, || Reply::text(503, "Service Unavailable"));
    let client = Client::new(options(&server)).unwrap();
    let v: Value = client.get_json("/api", &[("q", "a b&c")]).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_eq!(server.requests()[0].param("q"), Some("a b&c"), "query values are encoded");

    // Always failing: the attempts are bounded and the error says so.
    let (server, seen) = flaky(usize::MAX, || Reply::text(502, "Bad Gateway"));
    let e = Client::new(options(&server)).unwrap().get_json::<Value>("/api", &[]).unwrap_err();
    assert_eq!(seen.load(Ordering::SeqCst), 4);
    assert_eq!((e.kind, e.status, e.code()), (ErrorKind::Server, Some(502), Code::SourceUnreachable));
    assert!(e.to_string().contains("after 4 attempts"), "{e}");
}

#[test]
fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    let (server, seen) = flaky(1, || Reply::text(429, "slow down").header("Retry-After", "1"));
    let client = Client::new(options(&server)).unwrap();
    let start = Instant::now();
    let _: Value = client.get_json("/api", &[]).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(950), "waited {:?}", start.elapsed());
    assert_eq!(seen.load(Ordering::SeqCst), 2);

    // A long Retry-After is capped.
    let (server, _) = flaky(1, || Reply::text(503, "").header("Retry-After", "3600"));
    let mut o = options(&server);
    o.retry_after_max = Duration::from_millis(300);
    let start = Instant::now();
    let _: Value = Client::new(o).unwrap().get_json("/api", &[]).unwrap();
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());

    let now = SystemTime::now();
    let date = httpdate::fmt_http_date(now + Duration::from_secs(5));
    let wait = parse_retry_after(&date, now).unwrap();
    assert!(wait > Duration::from_secs(3) && wait <= Duration::from_secs(5), "{wait:?}");
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("2.5", now), Some(Duration::from_millis(2500)));
    assert_eq!(parse_retry_after("soon", now), None);
}

#[test]
fn a_silent_server_times_out_and_says_which_key_to_raise() {
    let server = MockServer::start(|_| Reply::json(200, &json!({})).delayed(Duration::from_secs(3)));
    let mut o = options(&server);
    o.timeout = Duration::from_millis(300);
    o.max_retries = 1;
    let start = Instant::now();
    let e = Client::new(o).unwrap().get_json::<Value>("/api", &[]).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!((e.kind, e.code()), (ErrorKind::Network, Code::SourceUnreachable));
    assert!(e.to_string().contains("vaults.kb.sources.wiki.timeout_s"), "{e}");
    assert_eq!(server.requests().len(), 2, "retried once");
}

#[test]
fn an_answer_cut_off_mid_body_is_retried() {
    let body = json!({"results": (0..50).map(|i| json!({"id": i})).collect::<Vec<_>>()});
    let whole = body.clone();
    let (server, seen) = flaky(1, move || Reply::json(200, &whole).cut_after(40));
    let v: Value = Client::new(options(&server)).unwrap().get_json("/api", &[]).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(seen.load(Ordering::SeqCst), 2);

    let (server, _) = flaky(usize::MAX, move || Reply::json(200, &body).cut_after(40));
    let e = Client::new(options(&server)).unwrap().get_json::<Value>("/api", &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network, "{e}");
    assert!(e.detail.contains("cut off"), "{e}");
}

#[test]
fn refusals_say_what_to_check_and_are_not_retried() {
    let server = MockServer::start(|r| match r.path.as_str() {
        "/401" => Reply::json(401, &json!({"errorMessages": ["You are not authenticated."], "errors": {}})),
        "/403" => Reply::json(403, &json!({"statusCode": 403, "message": "Not permitted to view space"})),
        "/404" => Reply::json(404, &json!({"errors": [{"status": 404, "title": "Not Found", "detail": null}]})),
        "/400" => Reply::json(400, &json!({"errorMessages": ["Error in the JQL Query"], "errors": {}})),
        "/302" => Reply::text(302, "").header("Location", "https://wiki.example/login"),
        _ => Reply::text(200, "<html>not json</html>"),
    });
    let mut o = options(&server);
    o.hints.unauthorized = "check email and api_token".into();
    o.hints.forbidden = "give the account permission on the space".into();
    o.hints.not_found = "check base_url and space".into();
    let client = Client::new(o).unwrap();
    let get = |p: &str| client.get_json::<Value>(p, &[]).unwrap_err();
    let e = get("/401");
    assert_eq!((e.kind, e.code()), (ErrorKind::Unauthorized, Code::SourceRefused));
    assert!(e.to_string().contains("You are not authenticated") && e.to_string().contains("api_token"), "{e}");
    let e = get("/403");
    assert_eq!(e.kind, ErrorKind::Forbidden);
    assert!(e.to_string().contains("Not permitted") && e.to_string().contains("permission on the space"), "{e}");
    let e = get("/404");
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.to_string().contains("Not Found") && e.to_string().contains("base_url and space"), "{e}");
    let e = get("/400");
    assert_eq!(e.kind, ErrorKind::Rejected);
    assert!(e.to_string().contains("JQL"), "{e}");
    let e = get("/302");
    assert!(e.to_string().contains("https://wiki.example/login") && e.to_string().contains(".base_url"), "{e}");
    let e = get("/html");
    assert_eq!((e.kind, e.code()), (ErrorKind::BadAnswer, Code::SourceRefused));
    assert_eq!(server.requests().len(), 6, "none was retried");
}

#[test]
fn a_refused_connection_is_a_network_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut o = ClientOptions::new("Wiki", &url, "vaults.kb.sources.wiki");
    o.max_retries = 1;
    o.backoff_min = Duration::from_millis(1);
    let e = Client::new(o).unwrap().get_json::<Value>("/api", &[]).unwrap_err();
    assert_eq!((e.kind, e.code()), (ErrorKind::Network, Code::SourceUnreachable), "{e}");
    assert!(e.fix.contains("network path"), "{e}");
}

#[test]
fn the_rate_limit_spaces_requests() {
    let server = MockServer::start(|_| Reply::json(200, &json!({})));
    let mut o = options(&server);
    o.requests_per_minute = 600;
    let client = Client::new(o).unwrap();
    let start = Instant::now();
    for _ in 0..4 {
        let _: Value = client.get_json("/api", &[]).unwrap();
    }
    assert!(start.elapsed() >= Duration::from_millis(290), "{:?}", start.elapsed());
}

#[test]
fn credentials_go_in_the_header_only() {
    let server = MockServer::start(|r| {
        Reply::json(401, &json!({"message": format!("bad token {}", r.header("authorization").unwrap_or(""))}))
    });
    let mut o = options(&server);
    o.auth = Auth::Basic { user: "ada@example.com".into(), secret: "s3cret-token".into() };
    let e = Client::new(o.clone()).unwrap().get_json::<Value>("/api", &[]).unwrap_err();
    let header = server.requests()[0].header("authorization").unwrap().to_string();
    let expected = base64::engine::general_purpose::STANDARD.encode("ada@example.com:s3cret-token");
    assert_eq!(header, format!("Basic {expected}"));
    assert!(!format!("{o:?}").contains("s3cret"), "{o:?}");
    assert!(!e.to_string().contains("s3cret-token"), "{e}");

    o.auth = Auth::Bearer("pat-s3cret".into());
    let e = Client::new(o.clone()).unwrap().post_json::<Value>("/api", &json!({"jql": "x"})).unwrap_err();
    assert!(!e.to_string().contains("pat-s3cret"), "{e}");
    assert!(e.to_string().contains("***"), "{e}");
    let last = server.requests().pop().unwrap();
    assert_eq!((last.method.as_str(), last.json()["jql"].as_str()), ("POST", Some("x")));
    assert!(!format!("{:?}", Client::new(o).unwrap()).contains("pat-s3cret"));
}

#[test]
fn an_unreadable_ca_file_names_the_key() {
    let mut o = ClientOptions::new("Wiki", "https://wiki.example", "vaults.kb.sources.wiki");
    o.ca_file = Some("/nonexistent/ca.pem".into());
    let e = Client::new(o).unwrap_err();
    assert_eq!((e.kind, e.code()), (ErrorKind::Config, Code::SourceRefused));
    assert!(e.to_string().contains("vaults.kb.sources.wiki.ca_file"), "{e}");
}

#[test]
fn pages_come_with_headers_304_and_redirects() {
    let server = MockServer::start(|req| match req.path.as_str() {
        "/page" if req.header("if-none-match") == Some("\"v1\"") => Reply::text(304, ""),
        "/page" => Reply::text(200, "<html>hi</html>").header("ETag", "\"v1\""),
        "/moved" => Reply::text(301, "").header("Location", "/page"),
        _ => Reply::text(404, "no"),
    });
    let mut o = options(&server);
    o.user_agent = Some("docs-bot/2".into());
    let client = Client::new(o).unwrap();
    let page = client.get_page("/page", &[]).unwrap();
    assert_eq!(
        (page.status, page.body.as_slice(), page.header("ETag")),
        (200, &b"<html>hi</html>"[..], Some("\"v1\""))
    );
    let again = client.get_page("/page", &[("If-None-Match", "\"v1\"")]).unwrap();
    assert_eq!((again.status, again.body.len()), (304, 0));
    let moved = client.get_page("/moved", &[]).unwrap();
    assert_eq!((moved.status, moved.header("location")), (301, Some("/page")));
    assert_eq!(client.get_page("/nope", &[]).unwrap_err().kind, ErrorKind::NotFound);
    let first = &server.requests()[0];
    assert_eq!(first.header("user-agent"), Some("docs-bot/2"));
    assert!(first.header("accept").is_some_and(|a| a.starts_with("text/html")));
}

#[test]
fn files_follow_redirects_keep_credentials_home_and_stop_past_the_limit() {
    // Another host (another port): where a download is sent, with a token in its URL.
    let media = MockServer::start(|req| match req.path.as_str() {
        "/file/binary" if req.param("token") == Some("t1") => Reply::text(200, "0123456789"),
        _ => Reply::text(403, "no token"),
    });
    let media_url = media.url();
    let server = MockServer::start(move |req| match req.path.as_str() {
        "/wiki/download/a.txt" => Reply::text(302, "").header("Location", &format!("{media_url}/file/binary?token=t1")),
        "/wiki/download/b.txt" => Reply::text(302, "").header("Location", "../files/b.txt"),
        "/wiki/files/b.txt" => Reply::text(200, "bee"),
        "/loop" => Reply::text(302, "").header("Location", "/loop"),
        _ => Reply::text(404, "no"),
    });
    let mut o = options(&server);
    o.auth = Auth::Bearer("pat-s3cret".into());
    let client = Client::new(o).unwrap();

    let file = client.get_file("/wiki/download/a.txt?version=1", 0).unwrap();
    assert_eq!((file.status, file.body.as_slice()), (200, &b"0123456789"[..]));
    assert_eq!(server.requests()[0].param("version"), Some("1"));
    assert_eq!(server.requests()[0].header("authorization"), Some("Bearer pat-s3cret"));
    assert_eq!(media.requests()[0].header("authorization"), None, "credentials never leave the configured host");

    // Past the limit: one byte over is read, no more.
    let cut = client.get_file("/wiki/download/a.txt", 4).unwrap();
    assert_eq!(cut.body, b"01234");
    assert_eq!(client.get_file("/wiki/download/a.txt", 10).unwrap().body.len(), 10);

    assert_eq!(client.get_file("/wiki/download/b.txt", 0).unwrap().body, b"bee", "relative Location");
    let e = client.get_file("/loop", 0).unwrap_err();
    assert!(e.to_string().contains("redirects"), "{e}");
    assert_eq!(server.hits("/loop"), MAX_REDIRECTS + 1);
    assert_eq!(client.get_file("/nope", 0).unwrap_err().kind, ErrorKind::NotFound);
}

#[test]
fn urls_join_and_origins_compare() {
    assert_eq!(join_url("https://h/a/b?x=1", "c"), "https://h/a/c");
    assert_eq!(join_url("https://h", "c"), "https://h/c");
    assert_eq!(join_url("https://h:8/a/b", "/c?d"), "https://h:8/c?d");
    assert_eq!(join_url("https://h/a", "//m/x"), "https://m/x");
    assert_eq!(join_url("https://h/a", "http://m/x"), "http://m/x");
    assert_eq!(join_url("https://h/a/b/c", "../d?e=../f"), "https://h/a/d?e=../f");
    assert_eq!(join_url("https://h/a", "/../../x/./y/.."), "https://h/x/");
    assert_eq!(origin("https://H/x"), origin("https://h:443/y"));
    assert_ne!(origin("https://h/x"), origin("http://h/x"));
    assert_ne!(origin("https://h/x"), origin("https://h.evil/x"));
    assert_eq!(without_query("https://h/x?token=s#f"), "https://h/x");
}

#[test]
fn model_error_messages_are_extracted_from_json_bodies() {
    assert_eq!(
        model_error_message(r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error"}}"#),
        "Incorrect API key"
    );
    assert_eq!(model_error_message(r#"{"error":"model \"x\" not found"}"#), "model \"x\" not found");
    assert_eq!(model_error_message("Bad Gateway"), "Bad Gateway");
}
