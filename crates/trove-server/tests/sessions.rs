//! Login sessions over HTTP: a browser logs in and gets an HttpOnly cookie and a CSRF token;
//! reads work with the cookie alone, writes need the token too; a CLI session is a bearer
//! token; sessions act with their user's role in one organization and never see another's
//! vaults; they are listed, ended one by one or all at once, expire, are capped per user; a
//! wrong password is refused like an unknown email, and the login limiter answers 429.

mod common;

use common::{Resp, Server};
use serde_json::{Value, json};
use trove_config::Workspace;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode};
use trove_types::Role;

const PASSWORD: &str = "correct horse battery staple";

fn start(extra: &str) -> Server {
    start_clocked(extra, trove_clock::system())
}

/// [`start`] on an engine that reads time from `clock`.
fn start_clocked(extra: &str, clock: trove_clock::SharedClock) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "embedder:\n  auto_install: false\nvaults:\n  a:\n    organization: acme\n    sources:\n      docs:\n        type: localfile\n        path: docs-a\n  b:\n    organization: globex\n    sources:\n      docs:\n        type: localfile\n        path: docs-b\n{extra}"
    );
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    for (folder, text) in
        [("docs-a", "# Apples\n\nAcme grows apples.\n"), ("docs-b", "# Bananas\n\nGlobex ripens bananas.\n")]
    {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        std::fs::write(dir.path().join(folder).join("note.md"), text).unwrap();
    }
    let ws = Workspace::load(Some(dir.path()), None).unwrap();
    let engine = Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(common::embedder()).with_clock(clock);
    engine.ingest(&IngestOptions::default(), &NoProgress).unwrap();
    engine.create_user("ada@acme.test", PASSWORD, "acme", Role::Owner).unwrap();
    engine.create_user("max@acme.test", PASSWORD, "acme", Role::Member).unwrap();
    engine.create_user("bob@globex.test", PASSWORD, "globex", Role::Owner).unwrap();
    Server::launch(dir, engine, |_| {})
}

fn login(s: &Server, email: &str, password: &str, client: &str) -> Resp {
    let body = json!({"email": email, "password": password, "client": client}).to_string();
    s.call("POST", "/v1/auth/login", Some(body.as_bytes()), &[("content-type", "application/json")])
}

/// A browser session: its cookie and CSRF token.
fn browser(s: &Server, email: &str) -> (String, String) {
    let r = login(s, email, PASSWORD, "web");
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.header("set-cookie").expect("a cookie").to_string();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let body = r.json();
    assert!(body["token"].is_null(), "a browser session's token must stay in the cookie: {body}");
    (cookie, body["csrf_token"].as_str().unwrap().to_string())
}

fn with_cookie(s: &Server, cookie: &str, csrf: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let mut headers = vec![("content-type", "application/json"), ("cookie", cookie)];
    if let Some(t) = csrf {
        headers.push(("x-csrf-token", t));
    }
    let body = body.map(Value::to_string);
    s.call(method, path, body.as_deref().map(str::as_bytes), &headers)
}

fn bearer(s: &Server, token: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let auth = format!("Bearer {token}");
    let body = body.map(Value::to_string);
    s.call(
        method,
        path,
        body.as_deref().map(str::as_bytes),
        &[("content-type", "application/json"), ("authorization", &auth)],
    )
}

