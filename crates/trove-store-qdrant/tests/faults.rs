//! PostgreSQL with a Qdrant index that cannot be reached (a closed port): every write still
//! commits, its outbox rows wait, and searches answer from pgvector, quickly once the breaker
//! is open. Runs without a Qdrant server.

use std::time::{Duration, Instant};

use trove_store::prelude::*;
use trove_store::{ChunkFilter, NewChunk, NewDocument};
use trove_store_postgres::testing::PgServer;
use trove_store_postgres::{PgOptions, PgStore};
use trove_store_qdrant::{Client, ClientOptions, QdrantIndex};

#[test]
fn an_unreachable_qdrant_loses_no_write_and_searches_fall_back_to_pgvector() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let index = QdrantIndex::new(
        Client::new(ClientOptions {
            url: format!("http://{addr}"),
            api_key: None,
            timeout: Duration::from_secs(1),
            max_retries: 1,
            retry_delay: Duration::from_millis(10),
            breaker_cooldown: Duration::from_secs(5),
            clock: trove_clock::system(),
        }),
        "trove_",
    );
    let server = PgServer::start();
    let store = PgStore::open(PgOptions::new(server.create_database())).unwrap().with_index(Box::new(index));
    let v = store.ensure_vault("v").unwrap().id;
    store.set_vault_embedder(v, "m1", 2).unwrap();
    for (i, vector) in [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]].iter().enumerate() {
        let doc = NewDocument {
            source: "s".into(),
            uri: format!("d{i}"),
            title: format!("d{i}"),
            content_hash: format!("h{i}"),
            metadata: serde_json::json!({}),
            modified_unix_ms: None,
            chunks: vec![NewChunk {
                text: format!("text {i}"),
                heading_path: vec![],
                token_count: 2,
                vector: vector.to_vec(),
            }],
        };
        store.put_documents(v, &[doc]).expect("the write commits though the index is down");
    }
    assert_eq!(store.index_pending(Some(v)).unwrap(), 3);
    let t = Instant::now();
    let hits = store.vector_search(v, &[1.0, 0.0], 3, &ChunkFilter::default()).unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(store.chunks(&[hits[0].id]).unwrap()[0].text, "text 0", "pgvector answered");
    assert!(t.elapsed() < Duration::from_millis(500), "the open breaker answers at once: {:?}", t.elapsed());
    let e = store.sync_index(None).unwrap_err().to_string();
    assert!(e.contains(&addr.to_string()), "{e}");
    assert_eq!(store.index_pending(Some(v)).unwrap(), 3, "nothing was dropped");
}
