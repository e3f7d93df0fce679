//! PDF to blocks, with lopdf: one level-1 section per page with text, headed `Page N`, whose
//! text is the page's shown strings in content-stream order (a line break where the text
//! moves to a new line, a space where a `TJ` gap or a horizontal move separates words).
//! Strings are decoded through each font's encoding or `ToUnicode` map; a string whose font
//! lopdf cannot decode is kept only when it reads as plain Latin-1 text. Text drawn inside form
//! XObjects, and text only in images (scans), is not extracted. Documents encrypted with an
//! empty user password (permissions only) are decrypted when lopdf supports the cipher;
//! others fail with a clear error. The title and the other `Info` fields (author, subject,
//! keywords, creator, producer, dates) become the title and metadata, with `pages`.
//!
//! Page contents compressed with Flate are inflated here, within the unpacked-bytes budget;
//! other filters go through lopdf and are counted after the fact. Object streams are
//! inflated by lopdf while loading, outside the budget: the time limit still bounds them.

use std::collections::BTreeMap;
use std::io::Read;

use lopdf::content::Content;
use lopdf::{Document, Encoding, Object, ObjectId, Stream};
use serde_json::{Map, Value};

use super::limits::Budget;
use crate::document::{Block, ParsedDocument};
use crate::error::IngestError;

/// A `TJ` displacement (thousandths of a text space unit) more negative than this is a word gap.
const TJ_WORD_GAP: f32 = -200.0;

/// Converts a PDF file.
pub(super) fn convert(bytes: &[u8], budget: &mut Budget<'_>) -> Result<ParsedDocument, IngestError> {
    // The header may follow some junk, within the first KiB.
    if find(&bytes[..bytes.len().min(1024)], b"%PDF-").is_none() {
        return Err(budget.corrupt("it has no %PDF- header"));
    }
    let mut doc = Document::load_mem(bytes).map_err(|e| budget.corrupt(format!("it does not parse ({e})")))?;
    budget.check_time()?;
    if doc.is_encrypted() {
        doc.decrypt("")
            .map_err(|e| budget.corrupt(format!("it is encrypted and cannot be opened without its password ({e})")))?;
    }
    let mut metadata = info(&doc);
    let pages = doc.get_pages();
    let mut blocks = Vec::new();
    for (&number, &page_id) in &pages {
        budget.check_time()?;
        let text = page_text(&doc, page_id, budget)?;
        if !text.trim().is_empty() {
            blocks.push(Block::heading(1, format!("Page {number}")));
            blocks.push(Block::paragraph(text));
        }
    }
    metadata.insert("pages".into(), Value::from(pages.len()));
    let title = metadata.get("title").and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(ParsedDocument { title, blocks, metadata })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The trailer's `Info` dictionary as metadata.
fn info(doc: &Document) -> Map<String, Value> {
    let mut meta = Map::new();
    let Ok(info) = doc.trailer.get(b"Info").and_then(|o| doc.dereference(o)).and_then(|(_, o)| o.as_dict()) else {
        return meta;
    };
    for (key, name) in [
        (&b"Title"[..], "title"),
        (b"Author", "author"),
        (b"Subject", "subject"),
        (b"Keywords", "keywords"),
        (b"Creator", "creator"),
        (b"Producer", "producer"),
        (b"CreationDate", "created"),
        (b"ModDate", "modified"),
    ] {
        let value = info
            .get(key)
            .and_then(|o| doc.dereference(o))
            .and_then(|(_, o)| lopdf::decode_text_string(o))
            .map(|s| super::collapse_whitespace(&s))
            .map(|s| if name == "created" || name == "modified" { pdf_date(&s).unwrap_or(s) } else { s });
        if let Ok(value) = value
            && !value.is_empty()
        {
            meta.insert(name.to_string(), Value::String(value));
        }
    }
    meta
}

/// A PDF date (`D:YYYYMMDDHHmmSS+HH'mm'`, every part after the year optional) as ISO 8601;
/// `None` when it does not start with a year.
fn pdf_date(s: &str) -> Option<String> {
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let part = |from: usize, default: &str| digits.get(from..from + 2).unwrap_or(default).to_string();
    let mut out = format!("{}-{}-{}", &digits[..4], part(4, "01"), part(6, "01"));
    if digits.len() >= 12 {
        out.push_str(&format!("T{}:{}:{}", part(8, "00"), part(10, "00"), part(12, "00")));
        let zone: String = s[digits.len()..].chars().filter(|c| !matches!(c, '\'')).collect();
        match zone.as_str() {
            "" => {}
            "Z" => out.push('Z'),
            z if (z.starts_with('+') || z.starts_with('-'))
                && z.len() >= 3
                && z[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push_str(&format!("{}:{}", &z[..3], z.get(3..5).unwrap_or("00")));
            }
            _ => {}
        }
    }
    Some(out)
}

/// A page's content streams, unpacked and concatenated.
fn page_content(doc: &Document, page_id: ObjectId, budget: &mut Budget<'_>) -> Result<Vec<u8>, IngestError> {
    let mut content = Vec::new();
    for id in doc.get_page_contents(page_id) {
        if let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) {
            content.extend(unpack(stream, budget)?);
            content.push(b'\n');
        }
    }
    Ok(content)
}

