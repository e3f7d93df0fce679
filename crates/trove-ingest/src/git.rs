//! The git source: the files of one branch of a repository, read from git's object database
//! (never from a working tree), through the `git` command with a time limit on every call.
//!
//! A local repository is read in place. A remote one (HTTPS with a token, SSH with a key, or
//! `file://`) is fetched into a bare mirror under the workspace's data folder, shallowly and
//! incrementally: each sync fetches the branch tip only. Every listed file carries its blob id
//! as its version, so the ingest re-reads exactly the files whose content changed since the last
//! synced commit; files gone from the tree are deleted, renames are a delete plus an add.
//! Documents get the commit their content was read at (an unchanged file keeps the commit of
//! the sync that last read it: the file is the same there), the branch and, for GitHub-,
//! GitLab- and Bitbucket-style hosts, a link to the file at that commit.
//!
//! Credentials never appear on a command line or in a message: a token travels in git's
//! environment-supplied configuration (`http.extraHeader`), and URLs are shown without their
//! user info.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use trove_types::Code;

use crate::error::IngestError;
use crate::filter::PathFilter;
use crate::format::Format;
use crate::source::{DocRef, RawDocument, Source};

/// What a [`GitSource`] reads.
#[derive(Clone)]
pub struct GitOptions {
    /// A local repository (a path) or a remote URL: `https://…`, `ssh://…`, `git@host:path`,
    /// `file://…`.
    pub repo: String,
    /// Whether `repo` is a remote (fetched into a mirror) rather than a local repository.
    pub remote: bool,
    /// The branch; `None` for the repository's default branch (its `HEAD`).
    pub branch: Option<String>,
    /// Globs of files to read (relative to the repository root); empty = all.
    pub include: Vec<String>,
    /// Globs of files or directories to skip.
    pub exclude: Vec<String>,
    /// Extensions to read; empty = every supported type.
    pub file_types: Vec<String>,
    /// Larger files are reported and skipped; 0 = no limit.
    pub max_file_bytes: u64,
    /// Where the bare mirror of a remote repository is kept (unused for a local one).
    pub mirror_dir: PathBuf,
    /// A token for HTTPS remotes (sent as basic authentication with `username`).
    pub token: Option<String>,
    /// The user name sent with the token (default `x-access-token`, which GitHub, GitLab and
    /// Gitea accept).
    pub username: Option<String>,
    /// A private key for SSH remotes.
    pub ssh_key: Option<PathBuf>,
    /// A PEM bundle of certificate authorities for HTTPS remotes, trusted in addition to the
    /// built-in roots (git is handed both in one bundle beside the mirror).
    pub ca_file: Option<PathBuf>,
    /// Longest time one git command may take.
    pub timeout: Duration,
    /// The configuration key of the source, for messages (`vaults.v.sources.s`).
    pub key: String,
}

impl std::fmt::Debug for GitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitOptions")
            .field("repo", &redact_url(&self.repo))
            .field("branch", &self.branch)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The commit a listing was made at.
#[derive(Debug, Clone)]
struct Snapshot {
    commit: String,
    commit_ms: i64,
}

/// A [`Source`] over one branch of a git repository.
#[derive(Debug)]
pub struct GitSource {
    opts: GitOptions,
    filter: PathFilter,
    remote: bool,
    snapshot: Mutex<Option<Snapshot>>,
    /// The built-in roots and `ca_file` as one PEM bundle, when `ca_file` is set; written
    /// beside the mirror before git first runs.
    ca_bundle: Option<(String, std::sync::OnceLock<PathBuf>)>,
}

/// The URL without `user:password@`.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, path)) => match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}/{path}"),
                None => url.to_string(),
            },
            None => match rest.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}"),
                None => url.to_string(),
            },
        },
        None => url.to_string(),
    }
}

