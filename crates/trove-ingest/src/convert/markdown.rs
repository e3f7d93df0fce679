//! Markdown (CommonMark plus GFM tables, task lists, footnotes and strikethrough) via
//! pulldown-cmark. Every top-level construct becomes one block: headings (their level kept),
//! paragraphs, fenced or indented code (verbatim, language from the info string), lists (one
//! line per item, nested items indented), tables (one line per row), block quotes. Inline markup
//! is removed and link text kept. Raw HTML blocks go through the HTML converter. Front matter
//! (`---` YAML or `+++` TOML) goes to the metadata, never into the text.

use pulldown_cmark::{BlockQuoteKind, CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde_json::{Map, Value};

use super::{first_heading, html};
use crate::document::{Block, BlockKind, ParsedDocument};

/// Converts a markdown document.
pub(super) fn convert(text: &str) -> ParsedDocument {
    let (metadata, body) = split_front_matter(text);
    let blocks = parse_blocks(body);
    let title = first_heading(&blocks)
        .or_else(|| metadata.get("title").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    ParsedDocument { title, blocks, metadata }
}

/// The kind of the top-level construct being built.
enum Top {
    Paragraph,
    Heading(u8),
    Code(Option<String>),
    List,
    Quote,
    Table,
    Html,
}

/// Accumulates the text of one top-level construct, flattening whatever is nested in it.
#[derive(Default)]
struct Writer {
    out: String,
    /// For each open list, the next number (ordered) or `None` (bullets).
    lists: Vec<Option<u64>>,
    /// A list marker was just written: the item's first paragraph continues the line.
    fresh_item: bool,
    /// The next text starts on a new line.
    pending_break: bool,
    /// Inside a code block: text goes to `code` verbatim.
    in_code: bool,
    code: String,
    /// Cells written in the current table row.
    cells: usize,
}

impl Writer {
    /// Indentation of continuation lines inside the current list item.
    fn indent(&self) -> String {
        "  ".repeat(self.lists.len())
    }

    fn write(&mut self, text: &str) {
        if self.in_code {
            self.code.push_str(text);
            return;
        }
        if self.pending_break {
            self.pending_break = false;
            if !self.out.is_empty() {
                self.out.push('\n');
                let indent = self.indent();
                self.out.push_str(&indent);
            }
        }
        self.out.push_str(text);
        self.fresh_item = false;
    }

    fn block_break(&mut self) {
        if !self.fresh_item {
            self.pending_break = true;
        }
    }

    fn start(&mut self, tag: &Tag<'_>) {
        match tag {
            Tag::Paragraph
            | Tag::Heading { .. }
            | Tag::BlockQuote(_)
            | Tag::HtmlBlock
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Table(_) => self.block_break(),
            Tag::CodeBlock(_) => {
                self.block_break();
                self.in_code = true;
                self.code.clear();
            }
            Tag::List(start) => self.lists.push(*start),
            Tag::Item => {
                self.pending_break = false;
                if !self.out.is_empty() {
                    self.out.push('\n');
                }
                let depth = self.lists.len().saturating_sub(1);
                self.out.push_str(&"  ".repeat(depth));
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n = n.saturating_add(1);
                        m
                    }
                    _ => "- ".to_string(),
                };
                self.out.push_str(&marker);
                self.fresh_item = true;
            }
            Tag::TableHead | Tag::TableRow => {
                self.pending_break = true;
                self.cells = 0;
            }
            Tag::TableCell => {
                if self.cells > 0 {
                    self.write(" | ");
                }
                self.cells += 1;
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::CodeBlock => {
                self.in_code = false;
                let code = std::mem::take(&mut self.code);
                for line in code.trim_end_matches('\n').split('\n') {
                    self.pending_break = true;
                    self.write(line);
                }
            }
            TagEnd::List(_) => {
                self.lists.pop();
            }
            TagEnd::Item => self.fresh_item = false,
            TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::BlockQuote(_) => self.block_break(),
            _ => {}
        }
    }
}

/// Parses markdown (without front matter) into blocks.
fn parse_blocks(body: &str) -> Vec<Block> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_GFM;
    let mut blocks = Vec::new();
    let mut depth = 0usize;
    let mut top: Option<(Top, Writer)> = None;

    for event in Parser::new_ext(body, options) {
        match event {
            Event::Start(tag) => {
                if depth == 0 {
                    top = Some(begin(&tag));
                } else if let Some((_, w)) = top.as_mut() {
                    w.start(&tag);
                }
                depth += 1;
            }
            Event::End(tag) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if let Some((kind, w)) = top.take() {
                        finish_top(kind, w, &mut blocks);
                    }
                } else if let Some((_, w)) = top.as_mut() {
                    w.end(tag);
                }
            }
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => match top.as_mut() {
                Some((_, w)) => w.write(&t),
                None => blocks.push(Block::paragraph(t.to_string())),
            },
            Event::Html(t) => match top.as_mut() {
                Some((Top::Html, w)) => w.out.push_str(&t),
                Some(_) => {}
                None => blocks.extend(html::fragment_blocks(&t)),
            },
            Event::InlineHtml(t) => {
                if let Some((_, w)) = top.as_mut()
                    && is_line_break_tag(&t)
                {
                    w.write(" ");
                }
            }
            Event::SoftBreak => {
                if let Some((_, w)) = top.as_mut() {
                    w.write(" ");
                }
            }
            Event::HardBreak => {
                if let Some((kind, w)) = top.as_mut() {
                    match kind {
                        Top::Paragraph | Top::Quote => w.pending_break = true,
                        _ => w.write(" "),
                    }
                }
            }
            Event::Rule => {
                if let Some((_, w)) = top.as_mut() {
                    w.block_break();
                }
            }
            Event::TaskListMarker(done) => {
                if let Some((_, w)) = top.as_mut() {
                    w.write(if done { "[x] " } else { "[ ] " });
                    w.fresh_item = true;
                }
            }
            Event::FootnoteReference(label) => {
                if let Some((_, w)) = top.as_mut() {
                    w.write(&format!("[{label}]"));
                }
            }
        }
    }
    if let Some((kind, w)) = top.take() {
        finish_top(kind, w, &mut blocks);
    }
    blocks
}

