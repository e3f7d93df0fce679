//! Conformance of [`crate::TenancyStore`]: users, organizations and vault ownership, API keys,
//! sessions, teams and grants, single-use tokens, invitations and secrets.

use crate::{Grantee, InvitationRecord, MembershipChange, NewApiKey, NewSession, SecretRecord, Store};

pub fn users_organizations_and_vault_ownership(s: &dyn Store) {
    assert_eq!(s.user_count().unwrap(), 0);
    let ada = s.user_create("Ada@Example.com", "$argon2id$hash", 1).unwrap().expect("created");
    assert!(ada.public_id.starts_with("usr_"), "{}", ada.public_id);
    assert_eq!(s.user_create("ada@example.COM", "other", 2).unwrap(), None, "emails are unique without case");
    assert_eq!(s.user_by_email("ADA@example.com").unwrap().unwrap(), ada);
    assert_eq!(s.user_by_email("bob@example.com").unwrap(), None);
    assert_eq!(s.user_count().unwrap(), 1);

    let acme = s.organization_ensure("acme", 5).unwrap();
    assert_eq!(s.organization_ensure("acme", 6).unwrap(), acme, "ensure is idempotent");
    assert_eq!(s.organization("acme").unwrap().unwrap(), acme);
    assert_eq!(s.organization("other").unwrap(), None);
    s.membership_put(acme.id, ada.id, "owner", 7).unwrap();
    assert_eq!(s.membership(acme.id, ada.id).unwrap().as_deref(), Some("owner"));
    s.membership_put(acme.id, ada.id, "admin", 8).unwrap();
    assert_eq!(s.membership(acme.id, ada.id).unwrap().as_deref(), Some("admin"));

    let a = s.ensure_vault("a").unwrap();
    let b = s.ensure_vault("b").unwrap();
    assert_eq!(a.organization, None);
    s.vault_set_organization(b.id, Some(acme.id)).unwrap();
    let other = s.organization_ensure("other", 9).unwrap();
    assert_eq!(s.vaults_claim_unowned(other.id).unwrap(), 1, "only the unowned vault");
    assert_eq!(s.vault("a").unwrap().unwrap().organization, Some(other.id));
    assert_eq!(s.vault("b").unwrap().unwrap().organization, Some(acme.id));
}

pub fn api_keys_are_stored_listed_revoked_and_touched(s: &dyn Store) {
    let user = s.user_create("ada@example.com", "h", 1).unwrap().unwrap();
    let acme = s.organization_ensure("acme", 1).unwrap();
    let other = s.organization_ensure("other", 1).unwrap();
    let new = |prefix: &str, org: i64| NewApiKey {
        organization: org,
        user: user.id,
        name: format!("key {prefix}"),
        prefix: prefix.into(),
        hash: format!("hash-{prefix}"),
        vaults: vec!["a".into(), "b".into()],
        actions: vec!["search".into()],
        expires_ms: Some(1_000),
    };
    let k1 = s.api_key_create(&new("p1", acme.id), 10).unwrap();
    let k2 = s.api_key_create(&new("p2", acme.id), 11).unwrap();
    s.api_key_create(&new("p3", other.id), 12).unwrap();
    assert!(k1.public_id.starts_with("key_") && k1.public_id != k2.public_id);
    assert_eq!(k1.key, new("p1", acme.id));
    assert_eq!((k1.organization_name.as_str(), k1.user_email.as_str()), ("acme", "ada@example.com"));
    assert_eq!((k1.created_ms, k1.last_used_ms, k1.revoked_ms), (10, None, None));
    assert_eq!(s.api_key_by_prefix("p2").unwrap().unwrap(), k2);
    assert_eq!(s.api_key_by_prefix("nope").unwrap(), None);
    let listed: Vec<String> = s.api_keys(acme.id).unwrap().into_iter().map(|k| k.public_id).collect();
    assert_eq!(listed, [k1.public_id.clone(), k2.public_id.clone()], "oldest first, one organization only");

    assert!(!s.api_key_revoke(other.id, &k1.public_id, 20).unwrap(), "another organization's key");
    assert!(s.api_key_revoke(acme.id, &k1.public_id, 20).unwrap());
    assert!(s.api_key_revoke(acme.id, &k1.public_id, 30).unwrap());
    assert_eq!(s.api_key_by_prefix("p1").unwrap().unwrap().revoked_ms, Some(20), "the first revocation stays");
    s.api_key_touch(k2.id, 40).unwrap();
    assert_eq!(s.api_key_by_prefix("p2").unwrap().unwrap().last_used_ms, Some(40));
}

