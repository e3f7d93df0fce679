//! The Confluence source: the current pages of one space, each a document, and, when
//! `attachments` is on, the files attached to them, each a document of its own.
//!
//! Cloud is read through REST v2 (`GET /wiki/api/v2/spaces?keys=KEY` for the space's id, then
//! `GET /wiki/api/v2/spaces/{id}/pages` following the `cursor` of `_links.next`), Data Center
//! through REST v1 (`GET /rest/api/content?spaceKey=KEY&type=page` following `start`).
//!
//! The listing asks for metadata only (title, parent, version; labels and ancestors on Data
//! Center), never bodies: each page's version is its version number with its parent and
//! labels, so an unchanged page is skipped without a request, and a moved or relabelled one is
//! read again (its ancestors or labels changed though its text did not). A changed page's body
//! is read by one request (`GET /wiki/api/v2/pages/{id}?body-format=storage&include-labels=true`,
//! or `GET /rest/api/content/{id}?expand=body.storage,...`).
//!
//! A page's URI is its id, stable across renames and moves. Its content is the storage-format
//! XHTML converted by the HTML converter, under a first heading that is its path in the space
//! (`Home > Guides > Deploy`), so every chunk's heading path starts with where the page sits;
//! the page's own headings move one level down. Code macros become code blocks. Metadata:
//! `url` (the page in the web UI), `space`, `parent`, `ancestors`, `labels`, `author` (a display
//! name on Data Center, an account id on Cloud) and `updated`. Label filters (`include_labels`,
//! `exclude_labels`) need each page's labels while listing: Data Center lists them; on Cloud
//! they cost one more request per page and sync, and only when a filter is set. Pages deleted,
//! archived, moved to another space or filtered out vanish from the listing, so the engine
//! deletes them.
//!
//! Attachments (off by default) are listed with each listed page, by one more request per
//! page and sync (`GET /wiki/api/v2/pages/{id}/attachments`, or
//! `GET /rest/api/content/{id}/child/attachment?expand=version`; one more per `page_size`
//! attachments of a page). An attachment's URI is `{pageId}/attachments/{attachmentId}`; its
//! version is its version number with its page's path, so an unchanged file is not downloaded
//! again and a new version (or a moved page) is. A changed one is downloaded by one request
//! (its `downloadLink`, or `_links.download` on Data Center; Cloud redirects it to its media
//! service, which gets no credentials), reading no more than `max_file_bytes`, and converted
//! by the converter of its file name's extension (else of its media type) under the same
//! conversion limits as any file; its first heading is its page's path and its file name
//! (`Home > Guides > Deploy > plan.pdf`). Metadata: `url`, `space`, `page` (the page's id),
//! `page_title`, `ancestors` (the page's path), `file_name`, `media_type`, `file_size`,
//! `updated` and `version`. Files no converter reads, or outside `attachment_types`, are not
//! listed (counted, [`ConfluenceSource::skipped_attachments`], and logged); files larger than
//! `max_file_bytes` are reported by the listing. A refused listing of one page's attachments
//! (403, 404) is reported and its attachments are kept; a refusal of the credentials, or a
//! server or network failing, stops the sync. An attachment deleted, or whose page vanishes,
//! leaves the listing, so the engine deletes it; so does turning `attachments` off.
//!
//! Cost of a sync: a few listing requests (pages / `page_size`), plus with label filters on
//! Cloud one per page, plus with attachments one per page; then one request per changed page
//! and one download per changed attachment. A first sync reads every page and attachment.
//! Comments and blog posts are not read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use trove_http::{Client, ErrorKind, HttpError};

use crate::atlassian::{Connection, Deployment, escape_html, remote_error, timestamp_ms};
use crate::error::IngestError;
use crate::format::{Format, extension};
use crate::source::{DocRef, RawDocument, Source};

/// Pages per listing request by default (both APIs accept up to 250 without bodies).
pub const PAGE_SIZE: usize = 100;
/// Deepest parent chain followed (guards against a cycle in what the server says).
const MAX_DEPTH: usize = 64;

