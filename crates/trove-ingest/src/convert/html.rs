//! HTML to blocks via `scraper` (html5ever). Boilerplate is dropped (script, style, noscript,
//! nav, aside, form, svg, iframe, page-level header, footer, ARIA navigation/banner/contentinfo
//! landmarks, hidden elements); when the page has a `<main>` (or `role=main`) or `<article>`s,
//! only their content is read. `h1`–`h6` become headings, `pre` verbatim code, lists, tables and
//! block quotes their kinds, everything else paragraphs with whitespace normalised. html5ever
//! decodes entities. The walk is iterative, so deeply nested markup cannot exhaust the stack,
//! and elements nested deeper than [`MAX_NESTING`] are flattened before parsing, because
//! html5ever's tree building slows down quadratically with nesting depth.

use std::borrow::Cow;

use scraper::{ElementRef, Html, Node};
use serde_json::{Map, Value};

use super::collapse_whitespace;
use crate::document::{Block, BlockKind, ParsedDocument};

/// Elements nested deeper than this have their tags removed (their text is kept).
const MAX_NESTING: usize = 256;

/// Converts an HTML page.
pub(super) fn convert(text: &str) -> ParsedDocument {
    let html = Html::parse_document(&limit_nesting(text, MAX_NESTING));
    let root = html.root_element();
    let metadata = metadata(root);

    let body = find_first(root, |el| el.value().name() == "body").unwrap_or(root);
    let mut blocks = Vec::new();
    for content in content_roots(body) {
        blocks.extend(extract(content));
    }
    if blocks.is_empty() {
        blocks = extract(body);
    }

    let title = find_first(root, |el| el.value().name() == "title")
        .map(|el| collapse_whitespace(&el.text().collect::<String>()))
        .filter(|t| !t.is_empty())
        .or_else(|| {
            blocks.iter().find(|b| b.kind == BlockKind::Heading { level: 1 }).map(|b| collapse_whitespace(&b.text))
        })
        .or_else(|| {
            find_first(root, |el| el.value().name() == "h1")
                .map(|el| collapse_whitespace(&el.text().collect::<String>()))
                .filter(|t| !t.is_empty())
        })
        .or_else(|| super::first_heading(&blocks))
        .unwrap_or_default();
    ParsedDocument { title, blocks, metadata }
}

/// Blocks of an HTML fragment (raw HTML inside markdown), with the same boilerplate rules.
pub(super) fn fragment_blocks(fragment: &str) -> Vec<Block> {
    let html = Html::parse_fragment(&limit_nesting(fragment, MAX_NESTING));
    extract(html.root_element())
}

/// Elements without content (never nest).
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
            | "keygen"
    )
}

/// Elements whose end tag is optional: they rarely nest, so they are not counted.
fn has_optional_end(name: &str) -> bool {
    matches!(
        name,
        "html"
            | "head"
            | "body"
            | "p"
            | "li"
            | "dt"
            | "dd"
            | "tr"
            | "td"
            | "th"
            | "thead"
            | "tbody"
            | "tfoot"
            | "option"
            | "optgroup"
            | "colgroup"
            | "caption"
            | "rb"
            | "rt"
            | "rp"
            | "rtc"
    )
}

/// Elements whose content is raw text (no tags inside).
fn is_raw_text(name: &str) -> bool {
    matches!(name, "script" | "style" | "textarea" | "title" | "xmp" | "plaintext" | "noscript")
}

/// Index just past the `>` of the first `</name ...>` at or after `from` (case-insensitive),
/// or the end of the text.
fn skip_past_close(html: &str, from: usize, name: &str) -> usize {
    let bytes = html.as_bytes();
    let mut at = from;
    while let Some(off) = html[at..].find("</") {
        let start = at + off + 2;
        let end = start + name.len();
        if end <= bytes.len() && bytes[start..end].eq_ignore_ascii_case(name.as_bytes()) {
            return html[end..].find('>').map_or(html.len(), |gt| end + gt + 1);
        }
        at = start;
    }
    html.len()
}

