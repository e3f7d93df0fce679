//! Turning documents into chunks. This crate owns three things: *sources* (where documents come
//! from: for now the local file system, [`LocalFileSource`]; git, Confluence, JIRA and public
//! docs will implement the same [`Source`] trait), *converters* (from a file format to a
//! [`ParsedDocument`]: a title, structured [`Block`]s and metadata, see [`convert()`]; Markdown,
//! text, rST, HTML, JSON, code, PDF, DOCX, PPTX and XLSX, each under [`ConvertLimits`]), and the
//! structure-aware, token-sized *chunker* ([`chunk()`]). It embeds nothing and stores nothing.
//!
//! The pipeline is `Source::list` → `Source::fetch` → [`convert()`] → [`chunk()`].

pub mod chunk;
pub mod convert;
pub mod document;
pub mod error;
pub mod format;
pub mod localfile;
pub mod source;

pub use chunk::{Chunk, ChunkingOptions, TokenCounter, WhitespaceTokenCounter, chunk};
pub use convert::{ConvertLimits, convert, convert_str, convert_with, decode};
pub use document::{Block, BlockKind, ParsedDocument};
pub use error::IngestError;
pub use format::Format;
pub use localfile::{LocalFileOptions, LocalFileSource};
pub use source::{DocRef, RawDocument, Source, content_hash};
