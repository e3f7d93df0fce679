//! The storage conformance suite on PostgreSQL (started by the test) with a real Qdrant as its
//! vector index, named by `TROVE_TEST_QDRANT_URL` (and `TROVE_TEST_QDRANT_API_KEY` if it needs
//! one). No Qdrant can be installed from the package registries this project builds from, so
//! the tests are marked ignored: nextest reports each check as skipped, by name, unless
//! `scripts/test` runs them (it does when the variable is set). Each check gets a server and
//! collections of its own prefix, deleted afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use trove_store::fusion::rrf;
use trove_store::prelude::*;
use trove_store::{ChunkFilter, HybridQuery, MemoryFilter, NewChunk, NewDocument, NewMemory};
use trove_store_postgres::testing::PgServer;
use trove_store_postgres::{PgOptions, PgStore};
use trove_store_qdrant::{Client, ClientOptions, QdrantIndex};

fn client() -> Client {
    let url = std::env::var("TROVE_TEST_QDRANT_URL")
        .expect("TROVE_TEST_QDRANT_URL names the Qdrant server this test runs against (http://127.0.0.1:6333)");
    Client::new(ClientOptions {
        url,
        api_key: std::env::var("TROVE_TEST_QDRANT_API_KEY").ok(),
        timeout: Duration::from_secs(10),
        max_retries: 2,
        retry_delay: Duration::from_millis(100),
        breaker_cooldown: Duration::from_secs(5),
        clock: trove_clock::system(),
    })
}

/// Deletes the collections a check made.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let c = client();
        if let Ok(listed) = c.get("/collections") {
            for name in listed["collections"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()) {
                if name.starts_with(&self.0) {
                    let _ = c.delete(&format!("/collections/{name}"));
                }
            }
        }
    }
}

/// Numbers the collection prefixes of the checks run in this process.
static CHECKS: AtomicUsize = AtomicUsize::new(0);

// Qdrant answers hybrid queries itself, filtered ones included.
trove_store::conformance_tests!(
    || {
        let server = PgServer::start();
        let prefix = format!("trove_test_{}_{}_", std::process::id(), CHECKS.fetch_add(1, Ordering::SeqCst));
        let cleanup = Cleanup(prefix.clone());
        let store = PgStore::open(PgOptions::new(server.create_database()))
            .expect("open the store")
            .with_index(Box::new(QdrantIndex::new(client(), &prefix)));
        assert_eq!(store.compare_index().expect("Qdrant answers"), 0);
        (Box::new(store), Box::new((server, cleanup)))
    },
    hybrid = one_step_filtered,
    ignore = "needs a Qdrant server: set TROVE_TEST_QDRANT_URL, and scripts/test runs it",
);

#[test]
#[ignore = "needs a Qdrant server: set TROVE_TEST_QDRANT_URL, and scripts/test runs it"]
fn hybrid_queries_are_one_qdrant_request_ranking_as_postgresql_would() {
    let server = PgServer::start();
    let prefix = format!("trove_test_{}_hybrid_", std::process::id());
    let _cleanup = Cleanup(prefix.clone());
    let store = PgStore::open(PgOptions::new(server.create_database()))
        .expect("open")
        .with_index(Box::new(QdrantIndex::new(client(), &prefix)));
    let v = store.ensure_vault("v").unwrap().id;
    store.set_vault_embedder(v, "m", 3).unwrap();
    let texts = [
        "Brake pads wear down and squeal when they need replacing",
        "Replace the brake fluid every two years",
        "Apple trees need pruning in late winter",
        "Pruning shears must be sharp; dull blades crush the branches",
        "The engine oil is changed every ten thousand kilometres",
        "Winter tyres grip better below seven degrees",
    ];
    let docs: Vec<NewDocument> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| NewDocument {
            source: "notes".into(),
            uri: format!("{i}.md"),
            title: String::new(),
            content_hash: format!("h{i}"),
            metadata: serde_json::json!({}),
            modified_unix_ms: None,
            chunks: vec![NewChunk {
                text: (*t).into(),
                heading_path: vec![],
                token_count: 8,
                vector: {
                    let v = [1.0 + i as f32, (i * i) as f32 * 0.3, 2.0 - i as f32 * 0.5];
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter().map(|x| x / n).collect()
                },
            }],
        })
        .collect();
    store.put_documents(v, &docs).unwrap();
    assert_eq!(store.index_pending(None).unwrap(), 0);
    let none = ChunkFilter::default();
    for (text, vector) in
        [("brake pads", [0.2, 0.1, 0.97]), ("pruning winter", [0.6, 0.8, 0.0]), ("every", [0.5, 0.5, 0.7])]
    {
        let q = HybridQuery { text, vector: &vector, candidates: 3, limit: 4, rrf_k: 60.0 };
        let hits = store.hybrid_search(v, &q, &none).unwrap().expect("Qdrant answers hybrid queries");
        // One vault in the collection: Qdrant's idf is the vault's, so its BM25 is
        // PostgreSQL's, and the fusion the engine's.
        let keyword = store.keyword_search(v, text, 3, &none).unwrap();
        let dense = store.vector_search(v, &vector, 3, &none).unwrap();
        let want: Vec<i64> = rrf(&[&keyword, &dense], 60.0).iter().take(4).map(|s| s.id).collect();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), want, "{text}: {hits:?}");
    }
    let m = store
        .memory_put(
            v,
            &NewMemory {
                text: "prefers aisle seats on long flights".into(),
                user_id: Some("u1".into()),
                agent_id: None,
                session_id: None,
                tags: vec!["travel".into()],
                metadata: serde_json::json!({}),
                importance: 0.5,
                kind: None,
                expires_ms: None,
                vector: vec![0.0, 1.0, 0.0],
            },
            1,
        )
        .unwrap();
    let q = HybridQuery { text: "travel", vector: &[1.0, 0.0, 0.0], candidates: 3, limit: 4, rrf_k: 60.0 };
    let u1 = MemoryFilter { user_id: Some("u1".into()), now_ms: 2, ..Default::default() };
    let hits = store.memory_hybrid_search(v, &q, &u1).unwrap().expect("Qdrant answers");
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [m.rowid]);
    let u2 = MemoryFilter { user_id: Some("u2".into()), ..u1 };
    assert_eq!(store.memory_hybrid_search(v, &q, &u2).unwrap(), Some(vec![]));
    // A fractional fusion constant is not Qdrant's to apply: PostgreSQL's lists are fused.
    let odd = HybridQuery { rrf_k: 60.5, ..q };
    assert_eq!(store.hybrid_search(v, &odd, &none).unwrap(), None);
}
