//! The scale benchmark's corpus: real text cut into chunk-sized pieces, and as many chunks as a
//! run asks for, written as Markdown files that Trove chunks one section to one chunk.
//!
//! The pieces are the paragraphs of Python's HTML documentation (the `python3.11-doc` package,
//! each `<p>` of a page's main body under its nearest heading) and SciFact's abstracts (under
//! their titles), cut at sentence boundaries to at most [`MAX_PIECE`] bytes. That is about
//! 60,000 pieces; larger corpora repeat them with variation: chunk `k` is piece `k mod M` in
//! round `k / M`. Round 0 is the piece as written; in a later round the chunk keeps the
//! piece's heading and first sentence and is filled up to the piece's length with sentences
//! drawn pseudo-randomly (seeded by round and piece) from the whole corpus, so every chunk is
//! a distinct text of real sentences and the vocabulary keeps its natural frequencies.
//!
//! A file holds [`CHUNKS_PER_FILE`] chunks: a `# title` line, then one `## heading` section per
//! chunk. Trove starts a chunk at every heading and a section's text stays under its
//! `max_tokens` (200 estimated tokens of 3 bytes), so each section is exactly one chunk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use trove_ann::SplitMix64;
use trove_bench::{CorpusDoc, Query, read_jsonl};

/// Longest piece or chunk text in bytes (Trove's default `max_tokens: 200` at 3 bytes a token
/// is 600 bytes; headings are not part of the text).
pub const MAX_PIECE: usize = 480;
/// Shortest piece kept, in bytes.
const MIN_PIECE: usize = 60;
/// Chunks (sections) per Markdown file.
pub const CHUNKS_PER_FILE: usize = 25;
/// Files per folder under the corpus folder.
const FILES_PER_FOLDER: usize = 1000;

/// A paragraph-sized text and the heading it sits under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The nearest heading above it (a page section, or an abstract's title).
    pub heading: String,
    /// The text: one line, at most [`MAX_PIECE`] bytes.
    pub text: String,
}

/// Every piece of the source texts and the sentences later rounds draw from.
#[derive(Debug)]
pub struct Corpus {
    /// Python documentation pieces first, then SciFact's.
    pieces: Vec<Piece>,
    /// How many of `pieces` come from the Python documentation.
    pub python_pieces: usize,
    /// Every sentence of every piece, for the variation of later rounds.
    sentences: Vec<String>,
    /// Section headings of the Python documentation (unique, in reading order), for queries.
    headings: Vec<String>,
    /// SciFact's queries (claims), in file order.
    claims: Vec<String>,
}

impl Corpus {
    /// Reads the HTML pages under `python_docs` and SciFact's `corpus.jsonl` and
    /// `queries.jsonl` under `scifact`.
    pub fn load(python_docs: &Path, scifact: &Path) -> Result<Corpus> {
        let mut pages = Vec::new();
        html_files(python_docs, &mut pages)?;
        pages.sort();
        if pages.is_empty() {
            bail!(
                "no HTML pages under {}: pass --python-docs DIR (the unpacked python3.11-doc html folder)",
                python_docs.display()
            );
        }
        let mut pieces = Vec::new();
        let mut headings = Vec::new();
        let mut seen = HashSet::new();
        let mut seen_headings = HashSet::new();
        for page in &pages {
            let html = std::fs::read(page).with_context(|| format!("cannot read {}", page.display()))?;
            for block in html_blocks(&String::from_utf8_lossy(&html)) {
                match block {
                    HtmlBlock::Heading(level, text) => {
                        if level > 1 && text.len() >= 15 && seen_headings.insert(text.clone()) {
                            headings.push(text);
                        }
                    }
                    HtmlBlock::Paragraph(heading, text) => {
                        pieces.extend(split_piece(&heading, &text).into_iter().filter(|p| seen.insert(p.text.clone())));
                    }
                }
            }
        }
        let python_pieces = pieces.len();
        let docs: Vec<CorpusDoc> = read_jsonl(&scifact.join("corpus.jsonl"))?;
        for doc in &docs {
            let split = split_piece(&clean_heading(&doc.title), &collapse(&doc.text));
            pieces.extend(split.into_iter().filter(|p| seen.insert(p.text.clone())));
        }
        let claims = read_jsonl::<Query>(&scifact.join("queries.jsonl"))?.into_iter().map(|q| q.text).collect();
        let sentences = pieces.iter().flat_map(|p| sentences_of(&p.text)).map(str::to_string).collect();
        Ok(Corpus { pieces, python_pieces, sentences, headings, claims })
    }

