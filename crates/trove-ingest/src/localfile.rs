//! The local-file source: a directory tree filtered by include/exclude globs and file types.
//! It owns the rules for which files count (supported extension, not hidden, not excluded, not a
//! symbolic link leaving the root, not larger than the limit) and for their URIs (the path
//! relative to the root with `/` separators, stable across runs).

use std::fs::{self, File, Metadata};
use std::io::{ErrorKind, Read};
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::error::IngestError;
use crate::filter::{PathFilter, is_hidden_name};
use crate::format::Format;
use crate::source::{DocRef, RawDocument, Source};

/// What a [`LocalFileSource`] indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFileOptions {
    /// The directory to index; must exist and be a directory.
    pub root: PathBuf,
    /// Globs relative to the root (e.g. `**/*`, `docs/**/*.md`) a file must match one of;
    /// empty means every file. `*` does not cross `/`; `**` does.
    pub include: Vec<String>,
    /// Globs relative to the root of files or directories to skip (a matching directory is
    /// skipped whole). Hidden files and directories (`.git`, `.trove`, dotfiles) are always
    /// skipped.
    pub exclude: Vec<String>,
    /// Extensions without the dot (`md`, `txt`) a file must have one of; empty means every
    /// supported type. Each must be a supported extension.
    pub file_types: Vec<String>,
    /// Files larger than this are reported as errors and skipped; 0 means no limit.
    pub max_file_bytes: u64,
}

impl LocalFileOptions {
    /// Default limit on a file's size: 10 MiB.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

    /// Options indexing every supported file under `root` up to the default size limit.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalFileOptions {
            root: root.into(),
            include: Vec::new(),
            exclude: Vec::new(),
            file_types: Vec::new(),
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// A [`Source`] reading files under a local directory.
#[derive(Debug, Clone)]
pub struct LocalFileSource {
    /// The root as configured (for messages).
    root: PathBuf,
    /// The canonical root, which is walked and which every fetched path must stay under.
    canonical_root: PathBuf,
    filter: PathFilter,
    max_file_bytes: u64,
}

impl LocalFileSource {
    /// Validates the options (root exists and is a directory, globs parse, file types are
    /// supported) and builds the source.
    pub fn new(opts: LocalFileOptions) -> Result<Self, IngestError> {
        let canonical_root = canonical_root(&opts.root)?;
        let filter = PathFilter::new(&opts.include, &opts.exclude, &opts.file_types)?;
        Ok(LocalFileSource { root: opts.root, canonical_root, filter, max_file_bytes: opts.max_file_bytes })
    }

    /// The root directory as configured.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether a file with this root-relative URI passes the include, exclude and file-type
    /// filters (hidden components and support for its format included).
    pub fn matches(&self, uri: &str) -> bool {
        self.filter.matches(uri)
    }

    fn too_large(&self, size: u64) -> bool {
        self.max_file_bytes > 0 && size > self.max_file_bytes
    }

    /// Checks a URI is a plain relative path and resolves it under the root.
    fn resolve(&self, uri: &str) -> Result<PathBuf, IngestError> {
        let bad = |reason: &str| IngestError::InvalidUri { uri: uri.to_string(), reason: reason.into() };
        if uri.is_empty() {
            return Err(bad("it is empty"));
        }
        if uri.contains('\\') || uri.contains('\0') {
            return Err(bad("it contains a backslash or NUL"));
        }
        let rel = Path::new(uri);
        for comp in rel.components() {
            match comp {
                Component::Normal(_) => {}
                _ => return Err(bad("it must be a relative path without `.` or `..` segments")),
            }
        }
        if uri.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(bad("it must be a relative path without empty, `.` or `..` segments"));
        }
        Ok(self.canonical_root.join(rel))
    }
}

impl Source for LocalFileSource {
    fn list(&self) -> Result<(Vec<DocRef>, Vec<(String, IngestError)>), IngestError> {
        // The root may have disappeared since the source was built.
        match fs::metadata(&self.canonical_root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(IngestError::RootNotDirectory { path: self.root.clone() }),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(IngestError::RootNotFound { path: self.root.clone() });
            }
            Err(e) => return Err(IngestError::io(self.root.display().to_string(), e)),
        }

