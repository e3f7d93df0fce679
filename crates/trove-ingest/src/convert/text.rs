//! Plain text and source code. Text becomes one paragraph per blank-line-separated group of
//! lines; code becomes one verbatim [`BlockKind::Code`] block per blank-line-separated group
//! (indentation kept), in the language named by the file's extension. Neither has headings, so
//! the title is the file name (filled in by the caller).

use crate::document::{Block, BlockKind, ParsedDocument};

/// Converts plain text.
pub(super) fn convert_text(text: &str) -> ParsedDocument {
    let blocks = groups(text).into_iter().map(|g| Block::new(BlockKind::Paragraph, g)).collect();
    ParsedDocument { title: String::new(), blocks, metadata: Default::default() }
}

/// Converts a source-code file.
pub(super) fn convert_code(text: &str, language: &str) -> ParsedDocument {
    let blocks = groups(text).into_iter().map(|g| Block::code(Some(language.to_string()), g)).collect();
    let mut metadata = serde_json::Map::new();
    metadata.insert("language".into(), language.into());
    ParsedDocument { title: String::new(), blocks, metadata }
}

/// Blank-line-separated groups of lines, each line's trailing whitespace trimmed and its
/// indentation kept.
fn groups(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::convert::convert_str;
    use crate::document::BlockKind;
    use crate::format::Format;

    #[test]
    fn text_paragraphs_split_on_blank_lines() {
        let doc =
            convert_str("notes/todo.txt", "First line\nsecond line\n\n  \n\nNext para.\n", &Format::Text).unwrap();
        assert_eq!(doc.title, "todo.txt");
        assert_eq!(doc.blocks.len(), 2);
        assert_eq!(doc.blocks[0].text, "First line\nsecond line");
        assert_eq!(doc.blocks[1].text, "Next para.");
        assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::Paragraph));
    }

    #[test]
    fn code_groups_keep_indentation_and_language() {
        let src = "fn a() {\n    let x = 1;\n\n    x\n}\n\n\nfn b() {}\n";
        let format = Format::from_path("lib.rs").unwrap();
        let doc = convert_str("src/lib.rs", src, &format).unwrap();
        assert_eq!(doc.title, "lib.rs");
        let texts: Vec<_> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["fn a() {\n    let x = 1;", "    x\n}", "fn b() {}"]);
        assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::Code { language: Some("rust".into()) }));
        assert_eq!(doc.metadata["language"], "rust");
    }

    #[test]
    fn huge_single_line_is_one_block() {
        let line = "word ".repeat(100_000);
        let doc = convert_str("big.txt", &line, &Format::Text).unwrap();
        assert_eq!(doc.blocks.len(), 1);
    }
}