pub fn sessions_are_capped_listed_revoked_and_follow_the_role(s: &dyn Store) {
    let ada = s.user_create("ada@example.com", "h", 1).unwrap().unwrap();
    let bob = s.user_create("bob@example.com", "h", 1).unwrap().unwrap();
    let acme = s.organization_ensure("acme", 1).unwrap();
    let other = s.organization_ensure("other", 2).unwrap();
    s.membership_put(acme.id, ada.id, "admin", 1).unwrap();
    s.membership_put(other.id, ada.id, "member", 2).unwrap();
    let orgs = s.user_organizations(ada.id).unwrap();
    assert_eq!(orgs, [(acme.id, "acme".to_string(), "admin".to_string()), (other.id, "other".into(), "member".into())]);
    let new = |user: i64, n: u32| NewSession {
        user,
        organization: acme.id,
        hash: format!("hash-{user}-{n}"),
        csrf: format!("csrf-{n}"),
        client: "web".into(),
        ip: Some("127.0.0.1".into()),
        expires_ms: 1_000,
    };
    let first = s.session_create(&new(ada.id, 1), 2, 10).unwrap();
    assert!(first.public_id.starts_with("ses_"));
    assert_eq!(first.session, new(ada.id, 1));
    assert_eq!((first.user_email.as_str(), first.organization_name.as_str()), ("ada@example.com", "acme"));
    assert_eq!(first.role.as_deref(), Some("admin"));
    let second = s.session_create(&new(ada.id, 2), 2, 11).unwrap();
    s.session_create(&new(bob.id, 1), 2, 11).unwrap();
    // A third of ada's pushes out her oldest; bob's is not hers to lose.
    let third = s.session_create(&new(ada.id, 3), 2, 12).unwrap();
    assert_eq!(s.session_by_hash(&first.session.hash).unwrap().unwrap().revoked_ms, Some(12));
    let live: Vec<String> = s.sessions_of_user(ada.id, 12).unwrap().into_iter().map(|x| x.public_id).collect();
    assert_eq!(live, [third.public_id.clone(), second.public_id.clone()], "newest first");
    assert!(s.sessions_of_user(ada.id, 1_000).unwrap().is_empty(), "expired ones are not live");
    assert_eq!(s.session_by_hash("nope").unwrap(), None);

    s.session_touch(second.id, 20).unwrap();
    assert_eq!(s.session_by_hash(&second.session.hash).unwrap().unwrap().last_used_ms, Some(20));
    assert!(!s.session_revoke(bob.id, &second.public_id, 30).unwrap(), "someone else's session");
    assert!(s.session_revoke(ada.id, &second.public_id, 30).unwrap());
    assert!(!s.session_revoke(ada.id, &second.public_id, 31).unwrap(), "already revoked");
    assert_eq!(s.sessions_revoke_all(ada.id, 40).unwrap(), 1);
    assert_eq!(s.sessions_of_user(bob.id, 40).unwrap().len(), 1);
    // A session reports the role the user holds now.
    let bobs = s.session_create(&new(bob.id, 2), 5, 50).unwrap();
    assert_eq!(bobs.role, None, "bob is no member of acme");

    // Members: the last owner can be neither demoted nor removed.
    s.membership_put(acme.id, bob.id, "member", 60).unwrap();
    let members: Vec<(String, String)> = s.members(acme.id).unwrap().into_iter().map(|m| (m.email, m.role)).collect();
    assert_eq!(
        members,
        [("ada@example.com".to_string(), "admin".to_string()), ("bob@example.com".into(), "member".into())]
    );
    assert_eq!(s.membership_set(acme.id, ada.id, Some("owner")).unwrap(), MembershipChange::Changed);
    assert_eq!(s.membership_set(acme.id, ada.id, Some("member")).unwrap(), MembershipChange::LastOwner);
    assert_eq!(s.membership_set(acme.id, ada.id, None).unwrap(), MembershipChange::LastOwner);
    assert_eq!(s.membership_set(acme.id, bob.id, Some("owner")).unwrap(), MembershipChange::Changed);
    assert_eq!(s.membership_set(acme.id, ada.id, None).unwrap(), MembershipChange::Changed, "another owner remains");
    assert_eq!(s.membership_set(acme.id, ada.id, None).unwrap(), MembershipChange::NotMember);
    assert_eq!(s.session_by_hash(&bobs.session.hash).unwrap().unwrap().role.as_deref(), Some("owner"));
}

