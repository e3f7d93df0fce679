//! Measuring child processes and the machine: a command's wall time, CPU time and peak
//! resident memory (run under GNU `time`, which reports the child's own `getrusage`), the page
//! cache, disk usage and load. (A running process's figures come from `trove_bench::procfs`.)

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// GNU time, which reports a child's rusage.
const GNU_TIME: &str = "/usr/bin/time";

/// What one finished command cost.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Timed {
    /// Wall time from spawn to exit, seconds.
    pub wall_s: f64,
    /// User CPU time, seconds.
    pub user_s: f64,
    /// System CPU time, seconds.
    pub sys_s: f64,
    /// Peak resident memory, MB.
    pub max_rss_mb: f64,
    /// What it printed on stdout.
    #[serde(skip)]
    pub stdout: String,
}

impl Timed {
    /// CPU time over wall time (1.0 is one core busy throughout).
    pub fn cpu_share(&self) -> f64 {
        (self.user_s + self.sys_s) / self.wall_s.max(1e-9)
    }
}

/// Checks that GNU time is there.
pub fn check_tools() -> Result<()> {
    if !Path::new(GNU_TIME).exists() {
        bail!(
            "{GNU_TIME} is missing: install GNU time (`apt-get install time`), which reports a child's CPU time and peak memory"
        );
    }
    Ok(())
}

/// Runs `cmd` under GNU time with `scratch` for its output files; fails when it runs longer
/// than `limit` (it is killed) or exits non-zero (with the end of its stderr).
pub fn run_timed(cmd: &Command, scratch: &Path, limit: Duration) -> Result<Timed> {
    std::fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let (rusage, out, err) = (scratch.join("rusage"), scratch.join("stdout"), scratch.join("stderr"));
    let mut wrapped = Command::new(GNU_TIME);
    wrapped.arg("-f").arg("%U %S %M").arg("-o").arg(&rusage).arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    // Its own process group, so that a kill on timeout reaches the measured command too.
    wrapped
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?)
        .stderr(std::fs::File::create(&err).with_context(|| format!("cannot create {}", err.display()))?);
    let what = format!("{} {}", cmd.get_program().to_string_lossy(), join_args(cmd));
    let started = Instant::now();
    let mut child = wrapped.spawn().with_context(|| format!("cannot run `{what}`"))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            bail!("`{what}` ran longer than {limit:?} and was killed");
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let wall_s = started.elapsed().as_secs_f64();
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    if !status.success() {
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        bail!(
            "`{what}` failed ({status}); the end of its stderr:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let figures =
        std::fs::read_to_string(&rusage).with_context(|| format!("GNU time wrote no {}", rusage.display()))?;
    let last = figures.lines().last().unwrap_or_default();
    let fields: Vec<f64> = last.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let [user_s, sys_s, max_rss_kb] = fields[..] else {
        bail!("unexpected GNU time output `{last}` for `{what}`");
    };
    Ok(Timed { wall_s, user_s, sys_s, max_rss_mb: max_rss_kb / 1024.0, stdout })
}

fn join_args(cmd: &Command) -> String {
    cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// Writes dirty pages and drops the page cache (`echo 3 > /proc/sys/vm/drop_caches`); false
/// when not permitted (not root, or a container that forbids it).
pub fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

/// Bytes of the files under `path` (recursively; their lengths).
pub fn dir_bytes(path: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_command_reports_its_figures_and_output() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hello; echo $SCALE_TEST"]).env("SCALE_TEST", "set");
        let t = run_timed(&cmd, dir.path(), Duration::from_secs(30)).unwrap();
        assert_eq!(t.stdout, "hello\nset\n");
        assert!(t.max_rss_mb > 0.0 && t.wall_s > 0.0, "{t:?}");
        let mut failing = Command::new("sh");
        failing.args(["-c", "echo oops >&2; exit 3"]);
        let e = run_timed(&failing, dir.path(), Duration::from_secs(30)).unwrap_err().to_string();
        assert!(e.contains("oops"), "{e}");
        let mut slow = Command::new("sleep");
        slow.arg("5");
        let e = run_timed(&slow, dir.path(), Duration::from_millis(100)).unwrap_err().to_string();
        assert!(e.contains("killed"), "{e}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