impl GitSource {
    /// Checks the filters and, for a local repository, that the path exists.
    pub fn new(opts: GitOptions) -> Result<GitSource, IngestError> {
        let filter = PathFilter::new(&opts.include, &opts.exclude, &opts.file_types)?;
        let remote = opts.remote;
        if !remote && !Path::new(&opts.repo).is_dir() {
            return Err(IngestError::RootNotFound { path: PathBuf::from(&opts.repo) });
        }
        let ca_key = format!("{}.ca_file", opts.key);
        let ca_bundle = match &opts.ca_file {
            Some(path) => Some((
                trove_http::tls::pem_bundle(Some(path), &ca_key)
                    .map_err(|message| IngestError::Setting { key: ca_key.clone(), message })?,
                std::sync::OnceLock::new(),
            )),
            None => None,
        };
        Ok(GitSource { opts, filter, remote, snapshot: Mutex::new(None), ca_bundle })
    }

    /// The repository as shown to people (no credentials).
    pub fn display_repo(&self) -> String {
        redact_url(&self.opts.repo)
    }

    fn git_dir(&self) -> PathBuf {
        if self.remote { self.opts.mirror_dir.clone() } else { PathBuf::from(&self.opts.repo) }
    }

    /// Runs git in the repository (or mirror) with the time limit.
    fn git(&self, action: &str, args: &[&str]) -> Result<Vec<u8>, IngestError> {
        self.git_in(&self.git_dir(), action, args)
    }

