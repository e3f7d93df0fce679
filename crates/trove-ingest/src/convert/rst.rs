//! reStructuredText to blocks, with a small line-based parser (no docutils). Section titles are
//! found by their underline (and optional overline) adornment; levels follow the order in which
//! adornment styles first appear. `::` literal blocks and `code-block`/`code`/`sourcecode`
//! directives become verbatim code; admonitions become quotes; bullet/enumerated/definition and
//! field lists, grid and simple tables, block quotes and paragraphs become their kinds. Inline
//! markup (emphasis, literals, roles, references, footnote references) is removed. Directives
//! that carry no readable text (images, toctrees, raw, includes, targets, substitutions,
//! comments) are dropped; unknown directives keep their arguments and content as text. Field
//! lists before the first paragraph (docinfo) go to the metadata.

use serde_json::{Map, Value};

use super::first_heading;
use crate::document::{Block, BlockKind, ParsedDocument};

/// Directive content nested deeper than this is kept as plain text instead of being parsed.
const MAX_DEPTH: usize = 8;

/// Longest role name considered (`:py:func:` is 9).
const MAX_ROLE_NAME: usize = 64;

/// Converts a reStructuredText document.
pub(super) fn convert(text: &str) -> ParsedDocument {
    let lines: Vec<String> = text.lines().map(expand_tabs).collect();
    let mut state = State { styles: Vec::new(), metadata: Map::new(), default_language: None };
    let blocks = parse(&lines, 0, &mut state);
    let title = first_heading(&blocks)
        .or_else(|| state.metadata.get("title").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    ParsedDocument { title, blocks, metadata: state.metadata }
}

/// State shared by a document and its nested content.
struct State {
    /// Adornment styles `(character, has overline)` in order of first appearance.
    styles: Vec<(char, bool)>,
    metadata: Map<String, Value>,
    /// Language of `::` literal blocks, set by `.. highlight::`.
    default_language: Option<String>,
}

impl State {
    fn level(&mut self, style: (char, bool)) -> u8 {
        let index = match self.styles.iter().position(|s| *s == style) {
            Some(i) => i,
            None => {
                self.styles.push(style);
                self.styles.len() - 1
            }
        };
        u8::try_from(index + 1).unwrap_or(u8::MAX)
    }
}

fn expand_tabs(line: &str) -> String {
    if !line.contains('\t') {
        return line.trim_end().to_string();
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut col = 0;
    for c in line.chars() {
        if c == '\t' {
            let n = 8 - col % 8;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out.trim_end().to_string()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Characters allowed in section adornments.
fn is_adornment_char(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// `(character, length)` when the line is made of one repeated punctuation character.
fn adornment(line: &str) -> Option<(char, usize)> {
    if line.starts_with(' ') {
        return None;
    }
    let mut chars = line.chars();
    let first = chars.next()?;
    if !is_adornment_char(first) {
        return None;
    }
    let mut len = 1;
    for c in chars {
        if c != first {
            return None;
        }
        len += 1;
    }
    (len >= 2).then_some((first, len))
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Whether `text` followed by `under` is a section title with an underline only.
fn underline_title(text: &str, under: &str) -> Option<char> {
    if text.starts_with(' ') || is_blank(text) || adornment(text).is_some() || text.starts_with("..") {
        return None;
    }
    let (c, len) = adornment(under)?;
    (len >= width(text.trim()).min(3)).then_some(c)
}

/// A list item's marker: `(indent, text after the marker, ordered)`.
fn list_item(line: &str) -> Option<(usize, &str, bool)> {
    let ind = indent(line);
    let t = &line[ind..];
    let mut chars = t.char_indices();
    let (_, first) = chars.next()?;
    if matches!(first, '-' | '*' | '+' | '•' | '‣' | '⁃') {
        let rest = &t[first.len_utf8()..];
        if rest.is_empty() {
            return Some((ind, "", false));
        }
        return rest.starts_with(' ').then(|| (ind, rest.trim_start(), false));
    }
    let (body, close) = if let Some(inner) = t.strip_prefix('(') {
        let end = inner.find(')')?;
        (&inner[..end], &inner[end + 1..])
    } else {
        let end = t.find(['.', ')'])?;
        (&t[..end], &t[end + 1..])
    };
    let enumerator = body == "#"
        || (!body.is_empty() && body.len() <= 9 && body.chars().all(|c| c.is_ascii_digit()))
        || (body.len() == 1 && body.chars().all(|c| c.is_ascii_alphabetic()));
    if !enumerator {
        return None;
    }
    if close.is_empty() {
        return Some((ind, "", true));
    }
    close.starts_with(' ').then(|| (ind, close.trim_start(), true))
}

/// `:name: value` field marker (not a role like `:ref:`x``).
fn field(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix(':')?;
    let end = rest.find(':')?;
    let name = &rest[..end];
    let after = &rest[end + 1..];
    if name.is_empty() || name.starts_with(' ') || name.contains('`') {
        return None;
    }
    if !after.is_empty() && !after.starts_with(' ') {
        return None;
    }
    Some((name.trim(), after.trim()))
}

fn is_grid_border(t: &str) -> bool {
    t.len() >= 3
        && t.starts_with('+')
        && t.ends_with('+')
        && t.chars().all(|c| matches!(c, '+' | '-' | '=' | ':' | ' '))
        && t.contains(['-', '='])
}

fn is_simple_table_border(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| c == '=' || c == ' ') && t.split(' ').filter(|s| !s.is_empty()).count() >= 2
}

/// Lines from `start` that are blank or indented more than `base`, dedented, without trailing
/// blank lines; and the index of the first line after them.
fn indented_block(lines: &[String], start: usize, base: usize) -> (Vec<String>, usize) {
    let mut end = start;
    while end < lines.len() && (is_blank(&lines[end]) || indent(&lines[end]) > base) {
        end += 1;
    }
    let mut last = end;
    while last > start && is_blank(&lines[last - 1]) {
        last -= 1;
    }
    let slice = &lines[start..last];
    let min = slice.iter().filter(|l| !is_blank(l)).map(|l| indent(l)).min().unwrap_or(0);
    let out = slice.iter().map(|l| if is_blank(l) { String::new() } else { l[min..].to_string() }).collect();
    (out, end)
}

/// Parses lines (already dedented) into blocks.
fn parse(lines: &[String], depth: usize, state: &mut State) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let n = lines.len();
    let mut i = 0;
    // Docinfo fields are only taken before any body text, at the top level.
    let docinfo_allowed = |blocks: &[Block]| depth == 0 && blocks.iter().all(Block::is_heading);

    while i < n {
        let line = lines[i].as_str();
        if is_blank(line) {
            i += 1;
            continue;
        }
        let ind = indent(line);
        let t = line.trim();

        // Section title with an overline.
        if let Some((c, len)) = adornment(line) {
            if i + 2 < n
                && !is_blank(&lines[i + 1])
                && adornment(&lines[i + 1]).is_none()
                && adornment(&lines[i + 2]).is_some_and(|(c2, _)| c2 == c)
                && width(lines[i + 1].trim()) <= len + 2
            {
                push_heading(&mut blocks, state, (c, true), lines[i + 1].trim(), depth);
                i += 3;
                continue;
            }
            // A transition (or stray adornment line): no text.
            if len >= 4 {
                i += 1;
                continue;
            }
        }

        // Section title with an underline.
        if i + 1 < n
            && let Some(c) = underline_title(line, &lines[i + 1])
        {
            push_heading(&mut blocks, state, (c, false), t, depth);
            i += 2;
            continue;
        }

        if t == ".." || t.starts_with(".. ") {
            i = directive(lines, i, depth, state, &mut blocks);
            continue;
        }
        if is_grid_border(t) {
            i = grid_table(lines, i, &mut blocks);
            continue;
        }
        if is_simple_table_border(t) {
            i = simple_table(lines, i, &mut blocks);
            continue;
        }
        if list_item(line).is_some() {
            i = list(lines, i, &mut blocks);
            continue;
        }
        if ind == 0 && field(t).is_some() {
            let allowed = docinfo_allowed(&blocks);
            i = field_list(lines, i, allowed, state, &mut blocks);
            continue;
        }
        if ind > 0 {
            // A block quote.
            let (content, next) = indented_block(lines, i, ind - 1);
            let text = nested_text(&content, depth, state);
            if !text.is_empty() {
                blocks.push(Block::new(BlockKind::Quote, text));
            }
            i = next;
            continue;
        }

        // A paragraph (or a definition-list item).
        let mut j = i + 1;
        while j < n {
            let l = lines[j].as_str();
            if is_blank(l) || indent(l) != ind || list_item(l).is_some() {
                break;
            }
            if j + 1 < n && underline_title(l, &lines[j + 1]).is_some() {
                break;
            }
            j += 1;
        }
        if j == i + 1 && j < n && !is_blank(&lines[j]) && indent(&lines[j]) > ind {
            let (definition, next) = indented_block(lines, j, ind);
            let text = nested_text(&definition, depth, state);
            blocks.push(Block::new(BlockKind::List, format!("{}: {}", clean_inline(t), text)));
            i = next;
            continue;
        }
        let joined = lines[i..j].iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        i = j;
        let literal = joined.ends_with("::");
        let text = if !literal {
            joined.as_str()
        } else if joined == "::" {
            ""
        } else if let Some(s) = joined.strip_suffix(" ::") {
            s
        } else {
            &joined[..joined.len() - 1]
        };
        let text = clean_inline(text);
        if !text.trim().is_empty() {
            blocks.push(Block::paragraph(text));
        }
        if literal {
            let mut k = i;
            while k < n && is_blank(&lines[k]) {
                k += 1;
            }
            if k < n && indent(&lines[k]) > ind {
                let (code, next) = indented_block(lines, k, ind);
                blocks.push(Block::code(state.default_language.clone(), code.join("\n")));
                i = next;
            }
        }
    }
    blocks
}

fn push_heading(blocks: &mut Vec<Block>, state: &mut State, style: (char, bool), text: &str, depth: usize) {
    let text = clean_inline(text);
    if depth == 0 {
        let level = state.level(style);
        blocks.push(Block::heading(level, text));
    } else {
        // Sections cannot nest in directive content; keep the text.
        blocks.push(Block::paragraph(text));
    }
}

/// The readable text of nested content (a block quote, definition or directive body).
fn nested_text(content: &[String], depth: usize, state: &mut State) -> String {
    if depth >= MAX_DEPTH {
        return content.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
    }
    parse(content, depth + 1, state).into_iter().map(|b| b.text).collect::<Vec<_>>().join("\n")
}

/// Handles `.. ` constructs starting at line `i`; returns the next line to read.
fn directive(lines: &[String], i: usize, depth: usize, state: &mut State, blocks: &mut Vec<Block>) -> usize {
    let line = &lines[i];
    let ind = indent(line);
    let rest = line.trim().strip_prefix("..").unwrap_or("").trim();
    let (body, next) = indented_block(lines, i + 1, ind);

    if rest.starts_with('_') || rest.starts_with('|') {
        // Hyperlink target or substitution definition.
        return next;
    }
    if rest.starts_with('[') {
        // Footnote or citation: keep its text.
        let mut text = clean_inline(rest);
        let more = nested_text(&body, depth, state);
        if !more.is_empty() {
            text.push(' ');
            text.push_str(&more);
        }
        blocks.push(Block::paragraph(text));
        return next;
    }
    let Some((name, args)) = directive_head(rest) else {
        // A comment.
        return next;
    };
    let name = name.to_ascii_lowercase();
    let name = name.rsplit(':').next().unwrap_or(&name).to_string();
    // Options (`:key: value`) come first; the content follows.
    let mut start = 0;
    while start < body.len() && field(body[start].trim()).is_some() && !is_blank(&body[start]) {
        start += 1;
    }
    while start < body.len() && is_blank(&body[start]) {
        start += 1;
    }
    let content = &body[start..];

    match name.as_str() {
        "code-block" | "code" | "sourcecode" => {
            let language = args.split_whitespace().next().map(str::to_ascii_lowercase);
            blocks.push(Block::code(language, content.join("\n")));
        }
        "math" => {
            let mut text = args.to_string();
            for l in content {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(l);
            }
            blocks.push(Block::code(Some("latex".into()), text));
        }
        "highlight" => {
            state.default_language = args.split_whitespace().next().map(str::to_ascii_lowercase);
        }
        "title" => {
            if !args.is_empty() {
                state.metadata.insert("title".into(), clean_inline(args).into());
            }
        }
        "image" | "toctree" | "contents" | "index" | "include" | "literalinclude" | "raw" | "meta" | "sectnum"
        | "section-numbering" | "target-notes" | "footer" | "header" | "default-role" | "role" | "tabularcolumns"
        | "class" | "automodule" | "autosummary" | "graphviz" | "raw-html" | "raw-latex" | "currentmodule"
        | "module" | "moduleauthor" | "sectionauthor" | "codeauthor" => {}
        "note" | "warning" | "tip" | "hint" | "important" | "caution" | "attention" | "danger" | "error"
        | "seealso" | "todo" | "admonition" | "versionadded" | "versionchanged" | "deprecated" | "versionremoved" => {
            // Admonitions other than the generic one take no arguments: text on the directive
            // line is the start of the content.
            let (label, first_line) = match name.as_str() {
                "admonition" => (clean_inline(args), None),
                "versionadded" => (format!("New in version {args}"), None),
                "versionchanged" => (format!("Changed in version {args}"), None),
                "deprecated" => (format!("Deprecated since version {args}"), None),
                "versionremoved" => (format!("Removed in version {args}"), None),
                "seealso" => ("See also".to_string(), Some(args)),
                other => (capitalize(other), Some(args)),
            };
            let text = match first_line.filter(|l| !l.is_empty()) {
                Some(line) => {
                    // The body may continue the directive line's paragraph without a blank line.
                    let mut all = Vec::with_capacity(body.len() + 2);
                    all.push(line.to_string());
                    if start > 0 {
                        all.push(String::new());
                    }
                    all.extend(content.iter().cloned());
                    nested_text(&all, depth, state)
                }
                None => nested_text(content, depth, state),
            };
            let text = match (label.trim().is_empty(), text.is_empty()) {
                (_, true) => label,
                (true, false) => text,
                (false, false) => format!("{label}: {text}"),
            };
            if !text.trim().is_empty() {
                blocks.push(Block::new(BlockKind::Quote, text));
            }
        }
        "csv-table" => {
            if !args.is_empty() {
                blocks.push(Block::paragraph(clean_inline(args)));
            }
            let rows: Vec<String> = content
                .iter()
                .filter(|l| !is_blank(l))
                .map(|l| l.split(',').map(|c| c.trim().trim_matches('"')).collect::<Vec<_>>().join(" | "))
                .collect();
            if !rows.is_empty() {
                blocks.push(Block::new(BlockKind::Table, rows.join("\n")));
            }
        }
        _ => {
            // Figures, topics, sidebars, rubrics, API descriptions and unknown directives:
            // keep the arguments (a title, a signature, a caption) and the content as text.
            if !args.is_empty() && name != "figure" {
                blocks.push(Block::paragraph(clean_inline(args)));
            }
            if depth >= MAX_DEPTH {
                let text = nested_text(content, depth, state);
                if !text.is_empty() {
                    blocks.push(Block::paragraph(text));
                }
            } else {
                blocks.extend(parse(content, depth + 1, state));
            }
        }
    }
    next
}

/// `name:: args` of a directive.
fn directive_head(rest: &str) -> Option<(&str, &str)> {
    let pos = rest.find("::")?;
    let name = &rest[..pos];
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | '+')) {
        return None;
    }
    Some((name, rest[pos + 2..].trim()))
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Bullet and enumerated lists (nested by indentation) as one list block.
fn list(lines: &[String], start: usize, blocks: &mut Vec<Block>) -> usize {
    let n = lines.len();
    let base = indent(&lines[start]);
    let mut items: Vec<(usize, bool, String)> = Vec::new(); // depth, ordered, text
    let mut indents: Vec<usize> = Vec::new();
    let mut i = start;
    while i < n {
        let line = lines[i].as_str();
        if is_blank(line) {
            // The list goes on if the next text is an item or indented content.
            let mut k = i;
            while k < n && is_blank(&lines[k]) {
                k += 1;
            }
            if k < n && (indent(&lines[k]) > base || (indent(&lines[k]) == base && list_item(&lines[k]).is_some())) {
                i = k;
                continue;
            }
            break;
        }
        let ind = indent(line);
        if ind < base {
            break;
        }
        if let Some((item_indent, text, ordered)) = list_item(line) {
            // Another kind of marker at the list's own indentation starts another list.
            if item_indent == base && items.first().is_some_and(|first| first.1 != ordered) {
                break;
            }
            while indents.last().is_some_and(|&top| top > item_indent) {
                indents.pop();
            }
            if indents.last().is_none_or(|&top| top < item_indent) {
                indents.push(item_indent);
            }
            items.push((indents.len() - 1, ordered, text.to_string()));
        } else if ind == base {
            break;
        } else if let Some(last) = items.last_mut() {
            if !last.2.is_empty() {
                last.2.push(' ');
            }
            last.2.push_str(line.trim());
        }
        i += 1;
    }
    let mut counters: Vec<u64> = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (depth, ordered, text) in items {
        counters.truncate(depth + 1);
        while counters.len() <= depth {
            counters.push(0);
        }
        let marker = if ordered {
            counters[depth] += 1;
            format!("{}. ", counters[depth])
        } else {
            "- ".to_string()
        };
        out.push(format!("{}{}{}", "  ".repeat(depth), marker, clean_inline(&text)));
    }
    if !out.is_empty() {
        blocks.push(Block::new(BlockKind::List, out.join("\n")));
    }
    i.max(start + 1)
}

/// A field list: docinfo metadata at the top of a document, a list elsewhere.
fn field_list(lines: &[String], start: usize, to_metadata: bool, state: &mut State, blocks: &mut Vec<Block>) -> usize {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut i = start;
    while i < lines.len() {
        let line = lines[i].as_str();
        if is_blank(line) {
            break;
        }
        if indent(line) == 0 {
            let Some((name, value)) = field(line.trim()) else { break };
            fields.push((name.to_string(), value.to_string()));
        } else if let Some(last) = fields.last_mut() {
            if !last.1.is_empty() {
                last.1.push(' ');
            }
            last.1.push_str(line.trim());
        }
        i += 1;
    }
    if to_metadata {
        for (name, value) in fields {
            state.metadata.insert(name.to_ascii_lowercase(), clean_inline(&value).into());
        }
    } else {
        let text = fields
            .iter()
            .map(|(name, value)| format!("{}: {}", clean_inline(name), clean_inline(value)))
            .collect::<Vec<_>>()
            .join("\n");
        blocks.push(Block::new(BlockKind::List, text));
    }
    i.max(start + 1)
}

/// A grid table (`+---+---+` borders) as one table block, one line per row.
fn grid_table(lines: &[String], start: usize, blocks: &mut Vec<Block>) -> usize {
    let mut rows = Vec::new();
    let mut cells: Vec<String> = Vec::new();
    let flush = |cells: &mut Vec<String>, rows: &mut Vec<String>| {
        if cells.iter().any(|c| !c.is_empty()) {
            rows.push(cells.iter().map(|c| clean_inline(c)).collect::<Vec<_>>().join(" | "));
        }
        cells.clear();
    };
    let mut i = start;
    while i < lines.len() {
        let t = lines[i].trim();
        if t.is_empty() || !(t.starts_with('+') || t.starts_with('|')) {
            break;
        }
        if is_grid_border(t) {
            flush(&mut cells, &mut rows);
        } else {
            let parts: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            if cells.len() != parts.len() {
                flush(&mut cells, &mut rows);
                cells = parts.iter().map(|s| s.to_string()).collect();
            } else {
                for (cell, part) in cells.iter_mut().zip(parts) {
                    if !part.is_empty() {
                        if !cell.is_empty() {
                            cell.push(' ');
                        }
                        cell.push_str(part);
                    }
                }
            }
        }
        i += 1;
    }
    flush(&mut cells, &mut rows);
    if !rows.is_empty() {
        blocks.push(Block::new(BlockKind::Table, rows.join("\n")));
    }
    i.max(start + 1)
}

/// A simple table (`=====  =====` borders) as one table block, one line per row.
fn simple_table(lines: &[String], start: usize, blocks: &mut Vec<Block>) -> usize {
    let border: Vec<char> = lines[start].chars().collect();
    let mut columns = Vec::new(); // start char index of each column
    for (k, c) in border.iter().enumerate() {
        if *c == '=' && (k == 0 || border[k - 1] == ' ') {
            columns.push(k);
        }
    }
    let mut rows = Vec::new();
    let mut i = start + 1;
    while i < lines.len() && !is_blank(&lines[i]) {
        let line = lines[i].as_str();
        let t = line.trim();
        if is_simple_table_border(t) || t.chars().all(|c| c == '-' || c == ' ') {
            i += 1;
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let cells: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(k, &from)| {
                let to = columns.get(k + 1).copied().unwrap_or(chars.len()).min(chars.len());
                let from = from.min(to);
                clean_inline(chars[from..to].iter().collect::<String>().trim())
            })
            .collect();
        rows.push(cells.join(" | "));
        i += 1;
    }
    if !rows.is_empty() {
        blocks.push(Block::new(BlockKind::Table, rows.join("\n")));
    }
    i.max(start + 1)
}

/// For each position, the index of the first position at or after it satisfying `pred`
/// (`len` when none), so delimiter searches stay linear.
fn next_index(chars: &[char], pred: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut next = vec![chars.len(); chars.len() + 1];
    for k in (0..chars.len()).rev() {
        next[k] = if pred(k) { k } else { next[k + 1] };
    }
    next
}

/// Marked-up text: when `found`, the characters between the `width`-wide opener at `i` and its
/// closer at `close` go to `out`, and the index after the closer is returned; otherwise the opener
/// stays as written, and the index after it is returned.
fn unwrap_span(chars: &[char], i: usize, width: usize, close: usize, found: bool, out: &mut String) -> usize {
    if found {
        out.extend(&chars[i + width..close]);
        close + width
    } else {
        out.extend(&chars[i..i + width]);
        i + width
    }
}

/// The first index at or after `i` that is not `_` (past a reference's `_` or `__`).
fn after_underscores(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] == '_' {
        i += 1;
    }
    i
}

/// Removes inline markup: `*emphasis*`, `**strong**`, ``` ``literal`` ```, `` `interpreted` ``,
/// `:role:`text``, `` `link <url>`_ ``, `reference_`, `[1]_` and backslash escapes.
pub(super) fn clean_inline(s: &str) -> String {
    if !s.contains(['*', '`', '_', '\\', '|', '[', ':']) {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let next_star = next_index(&chars, |k| chars[k] == '*');
    let next_double_star = next_index(&chars, |k| chars[k] == '*' && k + 1 < n && chars[k + 1] == '*');
    let next_tick = next_index(&chars, |k| chars[k] == '`');
    let next_double_tick = next_index(&chars, |k| chars[k] == '`' && k + 1 < n && chars[k + 1] == '`');
    let next_bar = next_index(&chars, |k| chars[k] == '|');
    let next_bracket = next_index(&chars, |k| chars[k] == ']');
    let boundary = |k: usize| k == 0 || !chars[k - 1].is_alphanumeric();

    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < n {
        let c = chars[i];
        match c {
            '\\' => {
                if i + 1 < n && chars[i + 1] != ' ' {
                    out.push(chars[i + 1]);
                }
                i += 2;
            }
            '`' if i + 1 < n && chars[i + 1] == '`' => {
                let close = next_double_tick[(i + 2).min(n)];
                i = unwrap_span(&chars, i, 2, close, close < n && close > i + 2, &mut out);
            }
            '`' => {
                let close = next_tick[i + 1];
                if close < n && close > i + 1 {
                    out.push_str(&reference_text(&chars[i + 1..close].iter().collect::<String>()));
                    // `text`_ and `text`__
                    i = after_underscores(&chars, close + 1);
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            ':' if boundary(i) => {
                // :role:`text` (role names may contain colons: :py:func:).
                let mut j = i + 1;
                let mut tick = None;
                while j < n && j - i <= MAX_ROLE_NAME {
                    let d = chars[j];
                    if d.is_alphanumeric() || matches!(d, '-' | '_' | '.' | '+') {
                        j += 1;
                    } else if d == ':' && j > i + 1 {
                        if j + 1 < n && chars[j + 1] == '`' {
                            tick = Some(j + 1);
                            break;
                        }
                        j += 1;
                    } else {
                        break;
                    }
                }
                match tick {
                    Some(t) => i = t, // the interpreted text is handled by the '`' arm
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            '*' if i + 1 < n && chars[i + 1] == '*' && i + 2 < n && !chars[i + 2].is_whitespace() => {
                let close = next_double_star[i + 2];
                i = unwrap_span(&chars, i, 2, close, close < n && !chars[close - 1].is_whitespace(), &mut out);
            }
            '*' if i + 1 < n && !chars[i + 1].is_whitespace() && chars[i + 1] != '*' && boundary(i) => {
                let close = next_star[i + 1];
                i = unwrap_span(&chars, i, 1, close, close < n && !chars[close - 1].is_whitespace(), &mut out);
            }
            '|' if i + 1 < n && !chars[i + 1].is_whitespace() && boundary(i) => {
                // |substitution| keeps its name.
                let close = next_bar[i + 1];
                let found = close < n && close > i + 1 && !chars[close - 1].is_whitespace() && close - i <= 64;
                i = unwrap_span(&chars, i, 1, close, found, &mut out);
                if found {
                    i = after_underscores(&chars, i);
                }
            }
            '[' => {
                // Footnote and citation references `[1]_`, `[#note]_` are dropped.
                let close = next_bracket[i + 1];
                if close < n
                    && close > i + 1
                    && close - i <= 32
                    && close + 1 < n
                    && chars[close + 1] == '_'
                    && !chars[i + 1..close].iter().any(|c| c.is_whitespace())
                {
                    if out.ends_with(' ') {
                        out.pop();
                    }
                    i = close + 2;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            '_' if i > 0 && chars[i - 1].is_alphanumeric() => {
                // `reference_` / `reference__` at a word end.
                let mut j = i;
                while j < n && chars[j] == '_' && j - i < 2 {
                    j += 1;
                }
                if j >= n || !(chars[j].is_alphanumeric() || chars[j] == '_') {
                    i = j;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The readable part of interpreted text: `Title <target>` → `Title`, `~a.b.c` → `c`.
fn reference_text(inner: &str) -> String {
    let inner = inner.trim();
    if let Some(lt) = inner.rfind('<')
        && inner.ends_with('>')
        && lt > 0
    {
        return inner[..lt].trim().to_string();
    }
    let inner = inner.trim_start_matches('!');
    if let Some(rest) = inner.strip_prefix('~') {
        return rest.rsplit('.').next().unwrap_or(rest).to_string();
    }
    inner.to_string()
}

#[cfg(test)]
mod tests {
    use super::clean_inline;
    use crate::convert::convert_str;
    use crate::document::{Block, BlockKind, ParsedDocument};
    use crate::format::Format;

    fn rst(text: &str) -> ParsedDocument {
        convert_str("docs/index.rst", text, &Format::Rst).unwrap()
    }

    fn headings(doc: &ParsedDocument) -> Vec<(u8, &str)> {
        doc.blocks
            .iter()
            .filter_map(|b| match b.kind {
                BlockKind::Heading { level } => Some((level, b.text.as_str())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn heading_levels_follow_first_appearance() {
        let doc = rst(concat!(
            "=========\n Project \n=========\n\n",
            ":Author: Ada\n:Version: 1.0\n\n",
            "Intro text.\n\n",
            "Usage\n=====\n\nUse it.\n\n",
            "Details\n-------\n\nMore.\n\n",
            "Deeper\n~~~~~~\n\nDeep.\n\n",
            "Another\n=====\n\nSecond top section.\n",
        ));
        assert_eq!(doc.title, "Project");
        assert_eq!(headings(&doc), [(1, "Project"), (2, "Usage"), (3, "Details"), (4, "Deeper"), (2, "Another")]);
        assert_eq!(doc.metadata["author"], "Ada");
        assert_eq!(doc.metadata["version"], "1.0");
        assert!(doc.blocks.contains(&Block::paragraph("Intro text.")));
    }

    #[test]
    fn literal_blocks_and_code_directives() {
        let doc = rst(concat!(
            "Title\n=====\n\n",
            "Example::\n\n    def f(x):\n        return x\n\n    f(1)\n\n",
            "Expanded form ::\n\n    $ run\n\n",
            "::\n\n    bare literal\n\n",
            ".. code-block:: python\n   :linenos:\n\n   import os\n     indented\n\n",
            "After.\n",
        ));
        assert_eq!(
            doc.kinds_and_texts(),
            [
                (BlockKind::Heading { level: 1 }, "Title"),
                (BlockKind::Paragraph, "Example:"),
                (BlockKind::Code { language: None }, "def f(x):\n    return x\n\nf(1)"),
                (BlockKind::Paragraph, "Expanded form"),
                (BlockKind::Code { language: None }, "$ run"),
                (BlockKind::Code { language: None }, "bare literal"),
                (BlockKind::Code { language: Some("python".into()) }, "import os\n  indented"),
                (BlockKind::Paragraph, "After."),
            ]
        );
    }

    #[test]
    fn directives_lists_tables_and_inline_markup() {
        let doc = rst(concat!(
            "Guide\n*****\n\n",
            ".. _target-label:\n\n",
            ".. image:: picture.png\n   :alt: A picture\n\n",
            ".. note:: Remember **this**.\n\n   And this.\n\n",
            ".. warning:: Keep\n   going.\n\n",
            ".. This is a comment\n   spanning lines.\n\n",
            "- first item with ``code``\n- second item\n  continued\n\n  - nested\n\n",
            "#. auto one\n#. auto two\n\n",
            "term\n    Its definition.\n\n",
            "+------+-------+\n| Name | Value |\n+======+=======+\n| a    | 1     |\n+------+-------+\n\n",
            "=====  =====\nKey    Value\n=====  =====\nx      10\n=====  =====\n\n",
            "See :ref:`the intro <intro>` and `Python <https://python.org>`_ or api_ [1]_ |name|.\n\n",
            "    An indented quote.\n\n",
            ".. toctree::\n   :maxdepth: 2\n\n   page1\n   page2\n\n",
            ".. unknown-thing:: arg text\n\n   Body of unknown.\n",
        ));
        assert_eq!(
            doc.kinds_and_texts(),
            [
                (BlockKind::Heading { level: 1 }, "Guide"),
                (BlockKind::Quote, "Note: Remember this.\nAnd this."),
                (BlockKind::Quote, "Warning: Keep going."),
                (BlockKind::List, "- first item with code\n- second item continued\n  - nested"),
                (BlockKind::List, "1. auto one\n2. auto two"),
                (BlockKind::List, "term: Its definition."),
                (BlockKind::Table, "Name | Value\na | 1"),
                (BlockKind::Table, "Key | Value\nx | 10"),
                (BlockKind::Paragraph, "See the intro and Python or api name."),
                (BlockKind::Quote, "An indented quote."),
                (BlockKind::Paragraph, "arg text"),
                (BlockKind::Paragraph, "Body of unknown."),
            ]
        );
        let text = doc.plain_text();
        assert!(!text.contains("picture.png") && !text.contains("comment") && !text.contains("page1"));
    }

    #[test]
    fn title_falls_back_to_file_name_and_odd_input_is_safe() {
        assert_eq!(rst("Just a paragraph.\n").title, "index.rst");
        rst("====\n");
        rst("Title\n");
        rst("==\nx\n");
        rst("+--+\n|\n");
        rst("=== ===\n");
        rst(".. code-block::\n");
        rst("::");
        rst("- \n- \n");
        rst("(\n1)\n#.");
        rst(&"   ".repeat(1000));
        let nested: String = (0..200).map(|d| format!("{}.. note::\n", "   ".repeat(d))).collect();
        rst(&nested);
        let quotes: String = (0..500).map(|d| format!("{}x\n\n", " ".repeat(d))).collect();
        rst(&quotes);
    }

    #[test]
    fn inline_cleanup() {
        assert_eq!(clean_inline("a *b* **c** ``d`` `e`"), "a b c d e");
        assert_eq!(clean_inline(":py:func:`~mod.sub.func` here"), "func here");
        assert_eq!(clean_inline("snake_case_name stays"), "snake_case_name stays");
        assert_eq!(clean_inline("2 * 3 * 4"), "2 * 3 * 4");
        assert_eq!(clean_inline(r"escaped \*star\*"), "escaped *star*");
        assert_eq!(clean_inline("a | b"), "a | b");
        assert_eq!(clean_inline("time: 10:30"), "time: 10:30");
        let stars = "*a ".repeat(100_000);
        assert_eq!(clean_inline(&stars).len(), stars.len());
    }
}
