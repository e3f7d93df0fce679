//! Confluence and JIRA sources through the engine, against the fake servers of
//! `trove_ingest::testing`: the first sync adds every page; the next reads and embeds only the
//! page whose version changed (unchanged pages are neither fetched nor embedded); a deleted
//! page is removed; the page's place in the space heads its chunks and its metadata is kept.
//! A refusing server fails the sync with `source_refused` and keeps what was indexed. With
//! `attachments: true`, a page's file is a document: searchable, not downloaded again when
//! unchanged, deleted when removed upstream.

#[path = "support/fake.rs"]
mod fake;
#[path = "support/local.rs"]
mod local;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use fake::Fake;
use trove_config::Workspace;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode};
use trove_ingest::Deployment;
use trove_ingest::testing::{FakeConfluence, FakeIssue, FakeJira, PAT, Reply, WikiAttachment, WikiPage};
use trove_types::{HasCode, IngestSummary};

fn open(root: &Path, embedder: Arc<Fake>) -> Engine {
    let ws = Workspace::load(Some(root), None).unwrap();
    Engine::open(ws, OpenMode::Write, "test").unwrap().with_embedder(embedder)
}

/// A workspace whose `config.yaml` is `yaml`.
fn workspace(yaml: &str) -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("config.yaml"), yaml).unwrap();
    ws
}

fn sync(engine: &Engine) -> IngestSummary {
    engine.ingest(&IngestOptions::default(), &NoProgress).unwrap().total
}

fn body_reads(wiki: &FakeConfluence) -> usize {
    wiki.server.requests().iter().filter(|r| r.path.starts_with("/rest/api/content/")).count()
}

#[test]
fn a_confluence_space_syncs_by_page_version() {
    let wiki = FakeConfluence::start(Deployment::DataCenter);
    wiki.put(WikiPage::new("1", "Home", None, "<p>Welcome to engineering.</p>"));
    wiki.put(WikiPage::new("2", "Runbooks", Some("1"), "<p>How we operate.</p>"));
    wiki.put(WikiPage::new("3", "Deploy", Some("2"), "<p>Run the deploy script on Fridays.</p>"));
    wiki.put(WikiPage::new("4", "Old process", Some("2"), "<p>Retired.</p>"));

    let ws = workspace(&format!(
        "vaults:\n  kb:\n    sources:\n      wiki:\n        type: confluence\n        deployment: datacenter\n        \
         base_url: {}\n        space: ENG\n        token: ${{WIKI_TOKEN}}\n        timeout_s: 5\n",
        wiki.url()
    ));
    std::fs::write(ws.path().join(".env"), format!("WIKI_TOKEN={PAT}\n")).unwrap();
    let fake = Fake::new("fake/a", 8, usize::MAX);
    let engine = open(ws.path(), fake.clone());

    let s = sync(&engine);
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged, s.failed), (4, 0, 0, 0, 0), "{s:?}");
    assert_eq!(body_reads(&wiki), 4);
    let page = engine.documents_list(&local::local(&engine, "kb"), None, Some(100)).unwrap();
    let deploy = page.documents.iter().find(|d| d.uri == "3").expect("page 3");
    let detail = engine.document_get(&local::local(&engine, "kb"), &deploy.id.to_string()).unwrap();
    assert_eq!(detail.document.title, "Deploy");
    assert_eq!(detail.metadata["url"], format!("{}/display/ENG/Deploy", wiki.url()));
    assert_eq!(detail.metadata["ancestors"], serde_json::json!(["Home", "Runbooks"]));
    assert_eq!(detail.metadata["author"], "Ada Lovelace");
    assert!(
        detail.chunks.iter().any(|c| c.heading_path.first().map(String::as_str) == Some("Home > Runbooks > Deploy")),
        "{:?}",
        detail.chunks
    );

    // Nothing changed: no page body is read, nothing is embedded.
    let calls = fake.calls.load(Ordering::SeqCst);
    let s = sync(&engine);
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged), (0, 0, 0, 4), "{s:?}");
    assert_eq!(body_reads(&wiki), 4, "unchanged pages are not fetched");
    assert_eq!(fake.calls.load(Ordering::SeqCst), calls);

    // An edit and a delete.
    wiki.edit("3", "<p>Run the deploy script on Tuesdays.</p>");
    wiki.remove("4");
    let s = sync(&engine);
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged), (0, 1, 1, 2), "{s:?}");
    assert_eq!(body_reads(&wiki), 5, "only the edited page is read");
    assert_eq!(local::keyword_uris(&engine, "kb", "Tuesdays")[0], "3");

    // A refusing server fails the sync and deletes nothing.
    wiki.faults.push("/rest/api/space", Reply::json(401, &serde_json::json!({"message": "Unauthorized"})));
    let e = engine.ingest(&IngestOptions::default(), &NoProgress).unwrap_err();
    assert_eq!(e.code(), trove_types::Code::SourceRefused, "{e}");
    assert!(e.to_string().contains("vaults.kb.sources.wiki.token"), "{e}");
    assert_eq!(engine.documents_list(&local::local(&engine, "kb"), None, Some(100)).unwrap().documents.len(), 3);
}

