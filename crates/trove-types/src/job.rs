//! Jobs as the transports show them (the HTTP API, the CLI, the web page): the job itself, a
//! page of jobs, and the body of a JSON upload. Times are RFC 3339 strings in UTC.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A queued, running or finished job. Dead jobs (`status: "dead"`) form the dead-letter queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Job {
    /// Opaque id (`job_…`).
    pub id: String,
    /// `upload` (documents sent over HTTP) or `sync` (a configured source).
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `dead` or `cancelled`.
    pub status: String,
    /// The vault it works on.
    pub vault: Option<String>,
    /// Attempts started so far (a crashed attempt counts).
    pub attempts: u32,
    /// Attempts allowed before the job goes to the dead-letter queue.
    pub max_attempts: u32,
    /// Times it was sent back from the dead-letter queue.
    pub retries: u32,
    /// Enqueued.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Not started before (later than `created_at` after a failed attempt: the backoff).
    pub run_at: String,
    /// When the latest attempt started.
    pub started_at: Option<String>,
    /// When it reached its final status.
    pub finished_at: Option<String>,
    /// Cancellation was asked for and the worker will stop at its next checkpoint.
    pub cancel_requested: bool,
    /// The latest failure.
    pub error: Option<JobError>,
    /// What a successful run did (for uploads and syncs: an ingest summary).
    pub result: Option<serde_json::Value>,
    /// What the job works on, without internal paths (documents, bytes, source).
    pub payload: serde_json::Value,
    /// For a running job of this server's workers: how far it has got.
    #[serde(default)]
    pub progress: Option<JobProgress>,
}

/// How far a running job has got, as counted by the process running it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct JobProgress {
    /// Documents (or, for a re-embed, chunks) done so far.
    pub done: u64,
    /// Documents (or chunks) it has listed so far.
    pub total: u64,
}

/// Why the latest attempt of a job failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct JobError {
    /// What went wrong.
    pub message: String,
    /// Its code in the error table (or `worker_lost` when a worker stopped without reporting).
    pub code: String,
}

/// Which jobs a listing asks for (every field optional): the engine's query and the query
/// string of `GET /v1/jobs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    /// queued, running, succeeded, dead or cancelled.
    #[serde(default)]
    pub status: Option<String>,
    /// upload, sync or reembed.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only this vault's jobs.
    #[serde(default)]
    pub vault: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size (1–100, default 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One document sent as JSON to `POST /v1/vaults/{vault}/documents`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadDocument {
    /// Its identifier within the vault's `uploads` source; sending the same uri again replaces
    /// the document.
    pub uri: String,
    /// The content.
    pub text: String,
    /// How to read `text`: `markdown`, `text`, `html`, `rst`, `json` or a code language
    /// (default: from the uri's extension, else `text`).
    #[serde(default)]
    pub format: Option<String>,
}

/// The JSON body of an upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The documents (at least one).
    pub documents: Vec<UploadDocument>,
}
