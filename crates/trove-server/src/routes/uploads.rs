//! Uploads: `POST /v1/vaults/{vault}/documents` with `multipart/form-data` (every part with a
//! file name is a document; its name is the uri, an optional `format` field names the format
//! of the files after it) or with JSON `{"documents": [{"uri", "text", "format"?}]}`. The
//! documents are written to disk and their job committed before the `202 Accepted` answer;
//! a worker then converts, chunks, embeds and indexes them as the vault's `uploads` source.

use crate::call::EngineCall;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use trove_engine::jobs::{UploadFile, check_upload_uri, upload_format};
use trove_engine::perm;
use trove_types::{Code, Job, UploadRequest};

use crate::AppState;
use crate::auth::{Allowed, Made};
use crate::error::{ApiError, Json};
use crate::openapi::{
    BadRequest, InvalidFields, NotFound, PayloadTooLarge, UnsupportedMediaType, UploadForm, VaultPath,
};

fn too_large(state: &AppState) -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!(
            "the upload is larger than the {} bytes this server accepts (server.max_upload_bytes); split it",
            state.options.max_upload_bytes
        ),
    )
}

/// `POST /v1/vaults/{vault}/documents`: 202 with the queued job.
#[utoipa::path(
    post, path = "/v1/vaults/{vault}/documents", operation_id = "documents_upload", tag = "documents",
    params(VaultPath), request_body(content((UploadRequest = "application/json"), (UploadForm = "multipart/form-data"))),
    responses(
        (status = 202, description = "The queued upload job.", body = Job),
        (status = 400, response = BadRequest), (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge), (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn upload(
    allowed: Allowed<perm::DocumentsWrite>,
    State(state): State<AppState>,
    req: Request,
) -> Result<Made<Job>, ApiError> {
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let files = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(req, &state).await.map_err(|e| {
            ApiError::new(Code::BadRequest, format!("the multipart body cannot be read: {}", e.body_text()))
        })?;
        read_multipart(&state, multipart).await?
    } else if content_type.starts_with("application/json") {
        let Json(body) = Json::<UploadRequest>::from_request(req, &state)
            .await
            .map_err(|e| if e.code == Code::PayloadTooLarge { too_large(&state) } else { e })?;
        json_files(body)?
    } else {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "send files as `multipart/form-data` (curl -F file=@notes.md) or documents as `application/json` ({\"documents\": [{\"uri\": ..., \"text\": ...}]})",
        ));
    };
    let job = allowed.run(move |e, access| e.enqueue_upload(access, files)).await?;
    state.workers.notify();
    Ok(Made::queued(job))
}

fn json_files(body: UploadRequest) -> Result<Vec<UploadFile>, ApiError> {
    body.documents
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let at = |e: trove_engine::EngineError| {
                let e = ApiError::from(e);
                ApiError::new(e.code, format!("documents[{i}]: {}", e.message))
            };
            let uri = check_upload_uri(&d.uri).map_err(at)?;
            let format = upload_format(&uri, d.format.as_deref(), true).map_err(at)?;
            Ok(UploadFile { uri, format, bytes: d.text.into_bytes() })
        })
        .collect()
}

async fn read_multipart(state: &AppState, mut multipart: Multipart) -> Result<Vec<UploadFile>, ApiError> {
    let mut files = Vec::new();
    let mut format: Option<String> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(state)),
            Err(e) => {
                return Err(ApiError::new(
                    Code::BadRequest,
                    format!("the multipart body is malformed: {}", e.body_text()),
                ));
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large(state)),
            Err(e) => {
                return Err(ApiError::new(
                    Code::BadRequest,
                    format!("part `{name}` of the multipart body cannot be read: {}", e.body_text()),
                ));
            }
        };
        match file_name {
            Some(file_name) => {
                let at = |e: trove_engine::EngineError| {
                    let e = ApiError::from(e);
                    ApiError::new(e.code, format!("file `{file_name}`: {}", e.message))
                };
                let uri = check_upload_uri(&file_name).map_err(at)?;
                let f = upload_format(&uri, format.as_deref(), false).map_err(at)?;
                files.push(UploadFile { uri, format: f, bytes: bytes.to_vec() });
            }
            None if name == "format" => {
                let value = String::from_utf8(bytes.to_vec())
                    .map_err(|_| ApiError::new(Code::BadRequest, "field `format` is not UTF-8 text"))?;
                format = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            }
            None => {
                return Err(ApiError::new(
                    Code::BadRequest,
                    format!(
                        "multipart field `{name}` is neither a file (give it a file name) nor `format`; send files with curl -F file=@notes.md"
                    ),
                ));
            }
        }
    }
    Ok(files)
}