/// What a [`ConfluenceSource`] reads.
#[derive(Debug, Clone)]
pub struct ConfluenceOptions {
    /// The site and credentials.
    pub connection: Connection,
    /// The space's key (`ENG`).
    pub space: String,
    /// Only pages with at least one of these labels; empty = every page.
    pub include_labels: Vec<String>,
    /// Never pages with one of these labels.
    pub exclude_labels: Vec<String>,
    /// Larger page bodies are skipped and reported; 0 = no limit.
    pub max_file_bytes: u64,
    /// Pages (and attachments) per listing request.
    pub page_size: usize,
    /// Index each listed page's attachments as documents of their own (one more listing
    /// request per page and sync).
    pub attachments: bool,
    /// Extensions (without the dot, `pdf`) of the attachments to index; empty = every type
    /// Trove converts. Each must be a type Trove converts.
    pub attachment_types: Vec<String>,
}

/// What the listing learnt of a page, kept for its fetch.
#[derive(Debug, Clone, Default)]
struct Listed {
    title: String,
    parent_id: Option<String>,
    ancestors: Vec<String>,
    labels: Vec<String>,
}

/// What the listing learnt of an attachment, kept for its download.
#[derive(Debug, Clone)]
struct ListedAttachment {
    page_id: String,
    page_title: String,
    /// The page's place in the space, its own title last.
    page_path: Vec<String>,
    file_name: String,
    media_type: String,
    format: Format,
    /// Where the bytes are: a path under the API's base, or an absolute URL.
    download: String,
    /// The attachment in the web UI.
    url: Option<String>,
    version: u64,
    updated: String,
    size: Option<u64>,
}

/// A [`Source`] over the pages of one Confluence space.
#[derive(Debug)]
pub struct ConfluenceSource {
    opts: ConfluenceOptions,
    client: Client,
    /// The web UI's base (`https://SITE.atlassian.net/wiki`, or the Data Center address).
    web_base: String,
    listed: Mutex<HashMap<String, Listed>>,
    /// Attachments of the last listing, by URI.
    attachments: Mutex<HashMap<String, ListedAttachment>>,
    /// Attachments the last listing left out: no converter for their type, or not among
    /// `attachment_types`.
    skipped: AtomicUsize,
}

