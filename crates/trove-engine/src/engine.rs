//! The [`Engine`] value: a loaded workspace, its store and its embedders (one per profile the
//! configuration names, loaded on first use), and which embedder serves which vault.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use trove_clock::SharedClock;
use trove_config::{
    EMBEDDER_BUILTIN, EMBEDDER_LLM, EmbedderConfig, EmbedderPrecision, EmbedderProvider, LlmConfig, LlmProvider,
    StorageBackend, StorageConfig, Workspace,
};
use trove_embed::{Embedder, LocalEmbedder, LocalOptions, Precision, RestEmbedder, RestOptions, RestProtocol};
use trove_store::embedded::EmbeddedStore;
use trove_store::{Store, VaultInfo};
use trove_store_postgres::{PgOptions, PgStore};

use crate::EngineError;

/// Whether the engine may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Writes beside other processes (the embedded store's workspace lock held shared).
    Write,
    /// Reads committed data; no lock.
    Read,
}

/// Which model a configuration asks for, known without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderSpec {
    /// Stable model id recorded per vault.
    pub model_id: String,
    /// Vector dimension.
    pub dimension: usize,
}

type EmbedderFactory = Arc<dyn Fn() -> Result<Arc<dyn Embedder>, EngineError> + Send + Sync>;
type EmbedderLayer = Arc<dyn Fn(Arc<dyn Embedder>) -> Arc<dyn Embedder> + Send + Sync>;

/// One embedder the configuration offers: the built-in model, the `llm:` section, or an entry
/// of `embedders:`.
struct Profile {
    name: String,
    spec: EmbedderSpec,
    factory: EmbedderFactory,
    /// The REST options, for deriving an embedder of another model of the same provider.
    rest: Option<RestOptions>,
}

