//! The public-docs source: a web site crawled from a base URL within its path prefix, each
//! HTML page a document.
//!
//! The listing crawls breadth-first from `base_url`, following `<a href>` links resolved
//! against their page, without fragments or query strings, on the same scheme and host and
//! under the base's path prefix (`link.rs`), no deeper than `max_depth` links and no more than
//! `max_pages` requests (a limit that cuts the crawl is reported as a listing error naming the
//! key). `robots.txt` is obeyed (`robots.rs`: the group of the user agent, else `*`; longest
//! match; `Crawl-delay` lowers `requests_per_minute`). Only `text/html` answers are pages;
//! links to files that are not pages by their extension (`.pdf`, `.png`, `.zip`...) are not
//! requested; `<meta name="robots">` `noindex` keeps a page out (its links are still followed) and
//! `nofollow` stops at it; a `<link rel="canonical">` in scope names the document a page is
//! (so two addresses of one page make one document). Redirects within scope are followed;
//! `exclude` patterns are neither read nor followed, `include` patterns pick what is indexed
//! (patterns are globs on the URI, or prefixes when they hold no glob character).
//!
//! Incremental: the listing must read pages to find links, so it keeps each page's content for
//! `fetch` (no page is downloaded twice in a sync). A document's version is its `ETag`, else
//! its `Last-Modified`, else the hash of its content, with a fingerprint of the selectors. The
//! validators, versions and links of the pages found are written to `state.json` under
//! `state_dir` after each successful listing; the next listing asks with `If-None-Match` /
//! `If-Modified-Since`, and a `304` reuses the page's recorded links and version, so an
//! unchanged page costs one bodiless answer and is neither fetched nor embedded. A page that
//! fails to answer (network, 5xx after the client's retries) keeps its recorded entry and is
//! reported; a 404 or 410, or a page no longer linked, is not listed, so the engine deletes it.
//! A failure of the base page fails the whole listing (nothing is deleted).
//!
//! A page's URI is its path relative to the scope prefix (`guide/setup.html`; the prefix
//! itself is `/`). Its content: `drop_selectors` removed, then the elements of
//! `content_selector` (else the whole body), handed to the HTML converter. Metadata: `url`,
//! `title`.

mod link;
mod robots;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use scraper::{Html, Selector};
use serde::{Deserialize, Serialize};
use trove_http::{Answer, Client, ClientOptions, ErrorKind, HttpError};

use crate::atlassian::{escape_html, remote_error};
use crate::error::IngestError;
use crate::format::Format;
use crate::source::{DocRef, RawDocument, Source, content_hash};
pub use link::{Link, scope_prefix};
pub use robots::Robots;

/// What a [`PublicDocsSource`] crawls.
#[derive(Debug, Clone)]
pub struct PublicDocsOptions {
    /// Where the crawl starts; its path is the scope's prefix.
    pub base_url: String,
    /// Links followed from the base page at most.
    pub max_depth: u32,
    /// Pages requested at most in one listing.
    pub max_pages: usize,
    /// URI globs or prefixes to index; empty = all.
    pub include: Vec<String>,
    /// URI globs or prefixes neither read nor followed.
    pub exclude: Vec<String>,
    /// CSS selector of the content (`main, article`); `None`: the whole body.
    pub content_selector: Option<String>,
    /// CSS selectors of elements removed first (`nav`, `footer`, `.sidebar`).
    pub drop_selectors: Vec<String>,
    /// Requests per minute; 0 = no limit (a robots.txt `Crawl-delay` may lower it).
    pub requests_per_minute: u32,
    /// Time limit of one request.
    pub timeout: Duration,
    /// A PEM bundle of CAs to trust.
    pub ca_file: Option<PathBuf>,
    /// A proxy URL.
    pub proxy: Option<String>,
    /// The `User-Agent`; `None`: `trove/<version>`.
    pub user_agent: Option<String>,
    /// Where `state.json` (validators and links of the last listing) lives; `None`: no
    /// conditional requests.
    pub state_dir: Option<PathBuf>,
    /// Larger pages are skipped and reported; 0 = no limit.
    pub max_file_bytes: u64,
    /// Retries of one request after the first attempt.
    pub max_retries: u32,
    /// The configuration key of the source, for messages (`vaults.kb.sources.site`).
    pub key: String,
}

