//! Converters from file formats to [`ParsedDocument`]s: decoding ([`decode`]: UTF-8 only,
//! binary refused), dispatch by [`Format`] ([`convert()`], [`convert_str`]) and the rules every
//! converter shares (no empty blocks, whitespace tidied, the title falling back to the file name).
//! Each format lives in its own submodule.

mod html;
mod json;
mod markdown;
mod rst;
mod text;

use crate::document::{Block, BlockKind, ParsedDocument};
use crate::error::IngestError;
use crate::format::{Format, file_name};
use crate::source::RawDocument;

/// Decodes (UTF-8; invalid UTF-8 or binary content (NUL bytes) -> DocumentUnreadable error) and converts.
pub fn convert(raw: &RawDocument) -> Result<ParsedDocument, IngestError> {
    let text = decode(&raw.uri, &raw.bytes)?;
    convert_str(&raw.uri, &text, &raw.format)
}

/// Converts already-decoded text of the given format; `uri` names the document in errors and
/// gives the fallback title (its file name).
pub fn convert_str(uri: &str, text: &str, format: &Format) -> Result<ParsedDocument, IngestError> {
    let text = normalize_newlines(text);
    let mut doc = match format {
        Format::Markdown => markdown::convert(&text),
        Format::Text => text::convert_text(&text),
        Format::Rst => rst::convert(&text),
        Format::Html => html::convert(&text),
        Format::Json => json::convert(uri, &text)?,
        Format::Code { language } => text::convert_code(&text, language),
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
    fn helpers() {
        assert_eq!(collapse_whitespace("  a \n\t b  "), "a b");
        assert_eq!(tidy_lines("\n\n  a  \n\n\n\nb \n\n"), "  a\n\nb");
        assert_eq!(trim_blank_lines("\n  \n    x\n  y\n\n"), "    x\n  y");
        assert_eq!(trim_blank_lines(""), "");
    }
}
