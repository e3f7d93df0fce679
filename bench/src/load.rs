//! HTTP load benchmark: starts the real `trove serve` binary as a child process on a workspace
//! holding SciFact documents (read from `../shared/data/scifact`, never copied into the
//! project), then drives it with C concurrent keep-alive HTTP/1.1 clients for each workload
//! (keyword search, hybrid search, memory store, memory retrieve; on request memory retrieve
//! in keyword mode, which leaves out the model and isolates the store's keyword search of
//! memories) and concurrency level. For each run it prints requests/s, latency percentiles,
//! errors (non-2xx, timeouts, I/O failures), and the server process's CPU use and resident
//! memory read from `/proc`; then the server's idle RSS once the model is loaded, and the
//! targets with PASS/MISS. It prints figures and asserts nothing. Client and server share the
//! machine's cores, so the figures are a floor for the server alone.
//!
//! Run: `cargo build --release -p trove --bin trove && cargo run --release -p trove-bench --bin
//! load -- [--trove target/release/trove] [--docs N] [--work DIR] [--reuse] [--seconds S]
//! [--concurrency 1,4,16,64] [--workloads search-keyword,search-hybrid,memory-store,memory-retrieve]`
//! (add `memory-keyword` to the list for keyword-only memory retrieval).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use trove_bench::procfs::{clock_ticks_per_s, cpu_ticks, rss_mb};
use trove_bench::serve::ServeProcess;
use trove_bench::{CorpusDoc, Query, read_jsonl, write_corpus};

/// Every network exchange (connect, write, read the whole answer) must finish within this.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to print its address and then to answer `/ready`.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// The vault `trove init` creates.
const VAULT: &str = "default";
/// Where the SciFact documents go: under the folder of the init template's `docs` source.
const CORPUS_SUBDIR: &str = "docs/scifact";

/// Options.
#[derive(Debug, Parser)]
struct Args {
    /// The `trove` binary to serve with (build it with `cargo build --release -p trove`).
    #[arg(long, default_value = "target/release/trove")]
    trove: PathBuf,
    /// The SciFact folder (corpus.jsonl, queries.jsonl).
    #[arg(long, default_value = "../shared/data/scifact")]
    data: PathBuf,
    /// Scratch workspace (deleted and rebuilt unless --reuse).
    #[arg(long, default_value = "target/bench-load")]
    work: PathBuf,
    /// SciFact documents to ingest.
    #[arg(long, default_value_t = 1000)]
    docs: usize,
    /// Reuse an existing workspace in --work instead of rebuilding and ingesting it.
    #[arg(long)]
    reuse: bool,
    /// Measured seconds per workload and concurrency level.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Unmeasured warm-up seconds before each measurement.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Concurrent clients (one connection each), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    concurrency: Vec<usize>,
    /// Workloads to run, in this order, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "search-keyword,search-hybrid,memory-store,memory-retrieve")]
    workloads: Vec<Workload>,
    /// Worker threads of the load generator's runtime (1–2 leaves the server most cores).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// The server's log level (`info` logs every request, which costs the server CPU).
    #[arg(long, default_value = "warn")]
    server_log_level: String,
}

/// What the clients ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Workload {
    SearchKeyword,
    SearchHybrid,
    MemoryStore,
    MemoryRetrieve,
    /// Memory retrieve in keyword mode: no embedding, only the store's keyword search.
    MemoryKeyword,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::SearchKeyword => "search-keyword",
            Workload::SearchHybrid => "search-hybrid",
            Workload::MemoryStore => "memory-store",
            Workload::MemoryRetrieve => "memory-retrieve",
            Workload::MemoryKeyword => "memory-keyword",
        }
    }
}

