//! Word documents (DOCX) to blocks. The body of `word/document.xml` is read paragraph by
//! paragraph: a paragraph whose style is a heading (`heading 1`–`heading 6` by the style's
//! name in `word/styles.xml` or its `HeadingN` id, or an outline level) becomes a heading, the
//! `Title` style a level-1 heading that is also the title candidate, numbered or bulleted
//! paragraphs (by numbering or a `List ...` style) a list, tables one row per line with cells separated by ` | `, and everything
//! else paragraphs. Only visible run text counts (`w:t`, tabs, breaks): deleted revisions,
//! field codes and the fallback copy of text boxes are skipped. Headers, footers, footnotes and
//! comments are not read. The title comes from `docProps/core.xml`, else the first Title or
//! heading paragraph; the other core properties become metadata.

use std::collections::HashMap;

use super::limits::Budget;
use super::office::{self, Ev, Package, attr};
use crate::document::{Block, BlockKind, ParsedDocument};
use crate::error::IngestError;

/// What a paragraph style makes of a paragraph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Heading(u8),
    Title,
    /// `List Bullet`, `List Number 2`, `List Paragraph`: numbered by the style, not the paragraph.
    ListItem,
}

/// Converts a DOCX file.
pub(super) fn convert(bytes: &[u8], budget: &mut Budget<'_>) -> Result<ParsedDocument, IngestError> {
    let mut pkg = Package::open(bytes, budget)?;
    let main = main_part(&mut pkg, budget)?;
    let styles = match pkg.part("word/styles.xml", budget)? {
        Some(xml) => styles(&xml, budget)?,
        None => HashMap::new(),
    };
    let xml = pkg.required_part(&main, budget)?;
    let mut body = Body::new(&styles);
    office::walk(&xml, &main, budget, |ev| body.event(ev))?;
    let (blocks, first_title) = body.finish();

    let metadata = office::core_properties(&mut pkg, budget)?;
    let title =
        office::title_of(&metadata).or(first_title).or_else(|| super::first_heading(&blocks)).unwrap_or_default();
    Ok(ParsedDocument { title, blocks, metadata })
}

/// The main document part: the target of the package's officeDocument relationship, else the
/// usual name.
fn main_part(pkg: &mut Package<'_>, budget: &mut Budget<'_>) -> Result<String, IngestError> {
    Ok(office::rels(pkg, "", budget)?
        .into_iter()
        .find(|r| r.kind == "officeDocument")
        .map(|r| r.target)
        .unwrap_or_else(|| "word/document.xml".to_string()))
}

/// Paragraph styles that make headings or titles, by style id.
fn styles(xml: &str, budget: &Budget<'_>) -> Result<HashMap<String, Style>, IngestError> {
    let mut out = HashMap::new();
    let mut id: Option<String> = None;
    let mut style: Option<Style> = None;
    office::walk(xml, "word/styles.xml", budget, |ev| match ev {
        Ev::Open { name: b"style", el } => {
            id = attr(el, b"styleId");
            style = None;
        }
        Ev::Open { name: b"name", el } if id.is_some() => {
            if let Some(s) = attr(el, b"val").and_then(|n| style_by_name(&n)) {
                style = Some(s);
            }
        }
        Ev::Open { name: b"outlineLvl", el } if id.is_some() && style.is_none() => {
            style = outline_level(el);
        }
        Ev::Close { name: b"style" } => {
            if let (Some(id), Some(style)) = (id.take(), style.take()) {
                out.insert(id, style);
            }
        }
        _ => {}
    })?;
    Ok(out)
}

/// `heading 3` → level 3, `Title` → title (case-insensitive, spaces ignored).
fn style_by_name(name: &str) -> Option<Style> {
    let norm: String = name.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    if norm == "title" {
        return Some(Style::Title);
    }
    if norm.starts_with("list") {
        return Some(Style::ListItem);
    }
    let level: u8 = norm.strip_prefix("heading")?.parse().ok()?;
    (1..=9).contains(&level).then_some(Style::Heading(level.min(6)))
}

/// `<w:outlineLvl w:val="0"/>` → level 1 (level 9 means body text).
fn outline_level(el: &quick_xml::events::BytesStart<'_>) -> Option<Style> {
    let level: u8 = attr(el, b"val")?.parse().ok()?;
    (level < 9).then_some(Style::Heading((level + 1).min(6)))
}

/// A table being read: finished rows, the current row and cell.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    row: Vec<String>,
    cell: String,
}

/// The state of a walk over the document body.
struct Body<'s> {
    styles: &'s HashMap<String, Style>,
    blocks: Vec<Block>,
    /// List items waiting to become one list block.
    list: Vec<String>,
    tables: Vec<Table>,
    /// Paragraph nesting (text boxes hold paragraphs inside a paragraph's run).
    p_depth: usize,
    text: String,
    style: Option<Style>,
    is_list: bool,
    in_run: bool,
    in_text: bool,
    /// Depth inside a subtree whose text is skipped (`mc:Fallback`, deleted text).
    skip: usize,
    first_title: Option<String>,
}

