//! The storage conformance suite: behaviour every backend must show, written once against the
//! traits. A backend's tests call [`run_all`] with a factory that makes a fresh, empty store
//! (and a guard that keeps its resources alive, such as a temporary folder).
//!
//! Each check panics with a message naming the behaviour that broke.

use std::any::Any;

use crate::{
    AuditFilter, ChunkFilter, Grantee, Heartbeat, HybridQuery, InvitationRecord, JobFilter, JobOutcome, JobStatus,
    MembershipChange, MemoryCursor, MemoryFilter, MemoryPatch, MemoryRecord, NewApiKey, NewAuditEvent, NewChunk,
    NewDocument, NewJob, NewMemory, NewSession, SecretRecord, Store, VaultId,
};

/// Makes a fresh empty store and a guard to drop after it.
pub type Factory<'a> = &'a dyn Fn() -> (Box<dyn Store>, Box<dyn Any>);

/// One named check.
type Check = (&'static str, fn(&dyn Store));

/// Runs every check, each on a fresh store.
pub fn run_all(factory: impl Fn() -> (Box<dyn Store>, Box<dyn Any>)) {
    let checks: &[Check] = &[
        ("vaults", vaults),
        ("put_and_read_back", put_and_read_back),
        ("replace_leaves_no_old_chunks", replace_leaves_no_old_chunks),
        ("delete_removes_from_every_index", delete_removes_from_every_index),
        ("documents_list_in_pages_with_their_chunks", documents_list_in_pages_with_their_chunks),
        ("keyword_search_ranks_and_filters", keyword_search_ranks_and_filters),
        ("keyword_query_syntax_is_inert", keyword_query_syntax_is_inert),
        ("vector_search_ranks_and_filters", vector_search_ranks_and_filters),
        ("hybrid_search_in_one_step_fuses_both_lists", hybrid_search_in_one_step_fuses_both_lists),
        ("metadata_filters_match_values_and_array_members", metadata_filters_match_values_and_array_members),
        ("vaults_are_isolated", vaults_are_isolated),
        ("dimension_is_enforced", dimension_is_enforced),
        ("batch_put_is_atomic", batch_put_is_atomic),
        ("restaging_vectors_switches_atomically", restaging_vectors_switches_atomically),
        ("memory_lifecycle", memory_lifecycle),
        ("memory_filters_and_expiry", memory_filters_and_expiry),
        ("memory_pagination", memory_pagination),
        ("memory_keyword_search_follows_writes_and_scope", memory_keyword_search_follows_writes_and_scope),
        ("restaging_includes_memories", restaging_includes_memories),
        ("restaging_resumes_only_for_the_same_model", restaging_resumes_only_for_the_same_model),
        ("restaging_skips_memories_changed_meanwhile", restaging_skips_memories_changed_meanwhile),
        ("delete_vault_removes_everything_in_it", delete_vault_removes_everything_in_it),
        ("job_lifecycle", job_lifecycle),
        ("job_retries_then_dead_letter", job_retries_then_dead_letter),
        ("job_lease_expiry_hands_the_job_over", job_lease_expiry_hands_the_job_over),
        ("job_cancel_recover_dedupe_and_list", job_cancel_recover_dedupe_and_list),
        ("users_organizations_and_vault_ownership", users_organizations_and_vault_ownership),
        ("api_keys_are_stored_listed_revoked_and_touched", api_keys_are_stored_listed_revoked_and_touched),
        (
            "sessions_are_capped_listed_revoked_and_follow_the_role",
            sessions_are_capped_listed_revoked_and_follow_the_role,
        ),
        ("audit_log_filters_pages_and_prunes", audit_log_filters_pages_and_prunes),
        ("source_syncs_keep_the_last_outcome_per_source", source_syncs_keep_the_last_outcome_per_source),
        ("teams_and_vault_grants", teams_and_vault_grants),
        ("user_tokens_work_once_and_expire", user_tokens_work_once_and_expire),
        ("invitations_are_accepted_once", invitations_are_accepted_once),
        (
            "secrets_are_per_organization_and_resealed_only_if_unchanged",
            secrets_are_per_organization_and_resealed_only_if_unchanged,
        ),
    ];
    // `TROVE_CONFORMANCE_ONLY=memory,job` runs only the checks whose names contain one of
    // those words (while a backend is being written); unset, every check runs.
    let only = std::env::var("TROVE_CONFORMANCE_ONLY").unwrap_or_default();
    let only: Vec<&str> = only.split(',').map(str::trim).filter(|w| !w.is_empty()).collect();
    for (name, check) in checks {
        if !only.is_empty() && !only.iter().any(|w| name.contains(w)) {
            eprintln!("conformance check `{name}` skipped (TROVE_CONFORMANCE_ONLY)");
            continue;
        }
        let (store, guard) = factory();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(store.as_ref())));
        drop(store);
        drop(guard);
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("conformance check `{name}` failed: {msg}");
        }
    }
}

/// A test document with 2-dimensional vectors.
pub fn doc(source: &str, uri: &str, hash: &str, chunks: &[(&str, [f32; 2])]) -> NewDocument {
    NewDocument {
        source: source.into(),
        uri: uri.into(),
        title: format!("Title of {uri}"),
        content_hash: hash.into(),
        metadata: serde_json::json!({"k": "v"}),
        modified_unix_ms: Some(1_700_000_000_000),
        chunks: chunks
            .iter()
            .map(|(text, v)| NewChunk {
                text: (*text).into(),
                heading_path: vec!["H".into()],
                token_count: text.split_whitespace().count(),
                vector: normalise(v),
            })
            .collect(),
    }
}

fn normalise(v: &[f32; 2]) -> Vec<f32> {
    let n = (v[0] * v[0] + v[1] * v[1]).sqrt().max(1e-12);
    vec![v[0] / n, v[1] / n]
}

