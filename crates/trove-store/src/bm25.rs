//! BM25 as every keyword search of the embedded store computes it: text analysis (the one
//! analyzer for indexed text and queries, which `trove-store-postgres` uses too) and the
//! scoring formula ([`Bm25`]), shared by the persisted index (`embedded::keywords`) and the
//! naive twin its tests compare it with, so that both give the same scores to the bit.
//!
//! Analysis: words are maximal runs of alphanumeric characters, lower-cased, with diacritics
//! removed (NFD, combining marks dropped), then stemmed with the Snowball English (Porter2)
//! stemmer. Queries drop English stopwords unless nothing else is left; indexed text
//! keeps every word, so a query made only of stopwords still finds what contains them.
//!
//! Ranking is Okapi BM25 (k1 = 1.2, b = 0.75, Lucene's always-positive idf) over the vault's
//! own statistics, in f32, a row's contributions summed in query-term order; ties go to the
//! lower row id.

use std::cmp::Ordering;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::Scored;

/// The English stopwords: Snowball's English stop list (its one-word entries; it holds all of
/// Lucene's classic set, `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`), plus `can` and `will`.
/// Queries drop them (their postings cover most chunks, so scoring them visits nearly every
/// row for a negligible change in ranking) and snippets never mark them
/// ([`Analyzer::is_stopword`]).
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
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
    pub(crate) fn each_word(text: &str, mut f: impl FnMut(&str)) {
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
    pub(crate) fn stem<'a>(&self, word: &'a str) -> std::borrow::Cow<'a, str> {
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

    /// Whether a word (folded: lower case, no diacritics) is a stopword.
    pub fn is_stopword(word: &str) -> bool {
        STOPWORDS.contains(&word)
    }

    /// One word of text folded, and its term (folded and stemmed); `None` when it is not a
    /// single indexable word (empty, punctuation, over the length limit).
    pub fn word_term(&self, word: &str) -> Option<(String, String)> {
        let mut words = Vec::with_capacity(1);
        Self::each_word(word, |w| words.push(w.to_string()));
        let [folded] = <[String; 1]>::try_from(words).ok()?;
        let term = self.stem(&folded).into_owned();
        Some((folded, term))
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

/// Okapi BM25 over one vault's statistics: the formula every keyword search of the embedded
/// store scores with, so that a persisted index and its naive twin in tests give bit-identical
/// scores.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bm25 {
    /// Rows in the vault (chunks, or memories), as the scores see them.
    n: f32,
    /// Average row length in terms, at least 1.
    avgdl: f32,
}

impl Bm25 {
    /// The statistics of `rows` rows holding `terms` terms in all (repeats included).
    pub fn new(rows: u64, terms: u64) -> Bm25 {
        let n = rows as f32;
        Bm25 { n, avgdl: (terms as f32 / n).max(1.0) }
    }

    /// Lucene's always-positive idf of a term in `df` rows.
    pub fn idf(&self, df: u64) -> f32 {
        let df = df as f32;
        (1.0 + (self.n - df + 0.5) / (df + 0.5)).ln()
    }

    /// What a term of inverse document frequency `idf` occurring `tf` times in a row of `len`
    /// terms adds to the row's score. Non-decreasing in `tf` and non-increasing in `len` also
    /// in floating point (every operation rounds monotonically), so the value at a block's
    /// best `(tf, len)` pairs bounds the block.
    pub fn score(&self, idf: f32, tf: u32, len: u32) -> f32 {
        let tf = tf as f32;
        let norm = K1 * (1.0 - B + B * len as f32 / self.avgdl);
        idf * tf * (K1 + 1.0) / (tf + norm)
    }
}

/// A candidate in a top-k heap: the worst on top (lowest score, then highest id).
#[derive(Debug, PartialEq)]
pub(crate) struct Worst(pub Scored);

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

/// Hits best first, ties by id.
pub(crate) fn best_first(mut hits: Vec<Scored>) -> Vec<Scored> {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    hits
}

/// A row as the naive twin takes it: its id, its terms with their frequencies, its length.
#[cfg(test)]
pub(crate) type NaiveRow = (i64, Vec<(String, u32)>, u32);

/// The naive twin of the persisted index's search, for tests: every row's score summed term
/// by term in query order, then the best `limit` that `keep` passes.
#[cfg(test)]
pub(crate) fn naive_top_k(
    rows: &[NaiveRow],
    terms: &[String],
    limit: usize,
    keep: impl Fn(i64) -> bool,
) -> Vec<Scored> {
    let total: u64 = rows.iter().map(|r| u64::from(r.2)).sum();
    if rows.is_empty() {
        return Vec::new();
    }
    let bm25 = Bm25::new(rows.len() as u64, total);
    let idfs: Vec<Option<f32>> = terms
        .iter()
        .map(|t| {
            let df = rows.iter().filter(|r| r.1.iter().any(|(x, _)| x == t)).count() as u64;
            (df > 0).then(|| bm25.idf(df))
        })
        .collect();
    let mut hits = Vec::new();
    for (id, row_terms, len) in rows {
        let mut score = 0f32;
        let mut matched = false;
        for (term, idf) in terms.iter().zip(&idfs) {
            if let (Some(idf), Some((_, tf))) = (idf, row_terms.iter().find(|(x, _)| x == term)) {
                score += bm25.score(*idf, *tf, *len);
                matched = true;
            }
        }
        if matched && keep(*id) {
            hits.push(Scored { id: *id, score });
        }
    }
    let mut hits = best_first(hits);
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(a.query_terms("The Beatles"), ["beatl"]);
        assert_eq!(
            a.query_terms("what do I do when the database runs out of connections?"),
            ["databas", "run", "connect"]
        );
        assert_eq!(a.query_terms("to be or not to be"), ["to", "be", "or", "not"]);
        assert!(a.query_terms("  !!! ").is_empty());
        let long: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        assert_eq!(a.query_terms(&long.join(" ")).len(), MAX_QUERY_TERMS);
    }
}
