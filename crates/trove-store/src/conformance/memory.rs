//! Conformance of [`crate::MemoryStore`]: memories stored, read, updated and deleted; scope
//! filters and expiry on every read; pages; keyword search that follows writes; re-embedding of
//! memories; hybrid search: left to the engine, or answered in one step with the engine's
//! fusion ([`crate::fusion::rrf`]); histories, soft deletes and their purge; batches applied
//! whole or not at all, checked against the versions read, also by concurrent writers; and
//! filters by kind and importance.

use super::{NOW, assert_fused, consistent, doc, live, new_memory, normalise, vault};
use crate::{
    HybridQuery, MemoryCursor, MemoryEvent, MemoryFilter, MemoryOp, MemoryPatch, MemoryRecord, NewMemory, Store,
    StoreError, VaultId,
};

pub fn memory_lifecycle(store: &dyn Store) {
    let v = vault(store, "v");
    let m = store
        .memory_put(v, &new_memory("the user prefers dark roast coffee", Some("u1"), &["prefs"], [1.0, 0.0]), NOW)
        .unwrap();
    assert!(m.id.starts_with("mem_") && m.id.len() > 10, "opaque id: {}", m.id);
    assert_eq!(m.created_ms, NOW);
    let got = store.memory_get(v, &m.id, NOW).unwrap().expect("stored memory not found");
    assert_eq!(got.text, m.text);
    assert_eq!(got.tags, ["prefs"]);
    assert_eq!(got.metadata, serde_json::json!({"source": "test"}));
    assert_eq!(got.user_id.as_deref(), Some("u1"));
    let hits = store.memory_keyword_search(v, "coffee", &live(NOW), 10).unwrap();
    assert_eq!(store.memory_records(&[hits[0].id]).unwrap()[0].id, m.id);
    assert_eq!(store.memory_keyword_search(v, "prefs", &live(NOW), 10).unwrap().len(), 1, "tags are searchable");
    let hits = store.memory_vector_search(v, &[1.0, 0.0], &live(NOW), 10).unwrap();
    assert_eq!(hits.len(), 1);

    let patch = MemoryPatch {
        text: Some("the user now prefers green tea".into()),
        tags: Some(vec!["prefs".into(), "drinks".into()]),
        vector: Some(normalise(&[0.0, 1.0])),
        importance: Some(0.9),
        ..Default::default()
    };
    let updated = store.memory_update(v, &m.id, &patch, NOW + 5).unwrap().expect("update found nothing");
    assert_eq!((updated.updated_ms, updated.created_ms), (NOW + 5, NOW));
    assert!(store.memory_keyword_search(v, "coffee", &live(NOW), 10).unwrap().is_empty(), "old text still indexed");
    assert_eq!(store.memory_keyword_search(v, "tea", &live(NOW), 10).unwrap().len(), 1);
    let hits = store.memory_vector_search(v, &[0.0, 1.0], &live(NOW), 10).unwrap();
    assert!((hits[0].score - 1.0).abs() < 1e-5, "vector not replaced: {hits:?}");
    assert_eq!(store.memory_get(v, &m.id, NOW).unwrap().unwrap().importance, 0.9);
    assert!(store.memory_update(v, "mem_nope", &MemoryPatch::default(), NOW).unwrap().is_none());

    assert!(store.memory_delete(v, &m.id).unwrap());
    assert!(!store.memory_delete(v, &m.id).unwrap());
    assert!(store.memory_get(v, &m.id, NOW).unwrap().is_none());
    assert!(store.memory_vector_search(v, &[0.0, 1.0], &live(NOW), 10).unwrap().is_empty(), "orphan memory vector");
    assert!(store.memory_keyword_search(v, "tea", &live(NOW), 10).unwrap().is_empty());
    // Another vault cannot see or delete it.
    let w = vault(store, "w");
    let m = store.memory_put(v, &new_memory("private", None, &[], [1.0, 0.0]), NOW).unwrap();
    assert!(store.memory_get(w, &m.id, NOW).unwrap().is_none());
    assert!(!store.memory_delete(w, &m.id).unwrap());
    assert!(store.memory_vector_search(w, &[1.0, 0.0], &live(NOW), 10).unwrap().is_empty());
    consistent(store);
}

