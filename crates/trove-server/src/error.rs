//! Errors as HTTP answers. Every failure leaves the server as `{message, code, type, link}`
//! ([`ErrorBody`]) with the status of its [`Code`] in the shared table: engine errors through
//! their [`HasCode`] mapping, and axum's own rejections (bad JSON, wrong types, oversized
//! bodies, bad query strings) through the extractors here, which replace axum's plain-text
//! rejections with that body. Its `link` is the code's entry in this server's own error
//! reference ([`ERRORS_PATH`]), under the base `middleware::observe`
//! works out for each request ([`errors_reference`]).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use trove_engine::EngineError;
use trove_types::{Code, ERRORS_PATH, ErrorBody, HasCode};

tokio::task_local! {
    /// The URL of the error reference for the request being answered.
    static REFERENCE: String;
}

/// Runs `f` (a request's handling) with `reference` as the URL its error links point into.
pub(crate) async fn with_reference<F: std::future::Future>(reference: String, f: F) -> F::Output {
    REFERENCE.scope(reference, f).await
}

/// The URL of the error reference for the request being answered (the bare path outside one).
pub fn errors_reference() -> String {
    REFERENCE.try_with(Clone::clone).unwrap_or_else(|_| ERRORS_PATH.to_string())
}

/// The reference's URL for a request: under `public_url` when configured, else under the
/// scheme and the `Host` the request reached (when it is a plain host name or address).
pub(crate) fn reference_for(public_url: Option<&str>, tls: bool, host: Option<&str>) -> String {
    if let Some(url) = public_url {
        return format!("{}{ERRORS_PATH}", url.trim_end_matches('/'));
    }
    let sane = |h: &&str| {
        !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
    };
    match host.filter(sane) {
        Some(host) => format!("{}://{host}{ERRORS_PATH}", if tls { "https" } else { "http" }),
        None => ERRORS_PATH.to_string(),
    }
}

/// An error on its way to the client: a code (which decides the status) and a message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The classification.
    pub code: Code,
    /// What was wrong and how to fix it.
    pub message: String,
}

impl ApiError {
    /// An error with an explicit code.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into() }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code, self.message.clone(), &errors_reference())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError { code: e.code(), message: e.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.info().http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(code = self.code.info().name, message = %self.message, "request failed");
        }
        (status, axum::Json(self.body())).into_response()
    }
}

/// The code of a body rejection, from the status axum chose for it.
fn body_code(status: StatusCode) -> Code {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => Code::InvalidFields,
        StatusCode::BAD_REQUEST => Code::MalformedJson,
        _ => Code::BadRequest,
    }
}

/// The body limit, for messages (set by [`crate::router`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// A JSON request body whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().copied();
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(&rejection, limit)),
        }
    }
}

fn json_rejection(r: &JsonRejection, limit: Option<BodyLimit>) -> ApiError {
    let code = body_code(r.status());
    let message = match code {
        Code::PayloadTooLarge => format!(
            "the request body is larger than the {} bytes this server accepts (server.max_body_bytes)",
            limit.map(|l| l.0.to_string()).unwrap_or_else(|| "configured".into())
        ),
        Code::UnsupportedMediaType => {
            "send the request body as JSON with the header `Content-Type: application/json`".into()
        }
        Code::MalformedJson => format!("the request body is not valid JSON: {}", detail(&r.body_text())),
        Code::InvalidFields => {
            format!("the request body does not have the expected fields: {}", detail(&r.body_text()))
        }
        _ => r.body_text(),
    };
    ApiError::new(code, message)
}

/// axum's rejection text minus its generic prefix ("Failed to parse the request body as JSON: ").
fn detail(text: &str) -> String {
    match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("Failed to") => rest.to_string(),
        _ => text.to_string(),
    }
}

/// A query string whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(r) => Err(query_rejection(&r)),
        }
    }
}

fn query_rejection(r: &QueryRejection) -> ApiError {
    ApiError::new(Code::BadRequest, format!("the query string is not valid: {}", detail(&r.body_text())))
}

/// Path parameters whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(r) => Err(path_rejection(&r)),
        }
    }
}

fn path_rejection(r: &PathRejection) -> ApiError {
    let code = if r.status().is_server_error() { Code::Internal } else { Code::BadRequest };
    ApiError::new(code, format!("the URL path is not valid: {}", detail(&r.body_text())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_code_table() {
        let r = ApiError::new(Code::PayloadTooLarge, "big").into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let e: ApiError = EngineError::MemoryNotFound { vault: "v".into(), id: "m".into() }.into();
        assert_eq!(e.into_response().status(), StatusCode::NOT_FOUND);
        assert_eq!(body_code(StatusCode::UNPROCESSABLE_ENTITY), Code::InvalidFields);
        assert_eq!(detail("Failed to parse the request body as JSON: expected value"), "expected value");
        assert_eq!(detail("plain"), "plain");
    }
}
