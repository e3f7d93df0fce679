//! The web page at `/`: one HTML file, one script and one stylesheet under `web/`, compiled
//! into the binary (no separate web server, no CDN, no build step). The page is a small
//! single-page application over the `/v1` API that logs in with a browser session (cookie plus
//! CSRF token) and routes by the URL's fragment, so the server only serves these files.
//!
//! Every answer carries a strong `ETag` (a revalidated page costs a `304`) and a content
//! security policy that allows nothing but this origin's own script, style and API.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use trove_types::Code;

/// A file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: include_bytes!("../web/index.html") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../web/app.js") },
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../web/app.css") },
    Asset { name: "icon.svg", content_type: "image/svg+xml", body: include_bytes!("../web/icon.svg") },
];

/// The path templates the page is served under (open to everyone: the page holds no data).
pub const PATHS: &[&str] = &["/", "/ui/{file}"];

/// What the page may load: only this origin's files and API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page's routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(index)).route("/ui/{file}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(index) => serve(index, &headers),
        None => ApiError::new(
            Code::NotFound,
            format!(
                "the web page has no file `{name}`; it has {}",
                ASSETS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
            ),
        )
        .into_response(),
    }
}

/// FNV-1a of the file: changes whenever the file does (a new binary), which is all a
/// validator needs.
fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// The ETags of [`ASSETS`], computed once.
fn etags() -> &'static [String] {
    static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    TAGS.get_or_init(|| ASSETS.iter().map(|a| etag(a.body)).collect())
}

fn serve(index: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let tag = etags()[index].clone();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_follow_the_content() {
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
        assert!(etag(b"").starts_with('"') && etag(b"").ends_with('"'));
    }

    #[test]
    fn the_page_refers_only_to_files_it_serves() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        for r in html.split("/ui/").skip(1) {
            let name: String = r.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
            assert!(ASSETS.iter().any(|a| a.name == name), "index.html refers to /ui/{name}");
        }
    }
}
