//! Jobs: what the durable queue runs and how the transports see it. Three kinds exist:
//! `upload` (documents sent over HTTP, stored under `<data>/uploads/<id>/` before the job is
//! queued, indexed as the vault's `uploads` source), `sync` (one configured source,
//! ingested incrementally) and `reembed` (a vault's chunks and memories embedded again from
//! their stored text with the vault's configured model, see [`Engine::reembed_vault`]). This module enqueues them, shows them as [`Job`]s, cancels them,
//! retries and deletes them in the dead-letter queue, and runs one attempt; the threads that
//! take jobs live in [`crate::worker`].
//!
//! Invariants: an upload's files are on disk (fsynced) before its job is committed, and stay
//! there until the job succeeds, is cancelled or is deleted from the dead-letter queue; running
//! an attempt twice has the effect of running it once (documents are replaced by uri, and
//! unchanged ones are skipped by hash).

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use trove_config::UPLOAD_SOURCE;
use trove_ingest::{DocRef, Format, IngestError, RawDocument, Source};
use trove_store::{JobCounts, JobFilter, JobRecord, JobStatus, NewJob};
pub use trove_types::JobQuery;
use trove_types::{Job, JobError, JobPage, JobProgress, VaultSummary};

use crate::access::{Access, JobAccess, perm};
use crate::documents::parse_row_cursor;
use crate::memory::format_ms;
use crate::{Engine, EngineError, IngestOptions, IngestProgress};

/// Documents (or chunks) done and listed by one running job attempt; written by its worker,
/// read by whoever shows the job.
#[derive(Debug, Default)]
pub struct ProgressCounter {
    done: AtomicU64,
    total: AtomicU64,
}