    /// Runs git in `dir` with the time limit; its standard output, or an error naming `action`.
    fn git_in(&self, dir: &Path, action: &str, args: &[&str]) -> Result<Vec<u8>, IngestError> {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(dir).args(args);
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
            .env("GIT_HTTP_LOW_SPEED_TIME", self.opts.timeout.as_secs().max(1).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(token) = &self.opts.token {
            let user = self.opts.username.as_deref().unwrap_or("x-access-token");
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env("GIT_CONFIG_VALUE_0", format!("Authorization: Basic {basic}"));
        }
        let connect = self.opts.timeout.as_secs().clamp(1, 60);
        let mut ssh = format!("ssh -o BatchMode=yes -o ConnectTimeout={connect} -o StrictHostKeyChecking=accept-new");
        if let Some(key) = &self.opts.ssh_key {
            ssh.push_str(&format!(" -o IdentitiesOnly=yes -i '{}'", key.display().to_string().replace('\'', "")));
        }
        cmd.env("GIT_SSH_COMMAND", ssh);
        if let Some((pem, written)) = &self.ca_bundle {
            let path = match written.get() {
                Some(p) => p.clone(),
                None => {
                    let p = self.opts.mirror_dir.with_extension("ca.pem");
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| self.failure(action, Code::IoFailed, &e.to_string()))?;
                    }
                    std::fs::write(&p, pem).map_err(|e| {
                        self.failure(action, Code::IoFailed, &format!("cannot write {} ({e})", p.display()))
                    })?;
                    written.get_or_init(|| p).clone()
                }
            };
            cmd.env("GIT_SSL_CAINFO", path);
        }
        let mut child = cmd.spawn().map_err(|e| self.failure(action, Code::IoFailed, &e.to_string()))?;
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = stderr.read_to_string(&mut buf);
            buf
        });
        let deadline = Instant::now() + self.opts.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.failure(
                        action,
                        Code::SourceUnreachable,
                        &format!("no answer within {} s", self.opts.timeout.as_secs()),
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(self.failure(action, Code::IoFailed, &e.to_string())),
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if status.success() {
            Ok(stdout)
        } else {
            let detail = stderr.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" / ");
            Err(self.classify(action, &detail))
        }
    }

    /// An error from git's message: what it means and what to check.
    fn classify(&self, action: &str, detail: &str) -> IngestError {
        let d = detail.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| d.contains(n));
        let code = if has(&["could not resolve host", "name or service not known", "temporary failure in name"]) {
            Code::SourceUnreachable
        } else if has(&[
            "authentication failed",
            "could not read username",
            "terminal prompts disabled",
            "access denied",
            "permission denied",
            "the requested url returned error: 401",
            "the requested url returned error: 403",
            "repository not found",
            "not found",
            "does not appear to be a git repository",
            "couldn't find remote ref",
            "not a git repository",
            "not a valid object name",
            "invalid object name",
            "needed a single revision",
        ]) {
            Code::SourceRefused
        } else {
            Code::SourceUnreachable
        };
        self.failure(action, code, detail)
    }

    fn failure(&self, action: &str, code: Code, detail: &str) -> IngestError {
        let d = detail.to_ascii_lowercase();
        let key = &self.opts.key;
        let fix = if d.contains("could not resolve host") || d.contains("name or service not known") {
            "the host name does not resolve: check the URL, DNS and any proxy (HTTPS_PROXY)".to_string()
        } else if d.contains("ssl") || d.contains("certificate") {
            format!("the server's certificate is not trusted: set {key}.ca_file to your CA bundle")
        } else if d.contains("permission denied (publickey)") || d.contains("host key verification failed") {
            format!(
                "the SSH key was refused: check {key}.ssh_key and that its public key is a deploy key of the repository"
            )
        } else if d.contains("authentication failed")
            || d.contains("could not read username")
            || d.contains("terminal prompts disabled")
            || d.contains("401")
            || d.contains("access denied")
        {
            format!(
                "the remote wants credentials or refused them: set {key}.token (and username) to a token with read access"
            )
        } else if d.contains("403") {
            format!("the token of {key} lacks read access to this repository")
        } else if d.contains("couldn't find remote ref")
            || d.contains("needed a single revision")
            || d.contains("not a valid object name")
            || d.contains("invalid object name")
        {
            format!("the branch does not exist: check {key}.branch")
        } else if d.contains("not found")
            || d.contains("does not appear to be a git repository")
            || d.contains("not a git repository")
        {
            format!("no repository there: check {key}.repo")
        } else if code == Code::SourceUnreachable {
            format!("check the network path to the remote (connection, proxy, firewall) or raise {key}.timeout_s")
        } else {
            format!("check {key}")
        };
        IngestError::Remote {
            remote: self.display_repo(),
            action: action.to_string(),
            detail: detail.to_string(),
            fix,
            code,
        }
    }

    /// Checks the repository answers and the branch exists, changing nothing (no fetch: a
    /// remote is asked with `git ls-remote`). Returns the branch's tip commit.
    pub fn probe(&self) -> Result<String, IngestError> {
        if !self.remote {
            return self.resolve().map(|s| s.commit);
        }
        let wanted = self.opts.branch.clone().unwrap_or_else(|| "HEAD".into());
        let pattern = if wanted == "HEAD" { wanted.clone() } else { format!("refs/heads/{wanted}") };
        let out = self.git_in(&std::env::temp_dir(), "check", &["ls-remote", "--", &self.opts.repo, &pattern])?;
        let text = String::from_utf8_lossy(&out);
        match text.lines().find_map(|l| l.split_whitespace().next()) {
            Some(commit) => Ok(commit.to_string()),
            None => Err(self.failure("check", Code::SourceRefused, "couldn't find remote ref")),
        }
    }

    /// Brings the mirror of a remote to the branch tip; returns the ref to read.
    fn fetch_remote(&self) -> Result<String, IngestError> {
        let dir = &self.opts.mirror_dir;
        if !dir.join("HEAD").is_file() {
            std::fs::create_dir_all(dir).map_err(|e| IngestError::io(dir.display().to_string(), e))?;
            self.git("set-up of the mirror", &["init", "--bare", "--quiet"])?;
        }
        let spec = format!("+{}:refs/trove/head", self.opts.branch.as_deref().unwrap_or("HEAD"));
        self.git("fetch", &["fetch", "--quiet", "--no-tags", "--depth=1", "--", &self.opts.repo, &spec])?;
        Ok("refs/trove/head".to_string())
    }

    fn resolve(&self) -> Result<Snapshot, IngestError> {
        let rev = if self.remote { self.fetch_remote()? } else { self.opts.branch.clone().unwrap_or("HEAD".into()) };
        let out = self.git("lookup of the branch", &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")]);
        let commit = match out {
            Ok(o) => String::from_utf8_lossy(&o).trim().to_string(),
            Err(IngestError::Remote { detail, .. }) if detail.is_empty() => {
                return Err(self.failure("lookup of the branch", Code::SourceRefused, "needed a single revision"));
            }
            Err(e) => return Err(e),
        };
        if commit.is_empty() {
            return Err(self.failure("lookup of the branch", Code::SourceRefused, "needed a single revision"));
        }
        let time = self.git("read of the commit", &["show", "-s", "--format=%ct", &commit])?;
        let secs: i64 = String::from_utf8_lossy(&time).trim().parse().unwrap_or(0);
        Ok(Snapshot { commit, commit_ms: secs * 1000 })
    }

    fn snapshot(&self) -> Result<Snapshot, IngestError> {
        if let Some(s) = self.snapshot.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(s);
        }
        let s = self.resolve()?;
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.clone());
        Ok(s)
    }

    /// A link to the file at the commit, for hosts whose URL layout is known.
    fn web_link(&self, commit: &str, path: &str) -> Option<String> {
        let repo = redact_url(&self.opts.repo);
        let base = if let Some(rest) = repo.strip_prefix("https://") {
            format!("https://{}", rest.trim_end_matches('/').trim_end_matches(".git"))
        } else if let Some(rest) = repo.strip_prefix("git@") {
            let (host, path) = rest.split_once(':')?;
            format!("https://{host}/{}", path.trim_end_matches('/').trim_end_matches(".git"))
        } else {
            return None;
        };
        let host = base.strip_prefix("https://")?.split('/').next()?;
        let layout = if host.contains("gitlab") {
            "-/blob"
        } else if host.contains("bitbucket") {
            "src"
        } else if host.contains("github") || host.contains("gitea") || host.contains("codeberg") {
            "blob"
        } else {
            return None;
        };
        Some(format!("{base}/{layout}/{commit}/{path}"))
    }
}

