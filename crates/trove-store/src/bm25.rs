//! The embedded backend's keyword index: text analysis (the one analyzer for indexed text and
//! queries) and an in-memory BM25 index of one vault's chunks or memories, derived from SQLite
//! and tagged with the vault generation it reflects, like [`crate::vector::FlatIndex`]. It is
//! never the system of record: a stale index is patched or rebuilt from the stored texts.
//! Each row carries a payload that searches filter on (a chunk's document; a memory's scope,
//! see `embedded::memory::MemoryScope`), checked only for rows good enough to enter the top k.
//!
//! Analysis: words are maximal runs of alphanumeric characters, lower-cased, with diacritics
//! removed (NFD, combining marks dropped), then stemmed with the Snowball English (Porter2)
//! stemmer. Queries drop Lucene's English stopwords unless nothing else is left; indexed text
//! keeps every word, so a query made only of stopwords still finds what contains them.
//!
//! Ranking is Okapi BM25 (k1 = 1.2, b = 0.75, Lucene's always-positive idf) over the vault's
//! own statistics, scored term-at-a-time into a reusable per-thread accumulator: a query costs
//! a few nanoseconds per posting of its terms. Deleted chunks are tombstoned and the postings
//! compacted once tombstones outnumber live rows.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use rustc_hash::FxHashMap as HashMap;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::{DocumentId, Scored};

/// Lucene's classic English stopword set (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`). Their
/// postings cover most chunks, so scoring them visits nearly every row for a negligible
/// change in ranking.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
];

/// The most distinct terms a query keeps.
pub(crate) const MAX_QUERY_TERMS: usize = 64;

/// Words longer than this many bytes are not indexed (base64, hashes, minified code).
const MAX_WORD_BYTES: usize = 64;

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// The analyzer: splits, folds and stems text into index terms.
pub struct Analyzer {
    stemmer: Stemmer,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer(english)")
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer { stemmer: Stemmer::create(Algorithm::English) }
    }
}

impl Analyzer {
    /// Calls `f` with each folded (lower-cased, diacritics removed) word of `text`, before
    /// stemming, in order.
    fn each_word(text: &str, mut f: impl FnMut(&str)) {
        let mut word = String::new();
        let mut flush = |word: &mut String| {
            if !word.is_empty() && word.len() <= MAX_WORD_BYTES {
                f(word);
            }
            word.clear();
        };
        for c in text.chars() {
            if !c.is_alphanumeric() {
                flush(&mut word);
            } else if c.is_ascii() {
                word.push(c.to_ascii_lowercase());
            } else {
                for d in c.nfd().filter(|d| !is_combining_mark(*d)) {
                    word.extend(d.to_lowercase());
                }
            }
        }
        flush(&mut word);
    }

    /// The term of a folded word.
    fn stem<'a>(&self, word: &'a str) -> std::borrow::Cow<'a, str> {
        self.stemmer.stem(word)
    }

    /// Every term of `text`, in order, repeats included.
    pub fn terms(&self, text: &str, mut f: impl FnMut(&str)) {
        Self::each_word(text, |w| f(&self.stem(w)));
    }

    /// The distinct folded words of a query, in order of first appearance, at most
    /// `MAX_QUERY_TERMS`; stopwords dropped unless the query has nothing else. Unstemmed.
    fn query_words(query: &str) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        Self::each_word(query, |w| {
            if words.len() < MAX_QUERY_TERMS * 2 && !words.iter().any(|x| x == w) {
                words.push(w.to_string());
            }
        });
        if words.iter().any(|w| !STOPWORDS.contains(&w.as_str())) {
            words.retain(|w| !STOPWORDS.contains(&w.as_str()));
        }
        words.truncate(MAX_QUERY_TERMS);
        words
    }

    /// The distinct terms of a query, in order of first appearance, at most
    /// `MAX_QUERY_TERMS`; stopwords dropped unless the query has nothing else.
    pub fn query_terms(&self, query: &str) -> Vec<String> {
        let mut terms: Vec<String> = Vec::new();
        for w in &Self::query_words(query) {
            let t = self.stem(w);
            if !terms.iter().any(|x| *x == t) {
                terms.push(t.into_owned());
            }
            if terms.len() == MAX_QUERY_TERMS {
                break;
            }
        }
        terms
    }
}

/// One row's occurrences of one term.
#[derive(Debug, Clone, Copy)]
struct Posting {
    row: u32,
    tf: u32,
}

