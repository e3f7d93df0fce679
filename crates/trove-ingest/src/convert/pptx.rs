//! PowerPoint presentations (PPTX) to blocks: one level-1 section per slide, in the order of
//! `ppt/presentation.xml`, headed `Slide N: <title>` (the slide's title placeholder; just
//! `Slide N` without one). Each text shape becomes a paragraph (one line per text paragraph),
//! each table one row per line with cells separated by ` | `, and the speaker notes (the body
//! placeholder of the slide's notes part) a paragraph starting `Notes:`. The title comes from
//! `docProps/core.xml`, else the first slide's title; the other core properties become
//! metadata, with `slides`, the number of slides.

use serde_json::Value;

use super::limits::Budget;
use super::office::{self, Ev, Package, attr, prefixed_attr};
use crate::document::{Block, BlockKind, ParsedDocument};
use crate::error::IngestError;

/// Converts a PPTX file.
pub(super) fn convert(bytes: &[u8], budget: &mut Budget<'_>) -> Result<ParsedDocument, IngestError> {
    let mut pkg = Package::open(bytes, budget)?;
    let slides = slide_parts(&mut pkg, budget)?;
    let mut blocks = Vec::new();
    let mut first_title = None;
    for (i, part) in slides.iter().enumerate() {
        let Some(xml) = pkg.part(part, budget)? else { continue };
        let slide = read_slide(&xml, part, budget)?;
        let heading = match &slide.title {
            Some(t) => format!("Slide {}: {t}", i + 1),
            None => format!("Slide {}", i + 1),
        };
        if first_title.is_none() {
            first_title = slide.title.clone();
        }
        blocks.push(Block::heading(1, heading));
        blocks.extend(slide.blocks);
        if let Some(notes) = notes_part(&mut pkg, part, budget)?
            && let Some(xml) = pkg.part(&notes, budget)?
        {
            let notes = read_notes(&xml, &notes, budget)?;
            if !notes.trim().is_empty() {
                blocks.push(Block::paragraph(format!("Notes: {notes}")));
            }
        }
    }
    let mut metadata = office::core_properties(&mut pkg, budget)?;
    metadata.insert("slides".into(), Value::from(slides.len()));
    let title = office::title_of(&metadata).or(first_title).unwrap_or_default();
    Ok(ParsedDocument { title, blocks, metadata })
}

/// The slides' part names in presentation order: `p:sldIdLst` through the presentation's
/// relationships, else every `ppt/slides/slideN.xml` by N.
fn slide_parts(pkg: &mut Package<'_>, budget: &mut Budget<'_>) -> Result<Vec<String>, IngestError> {
    let presentation = office::rels(pkg, "", budget)?
        .into_iter()
        .find(|r| r.kind == "officeDocument")
        .map(|r| r.target)
        .unwrap_or_else(|| "ppt/presentation.xml".to_string());
    if let Some(xml) = pkg.part(&presentation, budget)? {
        let mut ids = Vec::new();
        office::walk(&xml, &presentation, budget, |ev| {
            if let Ev::Open { name: b"sldId", el } = ev
                && let Some(id) = prefixed_attr(el, b"id")
            {
                ids.push(id);
            }
        })?;
        let rels = office::rels(pkg, &presentation, budget)?;
        let parts: Vec<String> =
            ids.iter().filter_map(|id| rels.iter().find(|r| &r.id == id).map(|r| r.target.clone())).collect();
        if !parts.is_empty() {
            return Ok(parts);
        }
    }
    let mut numbered: Vec<(u32, String)> = pkg
        .names()
        .into_iter()
        .filter_map(|n| {
            let num = n.strip_prefix("ppt/slides/slide")?.strip_suffix(".xml")?.parse().ok()?;
            Some((num, n))
        })
        .collect();
    if numbered.is_empty() && pkg.part(&presentation, budget)?.is_none() {
        return Err(budget.corrupt(format!("the package has no {presentation} (is it really a .pptx?)")));
    }
    numbered.sort();
    Ok(numbered.into_iter().map(|(_, n)| n).collect())
}

/// The notes part of a slide, if it has one.
fn notes_part(pkg: &mut Package<'_>, slide: &str, budget: &mut Budget<'_>) -> Result<Option<String>, IngestError> {
    Ok(office::rels(pkg, slide, budget)?.into_iter().find(|r| r.kind == "notesSlide").map(|r| r.target))
}

/// What one slide says.
#[derive(Debug, Default)]
struct Slide {
    title: Option<String>,
    blocks: Vec<Block>,
}

