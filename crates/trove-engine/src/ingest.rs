//! Incremental ingest: for each source, list what it has, skip what is unchanged (by the
//! version the source lists, without reading the document, or else by content hash; without
//! loading the model either way), convert, chunk and embed what is new or changed, write
//! each group of documents in one transaction, and delete what disappeared.
//!
//! Two threads: a producer reads, hashes, converts and chunks documents; the calling thread
//! gathers their chunks into groups, embeds each group in one call (the embedder sorts by
//! length and batches), and writes the group atomically. A crash at any moment leaves every
//! document either in its old or its new version, and the next run finishes the work.
//!
//! What is recorded as a document's hash also covers how it was chunked, so changing a
//! vault's chunk sizes re-processes its documents.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use trove_config::{
    AtlassianDeployment, AtlassianSite, ChunkingConfig, SourceConfig, UPLOAD_SOURCE, VaultConfig, Workspace,
};
use trove_embed::Embedder;
use trove_ingest::{
    ChunkingOptions, ConfluenceOptions, ConfluenceSource, Connection, Deployment, GitOptions, GitSource, JiraOptions,
    JiraSource, LocalFileOptions, LocalFileSource, PublicDocsOptions, PublicDocsSource, Source, TokenCounter,
};
use trove_store::{NewChunk, NewDocument, VaultId};
use trove_types::IngestSummary;

use crate::{Engine, EngineError, embedding_input};

/// Bumped when conversion or chunking changes in a way that should re-process documents.
const PIPELINE_VERSION: u32 = 1;
/// Re-embedding reads and writes this many chunks at a time.
const REEMBED_BATCH: usize = 512;

/// What to ingest.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Only this vault (default: all configured vaults).
    pub vault: Option<String>,
    /// Only this source (needs a vault, or a name unique across vaults).
    pub source: Option<String>,
    /// Re-process documents even when unchanged.
    pub force: bool,
    /// Re-embed vaults whose vectors came from another model, from their stored chunk text.
    pub reembed: bool,
}

/// Receives progress; the CLI draws a bar or logs lines.
pub trait IngestProgress: Sync {
    /// A source starts; `total` documents are listed.
    fn source_started(&self, vault: &str, source: &str, total: u64);
    /// `n` more documents are done (any outcome).
    fn advance(&self, n: u64);
    /// The source is done.
    fn source_finished(&self, vault: &str, source: &str, summary: &IngestSummary);
    /// A document failed (it is skipped; the run goes on).
    fn document_failed(&self, uri: &str, reason: &str) {
        tracing::warn!(uri, reason, "skipped a document");
    }
    /// A group of documents was embedded and written in one transaction, taking `took`.
    fn group_written(&self, _documents: u64, _chunks: u64, _took: std::time::Duration) {}
    /// Called between documents and before each group is embedded: an error stops the run
    /// there (a job that was cancelled or ran out of time). What was written stays written.
    fn checkpoint(&self) -> Result<(), EngineError> {
        Ok(())
    }
}

/// Progress that goes nowhere.
#[derive(Debug, Default)]
pub struct NoProgress;

impl IngestProgress for NoProgress {
    fn source_started(&self, _: &str, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn source_finished(&self, _: &str, _: &str, _: &IngestSummary) {}
}

/// The outcome of a run: per vault and in total.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IngestReport {
    /// Per vault, in configuration order.
    pub vaults: Vec<(String, IngestSummary)>,
    /// Everything added up.
    pub total: IngestSummary,
    /// Chunks re-embedded because the model changed.
    pub reembedded_chunks: u64,
}