/// The measurements of one workload at one concurrency level.
#[derive(Debug)]
struct Row {
    workload: Workload,
    concurrency: usize,
    requests: usize,
    errors: usize,
    req_per_s: f64,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    cpu_percent: f64,
    client_cpu_percent: f64,
    rss_mb: f64,
    first_error: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency: give positive numbers, e.g. 1,4,16,64");
    }
    if !args.data.join("corpus.jsonl").exists() {
        bail!("{} has no corpus.jsonl: pass --data DIR pointing at BEIR SciFact", args.data.display());
    }
    if !args.trove.exists() {
        bail!(
            "{} does not exist: run `cargo build --release -p trove --bin trove` or pass --trove",
            args.trove.display()
        );
    }
    prepare_workspace(&args)?;
    let queries = read_queries(&args.data.join("queries.jsonl"))?;
    let sentences = read_sentences(&args.data.join("corpus.jsonl"), 5000)?;
    if queries.is_empty() || sentences.is_empty() {
        bail!("no queries or sentences read from {}", args.data.display());
    }

    let mut server = Server::start(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the load generator's runtime")?;
    let result = runtime.block_on(run_all(&args, &server, &queries, &sentences));
    let stopped = server.stop();
    let report = result?;
    if let Err(e) = stopped {
        eprintln!("warning: {e:#}");
    }
    print_report(&args, &report)
}

/// Everything the report prints.
#[derive(Debug)]
struct Report {
    idle_rss_mb: f64,
    documents: u64,
    chunks: u64,
    memories_after: u64,
    rows: Vec<Row>,
}

/// Waits for readiness, records the idle RSS, then runs every workload at every level.
async fn run_all(args: &Args, server: &Server, queries: &[String], sentences: &[String]) -> Result<Report> {
    wait_ready(server).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss_mb = rss_mb(server.pid)?;
    eprintln!("server ready at {} (pid {}), idle RSS {idle_rss_mb:.1} MB", server.addr, server.pid);
    let vault = get_json(server.addr, &format!("/v1/vaults/{VAULT}")).await?;
    let count = |v: &serde_json::Value, key: &str| v[key].as_u64().unwrap_or(0);
    let tick = clock_ticks_per_s();
    let mut rows = Vec::new();
    for &workload in &args.workloads {
        let requests = Arc::new(build_requests(workload, server.addr, queries, sentences));
        for &c in &args.concurrency {
            eprintln!("running {} with {c} clients for {:.1} s", workload.name(), args.warmup + args.seconds);
            let row = run_one(args, server, workload, c, requests.clone(), tick).await?;
            if let Some(e) = &row.first_error {
                eprintln!("  {} errors; first: {e}", row.errors);
            }
            rows.push(row);
        }
    }
    let stats = get_json(server.addr, &format!("/v1/vaults/{VAULT}/memories/stats")).await?;
    Ok(Report {
        idle_rss_mb,
        documents: count(&vault, "documents"),
        chunks: count(&vault, "chunks"),
        memories_after: count(&stats, "total"),
        rows,
    })
}

/// `GET path`, which must answer 2xx with JSON.
async fn get_json(addr: SocketAddr, path: &str) -> Result<serde_json::Value> {
    let mut client = Client::new(addr);
    let status = client.send(format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).await?;
    if !(200..300).contains(&status) {
        bail!("GET {path}: status {status}: {}", String::from_utf8_lossy(&client.last_body));
    }
    serde_json::from_slice(&client.last_body).with_context(|| format!("GET {path}: the answer is not JSON"))
}

// ---------------------------------------------------------------------------------------------
// Workspace preparation.