/// Shapes and tables of a slide (or notes page), with each shape's placeholder type.
#[derive(Default)]
struct Shapes {
    /// (placeholder type, text lines) of each finished text shape.
    shapes: Vec<(Option<String>, Vec<String>)>,
    /// Finished tables, one row per line, and the shape index they follow.
    tables: Vec<(usize, String)>,
    placeholder: Option<String>,
    lines: Vec<String>,
    line: String,
    in_text: bool,
    in_shape: usize,
    table: Option<(Vec<String>, Vec<String>, String)>,
}

impl Shapes {
    fn event(&mut self, ev: Ev<'_>) {
        match ev {
            Ev::Open { name, el } => match name {
                b"sp" => {
                    self.in_shape += 1;
                    if self.in_shape == 1 {
                        self.placeholder = None;
                        self.lines.clear();
                    }
                }
                b"ph" if self.in_shape > 0 => {
                    self.placeholder = Some(attr(el, b"type").unwrap_or_else(|| "body".into()));
                }
                b"p" => self.line.clear(),
                b"t" => self.in_text = true,
                b"br" => self.line.push('\n'),
                b"tbl" => self.table = Some(Default::default()),
                _ => {}
            },
            Ev::Text(t) => {
                if self.in_text {
                    self.line.push_str(t);
                }
            }
            Ev::Close { name } => match name {
                b"t" => self.in_text = false,
                b"p" => {
                    let line = super::collapse_whitespace(&self.line);
                    if line.is_empty() {
                        return;
                    }
                    match &mut self.table {
                        Some((_, _, cell)) => {
                            if !cell.is_empty() {
                                cell.push(' ');
                            }
                            cell.push_str(&line);
                        }
                        None => self.lines.push(line),
                    }
                }
                b"tc" => {
                    if let Some((_, row, cell)) = &mut self.table {
                        row.push(std::mem::take(cell));
                    }
                }
                b"tr" => {
                    if let Some((rows, row, _)) = &mut self.table {
                        let row = std::mem::take(row);
                        if row.iter().any(|c| !c.is_empty()) {
                            rows.push(row.join(" | "));
                        }
                    }
                }
                b"tbl" => {
                    if let Some((rows, _, _)) = self.table.take()
                        && !rows.is_empty()
                    {
                        self.tables.push((self.shapes.len(), rows.join("\n")));
                    }
                }
                b"sp" => {
                    self.in_shape = self.in_shape.saturating_sub(1);
                    if self.in_shape == 0 && !self.lines.is_empty() {
                        self.shapes.push((self.placeholder.take(), std::mem::take(&mut self.lines)));
                    }
                }
                _ => {}
            },
        }
    }
}

fn is_title(placeholder: &Option<String>) -> bool {
    matches!(placeholder.as_deref(), Some("title" | "ctrTitle"))
}

fn read_slide(xml: &str, part: &str, budget: &Budget<'_>) -> Result<Slide, IngestError> {
    let mut shapes = Shapes::default();
    office::walk(xml, part, budget, |ev| shapes.event(ev))?;
    let mut slide = Slide::default();
    let mut tables = shapes.tables.into_iter().peekable();
    for (i, (placeholder, lines)) in shapes.shapes.into_iter().enumerate() {
        while let Some((_, table)) = tables.next_if(|(at, _)| *at <= i) {
            slide.blocks.push(Block::new(BlockKind::Table, table));
        }
        // Slide numbers, dates and footers are not content.
        if matches!(placeholder.as_deref(), Some("sldNum" | "dt" | "ftr")) {
            continue;
        }
        if is_title(&placeholder) && slide.title.is_none() {
            slide.title = Some(lines.join(" "));
        } else {
            slide.blocks.push(Block::paragraph(lines.join("\n")));
        }
    }
    slide.blocks.extend(tables.map(|(_, t)| Block::new(BlockKind::Table, t)));
    Ok(slide)
}

