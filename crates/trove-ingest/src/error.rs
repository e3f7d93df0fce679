//! The one error type of the crate, [`IngestError`], and its mapping to Trove's error-code table.
//! Every message says what went wrong and where (the path, URI or glob involved), so it can be
//! shown to a user as it is.

use std::path::PathBuf;

use trove_types::{Code, HasCode};

/// Everything that can go wrong while listing, fetching or converting documents.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The source's root directory does not exist.
    #[error("source root {} does not exist; create it or fix the source's path", path.display())]
    RootNotFound {
        /// The root as configured.
        path: PathBuf,
    },

    /// The source's root exists but is not a directory.
    #[error("source root {} is not a directory; point the source at a directory", path.display())]
    RootNotDirectory {
        /// The root as configured.
        path: PathBuf,
    },

    /// An include or exclude glob does not parse.
    #[error("invalid glob {glob:?} in the source's include/exclude patterns: {reason}")]
    BadGlob {
        /// The glob as configured.
        glob: String,
        /// Why it does not parse.
        reason: String,
    },

    /// A `file_types` entry names an extension no converter handles.
    #[error("unsupported file type {file_type:?} in the source's file_types; supported: {supported}")]
    UnsupportedFileType {
        /// The entry as configured.
        file_type: String,
        /// The supported extensions, comma separated.
        supported: String,
    },

    /// Reading the file system failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path (or URI) being read.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The document no longer exists (it was deleted after being listed).
    #[error("document {uri} no longer exists")]
    NotFound {
        /// The document's URI.
        uri: String,
    },

    /// The file is larger than `ingest.max_file_bytes`.
    #[error(
        "document {uri} is {size} bytes, more than ingest.max_file_bytes ({max}); raise the limit or exclude the file"
    )]
    TooLarge {
        /// The document's URI.
        uri: String,
        /// Its size in bytes (at least; reading stops past the limit).
        size: u64,
        /// The configured limit.
        max: u64,
    },

    /// A URI handed to `fetch` is not a plain relative path inside the source.
    #[error("invalid document URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The path resolves (through a symbolic link) outside the source root.
    #[error("document {uri} resolves outside the source root; symbolic links leaving the root are not followed")]
    OutsideRoot {
        /// The document's URI.
        uri: String,
    },

    /// The path exists but is not a regular file.
    #[error("document {uri} is not a regular file")]
    NotAFile {
        /// The document's URI.
        uri: String,
    },

    /// A file name that is not valid UTF-8 cannot be given a stable URI.
    #[error("file name {path} is not valid UTF-8; rename the file to index it")]
    NonUtf8Name {
        /// The path, lossily decoded.
        path: String,
    },

    /// No converter handles the document's format.
    #[error("document {uri} has no supported format (by its extension)")]
    UnsupportedFormat {
        /// The document's URI.
        uri: String,
    },

    /// The document contains NUL bytes, so it is a binary file, not text.
    #[error("document {uri} is a binary file (it contains NUL bytes), not text")]
    Binary {
        /// The document's URI.
        uri: String,
    },

    /// The document is not valid UTF-8.
    #[error("document {uri} is not valid UTF-8 (at line {line}, byte offset {offset}); convert it to UTF-8")]
    InvalidUtf8 {
        /// The document's URI.
        uri: String,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },

    /// A JSON document does not parse.
    #[error("document {uri} is not valid JSON at line {line}, column {column}: {message}")]
    InvalidJson {
        /// The document's URI.
        uri: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },

    /// A remote source (a git remote, a wiki, a tracker, a site) failed: unreachable, or it
    /// refused. `code` says which ([`Code::SourceUnreachable`], [`Code::SourceRefused`]).
    #[error("{action} of {remote} failed: {detail}; {fix}")]
    Remote {
        /// The remote, without credentials.
        remote: String,
        /// What was being done (`fetch`, `listing of the tree`, ...).
        action: String,
        /// What the remote or the network said.
        detail: String,
        /// What to check or change.
        fix: String,
        /// Its code in the table.
        code: Code,
    },

    /// A PDF or Office document that does not parse (not a zip archive, a missing part,
    /// malformed XML, a damaged PDF, an encrypted one).
    #[error("document {uri} is not a readable {format} file: {reason}")]
    Corrupt {
        /// The document's URI.
        uri: String,
        /// The format it was read as (`pdf`, `docx`, ...).
        format: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Unpacking the document (archive members of DOCX/PPTX/XLSX, compressed PDF content
    /// streams) produced more than `ingest.max_unpacked_bytes`.
    #[error(
        "document {uri} unpacks to more than {max} bytes, the limit ingest.max_unpacked_bytes; it may be a zip bomb: raise the limit only if you trust the file, or exclude it"
    )]
    UnpackedTooLarge {
        /// The document's URI.
        uri: String,
        /// The configured limit.
        max: u64,
    },

    /// A setting of the source is unusable (a CSS selector that does not parse), or a limit
    /// it sets cut the work short (a crawl's `max_pages`).
    #[error("{key}: {message}")]
    Setting {
        /// The configuration key to fix (`vaults.kb.sources.site.max_pages`).
        key: String,
        /// What is wrong, and what to do.
        message: String,
    },

    /// Converting the document took longer than `ingest.convert_timeout_s`.
    #[error(
        "converting document {uri} took longer than {} s, the limit ingest.convert_timeout_s; raise the limit or exclude the file",
        seconds(limit)
    )]
    ConvertTimeout {
        /// The document's URI.
        uri: String,
        /// The limit that was passed.
        limit: std::time::Duration,
    },
}