pub fn memory_filters_and_expiry(store: &dyn Store) {
    let v = vault(store, "v");
    store
        .memory_put(v, &new_memory("alpha likes hiking", Some("alice"), &["hobby"], [1.0, 0.0]), NOW - 40 * 86_400_000)
        .unwrap();
    store
        .memory_put(v, &new_memory("bob likes chess", Some("bob"), &["hobby", "games"], [0.9, 0.1]), NOW - 3_600_000)
        .unwrap();
    let mut temp = new_memory("temporary note about hiking", Some("alice"), &[], [1.0, 0.0]);
    temp.expires_ms = Some(NOW + 1000);
    store.memory_put(v, &temp, NOW - 1000).unwrap();

    let alice = MemoryFilter { user_id: Some("alice".into()), ..live(NOW) };
    assert_eq!(store.memory_list(v, &alice, None, 10).unwrap().len(), 2);
    assert_eq!(store.memory_keyword_search(v, "likes", &alice, 10).unwrap().len(), 1);
    assert_eq!(store.memory_vector_search(v, &[1.0, 0.0], &alice, 10).unwrap().len(), 2);
    let games = MemoryFilter { tags: vec!["hobby".into(), "games".into()], ..live(NOW) };
    let only = store.memory_list(v, &games, None, 10).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].user_id.as_deref(), Some("bob"));
    let recent = MemoryFilter { created_after_ms: Some(NOW - 86_400_000), ..live(NOW) };
    assert_eq!(store.memory_list(v, &recent, None, 10).unwrap().len(), 2);
    let old = MemoryFilter { created_before_ms: Some(NOW - 86_400_000), ..live(NOW) };
    assert_eq!(store.memory_list(v, &old, None, 10).unwrap().len(), 1);

    // After expiry the temporary memory disappears from every read, then is purged.
    let later = NOW + 2000;
    assert_eq!(store.memory_list(v, &live(later), None, 10).unwrap().len(), 2);
    assert_eq!(store.memory_keyword_search(v, "temporary", &live(later), 10).unwrap().len(), 0);
    assert_eq!(store.memory_vector_search(v, &[1.0, 0.0], &live(later), 10).unwrap().len(), 2);
    let stats = store.memory_stats(v, later).unwrap();
    assert_eq!((stats.total, stats.expired), (2, 1));
    assert_eq!(stats.by_user, [("alice".to_string(), 1), ("bob".to_string(), 1)]);
    assert_eq!(stats.by_tag[0], ("hobby".to_string(), 2));
    assert_eq!(stats.by_age.iter().map(|(_, n)| n).sum::<u64>(), 2);
    assert!(stats.bytes > 0);
    assert_eq!(store.memory_purge_expired(later).unwrap(), 1);
    assert_eq!(store.memory_stats(v, later).unwrap().expired, 0);
    consistent(store);
}

