//! Re-embedding survives interruption: a re-embed cut short (here the new model fails on its
//! second batch, as a crash or a lost connection would) keeps what it staged, so the next run
//! embeds only the rest; the vault keeps its old model until the run that completes.

#[path = "support/fake.rs"]
mod fake;
#[path = "support/local.rs"]
mod local;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use fake::Fake;

use trove_config::Workspace;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode};
use trove_types::MemoryInput;

const DOCS: usize = 600;

fn open(dir: &std::path::Path, embedder: Arc<Fake>) -> Engine {
    let ws = Workspace::load(Some(dir), None).unwrap();
    Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(embedder)
}

#[test]
fn an_interrupted_reembed_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("config.yaml"),
        "vaults:\n  default:\n    sources:\n      docs:\n        type: localfile\n        path: docs\n",
    )
    .unwrap();
    std::fs::create_dir(root.join("docs")).unwrap();
    for i in 0..DOCS {
        std::fs::write(root.join(format!("docs/note-{i}.md")), format!("Note number {i} about topic {}.\n", i % 7))
            .unwrap();
    }
    let engine = open(root, Fake::new("fake/a", 8, usize::MAX));
    engine.ingest(&IngestOptions::default(), &NoProgress).unwrap();
    for text in ["the spare key is in the blue pot", "the meeting moved to Thursday"] {
        engine
            .memory_store(
                &local::local(&engine, "default"),
                &MemoryInput { text: text.into(), ..MemoryInput::default() },
            )
            .unwrap();
    }
    drop(engine);

    // Model B: its second batch fails.
    let b = Fake::new("fake/b", 6, 1);
    let engine = open(root, b.clone());
    let err = engine.reembed_vault("default", &NoProgress).unwrap_err();
    assert!(err.to_string().contains("connection was lost"), "{err}");
    let vault = engine.vault_overview(&local::local(&engine, "default")).unwrap();
    assert_eq!(vault.model.as_deref(), Some("fake/a"), "switched although incomplete");
    let progress = vault.reembedding.expect("the staged work is recorded");
    assert_eq!((progress.model.as_str(), progress.dimension), ("fake/b", 6));
    let staged = progress.staged_chunks;
    assert!(staged > 0 && staged < DOCS as u64, "{staged} of {DOCS} staged");
    assert_eq!(b.inputs.load(Ordering::SeqCst) as u64, staged);
    drop(engine);

    // The next run embeds only what is left: the other chunks and the memories.
    let b = Fake::new("fake/b", 6, usize::MAX);
    let engine = open(root, b.clone());
    let done = engine.reembed_vault("default", &NoProgress).unwrap();
    assert_eq!(done, DOCS as u64 - staged + 2);
    assert_eq!(b.inputs.load(Ordering::SeqCst) as u64, done);
    let vault = engine.vault_overview(&local::local(&engine, "default")).unwrap();
    assert_eq!((vault.model.as_deref(), vault.dimension), (Some("fake/b"), Some(6)));
    assert!(vault.reembedding.is_none());
    let store = trove_store::embedded::EmbeddedStore::open_reader(&root.join(".trove")).unwrap();
    assert!(trove_store::Backend::check_integrity(&store).unwrap().problems.is_empty());
    // Already on B: nothing to do.
    assert_eq!(engine.reembed_vault("default", &NoProgress).unwrap(), 0);
}
