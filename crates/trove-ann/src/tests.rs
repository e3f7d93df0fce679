//! The index as the store uses it: recall against exact search on random and clustered data,
//! files written, reopened, damaged and refused, changes through the delta, filters, folds.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::{AnnError, AnnIndex, BuildParams, Hit, SearchOptions, SplitMix64, VectorSource, exact};

mod damaged;

/// The caller's copy of the vectors.
#[derive(Default)]
struct Store(HashMap<i64, Vec<f32>>);

impl VectorSource for Store {
    type Error = AnnError;
    fn vectors(&self, ids: &[i64], found: &mut dyn FnMut(i64, &[f32])) -> Result<(), AnnError> {
        for id in ids {
            if let Some(v) = self.0.get(id) {
                found(*id, v);
            }
        }
        Ok(())
    }
}

impl Store {
    fn exact(&self, query: &[f32], k: usize, filter: impl Fn(i64) -> bool) -> Vec<Hit> {
        exact::top_k(query, self.0.iter().filter(|(id, _)| filter(**id)).map(|(id, v)| (*id, v.as_slice())), k)
    }
}

struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(SplitMix64(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    fn gaussian(&mut self) -> f32 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f32::consts::TAU * self.uniform()).cos()
    }
    fn unit(&mut self, dim: usize) -> Vec<f32> {
        normalised((0..dim).map(|_| self.gaussian()).collect())
    }
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

const DIM: usize = 32;

fn random(n: usize, seed: u64) -> Store {
    let mut rng = Rng::new(seed);
    Store((0..n as i64).map(|id| (id * 3 + 1, rng.unit(DIM))).collect())
}

/// Tight clusters around a few centres: many near-duplicates, the hard case for graphs.
fn clustered(n: usize, seed: u64) -> Store {
    let mut rng = Rng::new(seed);
    let centres: Vec<Vec<f32>> = (0..12).map(|_| rng.unit(DIM)).collect();
    Store(
        (0..n as i64)
            .map(|id| {
                let c = &centres[rng.next() as usize % centres.len()];
                (id, normalised(c.iter().map(|x| x + 0.15 * rng.gaussian()).collect()))
            })
            .collect(),
    )
}

fn params() -> BuildParams {
    BuildParams { m: 8, ef_construction: 64, threads: 2, ..BuildParams::default() }
}

fn build(path: &Path, store: &Store, generation: i64) -> AnnIndex {
    let mut items: Vec<(i64, i64, &Vec<f32>)> = store.0.iter().map(|(id, v)| (*id, group(*id), v)).collect();
    items.sort_by_key(|(id, _, _)| *id);
    AnnIndex::build(path, DIM, params(), generation, items).unwrap()
}

/// The group of an id: a "document" of ten "chunks".
fn group(id: i64) -> i64 {
    id / 10
}

fn ids(hits: &[Hit]) -> Vec<i64> {
    hits.iter().map(|h| h.id).collect()
}

/// Mean recall@k of the index against exact search over `queries`.
fn recall(
    index: &AnnIndex,
    store: &Store,
    queries: &[Vec<f32>],
    k: usize,
    opts: &SearchOptions,
    filter: impl Fn(i64) -> bool + Copy,
) -> f64 {
    let mut found = 0;
    for q in queries {
        let got: HashSet<i64> =
            ids(&index.search(q, k, opts, |id, _| filter(id), store).unwrap()).into_iter().collect();
        assert!(got.iter().all(|&id| filter(id)), "a hit fails the filter");
        found += store.exact(q, k, filter).iter().filter(|h| got.contains(&h.id)).count();
    }
    found as f64 / (queries.len() * k) as f64
}

fn queries(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.unit(DIM)).collect()
}