#[test]
fn a_browser_session_reads_with_its_cookie_and_writes_only_with_the_csrf_token() {
    let s = start("");
    let (cookie, csrf) = browser(&s, "ada@acme.test");
    let vaults = with_cookie(&s, &cookie, None, "GET", "/v1/vaults", None);
    assert_eq!(vaults.status, 200, "{}", vaults.body);
    let names: Vec<String> =
        vaults.json().as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().into()).collect();
    assert_eq!(names, ["a"], "only acme's vaults");
    // Another organization's vault does not exist for this session.
    with_cookie(&s, &cookie, None, "GET", "/v1/vaults/b", None).error(404, "vault_not_found");

    let memory = json!({"text": "ada prefers green tea"});
    // A write that another site could make the browser send: no CSRF token, refused.
    with_cookie(&s, &cookie, None, "POST", "/v1/vaults/a/memories", Some(&memory)).error(403, "csrf_rejected");
    with_cookie(&s, &cookie, Some("forged"), "POST", "/v1/vaults/a/memories", Some(&memory))
        .error(403, "csrf_rejected");
    let stored = with_cookie(&s, &cookie, Some(&csrf), "POST", "/v1/vaults/a/memories", Some(&memory));
    assert_eq!(stored.status, 201, "{}", stored.body);

    // Logging out ends it: the cookie no longer works, and the answer clears it.
    let out = with_cookie(&s, &cookie, Some(&csrf), "POST", "/v1/auth/logout", None);
    assert_eq!(out.status, 204, "{}", out.body);
    assert!(out.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    with_cookie(&s, &cookie, None, "GET", "/v1/vaults", None).error(401, "invalid_session");

    // The audit log has the login, and the memory written by the session.
    let admin = login(&s, "ada@acme.test", PASSWORD, "cli").json()["token"].as_str().unwrap().to_string();
    let audit = bearer(&s, &admin, "GET", "/v1/audit?limit=50", None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    let audit = audit.json();
    let events: Vec<(String, String)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap().to_string(), e["actor"].as_str().unwrap().to_string()))
        .collect();
    assert!(events.iter().any(|(e, a)| e == "auth.login" && a == "user:ada@acme.test"), "{events:?}");
    assert!(events.iter().any(|(e, a)| e == "memory.created" && a.starts_with("session:ses_")), "{events:?}");
}

#[test]
fn cli_sessions_are_bearer_tokens_with_their_roles_and_can_be_listed_and_ended() {
    let s = start("auth:\n  sessions:\n    max_per_user: 2\n");
    let r = login(&s, "max@acme.test", PASSWORD, "cli");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("set-cookie").is_none(), "a CLI session sets no cookie");
    let body = r.json();
    let first = body["token"].as_str().unwrap().to_string();
    assert_eq!((body["session"]["role"].as_str(), body["session"]["client"].as_str()), (Some("member"), Some("cli")));
    // A member granted vault a searches it, but is no admin.
    let ada = cli(&s, "ada@acme.test", None);
    let granted =
        bearer(&s, &ada, "PUT", "/v1/vaults/a/grants", Some(&json!({"member": "max@acme.test", "level": "write"})));
    assert_eq!(granted.status, 200, "{}", granted.body);
    let search =
        bearer(&s, &first, "POST", "/v1/vaults/a/search", Some(&json!({"query": "apples", "mode": "keyword"})));
    assert_eq!(search.status, 200, "{}", search.body);
    bearer(&s, &first, "GET", "/v1/keys", None).error(403, "forbidden");
    bearer(&s, &first, "GET", "/v1/vaults/b", None).error(404, "vault_not_found");

    // Two more logins: the cap of 2 ends the oldest.
    let second = login(&s, "max@acme.test", PASSWORD, "sdk").json()["token"].as_str().unwrap().to_string();
    let third = login(&s, "max@acme.test", PASSWORD, "cli").json()["token"].as_str().unwrap().to_string();
    bearer(&s, &first, "GET", "/v1/vaults", None).error(401, "invalid_session");
    let listed = bearer(&s, &third, "GET", "/v1/auth/sessions", None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = listed.json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0]["current"].as_bool().unwrap() && !listed[1]["current"].as_bool().unwrap());
    assert!(!listed.iter().any(|x| x.to_string().contains("tses_")), "tokens are never listed");

    // End the other one by id, then all (this one included).
    let other = listed[1]["id"].as_str().unwrap();
    assert_eq!(bearer(&s, &third, "DELETE", &format!("/v1/auth/sessions/{other}"), None).status, 204);
    bearer(&s, &second, "GET", "/v1/vaults", None).error(401, "invalid_session");
    bearer(&s, &third, "DELETE", &format!("/v1/auth/sessions/{other}"), None).error(404, "session_not_found");
    let all = bearer(&s, &third, "DELETE", "/v1/auth/sessions", None);
    assert_eq!((all.status, all.json()["revoked"].as_u64()), (200, Some(1)));
    bearer(&s, &third, "GET", "/v1/vaults", None).error(401, "invalid_session");
    // A tampered token is refused.
    bearer(&s, &format!("{third}x"), "GET", "/v1/vaults", None).error(401, "invalid_session");
}