impl<'s> Body<'s> {
    fn new(styles: &'s HashMap<String, Style>) -> Self {
        Body {
            styles,
            blocks: Vec::new(),
            list: Vec::new(),
            tables: Vec::new(),
            p_depth: 0,
            text: String::new(),
            style: None,
            is_list: false,
            in_run: false,
            in_text: false,
            skip: 0,
            first_title: None,
        }
    }

    fn event(&mut self, ev: Ev<'_>) {
        if self.skip > 0 {
            match ev {
                Ev::Open { .. } => self.skip += 1,
                Ev::Close { .. } => self.skip -= 1,
                Ev::Text(_) => {}
            }
            return;
        }
        match ev {
            Ev::Open { name, el } => match name {
                b"Fallback" | b"del" | b"instrText" | b"delText" => self.skip = 1,
                b"p" => {
                    if self.p_depth == 0 {
                        self.text.clear();
                        self.style = None;
                        self.is_list = false;
                    } else {
                        self.text.push(' ');
                    }
                    self.p_depth += 1;
                }
                b"pStyle" if self.p_depth == 1 => {
                    self.style =
                        attr(el, b"val").and_then(|id| self.styles.get(&id).copied().or_else(|| style_by_name(&id)));
                }
                b"outlineLvl" if self.p_depth == 1 && self.style.is_none() => self.style = outline_level(el),
                b"numPr" if self.p_depth == 1 => self.is_list = true,
                b"r" => self.in_run = true,
                b"t" if self.in_run => self.in_text = true,
                b"tab" if self.in_run => self.text.push('\t'),
                b"br" | b"cr" if self.in_run => self.text.push('\n'),
                b"tbl" => {
                    if self.tables.is_empty() {
                        self.flush_list();
                    }
                    self.tables.push(Table::default());
                }
                b"tr" => {
                    if let Some(t) = self.tables.last_mut() {
                        t.row.clear();
                    }
                }
                b"tc" => {
                    if let Some(t) = self.tables.last_mut() {
                        t.cell.clear();
                    }
                }
                _ => {}
            },
            Ev::Text(t) => {
                if self.in_text {
                    self.text.push_str(t);
                }
            }
            Ev::Close { name } => match name {
                b"t" => self.in_text = false,
                b"r" => self.in_run = false,
                b"p" => {
                    self.p_depth = self.p_depth.saturating_sub(1);
                    if self.p_depth == 0 {
                        self.end_paragraph();
                    }
                }
                b"tc" => {
                    if let Some(t) = self.tables.last_mut() {
                        let cell = super::collapse_whitespace(&t.cell);
                        t.row.push(cell);
                    }
                }
                b"tr" => {
                    if let Some(t) = self.tables.last_mut() {
                        let row = std::mem::take(&mut t.row);
                        if row.iter().any(|c| !c.is_empty()) {
                            t.rows.push(row.join(" | "));
                        }
                    }
                }
                b"tbl" => {
                    if let Some(t) = self.tables.pop() {
                        let text = t.rows.join("\n");
                        match self.tables.last_mut() {
                            // A nested table's rows become text of the outer cell.
                            Some(outer) => {
                                outer.cell.push(' ');
                                outer.cell.push_str(&text.replace('\n', "; "));
                            }
                            None => self.blocks.push(Block::new(BlockKind::Table, text)),
                        }
                    }
                }
                _ => {}
            },
        }
    }

    /// A finished top-level paragraph goes to the open table cell, the pending list, or the
    /// blocks.
    fn end_paragraph(&mut self) {
        let text = std::mem::take(&mut self.text);
        if let Some(t) = self.tables.last_mut() {
            if !t.cell.is_empty() {
                t.cell.push(' ');
            }
            t.cell.push_str(&text);
            return;
        }
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        match self.style {
            Some(Style::Heading(level)) => {
                self.flush_list();
                self.blocks.push(Block::heading(level, super::collapse_whitespace(trimmed)));
            }
            Some(Style::Title) => {
                self.flush_list();
                let title = super::collapse_whitespace(trimmed);
                if self.first_title.is_none() {
                    self.first_title = Some(title.clone());
                }
                self.blocks.push(Block::heading(1, title));
            }
            Some(Style::ListItem) => self.list.push(format!("- {}", super::collapse_whitespace(trimmed))),
            None if self.is_list => self.list.push(format!("- {}", super::collapse_whitespace(trimmed))),
            None => {
                self.flush_list();
                self.blocks.push(Block::paragraph(trimmed.replace('\t', " ")));
            }
        }
    }

    fn flush_list(&mut self) {
        if !self.list.is_empty() {
            let items = std::mem::take(&mut self.list);
            self.blocks.push(Block::new(BlockKind::List, items.join("\n")));
        }
    }