impl Source for GitSource {
    fn list(&self) -> Result<(Vec<DocRef>, Vec<(String, IngestError)>), IngestError> {
        // Each listing reads the branch afresh.
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let snap = self.snapshot()?;
        let tree = self.git("listing of the tree", &["ls-tree", "-r", "-l", "-z", "--full-tree", &snap.commit])?;
        let mut docs = Vec::new();
        let mut errors = Vec::new();
        for entry in tree.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let Some(tab) = entry.iter().position(|b| *b == b'\t') else { continue };
            let head = String::from_utf8_lossy(&entry[..tab]);
            let mut fields = head.split_whitespace();
            let (Some(mode), Some(kind), Some(sha), Some(size)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            // Symbolic links (120000) and submodules (commits) are not documents.
            if kind != "blob" || mode == "120000" {
                continue;
            }
            let Ok(uri) = std::str::from_utf8(&entry[tab + 1..]) else {
                errors.push((
                    String::from_utf8_lossy(&entry[tab + 1..]).into_owned(),
                    IngestError::NonUtf8Name { path: String::from_utf8_lossy(&entry[tab + 1..]).into_owned() },
                ));
                continue;
            };
            if !self.filter.matches(uri) {
                continue;
            }
            let size: u64 = size.parse().unwrap_or(0);
            if self.opts.max_file_bytes > 0 && size > self.opts.max_file_bytes {
                errors.push((
                    uri.to_string(),
                    IngestError::TooLarge { uri: uri.to_string(), size, max: self.opts.max_file_bytes },
                ));
                continue;
            }
            docs.push(DocRef {
                uri: uri.to_string(),
                size,
                modified_unix_ms: snap.commit_ms,
                version: Some(sha.to_string()),
            });
        }
        docs.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok((docs, errors))
    }

    fn fetch(&self, doc: &DocRef) -> Result<RawDocument, IngestError> {
        let snap = self.snapshot()?;
        let object = match &doc.version {
            Some(sha) => sha.clone(),
            None => format!("{}:{}", snap.commit, doc.uri),
        };
        let bytes = self.git("read of a file", &["cat-file", "blob", &object]).map_err(|e| match e {
            IngestError::Remote { code: Code::SourceRefused, .. } => IngestError::NotFound { uri: doc.uri.clone() },
            other => other,
        })?;
        if self.opts.max_file_bytes > 0 && bytes.len() as u64 > self.opts.max_file_bytes {
            return Err(IngestError::TooLarge {
                uri: doc.uri.clone(),
                size: bytes.len() as u64,
                max: self.opts.max_file_bytes,
            });
        }
        let format =
            Format::from_path(&doc.uri).ok_or_else(|| IngestError::UnsupportedFormat { uri: doc.uri.clone() })?;
        let mut raw = RawDocument::new(doc.uri.clone(), bytes, format, snap.commit_ms);
        raw.metadata.insert("commit".into(), snap.commit.clone().into());
        raw.metadata.insert("repository".into(), self.display_repo().into());
        if let Some(branch) = &self.opts.branch {
            raw.metadata.insert("branch".into(), branch.clone().into());
        }
        if let Some(link) = self.web_link(&snap.commit, &doc.uri) {
            raw.metadata.insert("url".into(), link.into());
        }
        Ok(raw)
    }
}

