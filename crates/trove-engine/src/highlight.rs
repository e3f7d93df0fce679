//! Snippets: the part of a chunk around the query's words, with matches wrapped in `**` so
//! every transport can render them (bold on a terminal, `<mark>` on a page).

/// Common English words not worth highlighting.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from", "has", "have", "how",
    "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "so", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when",
    "where", "which", "who", "why", "will", "with", "you", "your",
];

/// Words of the query worth highlighting (lowercase, 2+ characters, not stopwords).
fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in query.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 2) {
        let w = w.to_lowercase();
        if !STOPWORDS.contains(&w.as_str()) && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// A query term with its length in characters.
struct Term {
    text: String,
    chars: usize,
}

fn char_count(s: &str) -> usize {
    if s.is_ascii() { s.len() } else { s.chars().count() }
}

/// Whether a word of the text matches a query term: equal, or sharing a stem-like prefix
/// (`index` matches `indexing`, `indexes`).
fn matches(word: &str, terms: &[Term]) -> bool {
    let lower;
    let w = if word.bytes().any(|b| b.is_ascii_uppercase()) || !word.is_ascii() {
        lower = word.to_lowercase();
        lower.as_str()
    } else {
        word
    };
    let w_chars = char_count(w);
    terms.iter().any(|t| {
        if w == t.text {
            return true;
        }
        let shorter = w_chars.min(t.chars);
        if shorter < 4 {
            return false;
        }
        let common = w.chars().zip(t.text.chars()).take_while(|(a, b)| a == b).count();
        common >= shorter.saturating_sub(2).max(4)
    })
}

/// About `width` characters of `text` around the densest run of matches, with `**` around
/// each matched word and `…` where text was cut.
pub fn snippet(text: &str, query: &str, width: usize) -> String {
    let terms: Vec<Term> = terms(query).into_iter().map(|t| Term { chars: char_count(&t), text: t }).collect();
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
