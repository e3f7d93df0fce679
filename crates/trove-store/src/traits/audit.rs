//! [`AuditLog`]: the append-only log of who did what, queried by filter and pruned by age.

use crate::{AuditFilter, AuditRecord, NewAuditEvent, StoreError};

/// The audit log.
pub trait AuditLog: Send + Sync {
    /// Appends an audit entry; returns its id.
    fn audit_append(&self, event: &NewAuditEvent) -> Result<i64, StoreError>;
    /// Audit entries matching `filter` with id below `before`, newest first, at most `limit`.
    fn audit_query(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Deletes audit entries older than `older_than_ms`; returns how many.
    fn audit_prune(&self, older_than_ms: i64) -> Result<u64, StoreError>;
}
