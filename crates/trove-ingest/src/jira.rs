//! The JIRA source: the issues of a project or of a JQL query, each a document.
//!
//! Cloud is read through REST v3: `POST /rest/api/3/search/jql` pages through the query with
//! `nextPageToken` (the older `/rest/api/3/search` with `startAt` is removed from Cloud);
//! Data Center through REST v2: `GET /rest/api/2/search` with `startAt` and `total`. A
//! `project` becomes the query `project = "KEY" ORDER BY created ASC`.
//!
//! The listing asks for each issue's key and `updated` time only; `updated` is the version, so
//! an unchanged issue is skipped without a request and an edited or commented one is read
//! again with one request (`GET /rest/api/{3,2}/issue/{key}`). Issues deleted, moved out of the
//! project or no longer matching the query vanish from the listing, so the engine deletes them.
//!
//! An issue's URI is its key; its title `KEY: summary`; its text Markdown: the description
//! (Atlassian Document Format converted by [`adf_to_markdown`] on Cloud, wiki markup by
//! [`wiki_to_markdown`] on Data Center), then its comments under `## Comments`, one heading
//! each with author and date. Metadata: `url` (`/browse/KEY`), `status`, `labels`, `assignee`,
//! `reporter`, `issue_type`, `priority`, `project`, `updated`, `created`. Attachments are not
//! read.

use serde_json::{Value, json};
use trove_http::{Client, ErrorKind};

use crate::atlassian::{Connection, Deployment, remote_error, timestamp_ms};
use crate::error::IngestError;
use crate::format::Format;
use crate::source::{DocRef, RawDocument, Source};

/// Issues per listing request by default.
pub const PAGE_SIZE: usize = 100;
/// Deepest ADF nesting converted (deeper content is read as plain text).
const MAX_DEPTH: usize = 48;
/// The fields an issue is read with.
const FIELDS: &str =
    "summary,description,comment,status,labels,assignee,reporter,issuetype,priority,project,updated,created";

/// What a [`JiraSource`] reads.
#[derive(Debug, Clone)]
pub struct JiraOptions {
    /// The site and credentials.
    pub connection: Connection,
    /// A project's key (exactly one of `project` and `jql`).
    pub project: Option<String>,
    /// A JQL query.
    pub jql: Option<String>,
    /// Larger issues are skipped and reported; 0 = no limit.
    pub max_file_bytes: u64,
    /// Issues per listing request.
    pub page_size: usize,
}

/// A [`Source`] over the issues of a JIRA project or query.
#[derive(Debug)]
pub struct JiraSource {
    opts: JiraOptions,
    client: Client,
    jql: String,
    web_base: String,
}

impl JiraSource {
    /// Prepares the client; makes no request.
    pub fn new(opts: JiraOptions) -> Result<JiraSource, IngestError> {
        let c = &opts.connection;
        let key = &c.key;
        let jql = match (&opts.project, &opts.jql) {
            (Some(p), _) => format!("project = \"{}\" ORDER BY created ASC", p.replace('"', "")),
            (None, Some(q)) => q.clone(),
            (None, None) => {
                return Err(IngestError::Remote {
                    remote: c.base_url.clone(),
                    action: "set-up of the source".into(),
                    detail: "neither a project nor a query".into(),
                    fix: format!("set {key}.project or {key}.jql"),
                    code: trove_types::Code::ConfigInvalid,
                });
            }
        };
        let what = if opts.project.is_some() { format!("{key}.project") } else { format!("{key}.jql") };
        let site = c.base_url.trim_end_matches('/').to_string();
        let client = c.client(
            "JIRA",
            &site,
            format!("the account lacks permission: give it the Browse Projects permission on what {what} names"),
            format!(
                "nothing there: check {key}.base_url (Cloud: https://SITE.atlassian.net; Data Center: the address \
                 with its context path) and {key}.deployment"
            ),
            format!("JIRA rejected the query: check {what} (an existing project key, or valid JQL)"),
        )?;
        Ok(JiraSource { opts, client, jql, web_base: site })
    }

    fn cloud(&self) -> bool {
        self.opts.connection.deployment == Deployment::Cloud
    }

