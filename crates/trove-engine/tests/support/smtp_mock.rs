//! A mock SMTP server for tests: one connection, optionally upgraded with STARTTLS to a
//! certificate from a CA made here (its PEM in `Setup::ca_file`), AUTH PLAIN accepting
//! `ada` / `s3cret` once encrypted, and what was delivered (envelope and message) sent back.
//! Included by path from the tests of several crates.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the mock server offers.
#[derive(Clone, Copy)]
pub struct Mock {
    pub starttls: bool,
    pub password_ok: bool,
}

enum Next {
    Upgrade,
    Done,
}

fn reply<S: Read + Write>(conn: &mut BufReader<S>, text: &str) {
    let s = conn.get_mut();
    let _ = s.write_all(text.as_bytes());
    let _ = s.flush();
}

/// Answers commands until QUIT, a closed connection, or STARTTLS (then the caller upgrades).
fn converse<S: Read + Write>(conn: &mut BufReader<S>, mock: Mock, secure: bool, transcript: &mut String) -> Next {
    let mut in_data = false;
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).unwrap_or(0) == 0 {
            return Next::Done;
        }
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                reply(conn, "250 queued\r\n");
            } else {
                transcript.push_str(&line);
            }
            continue;
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            reply(
                conn,
                if mock.starttls && !secure {
                    "250-mock\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"
                } else {
                    "250-mock\r\n250 AUTH PLAIN\r\n"
                },
            );
        } else if upper.starts_with("STARTTLS") {
            reply(conn, "220 go ahead\r\n");
            return Next::Upgrade;
        } else if let Some(b64) = upper.strip_prefix("AUTH PLAIN ") {
            let given = base64::engine::general_purpose::STANDARD.decode(line[line.len() - b64.len()..].trim());
            let ok = secure && mock.password_ok && given.is_ok_and(|g| g == b"\0ada\0s3cret");
            reply(conn, if ok { "235 ok\r\n" } else { "535 5.7.8 bad credentials\r\n" });
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RCPT TO") {
            transcript.push_str(&line);
            reply(conn, "250 ok\r\n");
        } else if upper.starts_with("DATA") {
            in_data = true;
            reply(conn, "354 go\r\n");
        } else if upper.starts_with("QUIT") {
            reply(conn, "221 bye\r\n");
            return Next::Done;
        } else {
            reply(conn, "500 what\r\n");
        }
    }
}

/// Serves one connection; sends what was delivered (envelope and message).
pub fn serve(listener: TcpListener, mock: Mock, tls: Arc<rustls::ServerConfig>, out: mpsc::Sender<String>) {
    let (tcp, _) = listener.accept().unwrap();
    let mut plain = BufReader::new(tcp);
    reply(&mut plain, "220 mock ESMTP\r\n");
    let mut transcript = String::new();
    if let Next::Upgrade = converse(&mut plain, mock, false, &mut transcript) {
        let conn = rustls::ServerConnection::new(tls).unwrap();
        let mut secure = BufReader::new(rustls::StreamOwned::new(conn, plain.into_inner()));
        converse(&mut secure, mock, true, &mut transcript);
    }
    let _ = out.send(transcript);
}

pub struct Setup {
    _dir: tempfile::TempDir,
    pub ca_file: std::path::PathBuf,
    pub server: Arc<rustls::ServerConfig>,
}

pub fn setup() -> Setup {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "Test mail CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert.pem().as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
    Setup { _dir: dir, ca_file, server: Arc::new(server) }
}

/// Serves one connection on a free port in the background; the port and what it received.
pub fn start(s: &Setup, mock: Mock) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let tls = s.server.clone();
    std::thread::spawn(move || serve(listener, mock, tls, tx));
    (port, rx)
}
