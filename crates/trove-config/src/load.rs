//! Finding and loading a workspace: the config file, its `.env`, variable substitution,
//! schema parsing with located errors, environment overrides and validation.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::vars::{self, Vars};
use crate::{Config, ConfigError, SourceConfig};

/// The configuration file's name inside a workspace.
pub const CONFIG_FILE: &str = "config.yaml";
/// The variables file's name inside a workspace.
pub const ENV_FILE: &str = ".env";
/// Prefix of override variables: `TROVE__SEARCH__DEFAULT_LIMIT=20`.
const OVERRIDE_PREFIX: &str = "TROVE__";

/// A loaded, validated workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace folder (relative paths in the config are resolved against it).
    pub root: PathBuf,
    /// The config file that was read.
    pub config_path: PathBuf,
    /// The effective configuration (substituted, overridden, paths resolved to absolute).
    pub config: Config,
}

impl Workspace {
    /// Loads a workspace from `--workspace DIR` or `--config FILE` (the file wins); with
    /// neither, the current folder.
    pub fn load(workspace: Option<&Path>, config_file: Option<&Path>) -> Result<Workspace, ConfigError> {
        let (root, config_path) = locate(workspace, config_file);
        let env_file = root.join(ENV_FILE);
        let vars = Vars::load(&env_file)?;
        Self::load_with(&root, &config_path, &vars)
    }

    /// Loads with explicit variables instead of the process environment and `.env`.
    pub fn load_with(root: &Path, config_path: &Path, vars: &Vars) -> Result<Workspace, ConfigError> {
        let text = match std::fs::read_to_string(config_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::NotFound { path: config_path.to_path_buf() });
            }
            Err(source) => return Err(ConfigError::Read { path: config_path.to_path_buf(), source }),
        };
        let env_file = root.join(ENV_FILE);
        let text = vars::substitute(&text, vars, config_path, &env_file)?;
        let mut config = parse(&text, config_path)?;
        let overrides: Vec<(&str, &str)> = vars.with_prefix(OVERRIDE_PREFIX).collect();
        if !overrides.is_empty() {
            config = apply_overrides(&text, config_path, &overrides)?;
        }
        resolve_paths(&mut config, root);
        validate(&config)?;
        Ok(Workspace { root: root.to_path_buf(), config_path: config_path.to_path_buf(), config })
    }

    /// The embedded store's folder.
    pub fn data_dir(&self) -> &Path {
        &self.config.storage.data_dir
    }
}

/// Where the workspace and its config file are.
fn locate(workspace: Option<&Path>, config_file: Option<&Path>) -> (PathBuf, PathBuf) {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match (config_file, workspace) {
        (Some(file), _) => {
            let file = absolute(&cwd, file);
            let root = file.parent().map(Path::to_path_buf).unwrap_or(cwd);
            (root, file)
        }
        (None, Some(dir)) => {
            let root = absolute(&cwd, dir);
            let file = root.join(CONFIG_FILE);
            (root, file)
        }
        (None, None) => (cwd.clone(), cwd.join(CONFIG_FILE)),
    }
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

/// Parses YAML text into the schema, with line/column and key path on errors.
fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let loc = inner.location();
        ConfigError::Schema {
            path: path.to_path_buf(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            key: Some(key),
            message: explain(&inner.to_string()),
        }
    })
}

/// Adds the fix to serde's messages, and drops the location serde_yaml appends (we print our own).
fn explain(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    // serde_yaml prefixes the key path, which we print separately.
    const PHRASES: [&str; 4] = ["unknown field", "invalid type", "unknown variant", "missing field"];
    let message = PHRASES.iter().filter_map(|p| message.find(p)).min().map(|i| &message[i..]).unwrap_or(message);
    let fix = if message.starts_with("unknown field") {
        "; remove the key or correct its spelling"
    } else if message.starts_with("invalid type") {
        "; give a value of the expected type"
    } else if message.starts_with("unknown variant") {
        "; use one of the listed values"
    } else if message.starts_with("missing field") {
        "; add the field"
    } else {
        ""
    };
    format!("{message}{fix}")
}

/// Applies `TROVE__A__B=value` overrides to the parsed text and parses again.
fn apply_overrides(text: &str, path: &Path, overrides: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut root: Value = if text.trim().is_empty() {
        Value::Mapping(Default::default())
    } else {
        serde_yaml::from_str(text).map_err(|e| ConfigError::Schema {
            path: path.to_path_buf(),
            line: e.location().map(|l| l.line()),
            column: e.location().map(|l| l.column()),
            key: None,
            message: explain(&e.to_string()),
        })?
    };
    if root.is_null() {
        root = Value::Mapping(Default::default());
    }
    for (var, raw) in overrides {
        let keys: Vec<String> = var[OVERRIDE_PREFIX.len()..].split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(String::is_empty) {
            return Err(ConfigError::Override {
                var: var.to_string(),
                message: "empty key segment: write TROVE__SECTION__KEY with double underscores between keys".into(),
            });
        }
        let value: Value = serde_yaml::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        let mut node = &mut root;
        for (i, key) in keys.iter().enumerate() {
            let Value::Mapping(map) = node else {
                return Err(ConfigError::Override {
                    var: var.to_string(),
                    message: format!("`{}` is not a section that has keys", keys[..i].join(".")),
                });
            };
            let k = Value::String(key.clone());
            if i + 1 == keys.len() {
                map.insert(k, value.clone());
                break;
            }
            node = map.entry(k).or_insert_with(|| Value::Mapping(Default::default()));
        }
    }
    serde_path_to_error::deserialize::<_, Config>(root).map_err(|e| {
        let key = e.path().to_string();
        let var = overrides
            .iter()
            .map(|(v, _)| *v)
            .find(|v| key.eq_ignore_ascii_case(&v[OVERRIDE_PREFIX.len()..].replace("__", ".")))
            .or_else(|| {
                overrides.iter().map(|(v, _)| *v).find(|v| {
                    let dotted = v[OVERRIDE_PREFIX.len()..].replace("__", ".").to_ascii_lowercase();
                    dotted.starts_with(&key) || key.starts_with(&dotted)
                })
            })
            .unwrap_or("TROVE__*");
        ConfigError::Override {
            var: var.to_string(),
            message: format!("{} (at key `{key}`)", explain(&e.into_inner().to_string())),
        }
    })
}

fn resolve_paths(config: &mut Config, root: &Path) {
    config.storage.data_dir = absolute(root, &config.storage.data_dir);
    if let Some(dir) = &config.embedder.model_dir {
        config.embedder.model_dir = Some(absolute(root, dir));
    }
    if let Some(dir) = &config.embedder.clip.model_dir {
        config.embedder.clip.model_dir = Some(absolute(root, dir));
    }
    for llm in
        std::iter::once(&mut config.llm).chain(config.embedders.values_mut()).chain(config.chat_models.values_mut())
    {
        if let Some(ca) = &llm.tls.ca_file {
            llm.tls.ca_file = Some(absolute(root, ca));
        }
    }
    if let Some(ca) = config.mail.smtp.as_mut().and_then(|s| s.ca_file.as_mut()) {
        *ca = absolute(root, ca);
    }
    if let Some(ca) = config.storage.postgres.as_mut().and_then(|p| p.ca_file.as_mut()) {
        *ca = absolute(root, ca);
    }
    for vault in config.vaults.values_mut() {
        for source in vault.sources.values_mut() {
            match source {
                SourceConfig::Localfile(lf) => lf.path = absolute(root, &lf.path),
                SourceConfig::Git(g) => {
                    if !is_remote_repo(&g.repo) {
                        g.repo = absolute(root, Path::new(&g.repo)).display().to_string();
                    }
                    for p in [&mut g.ssh_key, &mut g.ca_file].into_iter().flatten() {
                        *p = absolute(root, p);
                    }
                }
                SourceConfig::Confluence(c) => {
                    if let Some(p) = &mut c.ca_file {
                        *p = absolute(root, p);
                    }
                }
                SourceConfig::Jira(j) => {
                    if let Some(p) = &mut j.ca_file {
                        *p = absolute(root, p);
                    }
                }
                SourceConfig::Publicdocs(d) => {
                    if let Some(p) = &mut d.ca_file {
                        *p = absolute(root, p);
                    }
                }
            }
        }
    }
}

