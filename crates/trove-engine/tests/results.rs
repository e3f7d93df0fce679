//! The shape of search results, on the engine: one hit per document (`group_by: document`)
//! with its other matching chunks, pages that are slices of one ranking, the chunks around
//! each hit (`context: N`) at a document's edges, the choice of fusion with per-request
//! weights, and `Engine::evaluate` against hand-computed metrics.

#[path = "support/fake.rs"]
mod fake;
#[path = "support/local.rs"]
mod local;

use fake::Fake;
use trove_config::Workspace;
use trove_engine::eval::{JudgedQuery, parse_qrels};
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode, SearchRequest, SearchSettings, perm};
use trove_types::{Code, Fusion, FusionMethod, GroupBy, HasCode, SearchHit, SearchMode};

/// Five short sections, each its own chunk; "water" in four of them, "seedlings" only in the
/// first, "compost" only in the last.
const GARDEN: &str = "# Garden\n\n## Seedlings\n\nWater seedlings gently every morning.\n\n## Beds\n\nWater raised beds deeply once a week.\n\n## Pots\n\nWater pots daily in hot weather.\n\n## Lawn\n\nWater the lawn at dawn in summer.\n\n## Compost\n\nTurn compost monthly with a fork.\n";

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("config.yaml"),
        "vaults:\n  notes:\n    chunking:\n      max_tokens: 16\n      overlap_tokens: 0\n    sources:\n      docs:\n        type: localfile\n        path: docs\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    for (name, text) in [
        ("garden.md", GARDEN),
        ("well.md", "# Well\n\nDraw water from the well by hand.\n"),
        ("rain.md", "# Rain\n\nCollect rain water in barrels for dry spells.\n"),
        ("bread.md", "# Bread\n\nKnead the dough and bake the loaf hot.\n"),
    ] {
        std::fs::write(root.join("docs").join(name), text).unwrap();
    }
    let ws = Workspace::load(Some(root), None).unwrap();
    let engine =
        Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(Fake::new("fake/bow", 64, usize::MAX));
    engine.ingest(&IngestOptions::default(), &NoProgress).unwrap();
    (dir, engine)
}

fn search(engine: &Engine, req: SearchRequest) -> Vec<SearchHit> {
    engine.search(&local::local::<perm::Search>(engine, "notes"), &req).unwrap().hits
}

fn keyword(query: &str) -> SearchRequest {
    SearchRequest { query: query.into(), mode: Some(SearchMode::Keyword), limit: Some(20), ..Default::default() }
}

#[test]
fn grouping_by_document_keeps_each_documents_best_chunk_with_the_others_ids() {
    let (_d, engine) = engine();
    let chunks = search(&engine, keyword("water"));
    let garden: Vec<i64> = chunks.iter().filter(|h| h.uri == "garden.md").map(|h| h.chunk_id).collect();
    assert_eq!(garden.len(), 4, "four garden chunks mention water: {chunks:#?}");
    assert!(chunks.iter().all(|h| h.other_chunks.is_none() && h.other_chunk_ids.is_none()));

    let docs = search(&engine, SearchRequest { group_by: GroupBy::Document, ..keyword("water") });
    let uris: Vec<&str> = docs.iter().map(|h| h.uri.as_str()).collect();
    // Documents in the order of their best chunk in the chunk ranking, each once.
    let mut first_seen: Vec<&str> = Vec::new();
    for h in &chunks {
        if !first_seen.contains(&h.uri.as_str()) {
            first_seen.push(&h.uri);
        }
    }
    assert_eq!(uris, first_seen);
    assert_eq!(uris.len(), 3, "bread never mentions water");
    let g = docs.iter().find(|h| h.uri == "garden.md").unwrap();
    assert_eq!(g.chunk_id, garden[0], "the best chunk stands for its document");
    assert_eq!(g.score, chunks.iter().find(|h| h.chunk_id == garden[0]).unwrap().score);
    assert_eq!(g.other_chunks, Some(3));
    assert_eq!(g.other_chunk_ids.as_deref(), Some(&garden[1..]), "the others, best first");
    let single = docs.iter().find(|h| h.uri == "well.md").unwrap();
    assert_eq!((single.other_chunks, single.other_chunk_ids.as_deref()), (Some(0), Some(&[][..])));
}

#[test]
fn pages_are_slices_of_one_ranking() {
    let (_d, engine) = engine();
    for group_by in [GroupBy::Chunk, GroupBy::Document] {
        let page = |offset: usize, limit: usize| {
            let req = SearchRequest { offset: Some(offset), limit: Some(limit), group_by, ..keyword("water") };
            search(&engine, req).into_iter().map(|h| h.chunk_id).collect::<Vec<_>>()
        };
        let all = page(0, 20);
        let mut paged = Vec::new();
        for offset in 0..all.len() + 1 {
            paged.extend(page(offset, 1));
        }
        assert_eq!(paged, all, "{group_by:?}: one hit per page, no repeats, none skipped");
        assert_eq!([page(0, 2), page(2, 2)].concat(), all[..4.min(all.len())], "{group_by:?}");
        assert!(page(all.len(), 5).is_empty(), "{group_by:?}: past the end, nothing");
    }
    let access = local::local::<perm::Search>(&engine, "notes");
    let deep = SearchRequest { offset: Some(9_999), limit: Some(2), ..keyword("water") };
    let e = engine.search(&access, &deep).unwrap_err();
    assert_eq!(e.code(), Code::BadRequest);
    assert!(e.to_string().contains("offset + limit must be at most 10000"), "{e}");
}

