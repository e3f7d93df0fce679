//! The URLs of the public-docs crawler, without a URL crate: an absolute `http(s)` URL split
//! into origin and path, relative references resolved against a page (RFC 3986 section 5.2,
//! dot segments removed), fragments and query strings dropped, unsafe bytes percent-encoded,
//! and the scope test (same origin, path under the base's prefix).

/// An absolute http(s) URL without fragment or query: `origin` (`https://host:port`, scheme
/// and host in lowercase) and `path` (starting with `/`, percent-encoded).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Link {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// `/a/b.html`.
    pub path: String,
}

impl Link {
    /// Parses an absolute `http://` or `https://` URL; `None` for anything else.
    pub fn parse(url: &str) -> Option<Link> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let host = rest[..end].to_ascii_lowercase();
        // Credentials in a URL are not followed.
        if host.is_empty() || host.contains('@') {
            return None;
        }
        let host = match (scheme.as_str(), host.strip_suffix(":80"), host.strip_suffix(":443")) {
            ("http", Some(h), _) | ("https", _, Some(h)) => h.to_string(),
            _ => host,
        };
        let path = strip_suffixes(&rest[end..]);
        let path = if path.is_empty() { "/".to_string() } else { remove_dots(&encode(path)) };
        Some(Link { origin: format!("{scheme}://{host}"), path })
    }

    /// `href` resolved against this page; `None` for other schemes (mailto:, javascript:),
    /// pure fragments and empty references.
    pub fn join(&self, href: &str) -> Option<Link> {
        let href = href.trim();
        let href = strip_suffixes(href);
        if href.is_empty() {
            return None;
        }
        if let Some(rest) = href.strip_prefix("//") {
            let scheme = self.origin.split("://").next().unwrap_or("https");
            return Link::parse(&format!("{scheme}://{rest}"));
        }
        let colon = href.find(':');
        let slash = href.find('/').unwrap_or(href.len());
        if let Some(c) = colon
            && c < slash
            && href[..c].chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '+' | '-' | '.'))
        {
            return Link::parse(href);
        }
        let path = if href.starts_with('/') {
            href.to_string()
        } else {
            let dir = &self.path[..self.path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{href}")
        };
        Some(Link { origin: self.origin.clone(), path: remove_dots(&encode(&path)) })
    }

    /// The whole URL.
    pub fn url(&self) -> String {
        format!("{}{}", self.origin, self.path)
    }
}

/// `s` without its `#fragment` and `?query`.
fn strip_suffixes(s: &str) -> &str {
    let s = s.split('#').next().unwrap_or("");
    s.split('?').next().unwrap_or("")
}

/// Percent-encodes bytes that may not appear in a path (spaces, non-ASCII, quotes...).
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 3986 `remove_dot_segments`, on a path starting with `/`.
fn remove_dots(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// The path prefix a base URL's path puts in scope: itself when it ends with `/`, its folder
/// when its last segment has an extension (`/docs/index.html` → `/docs/`), else itself plus
/// `/` (`/docs` → `/docs/`, the page `/docs` itself in scope too).
pub fn scope_prefix(base_path: &str) -> String {
    if base_path.ends_with('/') {
        return base_path.to_string();
    }
    let (dir, last) = base_path.rsplit_once('/').unwrap_or(("", base_path));
    if last.contains('.') { format!("{dir}/") } else { format!("{base_path}/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_like_a_browser() {
        let page = Link::parse("HTTPS://Docs.Example.com:443/guide/intro.html?x=1#top").unwrap();
        assert_eq!(page.url(), "https://docs.example.com/guide/intro.html");
        let j = |h: &str| page.join(h).map(|l| l.url());
        assert_eq!(j("setup.html#a").as_deref(), Some("https://docs.example.com/guide/setup.html"));
        assert_eq!(j("../api/").as_deref(), Some("https://docs.example.com/api/"));
        assert_eq!(j("./deep/./x/../y").as_deref(), Some("https://docs.example.com/guide/deep/y"));
        assert_eq!(j("/abs?q=1").as_deref(), Some("https://docs.example.com/abs"));
        assert_eq!(j("//other.org/p").as_deref(), Some("https://other.org/p"));
        assert_eq!(j("http://docs.example.com:80/a b").as_deref(), Some("http://docs.example.com/a%20b"));
        assert_eq!(j("mailto:a@b.c"), None);
        assert_eq!(j("javascript:void(0)"), None);
        assert_eq!(j("#section"), None);
        assert_eq!(j("../../../../x").as_deref(), Some("https://docs.example.com/x"));
        assert_eq!(Link::parse("ftp://x/y"), None);
    }

    #[test]
    fn scope_prefixes() {
        assert_eq!(scope_prefix("/docs/"), "/docs/");
        assert_eq!(scope_prefix("/docs"), "/docs/");
        assert_eq!(scope_prefix("/docs/index.html"), "/docs/");
        assert_eq!(scope_prefix("/"), "/");
    }
}
