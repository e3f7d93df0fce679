//! A git source through the engine: the first sync adds the branch's files with their commit;
//! the next reads only files whose blob changed (unchanged ones are neither fetched nor
//! embedded), deletions and renames propagate, and switching the configured branch replaces
//! what differs. A source that lists versions is never fetched for an unchanged document.

#[path = "support/fake.rs"]
mod fake;
#[path = "support/local.rs"]
mod local;
#[path = "../../trove-ingest/tests/support/git.rs"]
mod repo;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fake::Fake;
use repo::{commit, git, write};
use trove_config::Workspace;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode};
use trove_ingest::{DocRef, Format, IngestError, RawDocument, Source};
use trove_types::IngestSummary;

fn open(root: &Path, embedder: Arc<Fake>) -> Engine {
    let ws = Workspace::load(Some(root), None).unwrap();
    Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(embedder)
}

fn configure(root: &Path, repo: &str, branch: Option<&str>) {
    let branch = branch.map(|b| format!("        branch: {b}\n")).unwrap_or_default();
    std::fs::write(
        root.join("config.yaml"),
        format!("vaults:\n  code:\n    sources:\n      repo:\n        type: git\n        repo: {repo}\n{branch}"),
    )
    .unwrap();
}

fn sync(engine: &Engine) -> IngestSummary {
    engine.ingest(&IngestOptions::default(), &NoProgress).unwrap().total
}

fn documents(engine: &Engine) -> Vec<(String, serde_json::Value)> {
    let page = engine.documents_list(&local::local(engine, "code"), None, Some(100)).unwrap();
    page.documents
        .iter()
        .map(|d| {
            (d.uri.clone(), engine.document_get(&local::local(engine, "code"), &d.id.to_string()).unwrap().metadata)
        })
        .collect()
}

#[test]
fn a_git_branch_syncs_incrementally_by_commit() {
    let repo = tempfile::tempdir().unwrap();
    let r = repo.path();
    git(r, &["init", "--quiet", "-b", "main"]);
    write(r, "README.md", "# Readme\n\nHow to build the project.\n");
    write(r, "docs/deploy.md", "# Deploy\n\nRun the deploy script on Fridays.\n");
    write(r, "docs/old.md", "# Old\n\nThe old process.\n");
    commit(r, "first");

    let ws = tempfile::tempdir().unwrap();
    let url = format!("file://{}", r.display());
    configure(ws.path(), &url, None);
    let fake = Fake::new("fake/a", 8, usize::MAX);
    let engine = open(ws.path(), fake.clone());
    let s = sync(&engine);
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged, s.failed), (3, 0, 0, 0, 0), "{s:?}");
    let head = git(r, &["rev-parse", "HEAD"]);
    let docs = documents(&engine);
    assert!(docs.iter().all(|(_, m)| m["commit"] == head.as_str()), "{docs:?}");
    assert!(engine.workspace().data_dir().join("git/code/repo/HEAD").is_file(), "a mirror in the data folder");

    // Nothing changed: nothing is read or embedded.
    let calls = fake.calls.load(Ordering::SeqCst);
    let s = sync(&engine);
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged), (0, 0, 0, 3), "{s:?}");
    assert_eq!(fake.calls.load(Ordering::SeqCst), calls, "no embedding for an unchanged branch");

    // A change, a deletion and a rename in one commit.
    write(r, "docs/deploy.md", "# Deploy\n\nRun the deploy script on Tuesdays.\n");
    git(r, &["rm", "--quiet", "docs/old.md"]);
    git(r, &["mv", "README.md", "BUILDING.md"]);
    commit(r, "second");
    let inputs = fake.inputs.load(Ordering::SeqCst);
    let s = sync(&engine);
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged), (1, 1, 2, 0), "{s:?}");
    assert!(fake.inputs.load(Ordering::SeqCst) > inputs);
    let uris: Vec<String> = documents(&engine).into_iter().map(|(u, _)| u).collect();
    assert_eq!(uris.len(), 2);
    assert!(uris.contains(&"BUILDING.md".to_string()) && uris.contains(&"docs/deploy.md".to_string()), "{uris:?}");
    assert_eq!(local::keyword_uris(&engine, "code", "Tuesdays")[0], "docs/deploy.md");
    drop(engine);

    // Another branch: what differs is replaced.
    git(r, &["checkout", "--quiet", "-b", "release"]);
    write(r, "docs/release.md", "# Release\n\nTag and push.\n");
    commit(r, "release");
    git(r, &["checkout", "--quiet", "main"]);
    configure(ws.path(), &url, Some("release"));
    let engine = open(ws.path(), fake.clone());
    let s = sync(&engine);
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged), (1, 0, 0, 2), "{s:?}");
    // The new file names its branch and commit; unchanged files keep the commit they were read
    // at, whose link still shows the same content.
    let release = git(r, &["rev-parse", "release"]);
    let docs = documents(&engine);
    let new = docs.iter().find(|(u, _)| u == "docs/release.md").unwrap();
    assert_eq!((new.1["branch"].as_str(), new.1["commit"].as_str()), (Some("release"), Some(release.as_str())));
    let kept = docs.iter().find(|(u, _)| u == "BUILDING.md").unwrap();
    assert_eq!(kept.1["commit"], git(r, &["rev-parse", "main"]).as_str(), "{docs:?}");
}