/// A stream's decoded bytes, counted against the budget. Flate is inflated here, stopping just
/// past the budget; a damaged stream yields what inflated before the damage.
fn unpack(stream: &Stream, budget: &mut Budget<'_>) -> Result<Vec<u8>, IngestError> {
    let filters: Vec<&[u8]> = match stream.dict.get(b"Filter") {
        Ok(Object::Name(name)) => vec![name.as_slice()],
        Ok(Object::Array(list)) => list.iter().filter_map(|o| o.as_name().ok()).collect(),
        _ => Vec::new(),
    };
    let data = match filters.as_slice() {
        [] => stream.content.clone(),
        [b"FlateDecode"] => {
            let mut out = Vec::new();
            let cap = budget.unpack_remaining().saturating_add(1);
            // On damage, read_to_end keeps what was inflated before it.
            let _ = flate2::read::ZlibDecoder::new(stream.content.as_slice()).take(cap).read_to_end(&mut out);
            out
        }
        _ => stream.decompressed_content().unwrap_or_else(|_| stream.content.clone()),
    };
    budget.unpacked(data.len() as u64)?;
    Ok(data)
}

/// The text a page shows.
fn page_text(doc: &Document, page_id: ObjectId, budget: &mut Budget<'_>) -> Result<String, IngestError> {
    let content = page_content(doc, page_id, budget)?;
    let operations = match Content::decode(&content) {
        Ok(c) => c.operations,
        Err(e) => {
            tracing::debug!(uri = budget.uri, page = ?page_id, error = %e, "a PDF page's content does not parse; its text is skipped");
            return Ok(String::new());
        }
    };
    let fonts = doc.get_page_fonts(page_id).unwrap_or_default();
    let encodings: BTreeMap<Vec<u8>, Encoding<'_>> = fonts
        .into_iter()
        // lopdf asserts (in debug builds) that it is handed a font dictionary.
        .filter(|(_, font)| font.type_is(b"Font"))
        .filter_map(|(name, font)| font.get_font_encoding(doc).ok().map(|e| (name, e)))
        .collect();

    let mut text = Text::default();
    let mut encoding: Option<&Encoding<'_>> = None;
    let mut last_y: Option<f32> = None;
    for (i, op) in operations.iter().enumerate() {
        if i % 4096 == 4095 {
            budget.check_time()?;
        }
        let operands = &op.operands;
        match op.operator.as_str() {
            "Tf" => encoding = operands.first().and_then(|o| o.as_name().ok()).and_then(|n| encodings.get(n)),
            "Tj" => text.show(operands.first(), encoding),
            "TJ" => {
                for item in operands.first().and_then(|o| o.as_array().ok()).into_iter().flatten() {
                    match item {
                        Object::Integer(_) | Object::Real(_) => {
                            if item.as_float().is_ok_and(|gap| gap < TJ_WORD_GAP) {
                                text.space();
                            }
                        }
                        other => text.show(Some(other), encoding),
                    }
                }
            }
            "'" => {
                text.newline();
                text.show(operands.first(), encoding);
            }
            "\"" => {
                text.newline();
                text.show(operands.get(2), encoding);
            }
            "T*" | "ET" => text.newline(),
            "Td" | "TD" => {
                let dy = operands.get(1).and_then(|o| o.as_float().ok()).unwrap_or(0.0);
                if dy.abs() > f32::EPSILON {
                    text.newline();
                } else {
                    text.space();
                }
            }
            "Tm" => {
                let y = operands.get(5).and_then(|o| o.as_float().ok());
                if y.is_some() && last_y.is_some() && y != last_y {
                    text.newline();
                } else {
                    text.space();
                }
                last_y = y;
            }
            _ => {}
        }
    }
    Ok(text.out.trim_end().to_string())
}

/// Page text being assembled, without doubled separators.
#[derive(Default)]
struct Text {
    out: String,
}

impl Text {
    fn show(&mut self, operand: Option<&Object>, encoding: Option<&Encoding<'_>>) {
        let Some(Object::String(bytes, _)) = operand else { return };
        let decoded = encoding.and_then(|e| Document::decode_text(e, bytes).ok()).or_else(|| latin1_text(bytes));
        if let Some(s) = decoded {
            self.out.extend(s.chars().filter(|c| !c.is_control() || *c == '\t'));
        }
    }

    fn space(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with(char::is_whitespace) {
            self.out.push(' ');
        }
    }

    fn newline(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }
}