#[derive(Debug)]
struct Row<T> {
    /// The chunk or memory row id.
    id: i64,
    /// What searches filter on: a chunk's document, a memory's scope.
    payload: T,
    /// Terms in the row, repeats included.
    len: u32,
    /// Distinct terms and their frequencies; empty once the row is deleted.
    terms: Box<[(u32, u32)]>,
    live: bool,
}

/// A vault's chunks (or memories) as postings lists, for BM25; `T` is each row's payload.
#[derive(Debug)]
pub(crate) struct KeywordIndex<T = DocumentId> {
    /// The vault generation this index reflects.
    pub generation: i64,
    dictionary: HashMap<Box<str>, u32>,
    /// The term id of every folded word seen, so indexing stems each distinct word once.
    forms: HashMap<Box<str>, u32>,
    postings: Vec<Vec<Posting>>,
    /// Live rows containing each term.
    df: Vec<u32>,
    rows: Vec<Row<T>>,
    row_of: HashMap<i64, u32>,
    live_rows: u32,
    live_terms: u64,
    dead_rows: u32,
}

thread_local! {
    /// Per-row score accumulator and the rows it touched, reused across queries.
    static SCRATCH: RefCell<(Vec<f32>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A candidate in the top-k heap: the worst on top (lowest score, then highest id).
#[derive(PartialEq)]
struct Worst(Scored);

impl Eq for Worst {}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.score.total_cmp(&self.0.score).then(self.0.id.cmp(&other.0.id))
    }
}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> KeywordIndex<T> {
    pub fn new(generation: i64) -> KeywordIndex<T> {
        KeywordIndex {
            generation,
            dictionary: HashMap::default(),
            forms: HashMap::default(),
            postings: Vec::new(),
            df: Vec::new(),
            rows: Vec::new(),
            row_of: HashMap::default(),
            live_rows: 0,
            live_terms: 0,
            dead_rows: 0,
        }
    }

    /// Live rows in the index.
    pub fn len(&self) -> usize {
        self.live_rows as usize
    }

    /// Indexes a row (a chunk or a memory) from its parts of text (e.g. headings and body),
    /// replacing any earlier version of the same id.
    pub fn push(&mut self, analyzer: &Analyzer, id: i64, payload: T, parts: &[&str]) {
        self.remove(&[id]);
        let mut ids: Vec<u32> = Vec::new();
        for part in parts {
            Analyzer::each_word(part, |word| {
                let id = match self.forms.get(word) {
                    Some(&id) => id,
                    None => {
                        let id = self.term_id(&analyzer.stem(word));
                        self.forms.insert(word.into(), id);
                        id
                    }
                };
                ids.push(id);
            });
        }
        let len = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        ids.sort_unstable();
        let mut terms: Vec<(u32, u32)> = Vec::new();
        for id in ids {
            match terms.last_mut() {
                Some((last, tf)) if *last == id => *tf += 1,
                _ => terms.push((id, 1)),
            }
        }
        let row = self.rows.len() as u32;
        for &(term, tf) in &terms {
            self.postings[term as usize].push(Posting { row, tf });
            self.df[term as usize] += 1;
        }
        self.rows.push(Row { id, payload, len, terms: terms.into_boxed_slice(), live: true });
        self.row_of.insert(id, row);
        self.live_rows += 1;
        self.live_terms += u64::from(len);
    }

    /// The id of `term`, added to the dictionary when new.
    fn term_id(&mut self, term: &str) -> u32 {
        if let Some(&id) = self.dictionary.get(term) {
            return id;
        }
        let id = self.postings.len() as u32;
        self.dictionary.insert(term.into(), id);
        self.postings.push(Vec::new());
        self.df.push(0);
        id
    }

    /// Removes rows (unknown ids are ignored); compacts when tombstones outnumber live rows.
    pub fn remove(&mut self, ids: &[i64]) {
        for id in ids {
            let Some(row) = self.row_of.remove(id) else { continue };
            let row = &mut self.rows[row as usize];
            for &(term, _) in row.terms.iter() {
                self.df[term as usize] -= 1;
            }
            row.terms = Box::new([]);
            row.live = false;
            self.live_rows -= 1;
            self.live_terms -= u64::from(row.len);
            self.dead_rows += 1;
        }
        if self.dead_rows > 1024 && self.dead_rows > self.live_rows {
            self.compact();
        }
    }

    /// Drops tombstones: renumbers live rows and rebuilds the postings from them.
    fn compact(&mut self) {
        let rows = std::mem::take(&mut self.rows);
        for list in &mut self.postings {
            list.clear();
        }
        self.row_of.clear();
        for row in rows.into_iter().filter(|r| r.live) {
            let n = self.rows.len() as u32;
            for &(term, tf) in row.terms.iter() {
                self.postings[term as usize].push(Posting { row: n, tf });
            }
            self.row_of.insert(row.id, n);
            self.rows.push(row);
        }
        self.dead_rows = 0;
    }

    /// The best `limit` rows for the query `terms` (see [`Analyzer::query_terms`]) whose
    /// payload passes `keep`, best first, ties by row id. Every row sharing a term with the
    /// query is scored; `keep` is asked only about rows that would enter the current top
    /// `limit`, so a filter costs little when most rows pass and stays exact when few do.
    pub fn search_by(&self, terms: &[String], limit: usize, mut keep: impl FnMut(&T) -> bool) -> Vec<Scored> {
        if limit == 0 || self.live_rows == 0 {
            return Vec::new();
        }
        let n = self.live_rows as f32;
        let avgdl = (self.live_terms as f32 / n).max(1.0);
        SCRATCH.with(|scratch| {
            let (scores, touched) = &mut *scratch.borrow_mut();
            if scores.len() < self.rows.len() {
                scores.resize(self.rows.len(), 0.0);
            }
            for term in terms {
                let Some(&id) = self.dictionary.get(term.as_str()) else { continue };
                let df = self.df[id as usize] as f32;
                if df == 0.0 {
                    continue;
                }
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                for p in &self.postings[id as usize] {
                    let row = &self.rows[p.row as usize];
                    if !row.live {
                        continue;
                    }
                    let tf = p.tf as f32;
                    let norm = K1 * (1.0 - B + B * row.len as f32 / avgdl);
                    let slot = &mut scores[p.row as usize];
                    if *slot == 0.0 {
                        touched.push(p.row);
                    }
                    *slot += idf * tf * (K1 + 1.0) / (tf + norm);
                }
            }
            let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(limit.min(touched.len()) + 1);
            for &r in touched.iter() {
                // Every touched slot is reset, kept or not, for the next query.
                let score = std::mem::take(&mut scores[r as usize]);
                let row = &self.rows[r as usize];
                let candidate = Worst(Scored { id: row.id, score });
                let full = heap.len() == limit;
                if full && heap.peek().is_some_and(|worst| candidate >= *worst) {
                    continue;
                }
                if !keep(&row.payload) {
                    continue;
                }
                if full {
                    heap.pop();
                }
                heap.push(candidate);
            }
            touched.clear();
            let mut out: Vec<Scored> = heap.into_iter().map(|w| w.0).collect();
            out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
            out
        })
    }
}