/// The text of a notes page's body placeholder.
fn read_notes(xml: &str, part: &str, budget: &Budget<'_>) -> Result<String, IngestError> {
    let mut shapes = Shapes::default();
    office::walk(xml, part, budget, |ev| shapes.event(ev))?;
    Ok(shapes
        .shapes
        .into_iter()
        .filter(|(ph, _)| ph.as_deref() == Some("body"))
        .flat_map(|(_, lines)| lines)
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::limits::ConvertLimits;
    use crate::convert::office::testing::{core_xml, package};

    const NS: &str = r#"xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main""#;

    fn shape(ph: Option<&str>, paragraphs: &[&str]) -> String {
        let ph = ph.map(|t| format!(r#"<p:nvPr><p:ph type="{t}"/></p:nvPr>"#)).unwrap_or_else(|| "<p:nvPr/>".into());
        let paras: String = paragraphs.iter().map(|t| format!("<a:p><a:r><a:t>{t}</a:t></a:r></a:p>")).collect();
        format!("<p:sp><p:nvSpPr><p:cNvPr id=\"2\" name=\"x\"/>{ph}</p:nvSpPr><p:txBody>{paras}</p:txBody></p:sp>")
    }

    fn slide(shapes: &str) -> String {
        format!(r#"<p:sld {NS}><p:cSld><p:spTree>{shapes}</p:spTree></p:cSld></p:sld>"#)
    }

    fn rels(items: &[(&str, &str, &str)]) -> String {
        let body: String = items
            .iter()
            .map(|(id, kind, target)| {
                format!(
                    r#"<Relationship Id="{id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{target}"/>"#
                )
            })
            .collect();
        format!(
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{body}</Relationships>"#
        )
    }

    fn sample() -> Vec<u8> {
        // Slide order comes from the presentation, not the part names.
        let presentation = format!(
            r#"<p:presentation {NS}><p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>"#
        );
        let table = r#"<p:graphicFrame><a:graphic><a:graphicData><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Q</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Sales</a:t></a:r></a:p></a:txBody></a:tc></a:tr><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Q1</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>10</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></a:graphicData></a:graphic></p:graphicFrame>"#;
        let first =
            slide(&[shape(Some("ctrTitle"), &["Roadmap 2025"]), shape(Some("subTitle"), &["Team Atlas"])].concat());
        let second = slide(
            &[
                shape(Some("title"), &["Goals"]),
                shape(None, &["Ship search", "Cut latency"]),
                table.to_string(),
                shape(Some("sldNum"), &["2"]),
            ]
            .concat(),
        );
        let notes = format!(
            r#"<p:notes {NS}><p:cSld><p:spTree>{}{}</p:spTree></p:cSld></p:notes>"#,
            shape(Some("sldImg"), &[]),
            shape(Some("body"), &["Mention the budget."])
        );
        package(&[
            ("_rels/.rels", &rels(&[("rId1", "officeDocument", "ppt/presentation.xml")])),
            ("ppt/presentation.xml", &presentation),
            (
                "ppt/_rels/presentation.xml.rels",
                &rels(&[("rId2", "slide", "slides/slide2.xml"), ("rId3", "slide", "slides/slide1.xml")]),
            ),
            ("ppt/slides/slide1.xml", &first),
            ("ppt/slides/slide2.xml", &second),
            ("ppt/slides/_rels/slide2.xml.rels", &rels(&[("rId1", "notesSlide", "../notesSlides/notesSlide1.xml")])),
            ("ppt/notesSlides/notesSlide1.xml", &notes),
            ("docProps/core.xml", &core_xml("", "Grace")),
        ])
    }

    fn convert_bytes(bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
        let limits = ConvertLimits::unlimited();
        convert(bytes, &mut Budget::new("deck.pptx", "pptx", &limits))
    }

    #[test]
    fn one_section_per_slide_with_tables_and_notes() {
        let doc = convert_bytes(&sample()).unwrap();
        assert_eq!(doc.title, "Roadmap 2025");
        assert_eq!(doc.metadata["slides"], 2);
        assert_eq!(doc.metadata["author"], "Grace");
        assert_eq!(
            doc.kinds_and_texts(),
            [
                (BlockKind::Heading { level: 1 }, "Slide 1: Roadmap 2025"),
                (BlockKind::Paragraph, "Team Atlas"),
                (BlockKind::Heading { level: 1 }, "Slide 2: Goals"),
                (BlockKind::Paragraph, "Ship search\nCut latency"),
                (BlockKind::Table, "Q | Sales\nQ1 | 10"),
                (BlockKind::Paragraph, "Notes: Mention the budget."),
            ]
        );
    }

    #[test]
    fn slides_without_a_presentation_part_are_found_by_name() {
        let bytes = package(&[
            ("ppt/slides/slide10.xml", &slide(&shape(None, &["ten"]))),
            ("ppt/slides/slide2.xml", &slide(&shape(None, &["two"]))),
        ]);
        let doc = convert_bytes(&bytes).unwrap();
        let texts: Vec<&str> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["Slide 1", "two", "Slide 2", "ten"]);
        let err = convert_bytes(&package(&[("x.xml", "<x/>")])).unwrap_err();
        assert!(err.to_string().contains("ppt/presentation.xml"), "{err}");
    }
}
