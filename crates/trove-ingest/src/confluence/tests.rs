//! The Confluence source against the fake Cloud and Data Center servers of
//! [`crate::testing`]: first sync, a change, a move, a delete, paging, label filters, and the
//! failures (401, 403, 404, 429 with Retry-After, a time limit, an answer cut off); attachments
//! (PDF, DOCX, text and by media type; not downloaded again unchanged; a new version, a
//! deletion, a deleted page, turned off; paging; unconvertible, excluded and too-big files;
//! refusals per page or global).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use trove_types::{Code, HasCode};

use super::*;
use crate::testing::{API_TOKEN, FakeConfluence, PAT, Reply, WikiAttachment, WikiPage};
use crate::{BlockKind, convert};

fn connection(url: &str, deployment: Deployment) -> Connection {
    crate::testing::connection(url, deployment, "vaults.kb.sources.wiki")
}

fn source_on(connection: Connection) -> ConfluenceSource {
    ConfluenceSource::new(ConfluenceOptions {
        connection,
        space: "ENG".into(),
        include_labels: Vec::new(),
        exclude_labels: Vec::new(),
        max_file_bytes: 0,
        page_size: 2,
        attachments: false,
        attachment_types: Vec::new(),
    })
    .unwrap()
}

fn source(fake: &FakeConfluence, deployment: Deployment) -> ConfluenceSource {
    source_on(connection(&fake.url(), deployment))
}

const DEPLOY: &str = r#"<p>Run the <strong>deploy</strong> script.</p><h1>Rollback</h1><p>Revert the tag.</p><ac:structured-macro ac:name="code" ac:schema-version="1"><ac:parameter ac:name="language">bash</ac:parameter><ac:plain-text-body><![CDATA[./deploy.sh --env prod && echo "<done>"]]></ac:plain-text-body></ac:structured-macro>"#;

/// Home ← Guides ← {Deploy, Testing}; Home ← Team. Five pages: three listing requests of two.
fn wiki(deployment: Deployment) -> FakeConfluence {
    let fake = FakeConfluence::start(deployment);
    fake.put(WikiPage::new("1", "Home", None, "<p>Welcome.</p>"));
    fake.put(WikiPage::new("2", "Guides", Some("1"), "<p>All guides.</p>"));
    let mut deploy = WikiPage::new("3", "Deploy", Some("2"), DEPLOY);
    deploy.labels = vec!["howto".into(), "ops".into()];
    fake.put(deploy);
    let mut testing = WikiPage::new("4", "Testing", Some("2"), "<p>Run the tests.</p>");
    testing.labels = vec!["howto".into(), "draft".into()];
    fake.put(testing);
    fake.put(WikiPage::new("5", "Team", Some("1"), "<p>Who we are.</p>"));
    fake
}

fn uris(docs: &[DocRef]) -> Vec<&str> {
    docs.iter().map(|d| d.uri.as_str()).collect()
}

fn version_of<'a>(docs: &'a [DocRef], uri: &str) -> &'a str {
    docs.iter().find(|d| d.uri == uri).and_then(|d| d.version.as_deref()).unwrap()
}