impl KeywordIndex<DocumentId> {
    /// The best `limit` chunks for the query `terms`, best first, ties by chunk id; only
    /// chunks of `allowed` documents when given.
    pub fn search(&self, terms: &[String], limit: usize, allowed: Option<&HashSet<DocumentId>>) -> Vec<Scored> {
        self.search_by(terms, limit, |doc| allowed.is_none_or(|a| a.contains(doc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(docs: &[(i64, &str)]) -> (Analyzer, KeywordIndex) {
        let a = Analyzer::default();
        let mut ix = KeywordIndex::new(1);
        for (id, text) in docs {
            ix.push(&a, *id, *id * 10, &[text]);
        }
        (a, ix)
    }

    fn ids(hits: &[Scored]) -> Vec<i64> {
        hits.iter().map(|h| h.id).collect()
    }

    #[test]
    fn analysis_folds_case_and_diacritics_and_stems() {
        let a = Analyzer::default();
        let mut got = Vec::new();
        a.terms("Running RUNS, Café naïve x-ray", |t| got.push(t.to_string()));
        assert_eq!(got, ["run", "run", "cafe", "naiv", "x", "ray"]);
    }

    #[test]
    fn query_terms_drop_stopwords_unless_nothing_else_is_left() {
        let a = Analyzer::default();
        assert_eq!(a.query_terms("the effect of Vitamin D on bones"), ["effect", "vitamin", "d", "bone"]);
        assert_eq!(a.query_terms("The Who"), ["who"]);
        assert_eq!(a.query_terms("to be or not to be"), ["to", "be", "or", "not"]);
        assert!(a.query_terms("  !!! ").is_empty());
        let long: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        assert_eq!(a.query_terms(&long.join(" ")).len(), MAX_QUERY_TERMS);
    }

    #[test]
    fn rarer_terms_and_shorter_rows_rank_higher() {
        let (a, ix) = index(&[
            (1, "common words about cats"),
            (2, "common words about dogs and more common words about dogs and other animals"),
            (3, "common words about dogs"),
            (4, "common words"),
        ]);
        // "cats" is rarer than "dogs"; row 3 is shorter than row 2.
        assert_eq!(ids(&ix.search(&a.query_terms("cat dog"), 10, None)), [1, 3, 2]);
        assert_eq!(ids(&ix.search(&a.query_terms("dogs"), 1, None)), [3]);
        assert!(ix.search(&a.query_terms("zebra"), 10, None).is_empty());
    }

    #[test]
    fn equal_scores_order_by_chunk_id() {
        let (a, ix) = index(&[(5, "alpha"), (2, "alpha"), (9, "alpha")]);
        assert_eq!(ids(&ix.search(&a.query_terms("alpha"), 2, None)), [2, 5]);
    }

    #[test]
    fn filters_by_allowed_documents() {
        let (a, ix) = index(&[(1, "alpha"), (2, "alpha beta"), (3, "alpha")]);
        let allowed: HashSet<DocumentId> = [20, 30].into();
        assert_eq!(ids(&ix.search(&a.query_terms("alpha"), 10, Some(&allowed))), [3, 2]);
    }

    #[test]
    fn search_by_keeps_the_best_passing_rows_like_filtering_everything() {
        // Payload: whether the row passes. Rows that pass are rare and rank low, so a filter
        // applied only to a first window of candidates would miss them.
        let a = Analyzer::default();
        let mut ix: KeywordIndex<bool> = KeywordIndex::new(1);
        for i in 0..500i64 {
            let text = if i % 97 == 0 { "needle in a long haystack of many other words" } else { "needle needle" };
            ix.push(&a, i, i % 97 == 0 || i % 5 == 0, &[text, &format!("w{}", i % 11)]);
        }
        let mut asked = 0;
        for q in ["needle", "needle w3", "haystack w7 w8"] {
            let terms = a.query_terms(q);
            for limit in [1, 3, 10, 200] {
                let everything = ix.search_by(&terms, 1000, |_| true);
                let want: Vec<Scored> =
                    everything.into_iter().filter(|h| h.id % 97 == 0 || h.id % 5 == 0).take(limit).collect();
                let got = ix.search_by(&terms, limit, |&pass| {
                    asked += 1;
                    pass
                });
                assert_eq!(got, want, "{q} limit {limit}");
            }
        }
        assert!(asked > 0);
        // Only rows that would enter the top k are checked: with every row passing, a query
        // matching all 500 asks about far fewer.
        let mut asked = 0;
        ix.search_by(&a.query_terms("needle"), 3, |_| {
            asked += 1;
            true
        });
        assert!(asked < 100, "asked about {asked} rows");
    }

    #[test]
    fn removal_and_compaction_match_a_fresh_build() {
        let a = Analyzer::default();
        let mut patched = KeywordIndex::new(1);
        let mut fresh = KeywordIndex::new(1);
        for i in 0..3000i64 {
            let text = format!("word{} shared text number {}", i % 7, i % 13);
            patched.push(&a, i, i, &[&text]);
            if i % 3 == 0 {
                fresh.push(&a, i, i, &[&text]);
            }
        }
        let gone: Vec<i64> = (0..3000).filter(|i| i % 3 != 0).collect();
        patched.remove(&gone);
        assert_eq!(patched.dead_rows, 0, "compacted");
        assert_eq!(patched.len(), fresh.len());
        for q in ["word3 shared", "number 5", "text"] {
            let terms = a.query_terms(q);
            assert_eq!(patched.search(&terms, 20, None), fresh.search(&terms, 20, None), "{q}");
        }
        // Re-pushing an id replaces it.
        patched.push(&a, 0, 0, &["zebra"]);
        assert_eq!(ids(&patched.search(&a.query_terms("zebra"), 5, None)), [0]);
        assert!(!ids(&patched.search(&a.query_terms("word0"), 5000, None)).contains(&0));
    }
}
