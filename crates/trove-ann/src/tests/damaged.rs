//! Damaged files, fuzz-style: a small index file is truncated, extended, bit-flipped, or has
//! words of its body or fields of its header overwritten (the header's checksum then
//! recomputed, as a bug or a crafted file would leave it), hundreds of times from a fixed
//! seed. Every case must end in a refusal ([`AnnError::Corrupt`] or [`AnnError::Version`])
//! or in an index that answers without panicking, whose hits are the source's vectors with
//! their exact scores, and that [`crate::Base::verify`] either refuses or lets fold.

use std::path::Path;

use super::*;
use crate::format::HEADER_LEN;

/// One way of damaging a file.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Cut at a random length.
    Truncate,
    /// Random bytes appended.
    Extend,
    /// A few random bits flipped anywhere.
    FlipBits,
    /// Random 32-bit words of the body overwritten (links, counts, levels, order, ...).
    BodyWords,
    /// A random header byte changed and the header's checksum recomputed.
    HeaderField,
}

const DAMAGES: [Damage; 5] =
    [Damage::Truncate, Damage::Extend, Damage::FlipBits, Damage::BodyWords, Damage::HeaderField];

fn damage(good: &[u8], how: Damage, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = good.to_vec();
    let len = bytes.len();
    // A random offset in `from..len` with room for `width` bytes.
    let at = |rng: &mut Rng, from: usize, width: usize| from + rng.next() as usize % (len + 1 - width - from);
    match how {
        Damage::Truncate => {
            let cut = at(rng, 0, 1);
            bytes.truncate(cut);
        }
        Damage::Extend => bytes.extend((0..1 + rng.next() % 200).map(|_| rng.next() as u8)),
        Damage::FlipBits => {
            for _ in 0..1 + rng.next() % 4 {
                let i = at(rng, 0, 1);
                bytes[i] ^= 1 << (rng.next() % 8);
            }
        }
        Damage::BodyWords => {
            for _ in 0..1 + rng.next() % 8 {
                let i = at(rng, HEADER_LEN, 4) & !3;
                let word = match rng.next() % 3 {
                    0 => u32::MAX,
                    1 => rng.next() as u32 % 1000,
                    _ => rng.next() as u32,
                };
                bytes[i..i + 4].copy_from_slice(&word.to_ne_bytes());
            }
        }
        Damage::HeaderField => {
            let i = 12 + rng.next() as usize % (HEADER_LEN - 16);
            bytes[i] = rng.next() as u8;
            let crc = crc32fast::hash(&bytes[..HEADER_LEN - 4]);
            bytes[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        }
    }
    bytes
}

/// Uses everything a caller can reach of a damaged index that opened; returns whether
/// `verify` accepted it.
fn exercise(index: &mut AnnIndex, store: &Store, qs: &[Vec<f32>], out: &Path) -> bool {
    let some_ids: Vec<i64> = store.0.keys().copied().take(50).collect();
    for (i, q) in qs.iter().enumerate() {
        let opts = SearchOptions { ef: 20 + 30 * i, rescore: 20 };
        let hits = index.search(q, 10, &opts, |id, _| id % 2 == 1, store).unwrap();
        let within = index.search_in(q, &some_ids, 10, &opts, store).unwrap();
        for h in hits.iter().chain(&within) {
            let v = store.0.get(&h.id).expect("a hit is one of the source's vectors");
            let dot: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
            assert!((dot - h.score).abs() < 1e-5, "a hit carries its exact score");
        }
    }
    let base = index.base().expect("an opened index has a base");
    let _ = (base.ids().count(), base.live(), base.generation(), index.len(), index.contains(1));
    let verified = base.verify().is_ok();
    index.remove(1);
    index.add(-5, 0, &qs[0]).unwrap();
    let folded = index.fold().write(out);
    if verified {
        index.install(folded.expect("a base that verifies folds")).unwrap();
        let hits = index.search(&qs[0], 1, &SearchOptions::default(), |_, _| true, store).unwrap();
        assert_eq!(ids(&hits), vec![-5], "the folded index finds the added vector");
    } else {
        assert!(matches!(folded, Err(AnnError::Corrupt { .. })), "a damaged base is refused by a fold");
    }
    verified
}

#[test]
fn damaged_files_are_refused_or_answer_without_panicking_and_never_with_wrong_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.ann");
    let mut store = random(300, 11);
    build(&path, &store, 3);
    let good = std::fs::read(&path).unwrap();
    let qs = queries(3, 12);
    store.0.insert(-5, qs[0].clone());
    let mut rng = Rng::new(13);
    let (mut refused, mut opened, mut verified) = ([0usize; 5], [0usize; 5], 0);
    for case in 0..600 {
        let how = DAMAGES[case % DAMAGES.len()];
        let bytes = damage(&good, how, &mut rng);
        let p = dir.path().join(format!("case-{case}.ann"));
        std::fs::write(&p, &bytes).unwrap();
        match AnnIndex::open(&p, params()) {
            Err(AnnError::Corrupt { .. } | AnnError::Version { .. }) => refused[how as usize] += 1,
            Err(e) => panic!("case {case} ({how:?}): refused with an unexpected error: {e}"),
            Ok(mut index) => {
                opened[how as usize] += 1;
                verified += usize::from(exercise(&mut index, &store, &qs, &dir.path().join("folded.ann")));
            }
        }
        std::fs::remove_file(&p).unwrap();
    }
    // The header and length checks refuse every truncation and extension at open.
    assert_eq!((opened[Damage::Truncate as usize], opened[Damage::Extend as usize]), (0, 0));
    // Damage the header checks cannot see reaches searches (and is found by verify).
    assert!(opened[Damage::BodyWords as usize] > 50, "{opened:?}");
    assert!(refused[Damage::HeaderField as usize] > 20, "{refused:?}");
    assert!(verified < opened.iter().sum::<usize>(), "verify found body damage");
}