#[test]
fn recall_against_exact_search_is_high_on_random_and_on_clustered_vectors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in [("random", random(3000, 1)), ("clustered", clustered(3000, 2))] {
        let index = build(&dir.path().join(name), &store, 1);
        let qs: Vec<Vec<f32>> =
            if name == "random" { queries(40, 3) } else { store.0.values().take(40).cloned().collect() };
        let r = recall(&index, &store, &qs, 10, &SearchOptions { ef: 80, rescore: 40 }, |_| true);
        assert!(r >= 0.95, "{name}: recall@10 {r}");
        let narrow = recall(&index, &store, &qs, 10, &SearchOptions { ef: 10, rescore: 10 }, |_| true);
        assert!(narrow <= r, "{name}: a wider search finds at least as much ({narrow} vs {r})");
    }
}

#[test]
fn a_saved_index_reopens_with_the_same_answers_its_generation_and_intact_sections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.ann");
    let store = random(800, 4);
    let index = build(&path, &store, 42);
    let reopened = AnnIndex::open(&path, params()).unwrap();
    assert_eq!(reopened.generation(), 42);
    assert_eq!((reopened.len(), reopened.dim()), (800, DIM));
    let base = reopened.base().unwrap();
    base.verify().unwrap();
    assert_eq!(base.ids().count(), 800);
    assert!(base.ids().collect::<Vec<_>>().windows(2).all(|w| w[0] < w[1]));
    for q in queries(10, 5) {
        let opts = SearchOptions::default();
        assert_eq!(
            index.search(&q, 5, &opts, |_, _| true, &store).unwrap(),
            reopened.search(&q, 5, &opts, |_, _| true, &store).unwrap()
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("v.ann")], "no temporary file is left behind");
}

#[test]
fn torn_damaged_foreign_and_other_version_files_are_refused_and_body_damage_is_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.ann");
    build(&path, &random(300, 6), 1);
    let good = std::fs::read(&path).unwrap();
    let open_err = |bytes: &[u8]| {
        let p = dir.path().join("bad.ann");
        std::fs::write(&p, bytes).unwrap();
        AnnIndex::open(&p, params()).unwrap_err()
    };
    let torn = open_err(&good[..good.len() - 1]);
    assert!(matches!(&torn, AnnError::Corrupt { reason, .. } if reason.contains("torn")), "{torn}");
    assert!(torn.to_string().contains("delete it and it is rebuilt"), "{torn}");
    assert!(matches!(open_err(&good[..100]), AnnError::Corrupt { .. }));
    assert!(matches!(open_err(b""), AnnError::Corrupt { .. }));
    let foreign = open_err(&[7u8; 4096]);
    assert!(foreign.to_string().contains("not a trove vector index"), "{foreign}");

    let mut other_version = good.clone();
    other_version[8..12].copy_from_slice(&(crate::FORMAT_VERSION + 1).to_le_bytes());
    let err = open_err(&other_version);
    assert!(
        matches!(err, AnnError::Version { found, supported, .. } if found == crate::FORMAT_VERSION + 1 && supported == crate::FORMAT_VERSION)
    );

    let mut flipped_header = good.clone();
    flipped_header[40] ^= 1;
    let err = open_err(&flipped_header);
    assert!(err.to_string().contains("header checksum"), "{err}");

    let mut flipped_body = good.clone();
    let last = flipped_body.len() - 9;
    flipped_body[last] ^= 0x55;
    let p = dir.path().join("body.ann");
    std::fs::write(&p, &flipped_body).unwrap();
    let index = AnnIndex::open(&p, params()).unwrap();
    assert!(index.base().unwrap().verify().unwrap_err().to_string().contains("checksum"));
    assert!(matches!(AnnIndex::open(&dir.path().join("absent.ann"), params()), Err(AnnError::Io { .. })));
}

