//! The JIRA source against the fake Cloud and Data Center servers of [`crate::testing`]: first
//! sync, a comment, a delete, paging, the converters of ADF and wiki text, and the failures.

use std::time::{Duration, Instant};

use serde_json::json;
use trove_types::{Code, HasCode};

use super::*;
use crate::testing::{FakeIssue, FakeJira, Reply};

fn source(fake: &FakeJira, deployment: Deployment, project: &str) -> JiraSource {
    JiraSource::new(JiraOptions {
        connection: crate::testing::connection(&fake.url(), deployment, "vaults.kb.sources.tickets"),
        project: Some(project.into()),
        jql: None,
        max_file_bytes: 0,
        page_size: 2,
    })
    .unwrap()
}

fn tracker(deployment: Deployment) -> FakeJira {
    let fake = FakeJira::start(deployment);
    for n in 1..=5 {
        fake.put(FakeIssue::new(&format!("OPS-{n}"), &format!("Issue {n}"), &format!("What happened in {n}.")));
    }
    let mut outage = FakeIssue::new("OPS-3", "Database outage", "The primary failed over.\n\nWe restored it.");
    outage.labels = vec!["incident".into()];
    fake.put(outage);
    fake
}

fn syncs_first_a_comment_and_a_delete(deployment: Deployment) {
    let fake = tracker(deployment);
    let src = source(&fake, deployment, "OPS");
    let (docs, _) = src.list().unwrap();
    let keys: Vec<&str> = docs.iter().map(|d| d.uri.as_str()).collect();
    assert_eq!(keys, ["OPS-1", "OPS-2", "OPS-3", "OPS-4", "OPS-5"]);
    assert!(fake.server.requests().iter().all(|r| !r.path.contains("/issue/")), "listing reads no issue");

    let raw = src.fetch(&docs[2]).unwrap();
    assert_eq!(raw.title.as_deref(), Some("OPS-3: Database outage"));
    let text = String::from_utf8(raw.bytes.clone()).unwrap();
    assert!(text.starts_with("# OPS-3: Database outage\n\nThe primary failed over.\n\nWe restored it."), "{text}");
    let m = &raw.metadata;
    assert_eq!(m["url"], format!("{}/browse/OPS-3", fake.url()));
    assert_eq!(
        (m["status"].as_str(), m["issue_type"].as_str(), m["priority"].as_str()),
        (Some("Open"), Some("Bug"), Some("High"))
    );
    assert_eq!((m["assignee"].as_str(), m["reporter"].as_str()), (Some("Grace Hopper"), Some("Ada Lovelace")));
    assert_eq!((m["labels"].clone(), m["project"].as_str()), (json!(["incident"]), Some("OPS")));
    assert!(raw.modified_unix_ms > 0);

    // A comment moves `updated`: only that issue's version changes.
    fake.comment("OPS-3", "Grace Hopper", "Root cause: a full disk.", "2024-03-05T12:00:00.000+0000");
    fake.remove("OPS-4");
    let (after, _) = src.list().unwrap();
    let keys: Vec<&str> = after.iter().map(|d| d.uri.as_str()).collect();
    assert_eq!(keys, ["OPS-1", "OPS-2", "OPS-3", "OPS-5"]);
    assert_eq!(after[0].version, docs[0].version);
    assert_ne!(after[2].version, docs[2].version);
    let text = String::from_utf8(src.fetch(&after[2]).unwrap().bytes).unwrap();
    assert!(text.contains("## Comments\n\n### Grace Hopper, 2024-03-02\n\nRoot cause: a full disk."), "{text}");
    assert!(matches!(src.fetch(&docs[3]), Err(IngestError::NotFound { .. })));
}

#[test]
fn cloud_pages_with_next_page_tokens() {
    syncs_first_a_comment_and_a_delete(Deployment::Cloud);
    let fake = tracker(Deployment::Cloud);
    source(&fake, Deployment::Cloud, "OPS").list().unwrap();
    let searches: Vec<_> = fake.server.requests().into_iter().filter(|r| r.path == "/rest/api/3/search/jql").collect();
    assert_eq!(searches.len(), 3);
    assert_eq!(searches[0].json()["jql"], "project = \"OPS\" ORDER BY created ASC");
    assert!(searches[0].json().get("nextPageToken").is_none());
    assert!(searches[2].json()["nextPageToken"].is_string());
}

#[test]
fn datacenter_pages_with_start_at() {
    syncs_first_a_comment_and_a_delete(Deployment::DataCenter);
    let fake = tracker(Deployment::DataCenter);
    source(&fake, Deployment::DataCenter, "OPS").list().unwrap();
    assert_eq!(fake.server.params("/rest/api/2/search", "startAt"), ["0", "2", "4"]);
}