/// A workspace opened for work.
///
/// Several embedders may be in use at once: each vault names one (or takes the default), and
/// a vault being re-embedded keeps answering queries with the model of its current vectors.
/// Embedders are loaded on first use and kept by profile name.
pub struct Engine {
    pub(crate) workspace: Workspace,
    pub(crate) store: Box<dyn Store>,
    /// The profile vaults use unless they name another.
    default: String,
    profiles: Vec<Profile>,
    loaded: Mutex<HashMap<String, Arc<dyn Embedder>>>,
    /// Wrappers applied to every embedder when it is loaded (batching, metrics).
    layers: Vec<EmbedderLayer>,
    /// Held shared by whoever embeds and writes live vectors, and exclusively by a re-embed's
    /// switch to the new model, so no vector of the old model lands after the switch.
    pub(crate) vectors: RwLock<()>,
    /// The same across processes writing one embedded workspace (`model_switch`); `None`
    /// for PostgreSQL and for a read-only engine.
    pub(crate) model_lock: Option<crate::model_switch::ModelSwitchLock>,
    /// Held by a re-embed for its whole run: two re-embeds (two jobs of one vault, taken by two
    /// workers) never pay twice for the same vectors; the second finds the work done.
    pub(crate) reembedding: Mutex<()>,
    /// How far each job running in this process has got (shown by [`Engine::job_view`]).
    pub(crate) progress: crate::jobs::RunningJobs,
    /// How mail leaves (made from `mail:` on first use, or given by [`Engine::with_mailer`]).
    pub(crate) mailer: std::sync::OnceLock<Arc<dyn crate::mail::Mailer>>,
    /// The key encryption secrets (`auth.key_encryption_secret`); `None`: secrets are off.
    pub(crate) keyring: Option<crate::secrets::Keyring>,
    /// Where every time the engine decides by comes from (the system's, unless
    /// [`Engine::with_clock`] gave another).
    pub(crate) clock: SharedClock,
    /// The chat model of answers (made from `answers.chat_model` on first use, or given by
    /// [`Engine::with_chat_model`]).
    pub(crate) chat: std::sync::OnceLock<Arc<dyn trove_chat::ChatModel>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("root", &self.workspace.root).field("spec", self.spec()).finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens a workspace's store: the embedded one (`command` names this process in its
    /// process registry; writers share it, each write waiting `storage.write_wait_s` for
    /// the others'), or the PostgreSQL database `storage.postgres` names (no lock: several
    /// processes share it).
    pub fn open(workspace: Workspace, mode: OpenMode, command: &str) -> Result<Engine, EngineError> {
        let dir = workspace.data_dir().to_path_buf();
        let store: Box<dyn Store> = match (workspace.config.storage.backend, mode) {
            (StorageBackend::Postgres, mode) => {
                // The node's own files (uploads waiting for a worker, mirrors, crawl state).
                if mode == OpenMode::Write {
                    std::fs::create_dir_all(&dir)
                        .map_err(|source| trove_store::StoreError::Io { path: dir.clone(), source })?;
                }
                let mut pg = PgStore::open(postgres_options(&workspace.config.storage)?)?;
                if let Some(q) = &workspace.config.storage.qdrant {
                    pg = pg.with_index(Box::new(qdrant_index(q)));
                    // Changes another node committed but could not index wait no longer.
                    if mode == OpenMode::Write
                        && let Err(e) = pg.sync_index(None)
                    {
                        tracing::warn!(error = %e, "Qdrant lags behind PostgreSQL; searches use pgvector until it catches up");
                    }
                }
                Box::new(pg)
            }
            (StorageBackend::Embedded, OpenMode::Write) => Box::new(
                EmbeddedStore::open_writing(
                    &dir,
                    command,
                    std::time::Duration::from_secs_f64(workspace.config.storage.write_wait_s),
                )?
                .with_ann(ann_settings(&workspace.config)),
            ),
            (StorageBackend::Embedded, OpenMode::Read) => {
                Box::new(EmbeddedStore::open_reading(&dir, command)?.with_ann(ann_settings(&workspace.config)))
            }
        };
        let model_lock = (workspace.config.storage.backend == StorageBackend::Embedded && mode == OpenMode::Write)
            .then(|| {
                crate::model_switch::ModelSwitchLock::new(
                    &dir,
                    std::time::Duration::from_secs_f64(workspace.config.storage.write_wait_s),
                )
            });
        let config = &workspace.config;
        let mut profiles = vec![builtin_profile(&config.embedder)];
        if config.llm.models.embeddings.is_some() {
            profiles.push(rest_profile(EMBEDDER_LLM, rest_options(&config.llm)));
        }
        for (name, llm) in &config.embedders {
            profiles.push(rest_profile(name, rest_options(llm)));
        }
        let default = match config.embedder.provider {
            EmbedderProvider::Builtin => EMBEDDER_BUILTIN,
            EmbedderProvider::Llm => EMBEDDER_LLM,
        };
        if !profiles.iter().any(|p| p.name == default) {
            // `embedder.provider: llm` without a model cannot load; validation refuses it, so
            // only a hand-built configuration gets here.
            profiles.push(rest_profile(EMBEDDER_LLM, rest_options(&config.llm)));
        }
        let keyring = config
            .auth
            .key_encryption_secret
            .as_deref()
            .map(|current| crate::secrets::Keyring::new(current, &config.auth.previous_key_encryption_secrets));
        Ok(Engine {
            workspace,
            store,
            default: default.to_string(),
            profiles,
            loaded: Mutex::new(HashMap::new()),
            layers: Vec::new(),
            vectors: RwLock::new(()),
            model_lock,
            reembedding: Mutex::new(()),
            progress: Default::default(),
            mailer: std::sync::OnceLock::new(),
            keyring,
            clock: trove_clock::system(),
            chat: std::sync::OnceLock::new(),
        })
    }

    /// Reads time from `clock` instead of the system's (tests step a
    /// [`trove_clock::ManualClock`] instead of sleeping). Set it before anything runs on the
    /// engine: times already recorded keep the clock they were read from.
    pub fn with_clock(mut self, clock: SharedClock) -> Engine {
        self.clock = clock;
        self
    }

