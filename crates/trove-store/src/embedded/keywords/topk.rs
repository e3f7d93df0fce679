//! The best k rows for a query over postings in blocks, without scoring every posting of the
//! frequent terms: block-max MaxScore, document at a time in row order.
//!
//! Each term's lists has an upper bound per block (the best score of the block's impacts, see
//! `codec`) and overall. Terms are ordered by their overall bound; once the heap holds k rows,
//! the longest prefix of that order whose bounds add up to no more than the k-th score is
//! *non-essential*: a row that contains only those terms cannot enter, so candidates come from
//! the other terms only, and the non-essential lists are only looked into at a candidate's
//! row, best bound first, stopping as soon as the bound left cannot lift it in. Before a
//! candidate is decoded at all, the bounds of the blocks every term has at that row bound
//! every row up to the nearest block end: when that sum cannot enter, the whole window is
//! skipped without decoding it.
//!
//! Scores are exactly those of the naive twin: a candidate's score is summed term by term in
//! query order, as BM25 over every posting would sum it. Bounds are compared with a relative
//! slack ([`SLACK`]) that covers float sums taken in another order, so a skip never drops a
//! row that would enter. Rows are visited in increasing id, so a row whose score equals the
//! k-th can never enter (ties go to the lower id, which came first): skipping at equality is
//! exact. `keep` (the search's filter) is asked only about rows that would enter the top k.

use std::collections::BinaryHeap;

use super::codec::{Posting, decode_postings};
use crate::Scored;
use crate::StoreError;
use crate::bm25::{Bm25, Worst, best_first};

/// One stored block of a term's postings.
#[derive(Debug)]
pub(crate) struct Block {
    /// Its first and last row ids.
    pub first: i64,
    pub last: i64,
    /// Its impacts (see `codec`).
    pub impacts: Vec<(u32, u32)>,
    /// Its encoded postings.
    pub postings: Vec<u8>,
}

/// A query term's postings: the rows containing it and its blocks, in row order.
#[derive(Debug)]
pub(crate) struct TermPostings {
    pub df: u64,
    pub blocks: Vec<Block>,
}

/// A bound times this is at least any float sum of the same contributions, in any order
/// (64 terms at f32 precision err by well under 10⁻⁵ relative).
const SLACK: f32 = 1.0 + 1e-4;

/// Where one term's list is.
struct Cursor<'a> {
    /// The term's place in the query, which decides the order of summing.
    term: usize,
    idf: f32,
    blocks: &'a [Block],
    /// The upper bound of each block.
    bounds: Vec<f32>,
    /// The largest of `bounds`.
    max: f32,
    /// The block the cursor is in (`blocks.len()` once exhausted).
    b: usize,
    /// The cursor stands at the first posting whose row is at least this.
    at: i64,
    /// The decoded postings of block `decoded_b`.
    decoded: Vec<Posting>,
    decoded_b: usize,
    /// Position in `decoded`.
    p: usize,
    /// Blocks decoded so far.
    decodes: usize,
}

