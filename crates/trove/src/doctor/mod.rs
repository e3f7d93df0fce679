//! `trove doctor`: the troubleshooting guides as checks. Each check looks at one thing the
//! configuration depends on (the config itself, the data folder and its disk, the workspace
//! lock and the processes that have the workspace open,
//! the store, the stored secrets config.yaml names (see [`secrets`]), the model files, each remote embeddings API (see [`remote`]), each chat model (see [`chat`]), the vision, transcription and CLIP models (see [`media`]), each configured
//! source (see [`sources`]), the mail server, the server's address and certificates), measures how long it
//! took, and says what it found; a warning or failure comes with its likely cause and the fix.
//! Checks run in parallel within a time budget (one that does not finish in time fails as
//! such). Exit code: 0 all ok, 1 warnings, 2 failures. The checks are listed once, in
//! [`checks`], which `--only` and `--help` are made from.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;
use trove_config::Workspace;
use trove_store::lock::{LockState, clear_stale, probe};
use trove_store::prelude::*;
use trove_store::{StoreError, embedded::EmbeddedStore};

use crate::cli::{DoctorArgs, Global};

mod chat;
mod checks;
mod media;
mod remote;
mod secrets;
mod sources;

pub use checks::Check;

/// How long all checks together may take.
const BUDGET: Duration = Duration::from_secs(20);
/// A certificate expiring sooner than this is a warning.
const EXPIRY_WARNING: time::Duration = time::Duration::days(14);

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// Does not apply to this configuration.
    Skip,
    /// Works now but needs attention.
    Warn,
    /// Broken.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The check (serialized as its name).
    pub check: Check,
    /// Its outcome.
    pub status: Status,
    /// How long it took.
    pub latency_ms: f64,
    /// What it found.
    pub found: String,
    /// For a warning or failure: the likely cause and the fix.
    pub fix: Option<String>,
}

type Outcome = (Status, String, Option<String>);

fn ok(found: impl Into<String>) -> Outcome {
    (Status::Ok, found.into(), None)
}
fn warn(found: impl Into<String>, fix: impl Into<String>) -> Outcome {
    (Status::Warn, found.into(), Some(fix.into()))
}
fn fail(found: impl Into<String>, fix: impl Into<String>) -> Outcome {
    (Status::Fail, found.into(), Some(fix.into()))
}
fn skip(why: impl Into<String>) -> Outcome {
    (Status::Skip, why.into(), None)
}

/// Runs `trove doctor`; returns the exit code.
pub fn run(g: &Global, args: &DoctorArgs) -> i32 {
    let wanted = |c: Check| args.only.is_empty() || args.only.contains(&c);
    let loaded = Workspace::load(g.workspace.as_deref(), g.config.as_deref());
    let started = Instant::now();
    let mut findings: Vec<Finding> = Vec::new();
    // A configuration that does not load is reported even when not asked for: every other
    // check depends on it, and is skipped.
    if let Err(e) = &loaded {
        let outcome = fail(e.to_string(), "fix the file as the message says (`trove config` shows how Trove reads it)");
        findings.push(finding(Check::Config, started, outcome));
    }
    let (tx, rx) = mpsc::channel::<Finding>();
    let mut pending: Vec<Check> = Vec::new();
    for &check in Check::all().iter().filter(|c| wanted(**c)) {
        let Ok(ws) = &loaded else {
            if check != Check::Config {
                findings.push(finding(check, Instant::now(), skip("needs a valid configuration")));
            }
            continue;
        };
        pending.push(check);
        let (ws, tx, fix) = (ws.clone(), tx.clone(), args.fix);
        std::thread::spawn(move || {
            let t = Instant::now();
            let outcome = run_check(check, &ws, fix);
            let _ = tx.send(finding(check, t, outcome));
        });
    }
    drop(tx);
    let deadline = started + BUDGET;
    while !pending.is_empty() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(f) => {
                pending.retain(|c| *c != f.check);
                findings.push(f);
            }
            Err(_) => break,
        }
    }
    for check in pending {
        findings.push(Finding {
            check,
            status: Status::Fail,
            latency_ms: BUDGET.as_secs_f64() * 1000.0,
            found: format!("did not finish within {} s", BUDGET.as_secs()),
            fix: Some("something it depends on hangs (a disk or network mount?); run it alone with --only".into()),
        });
    }
    findings.sort_by_key(|f| f.check);
    print(&findings, args.json, loaded.as_ref().ok());
    let worst = findings.iter().map(|f| f.status).max().unwrap_or(Status::Ok);
    match worst {
        Status::Fail => 2,
        Status::Warn => 1,
        Status::Ok | Status::Skip => 0,
    }
}

