//! Fake Confluence and JIRA servers, and a fake web site ([`FakeSite`]), for tests (feature `testing`), on
//! [`trove_http::testing::MockServer`] (`127.0.0.1:0`). They answer the requests the sources
//! make in the shapes of Atlassian's published REST documentation: Confluence Cloud v2
//! (cursor in `_links.next` and the `Link` header, `version.number`, `parentId`, `body.storage`,
//! `labels.results`, attachments with `downloadLink` whose download redirects to a media
//! service) and Data Center v1 (`start`/`limit`/`size`, `_links.next`, `expand`ed
//! `version.by`, `ancestors`, `metadata.labels`, attachments as `child/attachment` with
//! `extensions.fileSize` and `_links.download`); JIRA Cloud v3 (`POST /rest/api/3/search/jql`
//! with `nextPageToken`, descriptions and comments in the Atlassian Document Format) and Data
//! Center v2 (`GET /rest/api/2/search` with `startAt`/`total`, wiki text). They check the
//! credentials (401 otherwise), and a test can queue failures for a path ([`Faults`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};
pub use trove_http::testing::{MockServer, Reply, Request};

use crate::atlassian::{Connection, Deployment};

/// The Cloud account's email the fakes accept.
pub const EMAIL: &str = "ada@example.com";
/// The Cloud API token the fakes accept.
pub const API_TOKEN: &str = "cloud-api-token";
/// The Data Center personal access token the fakes accept.
pub const PAT: &str = "dc-personal-token";

/// A connection to a fake at `url` with the credentials it accepts, 5 s per request and two
/// retries; `key` names the source in messages.
pub fn connection(url: &str, deployment: Deployment, key: &str) -> Connection {
    Connection {
        deployment,
        base_url: url.to_string(),
        email: Some(EMAIL.into()),
        api_token: Some(API_TOKEN.into()),
        token: Some(PAT.into()),
        timeout: std::time::Duration::from_secs(5),
        requests_per_minute: 0,
        ca_file: None,
        proxy: None,
        max_retries: 2,
        key: key.to_string(),
    }
}

/// Failures to answer instead of the normal reply, each once, to the first request whose path
/// starts with its prefix.
#[derive(Debug, Default, Clone)]
pub struct Faults(Arc<Mutex<VecDeque<(String, Reply)>>>);

impl Faults {
    /// Queues `reply` for the next request under `path_prefix`.
    pub fn push(&self, path_prefix: &str, reply: Reply) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push_back((path_prefix.into(), reply));
    }

    fn take(&self, path: &str) -> Option<Reply> {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let i = q.iter().position(|(p, _)| path.starts_with(p.as_str()))?;
        q.remove(i).map(|(_, r)| r)
    }
}

/// Whether the request carries the credentials of `deployment`; a 401 in the product's shape
/// otherwise.
fn check_auth(deployment: Deployment, r: &Request) -> Option<Reply> {
    let expected = match deployment {
        Deployment::Cloud => {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{API_TOKEN}")))
        }
        Deployment::DataCenter => format!("Bearer {PAT}"),
    };
    (r.header("authorization") != Some(expected.as_str())).then(|| {
        Reply::json(401, &json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}, "message": "Unauthorized"}))
    })
}

/// The `start` and `limit` query values.
fn window(r: &Request, start: &str, limit: &str, default: usize) -> (usize, usize) {
    let from = r.param(start).and_then(|s| s.parse().ok()).unwrap_or(0);
    let size = r.param(limit).and_then(|s| s.parse().ok()).unwrap_or(default).max(1);
    (from, size)
}