/// Starts a top-level construct.
fn begin(tag: &Tag<'_>) -> (Top, Writer) {
    let mut w = Writer::default();
    let kind = match tag {
        Tag::Heading { level, .. } => Top::Heading(*level as u8),
        Tag::CodeBlock(kind) => {
            w.in_code = true;
            let lang = match kind {
                CodeBlockKind::Fenced(info) => fence_language(info),
                CodeBlockKind::Indented => None,
            };
            Top::Code(lang)
        }
        Tag::List(start) => {
            w.lists.push(*start);
            Top::List
        }
        Tag::BlockQuote(kind) => {
            if let Some(label) = kind.map(quote_label) {
                w.write(label);
                w.write(": ");
                w.fresh_item = true;
            }
            Top::Quote
        }
        Tag::Table(_) => Top::Table,
        Tag::HtmlBlock => Top::Html,
        Tag::FootnoteDefinition(label) => {
            w.write(&format!("[{label}]: "));
            w.fresh_item = true;
            Top::Paragraph
        }
        _ => Top::Paragraph,
    };
    (kind, w)
}

/// Turns a finished top-level construct into blocks.
fn finish_top(kind: Top, w: Writer, blocks: &mut Vec<Block>) {
    let block = match kind {
        Top::Paragraph => Block::paragraph(w.out),
        Top::Heading(level) => Block::heading(level, w.out),
        Top::Code(lang) => Block::code(lang, w.code.trim_end_matches('\n').to_string()),
        Top::List => Block::new(BlockKind::List, w.out),
        Top::Quote => Block::new(BlockKind::Quote, w.out),
        Top::Table => Block::new(BlockKind::Table, w.out),
        Top::Html => {
            blocks.extend(html::fragment_blocks(&w.out));
            return;
        }
    };
    if !block.text.trim().is_empty() {
        blocks.push(block);
    }
}

/// The language of a fenced code block: the info string's first word (`rust,ignore` → `rust`,
/// `{.python}` → `python`).
fn fence_language(info: &str) -> Option<String> {
    let word = info
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
        .map(|w| w.trim_start_matches('.'))
        .find(|w| !w.is_empty())?;
    Some(word.to_ascii_lowercase())
}

fn quote_label(kind: BlockQuoteKind) -> &'static str {
    match kind {
        BlockQuoteKind::Note => "Note",
        BlockQuoteKind::Tip => "Tip",
        BlockQuoteKind::Important => "Important",
        BlockQuoteKind::Warning => "Warning",
        BlockQuoteKind::Caution => "Caution",
    }
}

