//! Conformance of [`crate::DocumentStore`]: documents written whole and read back, replaced
//! and deleted without leftovers, listed in pages; keyword, vector and filtered search; batches
//! that are all or nothing; the last sync of each source; and hybrid search: left to the engine,
//! or answered in one step with the engine's fusion ([`crate::fusion::rrf`]).

use super::{assert_fused, consistent, doc, vault};
use crate::{ChunkFilter, HybridQuery, NewDocument, Store, VaultId};

pub fn put_and_read_back(store: &dyn Store) {
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

pub fn replace_leaves_no_old_chunks(store: &dyn Store) {
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

pub fn delete_removes_from_every_index(store: &dyn Store) {
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

pub fn documents_list_in_pages_with_their_chunks(store: &dyn Store) {
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

pub fn keyword_search_ranks_and_filters(store: &dyn Store) {
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

/// BM25 (k1 = 1.2, b = 0.75, Lucene's idf) over the vault's live chunks, as computed here
/// from the shared analyzer: every hit's score, and no chunk missing that scores clearly above
/// the last hit, through replacements and deletions over a few hundred chunks (more than one
/// block of a frequent term's postings).
pub fn keyword_scores_are_bm25_over_the_live_chunks(store: &dyn Store) {
    let v = vault(store, "v");
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
    let text = |i: usize, round: usize| -> String {
        let n = 1 + (i * 7 + round * 3) % 9;
        (0..n).map(|j| words[(i * j + round + j * j) % words.len()]).collect::<Vec<_>>().join(" ")
    };
    let docs: Vec<NewDocument> =
        (0..260).map(|i| doc("s", &format!("{i}.md"), "h", &[(text(i, 0).as_str(), [1.0, 0.0])])).collect();
    store.put_documents(v, &docs).unwrap();
    let replaced: Vec<NewDocument> =
        (0..260).step_by(6).map(|i| doc("s", &format!("{i}.md"), "h2", &[(text(i, 1).as_str(), [1.0, 0.0])])).collect();
    store.put_documents(v, &replaced).unwrap();
    for i in (3..260).step_by(9) {
        assert!(store.delete_document(v, "s", &format!("{i}.md")).unwrap());
    }
    // Every live chunk's terms, as the index analyses them.
    let analyzer = crate::analysis::Analyzer::default();
    let mut chunks: Vec<(i64, Vec<String>)> = Vec::new();
    for d in store.documents(v, 0, 1000).unwrap() {
        for c in store.document_chunks(d.id).unwrap() {
            let mut terms = Vec::new();
            for part in [crate::analysis::keyword_context(&c.title, &c.heading_path), c.text.clone()] {
                analyzer.terms(&part, |t| terms.push(t.to_string()));
            }
            chunks.push((c.id, terms));
        }
    }
    assert_eq!(chunks.len(), 260 - 29);
    let n = chunks.len() as f64;
    let avgdl = (chunks.iter().map(|c| c.1.len()).sum::<usize>() as f64 / n).max(1.0);
    for q in ["alpha", "beta gamma", "delta epsilon alpha", "theta title", "md"] {
        let terms = analyzer.query_terms(q);
        let expected: std::collections::HashMap<i64, f64> = chunks
            .iter()
            .filter_map(|(id, row)| {
                let mut score = 0.0;
                for t in &terms {
                    let tf = row.iter().filter(|x| *x == t).count() as f64;
                    if tf > 0.0 {
                        let df = chunks.iter().filter(|c| c.1.contains(t)).count() as f64;
                        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                        score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * row.len() as f64 / avgdl));
                    }
                }
                (score > 0.0).then_some((*id, score))
            })
            .collect();
        for limit in [10, 300] {
            let hits = store.keyword_search(v, q, limit, &ChunkFilter::default()).unwrap();
            assert_eq!(hits.len(), expected.len().min(limit), "{q}: hits at limit {limit}");
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "{q}: scores descend");
            for h in &hits {
                let want = expected.get(&h.id).copied().unwrap_or(0.0);
                assert!(
                    (f64::from(h.score) - want).abs() <= 1e-4 * want,
                    "{q}: chunk {} scored {}, not {want}",
                    h.id,
                    h.score
                );
            }
            let last = f64::from(hits.last().map_or(0.0, |h| h.score));
            for (id, score) in &expected {
                if *score > last * (1.0 + 1e-3) {
                    assert!(hits.iter().any(|h| h.id == *id), "{q}: chunk {id} ({score}) missing at limit {limit}");
                }
            }
        }
    }
    consistent(store);
}

pub fn keyword_query_syntax_is_inert(store: &dyn Store) {
    let v = vault(store, "v");
    store.put_documents(v, &[doc("s", "a.md", "h", &[("C++ and NEAR(x y) AND OR NOT", [1.0, 0.0])])]).unwrap();
    for q in ["\"", "AND", "NEAR(", "*", "c++ OR", "col:x", "^start", "\"unbalanced", "", "   "] {
        let r = store.keyword_search(v, q, 10, &ChunkFilter::default());
        assert!(r.is_ok(), "query {q:?} errored: {r:?}");
    }
}

pub fn vector_search_ranks_and_filters(store: &dyn Store) {
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

pub fn metadata_filters_match_values_and_array_members(store: &dyn Store) {
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

pub fn batch_put_is_atomic(store: &dyn Store) {
    let v = vault(store, "v");
    let good = doc("s", "good.md", "h", &[("fine", [1.0, 0.0])]);
    let mut bad = doc("s", "bad.md", "h", &[("broken", [1.0, 0.0])]);
    bad.chunks[0].vector = vec![1.0];
    assert!(store.put_documents(v, &[good, bad]).is_err());
    assert!(store.document_states(v, "s").unwrap().is_empty(), "part of a failed batch was written");
    assert!(store.keyword_search(v, "fine", 10, &ChunkFilter::default()).unwrap().is_empty());
    consistent(store);
}

pub fn source_syncs_keep_the_last_outcome_per_source(s: &dyn Store) {
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

/// The hybrid checks' chunks, one document each, with their ranks for the query `quantum` and
/// the vector (1, 0), three candidates from each list; worked out by hand. BM25 ranks a higher
/// term frequency first at equal length, and a shorter chunk first at a higher frequency:
///
/// | chunk | text                           | source | keyword rank | cosine | vector rank |
/// |-------|--------------------------------|--------|--------------|--------|-------------|
/// | a     | quantum quantum quantum        | s1     | 1            | 0.0    | 4           |
/// | b     | quantum quantum sensors        | s1     | 2            | 0.6    | 3           |
/// | c     | quantum sensors measure fields | s2     | 3            | 0.8    | 2           |
/// | d     | plain words only here          | s2     | none         | 1.0    | 1           |
/// | e     | nothing else to see            | s2     | none         | -1.0   | 5           |
///
/// Another vault holds a chunk that would lead both lists. Returns the vault and the chunk ids
/// of a to e, which ascend in that order (ties of the fusion go to the lower id).
fn hybrid_fixture(store: &dyn Store) -> (VaultId, [i64; 5]) {
    let v = vault(store, "v");
    let other = vault(store, "w");
    let chunks: [(&str, &str, &str, [f32; 2]); 5] = [
        ("a", "s1", "quantum quantum quantum", [0.0, 1.0]),
        ("b", "s1", "quantum quantum sensors", [0.6, 0.8]),
        ("c", "s2", "quantum sensors measure fields", [0.8, 0.6]),
        ("d", "s2", "plain words only here", [1.0, 0.0]),
        ("e", "s2", "nothing else to see", [-1.0, 0.0]),
    ];
    let docs: Vec<NewDocument> =
        chunks.iter().map(|(name, source, text, v)| doc(source, &format!("{name}.md"), "h", &[(*text, *v)])).collect();
    let documents = store.put_documents(v, &docs).unwrap();
    store.put_documents(other, &[doc("s1", "x.md", "h", &[("quantum quantum quantum quantum", [1.0, 0.0])])]).unwrap();
    let ids: Vec<i64> = documents.iter().map(|d| store.document_chunks(*d).unwrap()[0].id).collect();
    assert!(ids.is_sorted(), "chunk ids ascend in the order written: {ids:?}");
    (v, [ids[0], ids[1], ids[2], ids[3], ids[4]])
}

/// The hybrid checks' query: three candidates from each list, room for five hits.
fn hybrid_query(vector: &[f32]) -> HybridQuery<'_> {
    HybridQuery { text: "quantum", vector, candidates: 3, limit: 5, rrf_k: 60.0 }
}

/// The fixture's fused ranking, by hand: a = 1/61 (keyword 1); b = 1/62 + 1/63 (keyword 2,
/// vector 3); c = 1/63 + 1/62 (keyword 3, vector 2); d = 1/61 (vector 1); e is in neither list.
/// b ties c and a ties d: the lower id first.
fn hybrid_expected([a, b, c, d, _]: [i64; 5]) -> [(i64, f32); 4] {
    let both = 1.0 / 62.0 + 1.0 / 63.0;
    [(b, both), (c, both), (a, 1.0 / 61.0), (d, 1.0 / 61.0)]
}

/// The backend's own lists rank the fixture as the table says (three candidates each).
fn hybrid_lists_rank_as_computed(store: &dyn Store, v: VaultId, [a, b, c, d, _]: [i64; 5]) {
    let none = ChunkFilter::default();
    let keyword: Vec<i64> = store.keyword_search(v, "quantum", 3, &none).unwrap().iter().map(|h| h.id).collect();
    assert_eq!(keyword, [a, b, c], "keyword ranks of the fixture");
    let vector: Vec<i64> = store.vector_search(v, &[1.0, 0.0], 3, &none).unwrap().iter().map(|h| h.id).collect();
    assert_eq!(vector, [d, c, b], "vector ranks of the fixture");
}

/// A backend that declines hybrid queries (`None`, filtered or not) leaves them to the engine,
/// which fuses the backend's keyword and vector lists with [`crate::fusion::rrf`]: that fusion
/// of this backend's lists ranks as computed by hand.
pub fn hybrid_search_is_left_to_the_engine(store: &dyn Store) {
    let (v, ids) = hybrid_fixture(store);
    let vector = [1.0, 0.0];
    let q = hybrid_query(&vector);
    assert_eq!(store.hybrid_search(v, &q, &ChunkFilter::default()).unwrap(), None, "declares engine fusion");
    let s1 = ChunkFilter { source: Some("s1".into()), ..ChunkFilter::default() };
    assert_eq!(store.hybrid_search(v, &q, &s1).unwrap(), None, "declares engine fusion, filtered too");
    hybrid_lists_rank_as_computed(store, v, ids);
    let none = ChunkFilter::default();
    let keyword = store.keyword_search(v, q.text, q.candidates, &none).unwrap();
    let dense = store.vector_search(v, q.vector, q.candidates, &none).unwrap();
    let mut fused = crate::fusion::rrf(&[&keyword, &dense], q.rrf_k);
    fused.truncate(q.limit);
    assert_fused(&fused, &hybrid_expected(ids), "the engine's fusion");
}

/// A backend that answers hybrid queries itself must answer an unfiltered one, within the
/// vault, fused as the engine fuses: ranks and scores as computed by hand.
pub fn hybrid_search_in_one_step_fuses_both_lists(store: &dyn Store) {
    let (v, ids) = hybrid_fixture(store);
    hybrid_lists_rank_as_computed(store, v, ids);
    let vector = [1.0, 0.0];
    let hits = store
        .hybrid_search(v, &hybrid_query(&vector), &ChunkFilter::default())
        .unwrap()
        .expect("a backend declared to answer hybrid queries declined an unfiltered one");
    assert_fused(&hits, &hybrid_expected(ids), "one-step hybrid search");
}

/// A backend that answers filtered hybrid queries itself applies the filter before taking
/// candidates from each list. Source s2, by hand: keyword c (1); vector d (1), c (2), e (3);
/// so c = 1/61 + 1/62, d = 1/61, e = 1/63.
pub fn hybrid_search_in_one_step_keeps_the_filter(store: &dyn Store) {
    let (v, [_, _, c, d, e]) = hybrid_fixture(store);
    let vector = [1.0, 0.0];
    let s2 = ChunkFilter { source: Some("s2".into()), ..ChunkFilter::default() };
    let hits = store
        .hybrid_search(v, &hybrid_query(&vector), &s2)
        .unwrap()
        .expect("a backend declared to answer filtered hybrid queries declined one");
    assert_fused(&hits, &[(c, 1.0 / 61.0 + 1.0 / 62.0), (d, 1.0 / 61.0), (e, 1.0 / 63.0)], "filtered one-step search");
}