pub fn memory_pagination(store: &dyn Store) {
    let v = vault(store, "v");
    let mut ids = Vec::new();
    for i in 0..25 {
        // Several memories share a timestamp: the cursor must still not skip or repeat.
        ids.push(
            store.memory_put(v, &new_memory(&format!("note {i}"), None, &[], [1.0, i as f32]), NOW + i / 3).unwrap().id,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<MemoryCursor> = None;
    loop {
        let page = store.memory_list(v, &live(NOW + 100), cursor, 7).unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(MemoryCursor { created_ms: last.created_ms, rowid: last.rowid });
        assert!(page.windows(2).all(|w| w[0].created_ms >= w[1].created_ms), "not newest first");
        seen.extend(page.into_iter().map(|m| m.id));
    }
    assert_eq!(seen.len(), 25);
    ids.reverse();
    assert_eq!(seen, ids, "pages skipped or repeated memories");
}

pub fn memory_keyword_search_follows_writes_and_scope(store: &dyn Store) {
    let v = vault(store, "v");
    let search = |vault: VaultId, q: &str, f: &MemoryFilter| -> Vec<i64> {
        store.memory_keyword_search(vault, q, f, 10).unwrap().iter().map(|h| h.id).collect()
    };
    let sorted = |mut ids: Vec<i64>| {
        ids.sort_unstable();
        ids
    };
    // Equal scores come back by row id.
    let twins: Vec<MemoryRecord> = (0..3)
        .map(|_| store.memory_put(v, &new_memory("identical twin note", None, &[], [1.0, 0.0]), NOW).unwrap())
        .collect();
    let twin_ids: Vec<i64> = twins.iter().map(|m| m.rowid).collect();
    assert_eq!(search(v, "twin", &live(NOW)), sorted(twin_ids.clone()), "ties not by row id");

    // Each part of the scope narrows keyword hits exactly as it narrows a listing.
    let mut a = new_memory("scoped falcon note", Some("ann"), &["birds", "sky"], [1.0, 0.0]);
    a.agent_id = Some("agent-a".into());
    a.session_id = Some("s1".into());
    let a = store.memory_put(v, &a, NOW - 10).unwrap();
    let mut b = new_memory("scoped falcon note", Some("ben"), &["birds"], [1.0, 0.0]);
    b.agent_id = Some("agent-b".into());
    let b = store.memory_put(v, &b, NOW).unwrap();
    let w = vault(store, "w");
    store.memory_put(w, &new_memory("a falcon elsewhere", Some("ann"), &["birds", "sky"], [1.0, 0.0]), NOW).unwrap();
    let cases: Vec<(MemoryFilter, Vec<i64>)> = vec![
        (live(NOW), vec![a.rowid, b.rowid]),
        (MemoryFilter { user_id: Some("ann".into()), ..live(NOW) }, vec![a.rowid]),
        (MemoryFilter { user_id: Some("nobody".into()), ..live(NOW) }, vec![]),
        (MemoryFilter { agent_id: Some("agent-b".into()), ..live(NOW) }, vec![b.rowid]),
        (MemoryFilter { session_id: Some("s1".into()), ..live(NOW) }, vec![a.rowid]),
        (MemoryFilter { tags: vec!["birds".into()], ..live(NOW) }, vec![a.rowid, b.rowid]),
        (MemoryFilter { tags: vec!["birds".into(), "sky".into()], ..live(NOW) }, vec![a.rowid]),
        (MemoryFilter { tags: vec!["sky".into(), "sea".into()], ..live(NOW) }, vec![]),
        (MemoryFilter { created_after_ms: Some(NOW), ..live(NOW) }, vec![b.rowid]),
        (MemoryFilter { created_before_ms: Some(NOW), ..live(NOW) }, vec![a.rowid]),
    ];
    for (f, want) in &cases {
        assert_eq!(&sorted(search(v, "falcon", f)), want, "keyword hits for {f:?}");
        let listed: Vec<i64> = store.memory_list(v, f, None, 100).unwrap().iter().map(|m| m.rowid).collect();
        let matching: Vec<i64> = listed.into_iter().filter(|id| [a.rowid, b.rowid].contains(id)).collect();
        assert_eq!(&sorted(matching), want, "listing for {f:?}");
    }
    assert_eq!(search(w, "falcon", &live(NOW)).len(), 1, "other vault's memory missing or mixed in");

    // A tags-only update: the old tag no longer matches, the new one does (stemmed).
    let patch = MemoryPatch { tags: Some(vec!["ocean".into()]), ..MemoryPatch::default() };
    store.memory_update(v, &a.id, &patch, NOW + 1).unwrap().expect("update found nothing");
    assert!(search(v, "sky", &live(NOW + 1)).is_empty(), "old tag still indexed");
    assert_eq!(search(v, "oceans", &live(NOW + 1)), [a.rowid]);
    assert_eq!(search(v, "falcon", &MemoryFilter { tags: vec!["ocean".into()], ..live(NOW + 1) }), [a.rowid]);
    assert!(search(v, "falcon", &MemoryFilter { tags: vec!["sky".into()], ..live(NOW + 1) }).is_empty());

    // An update that only sets an expiry hides the memory once it passes; purged, it stays gone.
    let patch = MemoryPatch { expires_ms: Some(Some(NOW + 100)), ..MemoryPatch::default() };
    store.memory_update(v, &b.id, &patch, NOW + 2).unwrap().expect("update found nothing");
    assert_eq!(sorted(search(v, "falcon", &live(NOW + 99))), [a.rowid, b.rowid]);
    assert_eq!(search(v, "falcon", &live(NOW + 100)), [a.rowid], "expired memory found");
    assert_eq!(store.memory_purge_expired(NOW + 100).unwrap(), 1);
    assert_eq!(search(v, "falcon", &live(NOW + 2)), [a.rowid], "purged memory found");

    // A deleted memory never appears; the others still rank by row id.
    assert!(store.memory_delete(v, &twins[1].id).unwrap());
    assert_eq!(search(v, "identical twin", &live(NOW)), sorted(vec![twin_ids[0], twin_ids[2]]));
    consistent(store);
}

pub fn restaging_includes_memories(store: &dyn Store) {
    let v = vault(store, "v");
    store.put_documents(v, &[doc("s", "a.md", "h", &[("one", [1.0, 0.0])])]).unwrap();
    let m = store.memory_put(v, &new_memory("remember this", None, &[], [0.0, 1.0]), NOW).unwrap();
    let chunks = store.chunks_to_reembed(v, 0, 10).unwrap();
    store.stage_vectors(v, &[(chunks[0].id, vec![1.0, 0.0, 0.0])]).unwrap();
    assert!(store.commit_staged_vectors(v, "m2", 3).is_err(), "switched while a memory kept its old vector");
    let todo = store.memories_to_reembed(v, 0, 10).unwrap();
    assert_eq!(todo.len(), 1);
    store.stage_memory_vectors(v, &[(todo[0].rowid, todo[0].updated_ms, vec![0.0, 0.0, 1.0])]).unwrap();
    store.commit_staged_vectors(v, "m2", 3).unwrap();
    let hits = store.memory_vector_search(v, &[0.0, 0.0, 1.0], &live(NOW), 5).unwrap();
    assert_eq!(store.memory_records(&[hits[0].id]).unwrap()[0].id, m.id);
    consistent(store);
}

pub fn restaging_skips_memories_changed_meanwhile(store: &dyn Store) {
    let v = vault(store, "v");
    store.memory_put(v, &new_memory("first text", None, &[], [1.0, 0.0]), NOW).unwrap();
    store.begin_restage(v, "m2", 3).unwrap();
    let read = store.memories_to_reembed(v, 0, 10).unwrap();
    // The text changes between reading it and staging its new vector.
    let patch =
        MemoryPatch { text: Some("second text".into()), vector: Some(vec![0.0, 1.0]), ..MemoryPatch::default() };
    store.memory_update(v, &read[0].id, &patch, NOW + 5).unwrap().unwrap();
    store.stage_memory_vectors(v, &[(read[0].rowid, read[0].updated_ms, vec![0.0, 0.0, 1.0])]).unwrap();
    assert!(store.commit_staged_vectors(v, "m2", 3).is_err(), "staged a vector of text that is gone");
    let again = store.memories_to_reembed(v, 0, 10).unwrap();
    assert_eq!(again[0].text, "second text");
    store.stage_memory_vectors(v, &[(again[0].rowid, again[0].updated_ms, vec![0.0, 0.0, 1.0])]).unwrap();
    // An update after staging also drops the staged vector.
    let patch = MemoryPatch { text: Some("third text".into()), vector: Some(vec![1.0, 0.0]), ..MemoryPatch::default() };
    store.memory_update(v, &read[0].id, &patch, NOW + 9).unwrap().unwrap();
    assert_eq!(store.memories_to_reembed(v, 0, 10).unwrap().len(), 1);
    consistent(store);
}

/// The hybrid checks' memories, with their ranks for the query `quantum` and the vector (1, 0)
/// at `NOW + 20`, three candidates from each list; worked out by hand as for the chunks of
/// [`super::documents`]:
///
/// | memory  | text                            | user | keyword rank | cosine | vector rank |
/// |---------|---------------------------------|------|--------------|--------|-------------|
/// | m1      | quantum quantum quantum         | u1   | 1            | 0.0    | 4           |
/// | m2      | quantum quantum notes           | u2   | 2            | 0.6    | 3           |
/// | m3      | quantum puzzles and riddles     | u1   | 3            | 0.8    | 2           |
/// | m4      | prefers window seats            | u1   | none         | 1.0    | 1           |
/// | expired | quantum quantum quantum quantum | u1   | (expired at `NOW + 10`: in neither) |
///
/// Returns the vault and the row ids of m1 to m4, which ascend in that order.
fn hybrid_fixture(store: &dyn Store) -> (VaultId, [i64; 4]) {
    let v = vault(store, "v");
    let memories: [(&str, &str, [f32; 2]); 4] = [
        ("quantum quantum quantum", "u1", [0.0, 1.0]),
        ("quantum quantum notes", "u2", [0.6, 0.8]),
        ("quantum puzzles and riddles", "u1", [0.8, 0.6]),
        ("prefers window seats", "u1", [1.0, 0.0]),
    ];
    let ids: Vec<i64> = memories
        .iter()
        .map(|(text, user, v_)| store.memory_put(v, &new_memory(text, Some(user), &[], *v_), NOW).unwrap().rowid)
        .collect();
    let mut gone = new_memory("quantum quantum quantum quantum", Some("u1"), &[], [1.0, 0.0]);
    gone.expires_ms = Some(NOW + 10);
    store.memory_put(v, &gone, NOW).unwrap();
    assert!(ids.is_sorted(), "row ids ascend in the order written: {ids:?}");
    (v, [ids[0], ids[1], ids[2], ids[3]])
}

/// The hybrid checks' query: three candidates from each list, room for five hits.
fn hybrid_query(vector: &[f32]) -> HybridQuery<'_> {
    HybridQuery { text: "quantum", vector, candidates: 3, limit: 5, rrf_k: 60.0 }
}

/// The fixture's fused ranking, by hand: m1 = 1/61 (keyword 1); m2 = 1/62 + 1/63 (keyword 2,
/// vector 3); m3 = 1/63 + 1/62 (keyword 3, vector 2); m4 = 1/61 (vector 1). m2 ties m3 and m1
/// ties m4: the lower id first.
fn hybrid_expected([m1, m2, m3, m4]: [i64; 4]) -> [(i64, f32); 4] {
    let both = 1.0 / 62.0 + 1.0 / 63.0;
    [(m2, both), (m3, both), (m1, 1.0 / 61.0), (m4, 1.0 / 61.0)]
}

/// The backend's own lists rank the fixture as the table says (three candidates each).
fn hybrid_lists_rank_as_computed(store: &dyn Store, v: VaultId, [m1, m2, m3, m4]: [i64; 4]) {
    let at = live(NOW + 20);
    let keyword: Vec<i64> = store.memory_keyword_search(v, "quantum", &at, 3).unwrap().iter().map(|h| h.id).collect();
    assert_eq!(keyword, [m1, m2, m3], "keyword ranks of the fixture");
    let vector: Vec<i64> = store.memory_vector_search(v, &[1.0, 0.0], &at, 3).unwrap().iter().map(|h| h.id).collect();
    assert_eq!(vector, [m4, m3, m2], "vector ranks of the fixture");
}

/// A backend that declines hybrid memory queries (`None`, scoped or not) leaves them to the
/// engine, whose fusion ([`crate::fusion::rrf`]) of this backend's lists ranks as computed by
/// hand.
pub fn memory_hybrid_search_is_left_to_the_engine(store: &dyn Store) {
    let (v, ids) = hybrid_fixture(store);
    let vector = [1.0, 0.0];
    let q = hybrid_query(&vector);
    let at = live(NOW + 20);
    assert_eq!(store.memory_hybrid_search(v, &q, &at).unwrap(), None, "declares engine fusion");
    let u1 = MemoryFilter { user_id: Some("u1".into()), ..at.clone() };
    assert_eq!(store.memory_hybrid_search(v, &q, &u1).unwrap(), None, "declares engine fusion, scoped too");
    hybrid_lists_rank_as_computed(store, v, ids);
    let keyword = store.memory_keyword_search(v, q.text, &at, q.candidates).unwrap();
    let dense = store.memory_vector_search(v, q.vector, &at, q.candidates).unwrap();
    let mut fused = crate::fusion::rrf(&[&keyword, &dense], q.rrf_k);
    fused.truncate(q.limit);
    assert_fused(&fused, &hybrid_expected(ids), "the engine's fusion");
}

/// A backend that answers hybrid memory queries itself must answer an unscoped one, live
/// memories only, fused as the engine fuses: ranks and scores as computed by hand.
pub fn memory_hybrid_search_in_one_step_fuses_both_lists(store: &dyn Store) {
    let (v, ids) = hybrid_fixture(store);
    hybrid_lists_rank_as_computed(store, v, ids);
    let vector = [1.0, 0.0];
    let hits = store
        .memory_hybrid_search(v, &hybrid_query(&vector), &live(NOW + 20))
        .unwrap()
        .expect("a backend declared to answer hybrid queries declined an unscoped one");
    assert_fused(&hits, &hybrid_expected(ids), "one-step hybrid memory search");
}

/// A backend that answers scoped hybrid memory queries itself applies the scope before taking
/// candidates. User u1, by hand: keyword m1 (1), m3 (2); vector m4 (1), m3 (2), m1 (3); so
/// m1 = 1/61 + 1/63, m3 = 2/62, m4 = 1/61.
pub fn memory_hybrid_search_in_one_step_keeps_the_scope(store: &dyn Store) {
    let (v, [m1, _, m3, m4]) = hybrid_fixture(store);
    let vector = [1.0, 0.0];
    let u1 = MemoryFilter { user_id: Some("u1".into()), ..live(NOW + 20) };
    let hits = store
        .memory_hybrid_search(v, &hybrid_query(&vector), &u1)
        .unwrap()
        .expect("a backend declared to answer scoped hybrid queries declined one");
    let want = [(m1, 1.0 / 61.0 + 1.0 / 63.0), (m3, 2.0 / 62.0), (m4, 1.0 / 61.0)];
    assert_fused(&hits, &want, "scoped one-step memory search");
}

pub fn memory_history_records_every_change(store: &dyn Store) {
    let v = vault(store, "v");
    let m = store.memory_put(v, &new_memory("likes tea", Some("u1"), &[], [1.0, 0.0]), NOW).unwrap();
    assert_eq!(m.version, 1);
    let patch = MemoryPatch {
        text: Some("likes green tea".into()),
        vector: Some(normalise(&[0.9, 0.1])),
        ..Default::default()
    };
    let merge = MemoryOp::Update {
        id: m.id.clone(),
        expected_version: Some(1),
        patch,
        event: MemoryEvent::Merge,
        reason: Some("near duplicate".into()),
    };
    let done = store.memory_apply(v, &[merge], Some("key_1"), NOW + 1).unwrap();
    assert_eq!(done[0].memory.as_ref().unwrap().version, 2);
    assert_eq!(store.memory_get(v, &m.id, NOW + 1).unwrap().unwrap().version, 2);
    let del = MemoryOp::Delete {
        id: m.id.clone(),
        expected_version: Some(2),
        soft: true,
        reason: Some("contradicted".into()),
    };
    store.memory_apply(v, &[del], Some("consolidation"), NOW + 2).unwrap();
    assert!(store.memory_get(v, &m.id, NOW + 2).unwrap().is_none(), "a soft delete hides the memory");
    assert!(store.memory_keyword_search(v, "tea", &live(NOW + 2), 10).unwrap().is_empty());
    assert!(store.memory_vector_search(v, &[1.0, 0.0], &live(NOW + 2), 10).unwrap().is_empty());
    let history = store.memory_history(v, &m.id).unwrap();
    let events: Vec<_> = history.iter().map(|h| (h.version, h.event, h.actor.as_deref(), h.at_ms)).collect();
    assert_eq!(
        events,
        [
            (1, MemoryEvent::Add, None, NOW),
            (2, MemoryEvent::Merge, Some("key_1"), NOW + 1),
            (3, MemoryEvent::Delete, Some("consolidation"), NOW + 2)
        ]
    );
    assert_eq!(
        (history[1].old_text.as_deref(), history[1].new_text.as_deref()),
        (Some("likes tea"), Some("likes green tea"))
    );
    assert_eq!(history[1].reason.as_deref(), Some("near duplicate"));
    assert_eq!((history[2].old_text.as_deref(), history[2].new_text.as_deref()), (Some("likes green tea"), None));
    let stats = store.memory_stats(v, NOW + 2).unwrap();
    assert_eq!((stats.total, stats.merges, stats.deleted), (0, 1, 1));
    // Another vault sees no history of it.
    let w = vault(store, "w");
    assert!(store.memory_history(w, &m.id).unwrap().is_empty());
    // A plain (hard) delete takes the history with it; the purge takes soft deletes' histories.
    let hard = store.memory_put(v, &new_memory("gone for good", None, &[], [1.0, 0.0]), NOW).unwrap();
    assert!(store.memory_delete(v, &hard.id).unwrap());
    assert!(store.memory_history(v, &hard.id).unwrap().is_empty());
    assert_eq!(store.memory_purge_deleted(NOW + 1).unwrap(), 0, "deleted after the cut-off");
    assert_eq!(store.memory_purge_deleted(NOW + 2).unwrap(), 1);
    assert!(store.memory_history(v, &m.id).unwrap().is_empty());
    assert_eq!(store.memory_stats(v, NOW + 2).unwrap().deleted, 0);
    consistent(store);
}

pub fn memory_batches_are_all_or_nothing_and_check_versions(store: &dyn Store) {
    let v = vault(store, "v");
    let a = store.memory_put(v, &new_memory("alpha", None, &[], [1.0, 0.0]), NOW).unwrap();
    let b = store.memory_put(v, &new_memory("beta", None, &[], [0.0, 1.0]), NOW).unwrap();
    let tags = |t: &str| MemoryPatch { tags: Some(vec![t.into()]), ..Default::default() };
    let update = |id: &str, version: i64, t: &str| MemoryOp::Update {
        id: id.into(),
        expected_version: Some(version),
        patch: tags(t),
        event: MemoryEvent::Update,
        reason: None,
    };
    let add = MemoryOp::Add { memory: new_memory("gamma", None, &[], [1.0, 1.0]), reason: None };
    // The third op expects a version `b` does not have: nothing of the batch lands.
    let err =
        store.memory_apply(v, &[add.clone(), update(&a.id, 1, "x"), update(&b.id, 7, "y")], None, NOW + 1).unwrap_err();
    assert!(matches!(&err, StoreError::Stale { id, expected: 7, found: 1 } if *id == b.id), "{err:?}");
    assert_eq!(store.memory_list(v, &live(NOW + 1), None, 10).unwrap().len(), 2, "the add was rolled back");
    assert_eq!(store.memory_get(v, &a.id, NOW + 1).unwrap().unwrap().version, 1, "the update was rolled back");
    assert_eq!(store.memory_history(v, &a.id).unwrap().len(), 1);
    let gone = MemoryOp::Delete { id: "mem_nope".into(), expected_version: None, soft: true, reason: None };
    assert!(matches!(store.memory_apply(v, &[gone], None, NOW).unwrap_err(), StoreError::Stale { found: 0, .. }));
    let done = store.memory_apply(v, &[add, update(&a.id, 1, "x"), update(&b.id, 1, "y")], None, NOW + 1).unwrap();
    let events: Vec<_> = done.iter().map(|d| d.event).collect();
    assert_eq!(events, [MemoryEvent::Add, MemoryEvent::Update, MemoryEvent::Update]);
    assert_eq!(store.memory_keyword_search(v, "x", &live(NOW + 1), 10).unwrap().len(), 1, "tags re-indexed");
    consistent(store);
}

/// Two writers read, change and write back one memory at once, each retrying when the other
/// got there first: every change of both is in the end.
pub fn concurrent_writers_to_one_memory_lose_no_update(store: &dyn Store) {
    let v = vault(store, "v");
    let m = store.memory_put(v, &new_memory("shared", Some("u1"), &[], [1.0, 0.0]), NOW).unwrap();
    const EACH: usize = 15;
    std::thread::scope(|s| {
        for writer in ["a", "b"] {
            let id = m.id.clone();
            s.spawn(move || {
                for i in 0..EACH {
                    loop {
                        let current = store.memory_get(v, &id, NOW).unwrap().unwrap();
                        let mut tags = current.tags.clone();
                        tags.push(format!("{writer}{i}"));
                        let op = MemoryOp::Update {
                            id: id.clone(),
                            expected_version: Some(current.version),
                            patch: MemoryPatch { tags: Some(tags), ..Default::default() },
                            event: MemoryEvent::Update,
                            reason: None,
                        };
                        match store.memory_apply(v, &[op], Some(writer), NOW) {
                            Ok(_) => break,
                            Err(StoreError::Stale { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    let end = store.memory_get(v, &m.id, NOW).unwrap().unwrap();
    assert_eq!(end.tags.len(), 2 * EACH, "{:?}", end.tags);
    assert_eq!(end.version, 1 + 2 * EACH as i64);
    assert_eq!(store.memory_history(v, &m.id).unwrap().len(), 1 + 2 * EACH);
}

pub fn memory_kinds_and_importance_filter_every_read(store: &dyn Store) {
    let v = vault(store, "v");
    let kinded = |text: &str, kind: Option<&str>, importance: f32| NewMemory {
        kind: kind.map(Into::into),
        importance,
        ..new_memory(text, Some("u1"), &[], [1.0, 0.0])
    };
    store.memory_put(v, &kinded("likes jazz music", Some("preference"), 0.9), NOW).unwrap();
    store.memory_put(v, &kinded("went to a jazz concert", Some("event"), 0.3), NOW).unwrap();
    store.memory_put(v, &kinded("jazz was mentioned", None, 0.5), NOW).unwrap();
    let f = |kinds: &[&str], min: Option<f32>, user: Option<&str>| MemoryFilter {
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        min_importance: min,
        user_id: user.map(Into::into),
        ..live(NOW)
    };
    for user in [None, Some("u1")] {
        for (kinds, min, want) in [
            (&[][..], None, 3),
            (&["preference"][..], None, 1),
            (&["preference", "event"][..], None, 2),
            (&["procedure"][..], None, 0),
            (&[][..], Some(0.5), 2),
            (&["event"][..], Some(0.5), 0),
        ] {
            let filter = f(kinds, min, user);
            assert_eq!(store.memory_list(v, &filter, None, 10).unwrap().len(), want, "list {filter:?}");
            assert_eq!(store.memory_keyword_search(v, "jazz", &filter, 10).unwrap().len(), want, "keyword {filter:?}");
            assert_eq!(
                store.memory_vector_search(v, &[1.0, 0.0], &filter, 10).unwrap().len(),
                want,
                "vector {filter:?}"
            );
        }
    }
    let stats = store.memory_stats(v, NOW).unwrap();
    let mut by_type = stats.by_type.clone();
    by_type.sort();
    assert_eq!(by_type, [("".to_string(), 1), ("event".into(), 1), ("preference".into(), 1)]);
    let kind = MemoryPatch { kind: Some("fact".into()), ..Default::default() };
    let id = store.memory_list(v, &f(&["event"], None, None), None, 1).unwrap()[0].id.clone();
    assert_eq!(store.memory_update(v, &id, &kind, NOW).unwrap().unwrap().kind.as_deref(), Some("fact"));
    assert_eq!(store.memory_list(v, &f(&["fact"], None, None), None, 10).unwrap().len(), 1);
}
