//! LanceDB, the reference: runs `bench/python/scale_lancedb.py` (in the virtualenv of
//! `scripts/bench-scale-venv`) on the chunks and vectors captured during Trove's ingest, one
//! new Python process per step so that "open + first query" is what a new process pays.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{Timed, run_timed};

/// Time limit of the table write and index builds together.
const BUILD_LIMIT: Duration = Duration::from_secs(6 * 3600);
/// Time limit of one first-query process.
const FIRST_LIMIT: Duration = Duration::from_secs(900);
/// Time limit of the warm measurements.
const WARM_LIMIT: Duration = Duration::from_secs(3 * 3600);

/// What `build` reports.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Build {
    /// LanceDB's version.
    pub version: String,
    /// Rows written.
    pub rows: u64,
    /// Seconds to write the table.
    pub write_s: f64,
    /// Seconds to build the full-text index.
    pub fts_index_s: f64,
    /// Seconds to build the IVF_HNSW_SQ index.
    pub vector_index_s: f64,
    /// Bytes of the database folder.
    pub disk_bytes: u64,
    /// The indexes as LanceDB lists them.
    pub indices: serde_json::Value,
}

/// What `first` reports, with the process's figures.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct First {
    /// Seconds of `import lancedb`.
    pub import_s: f64,
    /// Seconds of connect + open + the first query.
    pub open_query_s: f64,
    /// Rows the query returned.
    pub hits: u64,
    /// The whole process (Python's start and the import included), from GNU time.
    #[serde(default)]
    pub process: Option<Timed>,
}

/// One mode of `warm`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct WarmMode {
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Queries measured.
    pub samples: u64,
    /// Semantic modes: the row ids (capture rows) of each query's hits (first measured round).
    #[serde(default, skip_serializing)]
    pub ids: Vec<Vec<u64>>,
}

/// What `warm` reports.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Warm {
    /// `keyword`, `semantic_default` (LanceDB's default search settings), `semantic` and
    /// `hybrid` (at `nprobes` / `refine`).
    pub modes: std::collections::BTreeMap<String, WarmMode>,
    /// nprobes of the tuned settings.
    pub nprobes: u32,
    /// Refine factor of the tuned settings.
    pub refine: u32,
    /// Resident memory at the end, MB.
    pub rss_mb: f64,
    /// Peak resident memory, MB.
    pub peak_rss_mb: f64,
}

/// The Python and the script.
#[derive(Debug)]
pub struct Lance {
    python: PathBuf,
    script: PathBuf,
}

impl Lance {
    /// `python` or the virtualenv's (made on first use).
    pub fn new(python: Option<PathBuf>) -> Result<Lance> {
        let python = match python {
            Some(p) => p,
            None => venv_python()?,
        };
        Ok(Lance { python, script: Path::new(env!("CARGO_MANIFEST_DIR")).join("python/scale_lancedb.py") })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script).args(args).env("LANCE_LOG", "error").env("RUST_LOG", "error");
        cmd
    }

    /// Writes the table and builds its indexes.
    pub fn build(&self, db: &Path, capture: &Path, scratch: &Path) -> Result<Build> {
        let cmd = self.command(&["build", &path_str(db)?, &path_str(capture)?]);
        let t = run_timed(&cmd, scratch, BUILD_LIMIT).context("LanceDB build failed")?;
        serde_json::from_str(&t.stdout).with_context(|| format!("scale_lancedb.py build printed `{}`", t.stdout))
    }

    /// A new process's open + first query of `mode` with query `index`.
    pub fn first(
        &self,
        db: &Path,
        queries: &Path,
        mode: &str,
        index: usize,
        tuning: (u32, u32),
        scratch: &Path,
    ) -> Result<First> {
        let (nprobes, refine) = (tuning.0.to_string(), tuning.1.to_string());
        let cmd =
            self.command(&["first", &path_str(db)?, &path_str(queries)?, mode, &index.to_string(), &nprobes, &refine]);
        let t = run_timed(&cmd, scratch, FIRST_LIMIT).context("LanceDB first query failed")?;
        let mut first: First = serde_json::from_str(&t.stdout)
            .with_context(|| format!("scale_lancedb.py first printed `{}`", t.stdout))?;
        first.process = Some(t);
        Ok(first)
    }

    /// Warm latencies per mode and the semantic answers' row ids.
    pub fn warm(&self, db: &Path, queries: &Path, rounds: usize, tuning: (u32, u32), scratch: &Path) -> Result<Warm> {
        let (nprobes, refine) = (tuning.0.to_string(), tuning.1.to_string());
        let cmd = self.command(&["warm", &path_str(db)?, &path_str(queries)?, &rounds.to_string(), &nprobes, &refine]);
        let t = run_timed(&cmd, scratch, WARM_LIMIT).context("LanceDB warm queries failed")?;
        serde_json::from_str(&t.stdout).with_context(|| format!("scale_lancedb.py warm printed `{}`", t.stdout))
    }
}

fn path_str(p: &Path) -> Result<String> {
    p.to_str().map(str::to_string).with_context(|| format!("{} is not UTF-8", p.display()))
}

/// The Python of `scripts/bench-scale-venv`, installing the virtualenv on first use.
fn venv_python() -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench-scale-venv");
    let out = Command::new(&script).output().with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let python = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !python.exists() {
        bail!("{} printed {}, which does not exist", script.display(), python.display());
    }
    Ok(python)
}