/// Lists two versioned documents; counts fetches.
struct Versioned {
    version: String,
    fetches: AtomicUsize,
}

impl Source for Versioned {
    fn list(&self) -> Result<(Vec<DocRef>, Vec<(String, IngestError)>), IngestError> {
        let doc =
            |uri: &str| DocRef { uri: uri.into(), size: 5, modified_unix_ms: 0, version: Some(self.version.clone()) };
        Ok((vec![doc("a.md"), doc("b.md")], Vec::new()))
    }
    fn fetch(&self, doc: &DocRef) -> Result<RawDocument, IngestError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let mut raw =
            RawDocument::new(doc.uri.clone(), format!("# {}\n\nbody", doc.uri).into_bytes(), Format::Markdown, 0);
        raw.title = Some(format!("Page {}", doc.uri));
        raw.metadata.insert("url".into(), format!("https://wiki.example/{}", doc.uri).into());
        Ok(raw)
    }
}

#[test]
fn a_listed_version_spares_the_fetch_and_source_metadata_is_kept() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("config.yaml"), "vaults:\n  code:\n    sources: {}\n").unwrap();
    let engine = open(ws.path(), Fake::new("fake/a", 8, usize::MAX));
    let source = Versioned { version: "v1".into(), fetches: AtomicUsize::new(0) };
    let s = engine.ingest_documents("code", "wiki", &source, &NoProgress).unwrap();
    assert_eq!((s.added, source.fetches.load(Ordering::SeqCst)), (2, 2));
    let s = engine.ingest_documents("code", "wiki", &source, &NoProgress).unwrap();
    assert_eq!((s.unchanged, source.fetches.load(Ordering::SeqCst)), (2, 2), "same version: not fetched");
    let source = Versioned { version: "v2".into(), fetches: AtomicUsize::new(0) };
    let s = engine.ingest_documents("code", "wiki", &source, &NoProgress).unwrap();
    // A new version with the same content is read, found equal by its hash... and recorded.
    assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(s.added + s.updated + s.unchanged, 2, "{s:?}");
    let s = engine.ingest_documents("code", "wiki", &source, &NoProgress).unwrap();
    assert_eq!((s.unchanged, source.fetches.load(Ordering::SeqCst)), (2, 2), "v2 recorded: not fetched again");
    let docs = documents(&engine);
    let detail = engine
        .document_get(
            &local::local(&engine, "code"),
            &engine.documents_list(&local::local(&engine, "code"), None, None).unwrap().documents[0].id.to_string(),
        )
        .unwrap();
    assert_eq!(detail.document.title, "Page a.md", "the source's title wins");
    assert_eq!(docs[0].1["url"], "https://wiki.example/a.md");
}