    /// The engine's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Wall time by the engine's clock, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Replaces the default embedder (tests, benchmarks, and callers that share one loaded
    /// model).
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Engine {
        let spec = EmbedderSpec { model_id: embedder.model_id().to_string(), dimension: embedder.dimension() };
        let shared = embedder.clone();
        let profile =
            Profile { name: self.default.clone(), spec, factory: Arc::new(move || Ok(shared.clone())), rest: None };
        self.profiles.retain(|p| p.name != self.default);
        self.profiles.insert(0, profile);
        let embedder = self.layers.iter().fold(embedder, |e, layer| layer(e));
        let name = self.default.clone();
        self.loaded_mut().insert(name, embedder);
        self
    }

    /// Wraps every embedder, those loaded already and those loaded later, in `layer`.
    pub fn layer_embedders(
        mut self,
        layer: impl Fn(Arc<dyn Embedder>) -> Arc<dyn Embedder> + Send + Sync + 'static,
    ) -> Engine {
        let layer: EmbedderLayer = Arc::new(layer);
        for e in self.loaded_mut().values_mut() {
            *e = layer(e.clone());
        }
        self.layers.push(layer);
        self
    }

    fn loaded_mut(&mut self) -> &mut HashMap<String, Arc<dyn Embedder>> {
        self.loaded.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The store (the engine's own; transports read it through [`crate::status`]).
    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Waits for the index work the store queued in the background (the embedded store's
    /// vector index files of large vaults), so that the next process opens them current;
    /// `waiting` is called once if a file is being written. `trove ingest` ends with it.
    pub fn settle_indexes(&self, waiting: &mut dyn FnMut()) -> Result<(), EngineError> {
        Ok(self.store.settle_indexes(waiting)?)
    }

    fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    fn default_profile(&self) -> &Profile {
        self.profile(&self.default).unwrap_or(&self.profiles[0])
    }

    /// The default embedder's identity.
    pub fn spec(&self) -> &EmbedderSpec {
        &self.default_profile().spec
    }

    /// The default embedder, loaded on first use.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>, EngineError> {
        self.load(self.default_profile())
    }

    /// Whether the default embedder has been loaded (an unchanged re-ingest never loads it).
    pub fn embedder_loaded(&self) -> bool {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&self.default)
    }

    /// The default embedder's remote service (provider and base URL) when it has one.
    pub fn remote_endpoint(&self) -> Option<(String, String)> {
        self.default_profile().rest.as_ref().map(|r| (r.provider.clone(), r.base_url.clone()))
    }

    /// How the default embedder's last call to its remote service went, once it has made one.
    pub fn embedder_last_call(&self) -> Option<trove_embed::LastCall> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.get(&self.default).and_then(|e| e.last_call())
    }

    /// The embedder a vault's new vectors come from (`vaults.<v>.embedder`, else the default).
    fn target_profile(&self, vault: &str) -> &Profile {
        self.workspace
            .config
            .vaults
            .get(vault)
            .and_then(|v| v.embedder.as_deref())
            .and_then(|name| self.profile(name))
            .unwrap_or_else(|| self.default_profile())
    }

    /// The model a vault is configured for: what new and re-embedded vectors come from.
    pub fn vault_spec(&self, vault: &str) -> EmbedderSpec {
        self.target_profile(vault).spec.clone()
    }

    /// The configured embedder of a vault, loaded on first use.
    pub(crate) fn target_embedder(&self, vault: &str) -> Result<Arc<dyn Embedder>, EngineError> {
        self.load(self.target_profile(vault))
    }

