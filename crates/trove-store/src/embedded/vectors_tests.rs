//! The approximate vector index wired into the store: files built and folded by the writer,
//! opened and followed by other handles, refused when they cannot be used (answered exactly
//! meanwhile, then rebuilt), and filters answered like the exact scan. Every fold is stepped
//! ([`Folding::OnSettle`]: nothing happens until `settle_indexes`), and searches are wide
//! enough (`ef` above the row count) for the graph search to be exact on these small vaults.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::*;
use crate::conformance::new_memory;
use crate::embedded::{EmbeddedStore, Folding};
use crate::prelude::*;
use crate::{Backend, ChunkFilter, MemoryFilter, NewChunk, NewDocument};

const DIM: usize = 16;

fn settings() -> AnnSettings {
    AnnSettings { min_rows: 0, ef: 4096, fold_after: 1_000_000, folding: Folding::OnSettle, ..AnnSettings::default() }
}

/// Every search an exact scan: the reference.
fn exact() -> AnnSettings {
    AnnSettings { enabled: false, ..settings() }
}

/// A pseudo-random unit vector.
fn unit(seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let v: Vec<f32> = (0..DIM)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 20_001) as f32 / 10_000.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// Document `i` (two chunks), in source `a` or `b`, under `dir0/`..`dir2/`, metadata `k` 0..4;
/// `version` changes its vectors.
fn doc(i: usize, version: u64) -> NewDocument {
    NewDocument {
        source: if i.is_multiple_of(2) { "a" } else { "b" }.into(),
        uri: format!("dir{}/{i}.md", i % 3),
        title: format!("doc {i}"),
        content_hash: format!("h{version}"),
        metadata: serde_json::json!({ "k": i % 4 }),
        modified_unix_ms: Some(1),
        chunks: (0..2)
            .map(|c| NewChunk {
                text: format!("chunk {c} of {i}"),
                heading_path: Vec::new(),
                token_count: 3,
                vector: unit(version * 1_000_003 + (i * 2 + c) as u64),
            })
            .collect(),
    }
}

fn writer(dir: &Path, settings: AnnSettings) -> EmbeddedStore {
    EmbeddedStore::open_writer(dir, "test").unwrap().with_ann(settings)
}

fn reader(dir: &Path, settings: AnnSettings) -> EmbeddedStore {
    EmbeddedStore::open_reader(dir).unwrap().with_ann(settings)
}

/// A writer (stepped folds) with vault `v` holding documents `0..docs`.
fn setup(docs: usize) -> (tempfile::TempDir, EmbeddedStore, VaultInfo) {
    setup_with(docs, settings())
}

fn setup_with(docs: usize, settings: AnnSettings) -> (tempfile::TempDir, EmbeddedStore, VaultInfo) {
    let dir = tempfile::tempdir().unwrap();
    let store = writer(dir.path(), settings);
    let v = store.ensure_vault("v").unwrap();
    store.set_vault_embedder(v.id, "m", DIM).unwrap();
    for batch in (0..docs).collect::<Vec<_>>().chunks(200) {
        store.put_documents(v.id, &batch.iter().map(|&i| doc(i, 0)).collect::<Vec<_>>()).unwrap();
    }
    (dir, store, v)
}

fn queries() -> Vec<Vec<f32>> {
    (0..5).map(|i| unit(777 + i)).collect()
}

fn nearest(store: &EmbeddedStore, vault: VaultId, filter: &ChunkFilter) -> Vec<Vec<Scored>> {
    queries().iter().map(|q| store.vector_search(vault, q, 10, filter).unwrap()).collect()
}

/// Same rows in the same order, scores equal up to summation order.
fn assert_same(got: &[Vec<Scored>], want: &[Vec<Scored>]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        let ids = |s: &[Scored]| s.iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(g), ids(w));
        for (a, b) in g.iter().zip(w) {
            assert!((a.score - b.score).abs() < 1e-6, "{} vs {}", a.score, b.score);
        }
    }
}