    fn finish(mut self) -> (Vec<Block>, Option<String>) {
        self.flush_list();
        (self.blocks, self.first_title)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::convert::limits::ConvertLimits;
    use crate::convert::office::testing::{core_xml, package};

    const NS: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006""#;

    fn para(style: Option<&str>, text: &str) -> String {
        let ppr = style.map(|s| format!(r#"<w:pPr><w:pStyle w:val="{s}"/></w:pPr>"#)).unwrap_or_default();
        format!(r#"<w:p>{ppr}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>"#)
    }

    /// A small DOCX: core title, a German-named heading style resolved through styles.xml,
    /// heading ids without styles, a list, a table and a deleted revision.
    pub(crate) fn sample_docx() -> Vec<u8> {
        let body = [
            para(Some("Title"), "Quarterly Report"),
            para(Some("berschrift1"), "Summary"),
            para(None, "Revenue grew &amp; costs fell."),
            r#"<w:p><w:r><w:t>Kept</w:t></w:r><w:del><w:r><w:delText>gone</w:delText></w:r></w:del><w:r><w:tab/><w:t>text</w:t></w:r></w:p>"#.to_string(),
            para(Some("Heading2"), "Details"),
            r#"<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>first item</w:t></w:r></w:p>"#.to_string(),
            r#"<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>second item</w:t></w:r></w:p>"#.to_string(),
            format!(
                "<w:tbl><w:tr><w:tc>{}</w:tc><w:tc>{}</w:tc></w:tr><w:tr><w:tc>{}</w:tc><w:tc>{}</w:tc></w:tr></w:tbl>",
                para(None, "Region"),
                para(None, "Sales"),
                para(None, "North"),
                para(None, "42")
            ),
            para(None, "After the table."),
        ]
        .concat();
        let document =
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:document {NS}><w:body>{body}</w:body></w:document>"#);
        let styles = format!(
            r#"<w:styles {NS}><w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style><w:style w:type="paragraph" w:styleId="Normal"><w:name w:val="Normal"/></w:style></w:styles>"#
        );
        package(&[
            ("[Content_Types].xml", "<Types/>"),
            ("word/document.xml", &document),
            ("word/styles.xml", &styles),
            ("docProps/core.xml", &core_xml("Q3 Report", "Ada Lovelace")),
        ])
    }

    fn convert_bytes(bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
        let limits = ConvertLimits::unlimited();
        convert(bytes, &mut Budget::new("r.docx", "docx", &limits))
    }

    #[test]
    fn headings_lists_tables_and_title() {
        let doc = convert_bytes(&sample_docx()).unwrap();
        assert_eq!(doc.title, "Q3 Report");
        assert_eq!(doc.metadata["author"], "Ada Lovelace");
        assert_eq!(doc.metadata["created"], "2024-05-01T10:00:00Z");
        assert_eq!(
            doc.kinds_and_texts(),
            [
                (BlockKind::Heading { level: 1 }, "Quarterly Report"),
                (BlockKind::Heading { level: 1 }, "Summary"),
                (BlockKind::Paragraph, "Revenue grew & costs fell."),
                (BlockKind::Paragraph, "Kept text"),
                (BlockKind::Heading { level: 2 }, "Details"),
                (BlockKind::List, "- first item\n- second item"),
                (BlockKind::Table, "Region | Sales\nNorth | 42"),
                (BlockKind::Paragraph, "After the table."),
            ]
        );
    }

    #[test]
    fn title_falls_back_to_the_title_paragraph() {
        let document = format!(
            "<w:document {NS}><w:body>{}{}</w:body></w:document>",
            para(Some("Title"), "Plan"),
            para(None, "x")
        );
        let bytes = package(&[("word/document.xml", &document)]);
        let doc = convert_bytes(&bytes).unwrap();
        assert_eq!(doc.title, "Plan");
        assert!(doc.metadata.is_empty());
    }

    #[test]
    fn style_names() {
        assert_eq!(style_by_name("heading 3"), Some(Style::Heading(3)));
        assert_eq!(style_by_name("Heading9"), Some(Style::Heading(6)));
        assert_eq!(style_by_name("Title"), Some(Style::Title));
        assert_eq!(style_by_name("List Bullet"), Some(Style::ListItem));
        assert_eq!(style_by_name("Normal"), None);
        assert_eq!(style_by_name("heading"), None);
    }

    #[test]
    fn damaged_packages_are_clear_errors() {
        let err = convert_bytes(b"PK\x03\x04 truncated").unwrap_err();
        assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
        let bytes = package(&[("other.xml", "<x/>")]);
        let err = convert_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("word/document.xml"), "{err}");
        let bytes = package(&[("word/document.xml", "<w:document><w:body><w:p></w:body>")]);
        let err = convert_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("not well-formed XML"), "{err}");
    }
}
