//! Mailed account links over HTTP, with a mailer that keeps what it is given: a registration
//! mails a verification link, and with `auth.require_email_verification` the account cannot
//! log in until it follows it; a password reset is mailed only to an existing account (the
//! answer is the same either way), works once, ends every session and sets the new password.

mod common;

use std::sync::{Arc, Mutex};

use common::Server;
use serde_json::{Value, json};
use trove_config::Workspace;
use trove_engine::mail::Mailer;
use trove_engine::{Engine, EngineError, OpenMode};
use trove_types::Role;

const PASSWORD: &str = "correct horse battery staple";

#[derive(Default)]
struct Outbox(Mutex<Vec<(String, String, String)>>);

impl Mailer for Outbox {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), EngineError> {
        self.0.lock().unwrap().push((to.into(), subject.into(), body.into()));
        Ok(())
    }
}

impl Outbox {
    /// The token of the last link mailed to `to`.
    fn token(&self, to: &str) -> String {
        let mails = self.0.lock().unwrap();
        let (_, _, body) = mails.iter().rev().find(|(t, _, _)| t == to).expect("a mail");
        let at = body.find("token=").expect("a link") + "token=".len();
        body[at..].split_whitespace().next().unwrap().to_string()
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn start() -> (Server, Arc<Outbox>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "embedder:\n  auto_install: false\nauth:\n  open_registration: true\n  require_email_verification: true\n  public_url: https://trove.example.com/\nvaults: {}\n",
    )
    .unwrap();
    let outbox = Arc::new(Outbox::default());
    let ws = Workspace::load(Some(dir.path()), None).unwrap();
    let engine = Engine::open(ws, OpenMode::Write, "test")
        .unwrap()
        .with_embedder(common::embedder())
        .with_mailer(outbox.clone());
    engine.create_user("ada@acme.test", PASSWORD, "acme", Role::Owner).unwrap();
    (Server::launch(dir, engine, |_| {}), outbox)
}

fn post(s: &Server, path: &str, body: Value) -> common::Resp {
    s.call("POST", path, Some(body.to_string().as_bytes()), &[("content-type", "application/json")])
}

fn login(s: &Server, email: &str, password: &str) -> common::Resp {
    post(s, "/v1/auth/login", json!({"email": email, "password": password, "client": "cli"}))
}

#[test]
fn registration_mails_a_verification_link_that_must_be_followed() {
    let (s, outbox) = start();
    let r = post(&s, "/v1/auth/register", json!({"email": "eve@example.test", "password": PASSWORD}));
    assert_eq!(r.status, 201, "{}", r.body);
    let token = outbox.token("eve@example.test");
    let mails = outbox.0.lock().unwrap().clone();
    assert!(mails[0].2.contains("https://trove.example.com/#/verify?token="), "{}", mails[0].2);
    // An administrator adds Eve; she still cannot log in unverified.
    let ada = login(&s, "ada@acme.test", PASSWORD).json()["token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {ada}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let added = s.call("POST", "/v1/org/members", Some(br#"{"email":"eve@example.test"}"#), &headers);
    assert_eq!(added.status, 201, "{}", added.body);
    let refused = login(&s, "eve@example.test", PASSWORD);
    refused.error(403, "email_unverified");
    assert!(refused.body.contains("verify-email/resend"), "{}", refused.body);
    // The wrong password is still just wrong (nothing told about verification).
    login(&s, "eve@example.test", "wrong password, clearly").error(401, "invalid_credentials");

    post(&s, "/v1/auth/verify-email", json!({"token": "nope"})).error(400, "invalid_token");
    // A new link ends the old one.
    assert_eq!(post(&s, "/v1/auth/verify-email/resend", json!({"email": "eve@example.test"})).status, 202);
    post(&s, "/v1/auth/verify-email", json!({"token": token})).error(400, "invalid_token");
    let token = outbox.token("eve@example.test");
    let r = post(&s, "/v1/auth/verify-email", json!({"token": token}));
    assert_eq!((r.status, r.json()["email"].as_str()), (200, Some("eve@example.test")), "{}", r.body);
    post(&s, "/v1/auth/verify-email", json!({"token": token})).error(400, "invalid_token");
    assert_eq!(login(&s, "eve@example.test", PASSWORD).status, 200);
    // Verified and unknown addresses get the same answer and no mail.
    let before = outbox.count();
    for email in ["eve@example.test", "nobody@example.test"] {
        assert_eq!(post(&s, "/v1/auth/verify-email/resend", json!({"email": email})).status, 202);
    }
    assert_eq!(outbox.count(), before);
}

#[test]
fn a_password_reset_works_once_and_ends_every_session() {
    let (s, outbox) = start();
    let old = login(&s, "ada@acme.test", PASSWORD).json()["token"].as_str().unwrap().to_string();
    let r = post(&s, "/v1/auth/password-reset", json!({"email": "nobody@acme.test"}));
    assert_eq!((r.status, r.json()["status"].as_str()), (202, Some("accepted")));
    assert_eq!(outbox.count(), 0, "no mail for an unknown address");
    assert_eq!(post(&s, "/v1/auth/password-reset", json!({"email": "ADA@acme.test"})).status, 202);
    let token = outbox.token("ada@acme.test");
    let new = "a much longer new passphrase";
    post(&s, "/v1/auth/password-reset/confirm", json!({"token": token, "password": "short"}))
        .error(400, "invalid_password");
    let r = post(&s, "/v1/auth/password-reset/confirm", json!({"token": token, "password": new}));
    assert_eq!(r.status, 204, "{}", r.body);
    post(&s, "/v1/auth/password-reset/confirm", json!({"token": token, "password": new})).error(400, "invalid_token");
    let auth = format!("Bearer {old}");
    s.call("GET", "/v1/auth/sessions", None, &[("authorization", auth.as_str())]).error(401, "invalid_session");
    login(&s, "ada@acme.test", PASSWORD).error(401, "invalid_credentials");
    let fresh = login(&s, "ada@acme.test", new);
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let auth = format!("Bearer {}", fresh.json()["token"].as_str().unwrap());
    let audit = s.call("GET", "/v1/audit?event=user.password_reset", None, &[("authorization", auth.as_str())]).json();
    assert_eq!(audit["events"][0]["actor"], "user:ada@acme.test", "{audit}");
    post(&s, "/v1/auth/password-reset", json!({"email": "not an address"})).error(400, "bad_request");
}

#[test]
fn invitations_are_mailed_accepted_once_and_can_be_withdrawn() {
    let (s, outbox) = start();
    let ada = login(&s, "ada@acme.test", PASSWORD).json()["token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {ada}");
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let call = |method: &str, path: &str, body: Option<Value>| {
        let body = body.map(|b| b.to_string());
        s.call(method, path, body.as_deref().map(str::as_bytes), &headers)
    };

    // A new address: the link makes the account (verified) in acme.
    let r = call("POST", "/v1/org/invitations", Some(json!({"email": "eve@example.test"})));
    assert_eq!(
        (r.status, r.json()["status"].as_str(), r.json()["role"].as_str()),
        (201, Some("pending"), Some("member")),
        "{}",
        r.body
    );
    assert!(!r.body.contains("token"), "the link only goes by mail: {}", r.body);
    let token = outbox.token("eve@example.test");
    assert!(outbox.0.lock().unwrap().last().unwrap().2.contains("https://trove.example.com/#/invite?token="));
    let e = post(&s, "/v1/auth/accept-invitation", json!({"token": token})).error(400, "bad_request");
    assert!(e["message"].as_str().unwrap().contains("password"), "{e}");
    post(&s, "/v1/auth/accept-invitation", json!({"token": token, "password": "short"})).error(400, "invalid_password");
    let r = post(&s, "/v1/auth/accept-invitation", json!({"token": token, "password": PASSWORD}));
    assert_eq!(
        (r.status, r.json()["new_account"].as_bool(), r.json()["organization"].as_str()),
        (200, Some(true), Some("acme")),
        "{}",
        r.body
    );
    post(&s, "/v1/auth/accept-invitation", json!({"token": token, "password": PASSWORD})).error(400, "invalid_token");
    assert_eq!(login(&s, "eve@example.test", PASSWORD).status, 200, "verified by the link, and a member");
    call("POST", "/v1/org/invitations", Some(json!({"email": "eve@example.test"}))).error(409, "user_exists");

    // An existing account joins with the invited role, no password needed.
    let r = post(&s, "/v1/auth/register", json!({"email": "bob@example.test", "password": PASSWORD}));
    assert_eq!(r.status, 201);
    let r = call("POST", "/v1/org/invitations", Some(json!({"email": "bob@example.test", "role": "admin"})));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = post(&s, "/v1/auth/accept-invitation", json!({"token": outbox.token("bob@example.test")}));
    assert_eq!(
        (r.status, r.json()["role"].as_str(), r.json()["new_account"].as_bool()),
        (200, Some("admin"), Some(false)),
        "{}",
        r.body
    );
    assert_eq!(login(&s, "bob@example.test", PASSWORD).json()["session"]["role"], "admin");

    // A withdrawn invitation's link no longer works.
    let r = call("POST", "/v1/org/invitations", Some(json!({"email": "max@example.test"})));
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(call("DELETE", &format!("/v1/org/invitations/{id}"), None).status, 204);
    call("DELETE", &format!("/v1/org/invitations/{id}"), None).error(404, "invitation_not_found");
    post(&s, "/v1/auth/accept-invitation", json!({"token": outbox.token("max@example.test"), "password": PASSWORD}))
        .error(400, "invalid_token");
    let listed = call("GET", "/v1/org/invitations", None).json();
    let states: Vec<&str> = listed.as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(states, ["withdrawn", "accepted", "accepted"], "{listed}");
    let audit = call("GET", "/v1/audit?limit=100", None).json();
    let events: Vec<&str> = audit["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    for e in ["member.invited", "member.joined", "invitation.withdrawn"] {
        assert!(events.contains(&e), "{e}: {events:?}");
    }
}