fn finding(check: Check, started: Instant, (status, found, fix): Outcome) -> Finding {
    Finding { check, status, latency_ms: (started.elapsed().as_secs_f64() * 1e4).round() / 10.0, found, fix }
}

fn print(findings: &[Finding], json: bool, ws: Option<&Workspace>) {
    let mut out = std::io::stdout().lock();
    if json {
        let body = serde_json::json!({
            "workspace": ws.map(|w| w.root.display().to_string()),
            "checks": findings,
            "ok": findings.iter().filter(|f| f.status == Status::Ok).count(),
            "warnings": findings.iter().filter(|f| f.status == Status::Warn).count(),
            "failures": findings.iter().filter(|f| f.status == Status::Fail).count(),
        });
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&body).unwrap_or_default());
        return;
    }
    if let Some(ws) = ws {
        let _ = writeln!(out, "trove doctor: {}", ws.root.display());
    }
    for f in findings {
        let label = match f.status {
            Status::Ok => "ok",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let _ = writeln!(out, "{label:<5} {:<9} {:>7.1} ms  {}", f.check.to_string(), f.latency_ms, f.found);
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "      fix: {fix}");
        }
    }
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    let _ = writeln!(
        out,
        "{} ok, {} warning(s), {} failure(s)",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    );
}

/// Runs one check on a workspace whose configuration loaded.
fn run_check(check: Check, ws: &Workspace, fix: bool) -> Outcome {
    let postgres_backend = ws.config.storage.backend == trove_config::StorageBackend::Postgres;
    match check {
        Check::Config => ok(format!("{} is valid ({} vault(s))", ws.config_path.display(), ws.config.vaults.len())),
        Check::DataDir => data_dir(ws.data_dir()),
        Check::Disk => disk(ws.data_dir()),
        Check::Lock if postgres_backend => {
            skip("not used: PostgreSQL is shared by every node (storage.backend: postgres)")
        }
        Check::Lock => lock(ws.data_dir(), fix),
        Check::Processes if postgres_backend => {
            skip("not tracked: PostgreSQL is shared by every node (storage.backend: postgres)")
        }
        Check::Processes => processes(ws.data_dir()),
        Check::Store if postgres_backend => postgres(ws),
        Check::Store => store(ws.data_dir()),
        Check::Vectors if postgres_backend => skip("not used: PostgreSQL and Qdrant keep their own vector indexes"),
        Check::Vectors => vectors(ws),
        Check::Model => model(ws),
        Check::Qdrant => qdrant(ws, fix),
        Check::Secrets => secrets::check(ws),
        Check::Embedder => remote::embedders(&secrets::resolved(ws)),
        Check::Chat => chat::check(&secrets::resolved(ws)),
        Check::Vision => media::vision(&secrets::resolved(ws)),
        Check::Transcription => media::transcription(&secrets::resolved(ws)),
        Check::Clip => media::clip(ws),
        Check::Sources => sources::check(&secrets::resolved(ws)),
        Check::Mail => mail(&secrets::resolved(ws)),
        Check::Bind => bind(ws),
        Check::Tls => tls(ws),
    }
}

/// How mail leaves: the log (a warning when people need mailed links), or an SMTP server
/// reached, upgraded and logged in to without sending anything.
fn mail(ws: &Workspace) -> Outcome {
    let config = &ws.config;
    match config.mail.transport {
        trove_config::MailTransport::Log => {
            if config.auth.open_registration || config.auth.require_email_verification {
                warn(
                    "mail goes to the log (mail.transport: log), but accounts need mailed links (auth.open_registration or auth.require_email_verification)",
                    "set mail.transport: smtp and mail.smtp (host, port, username, password) so people receive verification and reset links",
                )
            } else {
                ok("mail goes to the log (mail.transport: log): password-reset links are read from it")
            }
        }
        trove_config::MailTransport::Smtp => {
            let Some(smtp) = &config.mail.smtp else {
                return fail("mail.transport is smtp but mail.smtp is missing", "add mail.smtp.host and port");
            };
            if let Some(reference) = smtp.password.as_deref().and_then(trove_config::secrets::parse_reference) {
                return fail(
                    format!("mail.smtp.password is `{reference}`, which does not open"),
                    "see `trove doctor --only secrets` for why, and store the secret",
                );
            }
            match trove_engine::mail::SmtpMailer::new(smtp, &config.mail.from).and_then(|m| m.check()) {
                Ok(found) => ok(found),
                Err(e) => fail(
                    e.to_string(),
                    "fix the mail.smtp setting the message names, or the network path to the server",
                ),
            }
        }
    }
}