/// What a git source of the workspace reads (`None` for another kind of source); its mirror
/// lives under the data folder, `git/<vault>/<source>`.
pub fn git_options(ws: &Workspace, vault: &str, name: &str, config: &SourceConfig) -> Option<GitOptions> {
    let SourceConfig::Git(g) = config else { return None };
    Some(GitOptions {
        repo: g.repo.clone(),
        remote: trove_config::is_remote_repo(&g.repo),
        branch: g.branch.clone(),
        include: g.include.clone(),
        exclude: g.exclude.clone(),
        file_types: g.file_types.clone(),
        max_file_bytes: ws.config.ingest.max_file_bytes,
        mirror_dir: ws.data_dir().join("git").join(vault).join(name),
        token: g.token.clone(),
        username: g.username.clone(),
        ssh_key: g.ssh_key.clone(),
        ca_file: g.ca_file.clone(),
        timeout: Duration::from_secs(g.timeout_s),
        key: format!("vaults.{vault}.sources.{name}"),
    })
}

/// A document on its way from the producer to the writer.
enum Item {
    Unchanged,
    Failed {
        uri: String,
        reason: String,
    },
    Ready {
        doc: NewDocument,
        texts: Vec<String>,
        is_new: bool,
    },
    /// Something every document needs is missing (the model): stop the run.
    Fatal(EngineError),
}

struct TokenCount<'a>(&'a dyn Embedder);

