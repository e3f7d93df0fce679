//! A `trove serve` child process as the benchmarks run it: started on `127.0.0.1:0` with the
//! address read from its stderr (which a thread drains for the server's whole life, keeping
//! the last lines for error messages), stopped with SIGTERM and a grace period, killed when
//! dropped on an error path.

use std::collections::VecDeque;
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The line `trove serve` prints once it listens, before the address.
const LISTENING: &str = "trove: listening on http://";
/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 50;

/// A running `trove serve`.
#[derive(Debug)]
pub struct ServeProcess {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The last lines it wrote on stderr.
    log_tail: Arc<Mutex<VecDeque<String>>>,
}

impl ServeProcess {
    /// Spawns `cmd` (a `trove ... serve --bind 127.0.0.1:0` command) and waits up to `timeout`
    /// for the address it listens on.
    pub fn spawn(mut cmd: Command, timeout: Duration) -> Result<ServeProcess> {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", cmd.get_program().to_string_lossy()))?;
        let pid = child.id();
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the server's stderr is not captured");
        };
        let log_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let tail = log_tail.clone();
        // Drains stderr for the server's whole life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix(LISTENING) {
                    let _ = tx.send(a.trim().to_string());
                }
                if let Ok(mut t) = tail.lock() {
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        });
        let mut server = ServeProcess { child, pid, addr: SocketAddr::from(([127, 0, 0, 1], 0)), log_tail };
        let addr = rx
            .recv_timeout(timeout)
            .map_err(|_| anyhow::anyhow!("the server printed no address; its stderr:\n{}", server.log()))?;
        server.addr = addr.parse().with_context(|| format!("the server printed a bad address `{addr}`"))?;
        Ok(server)
    }

    /// The last lines of its stderr.
    pub fn log(&self) -> String {
        self.log_tail.lock().map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_some())
    }

    /// SIGTERM, then up to `grace` for a clean exit, then SIGKILL (an error).
    pub fn stop(&mut self, grace: Duration) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            bail!("the server had already exited; its stderr:\n{}", self.log());
        }
        let term = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        if term.is_ok_and(|s| s.success()) {
            let started = Instant::now();
            while started.elapsed() < grace {
                if let Some(status) = self.child.try_wait()? {
                    if !status.success() {
                        bail!("the server exited with {status} after SIGTERM; its stderr:\n{}", self.log());
                    }
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("the server did not stop within {grace:?} of SIGTERM and was killed")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_stderr_and_sigterm_stops_it() {
        let script = "trap 'exit 0' TERM; echo 'trove: listening on http://127.0.0.1:4321' >&2; \
                      while :; do sleep 0.05; done";
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        let mut p = ServeProcess::spawn(cmd, Duration::from_secs(10)).unwrap();
        assert_eq!(p.addr, "127.0.0.1:4321".parse().unwrap());
        assert!(!p.exited().unwrap());
        p.stop(Duration::from_secs(10)).unwrap();
        assert!(p.exited().unwrap());
        // A process that dies of SIGTERM did not exit cleanly.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'trove: listening on http://127.0.0.1:4321' >&2; exec sleep 30"]);
        let mut p = ServeProcess::spawn(cmd, Duration::from_secs(10)).unwrap();
        let e = p.stop(Duration::from_secs(10)).unwrap_err().to_string();
        assert!(e.contains("after SIGTERM") && e.contains("listening"), "{e}");
    }

    #[test]
    fn a_server_that_prints_no_address_is_an_error_with_its_log() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'config error: bad key' >&2"]);
        let e = ServeProcess::spawn(cmd, Duration::from_secs(10)).unwrap_err().to_string();
        assert!(e.contains("no address") && e.contains("bad key"), "{e}");
    }
}
