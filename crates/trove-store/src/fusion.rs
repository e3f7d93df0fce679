//! Fusion: how Trove merges a keyword and a vector list into one ranking. Reciprocal rank
//! fusion ([`rrf`], optionally weighted per list) reads only ranks; relative score fusion
//! ([`relative_score`]) scales each list's scores to 0–1 and adds them with their weights.
//! The engine fuses when a store declines to answer a hybrid query in one step (and always
//! for anything but equally weighted RRF); a store that answers in one step must rank as
//! [`rrf`] does (the conformance suite's hybrid checks hold every such backend to
//! hand-computed expectations of this fusion).

use std::collections::HashMap;

use crate::Scored;

/// Fuses ranked lists: each list adds `1 / (k + rank)` (rank from 1) to its items' scores; the
/// best score first, ties broken by ascending id so results are deterministic. Every item of
/// every list is returned (callers cut to their limit).
pub fn rrf(lists: &[&[Scored]], k: f32) -> Vec<Scored> {
    let weighted: Vec<(&[Scored], f32)> = lists.iter().map(|l| (*l, 1.0)).collect();
    weighted_rrf(&weighted, k)
}

/// [`rrf`] with a weight per list: each list adds `weight / (k + rank)`.
pub fn weighted_rrf(lists: &[(&[Scored], f32)], k: f32) -> Vec<Scored> {
    let mut scores: HashMap<i64, f32> = HashMap::new();
    for (list, weight) in lists {
        for (rank, s) in list.iter().enumerate() {
            *scores.entry(s.id).or_default() += weight / (k + rank as f32 + 1.0);
        }
    }
    ranked(scores)
}

/// Relative score fusion: each list's scores are scaled to 0–1 (its best 1, its worst 0; a
/// list whose scores are all equal gives each 1) and added with the list's weight; an item
/// missing from a list gets nothing from it. Best first, ties by ascending id; every item of
/// every list is returned.
pub fn relative_score(lists: &[(&[Scored], f32)]) -> Vec<Scored> {
    let mut scores: HashMap<i64, f32> = HashMap::new();
    for (list, weight) in lists {
        let (lo, hi) =
            list.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| (lo.min(s.score), hi.max(s.score)));
        let span = hi - lo;
        for s in list.iter() {
            let scaled = if span > 0.0 && span.is_finite() { (s.score - lo) / span } else { 1.0 };
            *scores.entry(s.id).or_default() += weight * scaled;
        }
    }
    ranked(scores)
}

fn ranked(scores: HashMap<i64, f32>) -> Vec<Scored> {
    let mut fused: Vec<Scored> = scores.into_iter().map(|(id, score)| Scored { id, score }).collect();
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ids: &[i64]) -> Vec<Scored> {
        ids.iter().map(|&id| Scored { id, score: 0.0 }).collect()
    }

    #[test]
    fn rrf_rewards_agreement() {
        let a = s(&[1, 2, 3]);
        let b = s(&[3, 1, 4]);
        let fused = rrf(&[&a, &b], 60.0);
        let ids: Vec<i64> = fused.iter().map(|x| x.id).collect();
        // 1: 1/61 + 1/62; 3: 1/63 + 1/61; 2: 1/62; 4: 1/63.
        assert_eq!(ids, [1, 3, 2, 4]);
        assert!((fused[0].score - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-6);
    }

    #[test]
    fn rrf_of_one_list_keeps_its_order() {
        let a = s(&[9, 4, 7]);
        assert_eq!(rrf(&[&a], 60.0).iter().map(|x| x.id).collect::<Vec<_>>(), [9, 4, 7]);
        assert!(rrf(&[], 60.0).is_empty());
    }

    fn scored(pairs: &[(i64, f32)]) -> Vec<Scored> {
        pairs.iter().map(|&(id, score)| Scored { id, score }).collect()
    }

    #[test]
    fn weighted_rrf_scales_each_lists_share() {
        let a = s(&[1, 2]);
        let b = s(&[2, 1]);
        // Equal weights tie (1 wins on its id); weighting b lifts its leader, 2.
        let even = weighted_rrf(&[(&a, 1.0), (&b, 1.0)], 60.0);
        assert_eq!(even.iter().map(|x| x.id).collect::<Vec<_>>(), [1, 2]);
        let fused = weighted_rrf(&[(&a, 0.4), (&b, 1.6)], 60.0);
        assert_eq!(fused.iter().map(|x| x.id).collect::<Vec<_>>(), [2, 1]);
        assert!((fused[0].score - (0.4 / 62.0 + 1.6 / 61.0)).abs() < 1e-6);
    }

    #[test]
    fn relative_score_scales_each_list_to_one() {
        // Keyword scores 10, 6, 2 scale to 1, 0.5, 0; cosines 0.9, 0.8 to 1, 0.
        let keyword = scored(&[(1, 10.0), (2, 6.0), (3, 2.0)]);
        let vector = scored(&[(3, 0.9), (2, 0.8)]);
        let fused = relative_score(&[(&keyword, 0.5), (&vector, 0.5)]);
        let got: Vec<(i64, f32)> = fused.iter().map(|x| (x.id, x.score)).collect();
        // 1: 0.5; 2: 0.25 + 0; 3: 0 + 0.5 (tie with 1, lower id first).
        assert_eq!(got, [(1, 0.5), (3, 0.5), (2, 0.25)]);
        // A one-item (or all-equal) list gives full marks; a weight of 0 silences a list.
        let lone = scored(&[(7, 3.0)]);
        assert_eq!(relative_score(&[(&lone, 0.3)])[0].score, 0.3);
        let only_vector = relative_score(&[(&keyword, 0.0), (&vector, 1.0)]);
        assert_eq!((only_vector[0].id, only_vector[0].score), (3, 1.0));
        assert!(only_vector[1..].iter().all(|x| x.score == 0.0));
    }

    #[test]
    fn rrf_breaks_ties_by_ascending_id() {
        // 8 and 5 each have ranks 1 and 2: equal sums, so the lower id leads.
        let a = s(&[8, 5]);
        let b = s(&[5, 8]);
        assert_eq!(rrf(&[&a, &b], 60.0).iter().map(|x| x.id).collect::<Vec<_>>(), [5, 8]);
    }
}