    fn action(&self) -> String {
        format!("search of the issues of `{}`", self.jql)
    }

    /// Checks the site answers, the credentials work and the query is valid, with one search
    /// for a single issue (`trove doctor`).
    pub fn probe(&self) -> Result<String, IngestError> {
        let action = self.action();
        let answer: Value = if self.cloud() {
            let body = serde_json::json!({"jql": self.jql, "maxResults": 1, "fields": ["updated"]});
            self.client.post_json("/rest/api/3/search/jql", &body)
        } else {
            self.client.get_json(
                "/rest/api/2/search",
                &[("jql", self.jql.as_str()), ("maxResults", "1"), ("fields", "updated")],
            )
        }
        .map_err(|e| remote_error(e, &action))?;
        let some = answer.get("issues").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        Ok(format!("the query `{}` runs{}", self.jql, if some { "" } else { " (no issue matches yet)" }))
    }

    /// Every issue's key and `updated`, in the order JIRA gives them.
    fn search(&self) -> Result<Vec<(String, String)>, IngestError> {
        let size = self.opts.page_size.clamp(1, 1000);
        let mut issues = Vec::new();
        let take = |answer: &Value, issues: &mut Vec<(String, String)>| -> usize {
            let list = answer.get("issues").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            for issue in list {
                if let Some(key) = issue.get("key").and_then(Value::as_str) {
                    let updated = issue.pointer("/fields/updated").and_then(Value::as_str).unwrap_or("");
                    issues.push((key.to_string(), updated.to_string()));
                }
            }
            list.len()
        };
        if self.cloud() {
            let mut token: Option<String> = None;
            loop {
                let mut body = json!({"jql": self.jql, "maxResults": size, "fields": ["updated"]});
                if let Some(t) = &token {
                    body["nextPageToken"] = t.clone().into();
                }
                let answer: Value = self
                    .client
                    .post_json("/rest/api/3/search/jql", &body)
                    .map_err(|e| remote_error(e, &self.action()))?;
                take(&answer, &mut issues);
                let last = answer.get("isLast").and_then(Value::as_bool).unwrap_or(false);
                match answer.get("nextPageToken").and_then(Value::as_str) {
                    Some(next) if !last && token.as_deref() != Some(next) => token = Some(next.to_string()),
                    _ => break,
                }
            }
        } else {
            let mut start = 0usize;
            loop {
                let (from, max) = (start.to_string(), size.to_string());
                let query = [
                    ("jql", self.jql.as_str()),
                    ("startAt", from.as_str()),
                    ("maxResults", max.as_str()),
                    ("fields", "updated"),
                ];
                let answer: Value =
                    self.client.get_json("/rest/api/2/search", &query).map_err(|e| remote_error(e, &self.action()))?;
                let got = take(&answer, &mut issues);
                let total = answer.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
                start += got;
                if got == 0 || start >= total {
                    break;
                }
            }
        }
        Ok(issues)
    }
}

impl Source for JiraSource {
    fn list(&self) -> Result<(Vec<DocRef>, Vec<(String, IngestError)>), IngestError> {
        let mut docs: Vec<DocRef> = self
            .search()?
            .into_iter()
            .map(|(key, updated)| DocRef {
                uri: key,
                size: 0,
                modified_unix_ms: timestamp_ms(&updated),
                version: Some(updated),
            })
            .collect();
        docs.sort_by(|a, b| a.uri.cmp(&b.uri));
        docs.dedup_by(|a, b| a.uri == b.uri);
        Ok((docs, Vec::new()))
    }

