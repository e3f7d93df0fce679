//! The audit log in the embedded store: appended to, read newest first in pages under
//! filters (an event filter ending in `.` matches the whole family), pruned by age. Entries
//! name their organization without a foreign key: they outlive what they describe.

use rusqlite::params;
use rusqlite::types::Value as SqlValue;

use super::EmbeddedStore;
use crate::{AuditFilter, AuditLog, AuditRecord, NewAuditEvent, StoreError};

impl AuditLog for EmbeddedStore {
    fn audit_append(&self, e: &NewAuditEvent) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO audit_log (at_ms, organization_id, actor, ip, event, target, outcome, details)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            e.at_ms,
            e.organization,
            e.actor,
            e.ip,
            e.event,
            e.target,
            e.outcome,
            e.details.to_string()
        ])?;
        Ok(conn.last_insert_rowid())
    }

    fn audit_query(&self, f: &AuditFilter, before: Option<i64>, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT a.id, a.at_ms, a.organization_id, a.actor, a.ip, a.event, a.target, a.outcome, a.details, o.name
             FROM audit_log a LEFT JOIN organizations o ON o.id = a.organization_id WHERE 1",
        );
        let mut args: Vec<SqlValue> = Vec::new();
        let mut cond = |sql_part: &str, v: SqlValue| {
            sql.push_str(sql_part);
            args.push(v);
        };
        if let Some(o) = f.organization {
            cond(" AND a.organization_id = ?", o.into());
        }
        if let Some(t) = f.from_ms {
            cond(" AND a.at_ms >= ?", t.into());
        }
        if let Some(t) = f.to_ms {
            cond(" AND a.at_ms < ?", t.into());
        }
        match &f.event {
            Some(e) if e.ends_with('.') => {
                cond(" AND substr(a.event, 1, ?)", (e.chars().count() as i64).into());
                cond(" = ?", e.clone().into());
            }
            Some(e) => cond(" AND a.event = ?", e.clone().into()),
            None => {}
        }
        if let Some(a) = &f.actor {
            cond(" AND a.actor = ?", a.clone().into());
        }
        if let Some(b) = before {
            cond(" AND a.id < ?", b.into());
        }
        cond(" ORDER BY a.id DESC LIMIT ?", (limit as i64).into());
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((
                AuditRecord {
                    id: r.get(0)?,
                    event: NewAuditEvent {
                        at_ms: r.get(1)?,
                        organization: r.get(2)?,
                        actor: r.get(3)?,
                        ip: r.get(4)?,
                        event: r.get(5)?,
                        target: r.get(6)?,
                        outcome: r.get(7)?,
                        details: serde_json::Value::Null,
                    },
                    organization_name: r.get(9)?,
                },
                r.get::<_, String>(8)?,
            ))
        })?;
        rows.map(|row| {
            let (mut rec, details) = row?;
            rec.event.details = serde_json::from_str(&details)
                .map_err(|e| StoreError::Corrupt(format!("details of audit entry {}: {e}", rec.id)))?;
            Ok(rec)
        })
        .collect()
    }

    fn audit_prune(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        Ok(self.conn().execute("DELETE FROM audit_log WHERE at_ms < ?", [older_than_ms])? as u64)
    }
}