/// An opaque cursor for an offset, as Atlassian's look.
fn cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn offset(cursor: &str) -> usize {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// A page of the fake wiki.
#[derive(Debug, Clone)]
pub struct WikiPage {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its parent's id.
    pub parent: Option<String>,
    /// Its version number.
    pub version: u64,
    /// Its storage-format body.
    pub body: String,
    /// Its labels.
    pub labels: Vec<String>,
}

impl WikiPage {
    /// A page at version 1 without labels.
    pub fn new(id: &str, title: &str, parent: Option<&str>, body: &str) -> WikiPage {
        WikiPage {
            id: id.into(),
            title: title.into(),
            parent: parent.map(str::to_string),
            version: 1,
            body: body.into(),
            labels: Vec::new(),
        }
    }
}

/// A file attached to a page of the fake wiki.
#[derive(Debug, Clone)]
pub struct WikiAttachment {
    /// Its id (`att10`).
    pub id: String,
    /// Its page's id.
    pub page: String,
    /// Its file name.
    pub title: String,
    /// Its media type.
    pub media_type: String,
    /// Its version number.
    pub version: u64,
    /// Its content.
    pub bytes: Vec<u8>,
}

impl WikiAttachment {
    /// An attachment at version 1.
    pub fn new(id: &str, page: &str, title: &str, media_type: &str, bytes: &[u8]) -> WikiAttachment {
        WikiAttachment {
            id: id.into(),
            page: page.into(),
            title: title.into(),
            media_type: media_type.into(),
            version: 1,
            bytes: bytes.to_vec(),
        }
    }

    /// Its file name as it appears in a download URL.
    fn file(&self) -> String {
        self.title.replace('%', "%25").replace(' ', "%20").replace('?', "%3F").replace('#', "%23")
    }

    fn download(&self) -> String {
        format!(
            "/download/attachments/{}/{}?version={}&modificationDate=17040672000{:02}&api=v2",
            self.page,
            self.file(),
            self.version,
            self.version.min(99)
        )
    }

    fn webui(&self) -> String {
        format!(
            "/pages/viewpageattachments.action?pageId={}&preview=%2F{}%2F{}%2F{}",
            self.page,
            self.page,
            self.id,
            self.file()
        )
    }
}

struct Wiki {
    deployment: Deployment,
    space: String,
    base: String,
    pages: BTreeMap<String, WikiPage>,
    attachments: BTreeMap<String, WikiAttachment>,
}

/// A fake Confluence (Cloud or Data Center) with one space, `ENG`.
pub struct FakeConfluence {
    /// The server.
    pub server: MockServer,
    /// Failures to inject.
    pub faults: Faults,
    wiki: Arc<Mutex<Wiki>>,
}

/// The fake Cloud space's id.
const SPACE_ID: &str = "98305";

impl FakeConfluence {
    /// Starts a fake with space `ENG` and no page.
    pub fn start(deployment: Deployment) -> FakeConfluence {
        let wiki = Arc::new(Mutex::new(Wiki {
            deployment,
            space: "ENG".into(),
            base: String::new(),
            pages: BTreeMap::new(),
            attachments: BTreeMap::new(),
        }));
        let faults = Faults::default();
        let (w, f) = (wiki.clone(), faults.clone());
        let server = MockServer::start(move |r| {
            if let Some(reply) = f.take(&r.path) {
                return reply;
            }
            let wiki = w.lock().unwrap_or_else(|e| e.into_inner());
            // Cloud's media service takes the token in the URL, not the account's credentials.
            if wiki.deployment == Deployment::Cloud && r.path.starts_with("/media/") {
                return wiki.media(r);
            }
            if let Some(refused) = check_auth(wiki.deployment, r) {
                return refused;
            }
            match wiki.deployment {
                Deployment::Cloud => wiki.cloud(r),
                Deployment::DataCenter => wiki.datacenter(r),
            }
        });
        wiki.lock().unwrap_or_else(|e| e.into_inner()).base = server.url();
        FakeConfluence { server, faults, wiki }
    }

    /// The site's URL (what `base_url` should be).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Adds or replaces a page as it is.
    pub fn put(&self, page: WikiPage) {
        self.wiki.lock().unwrap_or_else(|e| e.into_inner()).pages.insert(page.id.clone(), page);
    }

    /// Edits a page: a new body and the next version.
    pub fn edit(&self, id: &str, body: &str) {
        let mut w = self.wiki.lock().unwrap_or_else(|e| e.into_inner());
        let page = w.pages.get_mut(id).expect("a page of the fake");
        page.body = body.into();
        page.version += 1;
    }

    /// Moves a page under another parent (Confluence keeps its version).
    pub fn move_to(&self, id: &str, parent: &str) {
        let mut w = self.wiki.lock().unwrap_or_else(|e| e.into_inner());
        w.pages.get_mut(id).expect("a page of the fake").parent = Some(parent.into());
    }

    /// Deletes a page (and its attachments, as Confluence does).
    pub fn remove(&self, id: &str) {
        let mut w = self.wiki.lock().unwrap_or_else(|e| e.into_inner());
        w.pages.remove(id);
        w.attachments.retain(|_, a| a.page != id);
    }

    /// Adds or replaces an attachment as it is.
    pub fn attach(&self, attachment: WikiAttachment) {
        self.wiki.lock().unwrap_or_else(|e| e.into_inner()).attachments.insert(attachment.id.clone(), attachment);
    }

    /// Uploads a new version of an attachment.
    pub fn update_attachment(&self, id: &str, bytes: &[u8]) {
        let mut w = self.wiki.lock().unwrap_or_else(|e| e.into_inner());
        let a = w.attachments.get_mut(id).expect("an attachment of the fake");
        a.bytes = bytes.to_vec();
        a.version += 1;
    }

    /// Deletes an attachment.
    pub fn remove_attachment(&self, id: &str) {
        self.wiki.lock().unwrap_or_else(|e| e.into_inner()).attachments.remove(id);
    }

    /// The download requests so far (their paths, in order): `/wiki/download/...` on Cloud,
    /// `/download/...` on Data Center.
    pub fn downloads(&self) -> Vec<String> {
        self.server.requests().into_iter().map(|r| r.path).filter(|p| p.contains("/download/attachments/")).collect()
    }
}

impl Wiki {
    fn labels(page: &WikiPage) -> Value {
        json!({
            "results": page.labels.iter().enumerate().map(|(i, l)| json!({"id": format!("{i}"), "name": l, "prefix": "global"})).collect::<Vec<_>>(),
            "meta": {"hasMore": false, "cursor": null},
            "_links": {}
        })
    }

    fn ancestors(&self, page: &WikiPage) -> Vec<&WikiPage> {
        let mut chain = Vec::new();
        let mut at = page.parent.as_deref();
        while let Some(p) = at.and_then(|id| self.pages.get(id)) {
            chain.push(p);
            at = p.parent.as_deref();
        }
        chain.reverse();
        chain
    }

    fn cloud_page(&self, page: &WikiPage, body: bool, labels: bool) -> Value {
        let mut v = json!({
            "id": page.id, "status": "current", "title": page.title, "spaceId": SPACE_ID,
            "parentId": page.parent, "parentType": page.parent.as_ref().map(|_| "page"),
            "position": 0, "authorId": "557058:ada", "ownerId": "557058:ada",
            "createdAt": "2024-01-02T03:04:05.000Z",
            "version": {"createdAt": format!("2024-02-{:02}T10:00:00.000Z", page.version.min(28)),
                        "message": "", "number": page.version, "minorEdit": false, "authorId": "557058:ada"},
            "_links": {"webui": format!("/spaces/{}/pages/{}/{}", self.space, page.id, page.title.replace(' ', "+")),
                       "editui": format!("/pages/resumedraft.action?draftId={}", page.id), "tinyui": "/x/AbC"}
        });
        if body {
            v["body"] = json!({"storage": {"representation": "storage", "value": page.body}});
        }
        if labels {
            v["labels"] = Wiki::labels(page);
        }
        v
    }

    /// The attachments of a page, in id order.
    fn attachments_of(&self, page: &str) -> Vec<&WikiAttachment> {
        self.attachments.values().filter(|a| a.page == page).collect()
    }

    /// The attachment a download path names (`/download/attachments/{page}/{file}`).
    fn attachment_at(&self, path: &str) -> Option<&WikiAttachment> {
        let rest = path.strip_prefix("/download/attachments/")?;
        let (page, file) = rest.split_once('/')?;
        self.attachments.values().find(|a| a.page == page && a.file() == file)
    }

    fn cloud_attachment(&self, a: &WikiAttachment) -> Value {
        json!({
            "id": a.id, "status": "current", "title": a.title, "createdAt": "2024-01-05T08:00:00.000Z",
            "pageId": a.page, "mediaType": a.media_type, "mediaTypeDescription": "", "comment": "",
            "fileId": format!("f-{}", a.id), "fileSize": a.bytes.len(),
            "webuiLink": a.webui(), "downloadLink": a.download(),
            "version": {"createdAt": format!("2024-03-{:02}T10:00:00.000Z", a.version.min(28)), "message": "",
                        "number": a.version, "minorEdit": false, "authorId": "557058:ada"},
            "_links": {"webui": a.webui(), "download": a.download()}
        })
    }

    /// Cloud's media service: the bytes of `/media/file/f-{id}/binary?token=tok-{id}`.
    fn media(&self, r: &Request) -> Reply {
        let id = r.path.strip_prefix("/media/file/f-").and_then(|p| p.strip_suffix("/binary")).unwrap_or("");
        match self.attachments.get(id) {
            Some(a) if r.param("token") == Some(format!("tok-{id}").as_str()) => {
                let mut reply = Reply::text(200, "");
                reply.body = a.bytes.clone();
                reply.headers = vec![("Content-Type".into(), a.media_type.clone())];
                reply
            }
            _ => Reply::json(401, &json!({"error": "the token is missing or expired"})),
        }
    }

    fn cloud(&self, r: &Request) -> Reply {
        let base = format!("{}/wiki", self.base);
        if let Some(download) = r.path.strip_prefix("/wiki")
            && download.starts_with("/download/")
        {
            return match self.attachment_at(download) {
                Some(a) => Reply::text(302, "").header(
                    "Location",
                    &format!("{}/media/file/f-{}/binary?token=tok-{}&client=c1", self.base, a.id, a.id),
                ),
                None => not_found_v2(),
            };
        }
        let segments: Vec<&str> = r.path.trim_start_matches("/wiki/api/v2/").split('/').collect();
        match (r.path.starts_with("/wiki/api/v2/"), segments.as_slice()) {
            (true, ["spaces"]) => {
                let hit = r.param("keys") == Some(self.space.as_str());
                let results: Vec<Value> = if hit {
                    vec![json!({"id": SPACE_ID, "key": self.space, "name": "Engineering", "type": "global",
                                "status": "current", "homepageId": "1", "_links": {"webui": format!("/spaces/{}", self.space)}})]
                } else {
                    Vec::new()
                };
                Reply::json(200, &json!({"results": results, "_links": {"base": base}}))
            }
            (true, ["spaces", SPACE_ID, "pages"]) => {
                let (from, size) = (r.param("cursor").map(offset).unwrap_or(0), window(r, "", "limit", 25).1);
                let all: Vec<&WikiPage> = self.pages.values().collect();
                let slice: Vec<Value> =
                    all.iter().skip(from).take(size).map(|p| self.cloud_page(p, false, false)).collect();
                let mut links = json!({"base": base});
                let mut reply_headers = Vec::new();
                if from + size < all.len() {
                    let next =
                        format!("/wiki/api/v2/spaces/{SPACE_ID}/pages?limit={size}&cursor={}", cursor(from + size));
                    reply_headers.push(format!("<{next}>; rel=\"next\", <{base}>; rel=\"base\""));
                    links["next"] = next.into();
                }
                let mut reply = Reply::json(200, &json!({"results": slice, "_links": links}));
                for link in reply_headers {
                    reply = reply.header("Link", &link);
                }
                reply
            }
            (true, ["pages", id]) => match self.pages.get(*id) {
                Some(p) => {
                    let mut v = self.cloud_page(p, r.param("body-format") == Some("storage"), true);
                    v["_links"]["base"] = base.into();
                    Reply::json(200, &v)
                }
                None => not_found_v2(),
            },
            (true, ["pages", id, "labels"]) => match self.pages.get(*id) {
                Some(p) => Reply::json(200, &Wiki::labels(p)),
                None => not_found_v2(),
            },
            (true, ["pages", id, "attachments"]) if self.pages.contains_key(*id) => {
                let (from, size) = (r.param("cursor").map(offset).unwrap_or(0), window(r, "", "limit", 50).1);
                let all = self.attachments_of(id);
                let slice: Vec<Value> = all.iter().skip(from).take(size).map(|a| self.cloud_attachment(a)).collect();
                let mut links = json!({"base": base});
                if from + size < all.len() {
                    links["next"] =
                        format!("/wiki/api/v2/pages/{id}/attachments?limit={size}&cursor={}", cursor(from + size))
                            .into();
                }
                Reply::json(200, &json!({"results": slice, "_links": links}))
            }
            _ => not_found_v2(),
        }
    }

    fn dc_page(&self, page: &WikiPage, body: bool) -> Value {
        let ancestors: Vec<Value> = self
            .ancestors(page)
            .iter()
            .map(|a| json!({"id": a.id, "type": "page", "status": "current", "title": a.title}))
            .collect();
        let mut v = json!({
            "id": page.id, "type": "page", "status": "current", "title": page.title,
            "space": {"key": self.space},
            "version": {"by": {"type": "known", "username": "ada", "userKey": "8a7f", "displayName": "Ada Lovelace"},
                        "when": format!("2024-02-{:02}T10:00:00.000+01:00", page.version.min(28)),
                        "message": "", "number": page.version, "minorEdit": false},
            "ancestors": ancestors,
            "metadata": {"labels": {"results": Wiki::labels(page)["results"], "start": 0, "limit": 200, "size": page.labels.len()}},
            "_links": {"webui": format!("/display/{}/{}", self.space, page.title.replace(' ', "+")),
                       "tinyui": "/x/AwAG", "self": format!("{}/rest/api/content/{}", self.base, page.id)},
            "_expandable": {"children": format!("/rest/api/content/{}/child", page.id)}
        });
        if body {
            v["body"] = json!({"storage": {"value": page.body, "representation": "storage"}});
        }
        v
    }

    fn dc_attachment(&self, a: &WikiAttachment) -> Value {
        json!({
            "id": a.id, "type": "attachment", "status": "current", "title": a.title,
            "metadata": {"mediaType": a.media_type, "comment": ""},
            "extensions": {"mediaType": a.media_type, "fileSize": a.bytes.len(), "comment": ""},
            "version": {"by": {"type": "known", "username": "ada", "displayName": "Ada Lovelace"},
                        "when": format!("2024-03-{:02}T10:00:00.000+01:00", a.version.min(28)),
                        "message": "", "number": a.version, "minorEdit": false},
            "_links": {"webui": a.webui(), "download": a.download(),
                       "self": format!("{}/rest/api/content/{}", self.base, a.id)},
            "_expandable": {"container": format!("/rest/api/content/{}", a.page)}
        })
    }

    fn datacenter(&self, r: &Request) -> Reply {
        if r.path.starts_with("/download/") {
            return match self.attachment_at(&r.path) {
                Some(a) => {
                    let mut reply = Reply::text(200, "");
                    reply.body = a.bytes.clone();
                    reply.headers = vec![("Content-Type".into(), a.media_type.clone())];
                    reply
                }
                None => Reply::text(404, "Not Found"),
            };
        }
        if let Some(page) = r.path.strip_prefix("/rest/api/content/").and_then(|p| p.strip_suffix("/child/attachment"))
            && self.pages.contains_key(page)
        {
            let (from, size) = window(r, "start", "limit", 50);
            let all = self.attachments_of(page);
            let results: Vec<Value> = all.iter().skip(from).take(size).map(|a| self.dc_attachment(a)).collect();
            let mut links = json!({"base": self.base, "context": "",
                                   "self": format!("{}/rest/api/content/{page}/child/attachment", self.base)});
            if from + size < all.len() {
                links["next"] = format!(
                    "/rest/api/content/{page}/child/attachment?expand=version&limit={size}&start={}",
                    from + size
                )
                .into();
            }
            return dc_listing(results, from, size, links);
        }
        if r.path == "/rest/api/content" {
            let (from, size) = window(r, "start", "limit", 25);
            let mut all: Vec<&WikiPage> = self.pages.values().collect();
            if r.param("spaceKey") != Some(self.space.as_str()) {
                all.clear();
            }
            let results: Vec<Value> = all.iter().skip(from).take(size).map(|p| self.dc_page(p, false)).collect();
            let mut links =
                json!({"base": self.base, "context": "", "self": format!("{}/rest/api/content", self.base)});
            if from + size < all.len() {
                links["next"] = format!(
                    "/rest/api/content?spaceKey={}&type=page&expand=version,ancestors,metadata.labels&start={}&limit={size}",
                    self.space,
                    from + size
                )
                .into();
            }
            return dc_listing(results, from, size, links);
        }
        if let Some(key) = r.path.strip_prefix("/rest/api/space/") {
            return if key == self.space {
                Reply::json(
                    200,
                    &json!({"id": 98305, "key": self.space, "name": "Engineering", "type": "global",
                                         "_links": {"webui": format!("/display/{}", self.space)}}),
                )
            } else {
                Reply::json(
                    404,
                    &json!({"statusCode": 404, "message": format!("No space found with key : {key}"), "reason": "Not Found"}),
                )
            };
        }
        match r.path.strip_prefix("/rest/api/content/").and_then(|id| self.pages.get(id)) {
            Some(p) => Reply::json(200, &self.dc_page(p, true)),
            None => Reply::json(
                404,
                &json!({"statusCode": 404, "message": "No content found with id", "reason": "Not Found"}),
            ),
        }
    }
}

/// A page of a Data Center listing: its results, where it starts, its size and its links.
fn dc_listing(results: Vec<Value>, from: usize, size: usize, links: Value) -> Reply {
    let n = results.len();
    Reply::json(200, &json!({"results": results, "start": from, "limit": size, "size": n, "_links": links}))
}

fn not_found_v2() -> Reply {
    Reply::json(404, &json!({"errors": [{"status": 404, "code": "NOT_FOUND", "title": "Not Found", "detail": null}]}))
}

/// An issue of the fake JIRA.
#[derive(Debug, Clone)]
pub struct FakeIssue {
    /// Its key (`OPS-1`).
    pub key: String,
    /// Its summary.
    pub summary: String,
    /// Its description: paragraphs separated by blank lines (sent as ADF on Cloud, as wiki
    /// text on Data Center).
    pub description: String,
    /// Its comments: author and text.
    pub comments: Vec<(String, String)>,
    /// Its `updated` time.
    pub updated: String,
    /// Its status.
    pub status: String,
    /// Its labels.
    pub labels: Vec<String>,
}

impl FakeIssue {
    /// An open issue without comments or labels.
    pub fn new(key: &str, summary: &str, description: &str) -> FakeIssue {
        FakeIssue {
            key: key.into(),
            summary: summary.into(),
            description: description.into(),
            comments: Vec::new(),
            updated: "2024-03-01T09:00:00.000+0000".into(),
            status: "Open".into(),
            labels: Vec::new(),
        }
    }
}

struct Tracker {
    deployment: Deployment,
    project: String,
    issues: BTreeMap<String, FakeIssue>,
}

/// A fake JIRA (Cloud or Data Center) with one project, `OPS`.
pub struct FakeJira {
    /// The server.
    pub server: MockServer,
    /// Failures to inject.
    pub faults: Faults,
    tracker: Arc<Mutex<Tracker>>,
}

/// ADF paragraphs of text separated by blank lines.
fn adf(text: &str) -> Value {
    let paragraphs: Vec<Value> =
        text.split("\n\n").map(|p| json!({"type": "paragraph", "content": [{"type": "text", "text": p}]})).collect();
    json!({"version": 1, "type": "doc", "content": paragraphs})
}

impl FakeJira {
    /// Starts a fake with project `OPS` and no issue.
    pub fn start(deployment: Deployment) -> FakeJira {
        let tracker = Arc::new(Mutex::new(Tracker { deployment, project: "OPS".into(), issues: BTreeMap::new() }));
        let faults = Faults::default();
        let (t, f) = (tracker.clone(), faults.clone());
        let server = MockServer::start(move |r| {
            if let Some(reply) = f.take(&r.path) {
                return reply;
            }
            let t = t.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(refused) = check_auth(t.deployment, r) {
                return refused;
            }
            t.answer(r)
        });
        FakeJira { server, faults, tracker }
    }

    /// The site's URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Adds or replaces an issue.
    pub fn put(&self, issue: FakeIssue) {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner()).issues.insert(issue.key.clone(), issue);
    }

    /// Adds a comment and moves `updated` on.
    pub fn comment(&self, key: &str, author: &str, text: &str, updated: &str) {
        let mut t = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
        let issue = t.issues.get_mut(key).expect("an issue of the fake");
        issue.comments.push((author.into(), text.into()));
        issue.updated = updated.into();
    }

    /// Deletes an issue.
    pub fn remove(&self, key: &str) {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner()).issues.remove(key);
    }
}

