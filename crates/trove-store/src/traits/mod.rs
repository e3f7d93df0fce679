//! The storage traits the engine is written against, one per domain, each implemented by every
//! backend in a module of the same name (`embedded/jobs.rs`, `trove-store-postgres`'s
//! `jobs.rs`, ...): [`Backend`] (what kind of backend it is, and its upkeep), [`VaultStore`],
//! [`DocumentStore`], [`MemoryStore`], [`ConversationStore`], [`JobQueue`], [`TenancyStore`] (itself an umbrella over
//! [`UserStore`], [`OrganizationStore`], [`GrantStore`], [`CredentialStore`] and
//! [`SecretStore`]) and [`AuditLog`]. [`Store`] is all of them; it has a blanket
//! implementation, so a backend implements the domain traits and is a `Store`.
//!
//! Method names carry their domain (`memory_put`, `job_claim`, `secret_reseal`), so no two
//! traits share a name and a `dyn Store` answers every method without further imports. A
//! concrete backend type needs the traits it calls in scope (`use trove_store::prelude::*`).
//!
//! Reads and writes are not split into separate traits: no caller holds a read-only view of a
//! store, and the embedded store's read-only handle ([`crate::embedded::EmbeddedStore::open_reader`])
//! implements every trait anyway (SQLite's `query_only` refuses its writes). A split would double
//! the traits without a caller that needs it.

mod audit;
mod backend;
mod conversations;
mod documents;
mod jobs;
mod memory;
mod tenancy;
mod vaults;

pub use audit::AuditLog;
pub use backend::{Backend, JobWaiter};
pub use conversations::ConversationStore;
pub use documents::DocumentStore;
pub use jobs::JobQueue;
pub use memory::MemoryStore;
pub use tenancy::{CredentialStore, GrantStore, OrganizationStore, SecretStore, TenancyStore, UserStore};
pub use vaults::VaultStore;

/// Everything a store does: what the engine holds (`Box<dyn Store>`). Implemented for every
/// type that implements the domain traits.
pub trait Store:
    Backend
    + VaultStore
    + DocumentStore
    + MemoryStore
    + ConversationStore
    + JobQueue
    + TenancyStore
    + AuditLog
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: Backend
        + VaultStore
        + DocumentStore
        + MemoryStore
        + ConversationStore
        + JobQueue
        + TenancyStore
        + AuditLog
        + Send
        + Sync
{
}