fn is_line_break_tag(html: &str) -> bool {
    let t = html.trim().to_ascii_lowercase();
    t.starts_with("<br") || t.starts_with("<p") || t.starts_with("</p") || t.starts_with("<div")
}

/// Splits off front matter: `---` YAML (to `---` or `...`) or `+++` TOML (to `+++`) at the very
/// start. Front matter that does not parse as a mapping is not front matter (the text is kept).
fn split_front_matter(text: &str) -> (Map<String, Value>, &str) {
    let none = (Map::new(), text);
    let Some(first_end) = text.find('\n') else { return none };
    let delimiter = text[..first_end].trim_end();
    if delimiter != "---" && delimiter != "+++" {
        return none;
    }
    let mut offset = first_end + 1;
    for line in text[offset..].split_inclusive('\n') {
        let trimmed = line.trim_end();
        let closes = if delimiter == "---" { trimmed == "---" || trimmed == "..." } else { trimmed == "+++" };
        if closes {
            let inner = &text[first_end + 1..offset];
            let body = &text[offset + line.len()..];
            let parsed = if delimiter == "---" { parse_yaml(inner) } else { parse_toml_lite(inner) };
            return match parsed {
                Some(map) => (map, body),
                None => none,
            };
        }
        offset += line.len();
    }
    none
}

fn parse_yaml(text: &str) -> Option<Map<String, Value>> {
    if text.trim().is_empty() {
        return Some(Map::new());
    }
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Some(map),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(error = %e, "front matter is not valid YAML; keeping it as text");
            None
        }
    }
}

