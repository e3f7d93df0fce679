//! The guarded writes under concurrency: several connections racing on one database, as
//! several server processes would. Needs `$TROVE_PG_BIN` like the conformance suite.

use std::sync::Barrier;

use crate::testing::PgServer;
use crate::*;

const RACERS: usize = 6;

/// Runs `f` on `RACERS` threads released at once; their results.
fn race<T: Send>(f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(RACERS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("racer")).collect()
    })
}

#[test]
fn guarded_writes_hold_under_concurrency() {
    let server = PgServer::start();
    let s = PgStore::open(PgOptions::new(server.create_database())).expect("open");
    let acme = s.organization_ensure("acme", 1).unwrap();

    // One email, in several cases at once: one account.
    let made = race(|i| {
        let email = if i % 2 == 0 { "Ada@Example.com" } else { "ada@example.COM" };
        s.user_create(email, "h", 1).unwrap()
    });
    assert_eq!(made.iter().flatten().count(), 1);
    let ada = s.user_by_email("ADA@EXAMPLE.COM").unwrap().unwrap();
    let bob = s.user_create("bob@example.com", "h", 1).unwrap().unwrap();

    // Logins at once never leave more than the cap live.
    race(|i| {
        let session = NewSession {
            user: ada.id,
            organization: acme.id,
            hash: format!("hash-{i}"),
            csrf: "c".into(),
            client: "web".into(),
            ip: None,
            expires_ms: 1_000,
        };
        s.session_create(&session, 2, 10).unwrap()
    });
    assert_eq!(s.sessions_of_user(ada.id, 10).unwrap().len(), 2);

    // Two owners demoting (or removing) each other at once: one stays owner.
    for round in 0..4 {
        s.membership_put(acme.id, ada.id, "owner", 1).unwrap();
        s.membership_put(acme.id, bob.id, "owner", 1).unwrap();
        let outcomes = race(|i| {
            let user = if i % 2 == 0 { ada.id } else { bob.id };
            let role = if round % 2 == 0 { Some("member") } else { None };
            s.membership_set(acme.id, user, role).unwrap()
        });
        assert!(outcomes.contains(&MembershipChange::Changed), "{outcomes:?}");
        let owners = s.members(acme.id).unwrap().into_iter().filter(|m| m.role == "owner").count();
        assert_eq!(owners, 1, "round {round}: {outcomes:?}");
    }

    // A token works once, however many take it at once.
    s.user_token_create(ada.id, "reset", "token", 10, 100).unwrap();
    let taken = race(|_| s.user_token_take("reset", "token", 20).unwrap());
    assert_eq!(taken.iter().flatten().count(), 1);

    // Links asked for at once: only the newest stays usable.
    race(|i| s.user_token_create(bob.id, "verify", &format!("link-{i}"), 10, 100).unwrap());
    let usable = (0..RACERS).filter(|i| s.user_token_take("verify", &format!("link-{i}"), 20).unwrap().is_some());
    assert_eq!(usable.count(), 1);

    // An invitation is accepted once.
    let invitation = InvitationRecord {
        public_id: "inv_1".into(),
        organization: acme.id,
        organization_name: String::new(),
        email: "eve@example.com".into(),
        role: "member".into(),
        hash: "inv-hash".into(),
        invited_by: "ada@example.com".into(),
        created_ms: 10,
        expires_ms: 100,
        accepted_ms: None,
        revoked_ms: None,
    };
    s.invitation_create(&invitation).unwrap();
    let accepted = race(|_| s.invitation_accept("inv-hash", 20).unwrap());
    assert_eq!(accepted.iter().filter(|a| **a).count(), 1);

    // Grants to one grantee at once: one grant, no unique-index failure.
    let vault = s.ensure_vault("v").unwrap();
    race(|i| s.grant_put(vault.id, Grantee::User(ada.id), ["read", "write", "admin"][i % 3], 30).unwrap());
    assert_eq!(s.vault_grants(vault.id).unwrap().len(), 1);

    // Public ids have the embedded store's shape: a prefix and 24 lowercase hex digits.
    let key = s
        .api_key_create(
            &NewApiKey {
                organization: acme.id,
                user: ada.id,
                name: "k".into(),
                prefix: "p".into(),
                hash: "h".into(),
                vaults: Vec::new(),
                actions: Vec::new(),
                expires_ms: None,
            },
            1,
        )
        .unwrap();
    let session = &s.sessions_of_user(ada.id, 10).unwrap()[0];
    for (id, prefix) in [(&ada.public_id, "usr_"), (&key.public_id, "key_"), (&session.public_id, "ses_")] {
        let hex = id.strip_prefix(prefix).unwrap_or_else(|| panic!("{id} starts with {prefix}"));
        assert!(hex.len() == 24 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{id}");
    }
}