fn vault(store: &dyn Store, name: &str) -> i64 {
    let v = store.ensure_vault(name).expect("ensure_vault");
    store.set_vault_embedder(v.id, "test-model", 2).expect("set_vault_embedder");
    v.id
}

fn consistent(store: &dyn Store) {
    let report = store.check_integrity().expect("check_integrity");
    assert!(report.problems.is_empty(), "integrity problems: {:?}", report.problems);
}

fn vaults(store: &dyn Store) {
    assert!(store.vault("a").unwrap().is_none());
    let a = store.ensure_vault("a").unwrap();
    let again = store.ensure_vault("a").unwrap();
    assert_eq!(a.id, again.id, "ensure_vault is idempotent");
    assert_eq!(a.model_id, None);
    store.set_vault_embedder(a.id, "m1", 2).unwrap();
    let a = store.vault("a").unwrap().unwrap();
    assert_eq!((a.model_id.as_deref(), a.dimension), (Some("m1"), Some(2)));
    store.ensure_vault("b").unwrap();
    let names: Vec<String> = store.vaults().unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["a", "b"]);
}

fn put_and_read_back(store: &dyn Store) {
    let v = vault(store, "v");
    let ids = store
        .put_documents(v, &[doc("s", "a.md", "h1", &[("alpha one", [1.0, 0.0]), ("beta two", [0.0, 1.0])])])
        .unwrap();
    assert_eq!(ids.len(), 1);
    let states = store.document_states(v, "s").unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].uri.as_str(), states[0].content_hash.as_str()), ("a.md", "h1"));
    let hits = store.keyword_search(v, "alpha", 10, &ChunkFilter::default()).unwrap();
    assert_eq!(hits.len(), 1);
    let chunks = store.chunks(&[hits[0].id]).unwrap();
    assert_eq!(chunks[0].text, "alpha one");
    assert_eq!(chunks[0].index, 0);
    assert_eq!(chunks[0].uri, "a.md");
    assert_eq!(chunks[0].source, "s");
    assert_eq!(chunks[0].title, "Title of a.md");
    assert_eq!(chunks[0].heading_path, vec!["H".to_string()]);
    let stats = store.vault_stats(v).unwrap();
    assert_eq!((stats.documents, stats.chunks, stats.tokens), (1, 2, 4));
    assert_eq!(store.sources_with_documents(v).unwrap(), ["s"]);
    consistent(store);
}