#[test]
fn added_removed_and_replaced_vectors_are_searched_at_once_with_exact_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = random(1500, 7);
    let mut index = build(&dir.path().join("v.ann"), &store, 1);
    let mut rng = Rng::new(8);
    for id in 10_000..10_200 {
        let v = rng.unit(DIM);
        index.add(id, group(id), &v).unwrap();
        store.0.insert(id, v);
    }
    let removed: Vec<i64> = store.0.keys().copied().filter(|id| id % 5 == 0).collect();
    for id in &removed {
        assert!(index.remove(*id));
        assert!(!index.contains(*id));
        store.0.remove(id);
    }
    assert!(!index.remove(removed[0]), "a second removal finds nothing");
    for id in [1i64, 4, 10_001] {
        let v = rng.unit(DIM);
        index.add(id, group(id), &v).unwrap();
        store.0.insert(id, v);
    }
    assert_eq!(index.len(), store.0.len());
    assert_eq!(index.delta_len(), 200 - 40 + 2, "removed delta vectors leave it, replaced base ones enter it");
    let opts = SearchOptions { ef: 400, rescore: 100 };
    for q in queries(20, 9) {
        let got = index.search(&q, 10, &opts, |_, _| true, &store).unwrap();
        assert_eq!(ids(&got), ids(&store.exact(&q, 10, |_| true)));
    }
    // A replaced vector answers with its new value: searching for it finds it first.
    let v4 = store.0[&4].clone();
    assert_eq!(index.search(&v4, 1, &opts, |_, _| true, &store).unwrap()[0].id, 4);
}

#[test]
fn filters_are_applied_exactly_and_search_in_answers_within_the_given_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = clustered(2000, 10);
    let mut index = build(&dir.path().join("v.ann"), &store, 1);
    index.add(5_000_000, group(5_000_000), &store.0[&3]).unwrap();
    let mut store = store;
    store.0.insert(5_000_000, store.0[&3].clone());
    let qs = queries(20, 11);
    let opts = SearchOptions { ef: 100, rescore: 50 };
    let r = recall(&index, &store, &qs, 10, &opts, |id| id % 7 == 0);
    assert!(r >= 0.9, "filtered recall {r}");
    let few: Vec<i64> = store.0.keys().copied().filter(|id| id % 97 == 0).chain([5_000_000, -1]).collect();
    for q in &qs {
        let got = index.search_in(q, &few, 5, &opts, &store).unwrap();
        let want = store.exact(q, 5, |id| few.contains(&id));
        assert_eq!(ids(&got), ids(&want));
        assert!((got[0].score - want[0].score).abs() < 1e-6, "scores are exact");
    }
}

#[test]
fn filters_see_each_vector_group_in_the_base_in_the_delta_and_after_a_fold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.ann");
    let mut store = random(600, 23);
    let mut index = build(&path, &store, 1);
    let v = Rng::new(24).unit(DIM);
    index.add(7_000, 4, &v).unwrap();
    store.0.insert(7_000, v);
    let opts = SearchOptions { ef: 400, rescore: 100 };
    let in_group_4 = |index: &AnnIndex| -> Vec<i64> {
        let mut got = ids(&index.search(&queries(1, 25)[0], 50, &opts, |_, g| g == 4, &store).unwrap());
        got.sort();
        got
    };
    let want: Vec<i64> = {
        let mut w: Vec<i64> =
            store.0.keys().copied().filter(|&id| id != 7_000 && group(id) == 4).chain([7_000]).collect();
        w.sort();
        w
    };
    assert_eq!(in_group_4(&index), want);
    let folded = index.fold().write(&path).unwrap();
    index.install(folded).unwrap();
    assert_eq!(index.delta_len(), 0);
    assert_eq!(in_group_4(&index), want, "groups survive a fold");
}

#[test]
fn a_candidate_the_source_no_longer_holds_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = random(500, 12);
    let index = build(&dir.path().join("v.ann"), &store, 1);
    let q = queries(1, 13).remove(0);
    let best = index.search(&q, 1, &SearchOptions::default(), |_, _| true, &store).unwrap()[0].id;
    store.0.remove(&best);
    let hits = index.search(&q, 10, &SearchOptions::default(), |_, _| true, &store).unwrap();
    assert!(!ids(&hits).contains(&best));
    assert_eq!(hits.len(), 10);
}