/// Whether a git source's `repo` names a remote (a URL or `user@host:path`) rather than a
/// local folder.
pub fn is_remote_repo(repo: &str) -> bool {
    if repo.contains("://") {
        return true;
    }
    match (repo.find(':'), repo.find('/')) {
        (Some(colon), slash) => colon > 1 && slash.is_none_or(|s| colon < s),
        _ => false,
    }
}

/// `vaults.<v>.embedder` naming the built-in model.
pub const EMBEDDER_BUILTIN: &str = "builtin";
/// `vaults.<v>.embedder` naming the `llm:` section.
pub const EMBEDDER_LLM: &str = "llm";

/// The source name of documents uploaded over HTTP (reserved in configurations).
pub const UPLOAD_SOURCE: &str = "uploads";

/// Whether `name` is a valid vault or source name: lowercase letters, digits, `-` and `_`,
/// 1 to 64 characters. Names are used in URLs, file names and CLI flags.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A REST embedder's section (`llm:` or `embedders.<name>:`), checked when something uses it.
fn validate_llm(llm: &crate::LlmConfig, at: &str) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: String| {
        Err(ConfigError::Invalid { key: format!("{at}.{}", key.strip_prefix("llm.").unwrap_or(key)), message })
    };
    if llm.models.embeddings.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return invalid(
            "llm.models.embeddings",
            "is required: the embeddings model, e.g. text-embedding-3-small (Azure: the deployment name)".into(),
        );
    }
    match llm.embeddings.vector_size {
        None | Some(0) => {
            return invalid(
                "llm.embeddings.vector_size",
                "is required: the dimension the model returns, e.g. 1536 for text-embedding-3-small".into(),
            );
        }
        Some(n) if n > 65_536 => return invalid("llm.embeddings.vector_size", "must be at most 65536".into()),
        _ => {}
    }
    if llm.embeddings.batch_size == 0 || llm.embeddings.batch_size > 2048 {
        return invalid("llm.embeddings.batch_size", "must be between 1 and 2048".into());
    }
    if llm.embeddings.max_input_tokens < 16 {
        return invalid("llm.embeddings.max_input_tokens", "must be at least 16".into());
    }
    validate_llm_api(llm, at)
}

/// A chat model's section (`llm:` when it answers, or `chat_models.<name>:`).
fn validate_chat(llm: &crate::LlmConfig, at: &str) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: String| {
        Err(ConfigError::Invalid { key: format!("{at}.{}", key.strip_prefix("llm.").unwrap_or(key)), message })
    };
    if llm.models.chat.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return invalid(
            "llm.models.chat",
            "is required: the chat model, e.g. gpt-4o-mini, llama3.1 (Azure: the deployment name)".into(),
        );
    }
    let c = &llm.chat;
    if c.context_tokens < 256 || c.context_tokens > 10_000_000 {
        return invalid("llm.chat.context_tokens", "must be between 256 and 10000000".into());
    }
    if c.max_output_tokens == 0 || c.max_output_tokens > 1_000_000 {
        return invalid("llm.chat.max_output_tokens", "must be between 1 and 1000000".into());
    }
    if c.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return invalid("llm.chat.temperature", "must be between 0 and 2".into());
    }
    if !(c.generation_timeout_s > 0.0 && c.generation_timeout_s <= 3600.0) {
        return invalid("llm.chat.generation_timeout_s", "must be more than 0 and at most 3600".into());
    }
    validate_llm_api(llm, at)
}

/// The media models of `llm:` (`models.vision`, `models.transcription`), when set.
fn validate_media(llm: &crate::LlmConfig) -> Result<(), ConfigError> {
    let invalid =
        |key: &str, message: &str| Err(ConfigError::Invalid { key: format!("llm.{key}"), message: message.into() });
    let named = |m: &Option<String>| m.as_deref().is_some_and(|m| !m.trim().is_empty());
    for (key, model) in [("models.vision", &llm.models.vision), ("models.transcription", &llm.models.transcription)] {
        if model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return invalid(key, "is empty: name the model, or remove the key");
        }
    }
    if named(&llm.models.vision) {
        let v = &llm.vision;
        if v.max_output_tokens == 0 || v.max_output_tokens > 100_000 {
            return invalid("vision.max_output_tokens", "must be between 1 and 100000");
        }
        if !(v.timeout_s > 0.0 && v.timeout_s <= 3600.0) {
            return invalid("vision.timeout_s", "must be more than 0 and at most 3600");
        }
        if v.max_image_bytes < 1024 {
            return invalid("vision.max_image_bytes", "must be at least 1024");
        }
        if v.prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return invalid("vision.prompt", "is empty: write the question asked about each image, or remove the key");
        }
    }
    if named(&llm.models.transcription) {
        let t = &llm.transcription;
        let seconds = |s: f64| s > 0.0 && s <= 86_400.0;
        if !seconds(t.base_timeout_s) || !seconds(t.unknown_length_timeout_s) {
            return invalid(
                "transcription.base_timeout_s",
                "and unknown_length_timeout_s must be more than 0 and at most 86400",
            );
        }
        if !(t.seconds_per_audio_second >= 0.0 && t.seconds_per_audio_second <= 100.0) {
            return invalid("transcription.seconds_per_audio_second", "must be between 0 and 100");
        }
        if t.max_audio_bytes < 1024 {
            return invalid("transcription.max_audio_bytes", "must be at least 1024");
        }
        if t.language
            .as_deref()
            .is_some_and(|l| l.len() < 2 || l.len() > 3 || !l.chars().all(|c| c.is_ascii_lowercase()))
        {
            return invalid("transcription.language", "must be an ISO 639-1 code such as `en` or `de`");
        }
    }
    if named(&llm.models.vision) || named(&llm.models.transcription) {
        validate_llm_api(llm, "llm")?;
    }
    Ok(())
}

/// `embedder.clip:` as written (its folder's files are checked where the model is used).
fn validate_clip(clip: &crate::ClipConfig) -> Result<(), ConfigError> {
    let invalid =
        |key: &str, message: String| Err(ConfigError::Invalid { key: format!("embedder.clip.{key}"), message });
    if let Some(url) = &clip.url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return invalid("url", format!("`{url}` is not an http:// or https:// URL"));
    }
    if let Some(sha) = &clip.sha256
        && !(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return invalid("sha256", "must be 64 hexadecimal digits (the SHA-256 of model.safetensors)".into());
    }
    if let Some(dir) = &clip.model_dir
        && dir.exists()
        && !dir.is_dir()
    {
        return Err(ConfigError::BadPath {
            key: "embedder.clip.model_dir".into(),
            path: dir.clone(),
            message: "not a folder".into(),
            fix: "name the folder that holds (or will hold) the CLIP model's files".into(),
        });
    }
    Ok(())
}

/// The chat model `answers.chat_model` names (or implies): `llm`, a name under
/// `chat_models:`, or `None` when none is configured.
pub fn chat_model_name(config: &Config) -> Option<String> {
    match &config.answers.chat_model {
        Some(name) => Some(name.clone()),
        None if config.llm.models.chat.is_some() => Some(EMBEDDER_LLM.to_string()),
        None if config.chat_models.len() == 1 => config.chat_models.keys().next().cloned(),
        None => None,
    }
}