fn data_dir(dir: &Path) -> Outcome {
    if !dir.exists() {
        return ok(format!("{} does not exist yet; `trove ingest` creates it", dir.display()));
    }
    if !dir.is_dir() {
        return fail(
            format!("{} is not a folder", dir.display()),
            "storage.data_dir must name a folder: remove or rename the file, or point storage.data_dir elsewhere",
        );
    }
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"trove doctor") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            ok(format!("{} is writable", dir.display()))
        }
        Err(e) => fail(
            format!("cannot write in {}: {e}", dir.display()),
            "Permission denied or a read-only file system: give the user running trove write access (chown/chmod), or move storage.data_dir",
        ),
    }
}

fn disk(dir: &Path) -> Outcome {
    let at = if dir.exists() { dir } else { dir.parent().unwrap_or(dir) };
    match trove_server::disk_space(at) {
        Err(e) => fail(
            format!("cannot read the free space of {}: {e}", at.display()),
            "check that the path exists and is mounted",
        ),
        Ok((level, free, _)) => {
            let mib = free / (1024 * 1024);
            match level {
                trove_server::DiskLevel::Full => fail(
                    format!("{mib} MiB free"),
                    "No space left on device is next: free space or move storage.data_dir to a larger disk",
                ),
                trove_server::DiskLevel::Low => {
                    warn(format!("{mib} MiB free"), "ingest and uploads need room: free space or move storage.data_dir")
                }
                trove_server::DiskLevel::Ok => ok(format!("{mib} MiB free")),
            }
        }
    }
}

fn lock(dir: &Path, fix: bool) -> Outcome {
    match probe(dir) {
        Err(e) => fail(e.to_string(), "check the data folder's permissions"),
        Ok(LockState::Free) => ok("free"),
        Ok(LockState::Shared) => ok("shared by the processes writing the workspace (see `processes`)"),
        Ok(LockState::Held(who)) => ok(match who {
            Some(w) => format!("held by a live process: pid {} on {} ({}) since {}", w.pid, w.host, w.command, w.since),
            None => "held by a live process".to_string(),
        }),
        Ok(LockState::Stale(w)) if fix => match clear_stale(dir) {
            Ok(_) => ok(format!(
                "cleared the stale record of pid {} ({}), which exited without releasing it",
                w.pid, w.command
            )),
            Err(e) => fail(format!("cannot clear the stale record: {e}"), "check the data folder's permissions"),
        },
        Ok(LockState::Stale(w)) => warn(
            format!(
                "stale: pid {} on {} ({}, since {}) exited without releasing it",
                w.pid, w.host, w.command, w.since
            ),
            "harmless: the next process to open the workspace takes it over (\"already accessed by another instance\" cannot happen); `trove doctor --fix` clears it now",
        ),
    }
}

/// The processes that have the embedded store open, what each holds (the workspace lock,
/// leases of running jobs), and which registry entries of dead processes were removed.
fn processes(dir: &Path) -> Outcome {
    let listing = match trove_store::processes::list(dir) {
        Ok(l) => l,
        Err(e) => return fail(e.to_string(), "check the data folder's permissions"),
    };
    let leases = job_leases(dir);
    let mut found: Vec<String> = listing
        .live
        .iter()
        .map(|p| {
            let jobs = leases.get(&p.pid).copied().unwrap_or(0);
            let jobs = if jobs > 0 { format!(", {jobs} running job lease(s)") } else { String::new() };
            format!("pid {} on {} ({}, since {}): {}{jobs}", p.pid, p.host, p.command, p.since, p.role.holds())
        })
        .collect();
    if found.is_empty() {
        found.push("no process has the workspace open".into());
    }
    if !listing.removed.is_empty() {
        let gone: Vec<String> = listing.removed.iter().map(|p| format!("pid {} ({})", p.pid, p.command)).collect();
        found.push(format!("removed the entries of processes that are gone: {}", gone.join(", ")));
    }
    ok(found.join("; "))
}

