//! Conformance of [`crate::AuditLog`]: entries appended, filtered, paged and pruned.

use crate::{AuditFilter, NewAuditEvent, Store};

pub fn audit_log_filters_pages_and_prunes(s: &dyn Store) {
    let acme = s.organization_ensure("acme", 1).unwrap();
    let other = s.organization_ensure("other", 1).unwrap();
    let events = ["key.created", "memory.created", "key.revoked", "auth.rejected", "memory.deleted"];
    for i in 0..50i64 {
        let e = NewAuditEvent {
            at_ms: 1_000 + i * 10,
            organization: Some(if i % 2 == 0 { acme.id } else { other.id }),
            actor: format!("key:k{}", i % 3),
            ip: Some("127.0.0.1".into()),
            event: events[i as usize % events.len()].into(),
            target: Some(format!("vault:v/memory:{i}")),
            outcome: "ok".into(),
            details: serde_json::json!({"i": i}),
        };
        s.audit_append(&e).unwrap();
    }
    // Every acme entry in [1100, 1300), newest first, read in pages of 3.
    let filter =
        AuditFilter { organization: Some(acme.id), from_ms: Some(1_100), to_ms: Some(1_300), ..Default::default() };
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = s.audit_query(&filter, before, 3).unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        seen.extend(page.into_iter().map(|r| r.event.details["i"].as_i64().unwrap()));
    }
    let want: Vec<i64> = (10..30).rev().filter(|i| i % 2 == 0).collect();
    assert_eq!(seen, want, "exactly the range, in order, across pages");
    let first = &s.audit_query(&filter, None, 1).unwrap()[0];
    assert_eq!(first.organization_name.as_deref(), Some("acme"));
    assert_eq!(first.event.ip.as_deref(), Some("127.0.0.1"));

    let keys = s.audit_query(&AuditFilter { event: Some("key.".into()), ..Default::default() }, None, 100).unwrap();
    assert_eq!(keys.len(), 20, "a prefix ending in `.` matches the family");
    assert!(keys.iter().all(|r| r.event.event.starts_with("key.")));
    let exact = AuditFilter { event: Some("key.created".into()), actor: Some("key:k0".into()), ..Default::default() };
    let rows = s.audit_query(&exact, None, 100).unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.event.event == "key.created" && r.event.actor == "key:k0"));

    assert_eq!(s.audit_prune(1_250).unwrap(), 25);
    assert_eq!(s.audit_query(&AuditFilter::default(), None, 100).unwrap().len(), 25);
}