/// Bytes read as Latin-1 when they look like text (mostly printable ASCII); else nothing,
/// since glyph ids of an undecodable font would be noise.
fn latin1_text(bytes: &[u8]) -> Option<String> {
    let printable = bytes.iter().filter(|&&b| (0x20..0x7F).contains(&b) || b == b'\t').count();
    (printable * 10 >= bytes.len() * 9).then(|| bytes.iter().map(|&b| char::from(b)).collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::convert::limits::ConvertLimits;
    use lopdf::content::Operation;
    use lopdf::{Stream, dictionary};

    /// A PDF made with lopdf's writer: an Info title and author, and one page per entry of
    /// `pages`, each a list of lines (the second page's content Flate-compressed).
    pub(crate) fn sample_pdf(pages: &[&[&str]]) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
        });
        let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
        let mut kids = Vec::new();
        for lines in pages {
            let mut ops = vec![Operation::new("BT", vec![]), Operation::new("Tf", vec!["F1".into(), 12.into()])];
            ops.push(Operation::new("Td", vec![72.into(), 720.into()]));
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    ops.push(Operation::new("Td", vec![0.into(), (-14).into()]));
                }
                // Words as a TJ array with a word gap, to exercise spacing.
                let words: Vec<Object> = line
                    .split(' ')
                    .enumerate()
                    .flat_map(|(j, w)| {
                        let gap = (j > 0).then(|| Object::Integer(-250));
                        gap.into_iter().chain([Object::string_literal(w)])
                    })
                    .collect();
                ops.push(Operation::new("TJ", vec![Object::Array(words)]));
            }
            ops.push(Operation::new("ET", vec![]));
            let content = Content { operations: ops }.encode().unwrap();
            let content_id = doc.add_object(Stream::new(dictionary! {}, content));
            kids.push(
                doc.add_object(dictionary! {
                    "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
                })
                .into(),
            );
        }
        let count = kids.len() as i64;
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
                "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let info_id = doc.add_object(dictionary! {
            "Title" => Object::string_literal("Field Guide"), "Author" => Object::string_literal("Mary Anning"),
        });
        doc.trailer.set("Info", info_id);
        doc.compress();
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn convert_bytes(bytes: &[u8], limits: &ConvertLimits) -> Result<ParsedDocument, IngestError> {
        convert(bytes, &mut Budget::new("guide.pdf", "pdf", limits))
    }

    #[test]
    fn pages_become_sections_and_info_the_title() {
        let bytes = sample_pdf(&[&["Fossils of Lyme Regis", "Found in 1811."], &[], &["Ichthyosaur notes"]]);
        let doc = convert_bytes(&bytes, &ConvertLimits::unlimited()).unwrap();
        assert_eq!(doc.title, "Field Guide");
        assert_eq!(doc.metadata["author"], "Mary Anning");
        assert_eq!(doc.metadata["pages"], 3);
        let texts: Vec<&str> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["Page 1", "Fossils of Lyme Regis\nFound in 1811.", "Page 3", "Ichthyosaur notes"]);
        assert!(doc.blocks[0].is_heading());
    }

    #[test]
    fn compressed_content_counts_against_the_unpacked_limit() {
        let long = "word ".repeat(2000);
        let bytes = sample_pdf(&[&[long.trim()]]);
        let limits = ConvertLimits { max_unpacked_bytes: 1000, ..ConvertLimits::unlimited() };
        let err = convert_bytes(&bytes, &limits).unwrap_err();
        assert!(matches!(err, IngestError::UnpackedTooLarge { max: 1000, .. }), "{err:?}");
    }

    #[test]
    fn damaged_files_are_clear_errors() {
        let err = convert_bytes(b"not a pdf at all", &ConvertLimits::unlimited()).unwrap_err();
        assert!(err.to_string().contains("no %PDF- header"), "{err}");
        let mut bytes = sample_pdf(&[&["text"]]);
        bytes.truncate(bytes.len() / 3);
        let err = convert_bytes(&bytes, &ConvertLimits::unlimited()).unwrap_err();
        assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("guide.pdf") && err.to_string().contains("pdf file"), "{err}");
    }

    #[test]
    fn pdf_dates_become_iso() {
        assert_eq!(pdf_date("D:20240501103000+02'00'").as_deref(), Some("2024-05-01T10:30:00+02:00"));
        assert_eq!(pdf_date("D:20240501103000Z").as_deref(), Some("2024-05-01T10:30:00Z"));
        assert_eq!(pdf_date("D:2024").as_deref(), Some("2024-01-01"));
        assert_eq!(pdf_date("yesterday"), None);
    }

    #[test]
    fn latin1_fallback_only_for_text() {
        assert_eq!(latin1_text(b"Hello").as_deref(), Some("Hello"));
        assert_eq!(latin1_text(&[0, 3, 0, 17]), None);
    }
}