/// Removes the tags (not the text) of elements nested deeper than `limit`, judged by a light
/// scan of the markup. Returns the input unchanged in the usual case.
fn limit_nesting(html: &str, limit: usize) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    // The first pass only measures; a second one rewrites if the limit is exceeded.
    for rewrite in [false, true] {
        let mut depth = 0usize;
        let mut copied = 0usize;
        let mut i = 0usize;
        let mut exceeded = false;
        let mut buf = String::new();
        while let Some(off) = html[i..].find('<') {
            let lt = i + off;
            let rest = &html[lt..];
            if let Some(comment) = rest.strip_prefix("<!--") {
                i = comment.find("-->").map_or(html.len(), |e| lt + 4 + e + 3);
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                i = rest.find('>').map_or(html.len(), |e| lt + e + 1);
                continue;
            }
            let closing = rest.starts_with("</");
            let name_start = lt + 1 + usize::from(closing);
            let name_len = html[name_start..].bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'-').count();
            if name_len == 0 {
                i = lt + 1;
                continue;
            }
            let name = html[name_start..name_start + name_len].to_ascii_lowercase();
            let Some(gt) = html[name_start..].find('>').map(|e| name_start + e) else { break };
            let tag_end = gt + 1;
            let nests = !is_void(&name) && !has_optional_end(&name);
            let mut drop_tag = false;
            if closing {
                if nests {
                    drop_tag = depth > limit;
                    depth = depth.saturating_sub(1);
                }
                i = tag_end;
            } else if is_raw_text(&name) {
                i = skip_past_close(html, tag_end, &name);
            } else {
                if nests && !html[..gt].ends_with('/') {
                    depth += 1;
                    if depth > limit {
                        exceeded = true;
                        drop_tag = true;
                    }
                }
                i = tag_end;
            }
            if rewrite && drop_tag {
                buf.push_str(&html[copied..lt]);
                buf.push(' ');
                copied = tag_end;
            }
        }
        if !rewrite {
            if !exceeded {
                return Cow::Borrowed(html);
            }
            continue;
        }
        buf.push_str(&html[copied..]);
        out = Some(buf);
    }
    out.map_or(Cow::Borrowed(html), Cow::Owned)
}

/// `lang` of the page and `description`, `keywords`, `author` `<meta>` fields.
fn metadata(root: ElementRef<'_>) -> Map<String, Value> {
    let mut map = Map::new();
    if let Some(lang) = root.value().attr("lang").map(str::trim).filter(|l| !l.is_empty()) {
        map.insert("lang".into(), lang.into());
    }
    walk(root, |visit| match visit {
        Visit::Open(el) => {
            let v = el.value();
            if v.name() == "meta"
                && let (Some(name), Some(content)) = (v.attr("name"), v.attr("content"))
            {
                let name = name.trim().to_ascii_lowercase();
                let content = collapse_whitespace(content);
                if matches!(name.as_str(), "description" | "keywords" | "author")
                    && !content.is_empty()
                    && !map.contains_key(&name)
                {
                    map.insert(name, content.into());
                }
            }
            v.name() != "body"
        }
        _ => false,
    });
    map
}