/// What every `llm:`-shaped section needs, embedding or chatting: its URL, time limits,
/// retries, rate limits and CA file.
fn validate_llm_api(llm: &crate::LlmConfig, at: &str) -> Result<(), ConfigError> {
    use crate::LlmProvider;
    let invalid = |key: &str, message: String| {
        Err(ConfigError::Invalid { key: format!("{at}.{}", key.strip_prefix("llm.").unwrap_or(key)), message })
    };
    match &llm.base_url {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            return invalid("llm.base_url", format!("`{url}` is not an http:// or https:// URL"));
        }
        None if matches!(llm.provider, LlmProvider::AzureOpenai | LlmProvider::Custom) => {
            return invalid(
                "llm.base_url",
                "is required for this provider: e.g. https://NAME.openai.azure.com (Azure) or \
                 http://localhost:8080/v1 (an OpenAI-compatible server)"
                    .into(),
            );
        }
        _ => {}
    }
    let r = &llm.request;
    if !(r.timeout_s > 0.0 && r.timeout_s <= 3600.0) {
        return invalid("llm.request.timeout_s", "must be more than 0 and at most 3600".into());
    }
    if r.max_retries > 100 {
        return invalid("llm.request.max_retries", "must be at most 100".into());
    }
    if !(r.backoff_min_s >= 0.0 && r.backoff_max_s >= r.backoff_min_s && r.backoff_max_s <= 3600.0) {
        return invalid(
            "llm.request.backoff_min_s",
            "must be at least 0 and at most llm.request.backoff_max_s (itself at most 3600)".into(),
        );
    }
    if llm.rate_limits.concurrency == 0 {
        return invalid("llm.rate_limits.concurrency", "must be at least 1".into());
    }
    if let Some(ca) = &llm.tls.ca_file
        && !ca.is_file()
    {
        return Err(ConfigError::BadPath {
            key: format!("{at}.tls.ca_file"),
            path: ca.clone(),
            message: "not a file".into(),
            fix: "point it at a PEM file of CA certificates (trusted in addition to the built-in roots), or remove it"
                .into(),
        });
    }
    Ok(())
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let invalid = |key: String, message: String| Err(ConfigError::Invalid { key, message });
    let wait = config.storage.write_wait_s;
    if !(wait.is_finite() && wait > 0.0 && wait <= 600.0) {
        return invalid(
            "storage.write_wait_s".into(),
            format!("must be a number of seconds above 0 and at most 600 (it is {wait})"),
        );
    }
    match (config.storage.backend, &config.storage.postgres) {
        (crate::StorageBackend::Postgres, None) => {
            return invalid(
                "storage.postgres".into(),
                "`backend: postgres` needs a `postgres:` section with `url: postgres://USER:PASSWORD@HOST:PORT/DATABASE`".into(),
            );
        }
        (_, Some(pg)) => {
            if !(pg.url.starts_with("postgres://") || pg.url.starts_with("postgresql://")) {
                return invalid(
                    "storage.postgres.url".into(),
                    "must be a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE".into(),
                );
            }
            existing_file("storage.postgres.ca_file".into(), pg.ca_file.as_ref())?;
            if pg.pool_size == 0 {
                return invalid("storage.postgres.pool_size".into(), "must be at least 1".into());
            }
            for (key, value) in [
                ("connect_timeout_s", pg.connect_timeout_s),
                ("statement_timeout_s", pg.statement_timeout_s),
                ("acquire_timeout_s", pg.acquire_timeout_s),
            ] {
                if !(value.is_finite() && value > 0.0 && value <= 3600.0) {
                    return invalid(
                        format!("storage.postgres.{key}"),
                        format!("must be a number of seconds above 0 and at most 3600 (it is {value})"),
                    );
                }
            }
        }
        _ => {}
    }
    if let Some(q) = &config.storage.qdrant {
        if config.storage.backend != crate::StorageBackend::Postgres {
            return invalid(
                "storage.qdrant".into(),
                "Qdrant indexes vectors beside PostgreSQL, which keeps everything else: set storage.backend: postgres (and storage.postgres.url), or remove storage.qdrant".into(),
            );
        }
        if !(q.url.starts_with("http://") || q.url.starts_with("https://")) {
            return invalid(
                "storage.qdrant.url".into(),
                format!("`{}` must be Qdrant's REST address, e.g. http://qdrant:6333", q.url),
            );
        }
        if !(q.timeout_s.is_finite() && q.timeout_s > 0.0 && q.timeout_s <= 3600.0) {
            return invalid(
                "storage.qdrant.timeout_s".into(),
                format!("must be a number of seconds above 0 and at most 3600 (it is {})", q.timeout_s),
            );
        }
        if q.max_retries > 20 {
            return invalid("storage.qdrant.max_retries".into(), "must be at most 20".into());
        }
        let p = &q.collection_prefix;
        if p.is_empty() || p.len() > 64 || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return invalid(
                "storage.qdrant.collection_prefix".into(),
                "use 1 to 64 letters, digits, `_` and `-` (default `trove_`)".into(),
            );
        }
    }
    if let Some(jwt) = &config.auth.jwt {
        if jwt.secret.len() < 32 {
            return invalid(
                "auth.jwt.secret".into(),
                format!(
                    "must be at least 32 bytes (it has {}): generate one with `openssl rand -base64 48` and pass it as ${{TROVE_JWT_SECRET}}",
                    jwt.secret.len()
                ),
            );
        }
        if jwt.max_ttl_s == 0 {
            return invalid("auth.jwt.max_ttl_s".into(), "must be at least 1".into());
        }
    }
    let kek =
        [("auth.key_encryption_secret".to_string(), config.auth.key_encryption_secret.as_deref())].into_iter().chain(
            config
                .auth
                .previous_key_encryption_secrets
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("auth.previous_key_encryption_secrets[{i}]"), Some(s.as_str()))),
        );
    for (key, secret) in kek {
        if let Some(secret) = secret
            && secret.len() < 32
        {
            return invalid(
                key,
                format!(
                    "key encryption secret must be at least 32 bytes (it has {}): generate one with `openssl rand -base64 48` and pass it as ${{TROVE_KEY_ENCRYPTION_SECRET}}",
                    secret.len()
                ),
            );
        }
    }
    for used in config.secret_uses() {
        if config.auth.key_encryption_secret.is_none() {
            return invalid(
                used.key,
                format!(
                    "`{}` is a stored secret, which needs auth.key_encryption_secret (at least 32 bytes) to be read: set it, or put the value in .env and write ${{VAR}}",
                    used.reference
                ),
            );
        }
        if used.vault.is_none() && used.reference.organization.is_none() {
            return invalid(
                used.key,
                format!(
                    "`{}` names no organization, and outside `vaults:` there is no vault to take it from: write `${{secret:ORG/{}}}`",
                    used.reference, used.reference.name
                ),
            );
        }
    }
    if let Some(url) = &config.auth.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return invalid("auth.public_url".into(), format!("`{url}` must start with https:// (or http://)"));
    }
    match (&config.mail.transport, &config.mail.smtp) {
        (crate::MailTransport::Smtp, None) => {
            return invalid(
                "mail.smtp".into(),
                "mail.transport is smtp: give mail.smtp.host (and port, username, password)".into(),
            );
        }
        (_, Some(smtp)) if smtp.host.trim().is_empty() => {
            return invalid("mail.smtp.host".into(), "name the SMTP server, e.g. smtp.example.com".into());
        }
        (_, Some(smtp)) => existing_file("mail.smtp.ca_file".into(), smtp.ca_file.as_ref())?,
        _ => {}
    }
    if !config.mail.from.contains('@') || config.mail.from.contains(['\r', '\n']) {
        return invalid("mail.from".into(), "an address such as `Trove <trove@example.com>`".into());
    }
    if config.embedder.batch_size == 0 || config.embedder.batch_size > 1024 {
        return invalid("embedder.batch_size".into(), "must be between 1 and 1024".into());
    }
    if config.search.default_limit == 0 || config.search.default_limit > 1000 {
        return invalid("search.default_limit".into(), "must be between 1 and 1000".into());
    }
    if config.search.rrf_k.is_nan() || config.search.rrf_k <= 0.0 {
        return invalid("search.rrf_k".into(), "must be a positive number (60 is customary)".into());
    }
    if config.ingest.group_chunks == 0 || config.ingest.group_chunks > 100_000 {
        return invalid("ingest.group_chunks".into(), "must be between 1 and 100000".into());
    }
    // 0 means no limit for both sizes; otherwise a document must be allowed to unpack to at
    // least its own size.
    let ingest = &config.ingest;
    if ingest.max_unpacked_bytes != 0
        && (ingest.max_file_bytes == 0 || ingest.max_unpacked_bytes < ingest.max_file_bytes)
    {
        return invalid(
            "ingest.max_unpacked_bytes".into(),
            format!(
                "must be 0 (no limit) or at least ingest.max_file_bytes ({}, where 0 is no limit): a document unpacks to at least its size",
                ingest.max_file_bytes
            ),
        );
    }
    if config.ingest.convert_timeout_s == 0 || config.ingest.convert_timeout_s > 3600 {
        return invalid("ingest.convert_timeout_s".into(), "must be between 1 and 3600".into());
    }
    if !(1..=100_000).contains(&config.vectors.ann.ef) {
        return invalid("vectors.ann.ef".into(), "must be between 1 and 100000 (256 is the default)".into());
    }
    if config.search.candidates == 0 {
        return invalid("search.candidates".into(), "must be at least 1".into());
    }
    if config.server.bind.parse::<std::net::SocketAddr>().is_err() {
        return invalid(
            "server.bind".into(),
            format!("`{}` is not an address and port: write e.g. 127.0.0.1:7700 or 0.0.0.0:7700", config.server.bind),
        );
    }
    if config.server.request_timeout_s == 0 || config.server.request_timeout_s > 3600 {
        return invalid("server.request_timeout_s".into(), "must be between 1 and 3600".into());
    }
    if config.server.max_body_bytes < 1024 {
        return invalid("server.max_body_bytes".into(), "must be at least 1024".into());
    }
    if config.server.max_upload_bytes < 1024 {
        return invalid("server.max_upload_bytes".into(), "must be at least 1024".into());
    }
    let j = &config.jobs;
    if j.workers == 0 || j.workers > 64 {
        return invalid("jobs.workers".into(), "must be between 1 and 64".into());
    }
    if j.max_attempts == 0 || j.max_attempts > 100 {
        return invalid("jobs.max_attempts".into(), "must be between 1 and 100".into());
    }
    if j.timeout_s == 0 || j.timeout_s > 7 * 86_400 {
        return invalid("jobs.timeout_s".into(), "must be between 1 and 604800 (a week)".into());
    }
    if j.lease_s < 3 || j.lease_s > 3600 {
        return invalid("jobs.lease_s".into(), "must be between 3 and 3600".into());
    }
    if j.backoff_base_ms == 0 || j.backoff_max_s == 0 || j.backoff_base_ms > j.backoff_max_s * 1000 {
        return invalid(
            "jobs.backoff_base_ms".into(),
            "must be at least 1 and at most jobs.backoff_max_s (which must be at least 1)".into(),
        );
    }
    if config.server.shutdown_grace_s > 3600 {
        return invalid("server.shutdown_grace_s".into(), "must be at most 3600".into());
    }
    if let Err(e) = config.log.level.parse::<LevelCheck>() {
        return invalid("log.level".into(), e);
    }
    if let Some(dir) = &config.embedder.model_dir
        && !dir.is_dir()
    {
        return Err(ConfigError::BadPath {
            key: "embedder.model_dir".into(),
            path: dir.clone(),
            message: "not a folder".into(),
            fix:
                "install the model with `trove model install`, or remove embedder.model_dir to use the default location"
                    .into(),
        });
    }
    if config.llm_in_use() {
        validate_llm(&config.llm, "llm")?;
    }
    validate_media(&config.llm)?;
    validate_clip(&config.embedder.clip)?;
    for (name, llm) in &config.embedders {
        if !valid_name(name) || name == EMBEDDER_BUILTIN || name == EMBEDDER_LLM {
            return invalid(
                format!("embedders.{name}"),
                format!(
                    "embedder names use lowercase letters, digits, `-` and `_` (at most 64), and are not `{EMBEDDER_BUILTIN}` or `{EMBEDDER_LLM}`"
                ),
            );
        }
        validate_llm(llm, &format!("embedders.{name}"))?;
    }
    for (name, llm) in &config.chat_models {
        if !valid_name(name) || name == EMBEDDER_LLM {
            return invalid(
                format!("chat_models.{name}"),
                format!(
                    "chat model names use lowercase letters, digits, `-` and `_` (at most 64), and are not `{EMBEDDER_LLM}`"
                ),
            );
        }
        validate_chat(llm, &format!("chat_models.{name}"))?;
    }
    match chat_model_name(config) {
        Some(name) if name == EMBEDDER_LLM => validate_chat(&config.llm, "llm")?,
        Some(name) if !config.chat_models.contains_key(&name) => {
            let mut known = vec![EMBEDDER_LLM.to_string()];
            known.extend(config.chat_models.keys().cloned());
            return invalid(
                "answers.chat_model".into(),
                format!(
                    "`{name}` is not a chat model; use one of: {} (add others under `chat_models:`)",
                    known.join(", ")
                ),
            );
        }
        _ => {}
    }
    if config.answers.chunks == 0 || config.answers.chunks > 100 {
        return invalid("answers.chunks".into(), "must be between 1 and 100".into());
    }
    for (vname, vault) in &config.vaults {
        if !valid_name(vname) {
            return invalid(
                format!("vaults.{vname}"),
                "vault names use lowercase letters, digits, `-` and `_` (at most 64)".into(),
            );
        }
        if let Some(e) = &vault.embedder
            && e != EMBEDDER_BUILTIN
            && e != EMBEDDER_LLM
            && !config.embedders.contains_key(e)
        {
            let mut known = vec![EMBEDDER_BUILTIN.to_string(), EMBEDDER_LLM.to_string()];
            known.extend(config.embedders.keys().cloned());
            return invalid(
                format!("vaults.{vname}.embedder"),
                format!("`{e}` is not an embedder; use one of: {} (add others under `embedders:`)", known.join(", ")),
            );
        }
        let c = &vault.chunking;
        if c.max_tokens < 16 || c.max_tokens > 8192 {
            return invalid(format!("vaults.{vname}.chunking.max_tokens"), "must be between 16 and 8192".into());
        }
        if c.overlap_tokens >= c.max_tokens / 2 {
            return invalid(
                format!("vaults.{vname}.chunking.overlap_tokens"),
                format!("must be less than half of max_tokens ({})", c.max_tokens),
            );
        }
        for (sname, source) in &vault.sources {
            if !valid_name(sname) {
                return invalid(
                    format!("vaults.{vname}.sources.{sname}"),
                    "source names use lowercase letters, digits, `-` and `_` (at most 64)".into(),
                );
            }
            if sname == UPLOAD_SOURCE {
                return invalid(
                    format!("vaults.{vname}.sources.{sname}"),
                    format!("`{UPLOAD_SOURCE}` is reserved for documents uploaded over HTTP; choose another name"),
                );
            }
            match source {
                SourceConfig::Git(g) => {
                    let key = format!("vaults.{vname}.sources.{sname}");
                    if g.repo.trim().is_empty() {
                        return invalid(format!("{key}.repo"), "name a local repository folder or a remote URL".into());
                    }
                    if !is_remote_repo(&g.repo) && !Path::new(&g.repo).is_dir() {
                        return Err(ConfigError::BadPath {
                            key: format!("{key}.repo"),
                            path: PathBuf::from(&g.repo),
                            message: "is neither a folder nor a remote URL".into(),
                            fix: "point `repo` at a local clone, or use an https://, ssh:// or git@host: URL".into(),
                        });
                    }
                    if g.branch.as_deref().is_some_and(|b| b.trim().is_empty() || b.starts_with('-')) {
                        return invalid(format!("{key}.branch"), "a branch name such as `main`".into());
                    }
                    if g.timeout_s == 0 {
                        return invalid(format!("{key}.timeout_s"), "at least 1 second".into());
                    }
                    for (name, path) in [("ssh_key", &g.ssh_key), ("ca_file", &g.ca_file)] {
                        existing_file(format!("{key}.{name}"), path.as_ref())?;
                    }
                }
                SourceConfig::Confluence(c) => {
                    let key = format!("vaults.{vname}.sources.{sname}");
                    validate_remote(&key, &c.site())?;
                    if !valid_key(&c.space) {
                        return invalid(
                            format!("{key}.space"),
                            "a space key such as ENG (letters, digits, `_`, `-`, `~` for a personal space)".into(),
                        );
                    }
                    if let Some(l) = c.include_labels.iter().chain(&c.exclude_labels).find(|l| l.trim().is_empty()) {
                        return invalid(format!("{key}.include_labels"), format!("`{l}` is not a label name"));
                    }
                    if !c.attachments && !c.attachment_types.is_empty() {
                        return invalid(
                            format!("{key}.attachment_types"),
                            "has no effect without `attachments: true`: turn attachments on, or remove it".into(),
                        );
                    }
                    let not_an_extension = |t: &&String| {
                        let t = t.trim().trim_start_matches('.');
                        t.is_empty() || !t.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
                    };
                    if let Some(t) = c.attachment_types.iter().find(not_an_extension) {
                        return invalid(
                            format!("{key}.attachment_types"),
                            format!("`{t}` is not a file extension: list extensions such as pdf, docx, txt"),
                        );
                    }
                }
                SourceConfig::Jira(j) => {
                    let key = format!("vaults.{vname}.sources.{sname}");
                    validate_remote(&key, &j.site())?;
                    match (&j.project, &j.jql) {
                        (Some(p), None) if !valid_key(p) => {
                            return invalid(format!("{key}.project"), "a project key such as OPS".into());
                        }
                        (None, Some(q)) if q.trim().is_empty() => {
                            return invalid(format!("{key}.jql"), "a JQL query such as `project = OPS`".into());
                        }
                        (Some(_), None) | (None, Some(_)) => {}
                        _ => {
                            return invalid(
                                format!("{key}.project"),
                                "set exactly one of `project` (a project key such as OPS) and `jql` (a query)".into(),
                            );
                        }
                    }
                }
                SourceConfig::Publicdocs(d) => validate_publicdocs(&format!("vaults.{vname}.sources.{sname}"), d)?,
                SourceConfig::Localfile(lf) => {
                    let key = format!("vaults.{vname}.sources.{sname}.path");
                    if !lf.path.exists() {
                        return Err(ConfigError::BadPath {
                            key,
                            path: lf.path.clone(),
                            message: "folder does not exist".into(),
                            fix: "create it or correct the path (relative paths start at the workspace folder)".into(),
                        });
                    }
                    if !lf.path.is_dir() {
                        return Err(ConfigError::BadPath {
                            key,
                            path: lf.path.clone(),
                            message: "is a file, not a folder".into(),
                            fix: "point `path` at the folder that holds the documents and use `include` to pick files"
                                .into(),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// The site, the credentials its deployment needs, the time limit and the CA file.
fn validate_remote(key: &str, r: &crate::AtlassianSite<'_>) -> Result<(), ConfigError> {
    let invalid = |name: &str, message: String| Err(ConfigError::Invalid { key: format!("{key}.{name}"), message });
    let url = r.base_url.trim();
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if host.is_none_or(|h| h.trim_matches('/').is_empty()) {
        return invalid(
            "base_url",
            format!("`{url}` is not an http:// or https:// URL: e.g. https://SITE.atlassian.net (Cloud)"),
        );
    }
    let missing = |v: Option<&str>| v.is_none_or(|v| v.trim().is_empty());
    match r.deployment {
        crate::AtlassianDeployment::Cloud => {
            if missing(r.email) {
                return invalid("email", "is required on Cloud: the email of the Atlassian account".into());
            }
            if missing(r.api_token) {
                return invalid(
                    "api_token",
                    "is required on Cloud: an API token of the account (id.atlassian.com > Security > API tokens),                      e.g. ${ATLASSIAN_API_TOKEN}"
                        .into(),
                );
            }
        }
        crate::AtlassianDeployment::Datacenter => {
            if missing(r.token) {
                return invalid(
                    "token",
                    "is required on Data Center: a personal access token (Profile > Personal Access Tokens),                      e.g. ${ATLASSIAN_TOKEN}"
                        .into(),
                );
            }
        }
    }
    if r.timeout_s == 0 || r.timeout_s > 3600 {
        return invalid("timeout_s", "between 1 and 3600 seconds".into());
    }
    existing_file(format!("{key}.ca_file"), r.ca_file)?;
    Ok(())
}

/// A `publicdocs` source: an http(s) base URL with a host, limits, selectors, time limit, CA file.
fn validate_publicdocs(key: &str, d: &crate::PublicDocsConfig) -> Result<(), ConfigError> {
    let invalid = |name: &str, message: String| Err(ConfigError::Invalid { key: format!("{key}.{name}"), message });
    let url = d.base_url.trim();
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if host.is_none_or(|h| h.split(['/', '?', '#']).next().unwrap_or("").is_empty())
        || url.contains(char::is_whitespace)
    {
        return invalid(
            "base_url",
            format!("`{url}` is not an http:// or https:// URL: e.g. https://docs.example.com/guide/"),
        );
    }
    if d.max_depth > 100 {
        return invalid("max_depth", "at most 100 links from the base page".into());
    }
    if d.max_pages == 0 || d.max_pages > 1_000_000 {
        return invalid("max_pages", "between 1 and 1000000".into());
    }
    if d.content_selector.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return invalid("content_selector", "a CSS selector such as `main, article`, or leave it out".into());
    }
    if let Some(s) = d.drop_selectors.iter().find(|s| s.trim().is_empty()) {
        return invalid("drop_selectors", format!("`{s}` is not a CSS selector: e.g. [nav, footer, .sidebar]"));
    }
    if let Some(p) = d.include.iter().chain(&d.exclude).find(|p| p.trim().is_empty()) {
        return invalid("include", format!("`{p}` is not a path glob or prefix such as `guide/**`"));
    }
    if d.user_agent.as_deref().is_some_and(|a| a.trim().is_empty() || a.contains(['\r', '\n'])) {
        return invalid("user_agent", "a product token such as `trove-docs/1.0`".into());
    }
    if d.timeout_s == 0 || d.timeout_s > 3600 {
        return invalid("timeout_s", "between 1 and 3600 seconds".into());
    }
    existing_file(format!("{key}.ca_file"), d.ca_file.as_ref())?;
    Ok(())
}

/// A path the configuration names that must be an existing file (when given).
fn existing_file(key: String, path: Option<&PathBuf>) -> Result<(), ConfigError> {
    match path {
        Some(p) if !p.is_file() => Err(ConfigError::BadPath {
            key,
            path: p.clone(),
            message: "file does not exist".into(),
            fix: "correct the path (relative paths start at the workspace folder)".into(),
        }),
        _ => Ok(()),
    }
}

/// Whether `key` looks like a Confluence space or JIRA project key.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 255
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '~'))
}

/// Accepts a level name or a tracing filter directive such as `info,trove_store=debug`.
struct LevelCheck;

impl std::str::FromStr for LevelCheck {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
        for part in s.split(',') {
            let level = part.rsplit('=').next().unwrap_or("").trim().to_ascii_lowercase();
            if !LEVELS.contains(&level.as_str()) {
                return Err(format!(
                    "`{s}` is not a log level: use error, warn, info, debug or trace (optionally `target=level` pairs)"
                ));
            }
        }
        Ok(LevelCheck)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn git_remotes_are_told_from_local_folders() {
        for r in ["https://github.com/a/b.git", "git@github.com:a/b.git", "ssh://git@h/a", "file:///tmp/x"] {
            assert!(is_remote_repo(r), "{r}");
        }
        for r in ["/srv/repos/kb", "repos/kb", "./kb", "C:/repos/kb"] {
            assert!(!is_remote_repo(r), "{r}");
        }
    }

    use super::*;
    use crate::EmbedderPrecision;
    use crate::vars::Vars;

    struct Ws {
        dir: tempfile::TempDir,
    }

    impl Ws {
        fn new(config: &str) -> Ws {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("docs")).unwrap();
            std::fs::write(dir.path().join(CONFIG_FILE), config).unwrap();
            Ws { dir }
        }
        fn load(&self, vars: &[(&str, &str)]) -> Result<Workspace, ConfigError> {
            let vars = Vars::from_pairs(vars.iter().copied());
            Workspace::load_with(self.dir.path(), &self.dir.path().join(CONFIG_FILE), &vars)
        }
    }

    const GOOD: &str = "vaults:\n  default:\n    sources:\n      docs:\n        type: localfile\n        path: docs\n";

    #[test]
    fn media_models_and_clip_are_configured_and_checked() {
        let media = "llm:\n  provider: ollama\n  models: {vision: llava, transcription: whisper}\n  vision: {max_output_tokens: 100}\n  transcription: {language: en}\nembedder:\n  clip:\n    model_dir: models/clip\n    url: https://example.com/clip\n";
        let w = Ws::new(&format!("{GOOD}{media}")).load(&[]).unwrap();
        assert_eq!(w.config.llm.models.vision.as_deref(), Some("llava"));
        assert_eq!(w.config.llm.vision.max_output_tokens, 100);
        assert_eq!(w.config.llm.vision.timeout_s, 120.0);
        assert_eq!(w.config.llm.transcription.language.as_deref(), Some("en"));
        assert!(
            w.config.embedder.clip.model_dir.as_ref().is_some_and(|d| d.is_absolute()),
            "resolved against the workspace"
        );
        let cases = [
            ("llm:\n  models: {vision: ''}\n", "llm.models.vision"),
            ("llm:\n  provider: custom\n  models: {vision: llava}\n", "llm.base_url"),
            ("llm:\n  models: {vision: m}\n  vision: {timeout_s: 0}\n", "llm.vision.timeout_s"),
            (
                "llm:\n  models: {transcription: w}\n  transcription: {language: English}\n",
                "llm.transcription.language",
            ),
            (
                "llm:\n  models: {transcription: w}\n  transcription: {seconds_per_audio_second: -1}\n",
                "seconds_per_audio_second",
            ),
            ("embedder:\n  clip: {sha256: abc}\n", "embedder.clip.sha256"),
            ("embedder:\n  clip: {url: ftp://x}\n", "embedder.clip.url"),
            ("embedder:\n  clip: {model_dir: config.yaml}\n", "embedder.clip.model_dir"),
        ];
        for (yaml, key) in cases {
            let err = Ws::new(&format!("{GOOD}{yaml}")).load(&[]).unwrap_err().to_string();
            assert!(err.contains(key), "{yaml}: {err}");
        }
        // Unset, nothing about media is checked (vision settings out of range are inert).
        Ws::new(&format!("{GOOD}llm:\n  vision: {{timeout_s: 0}}\n")).load(&[]).unwrap();
    }

    #[test]
    fn chat_models_are_configured_in_llm_or_by_name_and_checked() {
        // `llm.models.chat` was refused as an unknown key; it now names the answering model,
        // and `llm` need not embed to answer.
        let w =
            Ws::new(&format!("{GOOD}llm:\n  provider: openai\n  models: {{chat: gpt-4o-mini}}\n")).load(&[]).unwrap();
        assert_eq!(w.config.llm.models.chat.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(chat_model_name(&w.config).as_deref(), Some("llm"));
        assert_eq!(w.config.llm.chat.context_tokens, 8192);
        // Named chat models, with a stored secret for the key; the only one is the default.
        let local = "auth:\n  key_encryption_secret: 0123456789abcdef0123456789abcdef\nchat_models:\n  local:\n    provider: custom\n    base_url: http://localhost:11434/v1\n    api_key: ${secret:acme/ollama}\n    models: {chat: llama3.1}\n    chat: {context_tokens: 4000, temperature: 0.2}\n";
        let w = Ws::new(&format!("{GOOD}{local}")).load(&[]).unwrap();
        assert_eq!(chat_model_name(&w.config).as_deref(), Some("local"));
        assert_eq!(w.config.chat_models["local"].chat.temperature, Some(0.2));
        assert!(w.config.secret_uses().iter().any(|u| u.key == "chat_models.local.api_key"));
        // Errors name the key and the fix.
        let err = Ws::new(&format!("{GOOD}chat_models:\n  local:\n    provider: ollama\n"))
            .load(&[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("chat_models.local.models.chat") && err.contains("is required"), "{err}");
        let err = Ws::new(&format!("{GOOD}{local}answers:\n  chat_model: remote\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("answers.chat_model") && err.contains("llm, local"), "{err}");
        let err = Ws::new(&format!("{GOOD}answers:\n  chat_model: llm\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("llm.models.chat"), "{err}");
        let bad = "llm:\n  models: {chat: m}\n  chat: {temperature: 3}\n";
        let err = Ws::new(&format!("{GOOD}{bad}")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("llm.chat.temperature"), "{err}");
        let err = Ws::new(&format!("{GOOD}answers:\n  chunks: 0\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("answers.chunks"), "{err}");
        let err = Ws::new(&format!("{GOOD}answers:\n  chat: x\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("chat"), "unknown keys are refused: {err}");
    }

    #[test]
    fn vaults_name_their_embedder_and_named_embedders_are_checked() {
        let remote = "embedders:\n  remote:\n    provider: ollama\n    models: {embeddings: nomic-embed-text}\n    embeddings: {vector_size: 768}\n";
        let ws = Ws::new(&format!("{GOOD}    embedder: remote\n{remote}"));
        let w = ws.load(&[]).unwrap();
        assert_eq!(w.config.vaults["default"].embedder.as_deref(), Some("remote"));
        assert_eq!(w.config.embedders["remote"].embeddings.vector_size, Some(768));

        let err = Ws::new(&format!("{GOOD}    embedder: missing\n{remote}")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("vaults.default.embedder") && err.contains("builtin, llm, remote"), "{err}");
        // A named embedder is checked whether or not a vault uses it, under its own path.
        let incomplete = "embedders:\n  remote:\n    provider: ollama\n    models: {embeddings: nomic-embed-text}\n";
        let err = Ws::new(&format!("{GOOD}{incomplete}")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("embedders.remote.embeddings.vector_size"), "{err}");
        // `llm` is checked when a vault names it, though the default embedder is the built-in.
        let err = Ws::new(&format!("{GOOD}    embedder: llm\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("llm.models.embeddings"), "{err}");
        let err = Ws::new(&format!("{GOOD}embedders:\n  builtin: {{}}\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("embedders.builtin"), "{err}");
    }

    #[test]
    fn embedder_precision_defaults_to_f32_and_refuses_unknown_values() {
        let w = Ws::new(GOOD).load(&[]).unwrap();
        assert_eq!(w.config.embedder.precision, EmbedderPrecision::F32);
        let w = Ws::new(&format!("{GOOD}embedder:\n  precision: int16\n")).load(&[]).unwrap();
        assert_eq!(w.config.embedder.precision, EmbedderPrecision::Int16);
        let w = Ws::new(GOOD).load(&[("TROVE__EMBEDDER__PRECISION", "int16")]).unwrap();
        assert_eq!(w.config.embedder.precision, EmbedderPrecision::Int16);
        let err = Ws::new(&format!("{GOOD}embedder:\n  precision: int4\n")).load(&[]).unwrap_err().to_string();
        assert!(
            err.contains("embedder.precision") && err.contains("int4") && err.contains("f32") && err.contains("int16"),
            "{err}"
        );
    }

    #[test]
    fn minimal_config_loads_with_defaults_and_absolute_paths() {
        let ws = Ws::new(GOOD);
        let w = ws.load(&[]).unwrap();
        assert_eq!(w.config.search.default_limit, 10);
        assert!(w.config.storage.data_dir.is_absolute());
        let SourceConfig::Localfile(lf) = &w.config.vaults["default"].sources["docs"] else { panic!("a localfile") };
        assert_eq!(lf.path, ws.dir.path().join("docs"));
    }

    #[test]
    fn git_sources_are_checked_and_local_repositories_made_absolute() {
        let git = |extra: &str| format!("vaults:\n  code:\n    sources:\n      repo:\n        type: git\n{extra}");
        let ws = Ws::new(&git("        repo: docs\n        branch: main\n        token: ${GIT_TOKEN}\n"));
        let w = ws.load(&[("GIT_TOKEN", "s3cret")]).unwrap();
        let SourceConfig::Git(g) = &w.config.vaults["code"].sources["repo"] else { panic!("a git source") };
        assert_eq!(g.repo, ws.dir.path().join("docs").display().to_string());
        assert_eq!((g.token.as_deref(), g.timeout_s), (Some("s3cret"), 300));
        assert!(!crate::redacted_yaml(&w.config).contains("s3cret"), "the token is never printed");

        let w = Ws::new(&git("        repo: https://github.com/acme/kb.git\n")).load(&[]).unwrap();
        let SourceConfig::Git(g) = &w.config.vaults["code"].sources["repo"] else { panic!("a git source") };
        assert_eq!(g.repo, "https://github.com/acme/kb.git", "a URL is kept as it is");

        let err = Ws::new(&git("        repo: nowhere\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("vaults.code.sources.repo.repo") && err.contains("remote URL"), "{err}");
        let err =
            Ws::new(&git("        repo: docs\n        ssh_key: missing_key\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("vaults.code.sources.repo.ssh_key"), "{err}");
        let err =
            Ws::new(&git("        repo: docs\n        branch: '--upload-pack=x'\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("vaults.code.sources.repo.branch"), "{err}");
        let err = Ws::new(&git("        repo: docs\n        tokn: x\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("tokn"), "{err}");
    }

    #[test]
    fn mail_settings_are_checked() {
        let ok = Ws::new(&format!(
            "{GOOD}mail:\n  transport: smtp\n  from: Trove <t@example.com>\n  smtp:\n    host: smtp.example.com\n    password: ${{SMTP_PASSWORD}}\n"
        ));
        let w = ok.load(&[("SMTP_PASSWORD", "hunter22")]).unwrap();
        let smtp = w.config.mail.smtp.as_ref().unwrap();
        assert_eq!((smtp.port, smtp.tls, smtp.timeout_s), (587, crate::SmtpTls::Starttls, 30));
        assert!(!crate::redacted_yaml(&w.config).contains("hunter22"));
        for (yaml, key) in [
            ("mail:\n  transport: smtp\n", "mail.smtp"),
            ("mail:\n  smtp:\n    host: ''\n", "mail.smtp.host"),
            ("mail:\n  smtp:\n    host: h\n    ca_file: nope.pem\n", "mail.smtp.ca_file"),
            ("mail:\n  from: nobody\n", "mail.from"),
            ("auth:\n  public_url: trove.example.com\n", "auth.public_url"),
        ] {
            let err = Ws::new(&format!("{GOOD}{yaml}")).load(&[]).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn publicdocs_sources_are_checked() {
        let src = |extra: &str| format!("vaults:\n  kb:\n    sources:\n      site:\n        type: publicdocs\n{extra}");
        let w = Ws::new(&src("        base_url: https://docs.example.com/guide/\n")).load(&[]).unwrap();
        let SourceConfig::Publicdocs(d) = &w.config.vaults["kb"].sources["site"] else { panic!("publicdocs") };
        assert_eq!((d.max_depth, d.max_pages, d.requests_per_minute, d.timeout_s), (5, 1000, 120, 30));
        for (extra, key) in [
            ("        base_url: docs.example.com\n", "site.base_url"),
            ("        base_url: https://\n", "site.base_url"),
            ("        base_url: https://d.e/\n        max_pages: 0\n", "site.max_pages"),
            ("        base_url: https://d.e/\n        content_selector: ' '\n", "site.content_selector"),
            ("        base_url: https://d.e/\n        drop_selectors: [nav, '']\n", "site.drop_selectors"),
            ("        base_url: https://d.e/\n        ca_file: nope.pem\n", "site.ca_file"),
            ("        base_url: https://d.e/\n        timeout_s: 0\n", "site.timeout_s"),
            ("        base_url: https://d.e/\n        follow: all\n", "follow"),
        ] {
            let err = Ws::new(&src(extra)).load(&[]).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn confluence_and_jira_sources_are_checked() {
        let src = |extra: &str| format!("vaults:\n  kb:\n    sources:\n      wiki:\n{extra}");
        let cloud = "        type: confluence\n        base_url: https://acme.atlassian.net\n        space: ENG\n        email: ada@acme.com\n        api_token: ${CONFLUENCE_API_TOKEN}\n";
        let w = Ws::new(&src(cloud)).load(&[("CONFLUENCE_API_TOKEN", "s3cret")]).unwrap();
        let SourceConfig::Confluence(c) = &w.config.vaults["kb"].sources["wiki"] else { panic!("confluence") };
        assert_eq!(
            (c.deployment, c.api_token.as_deref(), c.timeout_s),
            (crate::AtlassianDeployment::Cloud, Some("s3cret"), 30)
        );
        assert!(!crate::redacted_yaml(&w.config).contains("s3cret"), "the API token is never printed");

        let err = Ws::new(&src("        type: confluence\n        base_url: https://acme.atlassian.net\n        space: ENG\n        email: a@b.c\n")).load(&[]).unwrap_err().to_string();
        assert!(err.contains("vaults.kb.sources.wiki.api_token"), "{err}");
        let dc = "        type: confluence\n        deployment: datacenter\n        base_url: https://wiki.acme.com/confluence\n        space: ENG\n";
        let err = Ws::new(&src(dc)).load(&[]).unwrap_err().to_string();
        assert!(err.contains("vaults.kb.sources.wiki.token") && err.contains("personal access token"), "{err}");
        let w = Ws::new(&src(&format!("{dc}        token: ${{PAT}}\n        ca_file: docs\n")))
            .load(&[("PAT", "pat-s3cret")]);
        assert!(w.unwrap_err().to_string().contains("vaults.kb.sources.wiki.ca_file"));
        let w = Ws::new(&src(&format!("{dc}        token: ${{PAT}}\n"))).load(&[("PAT", "pat-s3cret")]).unwrap();
        assert!(!crate::redacted_yaml(&w.config).contains("pat-s3cret"), "the token is never printed");
        let err = Ws::new(&src(&cloud.replace("https://acme.atlassian.net", "acme.atlassian.net")))
            .load(&[("CONFLUENCE_API_TOKEN", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("vaults.kb.sources.wiki.base_url"), "{err}");
        let err = Ws::new(&src(&cloud.replace("space: ENG", "space: 'E N G'")))
            .load(&[("CONFLUENCE_API_TOKEN", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("vaults.kb.sources.wiki.space"), "{err}");
        let err = Ws::new(&src(&format!("{cloud}        spaces: [ENG]\n")))
            .load(&[("CONFLUENCE_API_TOKEN", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("spaces"), "{err}");

        // Attachments: off by default; types only with them on, and extensions only.
        assert!(!c.attachments && c.attachment_types.is_empty());
        let w = Ws::new(&src(&format!("{cloud}        attachments: true\n        attachment_types: [pdf, .docx]\n")))
            .load(&[("CONFLUENCE_API_TOKEN", "x")])
            .unwrap();
        let SourceConfig::Confluence(c) = &w.config.vaults["kb"].sources["wiki"] else { panic!("confluence") };
        assert!(c.attachments);
        assert_eq!(c.attachment_types, ["pdf", ".docx"]);
        for (extra, wanted) in [
            ("        attachment_types: [pdf]\n", "attachments: true"),
            ("        attachments: true\n        attachment_types: ['*.pdf']\n", "not a file extension"),
            ("        attachments: true\n        attachment_types: ['']\n", "not a file extension"),
            ("        attachments: yes please\n", "expected a boolean"),
        ] {
            let err = Ws::new(&src(&format!("{cloud}{extra}")))
                .load(&[("CONFLUENCE_API_TOKEN", "x")])
                .unwrap_err()
                .to_string();
            assert!(err.contains(wanted), "{extra}: {err}");
            let key = if wanted.contains("boolean") {
                "vaults.kb.sources.wiki"
            } else {
                "vaults.kb.sources.wiki.attachment_types"
            };
            assert!(err.contains(key), "{err}");
        }
        let err = Ws::new(&src(&format!("{cloud}        attachment: true\n")))
            .load(&[("CONFLUENCE_API_TOKEN", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("attachment"), "an unknown key is still refused: {err}");

        let jira = "        type: jira\n        base_url: https://acme.atlassian.net\n        email: ada@acme.com\n        api_token: t0ken\n";
        let w = Ws::new(&src(&format!("{jira}        project: OPS\n"))).load(&[]).unwrap();
        assert!(
            matches!(&w.config.vaults["kb"].sources["wiki"], SourceConfig::Jira(j) if j.project.as_deref() == Some("OPS"))
        );
        Ws::new(&src(&format!("{jira}        jql: 'project = OPS AND labels = kb'\n"))).load(&[]).unwrap();
        let err = Ws::new(&src(jira)).load(&[]).unwrap_err().to_string();
        assert!(err.contains("vaults.kb.sources.wiki.project") && err.contains("jql"), "{err}");
        let err =
            Ws::new(&src(&format!("{jira}        project: OPS\n        jql: x\n"))).load(&[]).unwrap_err().to_string();
        assert!(err.contains("exactly one"), "{err}");
        let err = Ws::new(&src(&format!("{jira}        project: OPS\n        timeout_s: 0\n")))
            .load(&[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("vaults.kb.sources.wiki.timeout_s"), "{err}");
    }

    #[test]
    fn the_init_template_is_valid() {
        let ws = Ws::new(crate::template::CONFIG_YAML);
        let w = ws.load(&[]).unwrap();
        assert!(w.config.vaults.contains_key("default"));
        // The template spells out every server default.
        assert_eq!(w.config.server, crate::ServerConfig::default());
        assert!(crate::template::CONFIG_YAML.contains("\nserver:\n  # "));
    }

    #[test]
    fn missing_file_says_how_to_create_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = Workspace::load_with(dir.path(), &dir.path().join(CONFIG_FILE), &Vars::default()).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }));
        assert!(err.to_string().contains("trove init"), "{err}");
    }

    #[test]
    fn unknown_key_names_line_column_and_key() {
        let ws = Ws::new("search:\n  default_limit: 5\n  defualt_mode: keyword\n");
        let err = ws.load(&[]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::Schema { line: Some(3), .. }), "{msg}");
        assert!(msg.contains("config.yaml:3:"), "{msg}");
        assert!(msg.contains("defualt_mode"), "{msg}");
        assert!(msg.contains("remove the key or correct its spelling"), "{msg}");
    }

    #[test]
    fn unknown_key_inside_a_source_is_an_error() {
        let ws = Ws::new(
            "vaults:\n  default:\n    sources:\n      docs:\n        type: localfile\n        path: docs\n        inclde: ['*.md']\n",
        );
        let msg = ws.load(&[]).unwrap_err().to_string();
        assert!(msg.contains("inclde"), "{msg}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let ws = Ws::new("search:\n  default_limit: many\n");
        let err = ws.load(&[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("config.yaml:2:"), "{msg}");
        assert!(msg.contains("search.default_limit"), "{msg}");
        assert!(msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn unknown_source_type_lists_the_known_ones() {
        let ws = Ws::new("vaults:\n  default:\n    sources:\n      s:\n        type: ftp\n        path: docs\n");
        let msg = ws.load(&[]).unwrap_err().to_string();
        assert!(msg.contains("ftp") && msg.contains("localfile"), "{msg}");
    }

    #[test]
    fn ingest_limits_have_defaults_and_are_checked() {
        let w = Ws::new(GOOD).load(&[]).unwrap();
        assert_eq!(w.config.ingest.max_file_bytes, 10 * 1024 * 1024);
        assert_eq!(w.config.ingest.max_unpacked_bytes, 256 * 1024 * 1024);
        assert_eq!(w.config.ingest.convert_timeout_s, 30);
        let w = Ws::new("ingest:\n  convert_timeout_s: 5\n  max_unpacked_bytes: 20000000\n").load(&[]).unwrap();
        assert_eq!(w.config.ingest.convert_timeout_s, 5);
        assert_eq!(w.config.ingest.max_unpacked_bytes, 20_000_000);
        // 0 is no limit for both sizes.
        let w = Ws::new("ingest:\n  max_file_bytes: 0\n  max_unpacked_bytes: 0\n").load(&[]).unwrap();
        assert_eq!(w.config.ingest.max_file_bytes, 0);
        for (yaml, key) in [
            ("ingest:\n  convert_timeout_s: 0\n", "ingest.convert_timeout_s"),
            ("ingest:\n  max_unpacked_bytes: 1000\n", "ingest.max_unpacked_bytes"),
            ("ingest:\n  max_file_bytes: 0\n", "ingest.max_unpacked_bytes"),
        ] {
            let err = Ws::new(yaml).load(&[]).unwrap_err();
            assert!(err.to_string().contains(key), "{yaml}: {err}");
        }
    }

    #[test]
    fn broken_yaml_names_the_line() {
        let ws = Ws::new("search:\n  default_limit: [1, 2\n");
        let err = ws.load(&[]).unwrap_err();
        assert!(matches!(err, ConfigError::Schema { line: Some(_), .. }), "{err}");
    }

    #[test]
    fn missing_variable_is_an_error_with_location() {
        let ws = Ws::new("log:\n  level: ${TROVE_TEST_LEVEL}\n");
        let err = ws.load(&[]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingVariable { line: 2, column: 10, .. }), "{err}");
        let w = ws.load(&[("TROVE_TEST_LEVEL", "debug")]).unwrap();
        assert_eq!(w.config.log.level, "debug");
    }

    #[test]
    fn dotenv_supplies_variables() {
        let ws = Ws::new("log:\n  level: ${LVL_FROM_DOTENV}\n");
        std::fs::write(ws.dir.path().join(ENV_FILE), "LVL_FROM_DOTENV=warn\n").unwrap();
        let w = Workspace::load(Some(ws.dir.path()), None).unwrap();
        assert_eq!(w.config.log.level, "warn");
    }

    #[test]
    fn bad_path_names_key_and_path() {
        let ws =
            Ws::new("vaults:\n  default:\n    sources:\n      docs:\n        type: localfile\n        path: nowhere\n");
        let err = ws.load(&[]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::BadPath { .. }), "{msg}");
        assert!(msg.contains("vaults.default.sources.docs.path"), "{msg}");
        assert!(msg.contains("nowhere"), "{msg}");
    }

    #[test]
    fn overrides_apply_and_bad_ones_name_the_variable() {
        let ws = Ws::new(GOOD);
        let w = ws
            .load(&[("TROVE__SEARCH__DEFAULT_LIMIT", "25"), ("TROVE__VAULTS__DEFAULT__CHUNKING__MAX_TOKENS", "128")])
            .unwrap();
        assert_eq!(w.config.search.default_limit, 25);
        assert_eq!(w.config.vaults["default"].chunking.max_tokens, 128);
        let err = ws.load(&[("TROVE__SEARCH__DEFAULT_LIMIT", "lots")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("TROVE__SEARCH__DEFAULT_LIMIT"), "{msg}");
        let err = ws.load(&[("TROVE__SEARCH__NOPE", "1")]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn semantic_validation() {
        let ws = Ws::new("vaults:\n  default:\n    chunking:\n      max_tokens: 100\n      overlap_tokens: 60\n");
        let msg = ws.load(&[]).unwrap_err().to_string();
        assert!(msg.contains("overlap_tokens"), "{msg}");
        let ws = Ws::new("vaults:\n  Bad Name: {}\n");
        assert!(ws.load(&[]).unwrap_err().to_string().contains("vault names"));
        let ws = Ws::new("log:\n  level: loud\n");
        assert!(ws.load(&[]).unwrap_err().to_string().contains("log.level"));
        let ws = Ws::new("server:\n  bind: localhost\n");
        let msg = ws.load(&[]).unwrap_err().to_string();
        assert!(msg.contains("server.bind") && msg.contains("127.0.0.1:7700"), "{msg}");
        let ws = Ws::new("server:\n  request_timeout_s: 0\n");
        assert!(ws.load(&[]).unwrap_err().to_string().contains("server.request_timeout_s"));
        let w = Ws::new("").load(&[("TROVE__SERVER__BIND", "0.0.0.0:8080")]).unwrap();
        assert_eq!(w.config.server.bind, "0.0.0.0:8080");
    }

    #[test]
    fn stored_secrets_need_a_long_key_and_an_organization_outside_vaults() {
        const KEK: &str = "auth:\n  key_encryption_secret: 0123456789abcdef0123456789abcdef\n";
        let source = "vaults:\n  wiki:\n    sources:\n      eng:\n        type: confluence\n        base_url: https://x.atlassian.net\n        space: ENG\n        email: a@x.com\n        api_token: ${secret:wiki}\n";
        let msg = Ws::new(source).load(&[]).unwrap_err().to_string();
        assert!(
            msg.contains("vaults.wiki.sources.eng.api_token") && msg.contains("auth.key_encryption_secret"),
            "{msg}"
        );
        let w = Ws::new(&format!("{KEK}{source}")).load(&[]).unwrap();
        assert_eq!(w.config.secret_uses().len(), 1);
        assert_eq!(w.config.secret_uses()[0].vault.as_deref(), Some("wiki"));

        let short = "auth:\n  key_encryption_secret: too-short\n";
        let msg = Ws::new(short).load(&[]).unwrap_err().to_string();
        assert!(msg.contains("auth.key_encryption_secret") && msg.contains("at least 32 bytes (it has 9)"), "{msg}");
        let prev = format!("{KEK}  previous_key_encryption_secrets: [old]\n");
        let msg = Ws::new(&prev).load(&[]).unwrap_err().to_string();
        assert!(msg.contains("previous_key_encryption_secrets[0]"), "{msg}");

        let llm = "llm:\n  provider: openai\n  api_key: ${secret:openai}\n";
        let msg = Ws::new(&format!("{KEK}{llm}")).load(&[]).unwrap_err().to_string();
        assert!(msg.contains("llm.api_key") && msg.contains("${secret:ORG/openai}"), "{msg}");
        let llm = "llm:\n  provider: openai\n  api_key: ${secret:acme/openai}\n";
        assert!(Ws::new(&format!("{KEK}{llm}")).load(&[]).is_ok());
    }
}
