//! The `trove` binary: parses the command line, sets up logging, runs one command and turns
//! its error into a message on stderr and the exit code of the shared error table.
//!
//! Layout: [`cli`] declares the commands and flags; [`commands`] runs each one against the
//! engine; [`output`] renders results for people and for `--json`; [`progress`] draws the
//! ingest progress bar or writes plain progress lines when stderr is not a terminal; [`serve`]
//! runs the HTTP server of `trove-server` until SIGINT or SIGTERM.

mod admin;
mod cli;
mod commands;
mod doctor;
mod migrate;
mod output;
mod progress;
mod serve;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use trove_types::{Code, ErrorBody, HasCode};

/// An error on its way out of the process: its message and its code.
#[derive(Debug)]
pub struct Failure {
    message: String,
    code: Code,
}

impl<E: HasCode + std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure { message: e.to_string(), code: e.code() }
    }
}

impl Failure {
    /// A failure with an explicit code.
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code }
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json_errors = cli.wants_json();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let info = f.code.info();
            let mut stderr = std::io::stderr().lock();
            if json_errors {
                let body = ErrorBody {
                    message: f.message.clone(),
                    code: info.name.to_string(),
                    kind: info.kind.as_str().to_string(),
                    link: f.code.link(),
                };
                let _ = writeln!(stderr, "{}", serde_json::to_string(&body).unwrap_or_default());
            } else {
                let _ = writeln!(stderr, "error: {}\n  code: {} ({})", f.message, info.name, f.code.link());
            }
            ExitCode::from(info.exit_code.clamp(2, 255) as u8)
        }
    }
}
