//! The SMTP mailer against a mock server in the test: it upgrades with STARTTLS to a
//! certificate from a CA made here (trusted through `ca_file`), logs in with AUTH PLAIN and
//! delivers a dot-stuffed message; a server without STARTTLS, a certificate it does not trust,
//! refused credentials and a closed port each fail with the setting to fix.

#[path = "support/smtp_mock.rs"]
mod smtp_mock;

use std::net::TcpListener;

use smtp_mock::{Mock, Setup, setup, start};
use trove_config::{SmtpConfig, SmtpTls};
use trove_engine::mail::{Mailer, SmtpMailer};

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
    let (port, rx) = start(s, mock);
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

#[test]
fn a_check_logs_in_and_sends_nothing() {
    let s = setup();
    let (port, rx) = start(&s, Mock { starttls: true, password_ok: true });
    let mailer = SmtpMailer::new(&config(port, Some(&s.ca_file)), "trove@example.com").unwrap();
    let found = mailer.check().unwrap();
    assert!(found.contains("STARTTLS, logged in"), "{found}");
    let got = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert!(got.is_empty(), "nothing was sent: {got}");
}