/// Running jobs by the pid of the worker that holds their lease (worker names end in their
/// process id); empty when the store cannot be read.
fn job_leases(dir: &Path) -> std::collections::HashMap<u32, usize> {
    let mut out = std::collections::HashMap::new();
    if !dir.join(trove_store::embedded::DB_FILE).exists() {
        return out;
    }
    let Ok(store) = EmbeddedStore::open_reading(dir, "trove doctor") else { return out };
    let running = trove_store::JobFilter { status: Some(trove_store::JobStatus::Running), kind: None, vault: None };
    let Ok(jobs) = store.job_list(&running, None, 1000) else { return out };
    for job in jobs {
        if let Some(pid) = job.lease_owner.as_deref().and_then(|o| o.rsplit('-').next()).and_then(|p| p.parse().ok()) {
            *out.entry(pid).or_default() += 1;
        }
    }
    out
}

/// The PostgreSQL database: reachable, pgvector present, schema this build can use, room for
/// this node's pool; then the store's own consistency checks.
fn postgres(ws: &Workspace) -> Outcome {
    let options = match trove_engine::postgres_options(&ws.config.storage) {
        Ok(o) => o,
        Err(e) => return fail(e.to_string(), "set storage.postgres.url"),
    };
    let pool_size = options.pool_size as u64;
    let found = match trove_store_postgres::PgStore::inspect(options.clone()) {
        Err(e) => {
            return fail(
                e.to_string(),
                "start the server or fix storage.postgres.url (host, port, user, password, database); `psql URL` should connect",
            );
        }
        Ok(found) => found,
    };
    let mut facts = format!("{}, PostgreSQL {}", found.target, found.server_version);
    match (&found.vector_installed, &found.vector_available) {
        (Some(v), _) => facts.push_str(&format!(", pgvector {v}")),
        (None, Some(v)) => facts.push_str(&format!(", pgvector {v} available (created on first start)")),
        (None, None) => {
            return fail(
                format!("{facts}: the pgvector extension is not installed on the server"),
                "install pgvector for this PostgreSQL version (package postgresql-NN-pgvector, or build it from https://github.com/pgvector/pgvector)",
            );
        }
    }
    match found.schema {
        Some(v) if v > found.supported_schema => {
            return fail(
                format!("{facts}: schema {v}, newer than this trove knows ({})", found.supported_schema),
                "a newer trove wrote it: run that version (or newer) on every node",
            );
        }
        Some(v) if v < found.supported_schema => {
            return warn(
                format!("{facts}: schema {v}; this trove migrates it to {}", found.supported_schema),
                "the next `trove serve` or `trove ingest` applies it (upgrade every node)",
            );
        }
        None => {
            return warn(
                format!("{facts}: no Trove schema yet"),
                "the first `trove serve` or `trove ingest` creates it (or `trove migrate --to` copies an embedded workspace there)",
            );
        }
        Some(v) => facts.push_str(&format!(", schema {v}")),
    }
    facts.push_str(&format!(
        ", {}/{} connections in use, this node's pool {pool_size}",
        found.connections, found.max_connections
    ));
    if found.max_connections > 0 && found.connections + pool_size > found.max_connections {
        return warn(
            facts,
            "this node's pool would not fit under max_connections: lower storage.postgres.pool_size or raise max_connections",
        );
    }
    match trove_store_postgres::PgStore::open(options).and_then(|s| s.check_integrity()) {
        Err(e) => fail(format!("{facts}: {e}"), "see the database server's log"),
        Ok(r) if r.problems.is_empty() => {
            ok(format!("{facts}; {} documents, {} chunks, consistent", r.documents, r.chunks))
        }
        Ok(r) => fail(
            format!("{facts}: {}", r.problems.join("; ")),
            "the data disagrees with itself: run `trove ingest --force` to rebuild it from the sources",
        ),
    }
}

