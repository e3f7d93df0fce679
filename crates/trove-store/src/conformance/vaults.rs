//! Conformance of [`crate::VaultStore`]: vaults made once and listed by name, the model of
//! their vectors and its dimension enforced, isolation between vaults, re-embedding that switches
//! every vector at once (or resumes, or starts over for another model), and deleting a vault
//! with everything in it.

use super::{NOW, consistent, doc, live, new_memory, vault};
use crate::{ChunkFilter, Store, StoreError};

pub fn vaults(store: &dyn Store) {
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

pub fn vaults_are_isolated(store: &dyn Store) {
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

pub fn dimension_is_enforced(store: &dyn Store) {
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

pub fn restaging_vectors_switches_atomically(store: &dyn Store) {
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

pub fn restaging_resumes_only_for_the_same_model(store: &dyn Store) {
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

pub fn delete_vault_removes_everything_in_it(store: &dyn Store) {
    let a = vault(store, "a");
    let b = vault(store, "b");
    for v in [a, b] {
        store.put_documents(v, &[doc("s", "x.md", "h", &[("shared words", [1.0, 0.0])])]).unwrap();
        store.memory_put(v, &new_memory("a memory of shared words", None, &[], [1.0, 0.0]), 1_000).unwrap();
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

/// Vectors written to a vault whose model is not recorded yet are refused as the caller's
/// mistake (`NoEmbedder`, code `embedder_not_recorded`), not as damaged data, and nothing is
/// written.
pub fn vectors_before_the_embedder_is_recorded_are_refused(store: &dyn Store) {
    use trove_types::{Code, HasCode};
    let v = store.ensure_vault("v").unwrap().id;
    let refused = |e: StoreError, what: &str| {
        assert!(matches!(e, StoreError::NoEmbedder { vault } if vault == v), "{what}: {e:?}");
        assert_eq!(e.code(), Code::EmbedderNotRecorded, "{what}");
    };
    let put = store.put_documents(v, &[doc("s", "a.md", "h", &[("alpha", [1.0, 0.0])])]);
    refused(put.expect_err("a document without an embedder"), "put_documents");
    let put = store.memory_put(v, &new_memory("a memory", None, &[], [1.0, 0.0]), NOW);
    refused(put.expect_err("a memory without an embedder"), "memory_put");
    assert!(store.document_states(v, "s").unwrap().is_empty());
    assert!(store.memory_list(v, &live(NOW), None, 10).unwrap().is_empty());
    consistent(store);
}
