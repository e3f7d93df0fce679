//! Reading beyond a hit, on the engine: the chunks around a chunk (neighbours or its section),
//! the documents like a chunk's, a vault's ingest status (jobs shown only to callers with the
//! `jobs` action), the limits every transport shares, and a chunk of another vault answering
//! exactly like one that does not exist.

#[path = "support/fake.rs"]
mod fake;
#[path = "support/local.rs"]
mod local;

use fake::Fake;
use trove_config::Workspace;
use trove_engine::auth::{KeyRequest, Principal};
use trove_engine::{Engine, EngineError, IngestOptions, NoProgress, OpenMode, perm};
use trove_types::{Action, Code, ContextRequest, HasCode, Role, SimilarRequest};

const TOMATOES: &str = "# Tomatoes\n\n## Watering\n\nWater tomato plants deeply twice a week at the base.\n\nWater them in the morning so the leaves dry by night.\n\n## Support\n\nTie tomato stems to stakes as they grow tall.\n\n## Harvest\n\nPick tomatoes when fully red and slightly soft.\n";

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("config.yaml"),
        "vaults:\n  notes:\n    chunking:\n      max_tokens: 16\n      overlap_tokens: 0\n    sources:\n      docs:\n        type: localfile\n        path: docs\n  other:\n    sources:\n      more:\n        type: localfile\n        path: more\n",
    )
    .unwrap();
    for (folder, name, text) in [
        ("docs", "tomatoes.md", TOMATOES),
        ("docs", "peppers.md", "# Peppers\n\nWater pepper plants at the base twice a week, like tomato plants.\n"),
        ("docs", "bread.md", "# Sourdough\n\nFeed the starter with flour, then bake the loaf hot.\n"),
        ("more", "elsewhere.md", "# Elsewhere\n\nA note in another vault.\n"),
    ] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
        std::fs::write(root.join(folder).join(name), text).unwrap();
    }
    let ws = Workspace::load(Some(root), None).unwrap();
    let engine =
        Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(Fake::new("fake/bow", 64, usize::MAX));
    engine.ingest(&IngestOptions::default(), &NoProgress).unwrap();
    (dir, engine)
}

/// The chunk ids of the document `uri` of `vault`, in order.
fn chunks(engine: &Engine, vault: &str, uri: &str) -> Vec<i64> {
    let access = local::local::<perm::Search>(engine, vault);
    let page = engine.documents_list(&access, None, None).unwrap();
    let doc = page.documents.iter().find(|d| d.uri == uri).unwrap();
    engine.document_get(&access, &doc.id.to_string()).unwrap().chunks.iter().map(|c| c.id).collect()
}

fn code<T: std::fmt::Debug>(r: Result<T, EngineError>) -> (Code, String) {
    let e = r.unwrap_err();
    (e.code(), e.to_string())
}

#[test]
fn context_reads_the_neighbours_or_the_section_of_a_chunk() {
    let (_d, engine) = engine();
    let ids = chunks(&engine, "notes", "tomatoes.md");
    assert!(ids.len() >= 4, "{ids:?}");
    let access = local::local(&engine, "notes");
    let around = |hit: i64, req: ContextRequest| engine.chunk_context(&access, hit, &req).unwrap();

    let one_each = around(ids[1], ContextRequest { before: Some(1), after: Some(1), section: None });
    assert_eq!(one_each.document.uri, "tomatoes.md");
    assert_eq!(one_each.chunks.iter().map(|c| c.chunk_id).collect::<Vec<_>>(), ids[0..3]);
    assert_eq!(one_each.chunks.iter().filter(|c| c.is_hit).map(|c| c.chunk_id).collect::<Vec<_>>(), [ids[1]]);
    // Two on each side unless asked otherwise, cut at the document's start.
    assert_eq!(around(ids[0], ContextRequest::default()).chunks.len(), 3);
    // The section: every chunk under the hit's heading, and no other.
    let section = around(ids[0], ContextRequest { section: Some(true), ..ContextRequest::default() });
    assert!(section.chunks.iter().all(|c| c.heading_path.last().map(String::as_str) == Some("Watering")));
    assert_eq!(section.chunks.len(), 2, "{section:?}");
}

