//! The chat client against the fake OpenAI-compatible server on 127.0.0.1:0: whole and
//! streamed answers, 429 with Retry-After, 500 then success, a stall past the time limit, 401,
//! 404, and a dropped stream that stops the generation. Waits for time (backoff, Retry-After)
//! step a manual clock instead of sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use trove_chat::testing::{FakeChat, Script};
use trove_chat::{ChatClient, ChatError, ChatEvent, ChatModel, ChatOptions, Message};
use trove_clock::ManualClock;
use trove_types::{Code, HasCode};

/// A client of `server` whose waits step a manual clock; the waits it asked for.
fn connect(server: &FakeChat, tune: impl FnOnce(&mut ChatOptions)) -> (ChatClient, Arc<Mutex<Vec<Duration>>>) {
    let mut opts = ChatOptions::new(&server.url(), "fake-model", "llm");
    opts.api_key = Some("sk-secret-key".into());
    opts.timeout = Duration::from_secs(5);
    tune(&mut opts);
    let (clock, sleep, waits) = trove_http::testing::stepped_time();
    (ChatClient::with_time(opts, clock, sleep).unwrap(), waits)
}

fn question() -> Vec<Message> {
    vec![Message::system("Answer briefly."), Message::user("What is Trove?")]
}

#[test]
fn a_whole_answer_comes_with_usage_and_the_request_is_openai_shaped() {
    let server = FakeChat::always(Script::answer(&["Trove ", "is ", "a server."]));
    let (client, _) = connect(&server, |_| {});
    let answer = client.complete(&question()).unwrap();
    assert_eq!(answer.text, "Trove is a server.");
    assert_eq!((answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.estimated), (100, 3, false));
    assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.header("authorization"), Some("Bearer sk-secret-key"));
    let body = request.json();
    assert_eq!(body["model"], "fake-model");
    assert_eq!(body["stream"], false);
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "What is Trove?");
    assert_eq!(client.model_id(), "custom/fake-model");
}

#[test]
fn usage_is_estimated_when_the_server_sends_none() {
    let server = FakeChat::always(Script::answer(&["abcdef"]).without_usage());
    let (client, _) = connect(&server, |_| {});
    let usage = client.complete(&question()).unwrap().usage;
    assert!(usage.estimated);
    assert_eq!(usage.completion_tokens, 2);
    assert!(usage.prompt_tokens > 0);
}

#[test]
fn a_streamed_answer_yields_its_pieces_then_usage() {
    let server = FakeChat::always(Script::answer(&["Trove ", "is ", "a server."]));
    let (client, _) = connect(&server, |_| {});
    let events: Vec<ChatEvent> = client.stream(&question()).unwrap().map(Result::unwrap).collect();
    let body = server.requests()[0].json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[0], ChatEvent::Delta("Trove ".into()));
    assert_eq!(events[2], ChatEvent::Delta("a server.".into()));
    match &events[3] {
        ChatEvent::Finished { usage, finish_reason } => {
            assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.estimated), (100, 3, false));
            assert_eq!(finish_reason.as_deref(), Some("stop"));
        }
        other => panic!("expected the end, got {other:?}"),
    }
}

#[test]
fn a_429_waits_for_its_retry_after_then_succeeds() {
    let server = FakeChat::start(|_, n| match n {
        0 => Script::status(429, "Rate limit reached").header("Retry-After", "7"),
        _ => Script::answer(&["ok"]),
    });
    let (client, waits) = connect(&server, |_| {});
    assert_eq!(client.complete(&question()).unwrap().text, "ok");
    assert_eq!(server.calls(), 2);
    assert_eq!(*waits.lock().unwrap(), vec![Duration::from_secs(7)], "Retry-After: 7 is the wait");
}

#[test]
fn a_429_that_never_ends_is_chat_throttled() {
    let server = FakeChat::always(Script::status(429, "slow down").header("Retry-After", "1"));
    let (client, waits) = connect(&server, |o| o.max_retries = 2);
    let err = client.complete(&question()).unwrap_err();
    assert_eq!(err.code(), Code::ChatThrottled, "{err}");
    assert!(err.to_string().contains("3 attempts") && err.to_string().contains("llm.rate_limits"), "{err}");
    assert_eq!(server.calls(), 3);
    assert_eq!(waits.lock().unwrap().len(), 2);
}

#[test]
fn a_500_is_retried_after_a_backoff() {
    let server = FakeChat::start(|_, n| match n {
        0 => Script::status(500, "boom"),
        _ => Script::answer(&["fine"]),
    });
    let (client, waits) = connect(&server, |o| {
        o.backoff_min = Duration::from_secs(2);
        o.backoff_max = Duration::from_secs(2);
    });
    assert_eq!(client.complete(&question()).unwrap().text, "fine");
    assert_eq!(server.calls(), 2);
    let waits = waits.lock().unwrap();
    assert_eq!(waits.len(), 1);
    assert!(waits[0] <= Duration::from_secs(2), "full jitter below the ceiling: {waits:?}");
}

