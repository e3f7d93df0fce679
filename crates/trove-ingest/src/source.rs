//! The [`Source`] trait every document source implements (local folders, git trees; Confluence,
//! JIRA and public docs later), the [`DocRef`] a listing yields (with an optional version that
//! lets unchanged documents be skipped unread), and the [`RawDocument`] a fetch returns with its
//! content hash and whatever title and metadata the source knows.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::IngestError;
use crate::format::Format;

/// A reference to one document a source can yield.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocRef {
    /// Stable identifier of the document within its source (for local files: the path relative
    /// to the root with `/` separators). A rename is a delete plus an add.
    pub uri: String,
    /// Size in bytes when listed.
    pub size: u64,
    /// Last modification time, milliseconds since the Unix epoch (0 when unknown).
    pub modified_unix_ms: i64,
    /// An opaque version the source gives without reading the content (a git blob id, a page's
    /// version number, an ETag). When it equals the version stored with the document, the
    /// document is unchanged and is not fetched again. `None`: always fetch and compare hashes.
    #[serde(default)]
    pub version: Option<String>,
}

/// A place documents come from.
pub trait Source: Send + Sync {
    /// Every document currently in the source, sorted by uri. Entries that cannot be listed
    /// (unreadable subdirectory) are returned in the second vec as (path-or-uri, error), not aborting.
    #[allow(clippy::type_complexity)]
    fn list(&self) -> Result<(Vec<DocRef>, Vec<(String, IngestError)>), IngestError>;

    /// Reads one document's bytes and hashes them.
    fn fetch(&self, doc: &DocRef) -> Result<RawDocument, IngestError>;
}

/// One document's bytes as fetched from a source, not yet decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct RawDocument {
    /// The document's URI (as in its [`DocRef`]).
    pub uri: String,
    /// The content, exactly as stored.
    pub bytes: Vec<u8>,
    /// `sha256:<lowercase hex>` of `bytes`.
    pub content_hash: String,
    /// The format, which decides the converter.
    pub format: Format,
    /// Last modification time, milliseconds since the Unix epoch (0 when unknown).
    pub modified_unix_ms: i64,
    /// A title the source knows (a wiki page's or an issue's); it wins over one the converter
    /// finds in the content.
    pub title: Option<String>,
    /// Metadata the source knows (a link to the original, a commit, an author, labels); merged
    /// into the converter's metadata, which wins on a shared key.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Where the document sits, put above its converted content as a first level-1 heading
    /// (its own headings move one level down), so every chunk's heading path starts with it:
    /// a Confluence attachment's page path and file name (`Home > Guides > Deploy > plan.pdf`).
    pub heading: Option<String>,
}

impl RawDocument {
    /// Builds a raw document, computing its content hash.
    pub fn new(uri: impl Into<String>, bytes: Vec<u8>, format: Format, modified_unix_ms: i64) -> Self {
        let content_hash = content_hash(&bytes);
        RawDocument {
            uri: uri.into(),
            bytes,
            content_hash,
            format,
            modified_unix_ms,
            title: None,
            metadata: serde_json::Map::new(),
            heading: None,
        }
    }
}

impl std::fmt::Debug for RawDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawDocument")
            .field("uri", &self.uri)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("content_hash", &self.content_hash)
            .field("format", &self.format)
            .field("modified_unix_ms", &self.modified_unix_ms)
            .field("title", &self.title)
            .field("metadata", &self.metadata)
            .field("heading", &self.heading)
            .finish()
    }
}

/// The content hash Trove uses for change detection: `sha256:` followed by the lowercase hex
/// SHA-256 of the bytes.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_prefixed_sha256() {
        assert_eq!(content_hash(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let raw = RawDocument::new("a.md", b"abc".to_vec(), Format::Markdown, 5);
        assert_eq!(raw.content_hash, content_hash(b"abc"));
        assert!(format!("{raw:?}").contains("<3 bytes>"));
    }
}