#[cfg(test)]
#[path = "../tests/support/git.rs"]
mod test_repo;

#[cfg(test)]
mod tests {
    use super::test_repo::{git as run, write};
    use super::*;

    /// A repository on branch `main` with three documents and a file that is not one.
    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        run(d, &["init", "--quiet", "-b", "main"]);
        write(d, "README.md", "# Readme\n\nHello.\n");
        write(d, "docs/guide.md", "# Guide\n\nSteps.\n");
        write(d, "docs/old.txt", "old notes\n");
        write(d, ".github/workflow.yml", "on: push\n");
        write(d, "logo.psd", "not a format Trove reads");
        run(d, &["add", "-A"]);
        run(d, &["commit", "--quiet", "-m", "first"]);
        dir
    }

    fn opts(repo: &str, mirror: &Path) -> GitOptions {
        GitOptions {
            repo: repo.to_string(),
            remote: repo.contains("://"),
            branch: None,
            include: Vec::new(),
            exclude: Vec::new(),
            file_types: Vec::new(),
            max_file_bytes: 0,
            mirror_dir: mirror.to_path_buf(),
            token: None,
            username: None,
            ssh_key: None,
            ca_file: None,
            timeout: Duration::from_secs(30),
            key: "vaults.v.sources.code".into(),
        }
    }

    fn uris(docs: &[DocRef]) -> Vec<&str> {
        docs.iter().map(|d| d.uri.as_str()).collect()
    }

    #[test]
    fn remotes_are_shown_without_credentials() {
        assert_eq!(redact_url("https://ada:s3cret@git.example.com/a/b.git"), "https://git.example.com/a/b.git");
        assert_eq!(redact_url("https://git.example.com/a/b.git"), "https://git.example.com/a/b.git");
        let o = opts("https://ada:s3cret@github.com/acme/kb.git", Path::new("/x"));
        assert!(!format!("{o:?}").contains("s3cret"));
    }

    #[test]
    fn a_local_branch_is_listed_with_blob_versions_and_read_with_its_commit() {
        let r = repo();
        let mirror = tempfile::tempdir().unwrap();
        let src = GitSource::new(opts(r.path().to_str().unwrap(), mirror.path())).unwrap();
        let (docs, errors) = src.list().unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(uris(&docs), ["README.md", "docs/guide.md", "docs/old.txt"], "hidden and unsupported files skipped");
        let blob = run(r.path(), &["rev-parse", "HEAD:docs/guide.md"]);
        assert_eq!(docs[1].version.as_deref(), Some(blob.as_str()));
        let raw = src.fetch(&docs[1]).unwrap();
        assert_eq!(raw.bytes, b"# Guide\n\nSteps.\n");
        assert_eq!(raw.metadata["commit"], run(r.path(), &["rev-parse", "HEAD"]));
        assert!(raw.modified_unix_ms > 0);
        assert!(std::fs::read_dir(mirror.path()).unwrap().next().is_none(), "a local repository needs no mirror");
    }

    #[test]
    fn changes_deletions_and_renames_show_in_the_next_listing() {
        let r = repo();
        let d = r.path();
        let src = GitSource::new(opts(d.to_str().unwrap(), Path::new("/nonexistent"))).unwrap();
        let (before, _) = src.list().unwrap();
        write(d, "docs/guide.md", "# Guide\n\nNew steps.\n");
        run(d, &["rm", "--quiet", "docs/old.txt"]);
        run(d, &["mv", "README.md", "INTRO.md"]);
        run(d, &["add", "-A"]);
        run(d, &["commit", "--quiet", "-m", "second"]);
        let (after, _) = src.list().unwrap();
        assert_eq!(uris(&after), ["INTRO.md", "docs/guide.md"]);
        assert_eq!(after[0].version, before[0].version, "a rename keeps the blob: same content");
        assert_ne!(after[1].version, before[1].version, "a change is a new blob");
        assert_eq!(src.fetch(&after[1]).unwrap().bytes, b"# Guide\n\nNew steps.\n");
        // Uncommitted changes in a working tree are not read: the branch is.
        write(d, "docs/guide.md", "# Guide\n\nDraft.\n");
        let (again, _) = src.list().unwrap();
        assert_eq!(again[1].version, after[1].version);
    }

    #[test]
    fn a_branch_is_chosen_and_a_missing_one_is_named() {
        let r = repo();
        let d = r.path();
        run(d, &["checkout", "--quiet", "-b", "next"]);
        write(d, "docs/next.md", "# Next\n");
        run(d, &["add", "-A"]);
        run(d, &["commit", "--quiet", "-m", "next"]);
        run(d, &["checkout", "--quiet", "main"]);
        let mut o = opts(d.to_str().unwrap(), Path::new("/nonexistent"));
        let (main, _) = GitSource::new(o.clone()).unwrap().list().unwrap();
        assert!(!uris(&main).contains(&"docs/next.md"));
        o.branch = Some("next".into());
        let (next, _) = GitSource::new(o.clone()).unwrap().list().unwrap();
        assert!(uris(&next).contains(&"docs/next.md"));
        o.branch = Some("nope".into());
        let e = GitSource::new(o).unwrap().list().unwrap_err();
        assert_eq!(trove_types::HasCode::code(&e), Code::SourceRefused);
        assert!(e.to_string().contains("vaults.v.sources.code.branch"), "{e}");
    }

    #[test]
    fn filters_and_size_limits_apply() {
        let r = repo();
        let mut o = opts(r.path().to_str().unwrap(), Path::new("/nonexistent"));
        o.include = vec!["docs/**".into()];
        o.exclude = vec!["docs/old.txt".into()];
        let (docs, _) = GitSource::new(o.clone()).unwrap().list().unwrap();
        assert_eq!(uris(&docs), ["docs/guide.md"]);
        o.include.clear();
        o.exclude.clear();
        o.file_types = vec!["txt".into()];
        let (docs, _) = GitSource::new(o.clone()).unwrap().list().unwrap();
        assert_eq!(uris(&docs), ["docs/old.txt"]);
        o.file_types.clear();
        o.max_file_bytes = 12;
        let (docs, errors) = GitSource::new(o).unwrap().list().unwrap();
        assert_eq!(uris(&docs), ["docs/old.txt"]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(matches!(errors[0].1, IngestError::TooLarge { .. }));
    }

    #[test]
    fn a_remote_is_mirrored_and_fetched_incrementally() {
        let r = repo();
        let mirror = tempfile::tempdir().unwrap();
        let url = format!("file://{}", r.path().display());
        let src = GitSource::new(opts(&url, &mirror.path().join("m"))).unwrap();
        let (docs, _) = src.list().unwrap();
        assert_eq!(uris(&docs), ["README.md", "docs/guide.md", "docs/old.txt"]);
        assert!(mirror.path().join("m/HEAD").is_file(), "a bare mirror");
        assert_eq!(src.fetch(&docs[0]).unwrap().bytes, b"# Readme\n\nHello.\n");
        write(r.path(), "docs/new.md", "# New\n");
        run(r.path(), &["add", "-A"]);
        run(r.path(), &["commit", "--quiet", "-m", "more"]);
        let (docs, _) = src.list().unwrap();
        assert!(uris(&docs).contains(&"docs/new.md"));
        let raw = src.fetch(docs.iter().find(|d| d.uri == "docs/new.md").unwrap()).unwrap();
        assert_eq!(raw.metadata["commit"], run(r.path(), &["rev-parse", "HEAD"]));
    }

    #[test]
    fn a_ca_file_reaches_git_together_with_the_built_in_roots() {
        let r = repo();
        let mirror = tempfile::tempdir().unwrap();
        let url = format!("file://{}", r.path().display());
        // One certificate authority of the built-in set stands in for a private one.
        let one = trove_http::tls::pem_bundle(None, "x").unwrap();
        let one = &one[..one.find("-----END CERTIFICATE-----\n").unwrap() + 26];
        let ca = mirror.path().join("private-ca.pem");
        std::fs::write(&ca, one).unwrap();
        let mut o = opts(&url, &mirror.path().join("m"));
        o.ca_file = Some(ca.clone());
        let src = GitSource::new(o).unwrap();
        src.list().unwrap();
        let bundle = std::fs::read_to_string(mirror.path().join("m.ca.pem")).expect("the bundle git is handed");
        assert_eq!(bundle, trove_http::tls::pem_bundle(Some(&ca), "x").unwrap());
        assert!(bundle.matches("BEGIN CERTIFICATE").count() > 100, "the built-in roots are in it too");

        let bad = mirror.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let mut o = opts(&url, &mirror.path().join("m2"));
        o.ca_file = Some(bad);
        let e = GitSource::new(o).unwrap_err();
        assert_eq!(trove_types::HasCode::code(&e), Code::ConfigInvalid);
        assert!(e.to_string().contains(".ca_file"), "{e}");
    }

    #[test]
    fn remote_failures_say_what_to_check() {
        let mirror = tempfile::tempdir().unwrap();
        let src = GitSource::new(opts("file:///nonexistent/repo.git", &mirror.path().join("m"))).unwrap();
        let e = src.list().unwrap_err();
        assert_eq!(trove_types::HasCode::code(&e), Code::SourceRefused, "{e}");
        assert!(e.to_string().contains("vaults.v.sources.code.repo"), "{e}");

        // A server that accepts and never answers: the time limit ends the fetch.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/kb.git", listener.local_addr().unwrap());
        let mut o = opts(&url, &mirror.path().join("t"));
        o.timeout = Duration::from_secs(1);
        let started = Instant::now();
        let e = GitSource::new(o).unwrap().list().unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(20), "the time limit held");
        assert_eq!(trove_types::HasCode::code(&e), Code::SourceUnreachable, "{e}");
        assert!(e.to_string().contains("timeout_s") || e.to_string().contains("within 1 s"), "{e}");
        drop(listener);
    }

    #[test]
    fn a_probe_finds_the_branch_tip_without_fetching() {
        let r = repo();
        let head = run(r.path(), &["rev-parse", "HEAD"]);
        let mirror = tempfile::tempdir().unwrap();
        let url = format!("file://{}", r.path().display());
        let remote = GitSource::new(opts(&url, &mirror.path().join("m"))).unwrap();
        assert_eq!(remote.probe().unwrap(), head);
        assert!(!mirror.path().join("m").exists(), "nothing was fetched");
        let local = GitSource::new(opts(r.path().to_str().unwrap(), Path::new("/x"))).unwrap();
        assert_eq!(local.probe().unwrap(), head);
        let mut o = opts(&url, &mirror.path().join("m"));
        o.branch = Some("nope".into());
        let e = GitSource::new(o).unwrap().probe().unwrap_err();
        assert!(e.to_string().contains("sources.code.branch"), "{e}");
    }

    #[test]
    fn links_point_at_the_file_at_the_commit() {
        let src = |repo: &str| GitSource {
            opts: opts(repo, Path::new("/x")),
            filter: PathFilter::default(),
            remote: true,
            snapshot: Mutex::new(None),
            ca_bundle: None,
        };
        assert_eq!(
            src("https://github.com/acme/kb.git").web_link("abc", "docs/a.md").as_deref(),
            Some("https://github.com/acme/kb/blob/abc/docs/a.md")
        );
        assert_eq!(
            src("git@gitlab.com:acme/kb.git").web_link("abc", "a.md").as_deref(),
            Some("https://gitlab.com/acme/kb/-/blob/abc/a.md")
        );
        assert_eq!(src("ssh://git@example.com/kb").web_link("abc", "a.md"), None);
    }
}
