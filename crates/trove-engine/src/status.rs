//! What the transports may ask of the store directly, as named calls rather than the store
//! itself: figures for health and metrics (a trivial read, the connection pool, the external
//! vector index), and the few node-wide services a server needs (whether several nodes share
//! the store, repairing the external index at start, rate-limit buckets every node shares,
//! an organization's row id for an audit entry). Nothing here is vault-scoped: what a caller
//! may read of a vault goes through [`crate::access`].

use crate::{ConnectionStats, Engine, EngineError, ExternalIndexStats, ExternalIndexStatus};

impl Engine {
    /// A trivial read of the store, for readiness: how many vaults it holds.
    pub fn stored_vault_count(&self) -> Result<usize, EngineError> {
        Ok(self.store.vaults()?.len())
    }

    /// The connection pool's figures, for a store that talks to a server (`None` for the
    /// embedded store).
    pub fn store_connections(&self) -> Option<ConnectionStats> {
        self.store.connections()
    }

    /// The external vector index beside the store (Qdrant), if one is attached: what it is,
    /// whether it answers, and how many changes it has not applied yet. Asks the index.
    pub fn external_index(&self) -> Option<ExternalIndexStatus> {
        self.store.external_index()
    }

    /// The external vector index's request figures and pending changes (no request to it).
    pub fn external_index_stats(&self) -> Option<ExternalIndexStats> {
        self.store.external_index_stats()
    }

    /// Whether other processes (other nodes) write the same store.
    pub fn store_shared(&self) -> bool {
        self.store.shared()
    }

    /// Compares the external vector index with the system of record and repairs what differs;
    /// how many vaults needed it (0 without an index).
    pub fn reconcile_index(&self) -> Result<u64, EngineError> {
        Ok(self.store.reconcile_index()?)
    }

    /// Takes (with `take`) or looks at a token of the rate-limit bucket `key` that every node
    /// sharing the store counts against: `Some(Ok(Ok(())))` when there was one,
    /// `Some(Ok(Err(ms)))` how long until the next, `None` when the store keeps no shared
    /// buckets (one process counts in memory).
    pub fn rate_limit(
        &self,
        key: &str,
        capacity: f64,
        per_second: f64,
        now_ms: i64,
        take: bool,
    ) -> Option<Result<Result<(), i64>, EngineError>> {
        self.store.rate_limit(key, capacity, per_second, now_ms, take).map(|r| r.map_err(EngineError::from))
    }

    /// The row id of the organization named `name`, if it exists (for audit entries).
    pub fn find_organization(&self, name: &str) -> Result<Option<i64>, EngineError> {
        Ok(self.store.organization(name)?.map(|o| o.id))
    }
}