    /// How many distinct pieces there are (chunks of round 0).
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }

    /// The heading and text of chunk `k`.
    pub fn chunk(&self, k: usize) -> Piece {
        let m = self.pieces.len();
        let (round, i) = (k / m, k % m);
        let piece = &self.pieces[i];
        if round == 0 {
            return piece.clone();
        }
        // The first sentence (its first half when long), so that a sentence always fits after it.
        let first = sentences_of(&piece.text).next().unwrap_or(&piece.text);
        let mut text = cut_words(first, MAX_PIECE / 2).first().copied().unwrap_or(first).to_string();
        let start = text.len();
        let mut rng = SplitMix64(((round as u64) << 32) ^ i as u64);
        let target = piece.text.len().max(120);
        let mut misses = 0;
        while (text.len() < target || text.len() == start) && misses < 64 {
            let s = &self.sentences[(rng.next_u64() % self.sentences.len() as u64) as usize];
            if text.len() + 1 + s.len() > MAX_PIECE {
                misses += 1;
                continue;
            }
            text.push(' ');
            text.push_str(s);
        }
        Piece { heading: piece.heading.clone(), text }
    }

    /// `n` queries: the first half SciFact claims, the rest Python documentation section
    /// headings spread evenly over the documentation.
    pub fn queries(&self, n: usize) -> Vec<String> {
        let claims = (n / 2).min(self.claims.len());
        let rest = (n - claims).min(self.headings.len());
        let mut out: Vec<String> = self.claims[..claims].to_vec();
        let step = self.headings.len() / rest.max(1);
        out.extend(self.headings.iter().step_by(step.max(1)).take(rest).cloned());
        out
    }

    /// Writes chunks `from..to` into Markdown files under `dir` ([`CHUNKS_PER_FILE`] a file,
    /// named after their first chunk); returns how many files.
    pub fn write_files(&self, dir: &Path, from: usize, to: usize) -> Result<usize> {
        let mut files = 0;
        let mut start = from;
        while start < to {
            let end = (start + CHUNKS_PER_FILE).min(to);
            let number = start / CHUNKS_PER_FILE;
            let folder = dir.join(format!("{:04}", number / FILES_PER_FOLDER));
            if number.is_multiple_of(FILES_PER_FOLDER) || start == from {
                std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
            }
            let first = self.chunk(start);
            let mut md = format!("# {}\n", first.heading);
            for k in start..end {
                let c = if k == start { first.clone() } else { self.chunk(k) };
                md.push_str(&format!("\n## {}\n\n{}\n", c.heading, markdown_text(&c.text)));
            }
            let path = folder.join(format!("c{start:08}.md"));
            std::fs::write(&path, md).with_context(|| format!("cannot write {}", path.display()))?;
            files += 1;
            start = end;
        }
        Ok(files)
    }
}

/// Every `.html` file under `dir`, skipping Sphinx's generated indexes and asset folders.
fn html_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if !name.starts_with('_') {
                html_files(&path, out)?;
            }
        } else if name.ends_with(".html")
            && !name.starts_with("genindex")
            && !matches!(name, "py-modindex.html" | "search.html" | "contents.html")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// What the page's main body holds, in reading order.
#[derive(Debug, PartialEq, Eq)]
enum HtmlBlock {
    /// A heading: its level and text.
    Heading(u8, String),
    /// A paragraph: the nearest heading above it and its text.
    Paragraph(String, String),
}

