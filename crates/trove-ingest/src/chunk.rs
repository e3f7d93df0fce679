//! The structure-aware, token-sized chunker. It walks a [`ParsedDocument`]'s blocks keeping the
//! heading path (a heading of level N replaces levels ≥ N), starts a new chunk at every
//! heading, and packs the section's blocks into chunks of at most `max_tokens`. A block is split
//! only when it alone is too large: at sentence boundaries (prose), line boundaries (code,
//! lists, tables), then words, and, for a single word longer than the limit, characters.
//! Consecutive chunks of one section overlap by up to `overlap_tokens` of whole sentences or
//! lines; chunks of different sections never do. Headings are never part of chunk text (they
//! are the chunk's `heading_path`); a section without body text yields no chunk.
//!
//! Token counts are taken once per block (and once per sentence of a block that must be split
//! or that supplies overlap), summed while packing, and checked once on each finished chunk's
//! text; a chunk that the check finds too large (a tokenizer whose counts are not additive) is
//! halved. The work is linear in the document's size.

use serde::{Deserialize, Serialize};

use crate::convert::{collapse_whitespace, trim_blank_lines};
use crate::document::{Block, BlockKind, ParsedDocument};

/// Counts tokens the way the embedding model will.
pub trait TokenCounter {
    /// The number of tokens in `text`.
    fn count_tokens(&self, text: &str) -> usize;
}

/// Any `Fn(&str) -> usize` is a token counter.
impl<F: Fn(&str) -> usize> TokenCounter for F {
    fn count_tokens(&self, text: &str) -> usize {
        self(text)
    }
}

/// Counts whitespace-separated words: a stand-in for a real tokenizer (tests, previews).
#[derive(Debug, Clone, Copy, Default)]
pub struct WhitespaceTokenCounter;

impl TokenCounter for WhitespaceTokenCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

/// How large chunks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkingOptions {
    /// Upper bound on a chunk's token count (0 is treated as 1).
    pub max_tokens: usize,
    /// Tokens of context repeated from the end of the previous chunk of the same section
    /// (capped at half of `max_tokens`).
    pub overlap_tokens: usize,
}

impl Default for ChunkingOptions {
    /// 256 tokens with 32 tokens of overlap.
    fn default() -> Self {
        ChunkingOptions { max_tokens: 256, overlap_tokens: 32 }
    }
}

/// One chunk of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position in the document, 0-based and consecutive.
    pub index: u32,
    /// The chunk's text (no heading lines).
    pub text: String,
    /// Headings enclosing the chunk's first block, outermost first.
    pub heading_path: Vec<String>,
    /// Tokens in `text` by the counter used.
    pub token_count: usize,
}

/// How a block's text is cut when it is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Sentences,
    Lines,
    Words,
    Chars,
}

const PROSE: &[Level] = &[Level::Sentences, Level::Lines, Level::Words, Level::Chars];
const ROWS: &[Level] = &[Level::Lines, Level::Sentences, Level::Words, Level::Chars];
const CODE: &[Level] = &[Level::Lines, Level::Words, Level::Chars];

fn levels_for(kind: &BlockKind) -> &'static [Level] {
    match kind {
        BlockKind::Code { .. } => CODE,
        BlockKind::List | BlockKind::Table => ROWS,
        _ => PROSE,
    }
}

/// A unit of packing: a whole block, or a piece of a block too large to fit.
#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    text: &'a str,
    /// Tokens, less the counter's fixed per-call overhead.
    cost: usize,
    /// Separator placed before this piece when it does not start a chunk.
    sep: &'static str,
    /// For a whole block: how to cut it to take overlap from its end.
    levels: Option<&'static [Level]>,
}