    /// The embedder that produced a vault's current vectors, so queries and new vectors match
    /// them (also while the vault is being re-embedded for another model). A vault without
    /// vectors yet takes its configured embedder. Fails when no configured embedder makes that
    /// model.
    pub(crate) fn vault_embedder(&self, vault: &VaultInfo) -> Result<Arc<dyn Embedder>, EngineError> {
        let (Some(model), Some(dim)) = (&vault.model_id, vault.dimension) else {
            return self.target_embedder(&vault.name);
        };
        if let Some(p) = self.profiles.iter().find(|p| p.spec.model_id == *model && p.spec.dimension == dim) {
            return self.load(p);
        }
        let profile = self.derived_profile(model, dim).ok_or_else(|| {
            let target = self.vault_spec(&vault.name);
            EngineError::EmbedderMismatch {
                vault: vault.name.clone(),
                stored: model.clone(),
                stored_dim: dim,
                configured: target.model_id,
                configured_dim: target.dimension,
            }
        })?;
        self.load(&profile)
    }

    /// An embedder for `<provider>/<model>` made from a configured REST embedder of the same
    /// provider with the model swapped: after `llm.models.embeddings` changes, the old model
    /// keeps answering queries until the vault is re-embedded.
    fn derived_profile(&self, model_id: &str, dimension: usize) -> Option<Profile> {
        let (provider, model) = model_id.split_once('/')?;
        let base = self.profiles.iter().find_map(|p| p.rest.as_ref().filter(|r| r.provider == provider))?;
        let opts = RestOptions { model: model.to_string(), dimension, ..base.clone() };
        Some(rest_profile(&format!("{model_id}@{dimension}"), opts))
    }

    fn load(&self, profile: &Profile) -> Result<Arc<dyn Embedder>, EngineError> {
        if let Some(e) = self.loaded.lock().unwrap_or_else(|e| e.into_inner()).get(&profile.name) {
            return Ok(e.clone());
        }
        // Loading may take a while (the built-in model); other lookups go on meanwhile.
        let embedder = match profile.rest.as_ref().filter(|r| r.api_key.as_deref().is_some_and(is_reference)) {
            // A stored secret is read at each load, never kept in the profile.
            Some(rest) => {
                let mut opts = rest.clone();
                let key = format!("the api_key of embedder `{}`", profile.name);
                opts.api_key =
                    Some(self.resolve_credential(&key, None, rest.api_key.as_deref().unwrap_or_default())?);
                Arc::new(RestEmbedder::new(opts)?) as Arc<dyn Embedder>
            }
            None => (profile.factory)()?,
        };
        let embedder = self.layers.iter().fold(embedder, |e, layer| layer(e));
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        Ok(loaded.entry(profile.name.clone()).or_insert(embedder).clone())
    }

    /// Vault names in the configuration.
    pub fn configured_vaults(&self) -> Vec<String> {
        self.workspace.config.vaults.keys().cloned().collect()
    }
}

fn is_reference(value: &str) -> bool {
    trove_config::secrets::parse_reference(value).is_some()
}

fn builtin_profile(config: &EmbedderConfig) -> Profile {
    let config = config.clone();
    Profile {
        name: EMBEDDER_BUILTIN.to_string(),
        spec: EmbedderSpec {
            model_id: trove_embed::model::MODEL_ID.to_string(),
            dimension: trove_embed::model::DIMENSION,
        },
        factory: Arc::new(move || {
            let dir = trove_embed::model::resolve_or_install(config.model_dir.as_deref(), config.auto_install)?;
            let precision = match config.precision {
                EmbedderPrecision::F32 => Precision::F32,
                EmbedderPrecision::Int16 => Precision::Int16,
            };
            let opts = LocalOptions { batch_size: config.batch_size, threads: config.threads, precision };
            let started = std::time::Instant::now();
            let embedder = LocalEmbedder::load(&dir, &opts)?;
            tracing::debug!(model = %dir.display(), ms = started.elapsed().as_millis() as u64, "loaded the embedding model");
            Ok(Arc::new(embedder) as Arc<dyn Embedder>)
        }),
        rest: None,
    }
}

fn rest_profile(name: &str, opts: RestOptions) -> Profile {
    let spec = EmbedderSpec { model_id: format!("{}/{}", opts.provider, opts.model), dimension: opts.dimension };
    let made = opts.clone();
    Profile {
        name: name.to_string(),
        spec,
        factory: Arc::new(move || Ok(Arc::new(RestEmbedder::new(made.clone())?) as Arc<dyn Embedder>)),
        rest: Some(opts),
    }
}

