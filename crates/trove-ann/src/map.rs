//! Memory-mapping an index file, the crate's only `unsafe` outside `kernels`: mapping a file
//! is unsafe because another process could change or shorten it while it is mapped. This crate
//! never writes a file in place (it writes a temporary file, fsyncs it and renames it over the
//! old one, so a mapping keeps the old inode whole), and Trove's data folder is Trove's alone.

#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use memmap2::{Advice, Mmap};

use crate::AnnError;

/// Maps `file` (at `path`) read-only, advising the kernel that reads are random (graph
/// traversal), so that it reads only the pages a search touches instead of reading ahead.
pub(crate) fn map(file: &File, path: &Path) -> Result<Mmap, AnnError> {
    // SAFETY: see the module doc: index files are replaced whole by rename, never modified or
    // truncated in place, so the mapped bytes stay valid and unchanged for the mapping's life.
    let map = unsafe { Mmap::map(file) }.map_err(|e| AnnError::io("cannot map", path, e))?;
    // Advice is a hint: a kernel that ignores it costs read-ahead, not correctness.
    let _ = map.advise(Advice::Random);
    Ok(map)
}
