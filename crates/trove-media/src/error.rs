//! [`MediaError`]: what went wrong reading an image or running a media tool.

use trove_types::{Code, HasCode};

/// A media step that failed. Each message says what was wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The bytes do not decode as an image of a format this crate reads.
    #[error("the image cannot be decoded: {0}")]
    Unreadable(String),
    /// A program the step needs is not installed (or not at the configured path).
    #[error("`{program}` was not found ({reason}); install it ({install}) or set its path in the configuration")]
    ProgramMissing {
        /// The program as configured.
        program: String,
        /// What the operating system said.
        reason: String,
        /// How to install it (a Debian package).
        install: &'static str,
    },
    /// The program ran past its time limit and was killed.
    #[error("`{program}` took longer than {seconds} s and was stopped; raise `{key}` for large files")]
    TimedOut {
        /// The program.
        program: String,
        /// The limit.
        seconds: f64,
        /// The configuration key of the limit.
        key: &'static str,
    },
    /// The program ran but failed.
    #[error("`{program}` failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// The end of what it wrote to stderr.
        stderr: String,
    },
}

impl HasCode for MediaError {
    fn code(&self) -> Code {
        match self {
            MediaError::Unreadable(_) => Code::DocumentUnreadable,
            MediaError::ProgramMissing { .. } | MediaError::Failed { .. } => Code::DocumentUnreadable,
            MediaError::TimedOut { .. } => Code::Timeout,
        }
    }
}
