//! Running the `trove` binary from integration tests: a command on a workspace that ignores the
//! caller's `TROVE_WORKSPACE` and `TROVE_CONFIG` and reads nothing from stdin, and the output of
//! one that must succeed.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `trove --workspace ROOT ARGS`, not yet started.
pub fn trove(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trove"));
    c.arg("--workspace").arg(root).args(args);
    c.env_remove("TROVE_WORKSPACE").env_remove("TROVE_CONFIG");
    c.stdin(Stdio::null());
    c
}

/// The stdout of `out`, which must have succeeded; `what` names the command when it did not.
pub fn succeeded(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