#[test]
fn context_brings_the_neighbours_of_each_hit_cut_at_the_documents_edges() {
    let (_d, engine) = engine();
    let around = |query: &str, n: usize| {
        let hits = search(&engine, SearchRequest { context: Some(n), limit: Some(1), ..keyword(query) });
        let hit = hits.into_iter().next().expect("a hit");
        let context = hit.context.clone().expect("context asked for");
        (hit, context)
    };
    // The first chunk: nothing before it.
    let (hit, context) = around("seedlings", 1);
    assert_eq!(hit.chunk_index, 0);
    assert_eq!(context.iter().map(|c| c.index).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(context.iter().filter(|c| c.is_hit).map(|c| c.chunk_id).collect::<Vec<_>>(), [hit.chunk_id]);
    // The last chunk: nothing after it.
    let (hit, context) = around("compost", 2);
    assert_eq!(hit.chunk_index, 4);
    assert_eq!(context.iter().map(|c| c.index).collect::<Vec<_>>(), [2, 3, 4]);
    assert!(context.last().unwrap().is_hit && context.last().unwrap().text.contains("compost"));
    // A one-chunk document: only the hit.
    let (_, context) = around("well", 3);
    assert_eq!(context.len(), 1);
    // None unless asked; more than 20 a side refused.
    assert!(search(&engine, keyword("water")).iter().all(|h| h.context.is_none()));
    let access = local::local::<perm::Search>(&engine, "notes");
    let e = engine.search(&access, &SearchRequest { context: Some(21), ..keyword("water") }).unwrap_err();
    assert_eq!((e.code(), e.to_string().contains("context: must be between 0 and 20")), (Code::BadRequest, true));
}

#[test]
fn fusion_is_chosen_per_request_with_weights() {
    let (_d, engine) = engine();
    let hybrid = |fusion: Fusion| SearchRequest {
        query: "rain water barrels".into(),
        mode: Some(SearchMode::Hybrid),
        limit: Some(20),
        fusion,
        ..Default::default()
    };
    let ids = |hits: Vec<SearchHit>| hits.into_iter().map(|h| h.chunk_id).collect::<Vec<_>>();
    // The defaults are RRF with equal weights.
    let plain = ids(search(&engine, hybrid(Fusion::default())));
    let rrf = Fusion { method: Some(FusionMethod::Rrf), keyword_weight: Some(0.5) };
    assert_eq!(ids(search(&engine, hybrid(rrf))), plain);
    // All the weight on keywords: the keyword ranking leads, in its order.
    let keyword_only = ids(search(&engine, SearchRequest { query: "rain water barrels".into(), ..keyword("x") }));
    let by_rank = ids(search(&engine, hybrid(Fusion { method: Some(FusionMethod::Rrf), keyword_weight: Some(1.0) })));
    assert_eq!(by_rank[..keyword_only.len()], keyword_only[..]);
    // Relative scores: only keyword matches score above 0 (the weakest scales to 0, like a
    // chunk the keyword list lacks).
    let by_score = Fusion { method: Some(FusionMethod::RelativeScore), keyword_weight: Some(1.0) };
    let by_score = search(&engine, hybrid(by_score));
    assert_eq!(by_score[0].chunk_id, keyword_only[0]);
    assert!(by_score.iter().filter(|h| h.score > 0.0).all(|h| keyword_only.contains(&h.chunk_id)));
    // Relative scores: the best of each list scores its weight; both lists' best agree here.
    let even = search(&engine, hybrid(Fusion { method: Some(FusionMethod::RelativeScore), keyword_weight: None }));
    assert_eq!(even[0].uri, "rain.md");
    assert!((even[0].score - 1.0).abs() < 1e-6, "{}", even[0].score);
    let access = local::local::<perm::Search>(&engine, "notes");
    let e = engine.search(&access, &hybrid(Fusion { method: None, keyword_weight: Some(1.5) })).unwrap_err();
    assert_eq!(e.code(), Code::BadRequest);
    assert!(e.to_string().contains("fusion.keyword_weight: must be between 0 and 1"), "{e}");
}

#[test]
fn evaluate_scores_judged_queries_as_computed_by_hand() {
    let (_d, engine) = engine();
    let access = local::local::<perm::Search>(&engine, "notes");
    let settings = SearchSettings { mode: Some(SearchMode::Keyword), ..SearchSettings::default() };
    // "compost" finds only garden.md (relevant, rank 1); "dough" finds only bread.md, which is
    // not the judged rain.md; q3 has no judgment and is left out.
    let queries = [
        JudgedQuery { id: "q1".into(), text: "compost".into() },
        JudgedQuery { id: "q2".into(), text: "dough".into() },
        JudgedQuery { id: "q3".into(), text: "water".into() },
    ];
    let qrels = parse_qrels("query-id\tcorpus-id\tscore\nq1\tgarden\t1\nq1\twell.md\t1\nq2\train\t2\n", "t").unwrap();
    let s = engine.evaluate(&access, &queries, &qrels, &settings).unwrap();
    assert_eq!(s.queries, 2);
    // q1: garden at rank 1 of two relevant: DCG 1, ideal 1 + 1/log2(3); recall 1/2; RR 1.
    // q2: nothing relevant found: 0, 0, 0.
    let q1_ndcg = 1.0 / (1.0 + 1.0 / 3f64.log2());
    assert!((s.ndcg_at_10 - q1_ndcg / 2.0).abs() < 1e-9, "{s:?}");
    assert!((s.recall_at_100 - 0.25).abs() < 1e-9, "{s:?}");
    assert!((s.mrr - 0.5).abs() < 1e-9, "{s:?}");
}
