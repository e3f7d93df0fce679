//! Text embeddings for Trove. This crate owns the [`Embedder`] trait the engine embeds passages
//! and queries through, the built-in local model all-MiniLM-L6-v2 ([`LocalEmbedder`]: a small
//! BERT encoder run on the CPU by a hand-written forward pass, tokenized with `tokenizers`, mean-pooled and
//! L2-normalised exactly as sentence-transformers does), and the [`model`] module that finds,
//! installs and verifies the model files; and [`RestEmbedder`], embeddings from a REST API
//! (OpenAI, Azure OpenAI, Ollama, OpenAI-compatible servers); and [`ClipModel`], CLIP's text
//! and vision towers (a Hugging Face `CLIPModel` checkpoint such as
//! openai/clip-vit-base-patch32) on the same kernels, embedding texts and encoded images into
//! one space, checked against transformers (`docs/models.md` says which files to download).
//! Nothing here touches the network
//! except [`model::install`], which runs pip, and [`RestEmbedder`]. [`StageTimes`] shows where
//! the time of a built-in embedding call goes, stage by stage ([`LocalEmbedder::embed_timed`],
//! for the benchmark).
//!
//! ```no_run
//! use trove_embed::{Embedder, LocalEmbedder, LocalOptions, model};
//! # fn main() -> Result<(), trove_embed::EmbedError> {
//! let dir = model::resolve_or_install(None, true)?;
//! let embedder = LocalEmbedder::load(&dir, &LocalOptions::default())?;
//! let vectors = embedder.embed(&["how do I reset my password?", "account recovery steps"])?;
//! let similarity: f32 = vectors[0].iter().zip(&vectors[1]).map(|(a, b)| a * b).sum();
//! assert_eq!(vectors[0].len(), embedder.dimension());
//! # let _ = similarity;
//! # Ok(())
//! # }
//! ```

mod batching;
mod bert;
mod clip;
mod clip_install;
mod error;
mod kernels;
mod local;
pub mod model;
mod parallel;
mod rest;
mod stages;

#[cfg(test)]
mod test_support;

pub use batching::BatchingEmbedder;
pub use clip::{CLIP_REQUIRED_FILES, CLIP_WEIGHTS_FILE, ClipModel};
pub use clip_install::{CLIP_DIR_ENV, CLIP_OPTIONAL_FILES, default_clip_dir, install_clip, resolve_clip};
pub use error::{EmbedError, ImageFault};
pub use local::{LocalEmbedder, LocalOptions, Precision};
pub use rest::{RestEmbedder, RestOptions, RestProtocol};
pub use stages::{Stage, StageTime, StageTimes};
pub use trove_http::proxy_from_env;

/// Turns text into fixed-size vectors whose cosine similarity reflects similarity of meaning.
///
/// Implementations are shared between threads (`Send + Sync`); [`Embedder::embed`] may be called
/// concurrently.
pub trait Embedder: Send + Sync {
    /// Stable id recorded per vault, e.g. `"builtin/all-MiniLM-L6-v2"`. Vectors made under one
    /// id are only comparable with vectors made under the same id.
    fn model_id(&self) -> &str;

    /// Length of every vector [`Embedder::embed`] returns (384 for the built-in model).
    fn dimension(&self) -> usize;

    /// The most tokens one input is embedded with, including the `[CLS]`/`[SEP]` special tokens
    /// (256 for the built-in model); longer inputs are truncated.
    fn max_input_tokens(&self) -> usize;

    /// Number of wordpiece tokens of `text`, without special tokens and without truncation.
    /// Chunkers use this to size passages: a passage embeds without loss when
    /// `count_tokens(p) + 2 <= max_input_tokens()`.
    fn count_tokens(&self, text: &str) -> usize;

    /// L2-normalised embeddings of `texts`, one per input, in input order.
    ///
    /// Internally inputs are sorted by token length, truncated at
    /// [`Embedder::max_input_tokens`] and embedded in batches; the result for a text does not
    /// depend on what else is in the call. An empty slice gives an empty result.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// For an embedder that calls a remote service: how its last call went (`None` before the
    /// first, and for local models). Health checks read it instead of calling the service.
    fn last_call(&self) -> Option<LastCall> {
        None
    }
}

/// An embedder that wraps another and changes only how [`Embedder::embed`] runs (batching,
/// timing, holding calls in tests): the model's id, dimension, input limit, token counts and
/// last call are the inner embedder's, forwarded here once for every wrapper.
pub trait EmbedderWrapper: Send + Sync {
    /// The embedder this one wraps.
    fn inner(&self) -> &dyn Embedder;

    /// What [`Embedder::embed`] does for this wrapper, the one thing a wrapper changes (a name
    /// of its own, so that calls of `embed` on a wrapper stay unambiguous).
    fn embed_wrapped(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

impl<W: EmbedderWrapper> Embedder for W {
    fn model_id(&self) -> &str {
        self.inner().model_id()
    }

    fn dimension(&self) -> usize {
        self.inner().dimension()
    }

    fn max_input_tokens(&self) -> usize {
        self.inner().max_input_tokens()
    }

    fn count_tokens(&self, text: &str) -> usize {
        self.inner().count_tokens(text)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_wrapped(texts)
    }

    fn last_call(&self) -> Option<LastCall> {
        self.inner().last_call()
    }
}

/// How a remote embedder's last call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastCall {
    /// When it ended (Unix ms).
    pub at_ms: i64,
    /// Its error, when it failed.
    pub error: Option<String>,
}