fn syncs_first_a_change_a_move_and_a_delete(deployment: Deployment) {
    let fake = wiki(deployment);
    let src = source(&fake, deployment);
    let (docs, errors) = src.list().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(uris(&docs), ["1", "2", "3", "4", "5"]);
    let bodies = |fake: &FakeConfluence| {
        fake.server.requests().iter().filter(|r| r.path.ends_with("/pages/3") || r.path.ends_with("/content/3")).count()
    };
    assert_eq!(bodies(&fake), 0, "listing reads no body");

    let raw = src.fetch(&docs[2]).unwrap();
    assert_eq!(raw.title.as_deref(), Some("Deploy"));
    assert_eq!(raw.metadata["space"], "ENG");
    assert_eq!(raw.metadata["parent"], "Guides");
    assert_eq!(raw.metadata["ancestors"], json!(["Home", "Guides"]));
    assert_eq!(raw.metadata["labels"], json!(["howto", "ops"]));
    assert_eq!(raw.metadata["version"], 1);
    assert!(raw.modified_unix_ms > 0);
    let url = raw.metadata["url"].as_str().unwrap();
    match deployment {
        Deployment::Cloud => {
            assert_eq!(url, format!("{}/wiki/spaces/ENG/pages/3/Deploy", fake.url()));
            assert_eq!(raw.metadata["author"], "557058:ada");
        }
        Deployment::DataCenter => {
            assert_eq!(url, format!("{}/display/ENG/Deploy", fake.url()));
            assert_eq!(raw.metadata["author"], "Ada Lovelace");
        }
    }
    let parsed = convert(&raw).unwrap();
    assert_eq!(parsed.blocks[0].kind, BlockKind::Heading { level: 1 });
    assert_eq!(parsed.blocks[0].text, "Home > Guides > Deploy", "the page's place heads its chunks");
    assert!(parsed.blocks.iter().any(|b| b.kind == BlockKind::Heading { level: 2 } && b.text == "Rollback"));
    let code = parsed.blocks.iter().find(|b| matches!(b.kind, BlockKind::Code { .. })).expect("a code block");
    assert_eq!(code.text.trim(), r#"./deploy.sh --env prod && echo "<done>""#);
    assert!(!parsed.plain_text().contains("bash"), "macro parameters are dropped");

    // A change, a move and a delete.
    fake.edit("3", "<p>Run the deploy script on Tuesdays.</p>");
    fake.move_to("5", "2");
    fake.remove("4");
    let (after, _) = src.list().unwrap();
    assert_eq!(uris(&after), ["1", "2", "3", "5"]);
    assert_eq!(version_of(&after, "1"), version_of(&docs, "1"), "unchanged");
    assert_ne!(version_of(&after, "3"), version_of(&docs, "3"), "edited");
    assert_ne!(version_of(&after, "5"), version_of(&docs, "5"), "moved: its ancestors changed");
    let raw = src.fetch(&after[2]).unwrap();
    assert!(String::from_utf8_lossy(&raw.bytes).contains("Tuesdays"));
    assert_eq!(raw.metadata["version"], 2);
    let moved = src.fetch(&after[3]).unwrap();
    assert_eq!(moved.metadata["ancestors"], json!(["Home", "Guides"]));

    // A page deleted between listing and fetch.
    fake.remove("5");
    assert!(matches!(src.fetch(&after[3]), Err(IngestError::NotFound { .. })));
}

#[test]
fn cloud_syncs_first_a_change_a_move_and_a_delete() {
    syncs_first_a_change_a_move_and_a_delete(Deployment::Cloud);
    let fake = wiki(Deployment::Cloud);
    source(&fake, Deployment::Cloud).list().unwrap();
    let listings: Vec<_> = fake.server.requests().into_iter().filter(|r| r.path.ends_with("/pages")).collect();
    assert_eq!(listings.len(), 3, "five pages, two a request");
    assert_eq!(listings[0].param("cursor"), None);
    assert!(listings[1].param("cursor").is_some() && listings[1].param("cursor") != listings[2].param("cursor"));
}

#[test]
fn datacenter_syncs_first_a_change_a_move_and_a_delete() {
    syncs_first_a_change_a_move_and_a_delete(Deployment::DataCenter);
    let fake = wiki(Deployment::DataCenter);
    source(&fake, Deployment::DataCenter).list().unwrap();
    assert_eq!(fake.server.params("/rest/api/content", "start"), ["0", "2", "4"]);
}

#[test]
fn label_filters_choose_pages_on_both_deployments() {
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let fake = wiki(deployment);
        let mut src = source(&fake, deployment);
        src.opts.include_labels = vec!["howto".into()];
        src.opts.exclude_labels = vec!["draft".into()];
        let (docs, _) = src.list().unwrap();
        assert_eq!(uris(&docs), ["3"], "{deployment:?}");
        // Relabelling makes a page vanish (and be deleted by the engine).
        let mut page = WikiPage::new("3", "Deploy", Some("2"), DEPLOY);
        page.labels = vec!["draft".into(), "howto".into()];
        fake.put(page);
        assert!(src.list().unwrap().0.is_empty(), "{deployment:?}");
    }
}

