//! Trove's HTTP transport, behind `trove serve`: a JSON API under `/v1` (vaults and their
//! sources, search, documents and uploads, memories, jobs and the dead-letter queue), the
//! probes `/live`, `/ready` and `/health`, `/metrics` for Prometheus, `/openapi.json`, the
//! API's OpenAPI 3.1 document, and `/docs/errors`, the error reference every error links to. [`run`] also starts the engine's job workers (uploads and source
//! syncs) and stops them on shutdown. It is thin by design: every operation is one call of the
//! synchronous [`Engine`], made on tokio's blocking pool (never on the async runtime), and every
//! error leaves as `{message, code, type, link}` with the HTTP status of its code in the shared
//! table.
//!
//! Layout: [`run`] serves a listener until a shutdown future resolves (mini-redis style, so
//! tests pass their own `127.0.0.1:0` listener and their own shutdown); [`router`] builds the
//! routes and the middleware (request ids and per-request log spans, metrics, the request time
//! limit, the body size limit); [`error`] turns engine errors and axum's rejections into
//! answers; [`openapi`] documents the routes from the handlers' annotations; [`metrics`] keeps
//! the Prometheus counters; `health` answers the probes; `docs` serves the error reference; `routes` holds one module per resource;
//! `web` serves the web page at `/`.
//!
//! ```no_run
//! # async fn demo(engine: trove_engine::Engine) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let state = trove_server::AppState::new(engine, trove_server::ServerOptions::default());
//! trove_server::run(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod auth;
mod call;
mod conn;
mod docs;
pub mod error;
mod health;
pub mod limits;
pub mod metrics;
mod middleware;
pub mod openapi;
mod routes;
pub mod tls;
mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::sync::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use trove_config::ServerConfig;
use trove_engine::Engine;
use trove_engine::worker::{WorkerOptions, WorkerPool};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use health::{DiskLevel, disk_space};
pub use metrics::{Metrics, TimedEmbedder};

/// Limits and intervals of a running server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// A request still running after this is answered `503 timeout` (its engine call, already
    /// on a blocking thread, runs to completion but its result is dropped).
    pub request_timeout: Duration,
    /// Largest JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// After the shutdown signal, how long in-flight requests get before the server returns.
    pub shutdown_grace: Duration,
    /// How often expired memories are purged (and finished jobs pruned).
    pub purge_interval: Duration,
    /// Largest upload body, in bytes.
    pub max_upload_bytes: usize,
    /// Time a client has to send a request's headers (and an idle keep-alive connection to
    /// start its next request) before the connection is closed; also the TLS handshake's limit.
    pub header_read_timeout: Duration,
    /// HTTPS (see [`tls::load`]); plain HTTP when absent.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions::from_config(&ServerConfig::default())
    }
}

impl ServerOptions {
    /// The options a `server:` section asks for.
    pub fn from_config(c: &ServerConfig) -> ServerOptions {
        ServerOptions {
            request_timeout: Duration::from_secs(c.request_timeout_s),
            max_body_bytes: usize::try_from(c.max_body_bytes).unwrap_or(usize::MAX),
            shutdown_grace: Duration::from_secs(c.shutdown_grace_s),
            purge_interval: Duration::from_secs(60),
            max_upload_bytes: usize::try_from(c.max_upload_bytes).unwrap_or(usize::MAX),
            header_read_timeout: conn::HEADER_READ_TIMEOUT,
            tls: None,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The engine (opened for writing).
    pub engine: Arc<Engine>,
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
    /// Limits.
    pub options: Arc<ServerOptions>,
    /// The job workers, while [`run`] runs.
    pub workers: Arc<Workers>,
    /// Whether requests must authenticate (users exist); read when the state is made.
    auth: bool,
    /// Request rate limits.
    pub limits: Arc<limits::Limits>,
}

/// The job worker pool of a running server (absent before [`run`] starts it and after it
/// stops).
#[derive(Debug, Default)]
pub struct Workers {
    pool: Mutex<Option<WorkerPool>>,
    configured: std::sync::atomic::AtomicUsize,
}

impl Workers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<WorkerPool>> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes idle workers: a job was queued.
    pub fn notify(&self) {
        if let Some(p) = self.lock().as_ref() {
            p.notify();
        }
    }

    /// Stops a running attempt of this process at its next checkpoint (cancellation asked
    /// through the API; other processes learn it from their lease heartbeat).
    pub fn cancel(&self, job: &str) {
        if let Some(p) = self.lock().as_ref() {
            p.cancel(job);
        }
    }

    /// (configured, alive, running jobs); `None` when the pool is not running.
    pub fn status(&self) -> Option<(usize, usize, usize)> {
        let configured = self.configured.load(std::sync::atomic::Ordering::Relaxed);
        self.lock().as_ref().map(|p| (configured, p.alive(), p.running()))
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("engine", &self.engine).field("options", &self.options).finish()
    }
}

impl AppState {
    /// Shares `engine`. Its embedders (loaded already or later) are wrapped in a
    /// [`TimedEmbedder`] so `/metrics` reports embedding latency.
    pub fn new(engine: Engine, options: ServerOptions) -> AppState {
        let metrics = Arc::new(Metrics::new());
        let timed = metrics.clone();
        let engine = engine.layer_embedders(move |e| Arc::new(TimedEmbedder::new(e, timed.clone())));
        // Fail closed: when the store cannot tell whether users exist, require keys.
        let auth = engine.auth_enabled().unwrap_or(true);
        let engine = Arc::new(engine);
        // Several nodes on one store count against one allowance.
        let shared = engine.store_shared().then(|| engine.clone());
        let limits = Arc::new(limits::Limits::with_store(
            &engine.workspace().config.auth.rate_limits,
            shared,
            engine.clock().clone(),
        ));
        AppState { engine, metrics, options: Arc::new(options), workers: Arc::default(), auth, limits }
    }