    fn fetch(&self, doc: &DocRef) -> Result<RawDocument, IngestError> {
        let api = if self.cloud() { 3 } else { 2 };
        let issue: Value = self
            .client
            .get_json(&format!("/rest/api/{api}/issue/{}", doc.uri), &[("fields", FIELDS)])
            .map_err(|e| match e.kind {
            ErrorKind::NotFound => IngestError::NotFound { uri: doc.uri.clone() },
            _ => remote_error(e, &format!("read of issue {}", doc.uri)),
        })?;
        let f = issue.get("fields").cloned().unwrap_or(Value::Null);
        let text_of = |v: &Value| match v {
            Value::String(s) => wiki_to_markdown(s),
            Value::Null => String::new(),
            adf => adf_to_markdown(adf),
        };
        let key = &doc.uri;
        let summary = f.get("summary").and_then(Value::as_str).unwrap_or("").trim().to_string();
        let title = if summary.is_empty() { key.clone() } else { format!("{key}: {summary}") };
        let mut md = format!("# {title}\n\n");
        let description = text_of(f.get("description").unwrap_or(&Value::Null));
        if !description.trim().is_empty() {
            md.push_str(description.trim());
            md.push_str("\n\n");
        }
        let comments = f.pointer("/comment/comments").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        if !comments.is_empty() {
            md.push_str("## Comments\n\n");
            for c in comments {
                let author = name(c.get("author")).unwrap_or_else(|| "someone".into());
                let date = c.get("created").and_then(Value::as_str).unwrap_or("").get(..10).unwrap_or("");
                md.push_str(&format!(
                    "### {author}, {date}\n\n{}\n\n",
                    text_of(c.get("body").unwrap_or(&Value::Null)).trim()
                ));
            }
        }
        if self.opts.max_file_bytes > 0 && md.len() as u64 > self.opts.max_file_bytes {
            return Err(IngestError::TooLarge {
                uri: key.clone(),
                size: md.len() as u64,
                max: self.opts.max_file_bytes,
            });
        }
        let updated = f.get("updated").and_then(Value::as_str).unwrap_or("").to_string();
        let mut raw = RawDocument::new(key.clone(), md.into_bytes(), Format::Markdown, timestamp_ms(&updated));
        raw.title = Some(title);
        let m = &mut raw.metadata;
        m.insert("url".into(), format!("{}/browse/{key}", self.web_base).into());
        let named = |field: &str| f.get(field).and_then(|v| v.get("name")).and_then(Value::as_str).map(str::to_string);
        for (meta, field) in [("status", "status"), ("issue_type", "issuetype"), ("priority", "priority")] {
            if let Some(v) = named(field) {
                m.insert(meta.into(), v.into());
            }
        }
        if let Some(p) = f.pointer("/project/key").and_then(Value::as_str) {
            m.insert("project".into(), p.into());
        }
        for (meta, field) in [("assignee", "assignee"), ("reporter", "reporter")] {
            if let Some(v) = name(f.get(field)) {
                m.insert(meta.into(), v.into());
            }
        }
        let labels: Vec<Value> = f.get("labels").and_then(Value::as_array).cloned().unwrap_or_default();
        m.insert("labels".into(), labels.into());
        for field in ["updated", "created"] {
            if let Some(v) = f.get(field).and_then(Value::as_str) {
                m.insert(field.into(), v.into());
            }
        }
        Ok(raw)
    }
}

/// A user's display name.
fn name(user: Option<&Value>) -> Option<String> {
    let u = user?;
    u.get("displayName").or_else(|| u.get("name")).and_then(Value::as_str).map(str::to_string)
}

/// Atlassian Document Format (JIRA Cloud's rich text) as Markdown: headings (one level down,
/// under the issue's title), paragraphs, marks (strong, em, code, strike, links), lists, task
/// lists, code blocks, quotes, panels, expands, tables, mentions, emoji, cards, dates and
/// statuses. Media is left out. Unknown nodes keep their text.
pub fn adf_to_markdown(doc: &Value) -> String {
    let mut out = String::new();
    blocks(doc.get("content"), 0, &mut out);
    out.trim_end().to_string()
}

fn children(node: Option<&Value>) -> &[Value] {
    node.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.get("attrs")?.get(name)
}

/// The block nodes of `content`, each followed by a blank line.
fn blocks(content: Option<&Value>, depth: usize, out: &mut String) {
    for node in children(content) {
        block(node, depth, out);
    }
}