fn approximate(store: &EmbeddedStore, vault: VaultId, space: Space) -> bool {
    store.vectors.cache.read().unwrap().get(&(vault, space)).is_some_and(|i| i.is_approximate())
}

fn counts(store: &EmbeddedStore) -> (u64, u64) {
    (store.counters.loads.load(Ordering::Relaxed), store.counters.log_rows.load(Ordering::Relaxed))
}

/// Files built and folded by a writer.
fn written(store: &EmbeddedStore) -> (u64, u64) {
    let stats = store.folder.as_ref().unwrap().stats();
    (stats.builds.load(Ordering::Relaxed), stats.folds.load(Ordering::Relaxed))
}

/// The index file of `vault`'s chunks.
fn chunk_file(store: &EmbeddedStore, vault: VaultId) -> PathBuf {
    let created: String =
        store.conn().query_row("SELECT created_at FROM vaults WHERE id = ?", [vault], |r| r.get(0)).unwrap();
    store.vectors.env.path(vault, &created, Space::Chunks)
}

fn file_generation(path: &Path) -> i64 {
    trove_ann::AnnIndex::open(path, trove_ann::BuildParams::default()).unwrap().generation()
}

/// A second handle opens the file the writer built and follows the writer's commits through
/// the change log, answering like an exact scan of the rows.
#[test]
fn a_second_handle_opens_the_writers_file_and_follows_the_log() {
    let (dir, w, v) = setup(150);
    w.settle_indexes(&mut || ()).unwrap();
    assert_eq!(written(&w), (1, 0));
    let r = reader(dir.path(), settings());
    let plain = reader(dir.path(), exact());
    let all = ChunkFilter::default();
    assert_same(&nearest(&r, v.id, &all), &nearest(&plain, v.id, &all));
    assert!(approximate(&r, v.id, Space::Chunks));
    assert!(!approximate(&plain, v.id, Space::Chunks));
    assert_eq!(counts(&r), (1, 0), "opened the file, read no row of the log");

    // Two new documents (4 chunks), one replaced (2 out, 2 in), one deleted (2 out).
    w.put_documents(v.id, &[doc(150, 0), doc(151, 0)]).unwrap();
    w.put_documents(v.id, &[doc(5, 1)]).unwrap();
    w.delete_document(v.id, "b", "dir1/7.md").unwrap();
    let followed = nearest(&r, v.id, &all);
    assert_eq!(counts(&r), (1, 10), "followed the ten logged changes, loaded nothing");
    assert!(approximate(&r, v.id, Space::Chunks));
    assert_same(&followed, &nearest(&plain, v.id, &all));
    // The writer's own index opens the same file and follows the same way.
    assert_same(&nearest(&w, v.id, &all), &followed);
    assert!(approximate(&w, v.id, Space::Chunks));
}

/// After `fold_after` changes the writer folds them into a new file; a reader keeps answering
/// from the old mapping, then opens the new file when it next catches up, answering the same.
#[test]
fn the_writer_folds_and_readers_switch_to_the_new_file_on_their_next_catch_up() {
    let (dir, w, v) = setup_with(150, AnnSettings { fold_after: 50, ..settings() });
    w.settle_indexes(&mut || ()).unwrap();
    let path = chunk_file(&w, v.id);
    let built_at = file_generation(&path);
    let r = reader(dir.path(), settings());
    let plain = reader(dir.path(), exact());
    let all = ChunkFilter::default();
    assert_same(&nearest(&r, v.id, &all), &nearest(&plain, v.id, &all));

    // 60 new chunks: not folded until the folder runs.
    w.put_documents(v.id, &(150..180).map(|i| doc(i, 0)).collect::<Vec<_>>()).unwrap();
    let before = nearest(&r, v.id, &all);
    assert_same(&before, &nearest(&plain, v.id, &all));
    assert_eq!(file_generation(&path), built_at);
    assert_same(&nearest(&w, v.id, &all), &before);
    w.settle_indexes(&mut || ()).unwrap();
    assert_eq!(written(&w), (1, 1));
    let folded_at = file_generation(&path);
    assert!(folded_at > built_at);
    assert_eq!(w.vectors.cache.read().unwrap()[&(v.id, Space::Chunks)].file_state().map(|s| s.0), Some(folded_at));

    // The reader's mapping of the replaced file still answers.
    let loads = counts(&r).0;
    assert_same(&nearest(&r, v.id, &all), &before);
    assert_eq!(counts(&r).0, loads);
    // Its next catch-up opens the new file.
    w.put_documents(v.id, &[doc(180, 0)]).unwrap();
    let after = nearest(&r, v.id, &all);
    assert_eq!(counts(&r).0, loads + 1, "opened the folded file");
    assert_eq!(r.vectors.cache.read().unwrap()[&(v.id, Space::Chunks)].file_state().map(|s| s.0), Some(folded_at));
    assert_same(&after, &nearest(&plain, v.id, &all));
    // Below the threshold: nothing more to fold.
    w.settle_indexes(&mut || ()).unwrap();
    assert_eq!(written(&w), (1, 1));
}

