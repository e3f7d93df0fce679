//! The REST embedder against a local HTTP server that speaks the OpenAI, Azure and Ollama
//! embeddings APIs, scripted per request: batching, 429 with Retry-After, 500 then success, a
//! timeout then success, 401 and 404 without retry, a wrong dimension refused, retries running
//! out, a proxy from the environment honoured, and a private CA trusted only through
//! `llm.tls.ca_file`.

#[path = "support/embeddings_mock.rs"]
mod mock;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use mock::{Mock, Reply, Seen};

use trove_embed::{EmbedError, Embedder, RestEmbedder, RestOptions, RestProtocol, proxy_from_env};
use trove_types::error::{Code, HasCode};

const KEY: &str = "sk-test-0123456789abcdef";

fn options(base_url: String, protocol: RestProtocol, dim: usize) -> RestOptions {
    RestOptions {
        provider: match protocol {
            RestProtocol::OpenAi => "openai",
            RestProtocol::Azure => "azure_openai",
            RestProtocol::Ollama => "ollama",
        }
        .into(),
        protocol,
        base_url,
        api_key: Some(KEY.into()),
        api_version: None,
        model: "text-embedding-3-small".into(),
        dimension: dim,
        batch_size: 2,
        max_input_tokens: 8191,
        timeout: Duration::from_secs(5),
        max_retries: 3,
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        rpm: 0,
        tpm: 0,
        concurrency: 4,
        ca_file: None,
        proxy: None,
    }
}

fn embedder(opts: RestOptions) -> RestEmbedder {
    RestEmbedder::new(opts).unwrap()
}

const TEXTS: [&str; 5] = ["one", "two", "three", "four", "five"];

/// Vector i of a batch from the mock is unit-length along axis (i % dim).
fn assert_axis(v: &[f32], axis: usize) {
    assert!((v[axis] - 1.0).abs() < 1e-6, "expected a unit vector along {axis}: {v:?}");
}

#[test]
fn batches_inputs_keeps_order_and_sends_model_and_key() {
    let mock = Mock::start(false, vec![Reply::Vectors(4)]);
    let e = embedder(options(format!("{}/v1", mock.url()), RestProtocol::OpenAi, 4));
    assert_eq!(e.model_id(), "openai/text-embedding-3-small");
    let out = e.embed(&TEXTS).unwrap();
    assert_eq!(out.len(), 5);
    // Batches of 2, 2 and 1: within each batch, input i is along axis i.
    for (i, v) in out.iter().enumerate() {
        assert_axis(v, i % 2);
    }
    let seen = mock.seen();
    assert_eq!(seen.iter().map(Seen::inputs).collect::<Vec<_>>(), vec![2, 2, 1]);
    assert!(seen[0].line.starts_with("POST /v1/embeddings "), "{}", seen[0].line);
    assert_eq!(seen[0].body["model"], "text-embedding-3-small");
    assert_eq!(seen[0].body["input"][1], "two");
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
}

