//! The SMTP mailer against a mock server in the test: it upgrades with STARTTLS to a
//! certificate from a CA made here (trusted through `ca_file`), logs in with AUTH PLAIN and
//! delivers a dot-stuffed message; a server without STARTTLS, a certificate it does not trust,
//! refused credentials and a closed port each fail with the setting to fix.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use trove_config::{SmtpConfig, SmtpTls};
use trove_engine::mail::{Mailer, SmtpMailer};

/// What the mock server offers.
#[derive(Clone, Copy)]
struct Mock {
    starttls: bool,
    password_ok: bool,
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
fn serve(listener: TcpListener, mock: Mock, tls: Arc<rustls::ServerConfig>, out: mpsc::Sender<String>) {
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

struct Setup {
    _dir: tempfile::TempDir,
    ca_file: std::path::PathBuf,
    server: Arc<rustls::ServerConfig>,
}

fn setup() -> Setup {
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

fn config(port: u16, ca_file: Option<&std::path::Path>) -> SmtpConfig {
    SmtpConfig {
        host: "localhost".into(),
        port,
        tls: SmtpTls::Starttls,
        username: Some("ada".into()),
        password: Some("s3cret".into()),
        ca_file: ca_file.map(|p| p.to_path_buf()),
        timeout_s: 5,
    }
}

/// Sends one mail to a mock server; the mailer's result and what the server received.
fn send(s: &Setup, mock: Mock, ca: bool) -> (Result<(), String>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let tls = s.server.clone();
    std::thread::spawn(move || serve(listener, mock, tls, tx));
    let mailer =
        SmtpMailer::new(&config(port, ca.then_some(s.ca_file.as_path())), "Trove <trove@example.com>").unwrap();
    let result = mailer
        .send("eve@example.com", "Reset your Trove password", "Hello Eve,\n.a line starting with a dot\nbye\n")
        .map_err(|e| e.to_string());
    (result, rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap_or_default())
}

#[test]
fn mail_goes_out_over_starttls_with_a_login() {
    let s = setup();
    let (result, got) = send(&s, Mock { starttls: true, password_ok: true }, true);
    result.unwrap();
    assert!(got.contains("MAIL FROM:<trove@example.com>") && got.contains("RCPT TO:<eve@example.com>"), "{got}");
    assert!(got.contains("Subject: Reset your Trove password\r\n"), "{got}");
    assert!(got.contains("\r\n..a line starting with a dot\r\n"), "dot-stuffed: {got}");
}

#[test]
fn smtp_failures_name_the_setting_to_fix() {
    let s = setup();
    let (result, _) = send(&s, Mock { starttls: false, password_ok: true }, true);
    let e = result.unwrap_err();
    assert!(e.contains("does not offer STARTTLS") && e.contains("mail.smtp.tls"), "{e}");

    let (result, _) = send(&s, Mock { starttls: true, password_ok: true }, false);
    let e = result.unwrap_err();
    assert!(e.contains("mail.smtp.ca_file"), "a private CA without ca_file: {e}");

    let (result, _) = send(&s, Mock { starttls: true, password_ok: false }, true);
    let e = result.unwrap_err();
    assert!(e.contains("535") && e.contains("mail.smtp.username"), "{e}");

    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mailer = SmtpMailer::new(&config(closed, None), "trove@example.com").unwrap();
    let e = mailer.send("eve@example.com", "s", "b").unwrap_err().to_string();
    assert!(e.contains("cannot connect") && e.contains("mail.smtp.host"), "{e}");
    assert_eq!(
        trove_types::HasCode::code(&mailer.send("eve@example.com", "s", "b").unwrap_err()),
        trove_types::Code::MailFailed
    );
}