fn replace_leaves_no_old_chunks(store: &dyn Store) {
    let v = vault(store, "v");
    store
        .put_documents(v, &[doc("s", "a.md", "h1", &[("old words here", [1.0, 0.0]), ("more old", [1.0, 0.1])])])
        .unwrap();
    // Warm any derived index so the replacement has to update it.
    assert_eq!(store.vector_search(v, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap().len(), 2);
    store.put_documents(v, &[doc("s", "a.md", "h2", &[("new words", [0.0, 1.0])])]).unwrap();
    assert!(
        store.keyword_search(v, "old", 10, &ChunkFilter::default()).unwrap().is_empty(),
        "old chunks still match keywords"
    );
    let hits = store.vector_search(v, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap();
    assert_eq!(hits.len(), 1, "old vectors remain: {hits:?}");
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "new words");
    assert_eq!(store.document_states(v, "s").unwrap()[0].content_hash, "h2");
    assert_eq!(store.vault_stats(v).unwrap().chunks, 1);
    consistent(store);
}

fn delete_removes_from_every_index(store: &dyn Store) {
    let v = vault(store, "v");
    store
        .put_documents(
            v,
            &[doc("s", "a.md", "h", &[("gamma", [1.0, 0.0])]), doc("s", "b.md", "h", &[("delta", [0.0, 1.0])])],
        )
        .unwrap();
    assert_eq!(store.vector_search(v, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap().len(), 2);
    assert!(store.delete_document(v, "s", "a.md").unwrap());
    assert!(!store.delete_document(v, "s", "a.md").unwrap(), "second delete reports absence");
    assert!(store.keyword_search(v, "gamma", 10, &ChunkFilter::default()).unwrap().is_empty());
    let hits = store.vector_search(v, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap();
    assert_eq!(hits.len(), 1, "orphan vector after delete");
    assert_eq!(store.document_states(v, "s").unwrap().len(), 1);
    consistent(store);
}

fn documents_list_in_pages_with_their_chunks(store: &dyn Store) {
    let v = vault(store, "v");
    let w = vault(store, "w");
    store.put_documents(w, &[doc("s", "other.md", "h", &[("elsewhere", [1.0, 0.0])])]).unwrap();
    store
        .put_documents(
            v,
            &[
                doc("s", "a.md", "ha", &[("one two", [1.0, 0.0]), ("three", [0.0, 1.0])]),
                doc("s", "b.md", "hb", &[("four", [1.0, 0.0])]),
                doc("t", "c.md", "hc", &[("five six seven", [1.0, 0.0])]),
            ],
        )
        .unwrap();
    let first = store.documents(v, 0, 2).unwrap();
    assert_eq!(first.iter().map(|d| d.uri.as_str()).collect::<Vec<_>>(), ["a.md", "b.md"], "first page");
    let rest = store.documents(v, first[1].id, 2).unwrap();
    assert_eq!(rest.iter().map(|d| d.uri.as_str()).collect::<Vec<_>>(), ["c.md"], "pages skipped or repeated");
    assert!(store.documents(v, rest[0].id, 2).unwrap().is_empty());
    let a = &first[0];
    assert_eq!((a.source.as_str(), a.title.as_str(), a.content_hash.as_str()), ("s", "Title of a.md", "ha"));
    assert_eq!((a.chunks, a.tokens), (2, 3));
    assert_eq!(a.metadata, serde_json::json!({"k": "v"}));
    assert_eq!(a.modified_unix_ms, Some(1_700_000_000_000));
    assert!(!a.indexed_at.is_empty());
    assert_eq!(store.document(v, a.id).unwrap().as_ref(), Some(a));
    let other = store.documents(w, 0, 10).unwrap();
    assert_eq!(other.len(), 1);
    assert!(store.document(v, other[0].id).unwrap().is_none(), "a document is visible from another vault");
    let chunks = store.document_chunks(a.id).unwrap();
    assert_eq!(chunks.iter().map(|c| (c.index, c.text.as_str())).collect::<Vec<_>>(), [(0, "one two"), (1, "three")]);
    assert!(chunks.iter().all(|c| c.document_id == a.id && c.uri == "a.md"));
    assert!(store.delete_document(v, "s", "a.md").unwrap());
    assert!(store.document(v, a.id).unwrap().is_none());
    assert!(store.document_chunks(a.id).unwrap().is_empty());
    assert_eq!(store.documents(v, 0, 10).unwrap().len(), 2);
}

fn keyword_search_ranks_and_filters(store: &dyn Store) {
    let v = vault(store, "v");
    store
        .put_documents(
            v,
            &[
                doc("s1", "docs/a.md", "h", &[("the quick brown fox jumps", [1.0, 0.0])]),
                doc("s1", "docs/b.md", "h", &[("fox fox fox fox den", [1.0, 0.0])]),
                doc("s2", "other/c.md", "h", &[("a fox in another source", [1.0, 0.0])]),
                doc("s2", "other/d.md", "h", &[("nothing relevant", [1.0, 0.0])]),
            ],
        )
        .unwrap();
    let hits = store.keyword_search(v, "fox", 10, &ChunkFilter::default()).unwrap();
    assert_eq!(hits.len(), 3);
    let first = store.chunks(&[hits[0].id]).unwrap();
    assert_eq!(first[0].uri, "docs/b.md", "highest term frequency ranks first");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "scores descend");
    // Stemming: "jumping" finds "jumps".
    assert_eq!(store.keyword_search(v, "jumping", 10, &ChunkFilter::default()).unwrap().len(), 1);
    let only_s2 = ChunkFilter { source: Some("s2".into()), ..ChunkFilter::default() };
    assert_eq!(store.keyword_search(v, "fox", 10, &only_s2).unwrap().len(), 1);
    let prefix = ChunkFilter { uri_prefix: Some("docs/".into()), ..ChunkFilter::default() };
    assert_eq!(store.keyword_search(v, "fox", 10, &prefix).unwrap().len(), 2);
    assert_eq!(store.keyword_search(v, "fox", 1, &ChunkFilter::default()).unwrap().len(), 1, "limit");
    // Title and headings are searchable too.
    assert_eq!(store.keyword_search(v, "Title", 10, &ChunkFilter::default()).unwrap().len(), 4);
}

fn keyword_query_syntax_is_inert(store: &dyn Store) {
    let v = vault(store, "v");
    store.put_documents(v, &[doc("s", "a.md", "h", &[("C++ and NEAR(x y) AND OR NOT", [1.0, 0.0])])]).unwrap();
    for q in ["\"", "AND", "NEAR(", "*", "c++ OR", "col:x", "^start", "\"unbalanced", "", "   "] {
        let r = store.keyword_search(v, q, 10, &ChunkFilter::default());
        assert!(r.is_ok(), "query {q:?} errored: {r:?}");
    }
}

fn vector_search_ranks_and_filters(store: &dyn Store) {
    let v = vault(store, "v");
    store
        .put_documents(
            v,
            &[
                doc("s1", "x/a.md", "h", &[("a", [1.0, 0.0])]),
                doc("s1", "x/b.md", "h", &[("b", [0.8, 0.6])]),
                doc("s2", "y/c.md", "h", &[("c", [0.0, 1.0])]),
            ],
        )
        .unwrap();
    let hits = store.vector_search(v, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap();
    let texts: Vec<String> =
        store.chunks(&hits.iter().map(|h| h.id).collect::<Vec<_>>()).unwrap().into_iter().map(|c| c.text).collect();
    assert_eq!(texts, ["a", "b", "c"]);
    assert!((hits[0].score - 1.0).abs() < 1e-5, "cosine of identical unit vectors is 1");
    let f = ChunkFilter { source: Some("s2".into()), ..ChunkFilter::default() };
    assert_eq!(store.vector_search(v, &[1.0, 0.0], 10, &f).unwrap().len(), 1);
    let f = ChunkFilter { uri_prefix: Some("x/".into()), ..ChunkFilter::default() };
    assert_eq!(store.vector_search(v, &[1.0, 0.0], 10, &f).unwrap().len(), 2);
    assert_eq!(store.vector_search(v, &[1.0, 0.0], 2, &ChunkFilter::default()).unwrap().len(), 2, "limit");
}

fn metadata_filters_match_values_and_array_members(store: &dyn Store) {
    let v = vault(store, "v");
    let with = |uri: &str, metadata: serde_json::Value, vector: [f32; 2]| {
        let mut d = doc("s", uri, "h", &[("shared words here", vector)]);
        d.metadata = metadata;
        d
    };
    store
        .put_documents(
            v,
            &[
                with(
                    "a.md",
                    serde_json::json!({"team": "infra", "tags": ["db", "ops"], "year": 2024, "draft": true}),
                    [1.0, 0.0],
                ),
                with(
                    "b.md",
                    serde_json::json!({"team": "web", "tags": ["ops"], "year": 2023, "draft": false}),
                    [0.9, 0.1],
                ),
                with("c.md", serde_json::json!({}), [0.8, 0.2]),
            ],
        )
        .unwrap();
    let uris = |filter: &ChunkFilter| -> (Vec<String>, Vec<String>) {
        let by = |hits: Vec<crate::Scored>| -> Vec<String> {
            let mut u: Vec<String> = store
                .chunks(&hits.iter().map(|h| h.id).collect::<Vec<_>>())
                .unwrap()
                .into_iter()
                .map(|c| c.uri)
                .collect();
            u.sort();
            u
        };
        (
            by(store.keyword_search(v, "shared", 10, filter).unwrap()),
            by(store.vector_search(v, &[1.0, 0.0], 10, filter).unwrap()),
        )
    };
    let meta = |pairs: &[(&str, serde_json::Value)]| ChunkFilter {
        metadata: pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        ..ChunkFilter::default()
    };
    let both =
        |u: &[&str]| (u.iter().map(|s| s.to_string()).collect::<Vec<_>>(), u.iter().map(|s| s.to_string()).collect());
    assert_eq!(uris(&meta(&[("team", "infra".into())])), both(&["a.md"]), "a string value");
    assert_eq!(uris(&meta(&[("tags", "ops".into())])), both(&["a.md", "b.md"]), "a member of an array");
    assert_eq!(uris(&meta(&[("tags", "ops".into()), ("year", 2023.into())])), both(&["b.md"]), "every pair must match");
    assert_eq!(uris(&meta(&[("draft", true.into())])), both(&["a.md"]), "a boolean");
    assert_eq!(uris(&meta(&[("team", "nobody".into())])), both(&[]), "no match");
    assert_eq!(uris(&meta(&[("missing", "x".into())])), both(&[]), "an absent key matches nothing");
}

fn vaults_are_isolated(store: &dyn Store) {
    let a = vault(store, "a");
    let b = vault(store, "b");
    store.put_documents(a, &[doc("s", "same.md", "h", &[("secret alpha", [1.0, 0.0])])]).unwrap();
    store.put_documents(b, &[doc("s", "same.md", "h", &[("public beta", [0.0, 1.0])])]).unwrap();
    assert!(store.keyword_search(b, "secret", 10, &ChunkFilter::default()).unwrap().is_empty());
    let hits = store.vector_search(b, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "public beta");
    store.delete_document(a, "s", "same.md").unwrap();
    assert_eq!(store.vault_stats(b).unwrap().documents, 1, "deleting in one vault touched another");
}

fn dimension_is_enforced(store: &dyn Store) {
    let v = vault(store, "v");
    let mut bad = doc("s", "a.md", "h", &[("x", [1.0, 0.0])]);
    bad.chunks[0].vector = vec![1.0, 0.0, 0.0];
    assert!(store.put_documents(v, &[bad]).is_err(), "a 3-d vector in a 2-d vault was accepted");
    assert!(
        store.vector_search(v, &[1.0, 0.0, 0.0], 5, &ChunkFilter::default()).is_err(),
        "a 3-d query in a 2-d vault"
    );
    store.put_documents(v, &[doc("s", "a.md", "h", &[("x", [1.0, 0.0])])]).unwrap();
    assert!(store.set_vault_embedder(v, "other", 3).is_err(), "changing dimension with vectors present");
    consistent(store);
}

fn batch_put_is_atomic(store: &dyn Store) {
    let v = vault(store, "v");
    let good = doc("s", "good.md", "h", &[("fine", [1.0, 0.0])]);
    let mut bad = doc("s", "bad.md", "h", &[("broken", [1.0, 0.0])]);
    bad.chunks[0].vector = vec![1.0];
    assert!(store.put_documents(v, &[good, bad]).is_err());
    assert!(store.document_states(v, "s").unwrap().is_empty(), "part of a failed batch was written");
    assert!(store.keyword_search(v, "fine", 10, &ChunkFilter::default()).unwrap().is_empty());
    consistent(store);
}

fn restaging_vectors_switches_atomically(store: &dyn Store) {
    let v = vault(store, "v");
    store.put_documents(v, &[doc("s", "a.md", "h", &[("one", [1.0, 0.0]), ("two", [0.0, 1.0])])]).unwrap();
    let todo = store.chunks_to_reembed(v, 0, 1).unwrap();
    assert_eq!(todo.len(), 1);
    store.stage_vectors(v, &[(todo[0].id, vec![0.0, 0.0, 1.0])]).unwrap();
    assert!(store.commit_staged_vectors(v, "m2", 3).is_err(), "switched with a chunk not re-embedded");
    // Old vectors keep serving meanwhile.
    assert_eq!(store.vector_search(v, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap().len(), 2);
    let rest = store.chunks_to_reembed(v, todo[0].id, 10).unwrap();
    assert_eq!(rest.len(), 1);
    store.stage_vectors(v, &[(rest[0].id, vec![0.0, 1.0, 0.0])]).unwrap();
    assert!(store.chunks_to_reembed(v, 0, 10).unwrap().is_empty());
    store.commit_staged_vectors(v, "m2", 3).unwrap();
    let info = store.vault("v").unwrap().unwrap();
    assert_eq!((info.model_id.as_deref(), info.dimension), (Some("m2"), Some(3)));
    let hits = store.vector_search(v, &[0.0, 0.0, 1.0], 10, &ChunkFilter::default()).unwrap();
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "one");
    assert!(store.vector_search(v, &[1.0, 0.0], 10, &ChunkFilter::default()).is_err(), "old dimension still accepted");
    assert_eq!(store.vault_stats(v).unwrap().staged_vectors, 0);
    consistent(store);
}

/// A test memory with a 2-dimensional vector.
/// A backend that answers hybrid queries itself (`Some`) must fuse as the engine does: the
/// keyword and the nearest candidates, each rank adding `1 / (rrf_k + rank)`, within the
/// vault, the filter and the limit. Backends that decline (`None`) pass trivially.
fn hybrid_search_in_one_step_fuses_both_lists(store: &dyn Store) {
    let v = vault(store, "v");
    let other = vault(store, "w");
    store
        .put_documents(
            v,
            &[
                doc("s1", "a.md", "h", &[("quantum entanglement experiments", [0.0, 1.0])]),
                doc("s1", "b.md", "h", &[("unrelated plain words", [1.0, 0.0])]),
                doc("s2", "c.md", "h", &[("quantum sensors measure fields", [0.95, 0.05])]),
                doc("s2", "d.md", "h", &[("nothing in common", [-1.0, 0.0])]),
            ],
        )
        .unwrap();
    store.put_documents(other, &[doc("s1", "x.md", "h", &[("quantum elsewhere", [1.0, 0.0])])]).unwrap();
    let text_of = |id: i64| store.chunks(&[id]).unwrap().remove(0).text;
    // Two candidates from each list (with more, every chunk of so small a vault would be in
    // both lists).
    let q = HybridQuery { text: "quantum", vector: &normalise(&[1.0, 0.0]), candidates: 2, limit: 3, rrf_k: 60.0 };
    let Some(hits) = store.hybrid_search(v, &q, &ChunkFilter::default()).unwrap() else { return };
    assert_eq!(hits.len(), 3, "limit: {hits:?}");
    assert_eq!(text_of(hits[0].id), "quantum sensors measure fields", "in both lists, first: {hits:?}");
    let texts: Vec<String> = hits.iter().map(|h| text_of(h.id)).collect();
    assert!(texts.contains(&"quantum entanglement experiments".to_string()), "keyword-only match: {texts:?}");
    assert!(texts.contains(&"unrelated plain words".to_string()), "vector-only match: {texts:?}");
    // Rank 1 or 2 in each list: between 2/62 and 1/61 + 1/62.
    let first = hits[0].score;
    assert!((2.0 / 62.0 - 1e-5..=1.0 / 61.0 + 1.0 / 62.0 + 1e-5).contains(&first), "fused score {first}");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "scores descend: {hits:?}");
    let s1 = ChunkFilter { source: Some("s1".into()), ..ChunkFilter::default() };
    if let Some(hits) = store.hybrid_search(v, &HybridQuery { limit: 10, ..q }, &s1).unwrap() {
        let texts: Vec<String> = hits.iter().map(|h| text_of(h.id)).collect();
        assert_eq!(texts.len(), 2, "the filter holds in both lists: {texts:?}");
        assert!(!texts.contains(&"quantum elsewhere".to_string()), "another vault's chunk: {texts:?}");
    }

    // Memories: scope and expiry hold in both lists.
    store.memory_put(v, &memory("enjoys quantum puzzles", Some("u1"), &["fun"], [0.0, 1.0]), NOW).unwrap();
    store.memory_put(v, &memory("prefers window seats", Some("u1"), &[], [1.0, 0.0]), NOW).unwrap();
    store.memory_put(v, &memory("quantum notes of another user", Some("u2"), &[], [1.0, 0.0]), NOW).unwrap();
    let mut gone = memory("quantum reminder", Some("u1"), &[], [1.0, 0.0]);
    gone.expires_ms = Some(NOW + 10);
    store.memory_put(v, &gone, NOW).unwrap();
    let u1 = MemoryFilter { user_id: Some("u1".into()), ..live(NOW + 20) };
    if let Some(hits) = store.memory_hybrid_search(v, &HybridQuery { limit: 10, ..q }, &u1).unwrap() {
        let mut texts: Vec<String> = store
            .memory_records(&hits.iter().map(|h| h.id).collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        texts.sort();
        assert_eq!(texts, ["enjoys quantum puzzles", "prefers window seats"]);
    }
}

pub fn memory(text: &str, user: Option<&str>, tags: &[&str], v: [f32; 2]) -> NewMemory {
    NewMemory {
        text: text.into(),
        user_id: user.map(Into::into),
        agent_id: Some("agent-1".into()),
        session_id: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        metadata: serde_json::json!({"source": "test"}),
        importance: 0.5,
        expires_ms: None,
        vector: normalise(&v),
    }
}

const NOW: i64 = 1_800_000_000_000;

fn live(now_ms: i64) -> MemoryFilter {
    MemoryFilter { now_ms, ..Default::default() }
}

fn memory_lifecycle(store: &dyn Store) {
    let v = vault(store, "v");
    let m = store
        .memory_put(v, &memory("the user prefers dark roast coffee", Some("u1"), &["prefs"], [1.0, 0.0]), NOW)
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
    let m = store.memory_put(v, &memory("private", None, &[], [1.0, 0.0]), NOW).unwrap();
    assert!(store.memory_get(w, &m.id, NOW).unwrap().is_none());
    assert!(!store.memory_delete(w, &m.id).unwrap());
    assert!(store.memory_vector_search(w, &[1.0, 0.0], &live(NOW), 10).unwrap().is_empty());
    consistent(store);
}

fn memory_filters_and_expiry(store: &dyn Store) {
    let v = vault(store, "v");
    store
        .memory_put(v, &memory("alpha likes hiking", Some("alice"), &["hobby"], [1.0, 0.0]), NOW - 40 * 86_400_000)
        .unwrap();
    store
        .memory_put(v, &memory("bob likes chess", Some("bob"), &["hobby", "games"], [0.9, 0.1]), NOW - 3_600_000)
        .unwrap();
    let mut temp = memory("temporary note about hiking", Some("alice"), &[], [1.0, 0.0]);
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

fn memory_keyword_search_follows_writes_and_scope(store: &dyn Store) {
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
        .map(|_| store.memory_put(v, &memory("identical twin note", None, &[], [1.0, 0.0]), NOW).unwrap())
        .collect();
    let twin_ids: Vec<i64> = twins.iter().map(|m| m.rowid).collect();
    assert_eq!(search(v, "twin", &live(NOW)), sorted(twin_ids.clone()), "ties not by row id");

    // Each part of the scope narrows keyword hits exactly as it narrows a listing.
    let mut a = memory("scoped falcon note", Some("ann"), &["birds", "sky"], [1.0, 0.0]);
    a.agent_id = Some("agent-a".into());
    a.session_id = Some("s1".into());
    let a = store.memory_put(v, &a, NOW - 10).unwrap();
    let mut b = memory("scoped falcon note", Some("ben"), &["birds"], [1.0, 0.0]);
    b.agent_id = Some("agent-b".into());
    let b = store.memory_put(v, &b, NOW).unwrap();
    let w = vault(store, "w");
    store.memory_put(w, &memory("a falcon elsewhere", Some("ann"), &["birds", "sky"], [1.0, 0.0]), NOW).unwrap();
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

fn memory_pagination(store: &dyn Store) {
    let v = vault(store, "v");
    let mut ids = Vec::new();
    for i in 0..25 {
        // Several memories share a timestamp: the cursor must still not skip or repeat.
        ids.push(
            store.memory_put(v, &memory(&format!("note {i}"), None, &[], [1.0, i as f32]), NOW + i / 3).unwrap().id,
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

fn restaging_includes_memories(store: &dyn Store) {
    let v = vault(store, "v");
    store.put_documents(v, &[doc("s", "a.md", "h", &[("one", [1.0, 0.0])])]).unwrap();
    let m = store.memory_put(v, &memory("remember this", None, &[], [0.0, 1.0]), NOW).unwrap();
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

fn restaging_resumes_only_for_the_same_model(store: &dyn Store) {
    let v = vault(store, "v");
    store.put_documents(v, &[doc("s", "a.md", "h", &[("one", [1.0, 0.0]), ("two", [0.0, 1.0])])]).unwrap();
    assert!(!store.begin_restage(v, "m2", 3).unwrap(), "nothing was staged yet");
    assert_eq!(store.vault("v").unwrap().unwrap().restaging, Some(("m2".to_string(), 3)));
    let first = store.chunks_to_reembed(v, 0, 1).unwrap();
    store.stage_vectors(v, &[(first[0].id, vec![0.0, 0.0, 1.0])]).unwrap();
    // Resuming for the same model keeps the work done.
    assert!(store.begin_restage(v, "m2", 3).unwrap());
    assert_eq!(store.chunks_to_reembed(v, 0, 10).unwrap().len(), 1);
    // Another target starts over: its vectors must not mix with m2's.
    assert!(!store.begin_restage(v, "m3", 3).unwrap());
    assert_eq!(store.chunks_to_reembed(v, 0, 10).unwrap().len(), 2);
    assert_eq!(store.vault("v").unwrap().unwrap().restaging, Some(("m3".to_string(), 3)));
    let todo = store.chunks_to_reembed(v, 0, 10).unwrap();
    let staged: Vec<_> = todo.iter().map(|c| (c.id, vec![0.0, 1.0, 0.0])).collect();
    store.stage_vectors(v, &staged).unwrap();
    store.commit_staged_vectors(v, "m3", 3).unwrap();
    let info = store.vault("v").unwrap().unwrap();
    assert_eq!((info.model_id.as_deref(), info.restaging), (Some("m3"), None));
    // Abandoning clears the target too.
    store.begin_restage(v, "m4", 2).unwrap();
    store.clear_staged_vectors(v).unwrap();
    assert_eq!(store.vault("v").unwrap().unwrap().restaging, None);
    consistent(store);
}

fn restaging_skips_memories_changed_meanwhile(store: &dyn Store) {
    let v = vault(store, "v");
    store.memory_put(v, &memory("first text", None, &[], [1.0, 0.0]), NOW).unwrap();
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

fn delete_vault_removes_everything_in_it(store: &dyn Store) {
    let a = vault(store, "a");
    let b = vault(store, "b");
    for v in [a, b] {
        store.put_documents(v, &[doc("s", "x.md", "h", &[("shared words", [1.0, 0.0])])]).unwrap();
        store.memory_put(v, &memory("a memory of shared words", None, &[], [1.0, 0.0]), 1_000).unwrap();
    }
    // Warm the derived indexes so deleting has to drop them.
    assert_eq!(store.vector_search(a, &[1.0, 0.0], 10, &ChunkFilter::default()).unwrap().len(), 1);
    assert!(store.delete_vault(a).unwrap());
    assert!(!store.delete_vault(a).unwrap(), "deleting twice reports absence");
    assert!(store.vault("a").unwrap().is_none());
    assert!(store.keyword_search(a, "shared", 10, &ChunkFilter::default()).unwrap().is_empty());
    assert!(store.memory_keyword_search(a, "shared", &live(2_000), 10).unwrap().is_empty());
    assert_eq!(store.keyword_search(b, "shared", 10, &ChunkFilter::default()).unwrap().len(), 1, "other vault kept");
    assert_eq!(store.memory_list(b, &live(2_000), None, 10).unwrap().len(), 1);
    let again = store.ensure_vault("a").unwrap();
    assert_eq!(store.vault_stats(again.id).unwrap().documents, 0, "a re-created vault starts empty");
    consistent(store);
}

fn job(kind: &str, max_attempts: u32) -> NewJob {
    NewJob {
        kind: kind.into(),
        vault: Some("v".into()),
        payload: serde_json::json!({"n": 1}),
        dedupe_key: None,
        max_attempts,
        timeout_ms: 60_000,
    }
}

fn job_lifecycle(store: &dyn Store) {
    let j = store.job_enqueue(&job("upload", 3), 1_000).unwrap();
    assert!(j.id.starts_with("job_"), "{}", j.id);
    assert_eq!((j.status, j.attempts, j.run_at_ms), (JobStatus::Queued, 0, 1_000));
    assert_eq!(j.payload, serde_json::json!({"n": 1}));
    assert_eq!(store.job_counts().unwrap().queued, 1);
    assert!(store.job_claim("w1", 999, 10_000).unwrap().is_none(), "not due before run_at");
    let c = store.job_claim("w1", 1_000, 10_000).unwrap().expect("a due job is claimed");
    assert_eq!((c.id.as_str(), c.status, c.attempts), (j.id.as_str(), JobStatus::Running, 1));
    assert_eq!((c.lease_owner.as_deref(), c.lease_until_ms, c.started_ms), (Some("w1"), Some(11_000), Some(1_000)));
    assert!(store.job_claim("w2", 1_001, 10_000).unwrap().is_none(), "a leased job is not claimed twice");
    assert_eq!(store.job_heartbeat(&j.id, "w1", 5_000, 10_000).unwrap(), Heartbeat::Held { cancel_requested: false });
    assert_eq!(store.job_get(&j.id).unwrap().unwrap().lease_until_ms, Some(15_000));
    assert_eq!(store.job_heartbeat(&j.id, "w2", 5_000, 10_000).unwrap(), Heartbeat::Lost, "not w2's lease");
    let ok = JobOutcome::Succeeded(serde_json::json!({"added": 2}));
    assert!(!store.job_finish(&j.id, "w2", &ok, 6_000).unwrap(), "only the lease owner reports");
    assert!(store.job_finish(&j.id, "w1", &ok, 6_000).unwrap());
    let done = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!((done.status, done.finished_ms, done.lease_owner), (JobStatus::Succeeded, Some(6_000), None));
    assert_eq!(done.result, Some(serde_json::json!({"added": 2})));
    assert!(!store.job_finish(&j.id, "w1", &ok, 7_000).unwrap(), "a finished job cannot finish again");
    let counts = store.job_counts().unwrap();
    assert_eq!((counts.queued, counts.running, counts.succeeded, counts.next_run_at_ms), (0, 0, 1, None));
    assert_eq!(store.job_prune(6_000).unwrap(), 0, "pruning keeps jobs finished at or after the cutoff");
    assert_eq!(store.job_prune(6_001).unwrap(), 1);
    assert!(store.job_get(&j.id).unwrap().is_none());
    assert!(store.job_get("job_missing").unwrap().is_none());
}

fn job_retries_then_dead_letter(store: &dyn Store) {
    let j = store.job_enqueue(&job("sync", 2), 0).unwrap();
    store.job_claim("w", 0, 1_000).unwrap().unwrap();
    let retry = JobOutcome::Retry { error: "disk busy".into(), code: "io_failed".into(), run_at_ms: 500 };
    assert!(store.job_finish(&j.id, "w", &retry, 10).unwrap());
    let r = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!((r.status, r.run_at_ms, r.error.as_deref()), (JobStatus::Queued, 500, Some("disk busy")));
    assert_eq!(store.job_counts().unwrap().next_run_at_ms, Some(500));
    assert!(store.job_claim("w", 499, 1_000).unwrap().is_none(), "backoff is respected");
    assert_eq!(store.job_claim("w", 500, 1_000).unwrap().unwrap().attempts, 2);
    assert!(store.job_finish(&j.id, "w", &retry, 600).unwrap());
    let dead = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!((dead.status, dead.attempts, dead.finished_ms), (JobStatus::Dead, 2, Some(600)), "attempts used up");
    assert_eq!(store.job_counts().unwrap().dead, 1);
    assert!(store.job_retry("job_missing", 700).unwrap().is_none());
    let again = store.job_retry(&j.id, 700).unwrap().expect("a dead job can be retried");
    assert_eq!((again.status, again.attempts, again.retries, again.run_at_ms), (JobStatus::Queued, 0, 1, 700));
    assert!(store.job_retry(&j.id, 700).unwrap().is_none(), "only dead jobs are retried");
    assert!(!store.job_delete(&j.id, JobStatus::Dead).unwrap(), "a queued job is not deleted as dead");
    store.job_claim("w", 700, 1_000).unwrap().unwrap();
    let dead = JobOutcome::Dead { error: "not a PDF".into(), code: "document_unreadable".into() };
    assert!(store.job_finish(&j.id, "w", &dead, 800).unwrap());
    let d = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!((d.status, d.attempts, d.error_code.as_deref()), (JobStatus::Dead, 1, Some("document_unreadable")));
    assert!(store.job_delete(&j.id, JobStatus::Dead).unwrap());
    assert!(store.job_get(&j.id).unwrap().is_none());
}

fn job_lease_expiry_hands_the_job_over(store: &dyn Store) {
    let j = store.job_enqueue(&job("upload", 2), 0).unwrap();
    store.job_claim("w1", 0, 100).unwrap().unwrap();
    assert!(store.job_claim("w2", 100, 100).unwrap().is_none(), "the lease runs until its end");
    let taken = store.job_claim("w2", 101, 100).unwrap().expect("an expired lease is taken over");
    assert_eq!((taken.lease_owner.as_deref(), taken.attempts), (Some("w2"), 2));
    assert_eq!(store.job_heartbeat(&j.id, "w1", 102, 100).unwrap(), Heartbeat::Lost);
    let ok = JobOutcome::Succeeded(serde_json::json!({}));
    assert!(!store.job_finish(&j.id, "w1", &ok, 102).unwrap(), "the old worker cannot report");
    // w2 dies too: no attempts are left, so the job goes to the dead-letter queue.
    assert!(store.job_claim("w3", 500, 100).unwrap().is_none());
    let dead = store.job_get(&j.id).unwrap().unwrap();
    assert_eq!(dead.status, JobStatus::Dead);
    assert_eq!(dead.error_code.as_deref(), Some("worker_lost"));
}

fn job_cancel_recover_dedupe_and_list(store: &dyn Store) {
    let queued = store.job_enqueue(&job("upload", 3), 0).unwrap();
    let c = store.job_cancel(&queued.id, 5).unwrap().unwrap();
    assert_eq!((c.status, c.finished_ms), (JobStatus::Cancelled, Some(5)), "a queued job is cancelled at once");
    assert!(store.job_cancel("job_missing", 5).unwrap().is_none());

    let running = store.job_enqueue(&job("upload", 3), 10).unwrap();
    store.job_claim("w", 10, 1_000).unwrap().unwrap();
    let c = store.job_cancel(&running.id, 20).unwrap().unwrap();
    assert_eq!((c.status, c.cancel_requested), (JobStatus::Running, true), "a running job is asked to stop");
    assert_eq!(store.job_heartbeat(&running.id, "w", 30, 1_000).unwrap(), Heartbeat::Held { cancel_requested: true });
    assert!(store.job_finish(&running.id, "w", &JobOutcome::Cancelled, 40).unwrap());
    assert_eq!(store.job_get(&running.id).unwrap().unwrap().status, JobStatus::Cancelled);

    let released = store.job_enqueue(&job("upload", 3), 41).unwrap();
    store.job_claim("w", 41, 1_000).unwrap().unwrap();
    assert!(store.job_finish(&released.id, "w", &JobOutcome::Released, 42).unwrap());
    let r = store.job_get(&released.id).unwrap().unwrap();
    assert_eq!((r.status, r.attempts, r.run_at_ms), (JobStatus::Queued, 0, 42), "a released attempt does not count");
    assert!(store.job_cancel(&released.id, 43).unwrap().is_some());

    let crashed = store.job_enqueue(&job("upload", 3), 50).unwrap();
    store.job_claim("w", 50, 1_000_000).unwrap().unwrap();
    assert_eq!(store.job_recover(60).unwrap(), 1, "recovery takes back running jobs whatever their lease");
    let r = store.job_get(&crashed.id).unwrap().unwrap();
    assert_eq!((r.status, r.attempts, r.error_code.as_deref()), (JobStatus::Queued, 1, Some("worker_lost")));
    assert_eq!(store.job_claim("w", 60, 1_000).unwrap().unwrap().attempts, 2, "the crashed attempt counts");

    let mut keyed = job("sync", 3);
    keyed.dedupe_key = Some("sync:v:docs".into());
    let first = store.job_enqueue(&keyed, 70).unwrap();
    assert_eq!(store.job_enqueue(&keyed, 71).unwrap().id, first.id, "a queued duplicate is returned");
    let mut other = keyed.clone();
    other.dedupe_key = Some("sync:v:other".into());
    let different = store.job_enqueue(&other, 72).unwrap();
    assert_ne!(different.id, first.id);

    let all = store.job_list(&JobFilter::default(), None, 100).unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].rowid > w[1].rowid), "newest first");
    let page = store.job_list(&JobFilter::default(), None, 2).unwrap();
    let rest = store.job_list(&JobFilter::default(), Some(page[1].rowid), 100).unwrap();
    assert_eq!(page.len() + rest.len(), 6, "pages cover the list without overlap");
    let filter = JobFilter { status: Some(JobStatus::Cancelled), ..JobFilter::default() };
    assert_eq!(store.job_list(&filter, None, 100).unwrap().len(), 3);
    let filter = JobFilter { kind: Some("sync".into()), status: Some(JobStatus::Queued), vault: Some("v".into()) };
    assert_eq!(store.job_list(&filter, None, 100).unwrap().len(), 2);
    let filter = JobFilter { vault: Some("elsewhere".into()), ..JobFilter::default() };
    assert!(store.job_list(&filter, None, 100).unwrap().is_empty());
}

fn users_organizations_and_vault_ownership(s: &dyn Store) {
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

fn api_keys_are_stored_listed_revoked_and_touched(s: &dyn Store) {
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

fn sessions_are_capped_listed_revoked_and_follow_the_role(s: &dyn Store) {
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

fn audit_log_filters_pages_and_prunes(s: &dyn Store) {
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

fn source_syncs_keep_the_last_outcome_per_source(s: &dyn Store) {
    let v = s.ensure_vault("v").unwrap();
    let w = s.ensure_vault("w").unwrap();
    assert!(s.source_syncs(v.id).unwrap().is_empty());
    s.source_sync_record(v.id, "docs", 10, r#"{"added":1}"#).unwrap();
    s.source_sync_record(v.id, "docs", 20, r#"{"added":0}"#).unwrap();
    s.source_sync_record(v.id, "api", 15, "{}").unwrap();
    s.source_sync_record(w.id, "docs", 30, "{}").unwrap();
    let got = s.source_syncs(v.id).unwrap();
    assert_eq!(
        got,
        [("api".to_string(), 15, "{}".to_string()), ("docs".to_string(), 20, r#"{"added":0}"#.to_string())]
    );
    assert!(s.delete_vault(v.id).unwrap());
    assert!(s.source_syncs(v.id).unwrap().is_empty(), "gone with the vault");
    assert_eq!(s.source_syncs(w.id).unwrap().len(), 1);
}

fn secrets_are_per_organization_and_resealed_only_if_unchanged(s: &dyn Store) {
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

fn teams_and_vault_grants(s: &dyn Store) {
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

fn user_tokens_work_once_and_expire(s: &dyn Store) {
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

fn invitations_are_accepted_once(s: &dyn Store) {
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