fn keyword_hits(engine: &Engine, query: &str) -> Vec<String> {
    local::keyword_uris(engine, "kb", query)
}

#[test]
fn confluence_attachments_are_searchable_and_leave_with_their_file() {
    let wiki = FakeConfluence::start(Deployment::Cloud);
    wiki.put(WikiPage::new("1", "Home", None, "<p>Welcome.</p>"));
    wiki.put(WikiPage::new("2", "Deploy", Some("1"), "<p>Run the deploy script.</p>"));
    let escalation = b"When a deploy fails, page the Zanzibar on-call rotation.";
    wiki.attach(WikiAttachment::new("att7", "2", "escalation.txt", "text/plain", escalation));
    wiki.attach(WikiAttachment::new("att8", "2", "layout.vsdx", "application/vnd.ms-visio.drawing", b"PK\x03\x04"));
    let ws = workspace(&format!(
        "vaults:\n  kb:\n    sources:\n      wiki:\n        type: confluence\n        base_url: {}\n        \
         space: ENG\n        email: {}\n        api_token: {}\n        attachments: true\n        timeout_s: 5\n",
        wiki.url(),
        trove_ingest::testing::EMAIL,
        trove_ingest::testing::API_TOKEN
    ));
    let engine = open(ws.path(), Fake::new("fake/a", 8, usize::MAX));

    let s = sync(&engine);
    assert_eq!((s.added, s.failed), (3, 0), "two pages and the text file (the Visio drawing is skipped): {s:?}");
    assert_eq!(keyword_hits(&engine, "Zanzibar"), ["2/attachments/att7"]);
    let docs = engine.documents_list(&local::local(&engine, "kb"), None, Some(100)).unwrap().documents;
    let file = docs.iter().find(|d| d.uri == "2/attachments/att7").expect("the attachment");
    let detail = engine.document_get(&local::local(&engine, "kb"), &file.id.to_string()).unwrap();
    assert_eq!(detail.document.title, "escalation.txt");
    assert_eq!(detail.metadata["page_title"], "Deploy");
    assert_eq!(detail.metadata["media_type"], "text/plain");
    assert!(
        detail
            .chunks
            .iter()
            .all(|c| c.heading_path.first().map(String::as_str) == Some("Home > Deploy > escalation.txt")),
        "{:?}",
        detail.chunks
    );

    // Nothing changed: nothing is downloaded again.
    let s = sync(&engine);
    assert_eq!((s.added, s.updated, s.unchanged), (0, 0, 3), "{s:?}");
    assert_eq!(wiki.downloads().len(), 1);

    // The file removed upstream: deleted, no longer found.
    wiki.remove_attachment("att7");
    let s = sync(&engine);
    assert_eq!((s.deleted, s.unchanged), (1, 2), "{s:?}");
    assert!(keyword_hits(&engine, "Zanzibar").is_empty());
}