/// A file that cannot be used is refused: the space is answered exactly, and the writer
/// rebuilds the file after its next commit.
#[test]
fn unusable_files_are_answered_exactly_and_rebuilt() {
    let (dir, w, v) = setup(100);
    w.settle_indexes(&mut || ()).unwrap();
    let path = chunk_file(&w, v.id);
    let all = ChunkFilter::default();
    let mut next = 100;
    let mut builds = 1;
    let mut check = |w: &EmbeddedStore, what: &str| {
        let r = reader(dir.path(), settings());
        let plain = reader(dir.path(), exact());
        assert_same(&nearest(&r, v.id, &all), &nearest(&plain, v.id, &all));
        assert!(!approximate(&r, v.id, Space::Chunks), "{what}: refused");
        w.put_documents(v.id, &[doc(next, 0)]).unwrap();
        next += 1;
        w.settle_indexes(&mut || ()).unwrap();
        builds += 1;
        assert_eq!(written(w).0, builds, "{what}: rebuilt");
        let r = reader(dir.path(), settings());
        assert_same(&nearest(&r, v.id, &all), &nearest(&plain, v.id, &all));
        assert!(approximate(&r, v.id, Space::Chunks), "{what}: the rebuilt file is used");
    };

    std::fs::remove_file(&path).unwrap();
    check(&w, "missing");

    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 2).unwrap();
    check(&w, "truncated");

    std::fs::write(&path, b"not an index file, from some other program").unwrap();
    check(&w, "another format");

    let committed = |w: &EmbeddedStore| w.vault("v").unwrap().unwrap().generation;
    let rows = |dim: usize| (0..10i64).map(move |i| (i, i, vec![1.0 / (dim as f32).sqrt(); dim]));
    let params = trove_ann::BuildParams::default();
    trove_ann::AnnIndex::build(&path, DIM, params, committed(&w) + 5, rows(DIM)).unwrap();
    check(&w, "ahead of the database (restored from a backup)");

    trove_ann::AnnIndex::build(&path, 3, params, committed(&w), rows(3)).unwrap();
    check(&w, "another dimension");

    // Enough commits, unfolded, for the log to be pruned past the file's generation.
    let at = file_generation(&path);
    for i in 0..30 {
        w.put_documents(v.id, &[doc(i, 2)]).unwrap();
    }
    let floor: i64 = w.conn().query_row("SELECT log_floor FROM vaults WHERE id = ?", [v.id], |r| r.get(0)).unwrap();
    assert!(floor > at, "the log no longer reaches the file ({floor} > {at})");
    check(&w, "older than the log");
}