/// A duration in seconds for messages: whole seconds without decimals.
fn seconds(d: &std::time::Duration) -> String {
    if d.subsec_millis() == 0 { d.as_secs().to_string() } else { format!("{:.3}", d.as_secs_f64()) }
}

impl IngestError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        IngestError::Io { path: path.into(), source }
    }
}

impl HasCode for IngestError {
    fn code(&self) -> Code {
        match self {
            IngestError::RootNotFound { .. } | IngestError::RootNotDirectory { .. } => Code::ConfigBadPath,
            IngestError::Remote { code, .. } => *code,
            IngestError::BadGlob { .. } | IngestError::UnsupportedFileType { .. } | IngestError::Setting { .. } => {
                Code::ConfigInvalid
            }
            IngestError::Io { .. } | IngestError::NotFound { .. } => Code::IoFailed,
            IngestError::InvalidUri { .. } => Code::BadRequest,
            IngestError::TooLarge { .. }
            | IngestError::OutsideRoot { .. }
            | IngestError::NotAFile { .. }
            | IngestError::NonUtf8Name { .. }
            | IngestError::UnsupportedFormat { .. }
            | IngestError::Binary { .. }
            | IngestError::InvalidUtf8 { .. }
            | IngestError::InvalidJson { .. }
            | IngestError::Corrupt { .. }
            | IngestError::UnpackedTooLarge { .. }
            | IngestError::ConvertTimeout { .. } => Code::DocumentUnreadable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_table() {
        let e = IngestError::RootNotFound { path: "/nope".into() };
        assert_eq!(e.code(), Code::ConfigBadPath);
        assert!(e.to_string().contains("/nope"));
        let e = IngestError::BadGlob { glob: "[".into(), reason: "unclosed".into() };
        assert_eq!(e.code(), Code::ConfigInvalid);
        let e = IngestError::io("a.md", std::io::Error::other("boom"));
        assert_eq!(e.code(), Code::IoFailed);
        assert!(e.to_string().contains("a.md") && e.to_string().contains("boom"));
        let e = IngestError::Binary { uri: "x.txt".into() };
        assert_eq!(e.code(), Code::DocumentUnreadable);
        let e = IngestError::InvalidUri { uri: "../x".into(), reason: "r".into() };
        assert_eq!(e.code(), Code::BadRequest);
    }
}