impl Tracker {
    fn text(&self, text: &str) -> Value {
        match self.deployment {
            Deployment::Cloud => adf(text),
            Deployment::DataCenter => text.into(),
        }
    }

    fn user(name: &str) -> Value {
        json!({"accountId": format!("5b10:{}", name.to_lowercase()), "displayName": name, "active": true})
    }

    fn issue(&self, i: &FakeIssue, all_fields: bool) -> Value {
        let n: String = i.key.chars().filter(char::is_ascii_digit).collect();
        let mut fields = json!({"updated": i.updated});
        if all_fields {
            let comments: Vec<Value> = i
                .comments
                .iter()
                .enumerate()
                .map(|(c, (author, text))| {
                    json!({"id": format!("{}", 10_000 + c), "author": Tracker::user(author), "body": self.text(text),
                           "created": "2024-03-02T10:00:00.000+0000", "updated": "2024-03-02T10:00:00.000+0000"})
                })
                .collect();
            fields = json!({
                "summary": i.summary, "description": self.text(&i.description),
                "comment": {"comments": comments, "maxResults": i.comments.len(), "total": i.comments.len(), "startAt": 0},
                "status": {"name": i.status, "statusCategory": {"key": "new"}},
                "labels": i.labels, "assignee": Tracker::user("Grace Hopper"), "reporter": Tracker::user("Ada Lovelace"),
                "issuetype": {"name": "Bug", "subtask": false}, "priority": {"name": "High"},
                "project": {"key": self.project, "name": "Operations"},
                "created": "2024-01-01T09:00:00.000+0000", "updated": i.updated
            });
        }
        json!({"expand": "renderedFields,names,schema", "id": format!("1{n:0>4}"), "key": i.key,
               "self": format!("/rest/api/2/issue/1{n:0>4}"), "fields": fields})
    }