/// Top-level `key = value` pairs of TOML front matter (tables and arrays of tables are
/// skipped). `None` when a line is neither a pair, a table header nor a comment.
fn parse_toml_lite(text: &str) -> Option<Map<String, Value>> {
    let mut map = Map::new();
    let mut in_table = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            in_table = true;
            continue;
        }
        let (key, value) = line.split_once('=')?;
        if in_table {
            continue;
        }
        let key = key.trim().trim_matches('"').to_string();
        let value = value.trim();
        let parsed = if let Some(s) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Value::String(s.replace("\\\"", "\"").replace("\\\\", "\\"))
        } else if let Some(s) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Value::String(s.to_string())
        } else if value == "true" || value == "false" {
            Value::Bool(value == "true")
        } else if let Ok(n) = value.parse::<i64>() {
            Value::from(n)
        } else {
            Value::String(value.to_string())
        };
        map.insert(key, parsed);
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use crate::convert::convert_str;
    use crate::document::{Block, BlockKind, ParsedDocument};
    use crate::format::Format;

    fn md(text: &str) -> ParsedDocument {
        convert_str("docs/page.md", text, &Format::Markdown).unwrap()
    }

    fn kinds(doc: &ParsedDocument) -> Vec<BlockKind> {
        doc.blocks.iter().map(|b| b.kind.clone()).collect()
    }

    #[test]
    fn structure_and_inline_markup() {
        let doc = md(concat!(
            "# Install *Trove*\n\n",
            "Run the **installer** from [the site](https://x.invalid) and `trove init`.\n",
            "Then wait.\n\n",
            "## Options\n\n",
            "- first *item*\n",
            "- second\n",
            "  - nested ![alt text](img.png)\n",
            "1. one\n",
            "2. two\n\n",
            "> quoted **wisdom**\n",
            "> more\n\n",
            "| Name | Value |\n|---|---|\n| a | 1 |\n| b | 2 |\n\n",
            "Setext heading\n--------------\n\n",
            "Text with a footnote[^1].\n\n",
            "[^1]: The note.\n",
        ));
        assert_eq!(doc.title, "Install Trove");
        let texts: Vec<_> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Install Trove",
                "Run the installer from the site and trove init. Then wait.",
                "Options",
                "- first item\n- second\n  - nested alt text",
                "1. one\n2. two",
                "quoted wisdom more",
                "Name | Value\na | 1\nb | 2",
                "Setext heading",
                "Text with a footnote[1].",
                "[1]: The note.",
            ]
        );
        assert_eq!(
            kinds(&doc),
            [
                BlockKind::Heading { level: 1 },
                BlockKind::Paragraph,
                BlockKind::Heading { level: 2 },
                BlockKind::List,
                BlockKind::List,
                BlockKind::Quote,
                BlockKind::Table,
                BlockKind::Heading { level: 2 },
                BlockKind::Paragraph,
                BlockKind::Paragraph,
            ]
        );
        assert!(!doc.plain_text().contains("https://"));
    }

    #[test]
    fn code_blocks_are_verbatim_with_language() {
        let doc = md(
            "Intro\n\n```rust,ignore\nfn main() {\n    // *not emphasis*\n\n    println!(\"hi\");\n}\n```\n\n    indented code\n      more\n",
        );
        assert_eq!(doc.blocks[0], Block::paragraph("Intro"));
        assert_eq!(
            doc.blocks[1],
            Block::code(Some("rust".into()), "fn main() {\n    // *not emphasis*\n\n    println!(\"hi\");\n}")
        );
        assert_eq!(doc.blocks[2], Block::code(None, "indented code\n  more"));
    }

    #[test]
    fn code_inside_list_items_and_loose_lists() {
        let doc = md("- step one\n\n  ```sh\n  cargo build\n  ```\n\n- step two\n\n  second para\n");
        assert_eq!(doc.blocks.len(), 1);
        assert_eq!(doc.blocks[0].kind, BlockKind::List);
        assert_eq!(doc.blocks[0].text, "- step one\n  cargo build\n- step two\n  second para");
    }

    #[test]
    fn task_lists_and_gfm_alerts() {
        let doc = md("- [x] done\n- [ ] todo\n\n> [!WARNING]\n> Be careful.\n");
        assert_eq!(doc.blocks[0].text, "- [x] done\n- [ ] todo");
        assert_eq!(doc.blocks[1].text, "Warning: Be careful.");
    }

    #[test]
    fn yaml_front_matter_goes_to_metadata() {
        let doc = md("---\ntitle: From Front Matter\ntags: [a, b]\ndraft: false\n---\nJust text, no heading.\n");
        assert_eq!(doc.title, "From Front Matter");
        assert_eq!(doc.metadata["tags"], serde_json::json!(["a", "b"]));
        assert_eq!(doc.metadata["draft"], serde_json::json!(false));
        assert_eq!(doc.blocks, [Block::paragraph("Just text, no heading.")]);
        // A heading wins over the front-matter title.
        let doc = md("---\ntitle: FM\n---\n# Real Title\n\nbody\n");
        assert_eq!(doc.title, "Real Title");
        assert!(!doc.plain_text().contains("FM"));
    }

    #[test]
    fn toml_front_matter_and_non_front_matter_rules() {
        let doc = md("+++\ntitle = \"Hugo\"\nweight = 3\n[params]\nx = 1\n+++\nbody\n");
        assert_eq!(doc.metadata["title"], "Hugo");
        assert_eq!(doc.metadata["weight"], 3);
        assert!(!doc.metadata.contains_key("x"));
        assert_eq!(doc.blocks, [Block::paragraph("body")]);
        // Rules that do not enclose a mapping are not front matter: the text is kept.
        let doc = md("---\nJust a sentence between rules.\n---\nAfter.\n");
        assert!(doc.plain_text().contains("Just a sentence"), "{doc:?}");
        // Unclosed front matter is not front matter either.
        let doc = md("---\ntitle: x\n\nbody\n");
        assert!(doc.plain_text().contains("body"));
    }

    #[test]
    fn title_falls_back_to_file_name() {
        let doc = md("no heading here\n");
        assert_eq!(doc.title, "page.md");
        let doc = md("Some text.\n\n### Deep first heading\n");
        assert_eq!(doc.title, "Deep first heading");
    }

    #[test]
    fn html_blocks_go_through_the_html_converter() {
        let doc = md(
            "<h1 align=\"center\">Project &amp; Co</h1>\n\n<script>alert(1)</script>\n\nText <kbd>Ctrl</kbd>.\n\n<!-- a comment -->\n",
        );
        assert_eq!(doc.title, "Project & Co");
        assert_eq!(doc.blocks[0], Block::heading(1, "Project & Co"));
        assert!(!doc.plain_text().contains("alert"));
        assert!(!doc.plain_text().contains("comment"));
        assert!(doc.plain_text().contains("Text Ctrl."));
    }

    #[test]
    fn only_headings_and_pathological_inputs_do_not_panic() {
        let doc = md("# A\n## B\n### C\n");
        assert_eq!(doc.blocks.len(), 3);
        md(&">".repeat(50_000));
        md(&"- ".repeat(20_000));
        md(&"[".repeat(50_000));
        md(&"*a ".repeat(50_000));
        md(&"x".repeat(1_000_000));
        md("```\nunclosed fence\n");
        md("---\n");
        md("---");
        md("|a|\n|-|\n");
    }
}