        let mut docs = Vec::new();
        let mut errors = Vec::new();
        let root = &self.canonical_root;
        let walker =
            walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter().filter_entry(|entry| {
                if entry.depth() == 0 {
                    return true;
                }
                if is_hidden_name(&entry.file_name().to_string_lossy()) {
                    return false;
                }
                // Prune excluded directories whole.
                if entry.file_type().is_dir()
                    && let Ok(rel) = entry.path().strip_prefix(root)
                    && self.filter.excludes(rel)
                {
                    return false;
                }
                true
            });

        for item in walker {
            let entry = match item {
                Ok(entry) => entry,
                Err(err) => {
                    if err.depth() == 0 {
                        // The root itself cannot be read: an empty listing would look like
                        // every document was deleted.
                        let io = err.into_io_error().unwrap_or_else(|| std::io::Error::other("unreadable"));
                        return Err(IngestError::io(self.root.display().to_string(), io));
                    }
                    let path = err
                        .path()
                        .map(|p| relative_display(root, p))
                        .unwrap_or_else(|| self.root.display().to_string());
                    let io = err.into_io_error().unwrap_or_else(|| std::io::Error::other("file system loop"));
                    errors.push((path.clone(), IngestError::io(path, io)));
                    continue;
                }
            };
            if entry.depth() == 0 {
                continue;
            }
            let file_type = entry.file_type();
            if file_type.is_dir() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(root) else { continue };
            let Some(uri) = path_to_uri(rel) else {
                let path = rel.to_string_lossy().into_owned();
                errors.push((path.clone(), IngestError::NonUtf8Name { path }));
                continue;
            };
            if !self.matches(&uri) {
                continue;
            }
            let meta = if file_type.is_symlink() {
                // Follow only links that stay under the root; never descend into linked
                // directories (their targets under the root are walked anyway).
                match fs::canonicalize(entry.path()) {
                    Ok(target) if target.starts_with(root) => match fs::metadata(&target) {
                        Ok(m) if m.is_file() => m,
                        Ok(_) => continue,
                        Err(e) => {
                            errors.push((uri.clone(), IngestError::io(uri, e)));
                            continue;
                        }
                    },
                    Ok(_) => {
                        tracing::debug!(%uri, "skipping symbolic link leaving the source root");
                        continue;
                    }
                    // A dangling link is not a document.
                    Err(_) => continue,
                }
            } else if file_type.is_file() {
                match entry.metadata() {
                    Ok(m) => m,
                    Err(e) => {
                        let io = e.into_io_error().unwrap_or_else(|| std::io::Error::other("unreadable"));
                        errors.push((uri.clone(), IngestError::io(uri, io)));
                        continue;
                    }
                }
            } else {
                // Sockets, FIFOs, devices: reading them could block or never end.
                continue;
            };
            let size = meta.len();
            if self.too_large(size) {
                errors.push((uri.clone(), IngestError::TooLarge { uri, size, max: self.max_file_bytes }));
                continue;
            }
            docs.push(DocRef { uri, size, modified_unix_ms: modified_ms(&meta), version: None });
        }
        docs.sort_by(|a, b| a.uri.cmp(&b.uri));
        errors.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((docs, errors))
    }

    fn fetch(&self, doc: &DocRef) -> Result<RawDocument, IngestError> {
        let uri = doc.uri.as_str();
        let path = self.resolve(uri)?;
        let not_found_or = |e: std::io::Error| {
            if e.kind() == ErrorKind::NotFound {
                IngestError::NotFound { uri: uri.to_string() }
            } else {
                IngestError::io(uri, e)
            }
        };
        let target = fs::canonicalize(&path).map_err(not_found_or)?;
        if !target.starts_with(&self.canonical_root) {
            return Err(IngestError::OutsideRoot { uri: uri.to_string() });
        }
        let format = Format::from_path(uri).ok_or_else(|| IngestError::UnsupportedFormat { uri: uri.to_string() })?;
        let meta = fs::metadata(&target).map_err(not_found_or)?;
        if !meta.is_file() {
            return Err(IngestError::NotAFile { uri: uri.to_string() });
        }
        if self.too_large(meta.len()) {
            return Err(IngestError::TooLarge { uri: uri.to_string(), size: meta.len(), max: self.max_file_bytes });
        }
        let file = File::open(&target).map_err(not_found_or)?;
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).min(1 << 26));
        // The file may grow between the size check and the read: never read past the limit.
        let limit = if self.max_file_bytes > 0 { self.max_file_bytes.saturating_add(1) } else { u64::MAX };
        file.take(limit).read_to_end(&mut bytes).map_err(|e| IngestError::io(uri, e))?;
        if self.too_large(bytes.len() as u64) {
            return Err(IngestError::TooLarge {
                uri: uri.to_string(),
                size: bytes.len() as u64,
                max: self.max_file_bytes,
            });
        }
        Ok(RawDocument::new(uri, bytes, format, modified_ms(&meta)))
    }
}