/// Qdrant beside PostgreSQL: it answers (with the API key), each vault's collection exists
/// with the vault's dimension, and nothing waits to be applied; `--fix` compares point ids
/// with PostgreSQL's and rebuilds what differs.
fn qdrant(ws: &Workspace, fix: bool) -> Outcome {
    use trove_store_postgres::index::{Kind, VectorIndex};
    let Some(q) = &ws.config.storage.qdrant else {
        return skip("no Qdrant is configured (storage.qdrant): vectors are searched with pgvector");
    };
    let index = trove_engine::qdrant_index(q);
    let version = match index.check() {
        Ok(v) => v,
        Err(e) => {
            let text = e.to_string();
            let hint = if text.contains("api_key") {
                "set storage.qdrant.api_key to the key Qdrant expects (its service.api_key)"
            } else {
                "start Qdrant, or fix storage.qdrant.url (`curl URL` should answer with its version)"
            };
            return fail(text, hint);
        }
    };
    let options = match trove_engine::postgres_options(&ws.config.storage) {
        Ok(o) => o,
        Err(e) => return fail(e.to_string(), "set storage.postgres.url"),
    };
    let store = match trove_store_postgres::PgStore::open(options) {
        Ok(s) => s,
        Err(e) => return fail(format!("{version} answers, but PostgreSQL does not: {e}"), "see the `store` finding"),
    };
    let vaults = match store.vaults() {
        Ok(v) => v,
        Err(e) => return fail(e.to_string(), "see the `store` finding"),
    };
    let mut problems = Vec::new();
    for v in &vaults {
        let (Some(model), Some(dim)) = (&v.model_id, v.dimension) else { continue };
        for kind in [Kind::Chunks, Kind::Memories] {
            let name = index.collection(kind, model, dim);
            match index.collection_dimension(&name) {
                Err(e) => return fail(e.to_string(), "see Qdrant's log"),
                Ok(Some(size)) if size != dim => problems.push(format!(
                    "vault `{}`: collection {name} holds {size}-dimensional vectors, the vault {dim}-dimensional",
                    v.name
                )),
                Ok(None) if kind == Kind::Chunks && v.generation > 0 => {
                    problems.push(format!("vault `{}`: collection {name} does not exist", v.name));
                }
                _ => {}
            }
        }
    }
    let store = store.with_index(Box::new(index));
    if fix {
        match store.reconcile_index() {
            Ok(n) => return ok(format!("{version}; {n} vault(s) rebuilt from PostgreSQL")),
            Err(e) => return fail(e.to_string(), "run it again once Qdrant and PostgreSQL answer"),
        }
    }
    let pending = store.index_pending(None).unwrap_or(0);
    let facts = format!("{version}, {} vault(s)", vaults.len());
    if !problems.is_empty() {
        return fail(
            format!("{facts}: {}", problems.join("; ")),
            "run `trove doctor --only qdrant --fix` to rebuild the collections from PostgreSQL (nothing is re-embedded)",
        );
    }
    if pending > 0 {
        return warn(
            format!(
                "{facts}; {pending} change(s) not yet applied to Qdrant (searches of those vaults use pgvector meanwhile)"
            ),
            "they are applied at the next write or search; `trove doctor --only qdrant --fix` applies them now",
        );
    }
    ok(format!("{facts}, collections in place, nothing pending"))
}

fn store(dir: &Path) -> Outcome {
    if !dir.join(trove_store::embedded::DB_FILE).exists() {
        return skip("no index yet");
    }
    match EmbeddedStore::open_reader(dir) {
        Err(StoreError::TooNew { found, supported, .. }) => fail(
            format!("the store has schema {found}; this trove knows up to {supported}"),
            "a newer trove wrote it: run that version (or newer), never an older one",
        ),
        Err(StoreError::NeedsMigration { found, supported, .. }) => warn(
            format!("the store has schema {found}; this trove migrates it to {supported}"),
            "migration not applied yet: the next `trove ingest` or `trove serve` applies it",
        ),
        Err(e) => fail(
            e.to_string(),
            "the index is unreadable: move the data folder aside and run `trove ingest` to rebuild it",
        ),
        Ok(store) => match store.check_integrity() {
            Err(e) => fail(
                e.to_string(),
                "the index is unreadable: move the data folder aside and run `trove ingest` to rebuild it",
            ),
            Ok(r) if r.problems.is_empty() => ok(format!("{} documents, {} chunks, consistent", r.documents, r.chunks)),
            Ok(r) => fail(
                r.problems.join("; "),
                "the index disagrees with itself: run `trove ingest --force` to rebuild it from the sources",
            ),
        },
    }
}

