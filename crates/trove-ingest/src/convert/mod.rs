//! Converters from file formats to [`ParsedDocument`]s: decoding ([`decode`]: UTF-8 only,
//! binary refused), dispatch by [`Format`] ([`convert()`], [`convert_with`], [`convert_str`]),
//! the limits every conversion runs under ([`ConvertLimits`]: size, unpacked bytes, time; see
//! `limits.rs`) and the rules every converter shares (no empty blocks, whitespace tidied, the
//! title falling back to the file name). Text formats are decoded as UTF-8 and converted from
//! text; PDF and Office files are read from their bytes (`pdf.rs`, `docx.rs`, `pptx.rs`,
//! `xlsx.rs`, with the OOXML package reading they share in `office.rs`), and images, audio and
//! video by `media.rs`. Each format lives in its own submodule.

mod docx;
mod html;
mod json;
mod limits;
mod markdown;
mod media;
mod office;
mod pdf;
mod pptx;
mod rst;
mod text;
mod xlsx;

pub use limits::ConvertLimits;

use crate::document::{Block, BlockKind, ParsedDocument};
use crate::error::IngestError;
use crate::format::{Format, file_name};
use crate::source::RawDocument;
use limits::Budget;

/// Converts a document under the default [`ConvertLimits`]; see [`convert_with`].
pub fn convert(raw: &RawDocument) -> Result<ParsedDocument, IngestError> {
    convert_with(raw, &ConvertLimits::default())
}

/// Converts a document within `limits`: larger than `max_file_bytes` is
/// [`IngestError::TooLarge`]; unpacking more than `max_unpacked_bytes` is
/// [`IngestError::UnpackedTooLarge`]; taking longer than `timeout` is
/// [`IngestError::ConvertTimeout`] (the conversion runs on its own thread, abandoned at the
/// limit). Text formats are decoded first (invalid UTF-8 or binary content is an error); PDF
/// and Office files that do not parse are [`IngestError::Corrupt`]. Never panics on content:
/// a converter's panic becomes a `Corrupt` error. The raw document's `heading`, when it has
/// one, heads the result ([`place_under`]).
pub fn convert_with(raw: &RawDocument, limits: &ConvertLimits) -> Result<ParsedDocument, IngestError> {
    limits.check_size(&raw.uri, raw.bytes.len())?;
    let (uri, bytes, format, owned_limits) = (raw.uri.clone(), raw.bytes.clone(), raw.format.clone(), limits.clone());
    let mut doc = limits::run_with_time_limit(&raw.uri, raw.format.name(), limits.timeout, move || {
        convert_bytes(&uri, &bytes, &format, &owned_limits)
    })?;
    if let Some(heading) = raw.heading.as_deref() {
        place_under(&mut doc, heading);
    }
    Ok(doc)
}

/// Puts `heading` first as a level-1 heading and moves the document's own headings one level
/// down (level 6 stays 6), so every chunk's heading path starts with it.
pub fn place_under(doc: &mut ParsedDocument, heading: &str) {
    let heading = collapse_whitespace(heading);
    if heading.is_empty() {
        return;
    }
    for block in &mut doc.blocks {
        if let BlockKind::Heading { level } = &mut block.kind {
            *level = (*level + 1).min(6);
        }
    }
    doc.blocks.insert(0, Block::heading(1, heading));
}

/// A URI containing this makes the conversion sleep first, so tests can see the time limit act
/// on a conversion that is stuck where no budget check can stop it.
#[cfg(test)]
pub(crate) const SLOW_CONVERSION_MARKER: &str = "__trove_slow_conversion__";

/// A small DOCX made in the tests (headings, a list, a table, core title `Q3 Report`), for
/// the tests of other modules.
#[cfg(test)]
pub(crate) fn docx_sample_for_tests() -> Vec<u8> {
    docx::tests::sample_docx()
}

/// A small PDF made in the tests (an Info title, one page per entry of `pages`, each a list of
/// lines), for the tests of other modules.
#[cfg(test)]
pub(crate) fn pdf_sample_for_tests(pages: &[&[&str]]) -> Vec<u8> {
    pdf::tests::sample_pdf(pages)
}

