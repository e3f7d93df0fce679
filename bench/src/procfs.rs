//! What `/proc` tells about a running process: CPU time (of the process, or of the calling
//! thread) and resident memory.

use std::process::Command;

use anyhow::{Context, Result};

/// A process's user + system CPU time in clock ticks; `proc` is a pid or `self`.
pub fn cpu_ticks(proc: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{proc}/stat"))
        .with_context(|| format!("cannot read /proc/{proc}/stat"))?;
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields.get(i).context("short /proc stat")?.parse::<u64>().context("malformed /proc stat")
    };
    // utime is field 14 and stime field 15 (1-based), i.e. 11 and 12 after the state field.
    Ok(field(11)? + field(12)?)
}

/// A process's user + system CPU time in seconds; `proc` is a pid or `self`.
pub fn cpu_seconds(proc: &str) -> Result<f64> {
    Ok(cpu_ticks(proc)? as f64 / clock_ticks_per_s())
}

/// A memory field of `/proc/PID/status` in MB: `VmRSS` (resident now), `VmHWM` (its peak).
pub fn status_mb(pid: u32, field: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    let kb: f64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).context("malformed /proc status")?;
    Ok(kb / 1024.0)
}

/// Resident memory in MB.
pub fn rss_mb(pid: u32) -> Result<f64> {
    status_mb(pid, "VmRSS")
}

/// The calling thread's time on a CPU, in nanoseconds (`/proc/thread-self/schedstat`): the
/// cost of a piece of work without the time it waited for a CPU on a busy machine. The kernel
/// brings it up to date at scheduler ticks and switches only, so it measures many short
/// pieces of work together (their mean), not one.
pub fn thread_cpu_ns() -> Result<u64> {
    let stat =
        std::fs::read_to_string("/proc/thread-self/schedstat").context("cannot read /proc/thread-self/schedstat")?;
    stat.split_whitespace().next().and_then(|v| v.parse().ok()).context("malformed /proc/thread-self/schedstat")
}

/// `getconf CLK_TCK`, or the usual 100.
pub fn clock_ticks_per_s() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_figures_are_read() {
        let pid = std::process::id();
        assert!(rss_mb(pid).unwrap() > 0.0);
        assert!(status_mb(pid, "VmHWM").unwrap() >= rss_mb(pid).unwrap() - 1.0);
        assert!(cpu_seconds("self").unwrap() >= 0.0);
        assert!(status_mb(pid, "VmNothing").is_err());
        assert!(clock_ticks_per_s() > 0.0);
    }

    #[test]
    fn a_threads_cpu_time_grows_with_its_work() {
        let before = thread_cpu_ns().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i * i));
        }
        assert!(thread_cpu_ns().unwrap() > before, "{x}");
    }
}