/// Splits a parsed document into chunks (see the module documentation for the rules).
pub fn chunk(doc: &ParsedDocument, opts: &ChunkingOptions, counter: &dyn TokenCounter) -> Vec<Chunk> {
    let max = opts.max_tokens.max(1);
    // A counter may add a fixed number of tokens to every text (special tokens).
    let base = counter.count_tokens("");
    let budget = max.saturating_sub(base).max(1);
    let overlap = opts.overlap_tokens.min(budget / 2);
    let cost = |text: &str| counter.count_tokens(text).saturating_sub(base);
    let packer = Packer { budget, overlap, cost: &cost };

    let mut out = Vec::new();
    let mut path: Vec<(u8, String)> = Vec::new();
    let mut section: Vec<&Block> = Vec::new();
    let flush = |section: &mut Vec<&Block>, path: &[(u8, String)], out: &mut Vec<Chunk>| {
        if section.is_empty() {
            return;
        }
        let heading_path: Vec<String> = path.iter().map(|(_, t)| t.clone()).collect();
        for pieces in packer.pack(section) {
            finalize(&pieces, &heading_path, max, counter, out);
        }
        section.clear();
    };

    for block in &doc.blocks {
        match block.kind {
            BlockKind::Heading { level } => {
                let title = collapse_whitespace(&block.text);
                if title.is_empty() {
                    continue;
                }
                flush(&mut section, &path, &mut out);
                while path.last().is_some_and(|(l, _)| *l >= level) {
                    path.pop();
                }
                path.push((level, title));
            }
            _ => {
                if !block.text.trim().is_empty() {
                    section.push(block);
                }
            }
        }
    }
    flush(&mut section, &path, &mut out);

    for (i, c) in out.iter_mut().enumerate() {
        c.index = u32::try_from(i).unwrap_or(u32::MAX);
    }
    out
}

/// Packs one section's blocks into chunks.
struct Packer<'c> {
    budget: usize,
    overlap: usize,
    cost: &'c dyn Fn(&str) -> usize,
}