/// A deleted vault's files go with it, and a file of a deleted vault whose id was reused is
/// never taken for the new vault's (the name carries the vault's creation time).
#[test]
fn a_reused_vault_id_never_opens_the_deleted_vaults_file() {
    let (dir, w, v) = setup(50);
    w.settle_indexes(&mut || ()).unwrap();
    let old = chunk_file(&w, v.id);
    let bytes = std::fs::read(&old).unwrap();
    assert!(w.delete_vault(v.id).unwrap());
    assert!(!old.exists(), "deleted with its vault");
    // As if the deleting process died before removing it.
    std::fs::write(&old, bytes).unwrap();

    let v2 = w.ensure_vault("w").unwrap();
    assert_eq!(v2.id, v.id, "the id was reused");
    w.set_vault_embedder(v2.id, "m", DIM).unwrap();
    w.put_documents(v2.id, &(500..520).map(|i| doc(i, 3)).collect::<Vec<_>>()).unwrap();
    assert_ne!(chunk_file(&w, v2.id), old);
    let r = reader(dir.path(), settings());
    let plain = reader(dir.path(), exact());
    let all = ChunkFilter::default();
    assert_same(&nearest(&r, v2.id, &all), &nearest(&plain, v2.id, &all));
    assert!(!approximate(&r, v2.id, Space::Chunks), "the old file is not the new vault's");
    w.settle_indexes(&mut || ()).unwrap();
    let r = reader(dir.path(), settings());
    assert_same(&nearest(&r, v2.id, &all), &nearest(&plain, v2.id, &all));
    assert!(approximate(&r, v2.id, Space::Chunks));
}

/// Chunk filters (source, URI prefix, metadata) and memory filters (scope, expiry) give the
/// exact scan's answers, both by ranking the rows a filter passes and by a filtered traversal.
#[test]
fn filters_answer_like_the_exact_scan_on_both_paths() {
    let (dir, w, v) = setup(1000);
    for i in 0..300u64 {
        let mut m = new_memory(&format!("memory {i}"), Some(&format!("u{}", i % 3)), &[], [1.0, 0.0]);
        m.vector = unit(50_000 + i);
        m.expires_ms = i.is_multiple_of(5).then_some(1_000);
        w.memory_put(v.id, &m, 10).unwrap();
    }
    w.settle_indexes(&mut || ()).unwrap();
    assert_eq!(written(&w), (2, 0), "a file for chunks, one for memories");
    let plain = reader(dir.path(), exact());
    let filters = [
        ChunkFilter { source: Some("a".into()), ..ChunkFilter::default() },
        ChunkFilter { uri_prefix: Some("dir1/".into()), ..ChunkFilter::default() },
        ChunkFilter { metadata: vec![("k".into(), serde_json::json!(2))], ..ChunkFilter::default() },
        ChunkFilter { source: Some("b".into()), uri_prefix: Some("dir2/1".into()), ..ChunkFilter::default() },
    ];
    let memory_filters = [
        MemoryFilter { now_ms: 100, ..MemoryFilter::default() },
        MemoryFilter { now_ms: 5_000, ..MemoryFilter::default() },
        MemoryFilter { now_ms: 5_000, user_id: Some("u1".into()), ..MemoryFilter::default() },
        MemoryFilter {
            now_ms: 100,
            user_id: Some("u2".into()),
            agent_id: Some("agent-1".into()),
            ..MemoryFilter::default()
        },
    ];
    let memories = |store: &EmbeddedStore, f: &MemoryFilter| -> Vec<Vec<Scored>> {
        queries().iter().map(|q| store.memory_vector_search(v.id, q, f, 10).unwrap()).collect()
    };
    for search_in_below in [usize::MAX, 0] {
        let r = reader(dir.path(), AnnSettings { search_in_below, ..settings() });
        for f in &filters {
            let got = nearest(&r, v.id, f);
            assert!(got.iter().all(|hits| hits.len() == 10), "{f:?}");
            assert_same(&got, &nearest(&plain, v.id, f));
        }
        for f in &memory_filters {
            assert_same(&memories(&r, f), &memories(&plain, f));
        }
        assert!(approximate(&r, v.id, Space::Chunks) && approximate(&r, v.id, Space::Memories));
    }
}

