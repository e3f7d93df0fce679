//! A throwaway PostgreSQL server for tests (feature `testing`): a copy of a data folder `initdb`
//! made once (kept in the system's temporary folder) in a temporary folder, then `postgres` on
//! a free loopback port, stopped and deleted on drop. The binaries
//! come from `$TROVE_PG_BIN` (PostgreSQL 18 with pgvector, installed by `scripts/pg-test-deps`,
//! which `scripts/test` runs). PostgreSQL refuses to run as root, so as root the server runs as
//! the `postgres` user.
//!
//! A test can stop the server and start it again on the same port and data ([`PgServer::stop`],
//! [`PgServer::restart`]) to show what clients do meanwhile.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running test server.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    run_as: Option<String>,
    max_connections: u32,
    /// Extra `-c name=value` settings (TLS).
    extra: Vec<String>,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

impl PgServer {
    /// Starts a fresh server. Panics with what to do when `$TROVE_PG_BIN` is not set.
    pub fn start() -> PgServer {
        PgServer::start_with(200)
    }

    /// [`PgServer::start`] with a given `max_connections`.
    pub fn start_with(max_connections: u32) -> PgServer {
        let bin = PathBuf::from(std::env::var_os("TROVE_PG_BIN").expect(
            "TROVE_PG_BIN is not set: run the tests with scripts/test, which installs PostgreSQL with pgvector (scripts/pg-test-deps)",
        ));
        PgServer::start_from(bin, max_connections)
    }

    /// A server from the binaries in `bin` (say, a PostgreSQL without pgvector, to see what
    /// Trove says about it).
    pub fn start_from(bin: PathBuf, max_connections: u32) -> PgServer {
        let root = is_root();
        let run_as = root.then(|| "postgres".to_string());
        // As root the server's user must reach the folder: make it under /tmp, open to all.
        let dir = tempfile::Builder::new().prefix("trove-pg-").tempdir().expect("temporary folder");
        if root {
            chown_to(dir.path(), "postgres");
        }
        let mut server = PgServer { bin, dir, port: 0, run_as, max_connections, extra: Vec::new() };
        let template = server.initialized();
        let out = Command::new("cp").arg("-a").arg(&template).arg(server.data()).output().expect("cp");
        assert!(
            out.status.success(),
            "copying {} failed: {}",
            template.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.try_start() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("the test PostgreSQL server did not start: {last}");
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A data folder `initdb` made for these binaries, kept in the system's temporary folder
    /// and copied for each server: `initdb` takes seconds, a copy a fraction of one, and the
    /// conformance suite starts a server per check. Keyed by the binaries (path, and size and
    /// time of `postgres`) and the user, so another PostgreSQL gets its own. Made beside its
    /// place and moved there whole, so a test never copies a half-made one.
    fn initialized(&self) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let exe = std::fs::metadata(self.bin.join("postgres"))
            .unwrap_or_else(|e| panic!("{}: {e}", self.bin.join("postgres").display()));
        let mut key = std::collections::hash_map::DefaultHasher::new();
        (&self.bin, exe.len(), exe.modified().ok(), &self.run_as).hash(&mut key);
        let cached = std::env::temp_dir().join(format!("trove-pg-initdb-{:016x}", key.finish()));
        if cached.join("PG_VERSION").exists() {
            return cached;
        }
        let fresh = tempfile::Builder::new().prefix("trove-pg-initdb-").tempdir().expect("temporary folder");
        if let Some(user) = &self.run_as {
            chown_to(fresh.path(), user);
        }
        let data = fresh.path().join("data");
        let out = self.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "trove",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        // Another test may have moved its own there meanwhile: either serves.
        if let Err(e) = std::fs::rename(&data, &cached) {
            assert!(cached.join("PG_VERSION").exists(), "cannot keep {}: {e}", cached.display());
        }
        cached
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(self.dir.path());
        cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    fn try_start(&self) -> Result<(), String> {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        // fsync off: a test server never outlives a power cut. Commits still reach the kernel
        // before they return, so `stop` (a crash of the server process) loses nothing.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections={} -c superuser_reserved_connections=0",
            self.port,
            self.dir.path().display(),
            self.max_connections
        ) + &self.extra.iter().map(|e| format!(" -c {e}")).collect::<String>();
        let out = self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "-t", "30", "start"],
        );
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            ))
        }
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://trove@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn create_database(&self) -> String {
        self.create_database_like(None)
    }

    /// Creates a database as a copy of `template` (a database name of this server that no
    /// one is connected to), or an empty one; returns its URL. Copying a migrated template is
    /// much faster than migrating each new database.
    pub fn create_database_like(&self, template: Option<&str>) -> String {
        let name = format!("t{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).expect("connect");
        let like = template.map(|t| format!(" TEMPLATE {t} STRATEGY FILE_COPY")).unwrap_or_default();
        client.batch_execute(&format!("CREATE DATABASE {name}{like}")).expect("create database");
        self.url(&name)
    }

    /// Stops the server at once (`immediate`: like a crash, no clean shutdown).
    pub fn stop(&self) {
        let out = self.run("pg_ctl", &["-D", self.data().to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the stopped server again on the same port and data.
    pub fn restart(&self) {
        let started = Instant::now();
        loop {
            match self.try_start() {
                Ok(()) => return,
                Err(e) if started.elapsed() > Duration::from_secs(30) => panic!("restart failed: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Turns TLS on with this certificate and key (PEM) and restarts; with `only_tls`, plain
    /// connections are refused (`hostssl` only in `pg_hba.conf`).
    pub fn enable_tls(&mut self, cert_pem: &str, key_pem: &str, only_tls: bool) {
        let cert = self.dir.path().join("server.crt");
        let key = self.dir.path().join("server.key");
        std::fs::write(&cert, cert_pem).expect("write the certificate");
        std::fs::write(&key, key_pem).expect("write the key");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod the key");
        }
        if let Some(user) = &self.run_as {
            chown_to(&cert, user);
            chown_to(&key, user);
        }
        if only_tls {
            let hba = self.data().join("pg_hba.conf");
            std::fs::write(&hba, "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
                .expect("write pg_hba.conf");
        }
        self.stop();
        self.extra = vec![
            "ssl=on".into(),
            format!("ssl_cert_file={}", cert.display()),
            format!("ssl_key_file={}", key.display()),
        ];
        self.restart();
    }

    /// The data folder, for tests that look at the server's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", self.data().to_str().unwrap(), "-m", "immediate", "stop"]);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

fn chown_to(path: &Path, user: &str) {
    let out = Command::new("chown").arg(user).arg(path).output().expect("chown");
    assert!(out.status.success(), "chown {user} {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
}