/// Canonicalises and checks the configured root.
fn canonical_root(root: &Path) -> Result<PathBuf, IngestError> {
    let canonical = fs::canonicalize(root).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            IngestError::RootNotFound { path: root.to_path_buf() }
        } else {
            IngestError::io(root.display().to_string(), e)
        }
    })?;
    let meta = fs::metadata(&canonical).map_err(|e| IngestError::io(root.display().to_string(), e))?;
    if !meta.is_dir() {
        return Err(IngestError::RootNotDirectory { path: root.to_path_buf() });
    }
    Ok(canonical)
}

/// Compiles globs (`*` does not cross `/`); `None` when there are none.
/// A root-relative path as a `/`-separated URI; `None` when a component is not UTF-8.
fn path_to_uri(rel: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for comp in rel.components() {
        match comp {
            Component::Normal(s) => parts.push(s.to_str()?),
            _ => return None,
        }
    }
    if parts.is_empty() { None } else { Some(parts.join("/")) }
}

/// A path for messages: root-relative when possible.
fn relative_display(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => {
            path_to_uri(rel).unwrap_or_else(|| rel.to_string_lossy().into_owned())
        }
        _ => path.display().to_string(),
    }
}

/// Modification time in milliseconds since the epoch; negative before it, 0 when unknown.
fn modified_ms(meta: &Metadata) -> i64 {
    let Ok(modified) = meta.modified() else { return 0 };
    match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_types::{Code, HasCode};

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "README.md", "# Readme\n\nhello");
        write(r, "notes.txt", "plain");
        write(r, "docs/guide.md", "# Guide");
        write(r, "docs/api/index.rst", "API\n===\n");
        write(r, "docs/drafts/wip.md", "wip");
        write(r, "src/main.rs", "fn main() {}");
        write(r, "drawing.vsdx", "not a format Trove reads");
        write(r, ".hidden.md", "hidden");
        write(r, ".git/config.md", "git internals");
        write(r, "docs/.trove/state.md", "state");
        write(r, "a-b.md", "dash sorts before slash");
        dir
    }

    fn uris(src: &LocalFileSource) -> Vec<String> {
        let (docs, errors) = src.list().unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        docs.into_iter().map(|d| d.uri).collect()
    }

    fn opts(root: &Path) -> LocalFileOptions {
        LocalFileOptions::new(root)
    }

    #[test]
    fn lists_supported_files_sorted_and_skips_hidden() {
        let dir = tree();
        let src = LocalFileSource::new(opts(dir.path())).unwrap();
        let got = uris(&src);
        assert_eq!(
            got,
            [
                "README.md",
                "a-b.md",
                "docs/api/index.rst",
                "docs/drafts/wip.md",
                "docs/guide.md",
                "notes.txt",
                "src/main.rs"
            ]
        );
        // Stable across runs.
        assert_eq!(uris(&src), got);
        let (docs, _) = src.list().unwrap();
        let readme = docs.iter().find(|d| d.uri == "README.md").unwrap();
        assert_eq!(readme.size, "# Readme\n\nhello".len() as u64);
        assert!(readme.modified_unix_ms > 0);
    }

    #[test]
    fn include_exclude_and_file_types() {
        let dir = tree();
        let mut o = opts(dir.path());
        o.include = vec!["docs/**/*".into()];
        o.exclude = vec!["docs/drafts".into()];
        let src = LocalFileSource::new(o).unwrap();
        assert_eq!(uris(&src), ["docs/api/index.rst", "docs/guide.md"]);

        let mut o = opts(dir.path());
        o.include = vec!["*.md".into()]; // `*` does not cross directories
        assert_eq!(uris(&LocalFileSource::new(o).unwrap()), ["README.md", "a-b.md"]);

        let mut o = opts(dir.path());
        o.include = vec!["**/*".into()];
        o.exclude = vec!["**/*.rst".into(), "src/**".into()];
        o.file_types = vec!["md".into(), ".RST".into(), "rs".into()];
        assert_eq!(
            uris(&LocalFileSource::new(o).unwrap()),
            ["README.md", "a-b.md", "docs/drafts/wip.md", "docs/guide.md"]
        );

        let mut o = opts(dir.path());
        o.file_types = vec!["txt".into(), "rs".into()];
        assert_eq!(uris(&LocalFileSource::new(o).unwrap()), ["notes.txt", "src/main.rs"]);
    }

    #[test]
    fn missing_root_and_file_root_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = LocalFileSource::new(opts(&missing)).unwrap_err();
        assert!(matches!(err, IngestError::RootNotFound { .. }), "{err:?}");
        assert_eq!(err.code(), Code::ConfigBadPath);
        assert!(err.to_string().contains("nope"), "{err}");

        let file = dir.path().join("file.txt");
        fs::write(&file, "x").unwrap();
        let err = LocalFileSource::new(opts(&file)).unwrap_err();
        assert!(matches!(err, IngestError::RootNotDirectory { .. }), "{err:?}");
        assert!(err.to_string().contains("file.txt"));
    }

    #[test]
    fn bad_glob_and_bad_file_type_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path());
        o.include = vec!["**/*.md".into(), "docs/[unclosed".into()];
        let err = LocalFileSource::new(o).unwrap_err();
        assert!(matches!(err, IngestError::BadGlob { .. }), "{err:?}");
        assert_eq!(err.code(), Code::ConfigInvalid);
        assert!(err.to_string().contains("docs/[unclosed"), "{err}");

        let mut o = opts(dir.path());
        o.exclude = vec!["  ".into()];
        assert!(matches!(LocalFileSource::new(o), Err(IngestError::BadGlob { .. })));

        let mut o = opts(dir.path());
        o.file_types = vec!["exe".into()];
        let err = LocalFileSource::new(o).unwrap_err();
        assert_eq!(err.code(), Code::ConfigInvalid);
        let msg = err.to_string();
        assert!(msg.contains("exe"), "{msg}");
        // The message lists what is supported, the binary formats included.
        for ext in ["md", "pdf", "docx", "pptx", "xlsx"] {
            assert!(msg.contains(ext), "{ext} missing from: {msg}");
        }
    }

    #[test]
    fn too_large_files_are_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "small.md", "tiny");
        write(dir.path(), "big.md", &"x".repeat(100));
        let mut o = opts(dir.path());
        o.max_file_bytes = 10;
        let src = LocalFileSource::new(o).unwrap();
        let (docs, errors) = src.list().unwrap();
        assert_eq!(docs.iter().map(|d| d.uri.as_str()).collect::<Vec<_>>(), ["small.md"]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "big.md");
        assert!(matches!(errors[0].1, IngestError::TooLarge { size: 100, max: 10, .. }));
        let big = DocRef { uri: "big.md".into(), size: 100, modified_unix_ms: 0, version: None };
        assert!(matches!(src.fetch(&big), Err(IngestError::TooLarge { .. })));
    }

    #[test]
    fn fetch_reads_and_hashes() {
        let dir = tree();
        let src = LocalFileSource::new(opts(dir.path())).unwrap();
        let (docs, _) = src.list().unwrap();
        let doc = docs.iter().find(|d| d.uri == "docs/guide.md").unwrap();
        let raw = src.fetch(doc).unwrap();
        assert_eq!(raw.bytes, b"# Guide");
        assert_eq!(raw.content_hash, crate::source::content_hash(b"# Guide"));
        assert_eq!(raw.format, Format::Markdown);
        assert_eq!(raw.uri, "docs/guide.md");
        let rs = src.fetch(docs.iter().find(|d| d.uri == "src/main.rs").unwrap()).unwrap();
        assert_eq!(rs.format, Format::Code { language: "rust".into() });
    }

    #[test]
    fn a_docx_in_the_folder_is_listed_fetched_and_converted() {
        let dir = tree();
        let docx = crate::convert::docx_sample_for_tests();
        let path = dir.path().join("reports/q3.docx");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &docx).unwrap();
        // The old binary formats are still not documents.
        write(dir.path(), "reports/old.doc", "binary");

        let mut o = opts(dir.path());
        o.file_types = vec!["docx".into(), "md".into()];
        let src = LocalFileSource::new(o).unwrap();
        let (docs, errors) = src.list().unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let listed: Vec<&str> = docs.iter().map(|d| d.uri.as_str()).collect();
        assert_eq!(listed, ["README.md", "a-b.md", "docs/drafts/wip.md", "docs/guide.md", "reports/q3.docx"]);

        let doc_ref = docs.iter().find(|d| d.uri == "reports/q3.docx").unwrap();
        assert_eq!(doc_ref.size, docx.len() as u64);
        let raw = src.fetch(doc_ref).unwrap();
        assert_eq!(raw.format, Format::Docx);
        assert_eq!(raw.bytes, docx);
        let parsed = crate::convert(&raw).unwrap();
        assert_eq!(parsed.title, "Q3 Report");
        let headings: Vec<&str> = parsed.blocks.iter().filter(|b| b.is_heading()).map(|b| b.text.as_str()).collect();
        assert_eq!(headings, ["Quarterly Report", "Summary", "Details"]);
        // The chunker keeps the heading path of the table.
        let chunks = crate::chunk(&parsed, &crate::ChunkingOptions::default(), &crate::WhitespaceTokenCounter);
        let table = chunks.iter().find(|c| c.text.contains("North | 42")).unwrap();
        assert_eq!(table.heading_path, ["Summary", "Details"]);
    }

    #[test]
    fn fetch_rejects_escaping_and_missing_uris() {
        let dir = tree();
        let src = LocalFileSource::new(opts(dir.path())).unwrap();
        for uri in ["../etc/passwd.txt", "/etc/passwd.txt", "docs/../README.md", "", "a//b.md", "./README.md"] {
            let d = DocRef { uri: uri.into(), size: 0, modified_unix_ms: 0, version: None };
            let err = src.fetch(&d).unwrap_err();
            assert!(matches!(err, IngestError::InvalidUri { .. }), "{uri}: {err:?}");
        }
        let gone = DocRef { uri: "gone.md".into(), size: 0, modified_unix_ms: 0, version: None };
        assert!(matches!(src.fetch(&gone), Err(IngestError::NotFound { .. })));
        let dir_ref = DocRef { uri: "docs".into(), size: 0, modified_unix_ms: 0, version: None };
        assert!(src.fetch(&dir_ref).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_leaving_the_root_are_skipped() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.md", "secret");
        write(outside.path(), "dir/inner.md", "inner");
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "real.md", "real");
        symlink(outside.path().join("secret.md"), dir.path().join("leak.md")).unwrap();
        symlink(outside.path().join("dir"), dir.path().join("leakdir")).unwrap();
        symlink(dir.path().join("real.md"), dir.path().join("alias.md")).unwrap();
        symlink(dir.path().join("missing.md"), dir.path().join("dangling.md")).unwrap();
        let src = LocalFileSource::new(opts(dir.path())).unwrap();
        assert_eq!(uris(&src), ["alias.md", "real.md"]);
        let leak = DocRef { uri: "leak.md".into(), size: 0, modified_unix_ms: 0, version: None };
        assert!(matches!(src.fetch(&leak), Err(IngestError::OutsideRoot { .. })));
        let alias = DocRef { uri: "alias.md".into(), size: 0, modified_unix_ms: 0, version: None };
        assert_eq!(src.fetch(&alias).unwrap().bytes, b"real");
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_subdirectory_is_reported_not_fatal() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ok.md", "ok");
        write(dir.path(), "locked/inside.md", "x");
        let locked = dir.path().join("locked");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        // Root ignores permissions; then there is nothing to observe.
        let readable = fs::read_dir(&locked).is_ok();
        let src = LocalFileSource::new(opts(dir.path())).unwrap();
        let (docs, errors) = src.list().unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(docs.iter().any(|d| d.uri == "ok.md"));
        if !readable {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].0, "locked");
            assert_eq!(errors[0].1.code(), Code::IoFailed);
        }
    }

    #[test]
    fn list_fails_when_root_disappears() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let src = LocalFileSource::new(opts(&root)).unwrap();
        fs::remove_dir(&root).unwrap();
        assert!(matches!(src.list(), Err(IngestError::RootNotFound { .. })));
    }
}
