//! A `publicdocs` source through the engine, against the fake site of `trove_ingest::testing`:
//! the first sync crawls and indexes the pages in scope (robots.txt, noindex and out-of-scope
//! links respected; each page read once); an unchanged re-sync gets only `304`s, reads no body
//! and embeds nothing; a changed page is re-indexed and a vanished one deleted; `probe_source`
//! reports the base page.

#[path = "support/fake.rs"]
mod fake;
#[path = "support/local.rs"]
mod local;

use std::sync::atomic::Ordering;

use fake::Fake;
use trove_config::Workspace;
use trove_engine::{Engine, IngestOptions, NoProgress, OpenMode};
use trove_ingest::testing::{FakeSite, SitePage, html_page};

#[test]
fn a_public_site_syncs_with_conditional_requests() {
    let site = FakeSite::start();
    site.put(
        "/robots.txt",
        SitePage {
            body: "User-agent: *\nDisallow: /docs/drafts/\n".into(),
            content_type: "text/plain".into(),
            etag: false,
        },
    );
    site.page("/docs/", &html_page("Docs", &["guide.html", "faq.html", "drafts/wip.html", "/other/"], "Start here."));
    site.page("/docs/guide.html", &html_page("Guide", &["deploy/"], "Read the guide first."));
    site.page("/docs/deploy/", &html_page("Deploy", &[], "Run the deploy script on Fridays."));
    site.page("/docs/faq.html", &html_page("FAQ", &[], "Frequently asked questions."));
    site.page("/docs/drafts/wip.html", &html_page("WIP", &[], "Not ready."));
    site.page("/other/", &html_page("Other", &[], "Out of scope."));

    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("config.yaml"),
        format!(
            "vaults:\n  kb:\n    sources:\n      site:\n        type: publicdocs\n        base_url: {}/docs/\n        \
             content_selector: main\n        drop_selectors: [nav, footer]\n        requests_per_minute: 0\n        \
             timeout_s: 5\n",
            site.url()
        ),
    )
    .unwrap();
    let fake = Fake::new("fake/a", 8, usize::MAX);
    let engine = Engine::open(Workspace::load(Some(ws.path()), None).unwrap(), OpenMode::Write, "test")
        .unwrap()
        .with_embedder(fake.clone());
    let sync = || engine.ingest(&IngestOptions::default(), &NoProgress).unwrap().total;

    let s = sync();
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged, s.failed), (4, 0, 0, 0, 0), "{s:?}");
    assert_eq!(site.server.hits("/docs/guide.html"), 1, "read once: the fetch reuses the listing's read");
    assert_eq!(site.server.hits("/docs/drafts/wip.html"), 0);
    assert_eq!(site.server.hits("/other/"), 0);
    let docs = engine.documents_list(&local::local(&engine, "kb"), None, Some(100)).unwrap().documents;
    let mut uris: Vec<&str> = docs.iter().map(|d| d.uri.as_str()).collect();
    uris.sort();
    assert_eq!(uris, ["/", "deploy/", "faq.html", "guide.html"]);
    let deploy = docs.iter().find(|d| d.uri == "deploy/").unwrap();
    let detail = engine.document_get(&local::local(&engine, "kb"), &deploy.id.to_string()).unwrap();
    assert_eq!(detail.document.title, "Deploy");
    assert_eq!(detail.metadata["url"], format!("{}/docs/deploy/", site.url()));
    assert!(detail.chunks.iter().all(|c| !c.text.contains("Copyright")), "{:?}", detail.chunks);

    // Unchanged: only 304s, no body, nothing embedded.
    let (bodies, calls) = (site.bodies().len(), fake.calls.load(Ordering::SeqCst));
    let s = sync();
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged), (0, 0, 0, 4), "{s:?}");
    let pages_read: Vec<String> = site.bodies()[bodies..].iter().filter(|p| *p != "/robots.txt").cloned().collect();
    assert!(pages_read.is_empty(), "{pages_read:?}");
    assert_eq!(fake.calls.load(Ordering::SeqCst), calls);

    // A change and a removal.
    site.page("/docs/deploy/", &html_page("Deploy", &[], "Run the deploy script on Tuesdays."));
    site.remove("/docs/faq.html");
    let s = sync();
    assert_eq!((s.added, s.updated, s.deleted, s.unchanged), (0, 1, 1, 2), "{s:?}");
    assert_eq!(local::keyword_uris(&engine, "kb", "Tuesdays")[0], "deploy/");

    let ws = Workspace::load(Some(ws.path()), None).unwrap();
    let config = ws.config.vaults["kb"].sources["site"].clone();
    let report = trove_engine::probe_source(&ws, "kb", "site", &config).unwrap();
    assert!(report.contains("answers") && report.contains("robots.txt"), "{report}");
}