pub fn teams_and_vault_grants(s: &dyn Store) {
    let ada = s.user_create("ada@example.com", "h", 1).unwrap().unwrap();
    let bob = s.user_create("bob@example.com", "h", 1).unwrap().unwrap();
    let acme = s.organization_ensure("acme", 1).unwrap();
    let other = s.organization_ensure("other", 1).unwrap();
    for u in [ada.id, bob.id] {
        s.membership_put(acme.id, u, "member", 1).unwrap();
    }
    let (a, b, c) = (s.ensure_vault("a").unwrap(), s.ensure_vault("b").unwrap(), s.ensure_vault("c").unwrap());
    for v in [a.id, b.id] {
        s.vault_set_organization(v, Some(acme.id)).unwrap();
    }
    s.vault_set_organization(c.id, Some(other.id)).unwrap();

    let ops = s.team_create(acme.id, "team_ops", "ops", 5).unwrap().expect("created");
    assert_eq!(s.team_create(acme.id, "team_x", "ops", 6).unwrap(), None, "names are unique in an organization");
    assert!(s.team_create(other.id, "team_y", "ops", 6).unwrap().is_some(), "but not across organizations");
    assert!(s.team_member_set(ops.id, bob.id, true).unwrap());
    assert!(!s.team_member_set(ops.id, bob.id, true).unwrap(), "already a member");
    let teams = s.teams(acme.id).unwrap();
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].members, [(bob.id, bob.public_id.clone(), "bob@example.com".to_string())]);

    s.grant_put(a.id, Grantee::User(ada.id), "read", 10).unwrap();
    s.grant_put(a.id, Grantee::User(ada.id), "write", 11).unwrap();
    s.grant_put(b.id, Grantee::Team(ops.id), "admin", 12).unwrap();
    s.grant_put(c.id, Grantee::User(ada.id), "admin", 13).unwrap();
    let grants = s.vault_grants(a.id).unwrap();
    assert_eq!(grants.len(), 1, "a second grant replaces the first");
    assert_eq!(
        (grants[0].grantee, grants[0].level.as_str(), grants[0].grantee_name.as_str()),
        (Grantee::User(ada.id), "write", "ada@example.com")
    );
    assert_eq!(
        s.user_grants(acme.id, ada.id).unwrap(),
        [("a".to_string(), "write".to_string())],
        "only the organization's vaults"
    );
    assert_eq!(s.user_grants(acme.id, bob.id).unwrap(), [("b".to_string(), "admin".to_string())], "through the team");

    assert!(s.team_member_set(ops.id, bob.id, false).unwrap());
    assert!(s.user_grants(acme.id, bob.id).unwrap().is_empty(), "leaving the team takes its grants away");
    s.team_member_set(ops.id, ada.id, true).unwrap();
    assert_eq!(s.user_grants(acme.id, ada.id).unwrap().len(), 2);
    assert!(s.grant_remove(a.id, Grantee::User(ada.id)).unwrap());
    assert!(!s.grant_remove(a.id, Grantee::User(ada.id)).unwrap());
    assert!(s.team_delete(acme.id, "team_ops").unwrap());
    assert!(!s.team_delete(acme.id, "team_ops").unwrap());
    assert!(s.vault_grants(b.id).unwrap().is_empty(), "a deleted team's grants go with it");

    // Leaving the organization takes its grants and team seats away.
    let qa = s.team_create(acme.id, "team_qa", "qa", 20).unwrap().unwrap();
    s.team_member_set(qa.id, bob.id, true).unwrap();
    s.grant_put(a.id, Grantee::User(bob.id), "read", 21).unwrap();
    s.membership_set(acme.id, bob.id, None).unwrap();
    assert!(s.vault_grants(a.id).unwrap().is_empty());
    assert!(s.teams(acme.id).unwrap()[0].members.is_empty());
}

pub fn user_tokens_work_once_and_expire(s: &dyn Store) {
    let ada = s.user_create("ada@example.com", "h1", 1).unwrap().unwrap();
    assert_eq!(ada.email_verified_ms, None, "a new account is unverified");
    s.user_token_create(ada.id, "reset", "hash-1", 10, 100).unwrap();
    assert_eq!(s.user_token_take("verify", "hash-1", 20).unwrap(), None, "another purpose");
    assert_eq!(s.user_token_take("reset", "hash-1", 100).unwrap(), None, "expired at 100");
    s.user_token_create(ada.id, "reset", "hash-2", 30, 200).unwrap();
    s.user_token_create(ada.id, "reset", "hash-3", 40, 200).unwrap();
    assert_eq!(s.user_token_take("reset", "hash-2", 50).unwrap(), None, "a newer link ends the older");
    assert_eq!(s.user_token_take("reset", "hash-3", 50).unwrap().map(|u| u.id), Some(ada.id));
    assert_eq!(s.user_token_take("reset", "hash-3", 51).unwrap(), None, "a token works once");
    s.user_update(ada.id, Some("h2"), Some(60)).unwrap();
    s.user_update(ada.id, None, Some(70)).unwrap();
    let ada = s.user_by_email("ada@example.com").unwrap().unwrap();
    assert_eq!((ada.password_hash.as_str(), ada.email_verified_ms), ("h2", Some(60)), "the first verification counts");
}