    /// Whether requests must authenticate (some user exists).
    pub fn auth_enabled(&self) -> bool {
        self.auth
    }
}

/// The routes and their middleware.
pub fn router(state: AppState) -> Router {
    let limit = state.options.max_body_bytes;
    let (routes, _) = api(state.options.max_upload_bytes).split_for_parts();
    routes
        .merge(web::router())
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authorize))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::time_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .with_state(state)
}

/// Every route, registered together with its OpenAPI operation (so [`openapi`] documents exactly
/// what is served). Uploads get their own body limit.
fn api(upload_limit: usize) -> OpenApiRouter<AppState> {
    use routes::{
        accounts, answers, audit, documents, explore, jobs, keys, mcp, members, memories, secrets, sessions, teams,
        uploads, vaults,
    };
    let uploads = OpenApiRouter::new()
        .routes(routes!(documents::list, uploads::upload))
        .layer(DefaultBodyLimit::max(upload_limit));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::health))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::serve))
        .routes(routes!(docs::errors))
        .routes(routes!(vaults::list, vaults::create))
        .routes(routes!(vaults::get, vaults::delete))
        .routes(routes!(vaults::sources))
        .routes(routes!(explore::status))
        .routes(routes!(explore::context))
        .routes(routes!(explore::similar))
        .routes(routes!(vaults::sync))
        .routes(routes!(vaults::reembed))
        .routes(routes!(vaults::search))
        .routes(routes!(answers::answer))
        .routes(routes!(answers::conversations))
        .routes(routes!(answers::conversation, answers::conversation_delete))
        .merge(uploads)
        .routes(routes!(documents::get, documents::delete))
        .routes(routes!(memories::store, memories::list))
        .routes(routes!(memories::retrieve))
        .routes(routes!(memories::stats))
        .routes(routes!(memories::get, memories::update, memories::delete))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::dlq_list))
        .routes(routes!(jobs::dlq_get, jobs::dlq_delete))
        .routes(routes!(jobs::dlq_retry))
        .routes(routes!(audit::list))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(keys::mint))
        .routes(routes!(sessions::login))
        .routes(routes!(sessions::register))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::me))
        .routes(routes!(accounts::verify))
        .routes(routes!(accounts::resend))
        .routes(routes!(accounts::reset))
        .routes(routes!(accounts::reset_confirm))
        .routes(routes!(accounts::accept_invitation))
        .routes(routes!(sessions::list, sessions::revoke_all))
        .routes(routes!(sessions::revoke))
        .routes(routes!(members::list, members::add))
        .routes(routes!(members::set_role, members::remove))
        .routes(routes!(members::invitations, members::invite))
        .routes(routes!(members::revoke_invitation))
        .routes(routes!(teams::list, teams::create))
        .routes(routes!(teams::delete))
        .routes(routes!(teams::add_member))
        .routes(routes!(teams::remove_member))
        .routes(routes!(teams::grants, teams::grant))
        .routes(routes!(teams::revoke))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::put, secrets::delete))
        .routes(routes!(mcp::post))
}