/// The headings and paragraphs of a Sphinx page's main body (`role="main"` up to the
/// sidebar), as plain text with entities decoded and whitespace collapsed.
fn html_blocks(html: &str) -> Vec<HtmlBlock> {
    let body = match html.find("role=\"main\"") {
        Some(at) => &html[at..],
        None => html,
    };
    let body = body.find("class=\"sphinxsidebar\"").map_or(body, |end| &body[..end]);
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        let tag: String =
            rest[1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        let level = match tag.as_str() {
            "h1" => Some(1),
            "h2" => Some(2),
            "h3" => Some(3),
            "h4" => Some(4),
            "p" => Some(0),
            _ => None,
        };
        let (Some(level), Some(start)) = (level, rest.find('>')) else {
            rest = &rest[1..];
            continue;
        };
        let close = format!("</{tag}>");
        let Some(end) = rest.find(&close) else { break };
        if end < start {
            rest = &rest[1..];
            continue;
        }
        let text = collapse(&decode_entities(&strip_tags(&rest[start + 1..end])));
        rest = &rest[end + close.len()..];
        if level == 0 {
            // A paragraph above the page's first heading has no section to sit under.
            if !text.is_empty() && !heading.is_empty() {
                out.push(HtmlBlock::Paragraph(heading.clone(), text));
            }
        } else {
            heading = clean_heading(&text);
            out.push(HtmlBlock::Heading(level, heading.clone()));
        }
    }
    out
}

/// `html` without its tags.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Decodes the character references Sphinx writes (`&amp;`, `&#8217;`, `&#x27;`...).
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.as_bytes()[..rest.len().min(12)].iter().position(|&b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whitespace runs become one space; the ends are trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A heading as one Markdown-safe line: no permalink sign, no `#`.
fn clean_heading(text: &str) -> String {
    let cleaned: String = text.chars().filter(|c| !matches!(c, '¶' | '#' | '\n' | '\r')).collect();
    let cleaned = collapse(&cleaned);
    if cleaned.is_empty() { "Untitled".to_string() } else { cleaned }
}

/// The sentences of `text`: cut after `.`, `?` or `!` followed by a space.
fn sentences_of(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let at = i;
            i += 1;
            if matches!(bytes[at], b'.' | b'?' | b'!') && bytes.get(at + 1) == Some(&b' ') {
                let s = &text[start..=at];
                start = at + 2;
                i = start;
                return Some(s);
            }
        }
        if start < bytes.len() {
            let s = &text[start..];
            start = bytes.len();
            return Some(s);
        }
        None
    })
    .map(str::trim)
    .filter(|s| !s.is_empty())
}