#[test]
fn sessions_expire() {
    let clock = trove_clock::ManualClock::starting_now();
    let s = start_clocked("auth:\n  sessions:\n    cli_ttl_s: 1\n", clock.clone());
    let token = login(&s, "ada@acme.test", PASSWORD, "cli").json()["token"].as_str().unwrap().to_string();
    assert_eq!(bearer(&s, &token, "GET", "/v1/vaults", None).status, 200);
    clock.advance(std::time::Duration::from_millis(999));
    assert_eq!(bearer(&s, &token, "GET", "/v1/vaults", None).status, 200, "alive until its second is over");
    clock.advance(std::time::Duration::from_millis(1));
    let r = bearer(&s, &token, "GET", "/v1/vaults", None);
    r.error(401, "invalid_session");
    assert!(r.body.contains("expired"), "{}", r.body);
}

#[test]
fn wrong_passwords_are_refused_alike_and_the_login_limiter_answers_429() {
    let s = start("auth:\n  rate_limits:\n    logins_per_ip_per_hour: 5\n");
    let wrong = login(&s, "ada@acme.test", "not the password at all", "web");
    wrong.error(401, "invalid_credentials");
    let unknown = login(&s, "nobody@acme.test", "not the password at all", "web");
    unknown.error(401, "invalid_credentials");
    assert_eq!(wrong.json()["message"], unknown.json()["message"], "the answer must not reveal which emails exist");
    assert!(wrong.header("set-cookie").is_none());
    for _ in 0..3 {
        login(&s, "ada@acme.test", "guess guess guess", "web").error(401, "invalid_credentials");
    }
    // The sixth attempt within the hour, even with the right password, is refused.
    let limited = login(&s, "ada@acme.test", PASSWORD, "web");
    limited.error(429, "rate_limited");
    assert!(limited.header("retry-after").is_some_and(|v| v.parse::<u64>().unwrap() > 0));
}

fn cli(s: &Server, email: &str, org: Option<&str>) -> String {
    let body = json!({"email": email, "password": PASSWORD, "client": "cli", "organization": org}).to_string();
    let r = s.call("POST", "/v1/auth/login", Some(body.as_bytes()), &[("content-type", "application/json")]);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["token"].as_str().unwrap().to_string()
}