/// Serves `listener` until `shutdown` resolves, then stops accepting connections and gives
/// requests in flight [`ServerOptions::shutdown_grace`] to finish. Before serving, jobs left
/// running by a previous process are queued again and the job workers start; at shutdown they
/// get the same grace to finish their attempts, after which unfinished jobs go back to the
/// queue. A background task purges expired memories and prunes old finished jobs every
/// [`ServerOptions::purge_interval`].
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.options.shutdown_grace;
    let engine = state.engine.clone();
    match tokio::task::spawn_blocking(move || engine.jobs_recover()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot recover the job queue; jobs may wait until their lease expires")
        }
        Err(e) => tracing::error!(error = %e, "the job recovery task failed"),
    }
    // An external vector index is compared with the system of record in the background (a
    // crash between the two is repaired; searches use the system of record meanwhile).
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || match engine.reconcile_index() {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(vaults = n, "rebuilt the vector index of vaults that differed from the system of record")
        }
        Err(e) => tracing::warn!(error = %e, "cannot compare the vector index with the system of record now"),
    });
    let jobs_config = &state.engine.workspace().config.jobs;
    state.workers.configured.store(jobs_config.workers, std::sync::atomic::Ordering::Relaxed);
    let pool = WorkerPool::start(state.engine.clone(), WorkerOptions::from_config(jobs_config), state.metrics.clone());
    *state.workers.lock() = Some(pool);
    let (stop_tx, stop_rx) = watch::channel(false);
    let purge = tokio::spawn(purge_expired(state.clone(), stop_rx.clone()));
    let workers_stopped = {
        let workers = state.workers.clone();
        let mut stopped = stop_rx.clone();
        tokio::spawn(async move {
            let _ = stopped.wait_for(|s| *s).await;
            let pool = workers.lock().take();
            if let Some(pool) = pool {
                let _ = tokio::task::spawn_blocking(move || pool.shutdown(grace)).await;
            }
        })
    };
    let signal = {
        let stop_tx = stop_tx.clone();
        async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing the requests in flight");
            let _ = stop_tx.send(true);
        }
    };
    let tls = state.options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let server = conn::serve(listener, router(state.clone()), state.options.header_read_timeout, tls, signal);
    let mut stopped = stop_rx.clone();
    let deadline = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        r = server => r,
        () = deadline => {
            tracing::warn!(grace_s = grace.as_secs_f64(), "requests still in flight after the shutdown grace period; closing them");
            Ok(())
        }
    };
    let _ = stop_tx.send(true);
    let _ = purge.await;
    let _ = workers_stopped.await;
    tracing::info!("server stopped");
    result
}

async fn purge_expired(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.options.purge_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if let Some(n) =
            chore(&state, "purging expired memories", "the memory purge", Engine::memory_purge_expired).await
        {
            tracing::info!(purged = n, "purged expired memories");
        }
        if let Some(n) =
            chore(&state, "purging expired conversations", "the conversation purge", Engine::conversation_purge_expired)
                .await
        {
            tracing::info!(purged = n, "purged expired conversations");
        }
        if let Some(n) = chore(&state, "pruning the audit log", "the audit prune", Engine::audit_prune).await {
            tracing::info!(pruned = n, "deleted audit-log entries past their retention");
        }
        if let Some(n) = chore(&state, "pruning finished jobs", "the job prune", Engine::jobs_prune).await {
            tracing::info!(pruned = n, "deleted old finished jobs");
        }
    }
}

/// Runs one housekeeping step on tokio's blocking pool: how many rows it removed, or `None`
/// when there were none or it failed (logged: `doing` failed, or the `task` itself did).
async fn chore(
    state: &AppState,
    doing: &'static str,
    task: &'static str,
    step: fn(&Engine) -> Result<u64, trove_engine::EngineError>,
) -> Option<u64> {
    let engine = state.engine.clone();
    match tokio::task::spawn_blocking(move || step(&engine)).await {
        Ok(Ok(0)) => None,
        Ok(Ok(n)) => Some(n),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "{doing} failed; retrying at the next interval");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "{task} task failed");
            None
        }
    }
}

/// Runs `f` on the engine on tokio's blocking pool, inside the request's log span.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Engine) -> Result<T, trove_engine::EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    let engine = state.engine.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| f(&engine)))
        .await
        .map_err(|e| ApiError::new(trove_types::Code::Internal, format!("the engine call failed: {e}")))?
        .map_err(ApiError::from)
}