fn block(node: &Value, depth: usize, out: &mut String) {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    if depth > MAX_DEPTH {
        out.push_str(&inline(node.get("content"), depth));
        out.push_str("\n\n");
        return;
    }
    match kind {
        "paragraph" => {
            let text = inline(node.get("content"), depth);
            if !text.trim().is_empty() {
                out.push_str(&text);
                out.push_str("\n\n");
            }
        }
        "heading" => {
            let level = attr(node, "level").and_then(Value::as_u64).unwrap_or(1).clamp(1, 5) as usize + 1;
            out.push_str(&format!("{} {}\n\n", "#".repeat(level), inline(node.get("content"), depth)));
        }
        "bulletList" | "orderedList" | "taskList" | "decisionList" => {
            list(node, depth, 0, out);
            out.push('\n');
        }
        "codeBlock" => {
            let lang = attr(node, "language").and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!("```{lang}\n{}\n```\n\n", plain(node.get("content"))));
        }
        "blockquote" | "panel" => {
            let mut inner = String::new();
            blocks(node.get("content"), depth + 1, &mut inner);
            for line in inner.trim_end().lines() {
                out.push_str(if line.is_empty() { ">" } else { "> " });
                out.push_str(line);
                out.push('\n');
            }
            out.push('\n');
        }
        "rule" => out.push_str("---\n\n"),
        "table" => {
            for (i, row) in children(node.get("content")).iter().enumerate() {
                let cells: Vec<String> = children(row.get("content"))
                    .iter()
                    .map(|cell| {
                        let mut text = String::new();
                        blocks(cell.get("content"), depth + 1, &mut text);
                        text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
                    })
                    .collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
                if i == 0 {
                    out.push_str(&format!("|{}\n", " --- |".repeat(cells.len().max(1))));
                }
            }
            out.push('\n');
        }
        "mediaSingle" | "mediaGroup" | "media" | "mediaInline" => {}
        "expand" | "nestedExpand" => {
            if let Some(title) = attr(node, "title").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                out.push_str(&format!("**{title}**\n\n"));
            }
            blocks(node.get("content"), depth + 1, out);
        }
        _ if node.get("content").is_some() => {
            // doc, layoutSection, layoutColumn, bodiedExtension and nodes unknown today.
            if children(node.get("content")).iter().any(|c| c.get("type").and_then(Value::as_str) == Some("text")) {
                out.push_str(&inline(node.get("content"), depth));
                out.push_str("\n\n");
            } else {
                blocks(node.get("content"), depth + 1, out);
            }
        }
        _ => {
            let text = inline_node(node, depth);
            if !text.is_empty() {
                out.push_str(&text);
                out.push_str("\n\n");
            }
        }
    }
}

fn list(node: &Value, depth: usize, indent: usize, out: &mut String) {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    let mut number = attr(node, "order").and_then(Value::as_u64).unwrap_or(1);
    for item in children(node.get("content")) {
        let marker = match (kind, item.get("type").and_then(Value::as_str)) {
            ("orderedList", _) => {
                number += 1;
                format!("{}.", number - 1)
            }
            (_, Some("taskItem")) => {
                if attr(item, "state").and_then(Value::as_str) == Some("DONE") { "- [x]" } else { "- [ ]" }.to_string()
            }
            _ => "-".to_string(),
        };
        let pad = " ".repeat(indent);
        let mut first = true;
        for child in children(item.get("content")) {
            let ckind = child.get("type").and_then(Value::as_str).unwrap_or("");
            if matches!(ckind, "bulletList" | "orderedList" | "taskList") {
                if first {
                    out.push_str(&format!("{pad}{marker}\n"));
                    first = false;
                }
                if depth < MAX_DEPTH {
                    list(child, depth + 1, indent + 2, out);
                }
            } else if ckind == "text" || ckind.is_empty() || child.get("text").is_some() {
                // Task and decision items hold inline nodes directly.
                out.push_str(&format!("{pad}{marker} {}\n", inline_node(child, depth)));
                first = false;
            } else {
                let mut text = String::new();
                block(child, depth + 1, &mut text);
                let text = text.trim();
                let lead = if first { format!("{pad}{marker} ") } else { format!("{pad}  ") };
                out.push_str(&lead);
                out.push_str(&text.replace('\n', &format!("\n{pad}  ")));
                out.push('\n');
                first = false;
            }
        }
    }
}

/// The inline nodes of `content` as Markdown text.
fn inline(content: Option<&Value>, depth: usize) -> String {
    children(content).iter().map(|n| inline_node(n, depth)).collect()
}

