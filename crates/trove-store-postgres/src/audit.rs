//! The audit log in PostgreSQL: appended to, read newest first in pages under filters, pruned
//! by age. Entries name their organization without a foreign key: they outlive what they
//! describe.

use postgres::types::ToSql;

use crate::*;

impl AuditLog for PgStore {
    fn audit_append(&self, e: &NewAuditEvent) -> Result<i64, StoreError> {
        self.write(|tx| {
            Ok(tx
                .query_one(
                    "INSERT INTO audit_log (at_ms, organization_id, actor, ip, event, target, outcome, details)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[
                        &e.at_ms,
                        &e.organization,
                        &e.actor,
                        &e.ip,
                        &e.event,
                        &e.target,
                        &e.outcome,
                        &e.details.to_string(),
                    ],
                )?
                .try_get(0)?)
        })
    }

    /// Entries matching `f` with ids below `before`, newest first, at most `limit`. An event
    /// filter ending in `.` matches the whole family (`key.` matches `key.created`).
    fn audit_query(&self, f: &AuditFilter, before: Option<i64>, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT a.id, a.at_ms, a.organization_id, a.actor, a.ip, a.event, a.target, a.outcome, a.details, o.name
             FROM audit_log a LEFT JOIN organizations o ON o.id = a.organization_id WHERE true",
        );
        let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        // Appends `clause`, whose `{}` becomes the next parameter's number, with its value.
        let mut cond = |clause: &str, value: Box<dyn ToSql + Sync>| {
            args.push(value);
            sql.push_str(&clause.replace("{}", &format!("${}", args.len())));
        };
        if let Some(o) = f.organization {
            cond(" AND a.organization_id = {}", Box::new(o));
        }
        if let Some(t) = f.from_ms {
            cond(" AND a.at_ms >= {}", Box::new(t));
        }
        if let Some(t) = f.to_ms {
            cond(" AND a.at_ms < {}", Box::new(t));
        }
        match &f.event {
            Some(e) if e.ends_with('.') => cond(" AND starts_with(a.event, {})", Box::new(e.clone())),
            Some(e) => cond(" AND a.event = {}", Box::new(e.clone())),
            None => {}
        }
        if let Some(a) = &f.actor {
            cond(" AND a.actor = {}", Box::new(a.clone()));
        }
        if let Some(b) = before {
            cond(" AND a.id < {}", Box::new(b));
        }
        cond(" ORDER BY a.id DESC LIMIT {}", Box::new(big(limit)));
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        self.read(|c| {
            c.query(&sql, &params)?
                .iter()
                .map(|r| {
                    let id: i64 = r.try_get(0)?;
                    let details: String = r.try_get(8)?;
                    let details = serde_json::from_str(&details)
                        .map_err(|e| Fail::Store(StoreError::Corrupt(format!("details of audit entry {id}: {e}"))))?;
                    Ok(AuditRecord {
                        id,
                        event: NewAuditEvent {
                            at_ms: r.try_get(1)?,
                            organization: r.try_get(2)?,
                            actor: r.try_get(3)?,
                            ip: r.try_get(4)?,
                            event: r.try_get(5)?,
                            target: r.try_get(6)?,
                            outcome: r.try_get(7)?,
                            details,
                        },
                        organization_name: r.try_get(9)?,
                    })
                })
                .collect()
        })
    }

    /// Deletes entries older than `older_than_ms`; how many.
    fn audit_prune(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        self.write(|tx| Ok(tx.execute("DELETE FROM audit_log WHERE at_ms < $1", &[&older_than_ms])?))
    }
}
