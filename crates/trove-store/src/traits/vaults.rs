//! [`VaultStore`]: vaults themselves (names, the model of their vectors, their organization),
//! deleting a vault with everything in it, and the vault-wide steps of re-embedding (begin,
//! switch, abandon).

use crate::{StoreError, VaultId, VaultInfo};

/// Vaults.
pub trait VaultStore: Send + Sync {
    /// A vault by name.
    fn vault(&self, name: &str) -> Result<Option<VaultInfo>, StoreError>;
    /// All vaults, by name.
    fn vaults(&self) -> Result<Vec<VaultInfo>, StoreError>;
    /// Returns the vault, creating it when absent.
    fn ensure_vault(&self, name: &str) -> Result<VaultInfo, StoreError>;
    /// Records which model made the vault's vectors.
    fn set_vault_embedder(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError>;
    /// Gives a vault to an organization (or to none).
    fn vault_set_organization(&self, vault: VaultId, organization: Option<i64>) -> Result<(), StoreError>;
    /// Gives every vault that has no organization to this one; returns how many.
    fn vaults_claim_unowned(&self, organization: i64) -> Result<u64, StoreError>;
    /// Deletes a vault with everything in it (documents, chunks, memories, their indexes).
    /// `false` when absent. Jobs that name it stay (they fail when they run).
    fn delete_vault(&self, vault: VaultId) -> Result<bool, StoreError>;
    /// Starts (or resumes) re-embedding to `model_id`: vectors already staged for that model
    /// and dimension are kept (returns `true`), ones staged for another are dropped.
    fn begin_restage(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<bool, StoreError>;
    /// Atomically switches the vault (chunks and memories) to its staged vectors and the new
    /// model. Fails when a chunk or memory has no staged vector.
    fn commit_staged_vectors(&self, vault: VaultId, model_id: &str, dimension: usize) -> Result<(), StoreError>;
    /// Drops staged vectors (a re-embed that is abandoned).
    fn clear_staged_vectors(&self, vault: VaultId) -> Result<(), StoreError>;
}