impl ProgressCounter {
    /// `n` more items were listed.
    pub fn listed(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` more items are done.
    pub fn advanced(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    fn read(&self) -> JobProgress {
        let total = self.total.load(Ordering::Relaxed);
        JobProgress { done: self.done.load(Ordering::Relaxed).min(total), total }
    }
}

/// The progress counters of the jobs running in this process, by job id.
#[derive(Debug, Default)]
pub(crate) struct RunningJobs(Mutex<HashMap<String, Arc<ProgressCounter>>>);

impl RunningJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ProgressCounter>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &str) -> Option<JobProgress> {
        self.lock().get(id).map(|c| c.read())
    }
}

/// Documents sent over HTTP.
pub const KIND_UPLOAD: &str = "upload";
/// A configured source, ingested incrementally.
pub const KIND_SYNC: &str = "sync";
/// A vault re-embedded with its configured model.
pub const KIND_REEMBED: &str = "reembed";
/// Largest page of jobs.
pub const MAX_JOB_LIMIT: usize = 100;
/// Most documents in one upload.
pub const MAX_UPLOAD_DOCUMENTS: usize = 10_000;
/// Longest uri of an uploaded document, in bytes.
const MAX_URI_BYTES: usize = 1024;
/// The folder (inside the data folder) holding uploaded files until their job is done.
const UPLOADS_DIR: &str = "uploads";
/// How many uris a job's payload summary shows.
const SUMMARY_URIS: usize = 20;

/// One document of an upload, checked and ready to store.
#[derive(Debug, Clone)]
pub struct UploadFile {
    /// Its uri within the vault's `uploads` source.
    pub uri: String,
    /// How to read it.
    pub format: Format,
    /// The content.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadPayload {
    /// The folder under `uploads/`.
    upload: String,
    files: Vec<UploadEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadEntry {
    uri: String,
    /// File name inside the upload folder.
    file: String,
    format: Format,
    bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SyncPayload {
    source: String,
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadRequest(msg.into())
}

fn io_err(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::Store(trove_store::StoreError::Io { path: path.to_path_buf(), source: e })
}

/// Checks an uploaded document's uri: relative, `/`-separated, no `.` or `..` segments, no
/// control characters. Returns it without leading `./`.
pub fn check_upload_uri(uri: &str) -> Result<String, EngineError> {
    let trimmed = uri.trim().trim_start_matches("./");
    let problem = if trimmed.is_empty() {
        Some("is empty")
    } else if trimmed.len() > MAX_URI_BYTES {
        Some("is longer than 1024 bytes")
    } else if trimmed.starts_with('/') || trimmed.contains('\\') {
        Some("must be a relative path with `/` separators")
    } else if trimmed.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        Some("has an empty, `.` or `..` segment")
    } else if trimmed.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    };
    match problem {
        Some(p) => Err(bad(format!("uri `{uri}` {p}; use a relative path such as `guides/setup.md`"))),
        None => Ok(trimmed.to_string()),
    }
}

/// The format of an uploaded document: the one named, else the uri's extension. `None`
/// named and no known extension is plain text only when `default_text` (JSON uploads);
/// otherwise an error that lists what is supported.
pub fn upload_format(uri: &str, named: Option<&str>, default_text: bool) -> Result<Format, EngineError> {
    if let Some(name) = named {
        return Format::from_name(name).ok_or_else(|| {
            bad(format!(
                "format `{name}` of `{uri}` is not supported; use markdown, text, html, rst, json, pdf, docx, pptx, xlsx, an image, audio or video extension such as png or mp4, or a code language such as python"
            ))
        });
    }
    match Format::from_path(uri) {
        Some(f) => Ok(f),
        None if default_text => Ok(Format::Text),
        None => Err(EngineError::UnsupportedUpload {
            uri: uri.to_string(),
            supported: Format::supported_extensions().collect::<Vec<_>>().join(", "),
        }),
    }
}

/// A fresh name for an upload folder: time, process and a counter make it unique.
fn upload_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("up-{nanos:x}-{:x}-{n}", std::process::id())
}

fn fsync_dir(dir: &Path) -> Result<(), EngineError> {
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(|e| io_err(dir, e))
}

/// The documents of one upload, read back from its folder.
struct UploadSource {
    dir: PathBuf,
    files: Vec<UploadEntry>,
    /// When the job read them (by the engine's clock): the documents' fetch time.
    now_ms: i64,
}

impl Source for UploadSource {
    fn list(&self) -> Result<(Vec<DocRef>, Vec<(String, IngestError)>), IngestError> {
        let mut refs: Vec<DocRef> = self
            .files
            .iter()
            .map(|f| DocRef { uri: f.uri.clone(), size: f.bytes, modified_unix_ms: 0, version: None })
            .collect();
        refs.sort_by(|a, b| a.uri.cmp(&b.uri));
        // The same uri twice in one upload: the last one wins.
        refs.dedup_by(|a, b| a.uri == b.uri);
        Ok((refs, Vec::new()))
    }

    fn fetch(&self, doc: &DocRef) -> Result<RawDocument, IngestError> {
        let entry = self
            .files
            .iter()
            .rev()
            .find(|f| f.uri == doc.uri)
            .ok_or_else(|| IngestError::NotFound { uri: doc.uri.clone() })?;
        let path = self.dir.join(&entry.file);
        let bytes = std::fs::read(&path).map_err(|e| IngestError::io(path.display().to_string(), e))?;
        Ok(RawDocument::new(entry.uri.clone(), bytes, entry.format.clone(), self.now_ms))
    }
}

impl Engine {
    fn uploads_dir(&self) -> PathBuf {
        self.workspace.data_dir().join(UPLOADS_DIR)
    }

    /// Whether a vault of that name is configured or stored.
    fn vault_known(&self, name: &str) -> Result<bool, EngineError> {
        Ok(self.workspace.config.vaults.contains_key(name) || self.store.vault(name)?.is_some())
    }

    /// Creates an empty vault (for uploads and memories) that is not in the configuration,
    /// owned by `organization` (the creating key's; none in the single-user mode).
    pub fn vault_create(&self, name: &str, organization: Option<i64>) -> Result<VaultSummary, EngineError> {
        if !trove_config::valid_name(name) {
            return Err(bad(format!(
                "name: `{name}` is not a valid vault name; use lowercase letters, digits, `-` and `_` (at most 64), starting with a letter or digit"
            )));
        }
        if self.vault_known(name)? {
            return Err(EngineError::VaultExists { name: name.to_string() });
        }
        let info = self.store.ensure_vault(name)?;
        if organization.is_some() {
            self.store.vault_set_organization(info.id, organization)?;
        }
        let spec = self.vault_spec(name);
        self.store.set_vault_embedder(info.id, &spec.model_id, spec.dimension)?;
        self.overview(name)
    }

    /// Deletes a vault that is not in the configuration, with its documents and memories.
    pub fn vault_delete(&self, access: &Access<perm::Admin>) -> Result<(), EngineError> {
        let name = access.vault();
        if self.workspace.config.vaults.contains_key(name) {
            return Err(EngineError::VaultConfigured { name: name.to_string() });
        }
        match self.store.vault(name)? {
            Some(v) => {
                self.store.delete_vault(v.id)?;
                tracing::info!(vault = name, "deleted a vault");
                Ok(())
            }
            None => Err(EngineError::VaultNotFound { name: name.to_string(), known: self.vault_names()? }),
        }
    }

    /// Stores an upload's documents durably, then queues the job that indexes them.
    pub fn enqueue_upload(
        &self,
        access: &Access<perm::DocumentsWrite>,
        files: Vec<UploadFile>,
    ) -> Result<Job, EngineError> {
        let vault = access.vault();
        if !self.vault_known(vault)? {
            return Err(EngineError::VaultNotFound { name: vault.to_string(), known: self.vault_names()? });
        }
        if files.is_empty() {
            return Err(bad("the upload has no documents; send at least one file or document"));
        }
        if files.len() > MAX_UPLOAD_DOCUMENTS {
            return Err(bad(format!(
                "the upload has {} documents, more than the {MAX_UPLOAD_DOCUMENTS} allowed; split it",
                files.len()
            )));
        }
        let root = self.uploads_dir();
        std::fs::create_dir_all(&root).map_err(|e| io_err(&root, e))?;
        let name = upload_name();
        let tmp = root.join(format!(".tmp-{name}"));
        let dir = root.join(&name);
        let written = (|| {
            std::fs::create_dir(&tmp).map_err(|e| io_err(&tmp, e))?;
            let mut entries = Vec::with_capacity(files.len());
            for (i, f) in files.iter().enumerate() {
                let file = format!("{i:05}");
                let path = tmp.join(&file);
                let mut out = std::fs::File::create(&path).map_err(|e| io_err(&path, e))?;
                out.write_all(&f.bytes).and_then(|()| out.sync_all()).map_err(|e| io_err(&path, e))?;
                entries.push(UploadEntry {
                    uri: f.uri.clone(),
                    file,
                    format: f.format.clone(),
                    bytes: f.bytes.len() as u64,
                });
            }
            fsync_dir(&tmp)?;
            std::fs::rename(&tmp, &dir).map_err(|e| io_err(&dir, e))?;
            fsync_dir(&root)?;
            Ok::<_, EngineError>(entries)
        })();
        let entries = match written {
            Ok(e) => e,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let payload = UploadPayload { upload: name, files: entries };
        let job = NewJob {
            kind: KIND_UPLOAD.into(),
            vault: Some(vault.to_string()),
            payload: serde_json::to_value(&payload).map_err(|e| EngineError::Internal(e.to_string()))?,
            dedupe_key: None,
            max_attempts: self.workspace.config.jobs.max_attempts,
            timeout_ms: self.job_timeout_ms(),
        };
        match self.store.job_enqueue(&job, self.now_ms()) {
            Ok(record) => {
                tracing::info!(job = %record.id, vault, documents = payload.files.len(), "queued an upload");
                Ok(self.job_view(record))
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e.into())
            }
        }
    }

    /// Queues a sync of a configured source (or returns the sync of it already queued).
    pub fn enqueue_sync(&self, access: &Access<perm::DocumentsWrite>, source: &str) -> Result<Job, EngineError> {
        let vault = access.vault();
        let Some(config) = self.workspace.config.vaults.get(vault) else {
            return Err(if self.vault_known(vault)? {
                bad(format!("vault `{vault}` is not in config.yaml and has no sources to sync; it holds uploads only"))
            } else {
                EngineError::VaultNotFound { name: vault.to_string(), known: self.vault_names()? }
            });
        };
        if !config.sources.contains_key(source) {
            return Err(EngineError::SourceNotFound {
                vault: vault.to_string(),
                name: source.to_string(),
                known: config.sources.keys().cloned().collect(),
            });
        }
        let job = NewJob {
            kind: KIND_SYNC.into(),
            vault: Some(vault.to_string()),
            payload: serde_json::to_value(SyncPayload { source: source.to_string() })
                .map_err(|e| EngineError::Internal(e.to_string()))?,
            dedupe_key: Some(format!("sync:{vault}:{source}")),
            max_attempts: self.workspace.config.jobs.max_attempts,
            timeout_ms: self.job_timeout_ms(),
        };
        let record = self.store.job_enqueue(&job, self.now_ms())?;
        tracing::info!(job = %record.id, vault, source, "queued a source sync");
        Ok(self.job_view(record))
    }

    /// Queues a re-embed of a vault with its configured model (or returns the one already
    /// queued). The vault keeps answering with its current vectors until the job switches it.
    pub fn enqueue_reembed(&self, access: &Access<perm::Admin>) -> Result<Job, EngineError> {
        let vault = access.vault();
        if !self.vault_known(vault)? {
            return Err(EngineError::VaultNotFound { name: vault.to_string(), known: self.vault_names()? });
        }
        let job = NewJob {
            kind: KIND_REEMBED.into(),
            vault: Some(vault.to_string()),
            payload: serde_json::json!({}),
            dedupe_key: Some(format!("reembed:{vault}")),
            max_attempts: self.workspace.config.jobs.max_attempts,
            // An attempt cut short (time limit, crash, shutdown) leaves its staged vectors: the
            // next attempt resumes where it stopped.
            timeout_ms: self.job_timeout_ms(),
        };
        let record = self.store.job_enqueue(&job, self.now_ms())?;
        let spec = self.vault_spec(vault);
        tracing::info!(job = %record.id, vault, model = %spec.model_id, "queued a re-embed");
        Ok(self.job_view(record))
    }

    fn job_timeout_ms(&self) -> i64 {
        (self.workspace.config.jobs.timeout_s as i64).saturating_mul(1000)
    }

    /// One job.
    pub fn job_get(&self, access: &JobAccess<perm::Jobs>) -> Result<Job, EngineError> {
        let id = access.job();
        self.store
            .job_get(id)?
            .map(|r| self.job_view(r))
            .ok_or_else(|| EngineError::JobNotFound { id: id.to_string(), dead_letter: false })
    }

    /// A page of jobs, newest first, filtered by status, kind and vault (of every vault: see
    /// [`Engine::visible_jobs`] for a principal's).
    pub(crate) fn list_jobs(&self, q: &JobQuery) -> Result<JobPage, EngineError> {
        let (kind, vault) = (q.kind.as_deref(), q.vault.as_deref());
        let status = match q.status.as_deref() {
            None => None,
            Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
                bad(format!("status: `{s}` is not a job status; use queued, running, succeeded, dead or cancelled"))
            })?),
        };
        if let Some(k) = kind
            && k != KIND_UPLOAD
            && k != KIND_SYNC
            && k != KIND_REEMBED
        {
            return Err(bad(format!("kind: `{k}` is not a job kind; use upload, sync or reembed")));
        }
        let limit = q.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_JOB_LIMIT {
            return Err(bad(format!("limit: must be between 1 and {MAX_JOB_LIMIT}")));
        }
        let before = q.cursor.as_deref().map(parse_row_cursor).transpose()?;
        let filter = JobFilter { status, kind: kind.map(str::to_string), vault: vault.map(str::to_string) };
        let mut records = self.store.job_list(&filter, before, limit + 1)?;
        let more = records.len() > limit;
        records.truncate(limit);
        let next_cursor = if more { records.last().map(|r| r.rowid.to_string()) } else { None };
        Ok(JobPage { jobs: records.into_iter().map(|r| self.job_view(r)).collect(), next_cursor })
    }

    /// Cancels a queued job, or asks a running one to stop at its next checkpoint. Cancelling
    /// a cancelled job again is not an error.
    pub fn job_cancel(&self, access: &JobAccess<perm::Jobs>) -> Result<Job, EngineError> {
        let id = access.job();
        let not_found = || EngineError::JobNotFound { id: id.to_string(), dead_letter: false };
        let before = self.store.job_get(id)?.ok_or_else(not_found)?;
        if matches!(before.status, JobStatus::Succeeded | JobStatus::Dead) {
            return Err(EngineError::JobConflict {
                id: id.to_string(),
                status: before.status.as_str(),
                action: "cancelled",
                fix: if before.status == JobStatus::Dead {
                    "; delete it from the dead-letter queue instead"
                } else {
                    ""
                },
            });
        }
        let record = self.store.job_cancel(id, self.now_ms())?.ok_or_else(not_found)?;
        if before.status == JobStatus::Queued && record.status == JobStatus::Cancelled {
            self.remove_upload(&record);
        }
        tracing::info!(job = id, status = record.status.as_str(), "cancel requested");
        Ok(self.job_view(record))
    }

    /// One job of the dead-letter queue.
    pub fn dlq_get(&self, access: &JobAccess<perm::Jobs>) -> Result<Job, EngineError> {
        let id = access.job();
        match self.store.job_get(id)? {
            Some(r) if r.status == JobStatus::Dead => Ok(self.job_view(r)),
            _ => Err(EngineError::JobNotFound { id: id.to_string(), dead_letter: true }),
        }
    }

    /// Sends a dead job back to the queue with fresh attempts.
    pub fn dlq_retry(&self, access: &JobAccess<perm::Admin>) -> Result<Job, EngineError> {
        let id = access.job();
        match self.store.job_retry(id, self.now_ms())? {
            Some(r) => {
                tracing::info!(job = id, "retrying a job from the dead-letter queue");
                Ok(self.job_view(r))
            }
            None => Err(EngineError::JobNotFound { id: id.to_string(), dead_letter: true }),
        }
    }

    /// Deletes a dead job (and its uploaded files).
    pub fn dlq_delete(&self, access: &JobAccess<perm::Admin>) -> Result<(), EngineError> {
        let id = access.job();
        let record = self
            .store
            .job_get(id)?
            .filter(|r| r.status == JobStatus::Dead)
            .ok_or_else(|| EngineError::JobNotFound { id: id.to_string(), dead_letter: true })?;
        if !self.store.job_delete(id, JobStatus::Dead)? {
            return Err(EngineError::JobNotFound { id: id.to_string(), dead_letter: true });
        }
        self.remove_upload(&record);
        Ok(())
    }

    /// Jobs by status.
    pub fn job_counts(&self) -> Result<JobCounts, EngineError> {
        Ok(self.store.job_counts()?)
    }

    /// At startup, when no worker can be alive: queues again the jobs that were running
    /// (their attempt counts), and removes upload folders no job needs. Returns the jobs
    /// taken back. On a shared store other nodes' workers are alive: their jobs stay, and a
    /// dead node's are taken back when their leases run out.
    pub fn jobs_recover(&self) -> Result<u64, EngineError> {
        let n = if self.store.shared() { 0 } else { self.store.job_recover(self.now_ms())? };
        if n > 0 {
            tracing::warn!(jobs = n, "queued again the jobs that were running when the server stopped");
        }
        self.remove_orphan_uploads()?;
        Ok(n)
    }

    /// Deletes succeeded and cancelled jobs older than `jobs.keep_finished_days`.
    pub fn jobs_prune(&self) -> Result<u64, EngineError> {
        let days = self.workspace.config.jobs.keep_finished_days as i64;
        Ok(self.store.job_prune(self.now_ms() - days * 86_400_000)?)
    }

    fn remove_orphan_uploads(&self) -> Result<(), EngineError> {
        let root = self.uploads_dir();
        let Ok(entries) = std::fs::read_dir(&root) else { return Ok(()) };
        let mut needed = HashSet::new();
        for status in [JobStatus::Queued, JobStatus::Running, JobStatus::Dead] {
            let filter = JobFilter { status: Some(status), kind: Some(KIND_UPLOAD.into()), vault: None };
            let mut before = None;
            loop {
                let page = self.store.job_list(&filter, before, 500)?;
                let Some(last) = page.last() else { break };
                before = Some(last.rowid);
                needed.extend(page.iter().filter_map(|r| r.payload.get("upload")?.as_str().map(str::to_string)));
            }
        }
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !needed.contains(&name) {
                let path = entry.path();
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => tracing::info!(path = %path.display(), "removed an upload folder no job needs"),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot remove an unused upload folder")
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes an upload job's files (after it succeeded, was cancelled or deleted).
    pub fn remove_upload(&self, job: &JobRecord) {
        if job.kind != KIND_UPLOAD {
            return;
        }
        if let Some(name) = job.payload.get("upload").and_then(|u| u.as_str())
            && !name.is_empty()
            && !name.contains(['/', '\\'])
            && !name.starts_with('.')
        {
            let dir = self.uploads_dir().join(name);
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %dir.display(), error = %e, "cannot remove an upload folder");
            }
        }
    }

    /// Runs one attempt of a job; returns what it did.
    pub fn run_job(&self, job: &JobRecord, progress: &dyn IngestProgress) -> Result<serde_json::Value, EngineError> {
        let vault = job.vault.clone().ok_or_else(|| bad(format!("job {} names no vault", job.id)))?;
        let corrupt = |e: serde_json::Error| bad(format!("job {} has a payload this version cannot read: {e}", job.id));
        match job.kind.as_str() {
            KIND_UPLOAD => {
                let payload: UploadPayload = serde_json::from_value(job.payload.clone()).map_err(corrupt)?;
                let source = UploadSource {
                    dir: self.uploads_dir().join(&payload.upload),
                    files: payload.files,
                    now_ms: self.now_ms(),
                };
                let summary = self.ingest_documents(&vault, UPLOAD_SOURCE, &source, progress)?;
                let documents = source.list().map(|(r, _)| r.len() as u64).unwrap_or(0);
                if documents > 0 && summary.failed == documents {
                    return Err(EngineError::UploadUnreadable { failures: summary.failures });
                }
                serde_json::to_value(&summary).map_err(|e| EngineError::Internal(e.to_string()))
            }
            KIND_SYNC => {
                let payload: SyncPayload = serde_json::from_value(job.payload.clone()).map_err(corrupt)?;
                let opts =
                    IngestOptions { vault: Some(vault), source: Some(payload.source), ..IngestOptions::default() };
                let report = self.ingest(&opts, progress)?;
                serde_json::to_value(&report.total).map_err(|e| EngineError::Internal(e.to_string()))
            }
            KIND_REEMBED => {
                let reembedded = self.reembed_vault(&vault, progress)?;
                let spec = self.vault_spec(&vault);
                Ok(serde_json::json!({
                    "model": spec.model_id,
                    "dimension": spec.dimension,
                    "reembedded": reembedded,
                }))
            }
            other => Err(bad(format!("job {} has kind `{other}`, which this version does not run", job.id))),
        }
    }

    /// Starts counting the progress of a job attempt this process runs; the counter is shown in
    /// the job's view until [`Engine::job_progress_end`].
    pub fn job_progress_start(&self, id: &str) -> Arc<ProgressCounter> {
        let counter = Arc::new(ProgressCounter::default());
        self.progress.lock().insert(id.to_string(), counter.clone());
        counter
    }

    /// Stops showing a job attempt's progress.
    pub fn job_progress_end(&self, id: &str) {
        self.progress.lock().remove(id);
    }

    /// A stored job as the transports show it.
    pub fn job_view(&self, r: JobRecord) -> Job {
        let payload = match r.kind.as_str() {
            KIND_UPLOAD => match serde_json::from_value::<UploadPayload>(r.payload.clone()) {
                Ok(p) => {
                    let bytes: u64 = p.files.iter().map(|f| f.bytes).sum();
                    let uris: Vec<&str> = p.files.iter().take(SUMMARY_URIS).map(|f| f.uri.as_str()).collect();
                    serde_json::json!({
                        "documents": p.files.len(),
                        "bytes": bytes,
                        "uris": uris,
                        "more_uris": p.files.len().saturating_sub(SUMMARY_URIS),
                    })
                }
                Err(_) => serde_json::json!({}),
            },
            _ => r.payload.clone(),
        };
        let error = match (r.error, r.error_code) {
            (Some(message), code) => Some(JobError { message, code: code.unwrap_or_else(|| "internal".into()) }),
            _ => None,
        };
        let progress = if r.status == JobStatus::Running { self.progress.get(&r.id) } else { None };
        Job {
            id: r.id,
            kind: r.kind,
            status: r.status.as_str().to_string(),
            vault: r.vault,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            retries: r.retries,
            created_at: format_ms(r.created_ms),
            updated_at: format_ms(r.updated_ms),
            run_at: format_ms(r.run_at_ms),
            started_at: r.started_ms.map(format_ms),
            finished_at: r.finished_ms.map(format_ms),
            cancel_requested: r.cancel_requested,
            error,
            result: r.result,
            payload,
            progress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_uris_are_relative_clean_paths() {
        assert_eq!(check_upload_uri("./guides/setup.md").unwrap(), "guides/setup.md");
        for bad in ["", "/etc/passwd", "a/../b.md", "a//b.md", "a\\b.md", "x\u{0}.md", "./"] {
            let e = check_upload_uri(bad).unwrap_err();
            assert!(e.to_string().contains("relative path"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn upload_formats_come_from_the_name_or_the_extension() {
        assert_eq!(upload_format("a.md", None, false).unwrap(), Format::Markdown);
        assert_eq!(upload_format("a.bin", Some("html"), false).unwrap(), Format::Html);
        assert_eq!(upload_format("notes", None, true).unwrap(), Format::Text);
        assert_eq!(upload_format("slides.pptx", None, false).unwrap(), Format::Pptx);
        assert_eq!(upload_format("a.bin", Some("pdf"), false).unwrap(), Format::Pdf);
        let e = upload_format("slides.key", None, false).unwrap_err();
        assert!(e.to_string().contains("md") && e.to_string().contains("docx"), "{e}");
        let e = upload_format("a.md", Some("keynote"), false).unwrap_err();
        assert!(e.to_string().contains("pdf, docx, pptx, xlsx"), "{e}");
    }
}
