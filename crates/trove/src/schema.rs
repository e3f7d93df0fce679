//! `trove status --schema`: where the workspace's store (embedded, or PostgreSQL) stands
//! against this binary: the store's schema version, the binary's, and the migrations the next
//! process that writes (an ingest, a server) applies, each summarized from its SQL. The store is
//! only read, so this works on a store an older or a newer Trove wrote, where opening the
//! engine would migrate or refuse it.

use std::io::Write;

use trove_config::{StorageBackend, Workspace};
use trove_store::migrations::SchemaStatus;
use trove_store_postgres::PgStore;
use trove_types::Code;

use crate::Failure;
use crate::output::stdout_failure;

/// Prints the schema status of the workspace's store.
pub fn status(ws: &Workspace, json: bool) -> Result<(), Failure> {
    let status = match ws.config.storage.backend {
        StorageBackend::Embedded => trove_store::embedded::schema_status(ws.data_dir())?,
        StorageBackend::Postgres => PgStore::schema_status(trove_engine::postgres_options(&ws.config.storage)?)?,
    };
    let mut out = std::io::stdout().lock();
    if json {
        let body = serde_json::json!({
            "backend": status.backend,
            "location": status.location,
            "version": status.version,
            "supported": status.supported,
            "trove": env!("CARGO_PKG_VERSION"),
            "state": status.state(),
            "pending": status.pending,
        });
        let text = serde_json::to_string_pretty(&body).map_err(|e| Failure::new(Code::Internal, e.to_string()))?;
        return writeln!(out, "{text}").or_else(stdout_failure);
    }
    write_status(&mut out, &status).or_else(stdout_failure)
}

fn write_status(out: &mut impl Write, s: &SchemaStatus) -> std::io::Result<()> {
    let store = match s.backend {
        "postgres" => s.location.clone(),
        _ => format!("embedded store in {}", s.location),
    };
    let version = s.version.map(|v| v.to_string()).unwrap_or_else(|| "none".into());
    writeln!(out, "store:    {store}, schema version {version}")?;
    writeln!(out, "binary:   trove {} knows schema version {}", env!("CARGO_PKG_VERSION"), s.supported)?;
    match s.state() {
        "current" => writeln!(out, "state:    current, no migration pending"),
        "too_new" => writeln!(
            out,
            "state:    written by a newer Trove (schema {version}); this binary refuses to open it: use a trove that knows schema {version} or later"
        ),
        state => {
            let what =
                if state == "absent" { "no schema yet; the next writer creates it" } else { "migrations pending" };
            writeln!(
                out,
                "state:    {what}: {} migration(s), applied by the next process that writes (trove ingest, trove serve, trove mcp), which has the store to itself meanwhile",
                s.pending.len()
            )?;
            for m in &s.pending {
                writeln!(out, "  {:>3}  {}", m.version, m.summary)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &SchemaStatus) -> String {
        let mut out = Vec::new();
        write_status(&mut out, s).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_state_says_what_happens_next() {
        let migrations = ["CREATE TABLE a (x INT)", "CREATE TABLE b (x INT)"];
        let older = text(&SchemaStatus::new("embedded", "/w/.trove".into(), Some(1), &migrations));
        assert!(older.starts_with("store:    embedded store in /w/.trove, schema version 1\n"), "{older}");
        assert!(older.contains("knows schema version 2") && older.contains("1 migration(s)"), "{older}");
        assert!(older.ends_with("    2  CREATE TABLE b\n"), "{older}");
        let current = text(&SchemaStatus::new("postgres", "PostgreSQL at h:5432/db".into(), Some(2), &migrations));
        assert!(current.starts_with("store:    PostgreSQL at h:5432/db, schema version 2"), "{current}");
        assert!(current.contains("current, no migration pending"), "{current}");
        let newer = text(&SchemaStatus::new("postgres", String::new(), Some(3), &migrations));
        assert!(newer.contains("newer Trove") && newer.contains("schema 3 or later"), "{newer}");
        let absent = text(&SchemaStatus::new("embedded", String::new(), None, &migrations));
        assert!(absent.contains("schema version none") && absent.contains("no schema yet"), "{absent}");
    }
}
