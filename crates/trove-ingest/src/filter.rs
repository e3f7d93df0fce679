//! Which paths of a tree count as documents: the include/exclude globs, the `file_types`
//! allow-list and the always-skipped hidden names, shared by every source that lists files
//! (local folders and git trees), so both read the same configuration the same way.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::IngestError;
use crate::format::{Format, extension};

/// The compiled filters of a file-listing source.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    /// Lowercase extensions; empty = every supported type.
    file_types: Vec<String>,
}

impl PathFilter {
    /// Compiles the globs (relative to the tree's root; `*` does not cross `/`, `**` does) and
    /// checks every file type is supported.
    pub fn new(include: &[String], exclude: &[String], file_types: &[String]) -> Result<PathFilter, IngestError> {
        let mut types = Vec::with_capacity(file_types.len());
        for ft in file_types {
            let norm = ft.trim().trim_start_matches('.').to_ascii_lowercase();
            if Format::from_extension(&norm).is_none() {
                return Err(IngestError::UnsupportedFileType {
                    file_type: ft.clone(),
                    supported: Format::supported_extensions().collect::<Vec<_>>().join(", "),
                });
            }
            if !types.contains(&norm) {
                types.push(norm);
            }
        }
        Ok(PathFilter { include: build_globs(include)?, exclude: build_globs(exclude)?, file_types: types })
    }

    /// Whether a file with this root-relative, `/`-separated path is a document: no hidden
    /// component, a supported extension allowed by `file_types`, not excluded, included.
    pub fn matches(&self, uri: &str) -> bool {
        if uri.split('/').any(is_hidden_name) {
            return false;
        }
        let Some(ext) = extension(uri) else { return false };
        if Format::from_extension(&ext).is_none() {
            return false;
        }
        if !self.file_types.is_empty() && !self.file_types.contains(&ext) {
            return false;
        }
        if self.excludes(uri) {
            return false;
        }
        self.include.as_ref().is_none_or(|g| g.is_match(uri))
    }

    /// Whether an exclude glob matches the path (a matching directory is skipped whole).
    pub fn excludes(&self, path: impl AsRef<std::path::Path>) -> bool {
        self.exclude.as_ref().is_some_and(|g| g.is_match(path))
    }
}

fn build_globs(globs: &[String]) -> Result<Option<GlobSet>, IngestError> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let pattern = glob.trim();
        let pattern = pattern.strip_prefix("./").unwrap_or(pattern).trim_start_matches('/');
        if pattern.is_empty() {
            return Err(IngestError::BadGlob { glob: glob.clone(), reason: "the pattern is empty".into() });
        }
        let compiled = GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| IngestError::BadGlob { glob: glob.clone(), reason: e.kind().to_string() })?;
        set.add(compiled);
    }
    set.build().map(Some).map_err(|e| IngestError::BadGlob { glob: globs.join(", "), reason: e.to_string() })
}

/// Hidden names: dotfiles and dot-directories (`.git`, `.trove`).
pub fn is_hidden_name(name: &str) -> bool {
    name.starts_with('.')
}