/// The conversion itself, on whatever thread runs it.
fn convert_bytes(
    uri: &str,
    bytes: &[u8],
    format: &Format,
    limits: &ConvertLimits,
) -> Result<ParsedDocument, IngestError> {
    #[cfg(test)]
    if uri.contains(SLOW_CONVERSION_MARKER) {
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
    let mut budget = Budget::new(uri, format.name(), limits);
    let mut doc = match format {
        Format::Pdf => pdf::convert(bytes, &mut budget)?,
        Format::Docx => docx::convert(bytes, &mut budget)?,
        Format::Pptx => pptx::convert(bytes, &mut budget)?,
        Format::Xlsx => xlsx::convert(bytes, &mut budget)?,
        Format::Image | Format::Audio | Format::Video => media::convert(bytes, format, &mut budget)?,
        Format::Markdown | Format::Text | Format::Rst | Format::Html | Format::Json | Format::Code { .. } => {
            let text = decode(uri, bytes)?;
            return convert_str(uri, &text, format);
        }
    };
    finish(&mut doc, uri);
    Ok(doc)
}

/// Converts already-decoded text of the given format; `uri` names the document in errors and
/// gives the fallback title (its file name). The binary formats (PDF, Office) are read from
/// the text's bytes, with the default limits on unpacking but no time limit.
pub fn convert_str(uri: &str, text: &str, format: &Format) -> Result<ParsedDocument, IngestError> {
    let normalized = normalize_newlines(text);
    let mut doc = match format {
        Format::Markdown => markdown::convert(&normalized),
        Format::Text => text::convert_text(&normalized),
        Format::Rst => rst::convert(&normalized),
        Format::Html => html::convert(&normalized),
        Format::Json => json::convert(uri, &normalized)?,
        Format::Code { language } => text::convert_code(&normalized, language),
        Format::Pdf | Format::Docx | Format::Pptx | Format::Xlsx | Format::Image | Format::Audio | Format::Video => {
            let limits = ConvertLimits { timeout: None, ..ConvertLimits::default() };
            return convert_bytes(uri, text.as_bytes(), format, &limits);
        }
    };
    finish(&mut doc, uri);
    Ok(doc)
}

/// Decodes a document's bytes as UTF-8 (a leading byte-order mark is dropped). Content with NUL
/// bytes is binary and refused, as is invalid UTF-8; the error names the URI and the position.
pub fn decode(uri: &str, bytes: &[u8]) -> Result<String, IngestError> {
    if bytes.contains(&0) {
        return Err(IngestError::Binary { uri: uri.to_string() });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let offset = e.valid_up_to();
            let line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count();
            Err(IngestError::InvalidUtf8 { uri: uri.to_string(), line, offset })
        }
    }
}

/// `\r\n` and lone `\r` become `\n`.
fn normalize_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Rules shared by all converters: drop empty blocks, tidy non-code text, fall back to the file
/// name for the title.
fn finish(doc: &mut ParsedDocument, uri: &str) {
    for block in &mut doc.blocks {
        match block.kind {
            BlockKind::Code { .. } => {
                block.text = trim_blank_lines(&block.text).to_string();
            }
            BlockKind::Heading { .. } => block.text = collapse_whitespace(&block.text),
            _ => block.text = tidy_lines(&block.text),
        }
    }
    doc.blocks.retain(|b| !b.text.trim().is_empty());
    doc.title = collapse_whitespace(&doc.title);
    if doc.title.is_empty() {
        let name = file_name(uri);
        doc.title = if name.is_empty() { "untitled".to_string() } else { name.to_string() };
    }
}

/// The text of the first heading block, if any.
fn first_heading(blocks: &[Block]) -> Option<String> {
    blocks.iter().find(|b| b.is_heading() && !b.text.trim().is_empty()).map(|b| collapse_whitespace(&b.text))
}

/// Runs of whitespace (newlines included) become one space; ends trimmed.
pub(crate) fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Trailing whitespace removed from every line, runs of blank lines reduced to one, and blank
/// lines at both ends dropped. Leading indentation is kept.
pub(crate) fn tidy_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = false;
    for line in s.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_run {
                out.push('\n');
            }
        }
        blank_run = false;
        out.push_str(line);
    }
    out
}

