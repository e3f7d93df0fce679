//! `trove serve`: opens the workspace for writing (beside other writing processes), loads the
//! model so the first request does not pay for it, binds the address, prints it on stderr,
//! and serves until SIGINT or SIGTERM, then shuts down gracefully.

use trove_config::Workspace;
use trove_engine::{Engine, OpenMode};
use trove_server::{AppState, ServerOptions};
use trove_types::Code;

use crate::Failure;
use crate::cli::ServeArgs;

/// Runs the server until a signal stops it.
pub fn serve(ws: Workspace, args: &ServeArgs) -> Result<(), Failure> {
    let bind = match args.bind {
        Some(a) => a,
        None => ws.config.server.bind.parse().map_err(|_| {
            Failure::new(
                Code::ConfigInvalid,
                format!("server.bind: `{}` is not an address and port", ws.config.server.bind),
            )
        })?,
    };
    let mut options = ServerOptions::from_config(&ws.config.server);
    if let Some(tls) = &ws.config.server.tls {
        options.tls = Some(trove_server::tls::load(tls, &ws.root).map_err(|e| {
            let code = trove_types::HasCode::code(&e);
            Failure::new(code, format!("server.tls: {e}"))
        })?);
    }
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    let grace = options.shutdown_grace;
    let allow_open = ws.config.server.allow_unauthenticated || args.allow_unauthenticated;
    let engine = Engine::open(ws, OpenMode::Write, "trove serve")?;
    if !bind.ip().is_loopback() && !allow_open && !engine.auth_enabled()? {
        return Err(Failure::new(
            Code::InsecureBind,
            format!(
                "refusing to serve {bind} without authentication: no user exists yet, so anyone who can reach that address could read and change every vault. Create an administrator first (`trove admin create-user --email you@example.com --org NAME --owner`, then `trove admin create-key`), bind a loopback address (--bind 127.0.0.1:7700), or pass --allow-unauthenticated if a proxy in front authenticates"
            ),
        ));
    }
    if !engine.auth_enabled()? {
        tracing::info!("no users exist: serving without authentication (single-user mode)");
    }
    // Concurrent requests' query embeddings are computed together, for every embedder.
    let engine = engine.layer_embedders(|e| match trove_embed::BatchingEmbedder::new(e.clone()) {
        Ok(b) => std::sync::Arc::new(b),
        Err(err) => {
            tracing::warn!(error = %err, model = e.model_id(), "embedding requests are not batched");
            e
        }
    });
    match engine.embedder() {
        Ok(e) => tracing::info!(model = e.model_id(), "the embedding model is loaded"),
        Err(e) => {
            tracing::warn!(error = %e, "the embedding model could not be loaded; /ready answers 503 and requests that embed fail until it can")
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("trove-http")
        .build()
        .map_err(|e| Failure::new(Code::Internal, format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
            Failure::new(
                Code::IoFailed,
                format!("cannot listen on {bind}: {e}; is another server using it? pass --bind ADDR"),
            )
        })?;
        let local = listener.local_addr().map_err(|e| Failure::new(Code::IoFailed, e.to_string()))?;
        eprintln!("trove: listening on {scheme}://{local}");
        tracing::info!(address = %local, "listening");
        let state = AppState::new(engine, options);
        trove_server::run(listener, state, shutdown_signal())
            .await
            .map_err(|e| Failure::new(Code::IoFailed, format!("the server failed: {e}")))
    });
    // Engine calls still running on blocking threads get the grace period again, then the
    // process exits without them (their transactions roll back).
    runtime.shutdown_timeout(grace);
    result
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
