//! The Confluence source against the fake Cloud and Data Center servers of
//! [`crate::testing`]: first sync, a change, a move, a delete, paging, label filters, and the
//! failures (401, 403, 404, 429 with Retry-After, a time limit, an answer cut off).

use std::time::{Duration, Instant};

use serde_json::json;
use trove_types::{Code, HasCode};

use super::*;
use crate::testing::{API_TOKEN, FakeConfluence, PAT, Reply, WikiPage};
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
    let starts: Vec<_> = fake
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/rest/api/content")
        .map(|r| r.param("start").unwrap_or("").to_string())
        .collect();
    assert_eq!(starts, ["0", "2", "4"]);
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