#[test]
fn refusals_name_the_key_to_fix() {
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let fake = wiki(deployment);
        let mut c = connection(&fake.url(), deployment);
        c.api_token = Some("wrong".into());
        c.token = Some("wrong".into());
        let src = source_on(c);
        let e = src.list().unwrap_err();
        assert_eq!(e.code(), Code::SourceRefused, "{e}");
        let wanted = if deployment == Deployment::Cloud {
            "vaults.kb.sources.wiki.api_token"
        } else {
            "vaults.kb.sources.wiki.token"
        };
        assert!(e.to_string().contains(wanted) && e.to_string().contains("401"), "{e}");
        assert!(!e.to_string().contains(PAT) && !e.to_string().contains(API_TOKEN));

        // An unknown space.
        let mut src = source(&fake, deployment);
        src.opts.space = "NOPE".into();
        let e = src.list().unwrap_err();
        assert_eq!(e.code(), Code::SourceRefused, "{e}");
        assert!(e.to_string().contains("vaults.kb.sources.wiki.space"), "{e}");

        // No permission.
        let src = source(&fake, deployment);
        let listing = if deployment == Deployment::Cloud { "/wiki/api/v2/spaces" } else { "/rest/api/space" };
        fake.faults.push(listing, Reply::json(403, &json!({"statusCode": 403, "message": "Not permitted"})));
        let e = src.list().unwrap_err();
        assert_eq!(e.code(), Code::SourceRefused, "{e}");
        assert!(e.to_string().contains("View permission on space ENG"), "{e}");
    }
    // A base URL that is not a Confluence.
    let fake = FakeConfluence::start(Deployment::DataCenter);
    let mut c = connection(&format!("{}/elsewhere", fake.url()), Deployment::DataCenter);
    c.token = Some(PAT.into());
    let src = source_on(c);
    let e = src.list().unwrap_err();
    assert!(e.to_string().contains(".base_url"), "{e}");
}

#[test]
fn rate_limits_time_limits_and_cut_answers() {
    let fake = wiki(Deployment::Cloud);
    let src = source(&fake, Deployment::Cloud);
    // An answer cut off, then a 429 with Retry-After: retried, waited for, then the listing completes.
    let pages = "/wiki/api/v2/spaces/98305/pages";
    fake.faults.push(pages, Reply::json(200, &json!({"results": [], "_links": {}})).cut_after(5));
    fake.faults.push(
        pages,
        Reply::json(429, &json!({"message": "Rate limit exceeded"}))
            .header("Retry-After", "1")
            .header("X-RateLimit-Limit", "100")
            .header("X-RateLimit-Remaining", "0"),
    );
    let start = Instant::now();
    let (docs, _) = src.list().unwrap();
    assert_eq!(docs.len(), 5);
    assert!(start.elapsed() >= Duration::from_millis(950), "{:?}", start.elapsed());

    // A server that stops answering: the time limit ends the sync, naming the key to raise.
    let mut slow = connection(&fake.url(), Deployment::Cloud);
    slow.timeout = Duration::from_millis(300);
    slow.max_retries = 0;
    let src = source_on(slow);
    fake.faults.push(pages, Reply::json(200, &json!({})).delayed(Duration::from_secs(2)));
    let e = src.list().unwrap_err();
    assert_eq!(e.code(), Code::SourceUnreachable, "{e}");
    assert!(e.to_string().contains("timeout_s"), "{e}");

    // Answers that keep being cut off: unreachable after the retries.
    let src = source(&fake, Deployment::Cloud);
    for _ in 0..3 {
        fake.faults.push(pages, Reply::json(200, &json!({"results": [], "_links": {}})).cut_after(5));
    }
    let e = src.list().unwrap_err();
    assert_eq!(e.code(), Code::SourceUnreachable, "{e}");
    assert!(e.to_string().contains("cut off"), "{e}");
}

