//! Reciprocal rank fusion, the one way Trove merges a keyword and a vector list into one
//! ranking: the engine fuses with it when a store declines to answer a hybrid query in one
//! step, and a store that answers in one step must rank as it does (the conformance suite's
//! hybrid checks hold every such backend to hand-computed expectations of this fusion).

use std::collections::HashMap;

use crate::Scored;

/// Fuses ranked lists: each list adds `1 / (k + rank)` (rank from 1) to its items' scores; the
/// best score first, ties broken by ascending id so results are deterministic. Every item of
/// every list is returned (callers cut to their limit).
pub fn rrf(lists: &[&[Scored]], k: f32) -> Vec<Scored> {
    let mut scores: HashMap<i64, f32> = HashMap::new();
    for list in lists {
        for (rank, s) in list.iter().enumerate() {
            *scores.entry(s.id).or_default() += 1.0 / (k + rank as f32 + 1.0);
        }
    }
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

    #[test]
    fn rrf_breaks_ties_by_ascending_id() {
        // 8 and 5 each have ranks 1 and 2: equal sums, so the lower id leads.
        let a = s(&[8, 5]);
        let b = s(&[5, 8]);
        assert_eq!(rrf(&[&a, &b], 60.0).iter().map(|x| x.id).collect::<Vec<_>>(), [5, 8]);
    }
}
