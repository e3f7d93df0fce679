//! HTTPS and mutual TLS with certificates made in the test (rcgen): the handshake succeeds and
//! requests are answered; plain HTTP on the TLS port gets no answer; an expired certificate or
//! a key that is not the certificate's is refused at startup with the file named; with client
//! authentication on, a client without a certificate (or with one from another authority) is
//! refused at the handshake and one signed by the configured authority is served.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::Server;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use trove_config::TlsConfig;

const CONFIG: &str = "embedder:\n  auto_install: false\nvaults:\n  notes:\n    sources: {}\n";

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// A leaf certificate and key (PEM) for `names`, valid for `days` from `start_days_ago`.
    fn leaf(&self, names: &[&str], start_days_ago: i64, days: i64) -> (String, String) {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(start_days_ago);
        params.not_after = params.not_before + time::Duration::days(days);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A server with TLS files written into its workspace.
fn start(ca: &Ca, client_ca: Option<&Ca>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], 1, 30);
    write(dir.path(), "cert.pem", &cert);
    write(dir.path(), "key.pem", &key);
    let client_ca_file = client_ca.map(|c| write(dir.path(), "clients.pem", &c.issuer.pem()));
    let tls = TlsConfig { cert_file: "cert.pem".into(), key_file: "key.pem".into(), client_ca_file };
    let loaded = trove_server::tls::load(&tls, dir.path()).unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    let ws = trove_config::Workspace::load(Some(dir.path()), None).unwrap();
    let engine = trove_engine::Engine::open(ws, trove_engine::OpenMode::Write, "test").unwrap();
    Server::launch(dir, engine, move |o| o.tls = Some(loaded))
}

/// `GET /live` over TLS trusting `ca`, presenting `client` (cert and key PEM) if given.
fn get_live(s: &Server, ca: &Ca, client: Option<&(String, String)>) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>().unwrap();
            builder.with_client_auth_cert(certs, PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap()).unwrap()
        }
    };
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
    let tcp = TcpStream::connect(s.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /live HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    tls.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[test]
fn https_is_served_and_plain_http_is_not() {
    let ca = Ca::new("Test CA");
    let s = start(&ca, None);
    let answer = get_live(&s, &ca, None).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Plain HTTP to the TLS port: no HTTP answer.
    let mut tcp = TcpStream::connect(s.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /live HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = tcp.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"), "plain HTTP was answered");
    // A client that does not trust the server's authority refuses it.
    assert!(get_live(&s, &Ca::new("Other CA"), None).is_err());
}

#[test]
fn mutual_tls_refuses_clients_without_a_certificate_from_the_authority() {
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let s = start(&server_ca, Some(&client_ca));
    let err = get_live(&s, &server_ca, None).unwrap_err();
    assert!(!err.is_empty(), "refused at the handshake");
    let stranger = Ca::new("Stranger CA").leaf(&["client"], 1, 30);
    assert!(get_live(&s, &server_ca, Some(&stranger)).is_err(), "a certificate from another authority");
    let client = client_ca.leaf(&["client"], 1, 30);
    let answer = get_live(&s, &server_ca, Some(&client)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn bad_certificate_files_are_refused_naming_the_file_and_the_problem() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (expired, expired_key) = ca.leaf(&["localhost"], 60, 30);
    let (good, good_key) = ca.leaf(&["localhost"], 1, 30);
    let (_, other_key) = ca.leaf(&["localhost"], 1, 30);
    write(d, "expired.pem", &expired);
    write(d, "expired.key", &expired_key);
    write(d, "good.pem", &good);
    write(d, "good.key", &good_key);
    write(d, "other.key", &other_key);
    write(d, "empty.pem", "not a certificate\n");
    let load = |cert: &str, key: &str, ca_file: Option<&str>| {
        let tls = TlsConfig { cert_file: cert.into(), key_file: key.into(), client_ca_file: ca_file.map(Into::into) };
        trove_server::tls::load(&tls, d).map(|_| ()).unwrap_err().to_string()
    };
    let e = load("expired.pem", "expired.key", None);
    assert!(e.contains("expired.pem") && e.contains("expired at"), "{e}");
    let e = load("missing.pem", "good.key", None);
    assert!(e.contains("missing.pem") && e.contains("cannot read"), "{e}");
    let e = load("empty.pem", "good.key", None);
    assert!(e.contains("empty.pem") && e.contains("BEGIN CERTIFICATE"), "{e}");
    let e = load("good.pem", "other.key", None);
    assert!(e.contains("other.key") && e.contains("does not go with the certificate"), "{e}");
    let e = load("good.pem", "good.key", Some("empty.pem"));
    assert!(e.contains("empty.pem"), "{e}");
    let tls = TlsConfig { cert_file: "good.pem".into(), key_file: "good.key".into(), client_ca_file: None };
    assert!(trove_server::tls::load(&tls, d).is_ok());
}