/// `text` under `heading` as pieces of at most [`MAX_PIECE`] bytes (whole sentences packed
/// greedily; a longer sentence cut between words); pieces under [`MIN_PIECE`] bytes or that
/// Markdown would read as something else than a paragraph are dropped.
fn split_piece(heading: &str, text: &str) -> Vec<Piece> {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let push = |current: &mut String, parts: &mut Vec<String>| {
        if !current.is_empty() {
            parts.push(std::mem::take(current));
        }
    };
    for sentence in sentences_of(text) {
        for part in cut_words(sentence, MAX_PIECE) {
            if !current.is_empty() && current.len() + 1 + part.len() > MAX_PIECE {
                push(&mut current, &mut parts);
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(part);
        }
    }
    push(&mut current, &mut parts);
    parts
        .into_iter()
        .filter(|p| p.len() >= MIN_PIECE && starts_as_paragraph(p))
        .map(|text| Piece { heading: heading.to_string(), text })
        .collect()
}

/// `text` in parts of at most `max` bytes, cut at spaces (or at a character boundary inside a
/// word longer than `max`).
fn cut_words(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let at = rest[..cut].rfind(' ').filter(|&a| a > 0).unwrap_or(cut);
        out.push(rest[..at].trim_end());
        rest = rest[at..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Whether a line starting like `text` is a paragraph in Markdown (not a heading, list, quote,
/// table, code fence or HTML block).
fn starts_as_paragraph(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else { return false };
    if first.is_ascii_digit() {
        let after: String = text.chars().skip_while(char::is_ascii_digit).take(2).collect();
        return !(after.starts_with(". ") || after.starts_with(") "));
    }
    first.is_alphanumeric() || matches!(first, '"' | '\'' | '(' | '“' | '‘')
}

/// `text` as Markdown paragraph text: `<`, `*`, `_`, `` ` ``, `[` and `\` escaped, so the
/// converter keeps every character.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '<' | '*' | '_' | '`' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_a_sphinx_page_follow_its_main_body() {
        let html = "<div class=\"sphinxsidebar\"><h3>Navigation</h3></div>\
            <div class=\"body\" role=\"main\"><p>Above every heading.</p><h1>os &#8212; Misc<a class=\"headerlink\">¶</a></h1>\
            <p>This module provides a <code>portable</code>\n way &amp; more.</p>\
            <h2>Files</h2><p>Second.</p></div><div class=\"sphinxsidebar\"><h3>This Page</h3><p>Show</p></div>";
        assert_eq!(
            html_blocks(html),
            vec![
                HtmlBlock::Heading(1, "os — Misc".into()),
                HtmlBlock::Paragraph("os — Misc".into(), "This module provides a portable way & more.".into()),
                HtmlBlock::Heading(2, "Files".into()),
                HtmlBlock::Paragraph("Files".into(), "Second.".into()),
            ]
        );
    }

    #[test]
    fn entities_decode_and_stray_ampersands_stay() {
        assert_eq!(
            decode_entities("a &lt;b&gt; &#x27;c&#39; &#8217; & d &bogus; e"),
            "a <b> 'c' \u{2019} & d &bogus; e"
        );
        assert_eq!(decode_entities("&#46;org). ‘docs&#64;’"), ".org). ‘docs@’");
    }

    #[test]
    fn sentences_split_after_terminal_punctuation() {
        let s: Vec<&str> = sentences_of("One. Two? Three! e.g. four 3.5 five").collect();
        assert_eq!(s, vec!["One.", "Two?", "Three!", "e.g.", "four 3.5 five"]);
    }

    #[test]
    fn pieces_stay_within_bounds_and_read_as_paragraphs() {
        let long = "word ".repeat(300);
        let text = format!("Short one. {long} Tail sentence that is long enough to be kept as a piece of text.");
        let pieces = split_piece("H", &text);
        assert!(pieces.len() >= 3, "{pieces:?}");
        assert!(pieces.iter().all(|p| p.text.len() <= MAX_PIECE && p.text.len() >= MIN_PIECE));
        assert!(split_piece("H", "- a list item that is long enough to pass the minimum length of a piece").is_empty());
        assert!(split_piece("H", "1. a numbered item that is long enough to pass the minimum length here").is_empty());
        assert_eq!(
            split_piece("H", "1994 was a year that is long enough to pass the minimum length of a piece").len(),
            1
        );
    }

    #[test]
    fn markdown_text_escapes_what_the_converter_would_eat() {
        assert_eq!(markdown_text("a <b> *c* `d` [e] f_g \\"), "a \\<b> \\*c\\* \\`d\\` \\[e\\] f\\_g \\\\");
    }

    fn tiny() -> Corpus {
        let pieces: Vec<Piece> = (0..4)
            .map(|i| Piece { heading: format!("H{i}"), text: format!("First sentence {i}. Second sentence {i} here.") })
            .collect();
        let sentences = pieces.iter().flat_map(|p| sentences_of(&p.text)).map(str::to_string).collect();
        Corpus { pieces, python_pieces: 4, sentences, headings: vec![], claims: vec![] }
    }

    #[test]
    fn later_rounds_vary_the_pieces_deterministically() {
        let c = tiny();
        assert_eq!(c.chunk(1), c.pieces[1]);
        let varied = c.chunk(5);
        assert_eq!(varied.heading, "H1");
        assert!(varied.text.starts_with("First sentence 1."), "{varied:?}");
        assert_ne!(varied.text, c.pieces[1].text);
        assert!(varied.text.len() <= MAX_PIECE);
        assert_eq!(varied, c.chunk(5));
        assert_ne!(c.chunk(5).text, c.chunk(9).text);
    }

    #[test]
    fn a_later_round_adds_a_sentence_even_to_a_long_one_sentence_piece() {
        let mut c = tiny();
        c.pieces[0].text = format!("{} end.", "long ".repeat(90));
        let varied = c.chunk(4);
        assert_ne!(varied.text, c.pieces[0].text);
        assert!(varied.text.len() <= MAX_PIECE, "{}", varied.text.len());
        assert!(varied.text.contains("sentence"), "{varied:?}");
    }

    #[test]
    fn files_hold_one_section_per_chunk() {
        let c = tiny();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(c.write_files(dir.path(), 0, 30).unwrap(), 2);
        let first = std::fs::read_to_string(dir.path().join("0000/c00000000.md")).unwrap();
        assert!(first.starts_with("# H0\n\n## H0\n\nFirst sentence 0."), "{first}");
        assert_eq!(first.matches("\n## ").count(), CHUNKS_PER_FILE);
        let second = std::fs::read_to_string(dir.path().join("0000/c00000025.md")).unwrap();
        assert_eq!(second.matches("\n## ").count(), 5);
    }
}