#[test]
fn storage_format_becomes_html_with_the_page_path_on_top() {
    let html = storage_to_html("A & B", "Home > A & B", "<h1>X</h1><h2 id=\"y\">Y</h2><h6>Z</h6>");
    assert!(html.contains("<title>A &amp; B</title>"), "{html}");
    assert!(html.contains("<h1>Home &gt; A &amp; B</h1>"), "{html}");
    assert!(html.contains("<h2>X</h2><h3 id=\"y\">Y</h3><h6>Z</h6>"), "{html}");
    assert_eq!(query_value("/wiki/api/v2/x?limit=2&cursor=a%3Db", "cursor").as_deref(), Some("a=b"));
    assert_eq!(drop_elements("a<ac:parameter x=\"1\">p</ac:parameter>b<ac:parameter>", "ac:parameter"), "ab");
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// The wiki of [`wiki`] with files: on Deploy (3) a PDF, a DOCX, a text file and a Visio
/// drawing (no converter); on Home (1) a file without an extension, known by its media type.
fn wiki_with_files(deployment: Deployment) -> FakeConfluence {
    let fake = wiki(deployment);
    let pdf = crate::convert::pdf_sample_for_tests(&[&["Rollback runbook", "Revert the tag first."]]);
    fake.attach(WikiAttachment::new("att10", "3", "runbook.pdf", "application/pdf", &pdf));
    fake.attach(WikiAttachment::new("att11", "3", "Q3 report.docx", DOCX, &crate::convert::docx_sample_for_tests()));
    fake.attach(WikiAttachment::new("att12", "3", "notes.txt", "text/plain", b"Deploy notes: ring the bell."));
    fake.attach(WikiAttachment::new("att13", "3", "diagram.vsdx", "application/vnd.ms-visio.drawing", b"PK\x03\x04"));
    fake.attach(WikiAttachment::new("att14", "1", "README", "text/markdown", b"# Read me\n\nStart at Guides."));
    fake
}

fn with_files(fake: &FakeConfluence, deployment: Deployment) -> ConfluenceSource {
    let mut src = source(fake, deployment);
    src.opts.attachments = true;
    src
}

/// What the engine does: fetch what is new or whose version changed, forget what vanished.
/// Returns the URIs fetched.
fn sync(src: &ConfluenceSource, stored: &mut HashMap<String, String>) -> Vec<String> {
    let (docs, errors) = src.list().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    stored.retain(|uri, _| docs.iter().any(|d| &d.uri == uri));
    let mut fetched = Vec::new();
    for d in docs {
        let version = d.version.clone().unwrap();
        if stored.get(&d.uri) != Some(&version) {
            src.fetch(&d).unwrap();
            fetched.push(d.uri.clone());
            stored.insert(d.uri, version);
        }
    }
    fetched
}

fn attachment_listings(fake: &FakeConfluence) -> Vec<trove_http::testing::Request> {
    fake.server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/attachments") || r.path.ends_with("/child/attachment"))
        .collect()
}

fn attachments_are_documents_of_their_own(deployment: Deployment) {
    let fake = wiki_with_files(deployment);
    let src = with_files(&fake, deployment);
    let (docs, errors) = src.list().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        uris(&docs),
        [
            "1",
            "1/attachments/att14",
            "2",
            "3",
            "3/attachments/att10",
            "3/attachments/att11",
            "3/attachments/att12",
            "4",
            "5"
        ]
    );
    assert_eq!(src.skipped_attachments(), 1, "the Visio drawing: no converter, not an error");
    assert!(fake.downloads().is_empty(), "listing downloads nothing");
    // One listing per page, two for Deploy's four files (two a request).
    let listings = attachment_listings(&fake);
    assert_eq!(listings.len(), 6, "{listings:?}");
    let deploy: Vec<_> = listings.iter().filter(|r| r.path.contains("/3/")).collect();
    match deployment {
        Deployment::Cloud => {
            assert_eq!(deploy[0].param("cursor"), None);
            assert!(deploy[1].param("cursor").is_some());
        }
        Deployment::DataCenter => {
            let starts: Vec<_> = deploy.iter().map(|r| r.param("start").unwrap_or("")).collect();
            assert_eq!(starts, ["0", "2"]);
            assert_eq!(deploy[0].param("expand"), Some("version"));
        }
    }

    let doc = |uri: &str| docs.iter().find(|d| d.uri == uri).unwrap();
    let raw = src.fetch(doc("3/attachments/att10")).unwrap();
    assert_eq!(raw.format, Format::Pdf);
    assert_eq!(raw.title.as_deref(), Some("runbook.pdf"));
    assert_eq!(raw.heading.as_deref(), Some("Home > Guides > Deploy > runbook.pdf"));
    assert_eq!(raw.metadata["space"], "ENG");
    assert_eq!(raw.metadata["page"], "3");
    assert_eq!(raw.metadata["page_title"], "Deploy");
    assert_eq!(raw.metadata["ancestors"], json!(["Home", "Guides", "Deploy"]));
    assert_eq!(raw.metadata["media_type"], "application/pdf");
    assert_eq!(raw.metadata["version"], 1);
    assert!(raw.metadata["updated"].as_str().unwrap().starts_with("2024-03-01"), "{:?}", raw.metadata);
    assert!(raw.modified_unix_ms > 0);
    let url = raw.metadata["url"].as_str().unwrap();
    let web = if deployment == Deployment::Cloud { format!("{}/wiki", fake.url()) } else { fake.url() };
    assert!(url.starts_with(&format!("{web}/pages/viewpageattachments.action?pageId=3")), "{url}");
    let parsed = convert(&raw).unwrap();
    assert_eq!(parsed.blocks[0].kind, BlockKind::Heading { level: 1 });
    assert_eq!(parsed.blocks[0].text, "Home > Guides > Deploy > runbook.pdf", "the page's place heads its chunks");
    assert!(parsed.plain_text().contains("Revert the tag first."), "{}", parsed.plain_text());
    if deployment == Deployment::Cloud {
        // Cloud sends the download to its media service.
        assert_eq!(fake.server.hits("/media/file/f-att10/binary"), 1);
    }

    let docx = src.fetch(doc("3/attachments/att11")).unwrap();
    assert_eq!((docx.format.clone(), docx.title.as_deref()), (Format::Docx, Some("Q3 report.docx")));
    assert!(convert(&docx).unwrap().plain_text().contains("Revenue grew & costs fell."));
    let text = src.fetch(doc("3/attachments/att12")).unwrap();
    assert_eq!(text.format, Format::Text);
    assert!(convert(&text).unwrap().plain_text().contains("ring the bell"));
    let readme = src.fetch(doc("1/attachments/att14")).unwrap();
    assert_eq!(readme.format, Format::Markdown, "no extension: its media type decides");
    assert_eq!(readme.heading.as_deref(), Some("Home > README"));
    assert_eq!(fake.downloads().len(), 4);
}