/// The approximate vector index file of each large vault: a damaged or inconsistent one
/// fails, one not built yet warns (its vault is searched exactly meanwhile).
fn vectors(ws: &Workspace) -> Outcome {
    use trove_store::embedded::VectorFileState;
    let dir = ws.data_dir();
    if !dir.join(trove_store::embedded::DB_FILE).exists() {
        return skip("no index yet");
    }
    let settings = trove_engine::ann_settings(&ws.config);
    if !settings.enabled {
        return skip("vectors.ann.enabled is false: every vault is scanned exactly");
    }
    let reports = match EmbeddedStore::open_reader(dir).and_then(|s| s.with_ann(settings).vector_files()) {
        Ok(r) => r,
        Err(e) => return skip(format!("the store cannot be read ({e}); see the store check")),
    };
    let (mut current, mut missing, mut wrong) = (Vec::new(), Vec::new(), Vec::new());
    for r in &reports {
        let name = format!("{}/{}", r.vault, r.space);
        match &r.file {
            VectorFileState::NotNeeded => {}
            VectorFileState::Unusable(why) => missing.push(format!("{name} ({} rows): {why}", r.rows)),
            VectorFileState::Current { path, generation, live, caught_up, rows } => match rows {
                Some(rows) if rows != caught_up => wrong.push(format!(
                    "{name}: {} holds {caught_up} vectors once caught up, the vault {rows}",
                    path.display()
                )),
                _ => current.push(format!(
                    "{name}: generation {generation} of {} ({live} vectors in the file, {caught_up} caught up)",
                    r.generation
                )),
            },
        }
    }
    if !wrong.is_empty() {
        return fail(
            wrong.join("; "),
            "the index file disagrees with the vectors: delete it (it is derived data); the next writer rebuilds it, and searches are exact meanwhile",
        );
    }
    if !missing.is_empty() {
        return warn(
            format!("no usable index file for {}; searched exactly meanwhile", missing.join("; ")),
            "the writer builds it in the background: keep `trove serve` running, or run `trove ingest`, which waits for it",
        );
    }
    if current.is_empty() {
        return ok(format!("no vault has {} rows: every vault is scanned exactly", settings.min_rows));
    }
    ok(current.join("; "))
}

fn model(ws: &Workspace) -> Outcome {
    let configured = ws.config.embedder.model_dir.as_deref();
    match trove_embed::model::resolve(configured) {
        Err(e) if ws.config.embedder.auto_install => warn(
            e.to_string(),
            "it will be installed on first use (embedder.auto_install); to do it now: `trove model install`",
        ),
        Err(e) => fail(e.to_string(), "install it: `trove model install` (or set embedder.model_dir to where it is)"),
        Ok(dir) => match trove_embed::model::verify(&dir) {
            Ok(()) => ok(format!("{} present, checksum verified", dir.display())),
            Err(e) => fail(e.to_string(), "reinstall it: `trove model install`"),
        },
    }
}

fn bind(ws: &Workspace) -> Outcome {
    let text = &ws.config.server.bind;
    let Ok(addr) = text.parse::<std::net::SocketAddr>() else {
        return fail(format!("server.bind `{text}` is not an address and port"), "write it like 127.0.0.1:7700");
    };
    match std::net::TcpListener::bind(addr) {
        Ok(_) => ok(format!("{addr} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let servers = trove_store::processes::list(ws.data_dir()).map(|l| l.live).unwrap_or_default();
            if let Some(w) = servers.iter().find(|p| p.command.contains("serve")) {
                return ok(format!("{addr} is in use, by this workspace's server (pid {})", w.pid));
            }
            fail(
                format!("{addr}: Address already in use"),
                format!(
                    "another program listens there: find it with `ss -ltnp 'sport = :{}'`, stop it, or change server.bind / --bind",
                    addr.port()
                ),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => fail(
            format!("{addr}: Permission denied"),
            "ports below 1024 need privileges: use a port ≥ 1024 (e.g. 7700) or grant CAP_NET_BIND_SERVICE",
        ),
        Err(e) => fail(format!("{addr}: {e}"), "server.bind must be an address of this machine"),
    }
}

fn tls(ws: &Workspace) -> Outcome {
    let Some(tls) = &ws.config.server.tls else { return skip("server.tls is not set (plain HTTP)") };
    if let Err(e) = trove_server::tls::load(tls, &ws.root) {
        return fail(
            e.to_string(),
            "fix the file named: renew an expired certificate, give the PEM key that belongs to it, or correct the path",
        );
    }
    match trove_server::tls::expires(tls, &ws.root) {
        Ok(at) if at - time::OffsetDateTime::now_utc() < EXPIRY_WARNING => warn(
            format!("the certificate expires at {at}"),
            "renew it before it expires (certificate has expired is next)",
        ),
        Ok(at) => ok(format!(
            "certificate and key valid until {at}{}",
            if tls.client_ca_file.is_some() { "; client certificates required (mTLS)" } else { "" }
        )),
        Err(e) => fail(e.to_string(), "fix the certificate file"),
    }
}