/// `trove doctor`'s view: each space's file, its generation, and its vectors once caught up
/// against the rows; a space without a usable file says why.
#[test]
fn vector_files_reports_each_space_file_against_its_rows() {
    let (dir, w, v) = setup(40);
    let report = |store: &EmbeddedStore| store.vector_files().unwrap();
    let r = reader(dir.path(), settings());
    let before = report(&r);
    assert_eq!(before.len(), 2);
    assert!(matches!(&before[0].file, VectorFileState::Unusable(why) if why == "no file"), "{before:?}");
    assert_eq!((before[0].space, before[0].rows), ("chunks", 80));
    assert_eq!(before[1].file, VectorFileState::NotNeeded, "no memories");

    w.settle_indexes(&mut || ()).unwrap();
    let built_at = w.vault("v").unwrap().unwrap().generation;
    w.put_documents(v.id, &[doc(40, 0)]).unwrap();
    let after = report(&reader(dir.path(), settings()));
    assert_eq!(after[0].rows, 82);
    match &after[0].file {
        VectorFileState::Current { path, generation, live, caught_up, rows } => {
            assert_eq!(path, &chunk_file(&w, v.id));
            assert_eq!((*generation, *live, *caught_up, *rows), (built_at, 80, 82, Some(82)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report(&reader(dir.path(), exact()))[0].file, VectorFileState::NotNeeded, "disabled");
}

/// Only the holder of `vectors/fold.lock` writes files: while another process holds it, a
/// writer builds nothing (and searches exactly); once it is free, the writer takes it,
/// deletes the temp files a writer killed mid-write left, and builds. (The kill itself is
/// not staged here: the crate writes a temp file and renames it, so a kill leaves exactly
/// such a temp file and the previous file untouched.)
#[test]
fn only_the_fold_lock_holder_writes_files_and_it_clears_half_written_ones() {
    let (dir, w, v) = setup(30);
    let vectors = dir.path().join(VECTORS_DIR);
    std::fs::create_dir_all(&vectors).unwrap();
    let other = std::fs::File::create(vectors.join(super::super::folder::FOLD_LOCK)).unwrap();
    other.try_lock().unwrap();
    let torn = vectors.join(".v1-0000.chunks.ann.tmp.99999.12345");
    std::fs::write(&torn, b"half a file").unwrap();
    w.settle_indexes(&mut || ()).unwrap();
    assert_eq!(written(&w), (0, 0), "another process holds the lock");
    assert!(torn.exists(), "not the writer of files: leaves them alone");
    let all = ChunkFilter::default();
    let plain = reader(dir.path(), exact());
    assert_same(&nearest(&w, v.id, &all), &nearest(&plain, v.id, &all));
    assert!(!approximate(&w, v.id, Space::Chunks));

    drop(other);
    w.put_documents(v.id, &[doc(30, 0)]).unwrap();
    w.settle_indexes(&mut || ()).unwrap();
    assert_eq!(written(&w), (1, 0));
    assert!(!torn.exists(), "the new holder deleted the half-written file");
    assert_same(&nearest(&w, v.id, &all), &nearest(&plain, v.id, &all));
    assert!(approximate(&w, v.id, Space::Chunks));
}

/// The default: files are written by a background thread after the commits that make them
/// due, and `settle_indexes` returns once it has written them.
#[test]
fn the_background_thread_builds_after_commits_and_settling_waits_for_it() {
    let (dir, w, v) = setup_with(60, AnnSettings { folding: Folding::Background, fold_after: 20, ..settings() });
    w.settle_indexes(&mut || ()).unwrap();
    assert_eq!(written(&w), (1, 0));
    w.put_documents(v.id, &(60..75).map(|i| doc(i, 0)).collect::<Vec<_>>()).unwrap();
    w.settle_indexes(&mut || ()).unwrap();
    assert_eq!(written(&w), (1, 1), "30 changes folded");
    let all = ChunkFilter::default();
    let r = reader(dir.path(), settings());
    assert_same(&nearest(&r, v.id, &all), &nearest(&reader(dir.path(), exact()), v.id, &all));
    assert!(approximate(&r, v.id, Space::Chunks));
    assert_eq!(counts(&r), (1, 0), "the folded file is current: nothing to catch up");
}