#[test]
fn owners_and_admins_manage_members_and_the_last_owner_stays() {
    let s = start("");
    let ada = cli(&s, "ada@acme.test", None);
    let members = bearer(&s, &ada, "GET", "/v1/org/members", None).json();
    let roles: Vec<(&str, &str)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("ada@acme.test", "owner"), ("max@acme.test", "member")]);
    let id_of = |email: &str| {
        let all = bearer(&s, &ada, "GET", "/v1/org/members", None).json();
        all.as_array().unwrap().iter().find(|m| m["email"] == email).unwrap()["id"].as_str().unwrap().to_string()
    };
    let (ada_id, max_id) = (id_of("ada@acme.test"), id_of("max@acme.test"));

    // A member is no admin.
    let max = cli(&s, "max@acme.test", None);
    bearer(&s, &max, "GET", "/v1/org/members", None).error(403, "forbidden");

    // Bob (of globex) joins acme; his session there sees acme's vault, not globex's.
    let added = bearer(&s, &ada, "POST", "/v1/org/members", Some(&json!({"email": "bob@globex.test"})));
    assert_eq!((added.status, added.json()["role"].as_str()), (201, Some("member")), "{}", added.body);
    bearer(&s, &ada, "POST", "/v1/org/members", Some(&json!({"email": "bob@globex.test"}))).error(409, "user_exists");
    bearer(&s, &ada, "POST", "/v1/org/members", Some(&json!({"email": "nobody@acme.test"})))
        .error(404, "user_not_found");
    let bob = cli(&s, "bob@globex.test", Some("acme"));
    bearer(&s, &bob, "GET", "/v1/vaults/a", None).error(404, "vault_not_found");
    bearer(&s, &ada, "PUT", "/v1/vaults/a/grants", Some(&json!({"member": "bob@globex.test", "level": "read"})));
    assert_eq!(bearer(&s, &bob, "GET", "/v1/vaults/a", None).status, 200, "granted");
    bearer(&s, &bob, "GET", "/v1/vaults/b", None).error(404, "vault_not_found");

    // Max becomes admin: his existing session follows at once, but owners are not his to make.
    let r = bearer(&s, &ada, "PATCH", &format!("/v1/org/members/{max_id}"), Some(&json!({"role": "admin"})));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(bearer(&s, &max, "GET", "/v1/org/members", None).status, 200);
    bearer(&s, &max, "PATCH", &format!("/v1/org/members/{max_id}"), Some(&json!({"role": "owner"})))
        .error(403, "forbidden");
    bearer(&s, &max, "DELETE", &format!("/v1/org/members/{ada_id}"), None).error(403, "forbidden");

    // The last owner can be neither demoted nor removed.
    bearer(&s, &ada, "PATCH", &format!("/v1/org/members/{ada_id}"), Some(&json!({"role": "admin"})))
        .error(409, "last_owner");
    bearer(&s, &ada, "DELETE", &format!("/v1/org/members/{ada_id}"), None).error(409, "last_owner");

    // Removing bob ends his acme session; his globex account is untouched.
    let bob_id = id_of("bob@globex.test");
    assert_eq!(bearer(&s, &max, "DELETE", &format!("/v1/org/members/{bob_id}"), None).status, 204);
    bearer(&s, &bob, "GET", "/v1/vaults/a", None).error(401, "invalid_session");
    let globex = cli(&s, "bob@globex.test", None);
    assert_eq!(bearer(&s, &globex, "GET", "/v1/vaults/b", None).status, 200);
}

const JWT: &str = "auth:\n  jwt:\n    secret: this-is-a-test-secret-of-at-least-32-bytes\n    max_ttl_s: 600\n";

#[test]
fn signed_tokens_reach_only_their_vaults_and_actions_and_are_checked() {
    let s = start(JWT);
    let ada = cli(&s, "ada@acme.test", None);
    let mint = |body: Value| bearer(&s, &ada, "POST", "/v1/tokens", Some(&body));
    let r = mint(json!({"subject": "end-user-7", "vaults": ["a"], "actions": ["memories.write"], "ttl_s": 300}));
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(token.split('.').count(), 3);

    let memory = json!({"text": "end user 7 likes jasmine tea", "user_id": "end-user-7"});
    assert_eq!(bearer(&s, &token, "POST", "/v1/vaults/a/memories", Some(&memory)).status, 201);
    // Not its action, not its vault, not its organization's.
    bearer(&s, &token, "POST", "/v1/vaults/a/search", Some(&json!({"query": "apples"}))).error(403, "forbidden");
    bearer(&s, &token, "POST", "/v1/vaults/b/memories", Some(&memory)).error(404, "vault_not_found");
    bearer(&s, &token, "POST", "/v1/tokens", Some(&json!({}))).error(403, "forbidden");
    bearer(&s, &token, "GET", "/v1/auth/sessions", None).error(400, "bad_request");

    // Minting never exceeds the limits.
    mint(json!({"subject": "x", "vaults": ["a"], "actions": ["admin"]})).error(400, "bad_request");
    mint(json!({"subject": "x", "vaults": ["a"], "actions": ["search"], "ttl_s": 601})).error(400, "bad_request");

    // A changed claim breaks the signature; `alg: none` and another issuer are refused.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["vaults"] = json!(["*"]);
    let forged = format!("{}.{}.{}", parts[0], b64.encode(claims.to_string()), parts[2]);
    let r = bearer(&s, &forged, "GET", "/v1/vaults", None);
    r.error(401, "invalid_api_key");
    assert!(r.body.contains("wrong signature"), "{}", r.body);
    let none = format!("{}.{}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    assert!(
        bearer(&s, &none, "GET", "/v1/vaults", None).error(401, "invalid_api_key")["message"]
            .as_str()
            .unwrap()
            .contains("only HS256")
    );
    let secret = "this-is-a-test-secret-of-at-least-32-bytes";
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = |iss: &str, iat: i64, exp: i64| trove_engine::tokens::Claims {
        iss: iss.into(),
        sub: "u".into(),
        org: "acme".into(),
        vaults: vec!["a".into()],
        actions: vec![trove_types::Action::Search],
        iat,
        exp,
    };
    // A backend holding the secret mints its own.
    let own = trove_engine::tokens::sign(&claims("trove", now, now + 60), secret);
    let r = bearer(&s, &own, "POST", "/v1/vaults/a/search", Some(&json!({"query": "apples", "mode": "keyword"})));
    assert_eq!(r.status, 200, "{}", r.body);
    for (bad, why) in [
        (claims("someone-else", now, now + 60), "issued by"),
        (claims("trove", now - 120, now - 60), "expired"),
        (claims("trove", now, now + 3600), "max_ttl_s"),
    ] {
        let r = bearer(&s, &trove_engine::tokens::sign(&bad, secret), "GET", "/v1/vaults", None);
        r.error(401, "invalid_api_key");
        assert!(r.body.contains(why), "{why}: {}", r.body);
    }
}