#[test]
fn a_fold_keeps_the_changes_made_while_it_was_written_and_the_snapshot_generation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.ann");
    let mut store = random(1000, 14);
    let mut index = build(&path, &store, 1);
    let mut rng = Rng::new(15);
    let mut change = |index: &mut AnnIndex, store: &mut Store, add: std::ops::Range<i64>, remove: &[i64]| {
        for id in add {
            let v = rng.unit(DIM);
            index.add(id, group(id), &v).unwrap();
            store.0.insert(id, v);
        }
        for id in remove {
            index.remove(*id);
            store.0.remove(id);
        }
    };
    change(&mut index, &mut store, 20_000..20_300, &[1, 4, 7]);
    index.set_generation(2);
    let fold = index.fold();
    assert_eq!(fold.adds(), 300);
    // Changes after the snapshot: new vectors, a removal of a folded one, a re-add of a removed one.
    change(&mut index, &mut store, 30_000..30_050, &[20_000, 10]);
    index.add(4, group(4), &store.0[&13].clone()).unwrap();
    store.0.insert(4, store.0[&13].clone());
    index.set_generation(3);

    let folded = fold.write(&path).unwrap();
    index.install(folded).unwrap();
    assert_eq!(index.generation(), 3, "the caller's generation is kept");
    assert_eq!(index.base().unwrap().generation(), 2, "the file reflects the snapshot");
    assert_eq!(index.delta_len(), 51, "only the later additions stay in the delta");
    assert_eq!(index.len(), store.0.len());
    let all: Vec<i64> = store.0.keys().copied().collect();
    let opts = SearchOptions { ef: 300, rescore: 100 };
    for q in queries(15, 16) {
        assert_eq!(
            ids(&index.search(&q, 10, &opts, |_, _| true, &store).unwrap()),
            ids(&store.exact(&q, 10, |_| true))
        );
        assert_eq!(ids(&index.search_in(&q, &all, 10, &opts, &store).unwrap()), ids(&store.exact(&q, 10, |_| true)));
    }
    let reopened = AnnIndex::open(&path, params()).unwrap();
    reopened.base().unwrap().verify().unwrap();
    assert!(reopened.contains(20_000) && !reopened.contains(1), "the file holds the snapshot's state");
    assert_eq!(reopened.len(), 1000 + 300 - 3);
}

#[test]
fn a_fold_rebuilds_the_graph_when_most_of_it_is_dead_and_an_open_mapping_survives_the_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.ann");
    let mut store = random(1000, 17);
    let mut index = build(&path, &store, 1);
    let old = AnnIndex::open(&path, params()).unwrap();
    let q = queries(1, 18).remove(0);
    let before = old.search(&q, 10, &SearchOptions::default(), |_, _| true, &store).unwrap();
    for id in store.0.keys().copied().filter(|id| id % 2 == 0).collect::<Vec<_>>() {
        index.remove(id);
    }
    let folded = index.fold().write(&path).unwrap();
    index.install(folded).unwrap();
    let base = index.base().unwrap();
    assert_eq!(base.node_count(), base.live(), "dead nodes are dropped, not kept as routes");
    assert_eq!(index.tombstones(), 0);
    assert_eq!(
        old.search(&q, 10, &SearchOptions::default(), |_, _| true, &store).unwrap(),
        before,
        "the old mapping still answers"
    );
    store.0.retain(|id, _| id % 2 != 0);
    let r = recall(&index, &store, &queries(20, 19), 10, &SearchOptions { ef: 80, rescore: 40 }, |_| true);
    assert!(r >= 0.95, "recall after the rebuild {r}");
}

#[test]
fn install_refuses_a_fold_of_another_index_or_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = random(200, 20);
    let mut a = build(&dir.path().join("a.ann"), &store, 1);
    let mut b = build(&dir.path().join("b.ann"), &store, 1);
    a.add(9_999, group(9_999), &store.0[&1].clone()).unwrap();
    let older = a.fold();
    a.add(9_998, group(9_998), &store.0[&4].clone()).unwrap();
    let newer = a.fold().write(&dir.path().join("a.ann")).unwrap();
    let older = older.write(&dir.path().join("a-old.ann")).unwrap();
    assert!(b.install(newer).is_err());
    let newer = a.fold().write(&dir.path().join("a.ann")).unwrap();
    a.install(newer).unwrap();
    let err = a.install(older).unwrap_err();
    assert!(err.to_string().contains("older"), "{err}");
    assert!(a.contains(9_998) && a.contains(9_999));
}