#[test]
fn a_jira_project_syncs_by_updated_time() {
    let jira = FakeJira::start(Deployment::Cloud);
    jira.put(FakeIssue::new("OPS-1", "Disk full", "The disk of db1 filled up."));
    jira.put(FakeIssue::new("OPS-2", "Slow queries", "Queries take seconds."));
    let ws = workspace(&format!(
        "vaults:\n  ops:\n    sources:\n      tickets:\n        type: jira\n        base_url: {}\n        \
         project: OPS\n        email: {}\n        api_token: {}\n",
        jira.url(),
        trove_ingest::testing::EMAIL,
        trove_ingest::testing::API_TOKEN
    ));
    let engine = open(ws.path(), Fake::new("fake/a", 8, usize::MAX));
    let s = sync(&engine);
    assert_eq!((s.added, s.failed), (2, 0), "{s:?}");
    jira.comment("OPS-2", "Grace Hopper", "An index was missing.", "2024-04-01T08:00:00.000+0000");
    let s = sync(&engine);
    assert_eq!((s.updated, s.unchanged), (1, 1), "{s:?}");
    jira.remove("OPS-1");
    let s = sync(&engine);
    assert_eq!((s.deleted, s.unchanged), (1, 1), "{s:?}");
    let docs = engine.documents_list(&local::local(&engine, "ops"), None, Some(10)).unwrap().documents;
    assert_eq!(docs.len(), 1);
    let detail = engine.document_get(&local::local(&engine, "ops"), &docs[0].id.to_string()).unwrap();
    assert_eq!(detail.document.title, "OPS-2: Slow queries");
    assert_eq!(detail.metadata["status"], "Open");
}

#[test]
fn a_probe_reads_one_answer_and_names_what_to_fix() {
    let wiki = FakeConfluence::start(Deployment::DataCenter);
    wiki.put(WikiPage::new("1", "Home", None, "<p>Welcome.</p>"));
    let jira = FakeJira::start(Deployment::DataCenter);
    jira.put(FakeIssue::new("OPS-1", "Pager is loud", "It beeps."));
    let ws = tempfile::tempdir().unwrap();
    let write = |space: &str, token: &str| {
        std::fs::write(
            ws.path().join("config.yaml"),
            format!(
                "vaults:\n  kb:\n    sources:\n      wiki:\n        type: confluence\n        deployment: datacenter\n        \
                 base_url: {}\n        space: {space}\n        token: {token}\n        timeout_s: 5\n      \
                 tickets:\n        type: jira\n        deployment: datacenter\n        base_url: {}\n        \
                 project: OPS\n        token: {token}\n        timeout_s: 5\n",
                wiki.url(),
                jira.url()
            ),
        )
        .unwrap();
        Workspace::load(Some(ws.path()), None).unwrap()
    };
    let probe =
        |w: &Workspace, name: &str| trove_engine::probe_source(w, "kb", name, &w.config.vaults["kb"].sources[name]);
    let w = write("ENG", PAT);
    assert!(probe(&w, "wiki").unwrap().contains("space ENG is readable"));
    assert!(probe(&w, "tickets").unwrap().contains("runs"));
    let reads = body_reads(&wiki);
    assert_eq!(reads, 0, "a probe reads no page body");

    let w = write("ENG", "wrong-token");
    for name in ["wiki", "tickets"] {
        let e = probe(&w, name).unwrap_err();
        assert_eq!(e.code(), trove_types::Code::SourceRefused, "{e}");
        assert!(e.to_string().contains(&format!("vaults.kb.sources.{name}.token")), "{e}");
    }
    let w = write("NOPE", PAT);
    let e = probe(&w, "wiki").unwrap_err();
    assert!(e.to_string().contains("vaults.kb.sources.wiki"), "{e}");
}