/// `trove init`, the SciFact documents into the default source's folder, `trove ingest`.
fn prepare_workspace(args: &Args) -> Result<()> {
    let exists = args.work.join("config.yaml").exists() && args.work.join(".trove").exists();
    if args.reuse && exists {
        eprintln!("reusing the workspace in {}", args.work.display());
        return Ok(());
    }
    if args.work.exists() {
        std::fs::remove_dir_all(&args.work).with_context(|| format!("cannot remove {}", args.work.display()))?;
    }
    run_trove(args, &["init"])?;
    let dir = args.work.join(CORPUS_SUBDIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let n = write_corpus(&args.data.join("corpus.jsonl"), &dir, Some(args.docs))?;
    eprintln!("wrote {n} SciFact documents to {}; ingesting (about 20 chunks/s)", dir.display());
    let started = Instant::now();
    run_trove(args, &["ingest"])?;
    eprintln!("ingest took {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A `trove` command with the workspace, its output inherited; fails unless it exits 0.
fn run_trove(args: &Args, command: &[&str]) -> Result<()> {
    let status = trove_command(args)
        .args(command)
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", args.trove.display()))?;
    if !status.success() {
        bail!("`trove {}` failed: {status}", command.join(" "));
    }
    Ok(())
}

fn trove_command(args: &Args) -> Command {
    let mut cmd = Command::new(&args.trove);
    cmd.arg("--workspace")
        .arg(&args.work)
        .env_remove("TROVE_WORKSPACE")
        .env_remove("TROVE_CONFIG")
        .env_remove("TROVE_BIND")
        .env("TROVE__LOG__LEVEL", &args.server_log_level)
        .stdin(Stdio::null());
    cmd
}

fn read_queries(path: &Path) -> Result<Vec<String>> {
    Ok(read_jsonl::<Query>(path)?.into_iter().map(|q| q.text).collect())
}

/// Sentences of SciFact abstracts, as memory texts: up to `limit`, 40 to 400 characters each.
fn read_sentences(path: &Path, limit: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for doc in read_jsonl::<CorpusDoc>(path)? {
        for s in doc.text.split(". ") {
            let s = s.trim();
            if (40..=400).contains(&s.len()) {
                out.push(format!("{}.", s.trim_end_matches('.')));
            }
            if out.len() >= limit {
                return Ok(out);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The server process.

/// The `trove serve` child; killed when dropped (error paths), stopped with SIGTERM by `stop`.
struct Server {
    process: ServeProcess,
    pid: u32,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &Args) -> Result<Server> {
        let mut cmd = trove_command(args);
        cmd.args(["serve", "--bind", "127.0.0.1:0"]);
        let process = ServeProcess::spawn(cmd, START_TIMEOUT)?;
        Ok(Server { pid: process.pid, addr: process.addr, process })
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// SIGTERM, then up to 20 s for a graceful exit, then SIGKILL.
    fn stop(&mut self) -> Result<()> {
        self.process.stop(Duration::from_secs(20))
    }
}

/// Polls `GET /ready` until it answers 200.
async fn wait_ready(server: &Server) -> Result<()> {
    let request = format!("GET /ready HTTP/1.1\r\nhost: {}\r\n\r\n", server.addr).into_bytes();
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < START_TIMEOUT {
        let mut client = Client::new(server.addr);
        match client.send(&request).await {
            Ok(200) => return Ok(()),
            Ok(status) => last = format!("status {status}"),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("/ready did not answer 200 within {START_TIMEOUT:?} (last: {last}); server stderr:\n{}", server.log())
}

// ---------------------------------------------------------------------------------------------
// Load generation.

/// Complete HTTP requests for a workload, rotating through queries or sentences.
fn build_requests(workload: Workload, addr: SocketAddr, queries: &[String], sentences: &[String]) -> Vec<Vec<u8>> {
    let search = format!("/v1/vaults/{VAULT}/search");
    let memories = format!("/v1/vaults/{VAULT}/memories");
    let retrieve = format!("/v1/vaults/{VAULT}/memories/retrieve");
    let post = |path: &str, body: serde_json::Value| {
        let body = body.to_string();
        format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    match workload {
        Workload::SearchKeyword | Workload::SearchHybrid => {
            let mode = if workload == Workload::SearchKeyword { "keyword" } else { "hybrid" };
            queries.iter().map(|q| post(&search, serde_json::json!({"query": q, "mode": mode, "limit": 10}))).collect()
        }
        Workload::MemoryStore => sentences
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let body = serde_json::json!({
                    "text": s,
                    "user_id": format!("u{}", k % 16),
                    "tags": ["bench", format!("topic{}", k % 8)],
                });
                post(&memories, body)
            })
            .collect(),
        Workload::MemoryRetrieve => {
            queries.iter().map(|q| post(&retrieve, serde_json::json!({"query": q, "limit": 10}))).collect()
        }
        Workload::MemoryKeyword => queries
            .iter()
            .map(|q| post(&retrieve, serde_json::json!({"query": q, "limit": 10, "mode": "keyword"})))
            .collect(),
    }
}

/// What one client task saw during the measured window.
#[derive(Debug, Default)]
struct TaskResult {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    last_done: Option<Instant>,
}

/// One workload at one concurrency level: warm-up, then the measured window.
async fn run_one(
    args: &Args,
    server: &Server,
    workload: Workload,
    concurrency: usize,
    requests: Arc<Vec<Vec<u8>>>,
    tick: f64,
) -> Result<Row> {
    let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup.max(0.0));
    let measure_to = measure_from + Duration::from_secs_f64(args.seconds.max(0.1));
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let requests = requests.clone();
            // Spread the clients over the request list so they do not ask the same thing.
            let start = i * requests.len() / concurrency;
            tokio::spawn(client_task(server.addr, requests, start, measure_from, measure_to))
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let pid = server.pid.to_string();
    let (cpu_before, client_before) = (cpu_ticks(&pid)?, cpu_ticks("self")?);
    let mut total = TaskResult::default();
    for t in tasks {
        let r = t.await.context("a client task panicked")?;
        total.latencies.extend(r.latencies);
        total.errors += r.errors;
        total.first_error = total.first_error.or(r.first_error);
        total.last_done = total.last_done.max(r.last_done);
    }
    let (cpu_after, client_after) = (cpu_ticks(&pid)?, cpu_ticks("self")?);
    let elapsed = total.last_done.unwrap_or(measure_to).max(measure_to).duration_since(measure_from).as_secs_f64();
    let mut lat = total.latencies;
    lat.sort_unstable();
    Ok(Row {
        workload,
        concurrency,
        requests: lat.len(),
        errors: total.errors,
        req_per_s: lat.len() as f64 / elapsed,
        p50: percentile(&lat, 0.50),
        p90: percentile(&lat, 0.90),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or_default(),
        cpu_percent: 100.0 * cpu_after.saturating_sub(cpu_before) as f64 / tick / elapsed,
        client_cpu_percent: 100.0 * client_after.saturating_sub(client_before) as f64 / tick / elapsed,
        rss_mb: rss_mb(server.pid)?,
        first_error: total.first_error,
    })
}

/// Sends requests back to back on one connection until `to`; records those started in `from..to`.
async fn client_task(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    start: usize,
    from: Instant,
    to: Instant,
) -> TaskResult {
    let mut client = Client::new(addr);
    let mut result = TaskResult::default();
    let mut i = start;
    loop {
        let began = Instant::now();
        if began >= to {
            break;
        }
        let request = &requests[i % requests.len()];
        i += 1;
        let outcome = client.send(request).await;
        let done = Instant::now();
        if began < from {
            continue;
        }
        result.last_done = Some(done);
        let error = match outcome {
            Ok(status) if (200..300).contains(&status) => None,
            Ok(status) => {
                let body = String::from_utf8_lossy(&client.last_body);
                Some(format!("status {status}: {}", body.chars().take(300).collect::<String>()))
            }
            Err(e) => Some(format!("{e:#}")),
        };
        match error {
            None => result.latencies.push(done - began),
            Some(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(e);
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    result
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one keep-alive connection, reopened after an error.

struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    /// The body of the last answer (kept for error messages).
    last_body: Vec<u8>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None, last_body: Vec::new() }
    }

    /// Sends one complete request and reads the whole answer; returns its status.
    async fn send(&mut self, request: &[u8]) -> Result<u16> {
        match tokio::time::timeout(TIMEOUT, self.exchange(request)).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                bail!("no complete answer within {TIMEOUT:?}")
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<u16> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.addr).await.context("connect")?;
            stream.set_nodelay(true)?;
            self.conn = Some(BufReader::new(stream));
        }
        let Some(conn) = self.conn.as_mut() else { bail!("no connection") };
        conn.get_mut().write_all(request).await.context("write")?;
        let head = read_head(conn).await?;
        self.last_body.clear();
        if head.chunked {
            read_chunked(conn, &mut self.last_body).await?;
        } else {
            self.last_body.resize(head.content_length, 0);
            conn.read_exact(&mut self.last_body).await.context("read body")?;
        }
        if head.close {
            self.conn = None;
        }
        Ok(head.status)
    }
}

/// What matters of a response head.
struct Head {
    status: u16,
    content_length: usize,
    chunked: bool,
    close: bool,
}

async fn read_line(conn: &mut BufReader<TcpStream>, line: &mut String) -> Result<()> {
    line.clear();
    if conn.read_line(line).await.context("read")? == 0 {
        bail!("the server closed the connection");
    }
    Ok(())
}

async fn read_head(conn: &mut BufReader<TcpStream>) -> Result<Head> {
    let mut line = String::new();
    read_line(conn, &mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("malformed status line `{}`", line.trim_end()))?;
    let mut head = Head { status, content_length: 0, chunked: false, close: false };
    loop {
        read_line(conn, &mut line).await?;
        let header = line.trim_end();
        if header.is_empty() {
            return Ok(head);
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.parse().with_context(|| format!("bad content-length `{value}`"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        }
    }
}

async fn read_chunked(conn: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> Result<()> {
    let mut line = String::new();
    loop {
        read_line(conn, &mut line).await?;
        let size = line.trim_end().split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).with_context(|| format!("bad chunk size `{size}`"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                read_line(conn, &mut line).await?;
                if line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        let at = body.len();
        body.resize(at + size, 0);
        conn.read_exact(&mut body[at..]).await.context("read chunk")?;
        read_line(conn, &mut line).await?;
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_report(args: &Args, report: &Report) -> Result<()> {
    let (idle_rss_mb, rows) = (report.idle_rss_mb, &report.rows);
    let mut out = std::io::stdout().lock();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    writeln!(
        out,
        "\n## HTTP load (vault `{VAULT}`: {} documents, {} chunks; {} s per run after {} s warm-up)\n",
        report.documents, report.chunks, args.seconds, args.warmup
    )?;
    writeln!(
        out,
        "Note: the load generator ({} runtime thread(s)) and the server share this machine's {cores} core(s); \
         server CPU % is of one core and may exceed 100.\n",
        args.client_threads
    )?;
    writeln!(
        out,
        "| workload | concurrency | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU % | server RSS MB | client CPU % |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")?;
    for r in rows {
        writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.1} | {:.0} |",
            r.workload.name(),
            r.concurrency,
            r.requests,
            r.req_per_s,
            ms(r.p50),
            ms(r.p90),
            ms(r.p99),
            ms(r.max),
            r.errors,
            r.cpu_percent,
            r.rss_mb,
            r.client_cpu_percent
        )?;
    }
    writeln!(out, "\nMemories in the vault at the end: {}", report.memories_after)?;
    writeln!(out, "\nIdle server RSS (ready, model loaded): {idle_rss_mb:.1} MB\n")?;
    writeln!(out, "## Targets\n")?;
    for line in targets(idle_rss_mb, rows) {
        writeln!(out, "- {line}")?;
    }
    Ok(())
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn targets(idle_rss_mb: f64, rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    let best = rows
        .iter()
        .filter(|r| r.workload == Workload::SearchKeyword)
        .max_by(|a, b| a.req_per_s.total_cmp(&b.req_per_s));
    lines.push(match best {
        Some(r) => format!(
            "{}: keyword search ≥ 2,000 req/s at the best concurrency: {:.0} req/s at {} clients",
            verdict(r.req_per_s >= 2000.0 && r.errors == 0),
            r.req_per_s,
            r.concurrency
        ),
        None => "not measured: keyword search ≥ 2,000 req/s (search-keyword was not run)".to_string(),
    });
    let retrieve = rows.iter().find(|r| r.workload == Workload::MemoryRetrieve && r.concurrency == 16);
    lines.push(match retrieve {
        Some(r) => format!(
            "{}: memory-retrieve p99 < 50 ms at 16 clients: {:.1} ms",
            verdict(r.p99 < Duration::from_millis(50) && r.errors == 0),
            ms(r.p99)
        ),
        None => "not measured: memory-retrieve p99 < 50 ms at 16 clients (run memory-retrieve at 16)".to_string(),
    });
    lines.push(format!("{}: idle RSS < 300 MB: {idle_rss_mb:.1} MB", verdict(idle_rss_mb < 300.0)));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        assert_eq!(percentile(&v[..1], 0.01), Duration::from_millis(1));
    }
}