fn inline_node(node: &Value, depth: usize) -> String {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    let text_attr = |name: &str| attr(node, name).and_then(Value::as_str).unwrap_or("").to_string();
    match kind {
        "text" => {
            let mut text = node.get("text").and_then(Value::as_str).unwrap_or("").to_string();
            for mark in children(node.get("marks")) {
                text = match mark.get("type").and_then(Value::as_str).unwrap_or("") {
                    "code" => format!("`{text}`"),
                    "strong" => format!("**{text}**"),
                    "em" => format!("*{text}*"),
                    "strike" => format!("~~{text}~~"),
                    "link" => format!("[{text}]({})", attr(mark, "href").and_then(Value::as_str).unwrap_or("")),
                    _ => text,
                };
            }
            text
        }
        "hardBreak" => "\n".into(),
        "mention" => text_attr("text"),
        "emoji" => {
            let t = text_attr("text");
            if t.is_empty() { text_attr("shortName") } else { t }
        }
        "inlineCard" | "blockCard" | "embedCard" => text_attr("url"),
        "status" => format!("[{}]", text_attr("text")),
        "date" => attr(node, "timestamp")
            .and_then(|t| t.as_str().and_then(|s| s.parse::<i64>().ok()).or(t.as_i64()))
            .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1000).ok())
            .map(|d| d.date().to_string())
            .unwrap_or_default(),
        _ if depth < MAX_DEPTH => inline(node.get("content"), depth + 1),
        _ => plain(node.get("content")),
    }
}

/// The text of every `text` node below, without marks.
fn plain(content: Option<&Value>) -> String {
    let mut out = String::new();
    let mut stack: Vec<&Value> = children(content).iter().rev().collect();
    while let Some(node) = stack.pop() {
        if let Some(t) = node.get("text").and_then(Value::as_str) {
            out.push_str(t);
        }
        stack.extend(children(node.get("content")).iter().rev());
    }
    out
}

/// JIRA wiki markup (Data Center's descriptions and comments) as Markdown: `h1.`–`h6.`
/// headings (one level down), `*`/`#` lists, `bq.` quotes, `{code}` and `{noformat}` blocks.
/// Inline markup is kept as it is (it reads well enough as text).
pub fn wiki_to_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("{code") || lower.starts_with("{noformat") {
            // `{code:java}` opens, `{code}` closes; text after the tag stays on its own line.
            let end = trimmed.find('}').map_or(trimmed.len(), |i| i + 1);
            let lang =
                trimmed[..end].split_once(':').map(|(_, l)| l.trim_end_matches('}').split('|').next().unwrap_or(""));
            out.push_str(if fenced { "```\n" } else { "```" });
            if !fenced {
                out.push_str(lang.unwrap_or(""));
                out.push('\n');
            }
            fenced = !fenced;
            let rest = trimmed[end..].trim();
            if !rest.is_empty() {
                out.push_str(rest);
                out.push('\n');
            }
            continue;
        }
        if fenced {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let heading = (1..=6).find(|n| lower.starts_with(&format!("h{n}. ")));
        if let Some(n) = heading {
            out.push_str(&format!("{} {}\n", "#".repeat((n + 1).min(6)), trimmed[4..].trim()));
        } else if let Some(rest) = trimmed.strip_prefix("bq. ") {
            out.push_str(&format!("> {rest}\n"));
        } else if let Some((marks, rest)) = list_item(trimmed) {
            let pad = "  ".repeat(marks.len() - 1);
            let marker = if marks.ends_with('#') { "1." } else { "-" };
            out.push_str(&format!("{pad}{marker} {rest}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if fenced {
        out.push_str("```\n");
    }
    out
}

/// A wiki list item: its markers (`*`, `**`, `#`, `*#`) and text.
fn list_item(line: &str) -> Option<(&str, &str)> {
    let end = line.find(|c| c != '*' && c != '#' && c != '-')?;
    let (marks, rest) = line.split_at(end);
    (!marks.is_empty() && rest.starts_with(' ') && !(marks.len() > 1 && marks.chars().all(|c| c == '-')))
        .then(|| (marks, rest.trim()))
}

#[cfg(test)]
mod tests;
