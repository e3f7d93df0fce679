//! The public-docs source against a [`FakeSite`]: scope, robots.txt, noindex and canonical,
//! selectors, limits, 429 with Retry-After, conditional re-listing, changes and removals.

use std::time::Duration;

use super::*;
use crate::testing::{FakeSite, Reply, SitePage, html_page};

fn options(site: &FakeSite, base: &str, state: Option<&std::path::Path>) -> PublicDocsOptions {
    PublicDocsOptions {
        base_url: format!("{}{base}", site.url()),
        max_depth: 5,
        max_pages: 1000,
        include: vec![],
        exclude: vec![],
        content_selector: Some("main, article".into()),
        drop_selectors: vec!["nav".into(), "footer".into(), ".sidebar".into()],
        requests_per_minute: 0,
        timeout: Duration::from_secs(5),
        ca_file: None,
        proxy: None,
        user_agent: None,
        state_dir: state.map(|p| p.to_path_buf()),
        max_file_bytes: 0,
        max_retries: 2,
        key: "vaults.kb.sources.site".into(),
    }
}

fn docs_site() -> FakeSite {
    let site = FakeSite::start();
    site.put(
        "/robots.txt",
        SitePage {
            body: "User-agent: *\nDisallow: /docs/private/\n".into(),
            content_type: "text/plain".into(),
            etag: false,
        },
    );
    site.page(
        "/docs/",
        &html_page(
            "Home",
            &[
                "guide/",
                "api.html#x",
                "/blog/",
                "https://elsewhere.example/docs/",
                "private/secret.html",
                "hidden.html",
                "file.pdf",
                "data",
            ],
            "Welcome home.",
        ),
    );
    site.page("/docs/guide/", &html_page("Guide", &["setup.html", "../", "setup.html?print=1"], "The guide."));
    site.page("/docs/guide/setup.html", &html_page("Setup", &["deep/one.html"], "Install it with cargo."));
    site.page("/docs/guide/deep/one.html", &html_page("One", &[], "Deep page."));
    site.page("/docs/api.html", &html_page("API", &[], "The API reference."));
    site.page("/docs/private/secret.html", &html_page("Secret", &[], "Never read."));
    site.page("/blog/", &html_page("Blog", &[], "Out of scope."));
    site.page(
        "/docs/hidden.html",
        "<html><head><title>Hidden</title><meta name=\"robots\" content=\"noindex\"></head><body><a href=\"found.html\">f</a></body></html>",
    );
    site.page("/docs/found.html", &html_page("Found", &[], "Only linked from a noindex page."));
    site.put(
        "/docs/file.pdf",
        SitePage { body: "%PDF-1.4".into(), content_type: "application/pdf".into(), etag: true },
    );
    site
}

fn uris(docs: &[DocRef]) -> Vec<&str> {
    docs.iter().map(|d| d.uri.as_str()).collect()
}

#[test]
fn a_site_is_crawled_within_scope_and_rules() {
    let site = docs_site();
    let src = PublicDocsSource::new(options(&site, "/docs/", None)).unwrap();
    let (docs, errors) = src.list().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(uris(&docs), ["/", "api.html", "found.html", "guide/", "guide/deep/one.html", "guide/setup.html"]);
    assert_eq!(site.server.hits("/blog/"), 0, "out of scope");
    assert_eq!(site.server.hits("/docs/file.pdf"), 0, "not a page by its extension");
    assert_eq!(site.server.hits("/docs/data"), 1, "asked, but not HTML");
    assert_eq!(site.server.hits("/docs/private/secret.html"), 0, "disallowed by robots.txt");
    assert_eq!(site.server.hits("/docs/guide/setup.html"), 1, "query strings dropped, read once");
    let raw = src.fetch(docs.iter().find(|d| d.uri == "guide/setup.html").unwrap()).unwrap();
    assert_eq!(site.server.hits("/docs/guide/setup.html"), 1, "the fetch reuses the listing's read");
    let text = String::from_utf8(raw.bytes.clone()).unwrap();
    assert!(
        text.contains("Install it with cargo") && !text.contains("Copyright footer") && !text.contains("deep/one"),
        "{text}"
    );
    assert_eq!(raw.metadata["url"], format!("{}/docs/guide/setup.html", site.url()));
    assert_eq!(raw.title.as_deref(), Some("Setup"));
    assert!(docs.iter().all(|d| d.version.as_deref().is_some_and(|v| v.starts_with("etag:"))));
}

#[test]
fn limits_are_reported_and_include_exclude_apply() {
    let site = docs_site();
    let mut o = options(&site, "/docs/", None);
    o.max_depth = 1;
    o.exclude = vec!["api.html".into()];
    o.include = vec!["guide/**".into()];
    let (docs, errors) = PublicDocsSource::new(o).unwrap().list().unwrap();
    assert_eq!(uris(&docs), ["guide/"]);
    assert_eq!(site.server.hits("/docs/api.html"), 0);
    assert!(errors.iter().any(|(_, e)| e.to_string().contains("vaults.kb.sources.site.max_depth")), "{errors:?}");
    let mut o = options(&site, "/docs/", None);
    o.max_pages = 2;
    let (docs, errors) = PublicDocsSource::new(o).unwrap().list().unwrap();
    assert_eq!(docs.len(), 2);
    assert!(errors.iter().any(|(_, e)| e.to_string().contains("vaults.kb.sources.site.max_pages")), "{errors:?}");
    let mut o = options(&site, "/docs/", None);
    o.content_selector = Some("main[".into());
    assert!(PublicDocsSource::new(o).unwrap_err().to_string().contains("content_selector"));
}