/// What the last listing recorded of one page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PageState {
    /// The address it was read at.
    url: String,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    /// ETag, Last-Modified or content hash.
    validator: String,
    #[serde(default)]
    title: String,
    /// Links found, absolute.
    #[serde(default)]
    links: Vec<String>,
    #[serde(default)]
    noindex: bool,
    #[serde(default)]
    nofollow: bool,
    /// The canonical address, when the page names one in scope.
    #[serde(default)]
    canonical: Option<String>,
}

/// `state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    base_url: String,
    /// By URL.
    pages: BTreeMap<String, PageState>,
}

/// What the listing keeps for `fetch`.
#[derive(Debug, Clone)]
struct Listed {
    url: String,
    title: String,
    /// The extracted HTML, when the listing read the page in this sync.
    html: Option<String>,
}

/// A [`Source`] over the pages of a web site under a base URL.
#[derive(Debug)]
pub struct PublicDocsSource {
    opts: PublicDocsOptions,
    base: Link,
    prefix: String,
    include: Option<GlobSet>,
    include_prefixes: Vec<String>,
    exclude: Option<GlobSet>,
    exclude_prefixes: Vec<String>,
    content: Option<Selector>,
    drops: Vec<Selector>,
    /// A fingerprint of the extraction settings, part of every version.
    settings: String,
    client: Mutex<Client>,
    listed: Mutex<HashMap<String, Listed>>,
}

fn setting(key: &str, message: String) -> IngestError {
    IngestError::Setting { key: key.to_string(), message }
}

/// Glob patterns and plain prefixes.
fn patterns(list: &[String]) -> Result<(Option<GlobSet>, Vec<String>), IngestError> {
    let mut globs = GlobSetBuilder::new();
    let (mut any, mut prefixes) = (false, Vec::new());
    for p in list {
        let p = p.trim().trim_start_matches('/');
        if p.contains(['*', '?', '[', '{']) {
            let glob = Glob::new(p).map_err(|e| IngestError::BadGlob { glob: p.to_string(), reason: e.to_string() })?;
            globs.add(glob);
            any = true;
        } else {
            prefixes.push(p.to_string());
        }
    }
    let set = if any {
        Some(globs.build().map_err(|e| IngestError::BadGlob { glob: list.join(", "), reason: e.to_string() })?)
    } else {
        None
    };
    Ok((set, prefixes))
}

fn selector(key: &str, css: &str) -> Result<Selector, IngestError> {
    Selector::parse(css).map_err(|e| setting(key, format!("`{css}` is not a CSS selector: {e}")))
}

/// Whether an answer's `Content-Type` is HTML (a missing one is taken as HTML).
fn is_html(answer: &Answer) -> bool {
    answer.header("content-type").is_none_or(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("text/html") || t.starts_with("application/xhtml+xml")
    })
}

/// What a page says about itself.
struct Parsed {
    title: String,
    links: Vec<String>,
    noindex: bool,
    nofollow: bool,
    canonical: Option<String>,
    html: String,
}