#[test]
fn a_short_jwt_secret_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), "auth:\n  jwt:\n    secret: too-short\n").unwrap();
    let err = Workspace::load(Some(dir.path()), None).unwrap_err().to_string();
    assert!(err.contains("auth.jwt.secret") && err.contains("at least 32 bytes"), "{err}");
}

#[test]
fn a_stale_cookie_does_not_block_logging_in_again() {
    let s = start("auth:\n  rate_limits:\n    failed_auth_per_ip_per_hour: 2\n");
    let stale = "trove_session=tses_stale";
    for _ in 0..2 {
        with_cookie(&s, stale, None, "GET", "/v1/vaults", None).error(401, "invalid_session");
    }
    // Refused credentials from this address are now limited...
    with_cookie(&s, stale, None, "GET", "/v1/vaults", None).error(429, "rate_limited");
    // ...but the login page's request, which carries the stale cookie, reads no credentials.
    let body = json!({"email": "ada@acme.test", "password": PASSWORD}).to_string();
    let r = s.call(
        "POST",
        "/v1/auth/login",
        Some(body.as_bytes()),
        &[("content-type", "application/json"), ("cookie", stale)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

fn register(s: &Server, email: &str, password: &str) -> Resp {
    let body = json!({"email": email, "password": password}).to_string();
    s.call("POST", "/v1/auth/register", Some(body.as_bytes()), &[("content-type", "application/json")])
}

#[test]
fn registration_is_closed_by_default_and_open_accounts_wait_for_an_organization() {
    let s = start("");
    register(&s, "eve@example.test", PASSWORD).error(403, "forbidden");

    let s = start("auth:\n  open_registration: true\n  rate_limits:\n    registrations_per_ip_per_day: 3\n");
    let r = register(&s, "eve@example.test", PASSWORD);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["id"].as_str().unwrap().starts_with("usr_"));
    register(&s, "EVE@example.test", PASSWORD).error(409, "user_exists");
    register(&s, "short@example.test", "short").error(400, "invalid_password");
    // The account exists but belongs to no organization yet.
    let body = json!({"email": "eve@example.test", "password": PASSWORD}).to_string();
    let refused = s.call("POST", "/v1/auth/login", Some(body.as_bytes()), &[("content-type", "application/json")]);
    refused.error(403, "forbidden");
    assert!(refused.body.contains("no organization"), "{}", refused.body);
    let ada = cli(&s, "ada@acme.test", None);
    let added = bearer(&s, &ada, "POST", "/v1/org/members", Some(&json!({"email": "eve@example.test"})));
    assert_eq!(added.status, 201, "{}", added.body);
    bearer(&s, &ada, "PUT", "/v1/vaults/a/grants", Some(&json!({"member": "eve@example.test", "level": "read"})));
    let eve = cli(&s, "eve@example.test", None);
    assert_eq!(bearer(&s, &eve, "GET", "/v1/vaults/a", None).status, 200);
    // The fourth registration from this address today (of 3 allowed) is refused.
    let limited = register(&s, "late@example.test", PASSWORD);
    limited.error(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
}

#[test]
fn a_members_grant_decides_alike_over_rest_and_mcp() {
    let s = start("");
    let ada = cli(&s, "ada@acme.test", None);
    let max = cli(&s, "max@acme.test", None);
    let r = bearer(&s, &ada, "PUT", "/v1/vaults/a/grants", Some(&json!({"member": "max@acme.test", "level": "read"})));
    assert_eq!(r.status, 200, "{}", r.body);
    let error = |r: Value| r["structuredContent"]["error"].clone();

    // A read grant: searching works on both transports, writing is refused on both, in the
    // same words (REST names the route too).
    let search = json!({"query": "apples", "mode": "keyword"});
    assert_eq!(bearer(&s, &max, "POST", "/v1/vaults/a/search", Some(&search)).status, 200);
    assert_eq!(s.tool(Some(&max), "search", json!({"vault": "a", "query": "apples"}))["isError"], false);
    let memory = json!({"text": "Max likes green apples"});
    let rest = bearer(&s, &max, "POST", "/v1/vaults/a/memories", Some(&memory)).error(403, "forbidden");
    let mcp = error(s.tool(Some(&max), "store_memory", json!({"vault": "a", "text": "Max likes green apples"})));
    assert_eq!(mcp["code"], "forbidden", "{mcp}");
    let said = mcp["message"].as_str().unwrap();
    assert!(said.contains("grant on vault `a`") && rest["message"].as_str().unwrap().ends_with(said), "{rest} {mcp}");

    // Ungranted vaults are absent on both, whatever the action.
    bearer(&s, &max, "POST", "/v1/vaults/b/search", Some(&search)).error(404, "vault_not_found");
    for (tool, args) in
        [("search", json!({"vault": "b", "query": "x"})), ("store_memory", json!({"vault": "b", "text": "x"}))]
    {
        assert_eq!(error(s.tool(Some(&max), tool, args))["code"], "vault_not_found", "{tool}");
    }
    // With a write grant, both let the member write.
    bearer(&s, &ada, "PUT", "/v1/vaults/a/grants", Some(&json!({"member": "max@acme.test", "level": "write"})));
    assert_eq!(bearer(&s, &max, "POST", "/v1/vaults/a/memories", Some(&memory)).status, 201);
    assert_eq!(
        s.tool(Some(&max), "store_memory", json!({"vault": "a", "text": "Max likes red apples"}))["isError"],
        false
    );
}

#[test]
fn members_reach_only_granted_vaults_at_their_level() {
    let s = start("");
    let ada = cli(&s, "ada@acme.test", None);
    assert_eq!(bearer(&s, &ada, "POST", "/v1/vaults", Some(&json!({"name": "c"}))).status, 201);
    let max = cli(&s, "max@acme.test", None);
    let search = json!({"query": "apples", "mode": "keyword"});
    let memory = json!({"text": "Max likes green apples"});

    // No grant: the organization's vault is as absent as another organization's.
    bearer(&s, &max, "POST", "/v1/vaults/a/search", Some(&search)).error(404, "vault_not_found");
    assert_eq!(bearer(&s, &max, "GET", "/v1/vaults", None).json(), json!([]));
    let me = bearer(&s, &max, "GET", "/v1/auth/me", None).json();
    assert_eq!(me["grants"], json!({}), "{me}");

    // Read: search and read memories, no writes.
    let r = bearer(&s, &ada, "PUT", "/v1/vaults/a/grants", Some(&json!({"member": "max@acme.test", "level": "read"})));
    assert_eq!(
        (r.status, r.json()["level"].as_str(), r.json()["grantee"].as_str()),
        (200, Some("read"), Some("member")),
        "{}",
        r.body
    );
    assert_eq!(bearer(&s, &max, "POST", "/v1/vaults/a/search", Some(&search)).status, 200);
    assert_eq!(bearer(&s, &max, "GET", "/v1/vaults/a/memories", None).status, 200);
    let refused = bearer(&s, &max, "POST", "/v1/vaults/a/memories", Some(&memory));
    refused.error(403, "forbidden");
    assert!(refused.body.contains("grant on vault `a`"), "{}", refused.body);
    bearer(&s, &max, "POST", "/v1/vaults/a/reembed", Some(&json!({}))).error(403, "forbidden");
    bearer(&s, &max, "POST", "/v1/vaults/c/search", Some(&search)).error(404, "vault_not_found");

    // Through a team, write on c; a direct read on a stays.
    let team = bearer(&s, &ada, "POST", "/v1/org/teams", Some(&json!({"name": "growers"})));
    assert_eq!(team.status, 201, "{}", team.body);
    let team_id = team.json()["id"].as_str().unwrap().to_string();
    bearer(&s, &ada, "POST", "/v1/org/teams", Some(&json!({"name": "growers"}))).error(409, "team_exists");
    bearer(&s, &ada, "POST", "/v1/org/teams/growers/members", Some(&json!({"email": "bob@globex.test"})))
        .error(404, "user_not_found");
    let added = bearer(&s, &ada, "POST", "/v1/org/teams/growers/members", Some(&json!({"email": "max@acme.test"})));
    assert_eq!(added.json()["members"][0]["email"], "max@acme.test", "{}", added.body);
    let r = bearer(&s, &ada, "PUT", "/v1/vaults/c/grants", Some(&json!({"team": "growers", "level": "write"})));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(bearer(&s, &max, "POST", "/v1/vaults/c/memories", Some(&memory)).status, 201);
    let names: Vec<String> = bearer(&s, &max, "GET", "/v1/vaults", None)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "c"]);
    // The team's vault admin level allows the vault's own administration, not the organization's.
    bearer(&s, &ada, "PUT", "/v1/vaults/c/grants", Some(&json!({"team": "growers", "level": "admin"})));
    assert_eq!(bearer(&s, &max, "GET", "/v1/vaults/c/grants", None).status, 200);
    bearer(&s, &max, "GET", "/v1/vaults/a/grants", None).error(403, "forbidden");
    bearer(&s, &max, "GET", "/v1/org/teams", None).error(403, "forbidden");
    bearer(&s, &max, "GET", "/v1/keys", None).error(403, "forbidden");
    let grants = bearer(&s, &ada, "GET", "/v1/vaults/c/grants", None).json();
    assert_eq!(
        (grants[0]["grantee"].as_str(), grants[0]["name"].as_str()),
        (Some("team"), Some("growers")),
        "{grants}"
    );

    // Leaving the team, or the grant going, takes the vault away at once.
    let removed = bearer(&s, &ada, "DELETE", &format!("/v1/org/teams/{team_id}/members/max@acme.test"), None);
    assert_eq!(removed.status, 200, "{}", removed.body);
    bearer(&s, &max, "POST", "/v1/vaults/c/search", Some(&search)).error(404, "vault_not_found");
    assert_eq!(bearer(&s, &ada, "DELETE", "/v1/vaults/a/grants/max@acme.test", None).status, 204);
    bearer(&s, &ada, "DELETE", "/v1/vaults/a/grants/max@acme.test", None).error(404, "grant_not_found");
    bearer(&s, &max, "POST", "/v1/vaults/a/search", Some(&search)).error(404, "vault_not_found");
    assert_eq!(bearer(&s, &ada, "DELETE", "/v1/org/teams/growers", None).status, 204);
    bearer(&s, &ada, "DELETE", "/v1/org/teams/growers", None).error(404, "team_not_found");
    // Another organization's owner sees none of it.
    let bob = cli(&s, "bob@globex.test", None);
    bearer(&s, &bob, "GET", "/v1/vaults/a/grants", None).error(404, "vault_not_found");
    bearer(&s, &bob, "PUT", "/v1/vaults/a/grants", Some(&json!({"member": "bob@globex.test", "level": "admin"})))
        .error(404, "vault_not_found");

    // Every change is audited.
    let audit = bearer(&s, &ada, "GET", "/v1/audit?limit=100", None).json();
    let events: Vec<&str> = audit["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    for e in [
        "vault.granted",
        "vault.grant_revoked",
        "team.created",
        "team.member_added",
        "team.member_removed",
        "team.deleted",
    ] {
        assert!(events.contains(&e), "{e} missing: {events:?}");
    }
}
