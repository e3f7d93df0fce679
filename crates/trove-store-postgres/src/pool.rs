//! Connections to PostgreSQL: a bounded pool with a wait limit, a circuit breaker in front of
//! new connections, the mapping of driver errors to [`StoreError`], and the pool's figures.
//!
//! Every connection is opened with a connect time limit, TCP keepalives and a server-side
//! `statement_timeout`, so no call can wait forever. A caller waits at most
//! `acquire_timeout` for a free connection, then gets `store_unavailable` (a real wait on the
//! other callers, timed by the operating system's clock). After `breaker_threshold` connection
//! failures in a row the breaker ([`trove_http::Breaker`], timed by the options' clock) opens:
//! callers fail at once for `breaker_cooldown`, then one attempt is let through (half open)
//! and its outcome closes or reopens it. A connection that lost its server is dropped on return, and so are the idle
//! ones beside it (a restarted server has ended them all), so the pool heals without a restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, NoTls};
use trove_clock::SharedClock;
use trove_http::{Breaker, BreakerChange};
use trove_store::{ConnectionStats, StoreError};

/// How the pool connects and how long anything may take.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database` (or key=value form).
    pub url: String,
    /// Most connections open at once.
    pub pool_size: usize,
    /// Limit on opening one connection.
    pub connect_timeout: Duration,
    /// Server-side limit on one statement (`statement_timeout`).
    pub statement_timeout: Duration,
    /// How long a caller waits for a free connection.
    pub acquire_timeout: Duration,
    /// Connection failures in a row that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the open breaker refuses before letting one attempt through.
    pub breaker_cooldown: Duration,
    /// Certificate authorities (PEM) trusted in addition to the built-in roots for the
    /// server's certificate (with `sslmode=require` in the URL).
    pub ca_file: Option<std::path::PathBuf>,
    /// Times the circuit breaker and wall-clock stamps the store writes itself (migrations).
    pub clock: SharedClock,
}

impl PgOptions {
    /// Defaults for `url`: 16 connections, 5 s to connect, 30 s per statement, 10 s to wait
    /// for a connection, breaker open after 3 failures for 5 s.
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(10),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(5),
            ca_file: None,
            clock: trove_clock::system(),
        }
    }
}

#[derive(Default)]
struct State {
    idle: Vec<Client>,
    open: usize,
    /// Bumped when every idle connection is discarded, so connections lent before that are
    /// not returned.
    epoch: u64,
}