#[test]
fn failures_that_retrying_cannot_fix_are_not_retried() {
    let server = FakeChat::always(Script::status(401, "Incorrect API key provided: sk-secret-key"));
    let (client, _) = connect(&server, |_| {});
    let err = client.complete(&question()).unwrap_err();
    assert_eq!(err.code(), Code::ChatUnauthorized);
    assert!(err.to_string().contains("llm.api_key"), "{err}");
    assert!(!err.to_string().contains("sk-secret-key"), "the key leaked: {err}");
    assert_eq!(server.calls(), 1);

    let server = FakeChat::always(Script::status(404, "model not found"));
    let (client, _) = connect(&server, |_| {});
    let err = client.stream(&question()).unwrap_err();
    assert_eq!(err.code(), Code::ChatModelNotFound);
    assert!(err.to_string().contains("fake-model") && err.to_string().contains("llm.models.chat"), "{err}");

    let server = FakeChat::always(Script::status(400, "context length exceeded"));
    let (client, _) = connect(&server, |_| {});
    let err = client.complete(&question()).unwrap_err();
    assert_eq!(err.code(), Code::ChatRejected);
    assert!(err.to_string().contains("context length exceeded"), "{err}");
    assert_eq!(server.calls(), 1);
}

#[test]
fn a_server_that_does_not_answer_in_time_is_chat_timeout() {
    let server = FakeChat::always(Script::status(200, "").stalled(0, Duration::from_secs(30)));
    let (client, _) = connect(&server, |o| {
        o.timeout = Duration::from_millis(300);
        o.max_retries = 1;
    });
    let err = client.complete(&question()).unwrap_err();
    assert_eq!(err.code(), Code::ChatTimeout, "{err}");
    assert!(err.to_string().contains("did not answer") && err.to_string().contains("llm.request.timeout_s"), "{err}");
    assert_eq!(server.calls(), 2, "a time limit is retried");
}

#[test]
fn a_stream_that_stalls_mid_answer_ends_with_chat_timeout() {
    let server = FakeChat::always(Script::answer(&["one ", "two ", "three"]).stalled(1, Duration::from_secs(30)));
    let (client, _) = connect(&server, |o| o.timeout = Duration::from_millis(300));
    let mut stream = client.stream(&question()).unwrap();
    assert_eq!(stream.next().unwrap().unwrap(), ChatEvent::Delta("one ".into()));
    let err = stream.next().unwrap().unwrap_err();
    assert_eq!(err.code(), Code::ChatTimeout, "{err}");
    assert!(err.to_string().contains("stalled mid-answer"), "{err}");
    assert!(stream.next().is_none(), "an error ends the stream");
}

#[test]
fn dropping_a_stream_stops_the_generation_upstream() {
    let tokens: Vec<String> = (0..2000).map(|i| format!("t{i} ")).collect();
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let server = FakeChat::always(Script::answer(&refs).paced(Duration::from_millis(2)));
    let (client, _) = connect(&server, |_| {});
    let mut stream = client.stream(&question()).unwrap();
    assert!(matches!(stream.next(), Some(Ok(ChatEvent::Delta(_)))));
    assert!(matches!(stream.next(), Some(Ok(ChatEvent::Delta(_)))));
    drop(stream);
    // The server notices at its next writes; this waits for real I/O, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.abandoned() == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(server.abandoned(), 1, "the server kept generating for a client that left");
    assert!(server.streamed() < 2000, "streamed {}", server.streamed());
}

#[test]
fn azure_posts_to_the_deployment_with_its_api_key_header() {
    let server = FakeChat::always(Script::answer(&["hi"]));
    let mut opts = ChatOptions::new(&server.url(), "my-deployment", "chat_models.azure");
    opts.protocol = trove_chat::ChatProtocol::Azure;
    opts.api_key = Some("azure-key".into());
    opts.api_version = Some("2024-06-01".into());
    let client = ChatClient::new(opts).unwrap();
    assert_eq!(client.complete(&question()).unwrap().text, "hi");
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/openai/deployments/my-deployment/chat/completions");
    assert_eq!(request.param("api-version"), Some("2024-06-01"));
    assert_eq!(request.header("api-key"), Some("azure-key"));
    assert!(request.json().get("model").is_none());
}

#[test]
fn an_unreachable_server_is_chat_unavailable_and_opens_the_breaker() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut opts = ChatOptions::new(&format!("http://127.0.0.1:{port}/v1"), "m", "llm");
    opts.max_retries = 5;
    let clock = ManualClock::at_ms(0);
    let c = clock.clone();
    let client = ChatClient::with_time(opts, clock, Arc::new(move |d: Duration| c.advance(d))).unwrap();
    let err = client.complete(&question()).unwrap_err();
    assert_eq!(err.code(), Code::ChatUnavailable, "{err}");
    let err: ChatError = client.complete(&question()).unwrap_err();
    assert!(err.to_string().contains("failures in a row"), "the breaker refuses at once: {err}");
}