#[test]
fn failures_say_what_to_check() {
    let fake = tracker(Deployment::Cloud);
    let e = source(&fake, Deployment::Cloud, "NOPE").list().unwrap_err();
    assert_eq!(e.code(), Code::SourceRefused, "{e}");
    assert!(
        e.to_string().contains("does not exist") && e.to_string().contains("vaults.kb.sources.tickets.project"),
        "{e}"
    );

    let src = source(&fake, Deployment::Cloud, "OPS");
    fake.faults.push("/rest/api/3/search/jql", Reply::json(401, &json!({"errorMessages": ["Unauthorized"]})));
    let e = src.list().unwrap_err();
    assert!(e.to_string().contains("vaults.kb.sources.tickets.api_token"), "{e}");
    fake.faults.push("/rest/api/3/search/jql", Reply::json(403, &json!({"errorMessages": ["Forbidden"]})));
    assert!(src.list().unwrap_err().to_string().contains("Browse Projects"));
    fake.faults.push("/rest/api/3/search/jql", Reply::text(404, "Not Found"));
    assert!(src.list().unwrap_err().to_string().contains("vaults.kb.sources.tickets.base_url"));

    // Rate limited, then an answer cut off mid-page: both retried.
    fake.faults.push("/rest/api/3/search/jql", Reply::json(429, &json!({})).header("Retry-After", "1"));
    fake.faults.push("/rest/api/3/search/jql", Reply::json(200, &json!({"issues": []})).cut_after(3));
    let start = Instant::now();
    assert_eq!(src.list().unwrap().0.len(), 5);
    assert!(start.elapsed() >= Duration::from_millis(950));

    // Too slow: unreachable, naming timeout_s.
    let mut slow = source(&fake, Deployment::Cloud, "OPS");
    slow.opts.connection.timeout = Duration::from_millis(300);
    slow.opts.connection.max_retries = 0;
    let slow = JiraSource::new(slow.opts).unwrap();
    fake.faults.push("/rest/api/3/search/jql", Reply::json(200, &json!({})).delayed(Duration::from_secs(2)));
    let e = slow.list().unwrap_err();
    assert_eq!(e.code(), Code::SourceUnreachable, "{e}");
    assert!(e.to_string().contains("timeout_s"), "{e}");
}

#[test]
fn adf_becomes_markdown() {
    // Shaped after the examples of Atlassian's ADF documentation.
    let doc = json!({"version": 1, "type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Steps"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Hello "},
            {"type": "text", "text": "world", "marks": [{"type": "strong"}]},
            {"type": "text", "text": ", see "},
            {"type": "text", "text": "docs", "marks": [{"type": "link", "attrs": {"href": "https://x.example"}}]},
            {"type": "hardBreak"},
            {"type": "mention", "attrs": {"id": "5b10", "text": "@Ada"}},
            {"type": "text", "text": " "},
            {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
            {"type": "text", "text": " "},
            {"type": "status", "attrs": {"text": "DONE", "color": "green"}},
            {"type": "text", "text": " "},
            {"type": "date", "attrs": {"timestamp": "1700000000000"}}
        ]},
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "one"}]},
                {"type": "orderedList", "attrs": {"order": 1}, "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "nested"}]}]}
                ]}
            ]},
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "two", "marks": [{"type": "code"}]}]}]}
        ]},
        {"type": "taskList", "attrs": {"localId": "t"}, "content": [
            {"type": "taskItem", "attrs": {"localId": "a", "state": "DONE"}, "content": [{"type": "text", "text": "shipped"}]}
        ]},
        {"type": "codeBlock", "attrs": {"language": "sql"}, "content": [{"type": "text", "text": "select 1;"}]},
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Note this."}]}]},
        {"type": "table", "content": [
            {"type": "tableRow", "content": [
                {"type": "tableHeader", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Host"}]}]},
                {"type": "tableHeader", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Role"}]}]}
            ]},
            {"type": "tableRow", "content": [
                {"type": "tableCell", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "db1"}]}]},
                {"type": "tableCell", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "primary"}]}]}
            ]}
        ]},
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x", "type": "file"}}]},
        {"type": "rule"}
    ]});
    let md = adf_to_markdown(&doc);
    let expected = "## Steps\n\nHello **world**, see [docs](https://x.example)\n@Ada 😄 [DONE] 2023-11-14\n\n\
                    - one\n  1. nested\n- `two`\n\n- [x] shipped\n\n```sql\nselect 1;\n```\n\n> Note this.\n\n\
                    | Host | Role |\n| --- | --- |\n| db1 | primary |\n\n---";
    assert_eq!(md, expected);
    // Nesting as deep as JSON parsing allows (128) is read to the bottom.
    let mut deep = json!({"type": "paragraph", "content": [{"type": "text", "text": "bottom"}]});
    for _ in 0..120 {
        deep = json!({"type": "blockquote", "content": [deep]});
    }
    assert!(adf_to_markdown(&json!({"type": "doc", "content": [deep]})).contains("bottom"));
}

#[test]
fn wiki_markup_becomes_markdown() {
    let wiki = "h1. Steps\nRun it:\n* one\n** nested\n# first\n{code:java}\nint x = 1;\n# not a list\n{code}\nbq. quoted\n----";
    assert_eq!(
        wiki_to_markdown(wiki),
        "## Steps\nRun it:\n- one\n  - nested\n1. first\n```java\nint x = 1;\n# not a list\n```\n> quoted\n----\n"
    );
}