    /// A JQL the fake understands: `project = "KEY" ...`; an unknown project is a 400.
    fn matches(&self, jql: &str) -> Result<(), Reply> {
        let project = jql.split('"').nth(1).unwrap_or(&self.project);
        if project != self.project {
            return Err(Reply::json(
                400,
                &json!({"errorMessages": [format!("The value '{project}' does not exist for the field 'project'.")], "errors": {}}),
            ));
        }
        Ok(())
    }

    fn answer(&self, r: &Request) -> Reply {
        let all: Vec<&FakeIssue> = self.issues.values().collect();
        match (self.deployment, r.method.as_str(), r.path.as_str()) {
            (Deployment::Cloud, "POST", "/rest/api/3/search/jql") => {
                let body = r.json();
                if let Err(reply) = self.matches(body["jql"].as_str().unwrap_or("")) {
                    return reply;
                }
                let from = body["nextPageToken"].as_str().map(offset).unwrap_or(0);
                let size = body["maxResults"].as_u64().unwrap_or(50).max(1) as usize;
                let issues: Vec<Value> = all.iter().skip(from).take(size).map(|i| self.issue(i, false)).collect();
                let more = from + size < all.len();
                let mut answer = json!({"issues": issues, "isLast": !more});
                if more {
                    answer["nextPageToken"] = cursor(from + size).into();
                }
                Reply::json(200, &answer)
            }
            (Deployment::DataCenter, "GET", "/rest/api/2/search") => {
                if let Err(reply) = self.matches(r.param("jql").unwrap_or("")) {
                    return reply;
                }
                let (from, size) = window(r, "startAt", "maxResults", 50);
                let issues: Vec<Value> = all.iter().skip(from).take(size).map(|i| self.issue(i, false)).collect();
                Reply::json(
                    200,
                    &json!({"expand": "schema,names", "startAt": from, "maxResults": size, "total": all.len(), "issues": issues}),
                )
            }
            (_, "GET", path) => {
                let prefix =
                    if self.deployment == Deployment::Cloud { "/rest/api/3/issue/" } else { "/rest/api/2/issue/" };
                match path.strip_prefix(prefix).and_then(|key| self.issues.get(key)) {
                    Some(i) => Reply::json(200, &self.issue(i, true)),
                    None => Reply::json(
                        404,
                        &json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
                    ),
                }
            }
            _ => Reply::json(404, &json!({"errorMessages": ["null for uri"], "errors": {}})),
        }
    }
}