#[test]
fn an_index_without_a_base_answers_from_its_delta_and_folds_into_a_first_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.ann");
    let store = random(300, 21);
    let mut index = AnnIndex::new(DIM, BuildParams { fold_after: 100, ..params() }).unwrap();
    assert!(index.is_empty() && !index.wants_fold());
    for (id, v) in &store.0 {
        index.add(*id, group(*id), v).unwrap();
    }
    assert!(index.wants_fold());
    let q = queries(1, 22).remove(0);
    let exact = ids(&store.exact(&q, 10, |_| true));
    assert_eq!(ids(&index.search(&q, 10, &SearchOptions::default(), |_, _| true, &store).unwrap()), exact);
    let folded = index.fold().write(&path).unwrap();
    index.install(folded).unwrap();
    assert_eq!((index.delta_len(), index.len()), (0, 300));
    assert_eq!(
        ids(&index.search(&q, 10, &SearchOptions { ef: 200, rescore: 50 }, |_, _| true, &store).unwrap()),
        exact
    );

    let empty =
        AnnIndex::build(&dir.path().join("empty.ann"), DIM, params(), 0, Vec::<(i64, i64, Vec<f32>)>::new()).unwrap();
    assert!(empty.search(&q, 3, &SearchOptions::default(), |_, _| true, &store).unwrap().is_empty());
    assert!(AnnIndex::open(&dir.path().join("empty.ann"), params()).unwrap().is_empty());
}

#[test]
fn wrong_dimensions_non_finite_vectors_and_bad_parameters_are_refused() {
    let store = Store::default();
    let mut index = AnnIndex::new(DIM, params()).unwrap();
    assert!(matches!(index.add(1, group(1), &[0.5; 3]), Err(AnnError::Dimension { expected: DIM, got: 3 })));
    let mut nan = vec![0.0; DIM];
    nan[2] = f32::NAN;
    assert!(matches!(index.add(2, group(2), &nan), Err(AnnError::NotFinite { id: 2 })));
    assert!(matches!(
        index.search(&[0.0; 2], 1, &SearchOptions::default(), |_, _| true, &store),
        Err(AnnError::Dimension { .. })
    ));
    assert!(AnnIndex::new(DIM, BuildParams { m: 1, ..params() }).is_err());
    assert!(AnnIndex::new(0, params()).is_err());
    assert!(AnnIndex::new(DIM, BuildParams { threads: crate::MAX_THREADS + 1, ..params() }).is_err());
    let dir = tempfile::tempdir().unwrap();
    let dup = AnnIndex::build(
        &dir.path().join("d.ann"),
        2,
        params(),
        0,
        vec![(1, 0, vec![1.0, 0.0]), (1, 0, vec![0.0, 1.0])],
    );
    assert!(matches!(dup, Err(AnnError::DuplicateId { id: 1 })));
}

#[test]
fn the_widest_searches_a_caller_can_ask_for_answer_every_vector_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = random(200, 21);
    let mut index = build(&dir.path().join("w.ann"), &store, 1);
    index.add(-1, 0, &queries(1, 22)[0]).unwrap();
    let mut all = Store(store.0.clone());
    all.0.insert(-1, queries(1, 22)[0].clone());
    let widest = SearchOptions { ef: usize::MAX, rescore: usize::MAX };
    let q = &queries(1, 23)[0];
    let everything = all.exact(q, usize::MAX, |_| true);
    assert_eq!(everything.len(), 201);
    assert_eq!(index.search(q, usize::MAX, &widest, |_, _| true, &all).unwrap(), everything);
    let ids: Vec<i64> = all.0.keys().copied().collect();
    assert_eq!(index.search_in(q, &ids, usize::MAX, &widest, &all).unwrap(), everything);
}
