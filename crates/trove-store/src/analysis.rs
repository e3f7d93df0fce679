//! The text analysis every backend shares, so a query finds the same documents whichever
//! store answers it: [`Analyzer`] splits text into words, folds case and diacritics and stems
//! (English Snowball), drops stopwords from queries, and caps the terms a query keeps;
//! [`keyword_context`] is the text indexed beside a chunk (its title and headings).

pub use crate::bm25::Analyzer;

/// The text indexed beside a chunk: its document's title and headings, without repeats.
pub fn keyword_context(title: &str, heading_path: &[String]) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(heading_path.len() + 1);
    for part in std::iter::once(title).chain(heading_path.iter().map(String::as_str)) {
        if !part.is_empty() && !parts.contains(&part) {
            parts.push(part);
        }
    }
    parts.join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_context_drops_repeats() {
        assert_eq!(keyword_context("Guide", &["Guide".into(), "Install".into()]), "Guide / Install");
        assert_eq!(keyword_context("", &[]), "");
    }
}
