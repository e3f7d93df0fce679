//! Configuration errors. Each variant carries enough to tell the user where the problem is
//! (file and line/column, or the key path, or the environment variable) and how to fix it.

use std::path::PathBuf;
use trove_types::{Code, HasCode};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No configuration file where one was expected.
    #[error(
        "no configuration file at {path}: run `trove init --workspace {dir}` to create a workspace there, or pass --workspace DIR / --config FILE",
        dir = path.parent().map(|p| p.display().to_string()).unwrap_or_else(|| ".".into())
    )]
    NotFound {
        /// Where we looked.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}; check the file's permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid YAML, or not the schema (unknown key, wrong type, missing field).
    #[error("{}{}: {message}{}", path.display(), location(*line, *column), key_suffix(key))]
    Schema {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// Dotted key path, when known.
        key: Option<String>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A `${VAR}` without a value and without a default.
    #[error(
        "{}:{line}:{column}: variable `{name}` is not set: set it in the environment or in {env_file}, or write `${{{name}:-default}}` to give a default",
        path.display(),
        env_file = env_file.display()
    )]
    MissingVariable {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column of the `$`.
        column: usize,
        /// The variable's name.
        name: String,
        /// The `.env` file that was consulted.
        env_file: PathBuf,
    },
    /// A `${` without its closing brace or with an invalid name.
    #[error("{}:{line}:{column}: {message}", path.display())]
    BadVariable {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A `TROVE__SECTION__KEY` override that does not fit the schema.
    #[error("environment variable {var}: {message}")]
    Override {
        /// The variable's name.
        var: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A path in the configuration does not exist or is of the wrong kind.
    #[error("{key}: {message} ({path}); {fix}", path = path.display())]
    BadPath {
        /// Dotted key path.
        key: String,
        /// The resolved path.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A value that parses but makes no sense (e.g. overlap larger than the chunk).
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted key path.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// `trove init` found an existing configuration.
    #[error(
        "{} already exists: edit it, or choose another --workspace; nothing was overwritten",
        path.display()
    )]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// `trove init` could not write a file.
    #[error("cannot write {path}: {source}", path = path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn key_suffix(key: &Option<String>) -> String {
    match key {
        Some(k) if !k.is_empty() && k != "." => format!(" (at key `{k}`)"),
        _ => String::new(),
    }
}

impl HasCode for ConfigError {
    fn code(&self) -> Code {
        match self {
            ConfigError::NotFound { .. } => Code::ConfigNotFound,
            ConfigError::Read { .. } => Code::ConfigNotFound,
            ConfigError::Schema { .. } => Code::ConfigInvalid,
            ConfigError::MissingVariable { .. } => Code::ConfigMissingVariable,
            ConfigError::BadVariable { .. } => Code::ConfigInvalid,
            ConfigError::Override { .. } => Code::ConfigInvalid,
            ConfigError::BadPath { .. } => Code::ConfigBadPath,
            ConfigError::Invalid { .. } => Code::ConfigInvalid,
            ConfigError::AlreadyExists { .. } => Code::WorkspaceExists,
            ConfigError::Write { .. } => Code::IoFailed,
        }
    }
}