#[test]
fn a_429_honours_retry_after_then_succeeds() {
    let limited =
        Reply::Status(429, vec![("Retry-After", "7".into())], r#"{"error":{"message":"Rate limit reached"}}"#.into());
    let mock = Mock::start(false, vec![limited, Reply::Vectors(4)]);
    // Waits step a manual clock: the test takes no time, and records what was waited for.
    let (clock, sleep, waits) = trove_http::testing::stepped_time();
    let e = RestEmbedder::with_time(options(mock.url(), RestProtocol::OpenAi, 4), clock, sleep).unwrap();
    let out = e.embed(&["only"]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(*waits.lock().unwrap(), vec![Duration::from_secs(7)], "Retry-After: 7 was not honoured");
    assert_eq!(mock.seen().len(), 2);
}

#[test]
fn a_500_is_retried_then_succeeds() {
    let mock = Mock::start(false, vec![Reply::Status(500, vec![], "upstream exploded".into()), Reply::Vectors(4)]);
    let e = embedder(options(mock.url(), RestProtocol::OpenAi, 4));
    assert_eq!(e.embed(&["a", "b"]).unwrap().len(), 2);
    assert_eq!(mock.seen().len(), 2);
}

#[test]
fn a_timeout_is_retried_then_succeeds() {
    let mock = Mock::start(false, vec![Reply::Slow(Duration::from_secs(3), 4), Reply::Vectors(4)]);
    let mut opts = options(mock.url(), RestProtocol::OpenAi, 4);
    opts.timeout = Duration::from_millis(500);
    let e = embedder(opts);
    let start = Instant::now();
    assert_eq!(e.embed(&["a"]).unwrap().len(), 1);
    assert!(start.elapsed() < Duration::from_secs(3), "the slow answer was awaited: {:?}", start.elapsed());
    assert_eq!(mock.seen().len(), 2);
}

#[test]
fn a_401_is_not_retried_and_names_the_key_setting_without_the_key() {
    let body = format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}"}}}}"#);
    let mock = Mock::start(false, vec![Reply::Status(401, vec![], body)]);
    let e = embedder(options(mock.url(), RestProtocol::OpenAi, 4));
    let err = e.embed(&["a"]).unwrap_err();
    assert_eq!(err.code(), Code::EmbedderUnauthorized, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("llm.api_key") && msg.contains("Incorrect API key"), "{msg}");
    assert!(!msg.contains(KEY), "the key leaked into the message: {msg}");
    assert!(!format!("{e:?}").contains(KEY));
    assert_eq!(mock.seen().len(), 1, "a 401 must not be retried");
}

#[test]
fn a_404_is_not_retried_and_points_at_url_and_model() {
    let mock = Mock::start(
        false,
        vec![Reply::Status(404, vec![], r#"{"error":{"message":"The model does not exist"}}"#.into())],
    );
    let e = embedder(options(mock.url(), RestProtocol::OpenAi, 4));
    let err = e.embed(&["a"]).unwrap_err();
    assert_eq!(err.code(), Code::EmbedderRejected);
    let msg = err.to_string();
    assert!(
        msg.contains("llm.base_url") && msg.contains("text-embedding-3-small") && msg.contains("does not exist"),
        "{msg}"
    );
    assert_eq!(mock.seen().len(), 1);
}

#[test]
fn a_wrong_dimension_is_refused() {
    let mock = Mock::start(false, vec![Reply::Vectors(3)]);
    let e = embedder(options(mock.url(), RestProtocol::OpenAi, 4));
    let err = e.embed(&["a"]).unwrap_err();
    assert!(matches!(err, EmbedError::Dimension { got: 3, want: 4, .. }), "{err}");
    assert_eq!(err.code(), Code::EmbedderDimension);
    assert!(err.to_string().contains("vector_size"), "{err}");
}

#[test]
fn retries_run_out_with_the_last_failure_named() {
    let mock = Mock::start(false, vec![Reply::Status(503, vec![], "overloaded".into())]);
    let mut opts = options(mock.url(), RestProtocol::OpenAi, 4);
    opts.max_retries = 2;
    let err = embedder(opts).embed(&["a"]).unwrap_err();
    assert_eq!(err.code(), Code::EmbedderUnavailable);
    assert!(err.to_string().contains("3 time(s)") && err.to_string().contains("overloaded"), "{err}");
    assert_eq!(mock.seen().len(), 3);
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed again
    let mut opts = options(format!("http://127.0.0.1:{port}"), RestProtocol::OpenAi, 4);
    opts.max_retries = 1;
    let err = embedder(opts).embed(&["a"]).unwrap_err();
    assert_eq!(err.code(), Code::EmbedderUnavailable, "{err}");
    assert!(err.to_string().contains("2 time(s)"), "{err}");
}

#[test]
fn ollama_protocol() {
    let mock = Mock::start(true, vec![Reply::Vectors(4)]);
    let mut opts = options(mock.url(), RestProtocol::Ollama, 4);
    opts.api_key = None;
    opts.model = "nomic-embed-text".into();
    let e = embedder(opts);
    let out = e.embed(&["a", "b"]).unwrap();
    assert_axis(&out[0], 0);
    assert_axis(&out[1], 1);
    let seen = mock.seen();
    assert!(seen[0].line.starts_with("POST /api/embed "), "{}", seen[0].line);
    assert_eq!(seen[0].body["model"], "nomic-embed-text");
    assert_eq!(seen[0].header("authorization"), None);
}

#[test]
fn azure_protocol() {
    let mock = Mock::start(false, vec![Reply::Vectors(4)]);
    let mut opts = options(mock.url(), RestProtocol::Azure, 4);
    opts.model = "my-deployment".into();
    opts.api_version = Some("2024-10-21".into());
    embedder(opts).embed(&["a"]).unwrap();
    let seen = mock.seen();
    assert!(
        seen[0].line.starts_with("POST /openai/deployments/my-deployment/embeddings?api-version=2024-10-21 "),
        "{}",
        seen[0].line
    );
    assert_eq!(seen[0].header("api-key"), Some(KEY));
    assert_eq!(seen[0].header("authorization"), None);
}

#[test]
fn the_proxy_from_the_environment_is_used() {
    // The mock plays the proxy: the client opens a tunnel to the target through it.
    let proxy = Mock::start(false, vec![Reply::Vectors(4)]);
    let target = "http://embeddings.example.invalid/v1";
    let vars = [("HTTP_PROXY", proxy.url()), ("NO_PROXY", "localhost".to_string())];
    let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let mut opts = options(target.into(), RestProtocol::OpenAi, 4);
    opts.proxy = proxy_from_env(target, lookup);
    assert_eq!(opts.proxy.as_deref(), Some(proxy.url().as_str()));
    embedder(opts).embed(&["a"]).unwrap();
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].line.starts_with("CONNECT embeddings.example.invalid:80 "), "{}", seen[0].line);
    assert!(seen[1].line.starts_with("POST /v1/embeddings "), "{}", seen[1].line);
}

#[test]
fn an_unreadable_ca_bundle_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, "not a certificate").unwrap();
    let mut opts = options("https://x.invalid".into(), RestProtocol::OpenAi, 4);
    opts.ca_file = Some(path);
    let err = RestEmbedder::new(opts).unwrap_err();
    assert_eq!(err.code(), Code::ConfigInvalid);
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}

#[test]
fn a_private_ca_is_trusted_through_ca_file_and_only_then() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "Corp Test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    let server = Mock::start_tls(vec![Reply::Vectors(4)], &leaf.pem(), &key.serialize_pem());
    let url = format!("https://{}/v1", server.addr);

    // The built-in roots do not know the CA: refused at once, with the setting to fix.
    let err = embedder(options(url.clone(), RestProtocol::OpenAi, 4)).embed(&["a"]).unwrap_err();
    assert!(err.to_string().contains("llm.tls.ca_file"), "{err}");
    assert!(server.seen().is_empty(), "a request got through an untrusted connection");

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("corp-ca.pem");
    std::fs::write(&bundle, ca.pem()).unwrap();
    let mut opts = options(url, RestProtocol::OpenAi, 4);
    opts.ca_file = Some(bundle);
    let vectors = embedder(opts).embed(&["a", "b"]).unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(server.seen()[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
}