/// Runs blocking driver work. The blocking client drives its socket with a runtime of its own,
/// which cannot start on a thread that is running asynchronous tasks: there, the work is
/// moved off the async worker with `block_in_place` (the server calls the engine from its
/// blocking pool, but a few quick reads happen on async threads, and an engine may be dropped
/// there). Elsewhere (CLI, blocking pool, worker threads) it runs as it is.
pub(crate) fn off_async<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A bounded pool of connections to one PostgreSQL database.
pub struct Pool {
    config: postgres::Config,
    /// rustls when the URL asks for TLS (`sslmode=require`).
    tls: Option<crate::tls::MakeRustls>,
    options: PgOptions,
    what: String,
    state: Mutex<State>,
    freed: Condvar,
    breaker: Breaker,
    waits: AtomicU64,
    timeouts: AtomicU64,
    connects: AtomicU64,
    connect_failures: AtomicU64,
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.state.get_mut().unwrap_or_else(|e| e.into_inner()).idle);
        off_async(move || drop(idle));
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("what", &self.what).field("max", &self.options.pool_size).finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for `options.url`; connects lazily. Fails only on a malformed URL.
    pub fn new(options: PgOptions) -> Result<Pool, StoreError> {
        let mut config: postgres::Config = options.url.parse().map_err(|e| StoreError::Database {
            what: "PostgreSQL".into(),
            reason: format!(
                "the connection URL is not valid ({e}); write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            ),
        })?;
        config
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("trove")
            .options(&format!(
                "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
                options.statement_timeout.as_millis().max(1),
                (options.statement_timeout * 2).as_millis().max(1)
            ));
        let what = describe(&config);
        let tls = match config.get_ssl_mode() {
            postgres::config::SslMode::Require => Some(
                crate::tls::MakeRustls::new(options.ca_file.as_deref())
                    .map_err(|reason| StoreError::Database { what: what.clone(), reason })?,
            ),
            _ => None,
        };
        let breaker = Breaker::new(options.breaker_threshold, options.breaker_cooldown, options.clock.clone());
        Ok(Pool {
            config,
            tls,
            options,
            what,
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
            breaker,
            waits: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
        })
    }

    /// `PostgreSQL at host:port/database`, for messages (never the password).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The options the pool was made with.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// A connection, waiting at most `acquire_timeout` for one to be free.
    pub fn get(&self) -> Result<Conn<'_>, StoreError> {
        let deadline = Instant::now() + self.options.acquire_timeout;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut waited = false;
        loop {
            while let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(Conn { pool: self, client: Some(client), epoch: state.epoch, broken: false });
            }
            if state.open < self.options.pool_size {
                state.open += 1;
                let epoch = state.epoch;
                drop(state);
                return match self.connect() {
                    Ok(client) => Ok(Conn { pool: self, client: Some(client), epoch, broken: false }),
                    Err(e) => {
                        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                        state.open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            if !waited {
                waited = true;
                self.waits.fetch_add(1, Ordering::Relaxed);
            }
            let now = Instant::now();
            if now >= deadline {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                return Err(StoreError::Unavailable {
                    what: self.what.clone(),
                    reason: format!(
                        "all {} connections stayed busy for {:.1}s; the database is slow or the pool is too small (storage.postgres.pool_size, acquire_timeout_s)",
                        self.options.pool_size,
                        self.options.acquire_timeout.as_secs_f64()
                    ),
                });
            }
            state = self.freed.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let permit = self.breaker.admit().map_err(|open| StoreError::Unavailable {
            what: self.what.clone(),
            reason: format!(
                "{} connection attempts in a row failed (last: {}); not trying again for {:.1}s",
                open.failures,
                open.last_error.as_deref().unwrap_or("unknown"),
                open.retry_in.as_secs_f64()
            ),
        })?;
        match self.connect_client() {
            Ok(client) => {
                self.connects.fetch_add(1, Ordering::Relaxed);
                if permit.succeeded() == BreakerChange::Closed {
                    tracing::info!(database = %self.what, "database reachable again; circuit breaker closed");
                }
                Ok(client)
            }
            Err(e) => {
                self.connect_failures.fetch_add(1, Ordering::Relaxed);
                let reason = connect_reason(&e);
                if permit.failed(reason.clone()) == BreakerChange::Opened {
                    tracing::warn!(database = %self.what, threshold = self.options.breaker_threshold, error = %reason, "circuit breaker opened");
                }
                Err(StoreError::Unavailable { what: self.what.clone(), reason })
            }
        }
    }

    fn put_back(&self, client: Client, epoch: u64, broken: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let broken = broken || client.is_closed();
        let mut closing = Vec::new();
        if broken || epoch != state.epoch {
            state.open -= 1;
            closing.push(client);
            if broken && epoch == state.epoch {
                // The server went away: its other connections are gone too.
                let dropped = state.idle.len();
                state.open -= dropped;
                closing.append(&mut state.idle);
                state.epoch += 1;
            }
        } else {
            state.idle.push(client);
        }
        drop(state);
        self.freed.notify_all();
        if !closing.is_empty() {
            off_async(move || drop(closing));
        }
    }

    /// How the pool connects, for connections of their own (time limits and TLS included).
    pub(crate) fn connector(&self) -> Connector {
        Connector { config: self.config.clone(), tls: self.tls.clone() }
    }

    fn connect_client(&self) -> Result<Client, postgres::Error> {
        self.connector().connect()
    }

    /// The pool's figures now.
    pub fn stats(&self) -> ConnectionStats {
        let (open, idle) = {
            let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (s.open as u64, s.idle.len() as u64)
        };
        ConnectionStats {
            backend: "postgres".into(),
            target: self.what.clone(),
            open,
            in_use: open - idle,
            max: self.options.pool_size as u64,
            waits: self.waits.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
            breaker_open: self.breaker.is_open(),
            last_error: self.breaker.last_error(),
        }
    }

    /// Maps a driver error of a statement to a store error naming this database.
    pub fn error(&self, e: postgres::Error) -> StoreError {
        map_error(&self.what, &self.options, e)
    }
}

/// Opens connections with a pool's settings.
#[derive(Clone)]
pub(crate) struct Connector {
    config: postgres::Config,
    tls: Option<crate::tls::MakeRustls>,
}

impl Connector {
    /// A new connection.
    pub(crate) fn connect(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
    }
}

/// A connection lent by the pool; returned when dropped.
pub struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Client>,
    epoch: u64,
    broken: bool,
}

impl Conn<'_> {
    /// Marks the connection as lost: it is closed instead of returned, and the idle ones
    /// beside it are dropped too (a server that went away ended them all).
    pub fn discard(&mut self) {
        self.broken = true;
    }
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.pool.put_back(client, self.epoch, self.broken);
        }
    }
}