/// The REST embedder's options from the `llm:` section (validated when the configuration was
/// loaded), with the proxy the environment names for its URL.
pub fn rest_options(llm: &LlmConfig) -> RestOptions {
    let (provider, protocol, default_url) = match llm.provider {
        LlmProvider::Openai => ("openai", RestProtocol::OpenAi, "https://api.openai.com/v1"),
        LlmProvider::AzureOpenai => ("azure_openai", RestProtocol::Azure, ""),
        LlmProvider::Ollama => ("ollama", RestProtocol::Ollama, "http://localhost:11434"),
        LlmProvider::Custom => ("custom", RestProtocol::OpenAi, ""),
    };
    let base_url = llm.base_url.clone().unwrap_or_else(|| default_url.to_string());
    let proxy = trove_embed::proxy_from_env(&base_url, |name| std::env::var(name).ok());
    RestOptions {
        provider: provider.into(),
        protocol,
        base_url,
        api_key: llm.api_key.clone().filter(|k| !k.is_empty()),
        api_version: llm.api_version.clone(),
        model: llm.models.embeddings.clone().unwrap_or_default(),
        dimension: llm.embeddings.vector_size.unwrap_or(0),
        batch_size: llm.embeddings.batch_size,
        max_input_tokens: llm.embeddings.max_input_tokens,
        timeout: Duration::from_secs_f64(llm.request.timeout_s),
        max_retries: llm.request.max_retries,
        backoff_min: Duration::from_secs_f64(llm.request.backoff_min_s),
        backoff_max: Duration::from_secs_f64(llm.request.backoff_max_s),
        rpm: llm.rate_limits.rpm,
        tpm: llm.rate_limits.tpm,
        concurrency: llm.rate_limits.concurrency,
        ca_file: llm.tls.ca_file.clone(),
        proxy,
    }
}

/// The Qdrant index of `storage.qdrant` (validated when the configuration was loaded).
pub fn qdrant_index(q: &trove_config::QdrantConfig) -> trove_store_qdrant::QdrantIndex {
    let mut opts = trove_store_qdrant::ClientOptions::new(q.url.clone());
    opts.api_key = q.api_key.clone().filter(|k| !k.is_empty());
    opts.timeout = Duration::from_secs_f64(q.timeout_s);
    opts.max_retries = q.max_retries;
    opts.retry_delay = Duration::from_millis(q.retry_delay_ms);
    trove_store_qdrant::QdrantIndex::new(trove_store_qdrant::Client::new(opts), &q.collection_prefix)
}

/// The embedded store's approximate vector index settings, from `vectors.ann`.
pub fn ann_settings(config: &trove_config::Config) -> trove_store::embedded::AnnSettings {
    let ann = &config.vectors.ann;
    trove_store::embedded::AnnSettings {
        enabled: ann.enabled,
        ef: ann.ef,
        min_rows: ann.min_rows,
        ..trove_store::embedded::AnnSettings::default()
    }
}

/// The PostgreSQL connection options of `storage.postgres`.
pub fn postgres_options(storage: &StorageConfig) -> Result<PgOptions, EngineError> {
    let Some(pg) = &storage.postgres else {
        return Err(EngineError::Store(trove_store::StoreError::Database {
            what: "PostgreSQL".into(),
            reason: "storage.backend is postgres but storage.postgres.url is not set".into(),
        }));
    };
    let mut options = PgOptions::new(pg.url.clone());
    options.pool_size = pg.pool_size;
    options.connect_timeout = Duration::from_secs_f64(pg.connect_timeout_s);
    options.statement_timeout = Duration::from_secs_f64(pg.statement_timeout_s);
    options.acquire_timeout = Duration::from_secs_f64(pg.acquire_timeout_s);
    options.ca_file = pg.ca_file.clone();
    Ok(options)
}