impl<'a> Cursor<'a> {
    fn new(term: usize, idf: f32, bm25: &Bm25, blocks: &'a [Block]) -> Cursor<'a> {
        let bounds: Vec<f32> = blocks
            .iter()
            .map(|b| b.impacts.iter().map(|&(tf, len)| bm25.score(idf, tf, len)).fold(0.0, f32::max))
            .collect();
        let max = bounds.iter().copied().fold(0.0, f32::max);
        Cursor {
            term,
            idf,
            blocks,
            bounds,
            max,
            b: 0,
            at: i64::MIN,
            decoded: Vec::new(),
            decoded_b: usize::MAX,
            p: 0,
            decodes: 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.b >= self.blocks.len()
    }

    /// Moves to the first posting at or after `target` (never backwards), skipping whole
    /// blocks by their last row without decoding them.
    fn advance(&mut self, target: i64) {
        if target <= self.at {
            return;
        }
        self.at = target;
        while self.b < self.blocks.len() && self.blocks[self.b].last < target {
            self.b += 1;
        }
    }

    /// A lower bound of the current row, exact once the current block is decoded.
    fn lower(&self) -> Option<i64> {
        self.blocks.get(self.b).map(|block| block.first.max(self.at))
    }

    /// The current posting, decoding the current block if needed.
    fn posting(&mut self) -> Result<Option<Posting>, StoreError> {
        let Some(block) = self.blocks.get(self.b) else { return Ok(None) };
        if self.decoded_b != self.b {
            self.decoded.clear();
            decode_postings(block.first, &block.postings, &mut self.decoded)?;
            if self.decoded.last().map(|p| p.row) != Some(block.last) {
                return Err(StoreError::Corrupt(format!(
                    "keyword index: the block of rows {}..={} holds other rows",
                    block.first, block.last
                )));
            }
            self.decoded_b = self.b;
            self.decodes += 1;
            self.p = 0;
        }
        let at = self.at;
        self.p += self.decoded[self.p..].partition_point(|q| q.row < at);
        // The block's last row is at least `at`, so a posting is found.
        let posting = self.decoded[self.p];
        self.at = posting.row;
        Ok(Some(posting))
    }

    /// After `advance(row)`: the bound of the block holding `row` (none when `row` falls
    /// between blocks or past the last), and the last row up to which that holds.
    fn block_at(&self, row: i64) -> (f32, i64) {
        match self.blocks.get(self.b) {
            None => (0.0, i64::MAX),
            Some(block) if block.first <= row => (self.bounds[self.b], block.last),
            Some(block) => (0.0, block.first - 1),
        }
    }

    /// Its contribution to `row`'s score, if it contains `row` (after `advance(row)`).
    fn score_at(&mut self, row: i64, bm25: &Bm25) -> Result<Option<f32>, StoreError> {
        if self.exhausted() || self.blocks[self.b].first > row {
            return Ok(None);
        }
        Ok(self.posting()?.filter(|p| p.row == row).map(|p| bm25.score(self.idf, p.tf, p.len)))
    }
}

/// The best `limit` rows for the query's `terms` (in query order; `None` for a term no row
/// holds), best first, ties by row id, among the rows `keep` passes.
pub(crate) fn top_k(
    bm25: &Bm25,
    terms: &[Option<TermPostings>],
    limit: usize,
    keep: impl FnMut(i64) -> Result<bool, StoreError>,
) -> Result<Vec<Scored>, StoreError> {
    Ok(ranked(bm25, terms, limit, keep)?.0)
}

/// [`top_k`], and how many blocks it decoded.
fn ranked(
    bm25: &Bm25,
    terms: &[Option<TermPostings>],
    limit: usize,
    mut keep: impl FnMut(i64) -> Result<bool, StoreError>,
) -> Result<(Vec<Scored>, usize), StoreError> {
    if limit == 0 {
        return Ok((Vec::new(), 0));
    }
    let mut cursors: Vec<Cursor<'_>> = terms
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.as_ref().filter(|t| t.df > 0 && !t.blocks.is_empty()).map(|t| (i, t)))
        .map(|(i, t)| Cursor::new(i, bm25.idf(t.df), bm25, &t.blocks))
        .collect();
    if cursors.is_empty() {
        return Ok((Vec::new(), 0));
    }
    // By rising bound; `prefix[j]` bounds a row holding only terms `order[..=j]`.
    cursors.sort_by(|a, b| a.max.total_cmp(&b.max).then(a.term.cmp(&b.term)));
    let prefix: Vec<f32> = cursors
        .iter()
        .scan(0f32, |sum, c| {
            *sum += c.max;
            Some(*sum)
        })
        .collect();
    let mut contributions = vec![0f32; terms.len()];
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(limit + 1);
    // The k-th score once the heap is full.
    let mut threshold: Option<f32> = None;
    // Cursors `..essential` are non-essential.
    let mut essential = 0;
    while let Some(lower) = cursors[essential..].iter().filter_map(Cursor::lower).min() {
        if let Some(threshold) = threshold {
            // Every row from `lower` to `end` scores at most `bound`.
            let (mut bound, mut end) = (0f32, i64::MAX);
            for c in cursors.iter_mut() {
                c.advance(lower);
                let (b, until) = c.block_at(lower);
                bound += b;
                end = end.min(until);
            }
            if bound * SLACK <= threshold {
                if end == i64::MAX {
                    break;
                }
                for c in &mut cursors[essential..] {
                    c.advance(end + 1);
                }
                continue;
            }
        }
        let mut row = i64::MAX;
        for c in &mut cursors[essential..] {
            if let Some(p) = c.posting()? {
                row = row.min(p.row);
            }
        }
        if row != lower {
            // Every essential cursor is decoded now: the next turn starts at the exact row.
            continue;
        }
        contributions.iter_mut().for_each(|c| *c = 0.0);
        let mut partial = 0f32;
        for c in &mut cursors[essential..] {
            if let Some(s) = c.score_at(row, bm25)? {
                contributions[c.term] = s;
                partial += s;
            }
        }
        let mut enters = true;
        if let Some(threshold) = threshold {
            // The non-essential terms at this row, best bound first.
            for j in (0..essential).rev() {
                let rest: f32 = cursors[..=j]
                    .iter_mut()
                    .map(|c| {
                        c.advance(row);
                        c.block_at(row).0
                    })
                    .sum();
                if (partial + rest) * SLACK <= threshold {
                    enters = false;
                    break;
                }
                if let Some(s) = cursors[j].score_at(row, bm25)? {
                    contributions[cursors[j].term] = s;
                    partial += s;
                }
            }
        }
        if enters {
            let score = contributions.iter().fold(0f32, |sum, c| sum + c);
            let candidate = Worst(Scored { id: row, score });
            let full = heap.len() == limit;
            if !(full && heap.peek().is_some_and(|worst| candidate >= *worst)) && keep(row)? {
                if full {
                    heap.pop();
                }
                heap.push(candidate);
                if heap.len() == limit
                    && let Some(worst) = heap.peek()
                {
                    let t = worst.0.score;
                    threshold = Some(t);
                    essential = prefix.iter().take_while(|&&p| p * SLACK <= t).count();
                    if essential == cursors.len() {
                        // No row holds more than the k-th score can beat.
                        break;
                    }
                }
            }
        }
        if row == i64::MAX {
            break;
        }
        for c in &mut cursors[essential..] {
            c.advance(row + 1);
        }
    }
    let decoded = cursors.iter().map(|c| c.decodes).sum();
    Ok((best_first(heap.into_iter().map(|w| w.0).collect()), decoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bm25::{NaiveRow, naive_top_k};
    use crate::embedded::keywords::codec::{encode_postings, impacts};

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Rows of random text over a Zipf-like vocabulary of `vocabulary` terms: term `t` is
    /// drawn with weight about 1/(t+1), so a few terms are in most rows and most in few.
    fn rows(rng: &mut Rng, n: usize, vocabulary: u64) -> Vec<NaiveRow> {
        let mut out = Vec::new();
        let mut id = 0i64;
        for _ in 0..n {
            id += 1 + rng.below(3) as i64;
            let words = rng.below(40);
            let mut terms: Vec<(String, u32)> = Vec::new();
            for _ in 0..words {
                // Inverse-transform sampling of ~1/x on [1, vocabulary].
                let u = (rng.below(1_000_000) as f64 + 0.5) / 1e6;
                let t = ((vocabulary as f64).powf(u) as u64).saturating_sub(1);
                let name = format!("t{t}");
                match terms.iter_mut().find(|(x, _)| *x == name) {
                    Some(e) => e.1 += 1,
                    None => terms.push((name, 1)),
                }
            }
            out.push((id, terms, words as u32));
        }
        out
    }

    /// The postings of `term` in blocks of at most `size`.
    fn postings(rows: &[NaiveRow], term: &str, size: usize) -> Option<TermPostings> {
        let all: Vec<Posting> = rows
            .iter()
            .filter_map(|(id, terms, len)| {
                terms.iter().find(|(t, _)| t == term).map(|(_, tf)| Posting { row: *id, tf: *tf, len: *len })
            })
            .collect();
        (!all.is_empty()).then(|| TermPostings {
            df: all.len() as u64,
            blocks: all
                .chunks(size)
                .map(|c| Block {
                    first: c[0].row,
                    last: c[c.len() - 1].row,
                    impacts: impacts(c),
                    postings: encode_postings(c),
                })
                .collect(),
        })
    }

    fn search(
        rows: &[NaiveRow],
        terms: &[String],
        block: usize,
        limit: usize,
        keep: impl Fn(i64) -> bool,
    ) -> (Vec<Scored>, usize, usize) {
        let total: u64 = rows.iter().map(|r| u64::from(r.2)).sum();
        let bm25 = Bm25::new(rows.len() as u64, total);
        let lists: Vec<Option<TermPostings>> = terms.iter().map(|t| postings(rows, t, block)).collect();
        let mut asked = 0;
        let (hits, decoded) = ranked(&bm25, &lists, limit, |row| {
            asked += 1;
            Ok(keep(row))
        })
        .unwrap();
        (hits, asked, decoded)
    }

    /// The randomized comparison with the naive twin: the same rows, the same scores to the
    /// bit, in the same order, for queries of rare and frequent terms, several block sizes,
    /// limits and filters.
    #[test]
    fn block_max_top_k_equals_scoring_every_row() {
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        for round in 0..12 {
            let rows = rows(&mut rng, 300 + round * 150, 400);
            for q in 0..25 {
                let words = 1 + rng.below(6);
                let mut terms: Vec<String> = Vec::new();
                for _ in 0..words {
                    // Frequent terms (low numbers) and rare ones, and some no row holds.
                    let t = if q % 3 == 0 { rng.below(8) } else { rng.below(500) };
                    let name = format!("t{t}");
                    if !terms.contains(&name) {
                        terms.push(name);
                    }
                }
                let limit = [1, 3, 10, 50, 1000][(q % 5) as usize];
                let block = [2, 7, 128][round % 3];
                let modulo = [1, 2, 13][(q % 3) as usize];
                let keep = |row: i64| row % modulo == 0;
                let want = naive_top_k(&rows, &terms, limit, keep);
                let (got, _, _) = search(&rows, &terms, block, limit, keep);
                assert_eq!(got.len(), want.len(), "round {round} query {terms:?} limit {limit}");
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g.id, w.id, "round {round} query {terms:?} limit {limit} block {block}");
                    assert_eq!(g.score.to_bits(), w.score.to_bits(), "row {}", g.id);
                }
            }
        }
    }

    #[test]
    fn frequent_terms_are_not_scored_in_full_and_the_filter_is_asked_only_about_entrants() {
        // 20,000 rows all holding "common", a few also "rare": once the top 3 hold rare rows
        // (10, 20 and 30), rows with "common" alone cannot enter, and the common list is only
        // looked into at the later rare rows.
        let mut rows = Vec::new();
        for id in 1..=20_000i64 {
            let mut terms = vec![("common".to_string(), 1 + (id % 3) as u32)];
            if id % 5_000 == 0 || [10, 20, 30].contains(&id) {
                terms.push(("rare".to_string(), 1));
            }
            rows.push((id, terms, 10));
        }
        let terms = vec!["rare".to_string(), "common".to_string()];
        let (got, asked, decoded) = search(&rows, &terms, 128, 3, |_| true);
        assert_eq!(got, naive_top_k(&rows, &terms, 3, |_| true));
        // Asked only about rows that would enter at their turn: six common ones while the
        // heap fills (rows 1 to 8), then rare ones.
        assert!(asked <= 6 + 7, "asked about {asked} rows");
        // Of the 157 blocks of "common", only the first and those at the four later rare
        // rows; the one block of "rare".
        assert!(decoded <= 6, "decoded {decoded} blocks");
        // With a filter that passes one row in 1,000, still exact.
        let keep = |row: i64| row % 1000 == 7;
        let (got, _, _) = search(&rows, &terms, 128, 5, keep);
        assert_eq!(got, naive_top_k(&rows, &terms, 5, keep));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn a_block_that_holds_other_rows_than_its_key_says_is_corrupt() {
        let p = [Posting { row: 3, tf: 1, len: 1 }, Posting { row: 9, tf: 1, len: 1 }];
        let lists = vec![Some(TermPostings {
            df: 2,
            blocks: vec![Block { first: 3, last: 8, impacts: impacts(&p), postings: encode_postings(&p) }],
        })];
        let err = top_k(&Bm25::new(10, 10), &lists, 5, |_| Ok(true)).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    }
}
