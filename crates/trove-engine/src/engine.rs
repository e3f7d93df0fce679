//! The [`Engine`] value: a loaded workspace, its store and its (lazily loaded) embedder.

use std::sync::{Arc, OnceLock};

use std::time::Duration;

use trove_config::{EmbedderProvider, LlmConfig, LlmProvider, Workspace};
use trove_embed::{Embedder, LocalEmbedder, LocalOptions, RestEmbedder, RestOptions, RestProtocol};
use trove_store::StoreWrite;
use trove_store::embedded::EmbeddedStore;

use crate::EngineError;

/// Whether the engine may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Takes the workspace's writer lock.
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

type EmbedderFactory = Box<dyn Fn() -> Result<Arc<dyn Embedder>, EngineError> + Send + Sync>;

/// A workspace opened for work.
pub struct Engine {
    pub(crate) workspace: Workspace,
    pub(crate) store: Box<dyn StoreWrite>,
    pub(crate) spec: EmbedderSpec,
    embedder: OnceLock<Arc<dyn Embedder>>,
    factory: EmbedderFactory,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("root", &self.workspace.root).field("spec", &self.spec).finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens a workspace's embedded store. `command` names this process in the writer lock.
    pub fn open(workspace: Workspace, mode: OpenMode, command: &str) -> Result<Engine, EngineError> {
        let dir = workspace.data_dir().to_path_buf();
        let store: Box<dyn StoreWrite> = match mode {
            OpenMode::Write => Box::new(EmbeddedStore::open_writer(&dir, command)?),
            OpenMode::Read => Box::new(EmbeddedStore::open_reader(&dir)?),
        };
        let spec = spec_for(&workspace);
        let factory: EmbedderFactory = match workspace.config.embedder.provider {
            EmbedderProvider::Builtin => {
                let config = workspace.config.embedder.clone();
                Box::new(move || {
                    let dir = trove_embed::model::resolve_or_install(config.model_dir.as_deref(), config.auto_install)?;
                    let opts = LocalOptions { batch_size: config.batch_size, threads: config.threads };
                    let started = std::time::Instant::now();
                    let embedder = LocalEmbedder::load(&dir, &opts)?;
                    tracing::debug!(model = %dir.display(), ms = started.elapsed().as_millis() as u64, "loaded the embedding model");
                    Ok(Arc::new(embedder) as Arc<dyn Embedder>)
                })
            }
            EmbedderProvider::Llm => {
                let opts = rest_options(&workspace.config.llm);
                Box::new(move || Ok(Arc::new(RestEmbedder::new(opts.clone())?) as Arc<dyn Embedder>))
            }
        };
        Ok(Engine { workspace, store, spec, embedder: OnceLock::new(), factory })
    }

    /// Replaces the embedder (tests, benchmarks, and callers that share one loaded model).
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Engine {
        self.spec = EmbedderSpec { model_id: embedder.model_id().to_string(), dimension: embedder.dimension() };
        self.embedder = OnceLock::new();
        let _ = self.embedder.set(embedder.clone());
        self.factory = Box::new(move || Ok(embedder.clone()));
        self
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The store.
    pub fn store(&self) -> &dyn StoreWrite {
        self.store.as_ref()
    }

    /// The configured embedder's identity.
    pub fn spec(&self) -> &EmbedderSpec {
        &self.spec
    }

    /// The embedder, loaded on first use.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>, EngineError> {
        if let Some(e) = self.embedder.get() {
            return Ok(e.clone());
        }
        let loaded = (self.factory)()?;
        Ok(self.embedder.get_or_init(|| loaded).clone())
    }

    /// Whether the embedder has been loaded (an unchanged re-ingest never loads it).
    pub fn embedder_loaded(&self) -> bool {
        self.embedder.get().is_some()
    }

    /// Vault names in the configuration.
    pub fn configured_vaults(&self) -> Vec<String> {
        self.workspace.config.vaults.keys().cloned().collect()
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

fn spec_for(workspace: &Workspace) -> EmbedderSpec {
    match workspace.config.embedder.provider {
        EmbedderProvider::Builtin => EmbedderSpec {
            model_id: trove_embed::model::MODEL_ID.to_string(),
            dimension: trove_embed::model::DIMENSION,
        },
        EmbedderProvider::Llm => {
            let opts = rest_options(&workspace.config.llm);
            EmbedderSpec { model_id: format!("{}/{}", opts.provider, opts.model), dimension: opts.dimension }
        }
    }
}
