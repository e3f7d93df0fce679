//! `GET /docs/errors`: the error reference as one HTML page with an anchor per code, generated
//! from the error-code table ([`trove_types::error_reference`]) and built into the binary, so a
//! server's error `link`s (`…/docs/errors#CODE`) always lead to the entry of the version that
//! answered. Public: the page holds no data.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use trove_types::error_reference;

/// What the page may load: nothing but its own inline styles.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// The error reference, as HTML.
#[utoipa::path(
    get, path = "/docs/errors", operation_id = "error_reference", tag = "docs",
    responses((status = 200, description = "The error reference: every error code's HTTP status, exit code, cause, what to do and an example, each under an anchor named after the code (`#vault_not_found`), the target of every error's `link`.", content_type = "text/html", body = String))
)]
pub async fn errors() -> Response {
    static PAGE: OnceLock<String> = OnceLock::new();
    let mut response = PAGE.get_or_init(error_reference::html).as_str().into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