#[test]
fn cloud_attachments_are_documents_of_their_own() {
    attachments_are_documents_of_their_own(Deployment::Cloud);
}

#[test]
fn datacenter_attachments_are_documents_of_their_own() {
    attachments_are_documents_of_their_own(Deployment::DataCenter);
}

#[test]
fn image_attachments_are_documents() {
    let fake = wiki(Deployment::Cloud);
    fake.attach(WikiAttachment::new("att20", "2", "diagram.png", "image/png", b"\x89PNG\r\n\x1a\n\0\0"));
    let src = with_files(&fake, Deployment::Cloud);
    let (docs, errors) = src.list().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(uris(&docs).contains(&"2/attachments/att20"), "{:?}", uris(&docs));
    assert_eq!(src.skipped_attachments(), 0);
    let png = docs.iter().find(|d| d.uri == "2/attachments/att20").unwrap();
    let raw = src.fetch(png).unwrap();
    assert_eq!((raw.format.clone(), raw.bytes.len()), (Format::Image, 10));
}

#[test]
fn attachments_are_read_again_only_when_changed_and_vanish_when_gone() {
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let fake = wiki_with_files(deployment);
        let mut src = with_files(&fake, deployment);
        let mut stored = HashMap::new();
        assert_eq!(sync(&src, &mut stored).len(), 9, "{deployment:?}");
        assert_eq!(fake.downloads().len(), 4);

        // Nothing changed: nothing is downloaded (nor any page read).
        assert!(sync(&src, &mut stored).is_empty(), "{deployment:?}");
        assert_eq!(fake.downloads().len(), 4, "{deployment:?}");

        // A new version of a file, and a page edit that leaves its files alone.
        fake.update_attachment("att12", b"Deploy notes: ring the gong.");
        fake.edit("3", "<p>New text.</p>");
        assert_eq!(sync(&src, &mut stored), ["3", "3/attachments/att12"], "{deployment:?}");
        assert_eq!(fake.downloads().len(), 5);
        let (docs, _) = src.list().unwrap();
        let raw = src.fetch(docs.iter().find(|d| d.uri == "3/attachments/att12").unwrap()).unwrap();
        assert!(String::from_utf8_lossy(&raw.bytes).contains("gong"));
        assert_eq!(raw.metadata["version"], 2);

        // A moved page: its files' heading path changed, so they are read again.
        fake.move_to("3", "1");
        let again = sync(&src, &mut stored);
        assert!(again.contains(&"3/attachments/att10".to_string()), "{deployment:?}: {again:?}");

        // A deleted file, then a deleted page: they leave the listing (the engine deletes them).
        fake.remove_attachment("att11");
        let (docs, _) = src.list().unwrap();
        assert!(!uris(&docs).contains(&"3/attachments/att11"), "{deployment:?}");
        assert!(matches!(
            src.fetch(&DocRef { uri: "3/attachments/att11".into(), size: 0, modified_unix_ms: 0, version: None }),
            Err(IngestError::NotFound { .. })
        ));
        fake.remove("1");
        let (docs, _) = src.list().unwrap();
        assert!(!uris(&docs).iter().any(|u| u.starts_with("1/")), "{deployment:?}");

        // A file deleted between listing and download.
        let att10 = docs.iter().find(|d| d.uri == "3/attachments/att10").unwrap().clone();
        fake.remove_attachment("att10");
        assert!(matches!(src.fetch(&att10), Err(IngestError::NotFound { .. })), "{deployment:?}");

        // Attachments turned off: none is listed, and their listing costs nothing.
        src.opts.attachments = false;
        let before = attachment_listings(&fake).len();
        let (docs, _) = src.list().unwrap();
        assert!(docs.iter().all(|d| !d.uri.contains("/attachments/")), "{deployment:?}");
        assert_eq!(attachment_listings(&fake).len(), before);
    }
}

