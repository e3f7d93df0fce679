//! Snippets: the part of a chunk around the query's words, with matches wrapped in `**` so
//! every transport can render them (bold on a terminal, `<mark>` on a page). A word is marked
//! when the keyword search's own analyzer ([`trove_store::analysis::Analyzer`]) matches it on a
//! meaningful term: its stem is one of the query's terms and it is not a stopword (the
//! analyzer's list). So `index` marks `indexes` and `Indexing`, while `database` does not mark
//! `data`, and the `what`, `do` and `out` of a question are never marked.

use std::sync::OnceLock;

use trove_store::analysis::Analyzer;

fn analyzer() -> &'static Analyzer {
    static ANALYZER: OnceLock<Analyzer> = OnceLock::new();
    ANALYZER.get_or_init(Analyzer::default)
}

/// Whether a word of the text is a match: a non-stopword whose term is one of `terms`.
fn matches(word: &str, terms: &[String]) -> bool {
    analyzer().word_term(word).is_some_and(|(folded, term)| !Analyzer::is_stopword(&folded) && terms.contains(&term))
}

/// About `width` characters of `text` around the densest run of matches, with `**` around
/// each matched word and `…` where text was cut.
pub fn snippet(text: &str, query: &str, width: usize) -> String {
    let terms = analyzer().query_terms(query);
    // Word spans (byte ranges) of the text.
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    let matched: Vec<bool> = words.iter().map(|(s, e)| matches(&text[*s..*e], &terms)).collect();
    let hits: Vec<usize> = (0..words.len()).filter(|&i| matched[i]).collect();
    // Choose the window start: the match with the most other matches within `width` after it.
    let window_start = hits
        .iter()
        .max_by_key(|&&i| {
            let from = words[i].0;
            let count = hits.iter().filter(|&&j| words[j].0 >= from && words[j].1 <= from + width).count();
            (count, std::cmp::Reverse(i))
        })
        .map(|&i| words[i].0.saturating_sub(width / 4))
        .unwrap_or(0);
    let from = floor_boundary(text, window_start);
    let from = if from == 0 { 0 } else { text[from..].find(char::is_whitespace).map(|o| from + o + 1).unwrap_or(from) };
    let to = floor_boundary(text, (from + width).min(text.len()));
    let to = if to >= text.len() {
        text.len()
    } else {
        text[..to].rfind(char::is_whitespace).filter(|&p| p > from).unwrap_or(to)
    };
    let mut out = String::with_capacity(to - from + 16);
    if from > 0 {
        out.push('…');
    }
    let mut cursor = from;
    for &i in hits.iter().filter(|&&i| words[i].0 >= from && words[i].1 <= to) {
        let (s, e) = words[i];
        out.push_str(&text[cursor..s]);
        out.push_str("**");
        out.push_str(&text[s..e]);
        out.push_str("**");
        cursor = e;
    }
    out.push_str(&text[cursor..to]);
    if to < text.len() {
        out.push('…');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_matches_and_variants() {
        let s = snippet("Trove indexes documents. Indexing is incremental.", "index documents", 200);
        assert_eq!(s, "Trove **indexes** **documents**. **Indexing** is incremental.");
    }

    #[test]
    fn a_question_marks_only_its_meaningful_words() {
        let text = "What to do when the database runs out of connections: raise the limit, or put a pool \
                    in front. Data about each connection is in the pool's log.";
        let s = snippet(text, "what do I do when the database runs out of connections?", 400);
        assert_eq!(
            s,
            "What to do when the **database** **runs** out of **connections**: raise the limit, or put a pool \
             in front. Data about each **connection** is in the pool's log."
        );
        // A question made only of stopwords marks nothing.
        assert!(!snippet(text, "what do I do when it is out?", 400).contains("**"));
    }

    #[test]
    fn windows_long_text_around_the_matches() {
        let text = format!("{} the needle is here {}", "hay ".repeat(200), "straw ".repeat(200));
        let s = snippet(&text, "needle", 60);
        assert!(s.contains("**needle**"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.chars().count() < 90, "{s}");
    }

    #[test]
    fn no_match_gives_the_beginning_and_unicode_is_safe() {
        let s = snippet("Ünïcödé — text without the word", "absent", 12);
        assert!(s.starts_with("Ünïcödé"), "{s}");
        let s = snippet("日本語のテキスト検索", "検索", 5);
        assert!(!s.is_empty());
        assert_eq!(snippet("", "x", 10), "");
    }
}