impl Packer<'_> {
    fn pack<'a>(&self, blocks: &[&'a Block]) -> Vec<Vec<Piece<'a>>> {
        let mut chunks = Vec::new();
        let mut cur: Vec<Piece<'a>> = Vec::new();
        let mut cur_cost = 0usize;
        // How many leading pieces of `cur` are overlap from the previous chunk.
        let mut carried = 0usize;

        for block in blocks {
            let text = trim_blank_lines(&block.text);
            if text.trim().is_empty() {
                continue;
            }
            let levels = levels_for(&block.kind);
            let whole = (self.cost)(text);
            let pieces = if whole <= self.budget {
                vec![Piece { text, cost: whole, sep: "\n\n", levels: Some(levels) }]
            } else {
                let mut pieces = Vec::new();
                self.split(text, levels, "\n\n", &mut pieces);
                pieces
            };
            for piece in pieces {
                if cur.len() > carried && cur_cost + piece.cost > self.budget {
                    let mut next = self.tail_overlap(&cur);
                    let mut next_cost: usize = next.iter().map(|p| p.cost).sum();
                    while !next.is_empty() && next_cost + piece.cost > self.budget {
                        next_cost -= next.remove(0).cost;
                    }
                    chunks.push(std::mem::replace(&mut cur, next));
                    carried = cur.len();
                    cur_cost = next_cost;
                } else if cur.len() == carried && cur_cost + piece.cost > self.budget {
                    // Only carried overlap so far and it leaves no room: drop it.
                    cur.clear();
                    carried = 0;
                    cur_cost = 0;
                }
                cur_cost += piece.cost;
                cur.push(piece);
            }
        }
        if cur.len() > carried {
            chunks.push(cur);
        }
        chunks
    }

    /// Cuts a too-large text at the first level, recursing into parts still too large.
    fn split<'a>(&self, text: &'a str, levels: &[Level], first_sep: &'static str, out: &mut Vec<Piece<'a>>) {
        let Some((&level, rest)) = levels.split_first() else {
            out.push(Piece { text, cost: (self.cost)(text), sep: first_sep, levels: None });
            return;
        };
        if level == Level::Chars {
            for (k, part) in self.char_parts(text).into_iter().enumerate() {
                let sep = if k == 0 { first_sep } else { "" };
                out.push(Piece { text: part, cost: (self.cost)(part), sep, levels: None });
            }
            return;
        }
        for (k, (part, sep)) in segments(text, level).into_iter().enumerate() {
            let sep = if k == 0 { first_sep } else { sep };
            let cost = (self.cost)(part);
            if cost <= self.budget || rest.is_empty() {
                out.push(Piece { text: part, cost, sep, levels: None });
            } else {
                self.split(part, rest, sep, out);
            }
        }
    }

    /// Greedy longest prefixes within the budget (at least one character each), found by
    /// exponential then binary search over character boundaries.
    fn char_parts<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // Byte length of the first `chars` characters (all of `rest` when it is shorter);
            // probes never look further than twice the piece they end up taking.
            let end_of = |chars: usize| rest.char_indices().nth(chars).map_or(rest.len(), |(i, _)| i);
            let fits = |end: usize| (self.cost)(&rest[..end]) <= self.budget;
            let mut good = 1usize;
            let mut bad = None;
            let mut probe = 2usize;
            loop {
                let end = end_of(probe);
                if !fits(end) {
                    bad = Some(probe);
                    break;
                }
                good = probe;
                if end == rest.len() {
                    break;
                }
                probe = probe.saturating_mul(2);
            }
            if let Some(mut hi) = bad {
                while hi - good > 1 {
                    let mid = good + (hi - good) / 2;
                    if fits(end_of(mid)) {
                        good = mid;
                    } else {
                        hi = mid;
                    }
                }
            }
            let end = end_of(good);
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
        out
    }

    /// Whole sentences or lines from the end of a finished chunk, within the overlap budget,
    /// never the whole chunk.
    fn tail_overlap<'a>(&self, prev: &[Piece<'a>]) -> Vec<Piece<'a>> {
        let mut taken = Vec::new();
        if self.overlap == 0 {
            return taken;
        }
        let mut used = 0usize;
        for (idx, piece) in prev.iter().enumerate().rev() {
            let first = idx == 0;
            if !first && used + piece.cost <= self.overlap {
                taken.push(*piece);
                used += piece.cost;
                continue;
            }
            // Take the end of this piece, if it is a whole block that can be cut.
            if let Some(levels) = piece.levels {
                let segs = segments(piece.text, levels[0]);
                for (k, (text, sep)) in segs.iter().enumerate().rev() {
                    if first && k == 0 {
                        break;
                    }
                    let cost = (self.cost)(text);
                    if used + cost > self.overlap {
                        break;
                    }
                    // The piece's own separator goes before its first segment.
                    let sep = if k == 0 { piece.sep } else { sep };
                    taken.push(Piece { text, cost, sep, levels: None });
                    used += cost;
                }
            }
            break;
        }
        taken.reverse();
        taken
    }
}

/// Builds a chunk from pieces, checking the real token count of its text; a chunk over the
/// limit (only possible with counters whose counts are not additive) is halved.
fn finalize(pieces: &[Piece<'_>], path: &[String], max: usize, counter: &dyn TokenCounter, out: &mut Vec<Chunk>) {
    let mut text = String::with_capacity(pieces.iter().map(|p| p.text.len() + 2).sum());
    for (k, piece) in pieces.iter().enumerate() {
        if k > 0 {
            text.push_str(piece.sep);
        }
        text.push_str(piece.text);
    }
    let text = trim_blank_lines(&text);
    if text.trim().is_empty() {
        return;
    }
    let token_count = counter.count_tokens(text);
    if token_count > max && pieces.len() > 1 {
        let mid = pieces.len() / 2;
        finalize(&pieces[..mid], path, max, counter, out);
        finalize(&pieces[mid..], path, max, counter, out);
        return;
    }
    out.push(Chunk { index: 0, text: text.to_string(), heading_path: path.to_vec(), token_count });
}

/// Cuts text at one level into `(part, separator before it)` pairs. Parts are never empty.
fn segments(text: &str, level: Level) -> Vec<(&str, &'static str)> {
    match level {
        Level::Sentences => sentences(text),
        Level::Lines => lines(text),
        Level::Words => text.split_whitespace().map(|w| (w, " ")).collect(),
        Level::Chars => text.char_indices().map(|(i, c)| (&text[i..i + c.len_utf8()], "")).collect(),
    }
}

/// Non-blank lines (indentation kept); a run of blank lines becomes a `\n\n` separator.
fn lines(text: &str) -> Vec<(&str, &'static str)> {
    let mut out = Vec::new();
    let mut blank = false;
    for line in text.split('\n') {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank = true;
            continue;
        }
        out.push((line, if blank { "\n\n" } else { "\n" }));
        blank = false;
    }
    out
}

fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？' | '‼' | '⁇')
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»' | '」' | '』' | '*' | '_' | '`')
}

/// Sentences: text up to terminal punctuation (and closing quotes or brackets) followed by
/// whitespace, or a full-width terminal; blank lines always end a sentence.
fn sentences(text: &str) -> Vec<(&str, &'static str)> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut sep: &'static str = " ";
    fn push<'t>(text: &'t str, from: usize, to: usize, sep: &'static str, out: &mut Vec<(&'t str, &'static str)>) {
        let part = text[from..to].trim();
        if !part.is_empty() {
            out.push((part, sep));
        }
    }
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let mut end = i + c.len_utf8();
        if is_terminal(c) {
            while let Some(&(j, d)) = iter.peek() {
                if is_terminal(d) || is_closer(d) {
                    end = j + d.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            let at_end = end == text.len();
            let full_width = matches!(c, '。' | '！' | '？');
            let followed_by_space = text[end..].starts_with(char::is_whitespace);
            if at_end || full_width || followed_by_space {
                push(text, start, end, sep, &mut out);
                let gap = &text[end..];
                let ws = gap.len() - gap.trim_start().len();
                sep = if gap[..ws].matches('\n').count() >= 2 {
                    "\n\n"
                } else if gap[..ws].contains('\n') {
                    "\n"
                } else {
                    " "
                };
                start = end;
            }
        } else if c == '\n' {
            // A blank line ends a sentence even without punctuation.
            let rest = &text[end..];
            let next_line = rest.split('\n').next().unwrap_or("");
            if next_line.trim().is_empty() && rest.contains('\n') {
                push(text, start, i, sep, &mut out);
                sep = "\n\n";
                start = end;
            }
        }
    }
    push(text, start, text.len(), sep, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::convert_str;
    use crate::format::Format;

    fn md(text: &str) -> ParsedDocument {
        convert_str("t.md", text, &Format::Markdown).unwrap()
    }

    fn opts(max_tokens: usize, overlap_tokens: usize) -> ChunkingOptions {
        ChunkingOptions { max_tokens, overlap_tokens }
    }

    fn ws(text: &str) -> usize {
        text.split_whitespace().count()
    }

    /// Words of `text` that are also a prefix of `next` (the overlap between two chunks).
    fn shared_words(prev: &str, next: &str) -> usize {
        let a: Vec<&str> = prev.split_whitespace().collect();
        let b: Vec<&str> = next.split_whitespace().collect();
        (1..=a.len().min(b.len())).rev().find(|&k| a[a.len() - k..] == b[..k]).unwrap_or(0)
    }

    fn sentence(i: usize, words: usize) -> String {
        let mut s: Vec<String> = (0..words).map(|w| format!("s{i}w{w}")).collect();
        s[0] = format!("S{i}");
        format!("{}.", s.join(" "))
    }

    #[test]
    fn heading_paths_follow_the_tree() {
        let doc =
            md("Preamble text.\n\n# A\n\nIn A.\n\n## B\n\nIn B.\n\n### C\n\nIn C.\n\n## D\n\nIn D.\n\n# E\n\nIn E.\n");
        let chunks = chunk(&doc, &opts(100, 10), &WhitespaceTokenCounter);
        let got: Vec<(Vec<&str>, &str)> =
            chunks.iter().map(|c| (c.heading_path.iter().map(String::as_str).collect(), c.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (vec![], "Preamble text."),
                (vec!["A"], "In A."),
                (vec!["A", "B"], "In B."),
                (vec!["A", "B", "C"], "In C."),
                (vec!["A", "D"], "In D."),
                (vec!["E"], "In E."),
            ]
        );
        assert!(chunks.iter().enumerate().all(|(i, c)| c.index as usize == i));
        // Headings never appear in the text.
        assert!(chunks.iter().all(|c| !c.text.contains('#')));
    }

    #[test]
    fn sections_without_body_yield_no_chunk() {
        let doc = md("# Only\n## Headings\n### Here\n");
        assert!(chunk(&doc, &opts(50, 5), &WhitespaceTokenCounter).is_empty());
        let doc = md("# Empty\n## Full\n\nbody words\n");
        let chunks = chunk(&doc, &opts(50, 5), &WhitespaceTokenCounter);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].heading_path, ["Empty", "Full"]);
        assert!(chunk(&ParsedDocument::default(), &opts(50, 5), &WhitespaceTokenCounter).is_empty());
    }

    #[test]
    fn small_blocks_are_packed_together() {
        let doc = md("# T\n\none two three\n\nfour five\n\nsix\n");
        let chunks = chunk(&doc, &opts(100, 10), &WhitespaceTokenCounter);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "one two three\n\nfour five\n\nsix");
        assert_eq!(chunks[0].token_count, 6);
    }

    #[test]
    fn sizes_stay_within_max_and_overlap_only_within_a_section() {
        let long: Vec<String> = (0..30).map(|i| sentence(i, 6)).collect();
        let paragraphs: Vec<String> = long.chunks(3).map(|c| c.join(" ")).collect();
        let text = format!("# One\n\n{}\n\n# Two\n\n{}\n", paragraphs.join("\n\n"), paragraphs.join("\n\n"));
        let doc = md(&text);
        let chunks = chunk(&doc, &opts(40, 10), &WhitespaceTokenCounter);
        assert!(chunks.len() > 4);
        for c in &chunks {
            assert!(c.token_count <= 40, "{c:?}");
            assert_eq!(c.token_count, ws(&c.text));
            assert!(!c.text.trim().is_empty());
        }
        let mut within = 0;
        for pair in chunks.windows(2) {
            let shared = shared_words(&pair[0].text, &pair[1].text);
            if pair[0].heading_path == pair[1].heading_path {
                assert!(shared > 0 && shared <= 10, "no overlap between {:?} and {:?}", pair[0].text, pair[1].text);
                // Overlap is whole sentences.
                assert!(pair[1].text.starts_with('S'), "{:?}", pair[1].text);
                within += 1;
            } else {
                assert_eq!(shared, 0, "overlap across sections: {:?} / {:?}", pair[0].text, pair[1].text);
                assert!(pair[1].text.starts_with("S0 "), "{:?}", pair[1].text);
            }
        }
        assert!(within >= 2);
    }

    #[test]
    fn no_overlap_when_disabled() {
        let paragraphs: Vec<String> = (0..10).map(|i| sentence(i, 8)).collect();
        let doc = md(&paragraphs.join("\n\n"));
        let chunks = chunk(&doc, &opts(20, 0), &WhitespaceTokenCounter);
        let total: usize = chunks.iter().map(|c| c.token_count).sum();
        assert_eq!(total, 80);
    }

    #[test]
    fn long_paragraph_splits_at_sentence_boundaries() {
        let sentences: Vec<String> = (0..20).map(|i| sentence(i, 7)).collect();
        let doc = md(&format!("# Long\n\n{}\n", sentences.join(" ")));
        let chunks = chunk(&doc, &opts(30, 0), &WhitespaceTokenCounter);
        assert!(chunks.len() >= 5);
        for c in &chunks {
            assert!(c.token_count <= 30);
            assert!(c.text.starts_with('S') && c.text.ends_with('.'), "cut mid-sentence: {:?}", c.text);
        }
        // Every sentence appears whole in exactly one chunk (no overlap requested).
        for s in &sentences {
            assert_eq!(chunks.iter().filter(|c| c.text.contains(s.as_str())).count(), 1, "{s}");
        }
    }

    #[test]
    fn oversized_sentence_falls_back_to_words_and_huge_words_to_chars() {
        let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let doc = md(&words.join(" "));
        let chunks = chunk(&doc, &opts(15, 3), &WhitespaceTokenCounter);
        for c in &chunks {
            assert!(c.token_count <= 15);
        }
        let all: Vec<&str> = chunks.iter().flat_map(|c| c.text.split_whitespace()).collect();
        for w in &words {
            assert!(all.contains(&w.as_str()), "{w} lost");
        }
        // A character-level counter with a single 1000-char word.
        let chars = |s: &str| s.chars().filter(|c| !c.is_whitespace()).count();
        let doc = md(&"x".repeat(1000));
        let chunks = chunk(&doc, &opts(64, 0), &chars);
        assert_eq!(chunks.iter().map(|c| c.token_count).sum::<usize>(), 1000);
        assert!(chunks.iter().all(|c| c.token_count <= 64));
        assert_eq!(chunks.len(), 16); // greedy: 15 full pieces and the rest
        // Multi-byte characters are never cut.
        let doc = md(&"é".repeat(300));
        let chunks = chunk(&doc, &opts(7, 0), &chars);
        assert_eq!(chunks.iter().map(|c| c.text.chars().count()).sum::<usize>(), 300);
        assert!(chunks.iter().all(|c| c.token_count <= 7));
        // A huge word stays roughly linear to split.
        let start = std::time::Instant::now();
        let doc = md(&"y".repeat(400_000));
        let chunks = chunk(&doc, &opts(4096, 0), &chars);
        assert_eq!(chunks.len(), 400_000usize.div_ceil(4096));
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
    }

    #[test]
    fn code_blocks_stay_intact_when_they_fit_and_split_at_lines_otherwise() {
        let code = "fn main() {\n    let x = 1;\n\n    println!(\"{x}\");\n}";
        let doc = md(&format!("# Code\n\nSome intro words here.\n\n```rust\n{code}\n```\n\nAfter words.\n"));
        let chunks = chunk(&doc, &opts(14, 2), &WhitespaceTokenCounter);
        assert!(chunks.iter().any(|c| c.text.contains(code)), "{chunks:#?}");
        for c in &chunks {
            assert!(c.token_count <= 14);
        }

        let long: Vec<String> = (0..40).map(|i| format!("    let v{i} = {i};")).collect();
        let doc = md(&format!("```rust\nfn f() {{\n{}\n}}\n```\n", long.join("\n")));
        let chunks = chunk(&doc, &opts(20, 4), &WhitespaceTokenCounter);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(c.token_count <= 20);
            for line in c.text.lines() {
                assert!(line == "fn f() {" || line == "}" || long.iter().any(|l| l == line), "cut line {line:?}");
            }
        }
    }

    #[test]
    fn non_additive_counters_are_respected() {
        // Two special tokens per call, and a per-text rounding: sums are not exact.
        let bpe = |s: &str| s.chars().count().div_ceil(3) + 2;
        let paragraphs: Vec<String> = (0..30).map(|i| sentence(i, 5)).collect();
        let doc = md(&format!("# H\n\n{}\n", paragraphs.join("\n\n")));
        let chunks = chunk(&doc, &opts(40, 8), &bpe);
        assert!(!chunks.is_empty());
        for c in &chunks {
            assert!(c.token_count <= 40, "{c:?}");
            assert_eq!(c.token_count, bpe(&c.text));
        }
    }

    #[test]
    fn output_is_deterministic() {
        let text = (0..50).map(|i| format!("## S{}\n\n{}\n", i % 7, sentence(i, i % 13 + 1))).collect::<String>();
        let doc = md(&text);
        let a = chunk(&doc, &opts(12, 4), &WhitespaceTokenCounter);
        let b = chunk(&doc, &opts(12, 4), &WhitespaceTokenCounter);
        assert_eq!(a, b);
    }

    #[test]
    fn degenerate_options_do_not_panic() {
        let doc = md("# A\n\none two three four five six. seven eight.\n");
        for (max, overlap) in [(0, 0), (1, 0), (1, 5), (2, 100), (3, 3), (usize::MAX, usize::MAX)] {
            let chunks = chunk(&doc, &opts(max, overlap), &WhitespaceTokenCounter);
            assert!(!chunks.is_empty());
            for c in &chunks {
                assert!(c.token_count <= max.max(1));
            }
        }
    }

    #[test]
    fn sentence_splitting() {
        let got: Vec<&str> =
            sentences("One. Two! \"Three?\" Four… five 3.14 six.\n\nSeven\n\nEight").iter().map(|s| s.0).collect();
        assert_eq!(got, ["One.", "Two!", "\"Three?\"", "Four…", "five 3.14 six.", "Seven", "Eight"]);
        let got: Vec<&str> = sentences("中文。第二句。").iter().map(|s| s.0).collect();
        assert_eq!(got, ["中文。", "第二句。"]);
        assert!(sentences("   ").is_empty());
    }

    /// Tiny xorshift generator so the property test needs no extra dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn random_markdown(rng: &mut XorShift, doc_id: usize) -> String {
        let mut out = String::new();
        let mut word = 0usize;
        let mut next_word = |rng: &mut XorShift| {
            word += 1;
            let w = format!("d{doc_id}w{word}");
            if rng.below(8) == 0 { format!("{w}.") } else { w }
        };
        for _ in 0..rng.below(25) + 1 {
            match rng.below(10) {
                0 | 1 => {
                    let level = rng.below(4) + 1;
                    out.push_str(&format!("{} Heading {}\n\n", "#".repeat(level), next_word(rng)));
                }
                2 => {
                    out.push_str("```\n");
                    for _ in 0..rng.below(30) + 1 {
                        let indent = " ".repeat(rng.below(3) * 4);
                        let n = rng.below(6) + 1;
                        let line: Vec<String> = (0..n).map(|_| next_word(rng)).collect();
                        out.push_str(&format!("{indent}{}\n", line.join(" ")));
                    }
                    out.push_str("```\n\n");
                }
                3 => {
                    for _ in 0..rng.below(8) + 1 {
                        let n = rng.below(10) + 1;
                        let item: Vec<String> = (0..n).map(|_| next_word(rng)).collect();
                        out.push_str(&format!("- {}\n", item.join(" ")));
                    }
                    out.push('\n');
                }
                _ => {
                    let n = if rng.below(5) == 0 { rng.below(300) + 1 } else { rng.below(40) + 1 };
                    let words: Vec<String> = (0..n).map(|_| next_word(rng)).collect();
                    out.push_str(&words.join(" "));
                    out.push_str("\n\n");
                }
            }
        }
        out
    }

    #[test]
    fn property_chunks_fit_and_keep_every_body_word_in_order() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for doc_id in 0..300 {
            let text = random_markdown(&mut rng, doc_id);
            let doc = md(&text);
            let max = rng.below(60) + 3;
            let overlap = rng.below(max);
            let o = opts(max, overlap);
            let chunks = chunk(&doc, &o, &WhitespaceTokenCounter);
            for (i, c) in chunks.iter().enumerate() {
                assert_eq!(c.index as usize, i);
                assert!(c.token_count <= max, "doc {doc_id}: {} > {max}", c.token_count);
                assert_eq!(c.token_count, ws(&c.text));
                assert!(!c.text.trim().is_empty());
            }
            // Every body word appears in some chunk, in document order.
            let chunk_words: Vec<&str> = chunks.iter().flat_map(|c| c.text.split_whitespace()).collect();
            let mut pos = 0usize;
            for block in doc.blocks.iter().filter(|b| !b.is_heading()) {
                for w in block.text.split_whitespace() {
                    while pos < chunk_words.len() && chunk_words[pos] != w {
                        pos += 1;
                    }
                    assert!(pos < chunk_words.len(), "doc {doc_id}: word {w:?} missing or out of order\n{text}");
                    pos += 1;
                }
            }
            assert_eq!(chunks, chunk(&doc, &o, &WhitespaceTokenCounter), "doc {doc_id}: not deterministic");
        }
    }
}
