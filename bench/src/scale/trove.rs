//! Trove as the scale benchmark drives it: only through its binary and `config.yaml` (`trove
//! init`, `ingest`, `status --json`, `search --json`, and `trove serve` over HTTP), so that the
//! engine's internals can change under it.
//!
//! The workspace's embedder is the benchmark's embeddings server (`embedder.provider: llm`,
//! `llm.base_url: ${SCALE_EMBEDDINGS_URL}`, set on every command), and `server.request_timeout_s`
//! is raised to 600 s (`TROVE__SERVER__REQUEST_TIMEOUT_S`) so that a slow first search is
//! measured instead of answered 503.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use trove_bench::procfs::status_mb;
use trove_bench::serve::ServeProcess;

use crate::embedder::DIMENSION;

/// The vault `trove init` creates.
pub const VAULT: &str = "default";
/// How long a server may take to print its address and then to answer `/ready`.
const START_TIMEOUT: Duration = Duration::from_secs(1800);
/// Time limit of one HTTP exchange with the server (a first search at 10⁶ chunks is slow).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(900);

/// The three search modes, in the order the tables print them.
pub const MODES: [&str; 3] = ["keyword", "semantic", "hybrid"];

/// A workspace of the benchmark.
#[derive(Debug)]
pub struct Workspace {
    /// Its folder.
    pub root: PathBuf,
    /// The `trove` binary.
    trove: PathBuf,
    /// The embeddings server's base URL, passed as `SCALE_EMBEDDINGS_URL`.
    embed_url: String,
}

impl Workspace {
    /// A new workspace in `root` (removed first): `trove init`, the embedder pointed at
    /// `embed_url`, the example document removed.
    pub fn create(trove: &Path, root: &Path, embed_url: &str) -> Result<Workspace> {
        if root.exists() {
            std::fs::remove_dir_all(root).with_context(|| format!("cannot remove {}", root.display()))?;
        }
        std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let ws = Workspace { root: root.to_path_buf(), trove: trove.to_path_buf(), embed_url: embed_url.to_string() };
        ws.run(&["init"])?;
        let path = root.join("config.yaml");
        let yaml = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let edited = yaml.replacen("  provider: builtin", "  provider: llm", 1);
        if !edited.contains("provider: llm") {
            bail!("`trove init` wrote a config.yaml without `embedder.provider: builtin` to edit: {}", path.display());
        }
        let llm = format!(
            "\nllm:\n  provider: custom\n  base_url: ${{SCALE_EMBEDDINGS_URL}}\n  models:\n    embeddings: hashed-words\n  \
             embeddings:\n    vector_size: {DIMENSION}\n    batch_size: 256\n  request:\n    timeout_s: 60\n    \
             max_retries: 2\n  rate_limits:\n    concurrency: 4\n"
        );
        std::fs::write(&path, edited + &llm).with_context(|| format!("cannot write {}", path.display()))?;
        let welcome = root.join("docs/welcome.md");
        if welcome.exists() {
            std::fs::remove_file(&welcome).with_context(|| format!("cannot remove {}", welcome.display()))?;
        }
        Ok(ws)
    }

    /// The folder the corpus files go to (under the `docs` source).
    pub fn corpus_dir(&self) -> PathBuf {
        self.root.join("docs/scale")
    }