#[test]
fn conditional_requests_changes_removals_and_throttling() {
    let site = docs_site();
    let state = tempfile::tempdir().unwrap();
    let src = PublicDocsSource::new(options(&site, "/docs/", Some(state.path()))).unwrap();
    let (first, _) = src.list().unwrap();
    // Pages only: robots.txt and the JSON answer have no validators kept.
    let pages =
        |site: &FakeSite| site.bodies().into_iter().filter(|p| p.ends_with('/') || p.ends_with(".html")).count();
    let bodies = pages(&site);

    // Nothing changed: every page answers 304, the same versions come back.
    let src = PublicDocsSource::new(options(&site, "/docs/", Some(state.path()))).unwrap();
    let (again, errors) = src.list().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(again, first);
    assert_eq!(pages(&site), bodies, "no page body sent again: {:?}", site.bodies());

    // A change, a removal, a 429 with Retry-After on the way.
    site.page("/docs/api.html", &html_page("API", &[], "The API reference, version two."));
    site.remove("/docs/guide/deep/one.html");
    site.faults.push("/docs/guide/", Reply::text(429, "slow down").header("Retry-After", "1"));
    let started = std::time::Instant::now();
    let (third, errors) = src.list().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After was honoured");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(uris(&third), ["/", "api.html", "found.html", "guide/", "guide/setup.html"]);
    let version = |docs: &[DocRef], uri: &str| docs.iter().find(|d| d.uri == uri).unwrap().version.clone();
    assert_ne!(version(&third, "api.html"), version(&first, "api.html"));
    assert_eq!(version(&third, "guide/"), version(&first, "guide/"));
    let raw = src.fetch(third.iter().find(|d| d.uri == "api.html").unwrap()).unwrap();
    assert!(String::from_utf8_lossy(&raw.bytes).contains("version two"));
    // A page the listing did not read (304) is read on demand.
    let raw = src.fetch(third.iter().find(|d| d.uri == "guide/").unwrap()).unwrap();
    assert!(String::from_utf8_lossy(&raw.bytes).contains("The guide."));

    // A page without validators is versioned by its content; the base failing fails the listing.
    site.put(
        "/docs/api.html",
        SitePage { body: html_page("API", &[], "v3"), content_type: "text/html".into(), etag: false },
    );
    let (fourth, _) = src.list().unwrap();
    assert!(version(&fourth, "api.html").unwrap().starts_with("sha256:"));
    site.faults.push("/docs/", Reply::text(404, "gone"));
    assert!(src.list().is_err());
    site.faults.push("/docs/", Reply::text(301, "").header("Location", "https://elsewhere.example/"));
    assert!(src.list().unwrap_err().to_string().contains("vaults.kb.sources.site.base_url"));
}

#[test]
fn canonical_links_dedupe_and_robots_can_shut_the_door() {
    let site = FakeSite::start();
    site.page("/", &html_page("Root", &["a.html", "b.html"], "Root."));
    site.page("/a.html", &html_page("A", &[], "Same page."));
    site.page(
        "/b.html",
        "<html><head><title>A</title><link rel=\"canonical\" href=\"/a.html\"></head><body><main>Same page.</main></body></html>",
    );
    let src = PublicDocsSource::new(options(&site, "/", None)).unwrap();
    let (docs, _) = src.list().unwrap();
    assert_eq!(uris(&docs), ["/", "a.html"]);
    assert!(src.probe().unwrap().contains("2 links in scope"));
    site.put(
        "/robots.txt",
        SitePage { body: "User-agent: trove\nDisallow: /\n".into(), content_type: "text/plain".into(), etag: false },
    );
    assert!(src.probe().unwrap_err().to_string().contains("robots.txt"));
}

#[test]
fn a_crawl_delay_slows_the_crawl_down() {
    let site = FakeSite::start();
    let robots = "User-agent: *\nCrawl-delay: 0.5\n";
    site.put("/robots.txt", SitePage { body: robots.into(), content_type: "text/plain".into(), etag: false });
    site.page("/", &html_page("Root", &["a.html", "b.html"], "Root."));
    site.page("/a.html", &html_page("A", &[], "A."));
    site.page("/b.html", &html_page("B", &[], "B."));
    let src = PublicDocsSource::new(options(&site, "/", None)).unwrap();
    let started = std::time::Instant::now();
    let (docs, _) = src.list().unwrap();
    assert_eq!(docs.len(), 3);
    assert!(started.elapsed() >= Duration::from_millis(950), "{:?}", started.elapsed());
}