/// A fake web site for the public-docs source: pages by path (HTML, served with an `ETag`
/// unless told otherwise, answering `304` to a matching `If-None-Match`), a `robots.txt`, and
/// queued [`Faults`]. It counts the answers that carried a page's body.
pub struct FakeSite {
    /// The server.
    pub server: MockServer,
    /// Failures to answer first.
    pub faults: Faults,
    pages: Arc<Mutex<BTreeMap<String, SitePage>>>,
    bodies: Arc<Mutex<Vec<String>>>,
}

/// One page of a [`FakeSite`].
#[derive(Debug, Clone)]
pub struct SitePage {
    /// The answer's body.
    pub body: String,
    /// The `Content-Type`.
    pub content_type: String,
    /// Whether it is served with an `ETag` (the hash of the body).
    pub etag: bool,
}

impl FakeSite {
    /// Starts an empty site (its robots.txt is a 404 until one is put).
    pub fn start() -> FakeSite {
        let pages: Arc<Mutex<BTreeMap<String, SitePage>>> = Arc::default();
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let faults = Faults::default();
        let (p, b, f) = (pages.clone(), bodies.clone(), faults.clone());
        let server = MockServer::start(move |req| {
            if let Some(reply) = f.take(&req.path) {
                return reply;
            }
            let Some(page) = p.lock().unwrap_or_else(|e| e.into_inner()).get(&req.path).cloned() else {
                return Reply::text(404, "not found");
            };
            let etag = format!("\"{}\"", &crate::content_hash(page.body.as_bytes())[7..23]);
            if page.etag && req.header("if-none-match") == Some(etag.as_str()) {
                return Reply::text(304, "").header("ETag", &etag);
            }
            b.lock().unwrap_or_else(|e| e.into_inner()).push(req.path.clone());
            let mut reply = Reply::text(200, &page.body);
            reply.headers = vec![("Content-Type".into(), page.content_type.clone())];
            if page.etag { reply.header("ETag", &etag) } else { reply }
        });
        FakeSite { server, faults, pages, bodies }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Adds or replaces an HTML page with an ETag.
    pub fn page(&self, path: &str, html: &str) {
        self.put(path, SitePage { body: html.into(), content_type: "text/html; charset=utf-8".into(), etag: true });
    }

    /// Adds or replaces anything at `path`.
    pub fn put(&self, path: &str, page: SitePage) {
        self.pages.lock().unwrap_or_else(|e| e.into_inner()).insert(path.into(), page);
    }

    /// Removes a page (it answers 404).
    pub fn remove(&self, path: &str) {
        self.pages.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
    }

    /// The paths whose body was sent, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A page of HTML with a title, links and a paragraph.
pub fn html_page(title: &str, links: &[&str], text: &str) -> String {
    let links: String = links.iter().map(|l| format!("<li><a href=\"{l}\">{l}</a></li>")).collect();
    format!(
        "<!doctype html><html><head><title>{title}</title></head><body><nav><ul>{links}</ul></nav>\
         <main><h1>{title}</h1><p>{text}</p></main><footer>Copyright footer</footer></body></html>"
    )
}
