//! The `trove` binary: parses the command line, sets up logging, runs one command and turns
//! its error (or clap's refusal of the command line, a usage error) into a message on stderr,
//! or a JSON error body when the command asked for JSON, and the exit code of the shared
//! error table.
//!
//! Layout: [`cli`] declares the commands and flags; [`commands`] runs each one against the
//! engine; [`output`] renders results for people and for `--json`; [`progress`] draws the
//! ingest progress bar or writes plain progress lines when stderr is not a terminal; [`serve`]
//! runs the HTTP server of `trove-server` until SIGINT or SIGTERM; [`reference`](mod@reference) decides where
//! error links point; [`jobs`] is `trove jobs` and `trove dlq`, on the workspace or through
//! [`remote`], the client of a running server (`--url`); [`schema`] is `trove status --schema`.

mod admin;
mod ask;
mod cli;
mod commands;
mod doctor;
mod eval;
mod jobs;
mod manual;
mod migrate;
mod output;
mod progress;
mod reference;
mod remote;
mod schema;
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
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return refused(e),
    };
    let output = cli.error_output();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(&f, output),
    }
}

/// A command line clap refused. Help and version requests print as clap prints them and
/// succeed; a usage error (unknown flag or value, missing argument, ...) exits with the usage
/// code of the table, its message as JSON when the command line asked for JSON.
fn refused(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match cli::Cli::refused_error_output(&args) {
        cli::ErrorOutput::Text => {
            let _ = e.print();
            exit_code(Code::BadRequest)
        }
        output => {
            // clap's text on one line, "error: " dropped: what was wrong, the values or usage
            // it expects, and where to read more.
            let text = e.render().to_string();
            let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let message = lines.join("; ").trim_start_matches("error: ").to_string();
            report(&Failure::new(Code::BadRequest, message), output)
        }
    }
}

/// The process exit code of an error code, from the table (0 and 1 are never errors).
fn exit_code(code: Code) -> ExitCode {
    ExitCode::from(code.info().exit_code.clamp(2, 255) as u8)
}

/// Prints a failure as the command line asked (text on stderr, or a JSON error body) and
/// returns its exit code from the table.
fn report(f: &Failure, output: cli::ErrorOutput) -> ExitCode {
    let body = ErrorBody::new(f.code, f.message.clone(), &reference::errors_reference());
    let json = || serde_json::to_string(&body).unwrap_or_default();
    let _ = match output {
        cli::ErrorOutput::Text => {
            writeln!(std::io::stderr().lock(), "error: {}\n  code: {} ({})", body.message, body.code, body.link)
        }
        cli::ErrorOutput::JsonStderr => writeln!(std::io::stderr().lock(), "{}", json()),
        cli::ErrorOutput::JsonStdout => writeln!(std::io::stdout().lock(), "{}", json()),
    };
    exit_code(f.code)
}
