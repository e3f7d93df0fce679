//! Where Trove keeps what it knows. This crate owns the storage traits, one per domain
//! ([`VaultStore`], [`DocumentStore`], [`MemoryStore`], [`JobQueue`], [`TenancyStore`],
//! [`AuditLog`], [`Backend`]; [`Store`] is all of them, what the engine holds; see `traits/`),
//! the embedded backend ([`embedded::EmbeddedStore`]: SQLite in WAL mode as the system of
//! record, holding a persisted BM25 keyword index written with the rows and a change log
//! that the vector indexes follow (in memory, or memory-mapped `trove-ann` files for large
//! vaults), laid out like `trove-store-postgres`: a module
//! per trait), the text [`analysis`] and the
//! reciprocal rank [`fusion`] every backend shares, the workspace [`lock`] (shared by writers,
//! exclusive for schema upgrades and `trove migrate`) and the registry of the [`processes`] that
//! have a workspace open,
//! and (feature `testing`, for tests only) the `conformance` suite every backend must pass,
//! one test per check through `conformance_tests!`.
//!
//! Invariants: only store crates know SQL; a document's chunks, vectors and keyword postings change
//! together in one transaction (derived indexes follow by generation and the change log), so no
//! reader ever sees a half-written document
//! and a crash leaves either the old or the new version; every stored format carries a schema
//! version and is migrated forward on open (never backward).

pub mod analysis;
mod bm25;
#[cfg(feature = "testing")]
pub mod conformance;
pub mod embedded;
mod error;
pub mod fusion;
mod history;
pub mod lock;
pub mod metrics;
pub mod migrations;
pub mod processes;
mod traits;
mod types;
mod vector;

pub use error::StoreError;
pub use history::*;
pub use traits::*;
pub use types::*;

/// The storage traits, for `use trove_store::prelude::*` where a concrete backend type
/// ([`embedded::EmbeddedStore`], `PgStore`) calls methods of several domains. A `dyn Store`
/// needs no import: its methods are the traits'.
pub mod prelude {
    pub use crate::traits::{
        AuditLog, Backend, ConversationStore, CredentialStore, DocumentStore, GrantStore, JobQueue, MemoryStore,
        OrganizationStore, SecretStore, Store, TenancyStore, UserStore, VaultStore,
    };
}
