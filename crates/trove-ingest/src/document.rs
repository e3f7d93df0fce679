//! The structured text every converter produces, [`ParsedDocument`]: a title, a flat sequence of
//! typed [`Block`]s (headings carry their level, so the chunker can rebuild the section tree)
//! and free-form metadata (front matter, HTML `<meta>` fields, a code file's language).

use serde::{Deserialize, Serialize};

/// A document converted to structured text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ParsedDocument {
    /// The document's title: its first heading (or HTML `<title>`), else its file name.
    pub title: String,
    /// The content in reading order. No block has empty text.
    pub blocks: Vec<Block>,
    /// Metadata found in the document (front matter, `<meta>` tags, ...).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// One structural unit of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// What the block is.
    pub kind: BlockKind,
    /// Its readable text: markup removed, except code, which is verbatim.
    pub text: String,
}

/// The kind of a [`Block`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// A section heading; level 1 is the outermost.
    Heading {
        /// 1 for `#`/`<h1>`, 2 for `##`/`<h2>`, and so on.
        level: u8,
    },
    /// A paragraph of prose.
    Paragraph,
    /// Verbatim code (indentation kept).
    Code {
        /// The language, when known.
        language: Option<String>,
    },
    /// A list, one item per line (`- item`, `1. item`, nested items indented).
    List,
    /// A table, one row per line, cells separated by ` | `.
    Table,
    /// A block quote or admonition.
    Quote,
}

impl Block {
    /// A block of the given kind and text.
    pub fn new(kind: BlockKind, text: impl Into<String>) -> Self {
        Block { kind, text: text.into() }
    }

    /// A heading block.
    pub fn heading(level: u8, text: impl Into<String>) -> Self {
        Block::new(BlockKind::Heading { level }, text)
    }

    /// A paragraph block.
    pub fn paragraph(text: impl Into<String>) -> Self {
        Block::new(BlockKind::Paragraph, text)
    }

    /// A code block.
    pub fn code(language: Option<String>, text: impl Into<String>) -> Self {
        Block::new(BlockKind::Code { language }, text)
    }

    /// Whether this block is a heading.
    pub fn is_heading(&self) -> bool {
        matches!(self.kind, BlockKind::Heading { .. })
    }
}

impl ParsedDocument {
    /// The text of every block, in order, separated by blank lines (headings included).
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&b.text);
        }
        out
    }

    /// Each block's kind and text, in order: what converter tests compare.
    #[cfg(test)]
    pub(crate) fn kinds_and_texts(&self) -> Vec<(BlockKind, &str)> {
        self.blocks.iter().map(|b| (b.kind.clone(), b.text.as_str())).collect()
    }
}