impl PublicDocsSource {
    /// Checks the settings and prepares the client; makes no request.
    pub fn new(opts: PublicDocsOptions) -> Result<PublicDocsSource, IngestError> {
        let key = opts.key.clone();
        let base = Link::parse(&opts.base_url).ok_or_else(|| {
            setting(&format!("{key}.base_url"), format!("`{}` is not an http:// or https:// URL", opts.base_url))
        })?;
        let prefix = scope_prefix(&base.path);
        let (include, include_prefixes) = patterns(&opts.include)?;
        let (exclude, exclude_prefixes) = patterns(&opts.exclude)?;
        let content = match opts.content_selector.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(css) => Some(selector(&format!("{key}.content_selector"), css)?),
            None => None,
        };
        let drops = opts
            .drop_selectors
            .iter()
            .map(|css| selector(&format!("{key}.drop_selectors"), css))
            .collect::<Result<Vec<_>, _>>()?;
        let settings = content_hash(
            format!("{:?}|{:?}", opts.content_selector.as_deref().map(str::trim), opts.drop_selectors).as_bytes(),
        );
        let settings = settings[7..19].to_string();
        let client = Self::client(&opts, &base, opts.requests_per_minute)?;
        Ok(PublicDocsSource {
            opts,
            base,
            prefix,
            include,
            include_prefixes,
            exclude,
            exclude_prefixes,
            content,
            drops,
            settings,
            client: Mutex::new(client),
            listed: Mutex::new(HashMap::new()),
        })
    }

    fn client(opts: &PublicDocsOptions, base: &Link, per_minute: u32) -> Result<Client, IngestError> {
        let key = &opts.key;
        let mut o = ClientOptions::new("the site", &base.origin, key);
        o.timeout = opts.timeout;
        o.requests_per_minute = per_minute;
        o.ca_file = opts.ca_file.clone();
        o.proxy = opts.proxy.clone();
        o.max_retries = opts.max_retries;
        o.user_agent = opts.user_agent.clone();
        o.hints.unauthorized = format!("the site asks for credentials: {key} reads public pages only");
        o.hints.forbidden = format!("the site refuses this page: exclude it ({key}.exclude) or fix {key}.base_url");
        o.hints.not_found = format!("nothing there: check {key}.base_url");
        o.hints.rejected = format!("the site rejected the request: check {key}.base_url");
        Client::new(o).map_err(|e| remote_error(e, "set-up of the client"))
    }

    fn agent(&self) -> String {
        self.opts.user_agent.clone().unwrap_or_else(|| concat!("trove/", env!("CARGO_PKG_VERSION")).to_string())
    }

    fn http(&self) -> Client {
        self.client.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a link is in scope: same origin, under the prefix, not excluded.
    fn in_scope(&self, link: &Link) -> bool {
        if link.origin != self.base.origin {
            return false;
        }
        if !(link.path.starts_with(&self.prefix)
            || link.path == self.base.path
            || link.path == self.prefix.trim_end_matches('/'))
        {
            return false;
        }
        let uri = self.uri(link);
        let excluded = self.exclude_prefixes.iter().any(|p| uri.starts_with(p.as_str()))
            || self.exclude.as_ref().is_some_and(|g| g.is_match(&uri));
        !excluded
    }

    fn included(&self, uri: &str) -> bool {
        if self.include.is_none() && self.include_prefixes.is_empty() {
            return true;
        }
        self.include_prefixes.iter().any(|p| uri.starts_with(p.as_str()))
            || self.include.as_ref().is_some_and(|g| g.is_match(uri))
    }

    /// The URI of a page in scope: its path relative to the prefix, `/` for the prefix itself.
    pub fn uri(&self, link: &Link) -> String {
        let rel = link.path.strip_prefix(&self.prefix).unwrap_or("");
        if rel.is_empty() { "/".to_string() } else { rel.to_string() }
    }

    fn state_path(&self) -> Option<PathBuf> {
        self.opts.state_dir.as_ref().map(|d| d.join("state.json"))
    }

    fn load_state(&self) -> State {
        let Some(path) = self.state_path() else { return State::default() };
        let state: State = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        if state.base_url == self.base.url() { state } else { State::default() }
    }

    fn save_state(&self, state: &State) -> Result<(), IngestError> {
        let Some(path) = self.state_path() else { return Ok(()) };
        let io = |e| IngestError::io(path.display().to_string(), e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(state).unwrap_or_default()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// robots.txt of the site: absent (4xx) = everything allowed; unreachable fails.
    fn robots(&self, client: &Client) -> Result<Robots, IngestError> {
        match client.get_page("/robots.txt", &[]) {
            Ok(a) if (200..300).contains(&a.status) => {
                Ok(Robots::parse(&String::from_utf8_lossy(&a.body), &self.agent()))
            }
            Ok(_) => Ok(Robots::allow_all()),
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::NotFound | ErrorKind::Rejected | ErrorKind::Forbidden | ErrorKind::Unauthorized
                ) =>
            {
                Ok(Robots::allow_all())
            }
            Err(e) => Err(remote_error(e, "read of robots.txt")),
        }
    }

    /// Parses a page: title, links, robots meta, canonical, and the extracted content.
    fn parse(&self, page: &Link, body: &[u8]) -> Parsed {
        let text = String::from_utf8_lossy(body);
        let mut doc = Html::parse_document(&text);
        let sel = |css: &str| Selector::parse(css).expect("a valid built-in selector");
        let title = doc
            .select(&sel("title"))
            .next()
            .map(|t| t.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let mut noindex = false;
        let mut nofollow = false;
        for m in doc.select(&sel("meta[name]")) {
            let name = m.value().attr("name").unwrap_or("").to_ascii_lowercase();
            if name == "robots" || self.agent().to_ascii_lowercase().starts_with(&name) {
                let content = m.value().attr("content").unwrap_or("").to_ascii_lowercase();
                noindex |= content.contains("noindex") || content.contains("none");
                nofollow |= content.contains("nofollow") || content.contains("none");
            }
        }
        let canonical = doc
            .select(&sel("link[rel~=canonical][href]"))
            .next()
            .and_then(|l| page.join(l.value().attr("href")?))
            .filter(|l| self.in_scope(l))
            .map(|l| l.url());
        let mut links = Vec::new();
        for a in doc.select(&sel("a[href]")) {
            if a.value().attr("rel").is_some_and(|r| r.to_ascii_lowercase().contains("nofollow")) {
                continue;
            }
            if let Some(l) = a.value().attr("href").and_then(|h| page.join(h)) {
                links.push(l.url());
            }
        }
        links.dedup();
        // Drop, then select.
        let dropped: Vec<_> =
            self.drops.iter().flat_map(|s| doc.select(s).map(|e| e.id()).collect::<Vec<_>>()).collect();
        for id in dropped {
            if let Some(mut node) = doc.tree.get_mut(id) {
                node.detach();
            }
        }
        let mut content = String::new();
        if let Some(selector) = &self.content {
            let chosen: Vec<_> = doc.select(selector).collect();
            let ids: HashSet<_> = chosen.iter().map(|e| e.id()).collect();
            for e in &chosen {
                if e.ancestors().any(|a| ids.contains(&a.id())) {
                    continue;
                }
                content.push_str(&e.html());
                content.push('\n');
            }
        }
        if content.is_empty() {
            content = doc.select(&sel("body")).next().map(|b| b.inner_html()).unwrap_or_default();
        }
        let html = format!("<html><head><title>{}</title></head><body>\n{content}</body></html>", escape_html(&title));
        Parsed { title, links, noindex, nofollow, canonical, html }
    }

    /// Checks the base URL answers with a page and robots.txt lets us read it (`trove doctor`).
    pub fn probe(&self) -> Result<String, IngestError> {
        let client = self.http();
        let robots = self.robots(&client)?;
        if !robots.allowed(&self.base.path) {
            return Err(setting(
                &format!("{}.base_url", self.opts.key),
                format!("robots.txt of {} disallows {} for this crawler", self.base.origin, self.base.path),
            ));
        }
        let answer = client.get_page(&self.base.path, &[]).map_err(|e| remote_error(e, "read of the base page"))?;
        if (300..400).contains(&answer.status) {
            return Ok(format!(
                "{} redirects to {}",
                self.base.url(),
                answer.header("location").unwrap_or("another address")
            ));
        }
        if !is_html(&answer) {
            return Err(setting(
                &format!("{}.base_url", self.opts.key),
                format!("{} is not an HTML page ({})", self.base.url(), answer.header("content-type").unwrap_or("")),
            ));
        }
        let parsed = self.parse(&self.base, &answer.body);
        let in_scope = parsed.links.iter().filter_map(|l| Link::parse(l)).filter(|l| self.in_scope(l)).count();
        Ok(format!(
            "{} answers (\"{}\", {in_scope} links in scope); robots.txt allows it{}",
            self.base.url(),
            parsed.title,
            robots.crawl_delay.map(|d| format!(", crawl-delay {d} s")).unwrap_or_default()
        ))
    }

    fn version(&self, validator: &str) -> String {
        format!("{validator}|{}", self.settings)
    }
}

/// Extensions of files that are never HTML pages: links to them are not requested.
const NOT_PAGES: &[&str] = &[
    "7z", "avi", "bin", "bmp", "bz2", "css", "csv", "dmg", "doc", "docx", "eot", "epub", "exe", "gif", "gz", "ico",
    "iso", "jar", "jpeg", "jpg", "js", "json", "m4a", "mov", "mp3", "mp4", "msi", "ogg", "otf", "pdf", "png", "ppt",
    "pptx", "rar", "rss", "svg", "tar", "tgz", "tif", "tiff", "ttf", "wasm", "wav", "webm", "webp", "woff", "woff2",
    "xls", "xlsx", "xml", "xz", "zip",
];

/// Whether a path names a file that is not a page by its extension.
fn not_a_page(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    last.rsplit_once('.').is_some_and(|(_, ext)| NOT_PAGES.contains(&ext.to_ascii_lowercase().as_str()))
}

/// Whether an HTTP failure means the page is gone (404, 410).
fn gone(e: &HttpError) -> bool {
    e.kind == ErrorKind::NotFound || e.status == Some(410)
}

impl Source for PublicDocsSource {
    fn list(&self) -> Result<(Vec<DocRef>, Vec<(String, IngestError)>), IngestError> {
        let key = self.opts.key.clone();
        let mut client = self.http();
        let robots = self.robots(&client)?;
        if let Some(delay) = robots.crawl_delay.filter(|d| *d > 0.0) {
            let per_minute = ((60.0 / delay).floor() as u32).max(1);
            if self.opts.requests_per_minute == 0 || per_minute < self.opts.requests_per_minute {
                client = Self::client(&self.opts, &self.base, per_minute)?;
                *self.client.lock().unwrap_or_else(|e| e.into_inner()) = client.clone();
            }
        }
        if !robots.allowed(&self.base.path) {
            // Listing nothing would delete every page: refuse instead.
            return Err(setting(
                &format!("{key}.base_url"),
                format!("robots.txt of {} disallows {} for this crawler", self.base.origin, self.base.path),
            ));
        }
        let previous = self.load_state();
        let mut state = State { base_url: self.base.url(), pages: BTreeMap::new() };
        let mut errors: Vec<(String, IngestError)> = Vec::new();
        let mut docs: BTreeMap<String, DocRef> = BTreeMap::new();
        let mut listed: HashMap<String, Listed> = HashMap::new();
        let mut queue: VecDeque<(Link, u32)> = VecDeque::from([(self.base.clone(), 0)]);
        let mut seen: HashSet<String> = HashSet::from([self.base.url()]);
        let (mut requests, mut depth_cut, mut pages_cut) = (0usize, false, false);
        while let Some((page, depth)) = queue.pop_front() {
            let url = page.url();
            if !robots.allowed(&page.path) {
                continue;
            }
            if requests >= self.opts.max_pages {
                pages_cut = true;
                break;
            }
            requests += 1;
            let before = previous.pages.get(&url);
            let mut headers: Vec<(&str, &str)> = Vec::new();
            if let Some(p) = before {
                if let Some(etag) = &p.etag {
                    headers.push(("If-None-Match", etag));
                }
                if let Some(lm) = &p.last_modified {
                    headers.push(("If-Modified-Since", lm));
                }
            }
            let is_base = page == self.base;
            let (entry, html) = match client.get_page(&page.path, &headers) {
                Ok(a) if a.status == 304 => match before {
                    Some(p) => (p.clone(), None),
                    None => continue,
                },
                Ok(a) if (300..400).contains(&a.status) => {
                    let to = a.header("location").and_then(|l| page.join(l));
                    match to {
                        Some(to) if self.in_scope(&to) && seen.insert(to.url()) => queue.push_back((to, depth)),
                        Some(to) if self.in_scope(&to) => {}
                        // Listing nothing would delete every page: refuse instead.
                        other if is_base => {
                            return Err(setting(
                                &format!("{key}.base_url"),
                                format!(
                                    "{url} redirects out of scope, to {}: set base_url to the address it names",
                                    other.map(|l| l.url()).unwrap_or_else(|| "an unusable address".into())
                                ),
                            ));
                        }
                        _ => {}
                    }
                    continue;
                }
                Ok(a) if !is_html(&a) => continue,
                Ok(a) => {
                    let parsed = self.parse(&page, &a.body);
                    let etag = a.header("etag").map(str::to_string);
                    let last_modified = a.header("last-modified").map(str::to_string);
                    let validator = match (&etag, &last_modified) {
                        (Some(e), _) => format!("etag:{e}"),
                        (None, Some(lm)) => format!("modified:{lm}"),
                        _ => content_hash(parsed.html.as_bytes()),
                    };
                    let entry = PageState {
                        url: url.clone(),
                        etag,
                        last_modified,
                        validator,
                        title: parsed.title,
                        links: parsed.links,
                        noindex: parsed.noindex,
                        nofollow: parsed.nofollow,
                        canonical: parsed.canonical,
                    };
                    (entry, Some(parsed.html))
                }
                Err(e) if is_base => return Err(remote_error(e, "read of the base page")),
                Err(e) if gone(&e) => continue,
                Err(e) => {
                    let uri = self.uri(&page);
                    let transient = matches!(e.kind, ErrorKind::Network | ErrorKind::Server | ErrorKind::Throttled);
                    errors.push((uri, remote_error(e, "read of the page")));
                    match before {
                        // Kept as it was: the engine neither re-reads nor deletes it.
                        Some(p) if transient => (p.clone(), None),
                        _ => continue,
                    }
                }
            };
            if !entry.nofollow {
                for l in entry.links.iter().filter_map(|l| Link::parse(l)) {
                    if !self.in_scope(&l) || not_a_page(&l.path) || seen.contains(&l.url()) {
                        continue;
                    }
                    if depth >= self.opts.max_depth {
                        depth_cut = true;
                        continue;
                    }
                    seen.insert(l.url());
                    queue.push_back((l, depth + 1));
                }
            }
            let doc_link = entry.canonical.as_deref().and_then(Link::parse).unwrap_or_else(|| page.clone());
            if let Some(c) = &entry.canonical {
                seen.insert(c.clone());
            }
            let uri = self.uri(&doc_link);
            if !entry.noindex && self.included(&uri) && !docs.contains_key(&uri) {
                docs.insert(
                    uri.clone(),
                    DocRef {
                        uri: uri.clone(),
                        size: 0,
                        modified_unix_ms: 0,
                        version: Some(self.version(&entry.validator)),
                    },
                );
                listed.insert(uri, Listed { url: url.clone(), title: entry.title.clone(), html });
            }
            state.pages.insert(url, entry);
        }
        if pages_cut {
            errors.push((
                "(crawl)".into(),
                setting(
                    &format!("{key}.max_pages"),
                    format!("the crawl stopped after {} requests; raise it to index the rest", self.opts.max_pages),
                ),
            ));
        }
        if depth_cut {
            errors.push((
                "(crawl)".into(),
                setting(
                    &format!("{key}.max_depth"),
                    format!("links deeper than {} were not followed; raise it to index them", self.opts.max_depth),
                ),
            ));
        }
        self.save_state(&state)?;
        *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = listed;
        Ok((docs.into_values().collect(), errors))
    }

    fn fetch(&self, doc: &DocRef) -> Result<RawDocument, IngestError> {
        // The listing's read is handed over once, then dropped.
        let known = self.listed.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&doc.uri).map(|l| Listed {
            url: l.url.clone(),
            title: l.title.clone(),
            html: l.html.take(),
        });
        let (url, mut title, html) = match known {
            Some(Listed { url, title, html: Some(html) }) => (url, title, html),
            other => {
                let link = match &other {
                    Some(l) => Link::parse(&l.url),
                    None if doc.uri == "/" => {
                        Some(Link { origin: self.base.origin.clone(), path: self.prefix.clone() })
                    }
                    None => {
                        Some(Link { origin: self.base.origin.clone(), path: format!("{}{}", self.prefix, doc.uri) })
                    }
                }
                .ok_or_else(|| IngestError::InvalidUri {
                    uri: doc.uri.clone(),
                    reason: "not a page of the site".into(),
                })?;
                let answer = self.http().get_page(&link.path, &[]).map_err(|e| {
                    if gone(&e) {
                        IngestError::NotFound { uri: doc.uri.clone() }
                    } else {
                        remote_error(e, "read of the page")
                    }
                })?;
                if !(200..300).contains(&answer.status) || !is_html(&answer) {
                    return Err(IngestError::NotFound { uri: doc.uri.clone() });
                }
                let parsed = self.parse(&link, &answer.body);
                (link.url(), parsed.title, parsed.html)
            }
        };
        if self.opts.max_file_bytes > 0 && html.len() as u64 > self.opts.max_file_bytes {
            return Err(IngestError::TooLarge {
                uri: doc.uri.clone(),
                size: html.len() as u64,
                max: self.opts.max_file_bytes,
            });
        }
        let mut raw = RawDocument::new(doc.uri.clone(), html.into_bytes(), Format::Html, 0);
        if title.is_empty() {
            title = doc.uri.clone();
        }
        raw.metadata.insert("url".into(), url.into());
        raw.metadata.insert("title".into(), title.clone().into());
        raw.title = Some(title);
        Ok(raw)
    }
}

#[cfg(test)]
mod tests;