impl TokenCounter for TokenCount<'_> {
    fn count_tokens(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

impl Engine {
    /// Runs an incremental ingest.
    pub fn ingest(&self, opts: &IngestOptions, progress: &dyn IngestProgress) -> Result<IngestReport, EngineError> {
        let started = Instant::now();
        let config = &self.workspace.config;
        let vaults: Vec<(&String, &VaultConfig)> = match &opts.vault {
            Some(name) => {
                let v = config.vaults.get_key_value(name).ok_or_else(|| EngineError::VaultNotFound {
                    name: name.clone(),
                    known: self.configured_vaults(),
                })?;
                vec![v]
            }
            None => config.vaults.iter().collect(),
        };
        if let Some(source) = &opts.source {
            let owners: Vec<&String> =
                vaults.iter().filter(|(_, v)| v.sources.contains_key(source)).map(|(n, _)| *n).collect();
            if owners.is_empty() {
                let vault = opts.vault.clone().unwrap_or_else(|| "(any)".into());
                let known = vaults.iter().flat_map(|(_, v)| v.sources.keys().cloned()).collect();
                return Err(EngineError::SourceNotFound { vault, name: source.clone(), known });
            }
        }
        let mut report = IngestReport::default();
        for (name, vault_config) in vaults {
            let mut summary = IngestSummary::default();
            let vault_started = Instant::now();
            let vault = self.ensure_configured_vault(name)?;
            report.reembedded_chunks += self.check_embedder(&vault, opts.reembed, progress)?;
            for (source_name, source_config) in &vault_config.sources {
                if opts.source.as_ref().is_some_and(|s| s != source_name) {
                    continue;
                }
                let source = self.open_source(name, vault.organization, source_name, source_config)?;
                let s = self.ingest_source(
                    vault.id,
                    name,
                    &vault_config.chunking,
                    source_name,
                    source.as_ref(),
                    true,
                    opts.force,
                    progress,
                )?;
                summary.merge(s);
            }
            if opts.source.is_none() {
                // Sources removed from the configuration take their documents with them.
                for stale in self.store.sources_with_documents(vault.id)? {
                    if stale != UPLOAD_SOURCE && !vault_config.sources.contains_key(&stale) {
                        for state in self.store.document_states(vault.id, &stale)? {
                            if self.store.delete_document(vault.id, &stale, &state.uri)? {
                                summary.deleted += 1;
                            }
                        }
                        tracing::info!(vault = %name, source = %stale, "removed the documents of a source no longer configured");
                    }
                }
            }
            summary.seconds = vault_started.elapsed().as_secs_f64();
            report.total.merge(summary.clone());
            report.vaults.push((name.clone(), summary));
        }
        report.total.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Records the embedder of a new vault. For a vault whose configured model changed,
    /// re-embeds it when `reembed` is set; otherwise its current model keeps making its vectors.
    /// Returns the chunks and memories re-embedded.
    fn check_embedder(
        &self,
        vault: &trove_store::VaultInfo,
        reembed: bool,
        progress: &dyn IngestProgress,
    ) -> Result<u64, EngineError> {
        let target = self.vault_spec(&vault.name);
        match (&vault.model_id, vault.dimension) {
            (None, _) | (_, None) => {
                self.store.set_vault_embedder(vault.id, &target.model_id, target.dimension)?;
                Ok(0)
            }
            (Some(model), Some(dim)) if *model == target.model_id && dim == target.dimension => {
                if vault.restaging.is_some() {
                    // A re-embed towards a model the configuration no longer asks for.
                    self.store.clear_staged_vectors(vault.id)?;
                }
                Ok(0)
            }
            _ if reembed => self.reembed_vault(&vault.name, progress),
            _ => Ok(0),
        }
    }

    /// Re-embeds every chunk and memory of a vault from its stored text with the vault's
    /// configured model. New vectors are staged beside the old ones, which keep serving
    /// queries (embedded with the old model); the switch is one transaction at the end. Staged
    /// vectors survive a crash, so running it again resumes. Returns how many chunks and
    /// memories were re-embedded (0 when the vault is already on its configured model).
    pub fn reembed_vault(&self, name: &str, progress: &dyn IngestProgress) -> Result<u64, EngineError> {
        let _one_at_a_time = self.reembedding.lock().unwrap_or_else(|e| e.into_inner());
        let vault = self
            .store
            .vault(name)?
            .ok_or_else(|| EngineError::VaultNotFound { name: name.to_string(), known: self.configured_vaults() })?;
        let target = self.vault_spec(name);
        let current = vault.model_id.as_deref().zip(vault.dimension);
        if current.is_none_or(|(m, d)| m == target.model_id && d == target.dimension) {
            return self.check_embedder(&vault, false, progress);
        }
        let embedder = self.target_embedder(name)?;
        let resumed = self.store.begin_restage(vault.id, &target.model_id, target.dimension)?;
        let stats = self.store.vault_stats(vault.id)?;
        let memories = self.store.memory_stats(vault.id, self.now_ms())?;
        let total = stats.chunks.saturating_sub(stats.staged_vectors) + memories.total + memories.expired;
        tracing::info!(vault = %name, from = ?vault.model_id, to = %target.model_id, resumed, todo = total, "re-embedding");
        progress.source_started(name, "re-embed", total);
        let mut done = 0;
        // Until a pass finds nothing left (writes go on meanwhile, with the old model)...
        loop {
            let n = self.stage_pass(&vault, embedder.as_ref(), progress)?;
            done += n;
            if n == 0 {
                break;
            }
        }
        // ...then, with vector writes held off, the stragglers and the switch.
        let _switch = self.model_switch()?;
        done += self.stage_pass(&vault, embedder.as_ref(), progress)?;
        self.store.commit_staged_vectors(vault.id, &target.model_id, target.dimension)?;
        tracing::info!(vault = %name, model = %target.model_id, reembedded = done, "switched to the new model");
        Ok(done)
    }

    /// Stages new vectors for every chunk and memory of `vault` that has none yet.
    fn stage_pass(
        &self,
        vault: &trove_store::VaultInfo,
        embedder: &dyn Embedder,
        progress: &dyn IngestProgress,
    ) -> Result<u64, EngineError> {
        let mut done = 0u64;
        let mut after = 0;
        loop {
            progress.checkpoint()?;
            let chunks = self.store.chunks_to_reembed(vault.id, after, REEMBED_BATCH)?;
            let Some(last) = chunks.last() else { break };
            after = last.id;
            let inputs: Vec<String> =
                chunks.iter().map(|c| embedding_input(&c.title, &c.heading_path, &c.text)).collect();
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let vectors = embedder.embed(&refs)?;
            let staged: Vec<_> = chunks.iter().map(|c| c.id).zip(vectors).collect();
            self.store.stage_vectors(vault.id, &staged)?;
            done += staged.len() as u64;
            progress.advance(staged.len() as u64);
        }
        let mut after = 0;
        loop {
            progress.checkpoint()?;
            let memories = self.store.memories_to_reembed(vault.id, after, REEMBED_BATCH)?;
            let Some(last) = memories.last() else { break };
            after = last.rowid;
            let refs: Vec<&str> = memories.iter().map(|m| m.text.as_str()).collect();
            let vectors = embedder.embed(&refs)?;
            let staged: Vec<_> = memories.iter().zip(vectors).map(|(m, v)| (m.rowid, m.updated_ms, v)).collect();
            self.store.stage_memory_vectors(vault.id, &staged)?;
            done += staged.len() as u64;
            progress.advance(staged.len() as u64);
        }
        Ok(done)
    }

    /// The limits every conversion runs under (`ingest:` in the configuration).
    fn convert_limits(&self) -> trove_ingest::ConvertLimits {
        let ingest = &self.workspace.config.ingest;
        trove_ingest::ConvertLimits {
            max_file_bytes: ingest.max_file_bytes,
            max_unpacked_bytes: ingest.max_unpacked_bytes,
            timeout: Some(std::time::Duration::from_secs(ingest.convert_timeout_s)),
        }
    }

    /// The source a configuration describes.
    /// A source's configuration with its `${secret:…}` credentials replaced by their values
    /// (`organization`: the vault's organization row id, for `${secret:NAME}`).
    pub fn resolved_source(
        &self,
        vault: &str,
        organization: Option<i64>,
        name: &str,
        config: &SourceConfig,
    ) -> Result<SourceConfig, EngineError> {
        let mut config = config.clone();
        for (key, value) in config.credentials_mut() {
            if trove_config::secrets::parse_reference(value).is_some() {
                let at = format!("vaults.{vault}.sources.{name}.{key}");
                *value = self.resolve_credential(&at, Some((vault, organization)), value)?;
            }
        }
        Ok(config)
    }

    fn open_source(
        &self,
        vault: &str,
        organization: Option<i64>,
        name: &str,
        config: &SourceConfig,
    ) -> Result<Box<dyn Source>, EngineError> {
        let config = &self.resolved_source(vault, organization, name, config)?;
        Ok(match config {
            SourceConfig::Git(_) => {
                let opts = git_options(&self.workspace, vault, name, config)
                    .ok_or_else(|| EngineError::Internal("a git source without git options".into()))?;
                Box::new(GitSource::new(opts)?)
            }
            SourceConfig::Confluence(c) => Box::new(confluence(&self.workspace, vault, name, c)?),
            SourceConfig::Jira(j) => Box::new(jira(&self.workspace, vault, name, j)?),
            SourceConfig::Publicdocs(d) => Box::new(publicdocs(&self.workspace, vault, name, d)?),
            SourceConfig::Localfile(lf) => Box::new(LocalFileSource::new(LocalFileOptions {
                root: lf.path.clone(),
                include: lf.include.clone(),
                exclude: lf.exclude.clone(),
                file_types: lf.file_types.clone(),
                max_file_bytes: self.workspace.config.ingest.max_file_bytes,
            })?),
        })
    }

    /// Ingests the documents of `source` into the vault (created when absent) as source
    /// `source_name`, without deleting anything the source does not list: how uploads are
    /// indexed. Unchanged documents are skipped.
    pub fn ingest_documents(
        &self,
        vault: &str,
        source_name: &str,
        source: &dyn Source,
        progress: &dyn IngestProgress,
    ) -> Result<IngestSummary, EngineError> {
        let info = self.ensure_configured_vault(vault)?;
        self.check_embedder(&info, false, progress)?;
        let chunking = self.workspace.config.vaults.get(vault).map(|v| v.chunking.clone()).unwrap_or_default();
        self.ingest_source(info.id, vault, &chunking, source_name, source, false, false, progress)
    }

    /// Ingests one source. With `delete_missing`, stored documents the source no longer lists
    /// are deleted (a sync); without, the source only adds and replaces (an upload).
    #[allow(clippy::too_many_arguments)]
    fn ingest_source(
        &self,
        vault_id: VaultId,
        vault_name: &str,
        chunking: &ChunkingConfig,
        source_name: &str,
        source: &dyn Source,
        delete_missing: bool,
        force: bool,
        progress: &dyn IngestProgress,
    ) -> Result<IngestSummary, EngineError> {
        let started = Instant::now();
        let (refs, list_errors) = source.list()?;
        let mut summary = IngestSummary::default();
        for (path, err) in &list_errors {
            progress.document_failed(path, &err.to_string());
            summary.failed += 1;
            summary.failures.push(format!("{path}: {err}"));
        }
        progress.source_started(vault_name, source_name, refs.len() as u64);
        let stored: HashMap<String, String> =
            self.store.document_states(vault_id, source_name)?.into_iter().map(|s| (s.uri, s.content_hash)).collect();
        let chunking = ChunkingOptions { max_tokens: chunking.max_tokens, overlap_tokens: chunking.overlap_tokens };
        let fingerprint = format!(";chunks={}/{};v={PIPELINE_VERSION}", chunking.max_tokens, chunking.overlap_tokens);
        let listed: HashSet<String> = refs.iter().map(|r| r.uri.clone()).collect();

        // The embedder is needed only when something changed; look ahead cheaply is not
        // possible (hashing needs the bytes), so the producer resolves it on first need, once.
        let counter: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
        let (tx, rx) = sync_channel::<Item>(64);
        let result = std::thread::scope(|scope| {
            let producer = scope.spawn(|| {
                let tx = tx;
                for r in &refs {
                    if let Err(e) = progress.checkpoint() {
                        let _ = tx.send(Item::Fatal(e));
                        break;
                    }
                    // A source that versions its documents (git blobs, page versions) lets an
                    // unchanged one be skipped without reading it: the version is kept after
                    // the content hash and the pipeline's fingerprint.
                    let version = r.version.as_deref().map(|v| format!(";version={}", v.replace(';', ",")));
                    let previous = stored.get(&r.uri);
                    if !force
                        && let (Some(v), Some(p)) = (&version, previous)
                        && p.ends_with(&format!("{fingerprint}{v}"))
                    {
                        if tx.send(Item::Unchanged).is_err() {
                            break;
                        }
                        continue;
                    }
                    let item = match source.fetch(r) {
                        Err(e) => Item::Failed { uri: r.uri.clone(), reason: e.to_string() },
                        Ok(raw) => {
                            let hash = format!("{}{fingerprint}{}", raw.content_hash, version.unwrap_or_default());
                            if !force && previous == Some(&hash) {
                                Item::Unchanged
                            } else {
                                self.prepare(
                                    raw,
                                    hash,
                                    (vault_name, &counter),
                                    source_name,
                                    &chunking,
                                    previous.is_none(),
                                )
                            }
                        }
                    };
                    if tx.send(item).is_err() {
                        break; // the writer stopped on an error
                    }
                }
            });
            let outcome = self.write_items(vault_id, vault_name, rx, progress, &mut summary);
            let joined = producer.join();
            match (outcome, joined) {
                (Err(e), _) => Err(e),
                (Ok(()), Err(_)) => Err(EngineError::Internal("the document reader thread panicked".into())),
                (Ok(()), Ok(())) => Ok(()),
            }
        });
        result?;

        // Deletions: what is stored but no longer listed. Documents under a folder that could
        // not be listed are kept (we cannot tell whether they still exist).
        let unlisted_prefixes: Vec<String> =
            list_errors.iter().map(|(p, _)| p.trim_end_matches('/').to_string() + "/").collect();
        for uri in stored.keys().filter(|_| delete_missing) {
            if listed.contains(uri) || unlisted_prefixes.iter().any(|p| uri.starts_with(p.as_str())) {
                continue;
            }
            if self.store.delete_document(vault_id, source_name, uri)? {
                summary.deleted += 1;
            }
        }
        summary.seconds = started.elapsed().as_secs_f64();
        progress.source_finished(vault_name, source_name, &summary);
        tracing::info!(
            vault = vault_name,
            source = source_name,
            added = summary.added,
            updated = summary.updated,
            deleted = summary.deleted,
            unchanged = summary.unchanged,
            failed = summary.failed,
            chunks = summary.chunks,
            seconds = summary.seconds,
            "ingested source"
        );
        let record = serde_json::json!({
            "added": summary.added, "updated": summary.updated, "deleted": summary.deleted,
            "unchanged": summary.unchanged, "failed": summary.failed,
            "failures": summary.failures.iter().take(10).collect::<Vec<_>>(),
        });
        self.store.source_sync_record(vault_id, source_name, self.now_ms(), &record.to_string())?;
        Ok(summary)
    }

    /// Converts and chunks one fetched document (producer side).
    fn prepare(
        &self,
        raw: trove_ingest::RawDocument,
        hash: String,
        (vault, counter): (&str, &OnceLock<Arc<dyn Embedder>>),
        source: &str,
        chunking: &ChunkingOptions,
        is_new: bool,
    ) -> Item {
        let uri = raw.uri.clone();
        let mut parsed = match trove_ingest::convert_with(&raw, &self.convert_limits()) {
            Ok(p) => p,
            Err(e) => return Item::Failed { uri, reason: e.to_string() },
        };
        if let Some(title) = raw.title {
            parsed.title = title;
        }
        for (key, value) in raw.metadata {
            parsed.metadata.entry(key).or_insert(value);
        }
        // Token counts (chunk sizes) come from the vault's current model.
        let embedder = match counter.get() {
            Some(e) => e.clone(),
            None => match self.store.vault(vault).map_err(EngineError::from).and_then(|v| match v {
                Some(v) => self.vault_embedder(&v),
                None => self.target_embedder(vault),
            }) {
                Ok(e) => counter.get_or_init(|| e).clone(),
                Err(e) => return Item::Fatal(e),
            },
        };
        let chunks = trove_ingest::chunk(&parsed, chunking, &TokenCount(embedder.as_ref()));
        let texts = chunks.iter().map(|c| embedding_input(&parsed.title, &c.heading_path, &c.text)).collect();
        let doc = NewDocument {
            source: source.to_string(),
            uri,
            title: parsed.title,
            content_hash: hash,
            metadata: serde_json::Value::Object(parsed.metadata),
            modified_unix_ms: Some(raw.modified_unix_ms),
            chunks: chunks
                .into_iter()
                .map(|c| NewChunk {
                    text: c.text,
                    heading_path: c.heading_path,
                    token_count: c.token_count,
                    vector: Vec::new(),
                })
                .collect(),
        };
        Item::Ready { doc, texts, is_new }
    }

    /// Gathers ready documents into groups, embeds and writes each group (writer side).
    fn write_items(
        &self,
        vault_id: VaultId,
        vault_name: &str,
        rx: Receiver<Item>,
        progress: &dyn IngestProgress,
        summary: &mut IngestSummary,
    ) -> Result<(), EngineError> {
        let mut group: Vec<(NewDocument, Vec<String>, bool)> = Vec::new();
        let mut group_chunks = 0usize;
        let limit = self.workspace.config.ingest.group_chunks;
        let mut closed = false;
        while !closed {
            // Block for the next item, then take whatever else is already waiting.
            let mut next = rx.recv().ok();
            if next.is_none() {
                closed = true;
            }
            while let Some(item) = next.take() {
                match item {
                    Item::Unchanged => {
                        summary.unchanged += 1;
                        progress.advance(1);
                    }
                    Item::Failed { uri, reason } => {
                        progress.document_failed(&uri, &reason);
                        summary.failed += 1;
                        summary.failures.push(format!("{uri}: {reason}"));
                        progress.advance(1);
                    }
                    Item::Fatal(e) => return Err(e),
                    Item::Ready { doc, texts, is_new } => {
                        group_chunks += texts.len();
                        group.push((doc, texts, is_new));
                    }
                }
                if group_chunks >= limit {
                    break;
                }
                match rx.try_recv() {
                    Ok(item) => next = Some(item),
                    Err(std::sync::mpsc::TryRecvError::Empty) => {}
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => closed = true,
                }
            }
            if !group.is_empty() && (group_chunks >= limit || closed) {
                self.flush(vault_id, vault_name, &mut group, summary, progress)?;
                group_chunks = 0;
            }
        }
        if !group.is_empty() {
            self.flush(vault_id, vault_name, &mut group, summary, progress)?;
        }
        Ok(())
    }

    fn flush(
        &self,
        vault_id: VaultId,
        vault_name: &str,
        group: &mut Vec<(NewDocument, Vec<String>, bool)>,
        summary: &mut IngestSummary,
        progress: &dyn IngestProgress,
    ) -> Result<(), EngineError> {
        progress.checkpoint()?;
        let started = Instant::now();
        let texts: Vec<&str> = group.iter().flat_map(|(_, t, _)| t.iter().map(String::as_str)).collect();
        // Vectors come from the model of the vault's current vectors, read under the lock a
        // re-embed's switch takes, so they cannot land after a switch to another model.
        let _vectors = self.vector_writes()?;
        let vectors = if texts.is_empty() {
            Vec::new()
        } else {
            let info = self.store.vault(vault_name)?.ok_or_else(|| EngineError::VaultNotFound {
                name: vault_name.to_string(),
                known: self.configured_vaults(),
            })?;
            self.vault_embedder(&info)?.embed(&texts)?
        };
        let mut vectors = vectors.into_iter();
        let mut docs = Vec::with_capacity(group.len());
        let (mut added, mut updated, mut chunks, mut tokens) = (0, 0, 0, 0);
        for (mut doc, _, is_new) in group.drain(..) {
            for chunk in &mut doc.chunks {
                chunk.vector = vectors
                    .next()
                    .ok_or_else(|| EngineError::Internal("the embedder returned too few vectors".into()))?;
                tokens += chunk.token_count as u64;
            }
            chunks += doc.chunks.len() as u64;
            if is_new {
                added += 1
            } else {
                updated += 1
            }
            docs.push(doc);
        }
        self.store.put_documents(vault_id, &docs)?;
        summary.added += added;
        summary.updated += updated;
        summary.chunks += chunks;
        summary.tokens += tokens;
        progress.advance(docs.len() as u64);
        progress.group_written(docs.len() as u64, chunks, started.elapsed());
        Ok(())
    }
}

/// The site, credentials and HTTP settings of a `confluence` or `jira` source; the proxy comes
/// from the environment.
fn confluence(
    ws: &Workspace,
    vault: &str,
    name: &str,
    c: &trove_config::ConfluenceConfig,
) -> Result<ConfluenceSource, trove_ingest::IngestError> {
    ConfluenceSource::new(ConfluenceOptions {
        connection: connection(vault, name, c.site()),
        space: c.space.clone(),
        include_labels: c.include_labels.clone(),
        exclude_labels: c.exclude_labels.clone(),
        max_file_bytes: ws.config.ingest.max_file_bytes,
        page_size: trove_ingest::confluence::PAGE_SIZE,
        attachments: c.attachments,
        attachment_types: c.attachment_types.clone(),
    })
}

fn jira(
    ws: &Workspace,
    vault: &str,
    name: &str,
    j: &trove_config::JiraConfig,
) -> Result<JiraSource, trove_ingest::IngestError> {
    JiraSource::new(JiraOptions {
        connection: connection(vault, name, j.site()),
        project: j.project.clone(),
        jql: j.jql.clone(),
        max_file_bytes: ws.config.ingest.max_file_bytes,
        page_size: trove_ingest::jira::PAGE_SIZE,
    })
}

/// A `publicdocs` source; the validators and links of its last listing live under the data
/// folder, `publicdocs/<vault>/<source>/state.json`; the proxy comes from the environment.
fn publicdocs(
    ws: &Workspace,
    vault: &str,
    name: &str,
    d: &trove_config::PublicDocsConfig,
) -> Result<PublicDocsSource, trove_ingest::IngestError> {
    PublicDocsSource::new(PublicDocsOptions {
        base_url: d.base_url.trim().to_string(),
        max_depth: d.max_depth,
        max_pages: d.max_pages,
        include: d.include.clone(),
        exclude: d.exclude.clone(),
        content_selector: d.content_selector.clone(),
        drop_selectors: d.drop_selectors.clone(),
        requests_per_minute: d.requests_per_minute,
        timeout: Duration::from_secs(d.timeout_s),
        ca_file: d.ca_file.clone(),
        proxy: trove_http::proxy_from_env(&d.base_url, |v| std::env::var(v).ok()),
        user_agent: d.user_agent.clone(),
        state_dir: Some(ws.data_dir().join("publicdocs").join(vault).join(name)),
        max_file_bytes: ws.config.ingest.max_file_bytes,
        max_retries: 5,
        key: format!("vaults.{vault}.sources.{name}"),
    })
}

/// Checks a configured source answers as configured, reading no document and changing
/// nothing (`trove doctor`): a folder can be listed; a git repository answers and has the
/// branch (`git ls-remote` for a remote); a Confluence space or JIRA query is readable with
/// the credentials; a public site's base page answers with HTML and robots.txt allows it.
/// Says what it found.
pub fn probe_source(ws: &Workspace, vault: &str, name: &str, config: &SourceConfig) -> Result<String, EngineError> {
    Ok(match config {
        SourceConfig::Localfile(lf) => {
            let entries = std::fs::read_dir(&lf.path)
                .map_err(|e| trove_ingest::IngestError::io(lf.path.display().to_string(), e))?;
            format!("folder {} readable ({} entries at the top)", lf.path.display(), entries.count())
        }
        SourceConfig::Git(g) => {
            let opts = git_options(ws, vault, name, config)
                .ok_or_else(|| EngineError::Internal("a git source without git options".into()))?;
            let git = GitSource::new(opts)?;
            let commit = git.probe()?;
            let branch = g.branch.clone().unwrap_or_else(|| "the default branch".into());
            format!("{} answers; {branch} is at {}", git.display_repo(), &commit[..commit.len().min(10)])
        }
        SourceConfig::Confluence(c) => confluence(ws, vault, name, c)?.probe()?,
        SourceConfig::Jira(j) => jira(ws, vault, name, j)?.probe()?,
        SourceConfig::Publicdocs(d) => publicdocs(ws, vault, name, d)?.probe()?,
    })
}

fn connection(vault: &str, name: &str, site: AtlassianSite<'_>) -> Connection {
    Connection {
        deployment: match site.deployment {
            AtlassianDeployment::Cloud => Deployment::Cloud,
            AtlassianDeployment::Datacenter => Deployment::DataCenter,
        },
        base_url: site.base_url.to_string(),
        email: site.email.map(str::to_string),
        api_token: site.api_token.map(str::to_string),
        token: site.token.map(str::to_string),
        timeout: Duration::from_secs(site.timeout_s),
        requests_per_minute: site.requests_per_minute,
        ca_file: site.ca_file.cloned(),
        proxy: trove_http::proxy_from_env(site.base_url, |v| std::env::var(v).ok()),
        max_retries: 5,
        key: format!("vaults.{vault}.sources.{name}"),
    }
}