/// Blank lines at both ends removed and trailing whitespace of the last line trimmed; the
/// first line's indentation is kept.
pub(crate) fn trim_blank_lines(s: &str) -> &str {
    let s = s.trim_end();
    let mut start = 0;
    for line in s.split_inclusive('\n') {
        if line.trim().is_empty() {
            start += line.len();
        } else {
            break;
        }
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_types::{Code, HasCode};

    fn raw(uri: &str, bytes: &[u8]) -> RawDocument {
        RawDocument::new(uri, bytes.to_vec(), Format::from_path(uri).unwrap(), 0)
    }

    #[test]
    fn binary_and_invalid_utf8_are_unreadable() {
        let err = convert(&raw("a.txt", b"hello\0world")).unwrap_err();
        assert!(matches!(err, IngestError::Binary { .. }), "{err:?}");
        assert_eq!(err.code(), Code::DocumentUnreadable);
        assert!(err.to_string().contains("a.txt"));

        let err = convert(&raw("b.md", b"line one\nline \xff two")).unwrap_err();
        match &err {
            IngestError::InvalidUtf8 { line, offset, .. } => {
                assert_eq!(*line, 2);
                assert_eq!(*offset, 14);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.code(), Code::DocumentUnreadable);
        // A PNG header: binary.
        assert!(convert(&raw("c.md", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")).is_err());
    }

    #[test]
    fn bom_and_crlf_are_handled() {
        let doc = convert(&raw("a.md", b"\xEF\xBB\xBF# Title\r\n\r\nBody line\r\n")).unwrap();
        assert_eq!(doc.title, "Title");
        assert_eq!(doc.blocks[1].text, "Body line");
    }

    #[test]
    fn empty_documents_convert_to_nothing_with_file_name_title() {
        for uri in ["e.md", "e.txt", "e.rst", "e.html", "e.rs", "dir/e.py"] {
            let doc = convert(&raw(uri, b"")).unwrap();
            assert!(doc.blocks.is_empty(), "{uri}");
            assert_eq!(doc.title, file_name(uri));
            let doc = convert(&raw(uri, b"  \n\n \t\n")).unwrap();
            assert!(doc.blocks.is_empty(), "{uri}");
        }
        // Empty JSON is not valid JSON.
        assert!(matches!(convert(&raw("e.json", b"")), Err(IngestError::InvalidJson { .. })));
    }

    #[test]
    fn office_and_pdf_files_dispatch_to_their_converters() {
        let doc = convert(&raw("r.docx", &docx::tests::sample_docx())).unwrap();
        assert_eq!(doc.title, "Q3 Report");
        assert!(doc.blocks.iter().any(|b| b.kind == BlockKind::Heading { level: 2 } && b.text == "Details"));
        let doc = convert(&raw("g.pdf", &pdf::tests::sample_pdf(&[&["Hello PDF"]]))).unwrap();
        assert_eq!(doc.title, "Field Guide");
        assert_eq!(doc.blocks[1].text, "Hello PDF");
        // Binary formats handed over as text are read from its bytes.
        let err = convert_str("d/scan.xlsx", "", &Format::Xlsx).unwrap_err();
        assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn corrupt_binary_files_are_clear_errors_not_panics() {
        for uri in ["a.pdf", "a.docx", "a.pptx", "a.xlsx"] {
            let err = convert(&raw(uri, b"\x00\x01 definitely not a document")).unwrap_err();
            assert!(matches!(err, IngestError::Corrupt { .. }), "{uri}: {err:?}");
            assert_eq!(err.code(), Code::DocumentUnreadable);
            let msg = err.to_string();
            assert!(msg.contains(uri) && msg.contains("not a readable"), "{msg}");
        }
    }

    #[test]
    fn the_size_limit_applies_before_parsing() {
        let bytes = docx::tests::sample_docx();
        let limits = ConvertLimits { max_file_bytes: 100, ..ConvertLimits::default() };
        let err = convert_with(&raw("big.docx", &bytes), &limits).unwrap_err();
        match &err {
            IngestError::TooLarge { size, max: 100, .. } => assert_eq!(*size, bytes.len() as u64),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("ingest.max_file_bytes"), "{err}");
        assert!(convert_with(&raw("big.md", &[b'x'; 101]), &limits).is_err());
        assert!(convert_with(&raw("ok.md", &[b'x'; 100]), &limits).is_ok());
    }

    #[test]
    fn a_conversion_past_the_time_limit_fails_alone() {
        let limits = ConvertLimits { timeout: Some(std::time::Duration::from_millis(500)), ..ConvertLimits::default() };
        let started = std::time::Instant::now();
        let uri = format!("{SLOW_CONVERSION_MARKER}.docx");
        let err = convert_with(&raw(&uri, &docx::tests::sample_docx()), &limits).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "waited {:?}", started.elapsed());
        assert!(matches!(err, IngestError::ConvertTimeout { .. }), "{err:?}");
        assert!(err.to_string().contains("ingest.convert_timeout_s"), "{err}");
        // The next document converts normally.
        assert!(convert_with(&raw("next.docx", &docx::tests::sample_docx()), &limits).is_ok());
    }

    #[test]
    fn helpers() {
        assert_eq!(collapse_whitespace("  a \n\t b  "), "a b");
        assert_eq!(tidy_lines("\n\n  a  \n\n\n\nb \n\n"), "  a\n\nb");
        assert_eq!(trim_blank_lines("\n  \n    x\n  y\n\n"), "    x\n  y");
        assert_eq!(trim_blank_lines(""), "");
    }

    #[test]
    fn a_heading_given_by_the_source_heads_the_document() {
        let mut doc = raw("plan.md", b"# Plan\n\nStep one.\n\n###### Deep\n\nx\n");
        doc.heading = Some("Home >  Deploy > plan.md".into());
        let parsed = convert(&doc).unwrap();
        let headings: Vec<_> = parsed
            .blocks
            .iter()
            .filter_map(|b| match b.kind {
                BlockKind::Heading { level } => Some((level, b.text.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(headings, [(1, "Home > Deploy > plan.md"), (2, "Plan"), (6, "Deep")]);
        assert_eq!(parsed.title, "Plan", "the title is the converter's");
    }
}