/// The elements holding the page's content: the first `<main>`/`role=main`, else every
/// outermost `<article>`; empty when there are neither (read the whole body then).
fn content_roots(body: ElementRef<'_>) -> Vec<ElementRef<'_>> {
    let mut main = None;
    let mut articles = Vec::new();
    walk(body, |visit| match visit {
        Visit::Open(el) => {
            if main.is_some() || is_boilerplate(el, 0) {
                return false;
            }
            let v = el.value();
            if v.name() == "main" || v.attr("role").is_some_and(|r| r.eq_ignore_ascii_case("main")) {
                main = Some(el);
                return false;
            }
            if v.name() == "article" {
                articles.push(el);
                return false;
            }
            true
        }
        _ => false,
    });
    match main {
        Some(m) => vec![m],
        None => articles,
    }
}

/// The first element (in document order, `root` included) matching `pred`.
fn find_first<'a>(root: ElementRef<'a>, pred: impl Fn(ElementRef<'a>) -> bool) -> Option<ElementRef<'a>> {
    let mut found = None;
    walk(root, |visit| match visit {
        Visit::Open(el) => {
            if found.is_some() {
                return false;
            }
            if pred(el) {
                found = Some(el);
                return false;
            }
            !matches!(el.value().name(), "svg" | "math" | "template")
        }
        _ => false,
    });
    found
}

/// One step of the document walk.
enum Visit<'a> {
    /// An element is entered; return whether to walk its children.
    Open(ElementRef<'a>),
    /// An element whose children were walked is left.
    Close(ElementRef<'a>),
    /// A text node.
    Text(&'a str),
}

/// Walks the subtree under `start` in document order without recursion. `visit` returns
/// whether to descend into an opened element; only descended elements get a `Close`.
fn walk<'a>(start: ElementRef<'a>, mut visit: impl FnMut(Visit<'a>) -> bool) {
    let start_node = *start;
    let mut node = start_node;
    loop {
        let descend = match node.value() {
            Node::Element(_) => ElementRef::wrap(node).is_some_and(|el| visit(Visit::Open(el))),
            Node::Text(t) => {
                let text: &'a str = t;
                visit(Visit::Text(text));
                false
            }
            _ => false,
        };
        if descend {
            if let Some(child) = node.first_child() {
                node = child;
                continue;
            }
            if let Some(el) = ElementRef::wrap(node) {
                visit(Visit::Close(el));
            }
        }
        loop {
            if node == start_node {
                return;
            }
            if let Some(sibling) = node.next_sibling() {
                node = sibling;
                break;
            }
            match node.parent() {
                Some(parent) => {
                    node = parent;
                    if let Some(el) = ElementRef::wrap(parent) {
                        visit(Visit::Close(el));
                    }
                }
                None => return,
            }
        }
    }
}

/// Whether an element (and everything in it) is boilerplate or hidden. `sectioning` is how
/// many `main`/`article`/`section` elements enclose it: a `<header>` inside one is the section's
/// own header (often holding its title) and is kept.
fn is_boilerplate(el: ElementRef<'_>, sectioning: usize) -> bool {
    let v = el.value();
    let skip_tag = match v.name() {
        "script" | "style" | "noscript" | "nav" | "aside" | "form" | "svg" | "iframe" | "template" | "button"
        | "select" | "textarea" | "canvas" | "object" | "embed" | "audio" | "video" | "map" | "dialog" | "head"
        | "footer" | "link" | "meta" => true,
        "header" => sectioning == 0,
        _ => false,
    };
    if skip_tag {
        return true;
    }
    if let Some(role) = v.attr("role") {
        let role = role.trim().to_ascii_lowercase();
        if matches!(role.as_str(), "navigation" | "banner" | "contentinfo" | "search" | "complementary") {
            return true;
        }
    }
    if v.attr("hidden").is_some()
        || v.attr("aria-hidden").is_some_and(|a| a.trim().eq_ignore_ascii_case("true"))
        || v.attr("type").is_some_and(|t| t.trim().eq_ignore_ascii_case("hidden"))
        || v.has_class("headerlink", scraper::CaseSensitivity::AsciiCaseInsensitive)
    {
        return true;
    }
    if let Some(style) = v.attr("style") {
        let style: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        if style.contains("display:none") || style.contains("visibility:hidden") {
            return true;
        }
    }
    false
}

/// Elements that end a paragraph.
fn is_block_level(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "li"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
            | "caption"
            | "html"
            | "legend"
            | "option"
    )
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// Text with HTML whitespace rules: runs of whitespace are one space; explicit newlines
/// (from `<br>`) are kept.
#[derive(Default)]
struct Inline {
    text: String,
    space: bool,
}

impl Inline {
    fn push(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_whitespace() {
                self.space = true;
            } else {
                if self.space && !self.text.is_empty() && !self.text.ends_with('\n') {
                    self.text.push(' ');
                }
                self.space = false;
                self.text.push(c);
            }
        }
    }

    /// Appends verbatim (a cell separator).
    fn raw(&mut self, s: &str) {
        self.text.push_str(s);
        self.space = false;
    }

    fn newline(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.space = false;
    }

    fn take(&mut self) -> String {
        self.space = false;
        let text = std::mem::take(&mut self.text);
        text.trim().to_string()
    }
}

/// The structured element currently being collected into one block.
enum ContainerKind {
    Heading(u8),
    Code { language: Option<String> },
    List,
    Table,
    Quote,
}

struct Container<'a> {
    element: ElementRef<'a>,
    kind: ContainerKind,
    lines: Vec<String>,
    /// Raw text of a code block.
    code: String,
    /// Prefix of the current line (list marker and indentation).
    prefix: String,
    /// Open lists: next number of ordered ones, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Cells in the current table row.
    cells: usize,
}

/// Collects blocks while walking.
struct Extractor<'a> {
    blocks: Vec<Block>,
    inline: Inline,
    container: Option<Container<'a>>,
    sectioning: usize,
}

impl<'a> Extractor<'a> {
    fn flush_paragraph(&mut self) {
        let text = self.inline.take();
        if !text.is_empty() {
            self.blocks.push(Block::paragraph(text));
        }
    }

    /// Ends the current line of the container.
    fn end_line(&mut self) {
        let text = self.inline.take();
        if let Some(c) = self.container.as_mut() {
            if !text.is_empty() {
                c.lines.push(format!("{}{}", c.prefix, text));
            }
            c.prefix.clear();
        }
    }

    fn open(&mut self, el: ElementRef<'a>) -> bool {
        if is_boilerplate(el, self.sectioning) {
            return false;
        }
        let name = el.value().name();
        if matches!(name, "main" | "article" | "section") {
            self.sectioning += 1;
        }
        if name == "br" {
            match self.container.as_mut() {
                Some(Container { kind: ContainerKind::Code { .. }, code, .. }) => code.push('\n'),
                Some(_) => self.inline.push(" "),
                None => self.inline.newline(),
            }
            return false;
        }
        if name == "img" {
            return false;
        }
        match self.container.as_mut() {
            None => self.open_outside(el, name),
            Some(c) => match c.kind {
                ContainerKind::Code { ref mut language } => {
                    if language.is_none() && name == "code" {
                        *language = code_language(el);
                    }
                }
                ContainerKind::Heading(_) => self.inline.push(" "),
                ContainerKind::List => match name {
                    "ul" | "ol" | "menu" => c.lists.push(list_start(el)),
                    "li" | "dt" | "dd" => {
                        let text = self.inline.take();
                        if !text.is_empty() {
                            c.lines.push(format!("{}{}", c.prefix, text));
                        }
                        let depth = c.lists.len().saturating_sub(1);
                        c.prefix = "  ".repeat(depth);
                        match name {
                            "li" => match c.lists.last_mut() {
                                Some(Some(n)) => {
                                    c.prefix.push_str(&format!("{n}. "));
                                    *n = n.saturating_add(1);
                                }
                                _ => c.prefix.push_str("- "),
                            },
                            "dd" => c.prefix.push_str("  "),
                            _ => {}
                        }
                    }
                    _ if is_block_level(name) => self.inline.push(" "),
                    _ => {}
                },
                ContainerKind::Table => match name {
                    "tr" | "caption" => {
                        c.cells = 0;
                        self.end_line();
                    }
                    "td" | "th" => {
                        if c.cells > 0 {
                            self.inline.raw(" | ");
                        }
                        c.cells += 1;
                    }
                    _ if is_block_level(name) => self.inline.push(" "),
                    _ => {}
                },
                ContainerKind::Quote => {
                    if is_block_level(name) {
                        self.end_line();
                    }
                }
            },
        }
        true
    }

    fn open_outside(&mut self, el: ElementRef<'a>, name: &str) {
        let kind = if let Some(level) = heading_level(name) {
            ContainerKind::Heading(level)
        } else {
            match name {
                "pre" | "listing" | "xmp" => ContainerKind::Code { language: code_language(el) },
                "ul" | "ol" | "dl" | "menu" => ContainerKind::List,
                "table" => ContainerKind::Table,
                "blockquote" => ContainerKind::Quote,
                _ => {
                    if is_block_level(name) {
                        self.flush_paragraph();
                    }
                    return;
                }
            }
        };
        self.flush_paragraph();
        let lists = if matches!(kind, ContainerKind::List) && name != "dl" { vec![list_start(el)] } else { Vec::new() };
        self.container = Some(Container {
            element: el,
            kind,
            lines: Vec::new(),
            code: String::new(),
            prefix: String::new(),
            lists,
            cells: 0,
        });
    }

    fn close(&mut self, el: ElementRef<'a>) {
        let name = el.value().name();
        if matches!(name, "main" | "article" | "section") {
            self.sectioning = self.sectioning.saturating_sub(1);
        }
        let Some(c) = self.container.as_mut() else {
            if is_block_level(name) {
                self.flush_paragraph();
            }
            return;
        };
        if c.element.id() != el.id() {
            match c.kind {
                ContainerKind::List if matches!(name, "ul" | "ol" | "menu") => {
                    c.lists.pop();
                }
                ContainerKind::Table if name == "tr" => self.end_line(),
                ContainerKind::Quote if is_block_level(name) => self.end_line(),
                _ => {}
            }
            return;
        }
        self.end_line();
        let Some(c) = self.container.take() else { return };
        let block = match c.kind {
            ContainerKind::Heading(level) => {
                let text = c.lines.join(" ");
                Block::heading(level, text)
            }
            ContainerKind::Code { language } => {
                // A newline right after `<pre>` is not content.
                let code = c.code.strip_prefix('\n').unwrap_or(&c.code);
                Block::code(language, code.to_string())
            }
            ContainerKind::List => Block::new(BlockKind::List, c.lines.join("\n")),
            ContainerKind::Table => Block::new(BlockKind::Table, c.lines.join("\n")),
            ContainerKind::Quote => Block::new(BlockKind::Quote, c.lines.join("\n")),
        };
        if !block.text.trim().is_empty() {
            self.blocks.push(block);
        }
    }

    fn text(&mut self, text: &str) {
        match self.container.as_mut() {
            Some(Container { kind: ContainerKind::Code { .. }, code, .. }) => code.push_str(text),
            _ => self.inline.push(text),
        }
    }
}

/// Blocks of the content under `root`.
fn extract(root: ElementRef<'_>) -> Vec<Block> {
    let mut ex = Extractor { blocks: Vec::new(), inline: Inline::default(), container: None, sectioning: 0 };
    walk(root, |visit| match visit {
        Visit::Open(el) => ex.open(el),
        Visit::Close(el) => {
            ex.close(el);
            false
        }
        Visit::Text(t) => {
            ex.text(t);
            false
        }
    });
    // Unbalanced walks cannot happen, but never lose text.
    if ex.container.is_some() {
        ex.end_line();
        if let Some(c) = ex.container.take() {
            let text = if c.code.is_empty() { c.lines.join("\n") } else { c.code };
            if !text.trim().is_empty() {
                ex.blocks.push(Block::paragraph(text));
            }
        }
    }
    ex.flush_paragraph();
    ex.blocks
}

/// `language-x` / `lang-x` class of a `pre` or `code` element.
fn code_language(el: ElementRef<'_>) -> Option<String> {
    el.value().classes().find_map(|class| {
        class
            .strip_prefix("language-")
            .or_else(|| class.strip_prefix("lang-"))
            .filter(|l| !l.is_empty())
            .map(str::to_ascii_lowercase)
    })
}

/// The first number of an ordered list (`start` attribute, default 1); `None` for bullets.
fn list_start(el: ElementRef<'_>) -> Option<u64> {
    (el.value().name() == "ol").then(|| el.value().attr("start").and_then(|s| s.trim().parse().ok()).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use crate::convert::convert_str;
    use crate::document::{Block, BlockKind, ParsedDocument};
    use crate::format::Format;

    fn html(text: &str) -> ParsedDocument {
        convert_str("site/page.html", text, &Format::Html).unwrap()
    }

    const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
  <title>  Trove &amp; Friends — Docs </title>
  <meta name="description" content="All about   Trove">
  <style>body { color: red }</style>
  <script>var tracking = "evil";</script>
</head>
<body>
  <header><a href="/">Site Logo</a><nav><a href="/a">Home</a> <a href="/b">Blog</a></nav></header>
  <div role="navigation">Breadcrumbs here</div>
  <main>
    <h1>Getting   started <a class="headerlink" href="#x">¶</a></h1>
    <p>Trove stores your
       <b>notes</b> &amp; <a href="/docs">documents</a>&nbsp;locally.</p>
    <p hidden>Secret hidden text</p>
    <div style="display: none">Invisible div</div>
    <script>var inMain = "evil";</script>
    <h2>Install</h2>
    <pre><code class="language-bash">cargo install trove
  --locked</code></pre>
    <ul><li>Fast</li><li>Local <ul><li>Private</li></ul></li></ul>
    <ol start="3"><li>three</li><li>four</li></ol>
    <table><tr><th>Key</th><th>Value</th></tr><tr><td>a</td><td>1</td></tr></table>
    <blockquote><p>Quote one.</p><p>Quote two.</p></blockquote>
    <noscript>Enable JavaScript</noscript>
    <form><input type="text" value="search"><button>Go</button></form>
  </main>
  <aside>Related links</aside>
  <footer>Copyright 2024 Example Corp</footer>
  <script>console.log("more evil")</script>
</body>
</html>"##;

    #[test]
    fn boilerplate_is_dropped_and_main_content_kept() {
        let doc = html(PAGE);
        assert_eq!(doc.title, "Trove & Friends — Docs");
        assert_eq!(doc.metadata["lang"], "en");
        assert_eq!(doc.metadata["description"], "All about Trove");
        let text = doc.plain_text();
        for gone in [
            "Site Logo",
            "Home",
            "Blog",
            "Breadcrumbs",
            "evil",
            "color",
            "Secret",
            "Invisible",
            "Enable JavaScript",
            "search",
            "Related",
            "Copyright",
            "¶",
        ] {
            assert!(!text.contains(gone), "{gone:?} should be gone from {text:?}");
        }
        assert_eq!(
            doc.blocks,
            [
                Block::heading(1, "Getting started"),
                Block::paragraph("Trove stores your notes & documents locally."),
                Block::heading(2, "Install"),
                Block::code(Some("bash".into()), "cargo install trove\n  --locked"),
                Block::new(BlockKind::List, "- Fast\n- Local\n  - Private"),
                Block::new(BlockKind::List, "3. three\n4. four"),
                Block::new(BlockKind::Table, "Key | Value\na | 1"),
                Block::new(BlockKind::Quote, "Quote one.\nQuote two."),
            ]
        );
    }

    #[test]
    fn without_main_reads_articles_or_body() {
        let doc = html(
            "<body><nav>menu</nav><article><header><h1>Post title</h1></header><p>Post body.</p><footer>share</footer></article><p>Outside article</p></body>",
        );
        assert_eq!(doc.title, "Post title");
        assert_eq!(doc.blocks, [Block::heading(1, "Post title"), Block::paragraph("Post body.")]);

        let doc = html(
            "<body><header>Banner</header><script>evil()</script><style>p{}</style><div>Para one<br>line two<p>Para two</p>tail</div></body>",
        );
        assert_eq!(doc.title, "page.html");
        assert_eq!(
            doc.blocks,
            [Block::paragraph("Para one\nline two"), Block::paragraph("Para two"), Block::paragraph("tail")]
        );
    }

    #[test]
    fn title_falls_back_to_first_h1() {
        let doc = html("<html><head><title> </title></head><body><h2>Sub</h2><h1>Main Heading</h1></body></html>");
        assert_eq!(doc.title, "Main Heading");
        let doc = html("<p>just text</p>");
        assert_eq!(doc.title, "page.html");
        assert_eq!(doc.blocks, [Block::paragraph("just text")]);
    }

    #[test]
    fn nesting_is_limited_before_parsing() {
        use super::limit_nesting;
        let shallow = "<div><p>a<p>b<br><img src=x></div><!-- <div><div> --><script>'<div>'</script>";
        assert!(matches!(limit_nesting(shallow, 2), std::borrow::Cow::Borrowed(_)));
        let deep = "<div><section><div><b>x</b></div></section></div>";
        assert_eq!(limit_nesting(deep, 2), "<div><section>  x  </section></div>");
        // Text nested far too deep is kept and found quickly.
        let start = std::time::Instant::now();
        let deep = format!("<main>{}deep &amp; text{}</main>", "<div>".repeat(200_000), "</div>".repeat(200_000));
        let doc = html(&deep);
        assert_eq!(doc.blocks, [Block::paragraph("deep & text")]);
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
    }

    #[test]
    fn deeply_nested_and_malformed_html_does_not_panic() {
        let deep = format!("{}deep text{}", "<div>".repeat(100_000), "</div>".repeat(100_000));
        let doc = html(&deep);
        assert!(doc.plain_text().contains("deep text"));
        let lists = format!("{}item{}", "<ul><li>".repeat(5_000), "</li></ul>".repeat(5_000));
        assert!(html(&lists).plain_text().contains("item"));
        html("<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>");
        html("<pre>unclosed <b>bold");
        html("<<<>>></p></div><h1>");
        html(&"<b>".repeat(10_000));
        html("");
    }
}
