//! Turning documents into chunks. This crate owns three things: *sources* (where documents come
//! from: local folders, [`LocalFileSource`], git branches, [`GitSource`], Confluence spaces,
//! [`ConfluenceSource`], JIRA projects or queries, [`JiraSource`], and web sites crawled from a
//! base URL, [`PublicDocsSource`]; all implement the [`Source`] trait), *converters* (from a file format to a
//! [`ParsedDocument`]: a title, structured [`Block`]s and metadata, see [`convert()`]; Markdown,
//! text, rST, HTML, JSON, code, PDF, DOCX, PPTX and XLSX, each under [`ConvertLimits`]), and the
//! structure-aware, token-sized *chunker* ([`chunk()`]). It embeds nothing and stores nothing.
//!
//! The pipeline is `Source::list` → `Source::fetch` → [`convert()`] → [`chunk()`].

pub mod atlassian;
pub mod chunk;
pub mod confluence;
pub mod convert;
pub mod document;
pub mod error;
pub mod filter;
pub mod format;
pub mod git;
pub mod jira;
pub mod localfile;
pub mod publicdocs;
pub mod source;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use atlassian::{Connection, Deployment};
pub use chunk::{Chunk, ChunkingOptions, TokenCounter, WhitespaceTokenCounter, chunk};
pub use confluence::{ConfluenceOptions, ConfluenceSource};
pub use convert::{ConvertLimits, convert, convert_str, convert_with, decode};
pub use document::{Block, BlockKind, ParsedDocument};
pub use error::IngestError;
pub use format::Format;
pub use git::{GitOptions, GitSource};
pub use jira::{JiraOptions, JiraSource};
pub use localfile::{LocalFileOptions, LocalFileSource};
pub use publicdocs::{PublicDocsOptions, PublicDocsSource};
pub use source::{DocRef, RawDocument, Source, content_hash};