/// `_links` of a page, an attachment or a listing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Links {
    webui: Option<String>,
    next: Option<String>,
    base: Option<String>,
    /// An attachment's download (Data Center: under the context path; Cloud: under `/wiki`).
    download: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Version {
    number: u64,
    /// Cloud.
    #[serde(rename = "createdAt")]
    created_at: Option<String>,
    /// Cloud.
    #[serde(rename = "authorId")]
    author_id: Option<String>,
    /// Data Center.
    when: Option<String>,
    /// Data Center.
    by: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Page {
    id: String,
    title: String,
    /// Cloud.
    #[serde(rename = "parentId")]
    parent_id: Option<String>,
    version: Version,
    /// Data Center.
    ancestors: Vec<Value>,
    /// Cloud: `labels.results`; Data Center: under `metadata.labels.results`.
    labels: Option<Value>,
    metadata: Option<Value>,
    body: Option<Value>,
    #[serde(rename = "_links")]
    links: Links,
}

impl Page {
    fn labels(&self) -> Vec<String> {
        let list = self.labels.as_ref().or_else(|| self.metadata.as_ref().and_then(|m| m.get("labels")));
        label_names(list)
    }

    fn storage(&self) -> Option<&str> {
        self.body.as_ref()?.pointer("/storage/value")?.as_str()
    }
}

/// Label names of a `{results: [{name}]}` object.
fn label_names(list: Option<&Value>) -> Vec<String> {
    let mut names: Vec<String> = list
        .and_then(|l| l.get("results"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|l| l.get("name")?.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}

/// An attachment as listed: Cloud v2 (`mediaType`, `fileSize`, `downloadLink` at the top)
/// or Data Center v1 (`metadata.mediaType`, `extensions.fileSize`, `_links.download`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Attachment {
    id: String,
    /// The file name.
    title: String,
    /// Cloud.
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    /// Cloud.
    #[serde(rename = "fileSize")]
    file_size: Option<u64>,
    /// Cloud, under `/wiki`.
    #[serde(rename = "downloadLink")]
    download_link: Option<String>,
    /// Cloud.
    #[serde(rename = "webuiLink")]
    webui_link: Option<String>,
    /// Cloud.
    #[serde(rename = "createdAt")]
    created_at: Option<String>,
    /// Data Center: `mediaType`.
    metadata: Option<Value>,
    /// Data Center: `fileSize` and `mediaType`.
    extensions: Option<Value>,
    version: Version,
    #[serde(rename = "_links")]
    links: Links,
}

impl Attachment {
    fn media_type(&self) -> String {
        let dc = |v: &Option<Value>| v.as_ref()?.get("mediaType")?.as_str().map(str::to_string);
        self.media_type.clone().or_else(|| dc(&self.metadata)).or_else(|| dc(&self.extensions)).unwrap_or_default()
    }

    fn size(&self) -> Option<u64> {
        self.file_size.or_else(|| {
            let size = self.extensions.as_ref()?.get("fileSize")?;
            size.as_u64().or_else(|| size.as_str()?.parse().ok())
        })
    }

    fn download(&self) -> Option<&str> {
        self.download_link.as_deref().or(self.links.download.as_deref()).filter(|d| !d.is_empty())
    }

    fn updated(&self) -> String {
        let v = &self.version;
        v.created_at.clone().or(v.when.clone()).or(self.created_at.clone()).unwrap_or_default()
    }
}

/// The extension an attachment is indexed by: its file name's when Trove converts that type,
/// else the usual one of its media type; `None` when nothing converts it.
fn attachment_extension(file_name: &str, media_type: &str) -> Option<String> {
    if let Some(ext) = extension(file_name).filter(|e| Format::from_extension(e).is_some()) {
        return Some(ext);
    }
    let mime = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let ext = match mime.as_str() {
        "application/pdf" => "pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "text/plain" => "txt",
        "text/markdown" => "md",
        "text/html" => "html",
        "application/json" => "json",
        _ => return None,
    };
    Some(ext.to_string())
}

/// One answer of a listing.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct Listing<T> {
    #[serde(default = "Vec::new")]
    results: Vec<T>,
    #[serde(rename = "_links", default)]
    links: Links,
}

/// Whether a failure to list a page's attachments is every request's (the credentials, the
/// network, the server), so the sync stops, rather than that page's (a permission, a page gone).
fn global(e: &HttpError) -> bool {
    matches!(e.kind, ErrorKind::Unauthorized | ErrorKind::Throttled | ErrorKind::Server | ErrorKind::Network)
}

impl ConfluenceSource {
    /// Prepares the client; makes no request.
    pub fn new(opts: ConfluenceOptions) -> Result<ConfluenceSource, IngestError> {
        let c = &opts.connection;
        let key = &c.key;
        let site = c.base_url.trim_end_matches('/');
        let (api_base, web_base) = match c.deployment {
            // The site may be given with or without its /wiki.
            Deployment::Cloud => {
                let site = site.strip_suffix("/wiki").unwrap_or(site);
                (site.to_string(), format!("{site}/wiki"))
            }
            Deployment::DataCenter => (site.to_string(), site.to_string()),
        };
        let space = &opts.space;
        if let Some(bad) = opts.attachment_types.iter().find(|t| Format::from_extension(t.trim()).is_none()) {
            let mut supported: Vec<&str> = Format::supported_extensions().collect();
            supported.sort_unstable();
            return Err(IngestError::Setting {
                key: format!("{key}.attachment_types"),
                message: format!(
                    "`{bad}` is not a type Trove converts; use extensions among: {}",
                    supported.join(", ")
                ),
            });
        }
        let client = c.client(
            "Confluence",
            &api_base,
            format!("the account lacks permission: give it View permission on space {space} ({key}.space)"),
            format!(
                "nothing there: check {key}.base_url (Cloud: https://SITE.atlassian.net; Data Center: the \
                 address with its context path, e.g. https://wiki.example.com/confluence), {key}.deployment \
                 and {key}.space (`{space}`)"
            ),
            format!("the request was rejected: check {key}.space and the label filters"),
        )?;
        Ok(ConfluenceSource {
            opts,
            client,
            web_base,
            listed: Mutex::new(HashMap::new()),
            attachments: Mutex::new(HashMap::new()),
            skipped: AtomicUsize::new(0),
        })
    }

    /// How many attachments the last listing left out because no converter reads their type
    /// or `attachment_types` excludes it (they are not errors; the sync logs the count).
    pub fn skipped_attachments(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    fn key(&self) -> &str {
        &self.opts.connection.key
    }

    fn cloud(&self) -> bool {
        self.opts.connection.deployment == Deployment::Cloud
    }

    fn listing_action(&self) -> String {
        format!("listing of the pages of space {}", self.opts.space)
    }

    /// Checks the site answers, the credentials work and the space exists, with one request
    /// and without listing pages (`trove doctor`).
    pub fn probe(&self) -> Result<String, IngestError> {
        if self.cloud() {
            let id = self.space_id()?;
            return Ok(format!("space {} (id {id}) is readable", self.opts.space));
        }
        self.client
            .get_json::<Value>(&format!("/rest/api/space/{}", self.opts.space), &[])
            .map_err(|e| remote_error(e, &format!("lookup of space {}", self.opts.space)))?;
        Ok(format!("space {} is readable", self.opts.space))
    }

    /// Cloud: the space's id from its key.
    fn space_id(&self) -> Result<String, IngestError> {
        let action = format!("lookup of space {}", self.opts.space);
        let answer: Listing<Page> = self
            .client
            .get_json("/wiki/api/v2/spaces", &[("keys", &self.opts.space)])
            .map_err(|e| remote_error(e, &action))?;
        let id = answer.results.into_iter().next().map(|s| s.id).filter(|id| !id.is_empty());
        id.ok_or_else(|| IngestError::Remote {
            remote: self.client.url("/wiki/api/v2/spaces"),
            action,
            detail: format!("no space has the key `{}`", self.opts.space),
            fix: format!(
                "check {}.space (a space key such as ENG, as shown in the space's URL) and that the account can view it",
                self.key()
            ),
            code: trove_types::Code::SourceRefused,
        })
    }

    /// Every current page of the space, with the metadata the API lists.
    fn list_pages(&self) -> Result<Vec<Page>, IngestError> {
        if self.cloud() {
            let id = self.space_id()?;
            let path = format!("/wiki/api/v2/spaces/{id}/pages");
            return self.collect(&path, &[("status", "current")]).map_err(|e| remote_error(e, &self.listing_action()));
        }
        // The listing of an unknown space is empty, not an error: check it exists, or a
        // mistyped key would delete every page.
        self.client
            .get_json::<Value>(&format!("/rest/api/space/{}", self.opts.space), &[])
            .map_err(|e| remote_error(e, &format!("lookup of space {}", self.opts.space)))?;
        let query = [
            ("spaceKey", self.opts.space.as_str()),
            ("type", "page"),
            ("status", "current"),
            ("expand", "version,ancestors,metadata.labels"),
        ];
        self.collect("/rest/api/content", &query).map_err(|e| remote_error(e, &self.listing_action()))
    }

    /// Every result of a listing: `page_size` a request, following the `cursor` of
    /// `_links.next` on Cloud, `start` on Data Center.
    fn collect<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<T>, HttpError> {
        let size = self.opts.page_size.clamp(1, 250).to_string();
        let mut all = Vec::new();
        if self.cloud() {
            let mut cursor: Option<String> = None;
            loop {
                let mut q = query.to_vec();
                q.push(("limit", size.as_str()));
                if let Some(c) = &cursor {
                    q.push(("cursor", c.as_str()));
                }
                let answer: Listing<T> = self.client.get_json(path, &q)?;
                all.extend(answer.results);
                match answer.links.next.as_deref().and_then(|next| query_value(next, "cursor")) {
                    Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                    _ => break,
                }
            }
        } else {
            let mut start = 0usize;
            loop {
                let from = start.to_string();
                let mut q = query.to_vec();
                q.push(("start", from.as_str()));
                q.push(("limit", size.as_str()));
                let answer: Listing<T> = self.client.get_json(path, &q)?;
                let got = answer.results.len();
                all.extend(answer.results);
                let Some(next) = answer.links.next.as_deref() else { break };
                match query_value(next, "start").and_then(|s| s.parse::<usize>().ok()) {
                    Some(next) if next > start => start = next,
                    _ if got > 0 => start += got,
                    _ => break,
                }
            }
        }
        Ok(all)
    }

    /// A page's current attachments (one request per `page_size` of them).
    fn list_attachments(&self, page_id: &str) -> Result<Vec<Attachment>, HttpError> {
        if self.cloud() {
            self.collect(&format!("/wiki/api/v2/pages/{page_id}/attachments"), &[])
        } else {
            self.collect(&format!("/rest/api/content/{page_id}/child/attachment"), &[("expand", "version")])
        }
    }

    /// Whether `attachment_types` lets an attachment with this extension in.
    fn wanted_type(&self, ext: &str) -> bool {
        let types = &self.opts.attachment_types;
        types.is_empty() || types.iter().any(|t| t.trim().trim_start_matches('.').eq_ignore_ascii_case(ext))
    }

    /// Lists the attachments of one listed page into `docs` (or `errors`, for a too-large file
    /// or a listing refused for this page alone); `path` is the page's place, its title last.
    fn add_attachments(
        &self,
        page: &Page,
        path: &[String],
        found: &mut HashMap<String, ListedAttachment>,
        docs: &mut Vec<DocRef>,
        errors: &mut Vec<(String, IngestError)>,
    ) -> Result<usize, IngestError> {
        let action = format!("listing of the attachments of page {} ({})", page.id, page.title);
        let attachments = match self.list_attachments(&page.id) {
            Ok(a) => a,
            Err(e) if global(&e) => return Err(remote_error(e, &action)),
            // Its attachments stay as they are: the engine keeps what is under this URI prefix.
            Err(e) => {
                errors.push((format!("{}/attachments", page.id), remote_error(e, &action)));
                return Ok(0);
            }
        };
        let mut skipped = 0;
        for a in attachments {
            let media_type = a.media_type();
            let ext = attachment_extension(&a.title, &media_type).filter(|e| self.wanted_type(e));
            let (Some(format), Some(download)) = (ext.as_deref().and_then(Format::from_extension), a.download()) else {
                tracing::debug!(page = %page.id, file = %a.title, %media_type, "attachment skipped: no converter, or its type is not wanted");
                skipped += 1;
                continue;
            };
            if a.id.is_empty() {
                continue;
            }
            let uri = format!("{}/attachments/{}", page.id, a.id);
            let size = a.size();
            let max = self.opts.max_file_bytes;
            if let Some(size) = size.filter(|s| max > 0 && *s > max) {
                errors.push((uri.clone(), IngestError::TooLarge { uri, size, max }));
                continue;
            }
            let download = if download.starts_with("http://") || download.starts_with("https://") {
                download.to_string()
            } else if self.cloud() && !download.starts_with("/wiki/") {
                format!("/wiki{download}")
            } else {
                download.to_string()
            };
            let url = a.links.webui.as_deref().or(a.webui_link.as_deref()).map(|webui| {
                if webui.starts_with("http") { webui.to_string() } else { format!("{}{webui}", self.web_base) }
            });
            let updated = a.updated();
            docs.push(DocRef {
                uri: uri.clone(),
                size: size.unwrap_or(0),
                modified_unix_ms: timestamp_ms(&updated),
                // A new version of the file, or the page moved or renamed (its path heads the chunks).
                version: Some(format!("{}|{}", a.version.number, path.join(" > "))),
            });
            found.insert(
                uri,
                ListedAttachment {
                    page_id: page.id.clone(),
                    page_title: page.title.clone(),
                    page_path: path.to_vec(),
                    file_name: a.title.clone(),
                    media_type,
                    format,
                    download,
                    url,
                    version: a.version.number,
                    updated,
                    size,
                },
            );
        }
        Ok(skipped)
    }

    /// Downloads a listed attachment (one request, plus the redirects it takes).
    fn fetch_attachment(&self, doc: &DocRef, att: ListedAttachment) -> Result<RawDocument, IngestError> {
        let action = format!("download of attachment {} of page {}", att.file_name, att.page_id);
        let max = self.opts.max_file_bytes;
        let answer = self.client.get_file(&att.download, max).map_err(|e| match e.kind {
            ErrorKind::NotFound => IngestError::NotFound { uri: doc.uri.clone() },
            _ => remote_error(e, &action),
        })?;
        let got = answer.body.len() as u64;
        if max > 0 && got > max {
            let announced = answer.header("content-length").and_then(|l| l.trim().parse::<u64>().ok());
            return Err(IngestError::TooLarge { uri: doc.uri.clone(), size: announced.unwrap_or(got).max(got), max });
        }
        let mut raw = RawDocument::new(doc.uri.clone(), answer.body, att.format, timestamp_ms(&att.updated));
        let mut heading = att.page_path.clone();
        heading.push(att.file_name.clone());
        raw.heading = Some(heading.join(" > "));
        raw.title = Some(att.file_name.clone());
        let m = &mut raw.metadata;
        if let Some(url) = att.url {
            m.insert("url".into(), url.into());
        }
        m.insert("space".into(), self.opts.space.clone().into());
        m.insert("page".into(), att.page_id.into());
        m.insert("page_title".into(), att.page_title.into());
        m.insert("ancestors".into(), att.page_path.into());
        m.insert("file_name".into(), att.file_name.into());
        if !att.media_type.is_empty() {
            m.insert("media_type".into(), att.media_type.into());
        }
        if let Some(size) = att.size {
            m.insert("file_size".into(), size.into());
        }
        if !att.updated.is_empty() {
            m.insert("updated".into(), att.updated.into());
        }
        m.insert("version".into(), att.version.into());
        Ok(raw)
    }

    /// Cloud: a page's labels (one request).
    fn cloud_labels(&self, id: &str) -> Result<Vec<String>, IngestError> {
        let answer: Value = self
            .client
            .get_json(&format!("/wiki/api/v2/pages/{id}/labels"), &[("limit", "250")])
            .map_err(|e| remote_error(e, &format!("listing of the labels of page {id}")))?;
        Ok(label_names(Some(&answer)))
    }

    fn wanted(&self, labels: &[String]) -> bool {
        let has = |wanted: &[String]| wanted.iter().any(|w| labels.iter().any(|l| l.eq_ignore_ascii_case(w)));
        (self.opts.include_labels.is_empty() || has(&self.opts.include_labels)) && !has(&self.opts.exclude_labels)
    }

    fn filters(&self) -> bool {
        !self.opts.include_labels.is_empty() || !self.opts.exclude_labels.is_empty()
    }

    /// The page's body, labels and version (one request).
    fn read_page(&self, id: &str) -> Result<Page, IngestError> {
        let action = format!("read of page {id}");
        let result = if self.cloud() {
            self.client.get_json::<Page>(
                &format!("/wiki/api/v2/pages/{id}"),
                &[("body-format", "storage"), ("include-labels", "true")],
            )
        } else {
            self.client.get_json::<Page>(
                &format!("/rest/api/content/{id}"),
                &[("expand", "body.storage,version,ancestors,metadata.labels")],
            )
        };
        result.map_err(|e| match e.kind {
            ErrorKind::NotFound => IngestError::NotFound { uri: id.to_string() },
            _ => remote_error(e, &action),
        })
    }
}

/// A query parameter's (percent-decoded) value in a relative or absolute URL.
fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(byte) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Storage-format XHTML as HTML the converter reads: CDATA sections (code macros) become
/// escaped text, a macro's plain-text body a `<pre>`, macro parameters are dropped, and the
/// page's headings move one level down under a first heading `heading`.
pub fn storage_to_html(title: &str, heading: &str, storage: &str) -> String {
    let mut body = String::with_capacity(storage.len() + 256);
    let mut rest = storage;
    while let Some(start) = rest.find("<![CDATA[") {
        body.push_str(&rest[..start]);
        let inner = &rest[start + 9..];
        let end = inner.find("]]>").unwrap_or(inner.len());
        body.push_str(&escape_html(&inner[..end]));
        rest = inner.get(end + 3..).unwrap_or("");
    }
    body.push_str(rest);
    let mut body = drop_elements(&body, "ac:parameter");
    body = body.replace("<ac:plain-text-body>", "<pre>").replace("</ac:plain-text-body>", "</pre>");
    for level in (1..=5).rev() {
        let (next, this) = (level + 1, level);
        body = body
            .replace(&format!("<h{this}>"), &format!("<h{next}>"))
            .replace(&format!("<h{this} "), &format!("<h{next} "))
            .replace(&format!("</h{this}>"), &format!("</h{next}>"));
    }
    format!(
        "<html><head><title>{}</title></head><body><h1>{}</h1>\n{body}</body></html>",
        escape_html(title),
        escape_html(heading)
    )
}

/// `html` without the elements named `name` and their content.
fn drop_elements(html: &str, name: &str) -> String {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        rest = match after.find(&close) {
            Some(end) => &after[end + close.len()..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

impl Source for ConfluenceSource {
    fn list(&self) -> Result<(Vec<DocRef>, Vec<(String, IngestError)>), IngestError> {
        let pages = self.list_pages()?;
        let by_id: HashMap<&str, &Page> = pages.iter().map(|p| (p.id.as_str(), p)).collect();
        let mut listed = HashMap::new();
        let mut attachments = HashMap::new();
        let (mut docs, mut errors, mut skipped) = (Vec::new(), Vec::new(), 0);
        for page in &pages {
            if page.id.is_empty() {
                continue;
            }
            // Ancestors: listed on Data Center; on Cloud, the chain of parents in the space.
            let (ancestors, parent_id) = if page.ancestors.is_empty() {
                let mut chain = Vec::new();
                let mut at = page.parent_id.as_deref();
                while let Some(parent) = at.and_then(|id| by_id.get(id)) {
                    if chain.len() >= MAX_DEPTH {
                        break;
                    }
                    chain.push(parent.title.clone());
                    at = parent.parent_id.as_deref();
                }
                chain.reverse();
                (chain, page.parent_id.clone())
            } else {
                let titles = page.ancestors.iter().filter_map(|a| a.get("title")?.as_str().map(str::to_string));
                let parent = page.ancestors.last().and_then(|a| a.get("id")?.as_str().map(str::to_string));
                (titles.collect(), parent)
            };
            let mut labels = page.labels();
            if self.cloud() && self.filters() {
                // A failure fails the listing: a page left out would be deleted.
                labels = self.cloud_labels(&page.id)?;
            }
            if !self.wanted(&labels) {
                continue;
            }
            let version = format!(
                "{}|{}|{}",
                page.version.number,
                parent_id.as_deref().unwrap_or(""),
                if self.cloud() && !self.filters() { String::new() } else { labels.join(",") }
            );
            let updated = page.version.created_at.as_deref().or(page.version.when.as_deref()).unwrap_or("");
            docs.push(DocRef {
                uri: page.id.clone(),
                size: 0,
                modified_unix_ms: timestamp_ms(updated),
                version: Some(version),
            });
            if self.opts.attachments {
                let mut path = ancestors.clone();
                path.push(page.title.clone());
                skipped += self.add_attachments(page, &path, &mut attachments, &mut docs, &mut errors)?;
            }
            listed.insert(page.id.clone(), Listed { title: page.title.clone(), parent_id, ancestors, labels });
        }
        docs.sort_by(|a, b| a.uri.cmp(&b.uri));
        errors.sort_by(|a, b| a.0.cmp(&b.0));
        if skipped > 0 {
            tracing::info!(space = %self.opts.space, skipped, "attachments skipped: no converter reads their type, or attachment_types leaves it out");
        }
        self.skipped.store(skipped, Ordering::Relaxed);
        *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = listed;
        *self.attachments.lock().unwrap_or_else(|e| e.into_inner()) = attachments;
        Ok((docs, errors))
    }

    fn fetch(&self, doc: &DocRef) -> Result<RawDocument, IngestError> {
        let attachment = self.attachments.lock().unwrap_or_else(|e| e.into_inner()).get(&doc.uri).cloned();
        if let Some(att) = attachment {
            return self.fetch_attachment(doc, att);
        }
        if doc.uri.contains("/attachments/") {
            // Not in this source's last listing: gone, or never listed here.
            return Err(IngestError::NotFound { uri: doc.uri.clone() });
        }
        let page = self.read_page(&doc.uri)?;
        let known = self.listed.lock().unwrap_or_else(|e| e.into_inner()).get(&doc.uri).cloned().unwrap_or_default();
        let storage = page.storage().unwrap_or("");
        if self.opts.max_file_bytes > 0 && storage.len() as u64 > self.opts.max_file_bytes {
            return Err(IngestError::TooLarge {
                uri: doc.uri.clone(),
                size: storage.len() as u64,
                max: self.opts.max_file_bytes,
            });
        }
        let title = if page.title.is_empty() { known.title.clone() } else { page.title.clone() };
        let ancestors: Vec<String> = if page.ancestors.is_empty() {
            known.ancestors.clone()
        } else {
            page.ancestors.iter().filter_map(|a| a.get("title")?.as_str().map(str::to_string)).collect()
        };
        let mut path = ancestors.clone();
        path.push(title.clone());
        let html = storage_to_html(&title, &path.join(" > "), storage);
        let updated = page.version.created_at.clone().or(page.version.when.clone()).unwrap_or_default();
        let mut raw = RawDocument::new(doc.uri.clone(), html.into_bytes(), Format::Html, timestamp_ms(&updated));
        raw.title = Some(title);
        let m = &mut raw.metadata;
        if let Some(webui) = page.links.webui.as_deref() {
            let base = page.links.base.as_deref().unwrap_or(&self.web_base).trim_end_matches('/');
            m.insert("url".into(), format!("{base}{webui}").into());
        }
        m.insert("space".into(), self.opts.space.clone().into());
        if let Some(parent) = ancestors.last() {
            m.insert("parent".into(), parent.clone().into());
        }
        if let Some(id) = &known.parent_id {
            m.insert("parent_id".into(), id.clone().into());
        }
        m.insert("ancestors".into(), ancestors.into());
        let labels = page.labels();
        m.insert("labels".into(), if labels.is_empty() { known.labels } else { labels }.into());
        let author = page
            .version
            .by
            .as_ref()
            .and_then(|b| b.get("displayName").or_else(|| b.get("username")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(page.version.author_id.clone());
        if let Some(author) = author {
            m.insert("author".into(), author.into());
        }
        if !updated.is_empty() {
            m.insert("updated".into(), updated.into());
        }
        m.insert("version".into(), page.version.number.into());
        Ok(raw)
    }
}

#[cfg(test)]
mod tests;
