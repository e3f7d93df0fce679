//! The [`Engine`] value: a loaded workspace, its store and its (lazily loaded) embedder.

use std::sync::{Arc, OnceLock};

use trove_config::{EmbedderProvider, Workspace};
use trove_embed::{Embedder, LocalEmbedder, LocalOptions};
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
        let config = workspace.config.embedder.clone();
        let factory: EmbedderFactory = Box::new(move || {
            let dir = trove_embed::model::resolve_or_install(config.model_dir.as_deref(), config.auto_install)?;
            let opts = LocalOptions { batch_size: config.batch_size, threads: config.threads };
            let started = std::time::Instant::now();
            let embedder = LocalEmbedder::load(&dir, &opts)?;
            tracing::debug!(model = %dir.display(), ms = started.elapsed().as_millis() as u64, "loaded the embedding model");
            Ok(Arc::new(embedder) as Arc<dyn Embedder>)
        });
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

fn spec_for(workspace: &Workspace) -> EmbedderSpec {
    match workspace.config.embedder.provider {
        EmbedderProvider::Builtin => EmbedderSpec {
            model_id: trove_embed::model::MODEL_ID.to_string(),
            dimension: trove_embed::model::DIMENSION,
        },
    }
}
