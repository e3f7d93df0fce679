//! Conformance of [`crate::ConversationStore`]: conversations owned per vault and owner, their
//! turns in order, listing in pages, deletion, expiry and the purge.

use crate::{NewTurn, Store};

use super::vault;

fn turn(i: usize) -> NewTurn {
    NewTurn {
        question: format!("question {i}"),
        rewritten: (i > 0).then(|| format!("standalone question {i}")),
        answer: format!("answer {i} [1]"),
        citations: serde_json::json!([{"n": 1, "chunk_id": i}]),
    }
}

pub fn conversations_are_per_owner_and_keep_their_turns(s: &dyn Store) {
    let (garden, kitchen) = (vault(s, "garden"), vault(s, "kitchen"));
    let c = s.conversation_create(garden, "user:ada", "cnv_a", "Watering", 1_000, 5_000).unwrap();
    assert_eq!((c.id.as_str(), c.turns, c.expires_ms), ("cnv_a", 0, 5_000));
    for i in 0..3 {
        assert!(s.conversation_add_turn(c.rowid, &turn(i), 2_000 + i as i64, 9_000 + i as i64).unwrap());
    }
    let got = s.conversation_get(garden, "user:ada", "cnv_a", 3_000).unwrap().expect("the owner reads it");
    assert_eq!((got.turns, got.updated_ms, got.expires_ms, got.title.as_str()), (3, 2_002, 9_002, "Watering"));
    // Another owner, or the same owner in another vault, does not reach it.
    assert_eq!(s.conversation_get(garden, "user:bob", "cnv_a", 3_000).unwrap(), None);
    assert_eq!(s.conversation_get(kitchen, "user:ada", "cnv_a", 3_000).unwrap(), None);
    assert!(!s.conversation_delete(garden, "user:bob", "cnv_a").unwrap(), "another owner cannot delete it");

    let all = s.conversation_turns(c.rowid, 10).unwrap();
    let questions: Vec<&str> = all.iter().map(|t| t.turn.question.as_str()).collect();
    assert_eq!(questions, ["question 0", "question 1", "question 2"], "oldest first");
    assert_eq!(all[1].turn, turn(1), "a turn reads back as written");
    assert_eq!(all[2].created_ms, 2_002);
    let last = s.conversation_turns(c.rowid, 2).unwrap();
    assert_eq!(last.iter().map(|t| t.turn.question.as_str()).collect::<Vec<_>>(), ["question 1", "question 2"]);

    // Pages of the owner's conversations, newest first.
    for i in 0..4 {
        s.conversation_create(garden, "user:ada", &format!("cnv_p{i}"), "t", 1_100 + i, 50_000).unwrap();
    }
    s.conversation_create(garden, "user:bob", "cnv_b", "t", 1_200, 50_000).unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = s.conversation_list(garden, "user:ada", 3_000, before, 2).unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.rowid);
        seen.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(seen, ["cnv_p3", "cnv_p2", "cnv_p1", "cnv_p0", "cnv_a"]);

    assert!(s.conversation_delete(garden, "user:ada", "cnv_a").unwrap());
    assert!(!s.conversation_delete(garden, "user:ada", "cnv_a").unwrap(), "deleted once");
    assert!(s.conversation_turns(c.rowid, 10).unwrap().is_empty(), "its turns go with it");
    assert!(!s.conversation_add_turn(c.rowid, &turn(9), 4_000, 9_000).unwrap(), "no turn lands on a deleted one");
    // Deleting the vault deletes its conversations.
    assert!(s.delete_vault(garden).unwrap());
    let garden = vault(s, "garden");
    assert!(s.conversation_list(garden, "user:bob", 3_000, None, 10).unwrap().is_empty());
}

pub fn conversations_expire_and_are_purged(s: &dyn Store) {
    let v = vault(s, "garden");
    let short = s.conversation_create(v, "local", "cnv_short", "t", 1_000, 2_000).unwrap();
    let long = s.conversation_create(v, "local", "cnv_long", "t", 1_000, 2_000).unwrap();
    // A turn pushes the expiry back.
    assert!(s.conversation_add_turn(long.rowid, &turn(0), 1_500, 10_000).unwrap());
    assert!(s.conversation_get(v, "local", "cnv_short", 1_999).unwrap().is_some());
    assert_eq!(s.conversation_get(v, "local", "cnv_short", 2_000).unwrap(), None, "expired is invisible");
    let listed: Vec<String> =
        s.conversation_list(v, "local", 2_000, None, 10).unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(listed, ["cnv_long"]);
    assert_eq!(s.conversation_purge_expired(2_000).unwrap(), 1);
    assert!(s.conversation_turns(short.rowid, 10).unwrap().is_empty());
    assert_eq!(s.conversation_turns(long.rowid, 10).unwrap().len(), 1);
    assert_eq!(s.conversation_purge_expired(2_000).unwrap(), 0);
    assert_eq!(s.conversation_purge_expired(10_000).unwrap(), 1);
    assert!(s.conversation_turns(long.rowid, 10).unwrap().is_empty());
}
