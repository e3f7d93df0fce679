//! The audit log: who did what to which vault, from where, and when. Security events
//! (refused requests, users and keys created or revoked, vault ownership) and every change to
//! data made through a transport are appended by their callers with [`Engine::audit`];
//! [`Engine::audit_query`] reads them back filtered by time range, event and actor with a
//! cursor, and [`Engine::audit_prune`] drops entries older than `auth.audit_retention_days`.
//!
//! Appending never fails the operation it describes: an entry that cannot be written is
//! logged as an error instead (the operation already happened).

use trove_store::{AuditFilter, NewAuditEvent};
pub use trove_types::AuditQuery;
use trove_types::{AuditEvent, AuditPage};

use crate::auth::Principal;
use crate::documents::parse_row_cursor;
use crate::memory::{format_ms, parse_time};
use crate::{Engine, EngineError};

/// The most entries one page returns.
pub const MAX_AUDIT_LIMIT: usize = 1000;

impl Engine {
    /// Appends an entry (its time is now when `at_ms` is 0).
    pub fn audit(&self, mut event: NewAuditEvent) {
        if event.at_ms == 0 {
            event.at_ms = self.now_ms();
        }
        if let Err(e) = self.store.audit_append(&event) {
            tracing::error!(error = %e, event = %event.event, actor = %event.actor, "cannot write an audit-log entry");
        }
    }

    /// A page of the entries `principal` may read (a key: its organization's), newest first.
    pub fn audit_query(&self, principal: &Principal, q: &AuditQuery) -> Result<AuditPage, EngineError> {
        let limit = q.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_AUDIT_LIMIT {
            return Err(EngineError::BadRequest(format!("limit must be between 1 and {MAX_AUDIT_LIMIT}, got {limit}")));
        }
        let filter = AuditFilter {
            organization: principal.organization(),
            from_ms: q.from.as_deref().map(|v| parse_time("from", v)).transpose()?,
            to_ms: q.to.as_deref().map(|v| parse_time("to", v)).transpose()?,
            event: q.event.clone().filter(|e| !e.is_empty()),
            actor: q.actor.clone().filter(|a| !a.is_empty()),
        };
        let before = q.cursor.as_deref().map(parse_row_cursor).transpose()?;
        let rows = self.store.audit_query(&filter, before, limit + 1)?;
        let more = rows.len() > limit;
        let events: Vec<AuditEvent> = rows
            .into_iter()
            .take(limit)
            .map(|r| AuditEvent {
                id: r.id,
                at: format_ms(r.event.at_ms),
                event: r.event.event,
                actor: r.event.actor,
                ip: r.event.ip,
                target: r.event.target,
                outcome: r.event.outcome,
                organization: r.organization_name,
                details: r.event.details,
            })
            .collect();
        let next_cursor = if more { events.last().map(|e| e.id.to_string()) } else { None };
        Ok(AuditPage { events, next_cursor })
    }

    /// Deletes entries older than the retention; returns how many.
    pub fn audit_prune(&self) -> Result<u64, EngineError> {
        let days = self.workspace.config.auth.audit_retention_days as i64;
        Ok(self.store.audit_prune(self.now_ms() - days * 86_400_000)?)
    }
}