#[test]
fn similar_documents_leave_out_the_hits_own() {
    let (_d, engine) = engine();
    let ids = chunks(&engine, "notes", "tomatoes.md");
    let access = local::local(&engine, "notes");
    let similar = engine.similar_documents(&access, ids[1], &SimilarRequest { limit: Some(2) }).unwrap();
    assert_eq!(similar.document.uri, "tomatoes.md");
    let uris: Vec<&str> = similar.similar.iter().map(|d| d.uri.as_str()).collect();
    assert_eq!(uris, ["peppers.md", "bread.md"], "one answer per other document, most alike first");
    let one = engine.similar_documents(&access, ids[1], &SimilarRequest { limit: Some(1) }).unwrap();
    assert_eq!(one.similar.len(), 1);
}

#[test]
fn limits_are_checked_once_for_every_transport_and_other_vaults_chunks_are_absent() {
    let (_d, engine) = engine();
    let access = local::local(&engine, "notes");
    let ids = chunks(&engine, "notes", "tomatoes.md");
    let far = ContextRequest { before: Some(21), ..ContextRequest::default() };
    assert_eq!(
        code(engine.chunk_context(&access, ids[0], &far)),
        (Code::BadRequest, "before: must be between 0 and 20, got 21".into())
    );
    for limit in [0, 21] {
        let r = engine.similar_documents(&access, ids[0], &SimilarRequest { limit: Some(limit) });
        assert_eq!(code(r).0, Code::BadRequest, "{limit}");
    }
    // A chunk of vault `other` read through `notes` is as absent as a chunk that never was.
    let elsewhere = chunks(&engine, "other", "elsewhere.md")[0];
    let (c, foreign) = code(engine.chunk_context(&access, elsewhere, &ContextRequest::default()));
    let (_, absent) = code(engine.chunk_context(&access, 999_999, &ContextRequest::default()));
    assert_eq!(c, Code::DocumentNotFound);
    assert_eq!(foreign.replace(&elsewhere.to_string(), "N"), absent.replace("999999", "N"));
    assert_eq!(
        code(engine.similar_documents(&access, elsewhere, &SimilarRequest::default())).0,
        Code::DocumentNotFound
    );
}

#[test]
fn ingest_status_shows_jobs_only_to_callers_with_the_jobs_action() {
    let (_d, engine) = engine();
    let status = engine.ingest_status(&local::local(&engine, "notes")).unwrap();
    assert_eq!((status.vault.name.as_str(), status.vault.documents), ("notes", 3));
    let docs = status.sources.iter().find(|s| s.name == "docs").unwrap();
    assert_eq!(docs.last_sync.as_ref().map(|s| s.added), Some(3));
    assert_eq!((status.recent_jobs, status.failed_jobs, status.jobs), (Some(vec![]), Some(vec![]), None));

    // An owner takes the unowned vaults; a key of theirs that may only search sees no jobs.
    engine.create_user("ada@acme.test", "correct horse battery staple", "acme", Role::Owner).unwrap();
    let key = |actions: Vec<Action>| {
        let req = KeyRequest {
            email: "ada@acme.test".into(),
            organization: "acme".into(),
            name: "k".into(),
            vaults: vec!["*".into()],
            actions,
            expires_in_days: None,
        };
        engine.authenticate(&engine.create_api_key(&req).unwrap().key).unwrap()
    };
    let status_as = |p: &Principal| engine.ingest_status(&engine.authorize(p, "notes").unwrap()).unwrap();
    let searcher = status_as(&key(vec![Action::Search]));
    assert!(searcher.recent_jobs.is_none() && searcher.jobs.as_deref().is_some_and(|j| j.contains("`jobs`")));
    let operator = status_as(&key(vec![Action::Search, Action::Jobs]));
    assert_eq!((operator.recent_jobs.map(|j| j.len()), operator.jobs), (Some(0), None));
}
