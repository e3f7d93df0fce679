//! The engine: every operation Trove offers (ingest, search, re-embed, memories, document
//! listing, reading around hits), written once against the storage traits and the
//! [`Embedder`](trove_embed::Embedder) trait. The CLI calls it directly; the HTTP and MCP
//! servers call the same functions on blocking threads.
//!
//! Who may do what is decided in one place, [`access`]: vault-scoped operations take an
//! [`Access`] (a proof of the check, which only the engine makes) instead of a vault name, and
//! the CLI goes through it too, as [`auth::Principal::Local`]. Transports never reach the
//! store: what they show of it (health, metrics) goes through named read-only accessors
//! ([`status`]), and the store types they need are re-exported here.
//!
//! Invariants: the engine knows no transport (no HTTP, no terminal); it never writes SQL; a
//! vault's vectors all come from the model recorded for the vault (a different configured
//! model is an error until the vault is re-embedded).

pub mod access;
pub mod accounts;
pub mod answer;
pub mod audit;
pub mod auth;
mod documents;
mod engine;
mod error;
pub mod explore;
pub mod grants;
mod highlight;
mod ingest;
pub mod invitations;
pub mod jobs;
pub mod mail;
mod media_models;
pub mod members;
pub mod memory;
mod model_switch;
mod search;
pub mod secrets;
pub mod sessions;
pub mod status;
pub mod tokens;
pub mod worker;

pub use access::{Access, AnyAccess, JobAccess, perm};
pub use answer::{AnswerEvent, AnswerRequest, AnswerStream, chat_options};
pub use documents::MAX_DOCUMENT_LIMIT;
pub use engine::{EmbedderSpec, Engine, OpenMode, ann_settings, postgres_options, qdrant_index, rest_options};
pub use error::{EngineError, StopReason};
pub use ingest::{IngestOptions, IngestProgress, IngestReport, NoProgress, git_options, probe_source};
pub use jobs::JobQuery;
pub use media_models::{caption_prompt, transcription_options, vision_options};
pub use search::{MAX_LIMIT, SearchRequest, chunk_filter};
/// The store's statement timings, for the metrics page.
pub use trove_store::metrics as store_metrics;
/// Store types the transports show or pass on (search filters, audit entries, health and
/// metrics figures), re-exported so that no transport depends on a store crate.
pub use trove_store::{
    ChunkFilter, ConnectionStats, ExternalIndexStats, ExternalIndexStatus, JobCounts, NewAuditEvent,
};

/// The text a chunk is embedded as: its heading path (or its document's title when it has no
/// heading) on the first line, then its text. Stored chunks keep text and headings apart; this
/// is the one place that joins them, for ingest and re-embedding alike.
pub fn embedding_input(title: &str, heading_path: &[String], text: &str) -> String {
    let context = if heading_path.is_empty() { title.to_string() } else { heading_path.join(" > ") };
    if context.is_empty() { text.to_string() } else { format!("{context}\n{text}") }
}

// The servers share one engine between request threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_input_prefers_headings_over_title() {
        assert_eq!(embedding_input("T", &["A".into(), "B".into()], "body"), "A > B\nbody");
        assert_eq!(embedding_input("T", &[], "body"), "T\nbody");
        assert_eq!(embedding_input("", &[], "body"), "body");
    }
}