pub fn invitations_are_accepted_once(s: &dyn Store) {
    let acme = s.organization_ensure("acme", 1).unwrap();
    let other = s.organization_ensure("other", 1).unwrap();
    let new = |id: &str, hash: &str, expires_ms: i64| InvitationRecord {
        public_id: id.into(),
        organization: acme.id,
        organization_name: String::new(),
        email: "eve@example.com".into(),
        role: "member".into(),
        hash: hash.into(),
        invited_by: "ada@example.com".into(),
        created_ms: 10,
        expires_ms,
        accepted_ms: None,
        revoked_ms: None,
    };
    s.invitation_create(&new("inv_1", "h1", 100)).unwrap();
    s.invitation_create(&new("inv_2", "h2", 100)).unwrap();
    s.invitation_create(&new("inv_3", "h3", 50)).unwrap();
    let listed: Vec<String> = s.invitations(acme.id).unwrap().into_iter().map(|i| i.public_id).collect();
    assert_eq!(listed, ["inv_3", "inv_2", "inv_1"], "newest first");
    assert!(s.invitations(other.id).unwrap().is_empty());
    let got = s.invitation_by_hash("h1").unwrap().unwrap();
    assert_eq!((got.organization_name.as_str(), got.role.as_str()), ("acme", "member"));
    assert!(s.invitation_accept("h1", 20).unwrap());
    assert!(!s.invitation_accept("h1", 21).unwrap(), "once");
    assert!(!s.invitation_accept("h3", 60).unwrap(), "expired");
    assert!(!s.invitation_revoke(other.id, "inv_2", 30).unwrap(), "another organization's");
    assert!(s.invitation_revoke(acme.id, "inv_2", 30).unwrap());
    assert!(!s.invitation_accept("h2", 31).unwrap(), "withdrawn");
    assert!(!s.invitation_revoke(acme.id, "inv_1", 40).unwrap(), "already accepted");
    assert_eq!(s.invitation_by_hash("h1").unwrap().unwrap().accepted_ms, Some(20));
}

pub fn secrets_are_per_organization_and_resealed_only_if_unchanged(s: &dyn Store) {
    let acme = s.organization_ensure("acme", 1).unwrap();
    let other = s.organization_ensure("other", 1).unwrap();
    let put = |org: i64, name: &str, sealed: &str, ms: i64| {
        s.secret_put(&SecretRecord {
            organization: org,
            name: name.into(),
            sealed: sealed.into(),
            created_ms: ms,
            updated_ms: ms,
            updated_by: format!("user:{ms}"),
        })
        .unwrap()
    };
    assert!(put(acme.id, "wiki", "v1.k1.aaa", 10), "new");
    assert!(put(acme.id, "jira", "v1.k1.bbb", 11), "new");
    assert!(put(other.id, "wiki", "v1.k1.ccc", 12), "the same name in another organization is another secret");
    assert!(!put(acme.id, "wiki", "v1.k1.ddd", 20), "replaced");

    let wiki = s.secret(acme.id, "wiki").unwrap().expect("stored");
    assert_eq!((wiki.sealed.as_str(), wiki.created_ms, wiki.updated_ms), ("v1.k1.ddd", 10, 20), "first set kept");
    assert_eq!(wiki.updated_by, "user:20");
    assert_eq!(s.secret(other.id, "wiki").unwrap().unwrap().sealed, "v1.k1.ccc");
    assert_eq!(s.secret(acme.id, "nope").unwrap(), None);

    let names = |org: Option<i64>| -> Vec<(i64, String)> {
        s.secrets(org).unwrap().into_iter().map(|r| (r.organization, r.name)).collect()
    };
    assert_eq!(names(Some(acme.id)), vec![(acme.id, "jira".into()), (acme.id, "wiki".into())], "by name");
    assert_eq!(names(None).len(), 3, "every organization's");

    // Re-sealing is a compare-and-swap: a stale `old` changes nothing.
    assert!(!s.secret_reseal(acme.id, "wiki", "v1.k1.aaa", "v1.k2.zzz").unwrap());
    assert!(s.secret_reseal(acme.id, "wiki", "v1.k1.ddd", "v1.k2.eee").unwrap());
    let wiki = s.secret(acme.id, "wiki").unwrap().unwrap();
    assert_eq!((wiki.sealed.as_str(), wiki.updated_ms), ("v1.k2.eee", 20), "re-sealing is not an update");

    assert!(s.secret_delete(acme.id, "wiki").unwrap());
    assert!(!s.secret_delete(acme.id, "wiki").unwrap(), "already gone");
    assert_eq!(s.secret(acme.id, "wiki").unwrap(), None);
    assert!(s.secret(other.id, "wiki").unwrap().is_some(), "the other organization's stays");
}