    /// The folder of the embedded store.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join(".trove")
    }

    /// `trove --workspace ROOT ARGS...` with the benchmark's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.trove);
        cmd.arg("--workspace").arg(&self.root).args(args);
        for var in
            ["TROVE_WORKSPACE", "TROVE_CONFIG", "TROVE_BIND", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        {
            cmd.env_remove(var);
        }
        cmd.env("SCALE_EMBEDDINGS_URL", &self.embed_url)
            .env("TROVE__LOG__LEVEL", "warn")
            .env("TROVE__SERVER__REQUEST_TIMEOUT_S", "600")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command to completion; its stdout.
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = self.command(args).output().with_context(|| format!("cannot run {}", self.trove.display()))?;
        if !out.status.success() {
            bail!(
                "`trove {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The vault's chunk count, from `trove status --json`.
    pub fn chunks(&self) -> Result<u64> {
        let out = self.run(&["status", "--json"])?;
        let status: serde_json::Value =
            serde_json::from_str(&out).context("`trove status --json` did not print JSON")?;
        status
            .as_array()
            .and_then(|vaults| vaults.iter().find(|v| v["name"] == VAULT))
            .and_then(|v| v["chunks"].as_u64())
            .with_context(|| format!("`trove status --json` names no vault `{VAULT}` with a chunk count: {out}"))
    }
}

/// `trove --version`.
pub fn version(trove: &Path) -> Result<String> {
    let out =
        Command::new(trove).arg("--version").output().with_context(|| format!("cannot run {}", trove.display()))?;
    if !out.status.success() {
        bail!("`{} --version` failed: {}", trove.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The cosine scores of a search's hits, best first, from its JSON answer.
pub fn hit_scores(answer: &serde_json::Value) -> Result<Vec<f32>> {
    let hits = answer["hits"].as_array().with_context(|| format!("a search answer without hits: {answer}"))?;
    hits.iter().map(|h| h["score"].as_f64().map(|s| s as f32).context("a hit without a score")).collect()
}

/// A running `trove serve` and a keep-alive client of it; killed when dropped, stopped
/// gracefully by [`Server::stop`].
#[derive(Debug)]
pub struct Server {
    process: ServeProcess,
    client: Client,
}

impl Server {
    /// Starts `trove serve` on `127.0.0.1:0` and waits until `/ready` answers 200; returns the
    /// server and the seconds from spawn to ready.
    pub fn start(ws: &Workspace) -> Result<(Server, f64)> {
        let started = Instant::now();
        let mut process = ServeProcess::spawn(ws.command(&["serve", "--bind", "127.0.0.1:0"]), START_TIMEOUT)?;
        let client = Client::new(process.addr);
        loop {
            let answer = client.agent.get(format!("http://{}/ready", process.addr)).call();
            if answer.is_ok_and(|r| r.status() == 200) {
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("the server was not ready within {START_TIMEOUT:?}; its stderr:\n{}", process.log());
            }
            if process.exited()? {
                bail!("the server exited before it was ready; its stderr:\n{}", process.log());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok((Server { process, client }, started.elapsed().as_secs_f64()))
    }

    /// A client of its own (for concurrent load).
    pub fn client(&self) -> Client {
        Client::new(self.process.addr)
    }

    /// One search through the server's own client; see [`Client::search`].
    pub fn search(&self, mode: &str, query: &str, limit: usize) -> Result<(f64, Vec<f32>)> {
        self.client.search(mode, query, limit)
    }

    /// Resident memory now and at its peak, MB.
    pub fn rss_mb(&self) -> Result<(f64, f64)> {
        Ok((status_mb(self.process.pid, "VmRSS")?, status_mb(self.process.pid, "VmHWM")?))
    }

    /// Anonymous resident memory now (`RssAnon`: heap, not mapped files), MB.
    pub fn rss_anon_mb(&self) -> Result<f64> {
        status_mb(self.process.pid, "RssAnon")
    }

    /// SIGTERM, then up to 60 s for a graceful exit, then SIGKILL.
    pub fn stop(mut self) -> Result<()> {
        self.process.stop(Duration::from_secs(60))
    }
}

/// A keep-alive HTTP client of one server.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    addr: SocketAddr,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        let config =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(REQUEST_TIMEOUT)).build();
        Client { agent: ureq::Agent::new_with_config(config), addr }
    }

    /// `POST /v1/vaults/default/search`; the milliseconds it took and the hits' scores.
    pub fn search(&self, mode: &str, query: &str, limit: usize) -> Result<(f64, Vec<f32>)> {
        let url = format!("http://{}/v1/vaults/{VAULT}/search", self.addr);
        let body = serde_json::json!({"query": query, "mode": mode, "limit": limit});
        let started = Instant::now();
        let mut response = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .with_context(|| format!("{mode} search of `{query}` failed"))?;
        let text = response.body_mut().with_config().limit(64 << 20).read_to_string()?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        if response.status() != 200 {
            bail!(
                "{mode} search of `{query}`: status {}: {}",
                response.status(),
                text.chars().take(400).collect::<String>()
            );
        }
        let answer: serde_json::Value = serde_json::from_str(&text).context("the search answer is not JSON")?;
        Ok((ms, hit_scores(&answer)?))
    }
}
