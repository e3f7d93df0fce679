//! The crate's one error type, [`AnnError`], and its place in Trove's error-code table. An index
//! file that cannot be used (missing, of another format version, torn, corrupt) is never
//! repaired or half-trusted: the caller answers exactly and rebuilds the index, which is derived
//! data; every message says so.

use std::path::PathBuf;

use trove_types::error::{Code, HasCode};

/// What can go wrong when building, saving, opening or searching an index.
#[derive(Debug, thiserror::Error)]
pub enum AnnError {
    /// A vector or query of another length than the index's.
    #[error("a vector has {got} dimensions but the index holds {expected}-dimension vectors")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The given vector's.
        got: usize,
    },
    /// A vector with a NaN or infinite component.
    #[error("the vector of id {id} has a component that is not a finite number; embeddings must be finite")]
    NotFinite {
        /// The vector's id.
        id: i64,
    },
    /// The same id given twice to one build.
    #[error("id {id} was given twice to one index build; each vector needs its own id")]
    DuplicateId {
        /// The repeated id.
        id: i64,
    },
    /// Build parameters out of range.
    #[error("invalid index parameters: {0}")]
    Params(String),
    /// The file was written by another version of the index format.
    #[error(
        "the vector index {} has format version {found}, this trove reads version {supported}: \
         it is derived data, so delete it and it is rebuilt",
        path.display()
    )]
    Version {
        /// The index file.
        path: PathBuf,
        /// The version in its header.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The file is not a complete index: torn, truncated, overwritten or of another program.
    #[error(
        "the vector index {} is unusable ({reason}): it is derived data, so delete it and it is rebuilt",
        path.display()
    )]
    Corrupt {
        /// The index file.
        path: PathBuf,
        /// What check failed.
        reason: String,
    },
    /// Reading, writing or mapping the file failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`cannot open`, `cannot write`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl AnnError {
    pub(crate) fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> AnnError {
        AnnError::Io { what, path: path.to_path_buf(), source }
    }

    pub(crate) fn corrupt(path: &std::path::Path, reason: impl Into<String>) -> AnnError {
        AnnError::Corrupt { path: path.to_path_buf(), reason: reason.into() }
    }
}

impl HasCode for AnnError {
    fn code(&self) -> Code {
        match self {
            AnnError::Dimension { .. } => Code::EmbedderMismatch,
            AnnError::NotFinite { .. } => Code::EmbeddingFailed,
            AnnError::DuplicateId { .. } => Code::Internal,
            AnnError::Params(_) => Code::Internal,
            AnnError::Version { .. } => Code::StoreFailed,
            AnnError::Corrupt { .. } => Code::StoreFailed,
            AnnError::Io { .. } => Code::IoFailed,
        }
    }
}