/// `PostgreSQL at host:port/database`.
fn describe(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("PostgreSQL at {host}:{port}/{}", config.get_dbname().unwrap_or("postgres"))
}

/// Why a connection could not be opened, with what to check.
fn connect_reason(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let fix = if db.message().contains("no encryption") {
            "the server accepts only encrypted connections: add ?sslmode=require to storage.postgres.url"
        } else if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            "check the user and password in storage.postgres.url"
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            "create the database (createdb) or fix its name in storage.postgres.url"
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            "the server is at max_connections: lower storage.postgres.pool_size on each node or raise max_connections"
        } else {
            "see the server's log"
        };
        return format!("{} ({}): {fix}", db.message(), code.code());
    }
    let text = error_chain(e);
    let fix = if text.contains("certificate") || text.contains("TLS") || text.contains("tls") {
        "the TLS handshake failed: if the server's certificate comes from a private authority, set storage.postgres.ca_file to its PEM; the URL's host must be a name the certificate carries"
    } else if text.contains("refused") {
        "is the server running and listening on that host and port?"
    } else if text.contains("timed out") || text.contains("timeout") {
        "no answer within storage.postgres.connect_timeout_s: check the host, firewalls and the server's load"
    } else if text.contains("lookup") || text.contains("resolve") || text.contains("Name or service") {
        "the host name does not resolve: check storage.postgres.url"
    } else {
        "check storage.postgres.url and that the server is up"
    };
    format!("cannot connect ({text}): {fix}")
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Maps a statement's error: lost connections, time limits and server shutdowns are
/// `Unavailable` (transient); everything else is `Database`.
pub(crate) fn map_error(what: &str, options: &PgOptions, e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::QUERY_CANCELED {
            return StoreError::Unavailable {
                what: what.into(),
                reason: format!(
                    "a statement ran past its time limit of {:.1}s (storage.postgres.statement_timeout_s); the database is overloaded or a lock is held",
                    options.statement_timeout.as_secs_f64()
                ),
            };
        }
        let transient = code.code().starts_with("08")
            || code.code().starts_with("53")
            || code.code().starts_with("57P")
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE;
        let reason = format!("{} ({})", db.message(), code.code());
        return if transient {
            StoreError::Unavailable { what: what.into(), reason }
        } else {
            StoreError::Database { what: what.into(), reason }
        };
    }
    if e.is_closed() || has_io_error(&e) {
        return StoreError::Unavailable {
            what: what.into(),
            reason: format!("the connection was lost ({}); the next call reconnects", error_chain(&e)),
        };
    }
    StoreError::Database { what: what.into(), reason: error_chain(&e) }
}

/// Whether `e` means the connection itself is gone (closed, or a broken socket), as opposed to
/// a statement that failed on a healthy connection.
pub(crate) fn connection_lost(e: &postgres::Error) -> bool {
    e.is_closed() || has_io_error(e) || e.as_db_error().is_some_and(|d| d.code().code().starts_with("57P"))
}

/// Whether an I/O error (a broken socket) is behind `e`.
fn has_io_error(e: &postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}