#[test]
fn unconvertible_excluded_and_too_big_files_are_left_out() {
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let fake = wiki_with_files(deployment);
        fake.attach(WikiAttachment::new("att15", "5", "huge.txt", "text/plain", &[b'x'; 5000]));
        let mut src = with_files(&fake, deployment);
        src.opts.attachment_types = vec!["pdf".into(), ".TXT".into()];
        src.opts.max_file_bytes = 4000;
        let (docs, errors) = src.list().unwrap();
        let files: Vec<_> = uris(&docs).into_iter().filter(|u| u.contains("/attachments/")).collect();
        assert_eq!(files, ["3/attachments/att10", "3/attachments/att12"], "{deployment:?}");
        assert_eq!(src.skipped_attachments(), 3, "the DOCX and README excluded, the Visio drawing unconvertible");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "5/attachments/att15");
        assert!(matches!(errors[0].1, IngestError::TooLarge { size: 5000, max: 4000, .. }), "{errors:?}");
        assert!(errors[0].1.to_string().contains("max_file_bytes"));

        // A file larger than listed: the download stops past the limit and reports it.
        let notes = docs.iter().find(|d| d.uri == "3/attachments/att12").unwrap();
        let path = if deployment == Deployment::Cloud {
            "/wiki/download/attachments/3/notes.txt"
        } else {
            "/download/attachments/3/notes.txt"
        };
        fake.faults.push(path, Reply::text(200, &"y".repeat(50_000)));
        let e = src.fetch(notes).unwrap_err();
        assert!(matches!(e, IngestError::TooLarge { size: 50_000, max: 4000, .. }), "{e:?}");
    }
    // A type Trove cannot convert, in the configuration.
    let fake = wiki(Deployment::Cloud);
    let mut opts = source(&fake, Deployment::Cloud).opts.clone();
    opts.attachment_types = vec!["pdf".into(), "vsdx".into()];
    let e = ConfluenceSource::new(opts).unwrap_err();
    assert!(
        e.to_string().contains("vaults.kb.sources.wiki.attachment_types") && e.to_string().contains("`vsdx`"),
        "{e}"
    );
}

#[test]
fn attachment_refusals_are_per_page_unless_global() {
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let fake = wiki_with_files(deployment);
        let src = with_files(&fake, deployment);
        let listing = if deployment == Deployment::Cloud {
            "/wiki/api/v2/pages/3/attachments"
        } else {
            "/rest/api/content/3/child/attachment"
        };
        // No permission on one page's files: reported under its prefix (what is indexed stays).
        fake.faults.push(listing, Reply::json(403, &json!({"statusCode": 403, "message": "Not permitted"})));
        let (docs, errors) = src.list().unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "3/attachments");
        assert_eq!(errors[0].1.code(), Code::SourceRefused);
        assert!(errors[0].1.to_string().contains("attachments of page 3"), "{}", errors[0].1);
        assert!(uris(&docs).contains(&"1/attachments/att14") && uris(&docs).contains(&"3"));

        // Credentials refused: every request would be; the sync stops.
        fake.faults.push(listing, Reply::json(401, &json!({"message": "Unauthorized"})));
        let e = src.list().unwrap_err();
        assert_eq!(e.code(), Code::SourceRefused, "{e}");

        // A download refused fails that file alone.
        let (docs, _) = src.list().unwrap();
        let pdf = docs.iter().find(|d| d.uri == "3/attachments/att10").unwrap();
        let download = if deployment == Deployment::Cloud { "/wiki/download/" } else { "/download/" };
        fake.faults.push(download, Reply::json(403, &json!({"message": "Not permitted"})));
        let e = src.fetch(pdf).unwrap_err();
        assert_eq!(e.code(), Code::SourceRefused, "{e}");
        assert!(e.to_string().contains("runbook.pdf"), "{e}");
        assert!(!e.to_string().contains(PAT) && !e.to_string().contains(API_TOKEN));
        src.fetch(pdf).unwrap();
    }
}
