//! `trove migrate --to postgres://…`: has the workspace to itself (the workspace lock held
//! exclusively, so nothing writes the embedded store meanwhile), copies it into PostgreSQL
//! with `trove_store_postgres::migrate`, prints each table's counts and checksums, and says
//! how to switch the configuration.

use std::io::{IsTerminal, Write};

use trove_config::Workspace;
use trove_store::embedded::EmbeddedStore;
use trove_store_postgres::PgStore;
use trove_store_postgres::migrate::copy_embedded;
use trove_types::Code;

use crate::Failure;
use crate::cli::MigrateArgs;

/// Runs `trove migrate`.
pub fn run(ws: Workspace, args: &MigrateArgs) -> Result<(), Failure> {
    let url = match (&args.to, &ws.config.storage.postgres) {
        (Some(url), _) => url.clone(),
        (None, Some(pg)) => pg.url.clone(),
        (None, None) => {
            return Err(Failure::new(
                Code::BadRequest,
                "no target: pass --to postgres://USER:PASSWORD@HOST:PORT/DATABASE (or set storage.postgres.url)",
            ));
        }
    };
    if ws.config.storage.backend == trove_config::StorageBackend::Postgres && args.to.is_none() {
        return Err(Failure::new(
            Code::BadRequest,
            "this workspace already uses PostgreSQL (storage.backend: postgres); migrate copies an embedded store: pass --to with another database to copy it there",
        ));
    }
    let data = ws.data_dir().to_path_buf();
    if !data.join(trove_store::embedded::DB_FILE).exists() {
        return Err(Failure::new(
            Code::VaultNotFound,
            format!("no embedded store in {}: nothing to migrate", data.display()),
        ));
    }
    // The workspace to itself keeps ingests, servers and agents out while the copy runs;
    // opening it also brings an older embedded schema up to date.
    let lock = EmbeddedStore::open_exclusive(&data, "trove migrate")?;
    let mut options = match &ws.config.storage.postgres {
        Some(_) => trove_engine::postgres_options(&ws.config.storage)?,
        None => trove_store_postgres::PgOptions::new(url.clone()),
    };
    options.url = url;
    let target = PgStore::open(options)?;
    let tty = std::io::stderr().is_terminal() && !args.json;
    let report = copy_embedded(&data, &target, |table, rows| {
        if tty {
            eprint!("\r\x1b[2K  copying {table}: {rows} rows");
        }
    })?;
    if tty {
        eprint!("\r\x1b[2K");
    }
    drop(lock);
    let mut out = std::io::stdout().lock();
    if args.json {
        let tables: Vec<serde_json::Value> = report
            .tables
            .iter()
            .map(|t| {
                serde_json::json!({
                    "table": t.table, "copied": t.copied, "source_rows": t.source_rows,
                    "target_rows": t.target_rows, "source_sha256": t.source_sha256,
                    "target_sha256": t.target_sha256, "verified": t.verified(),
                })
            })
            .collect();
        let body = serde_json::json!({
            "target": target.what(), "resumed": report.resumed, "verified": report.verified(), "tables": tables,
        });
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&body).unwrap_or_default());
    } else {
        let _ = writeln!(
            out,
            "{} {} into {}",
            if report.resumed { "Resumed copying" } else { "Copied" },
            data.display(),
            target.what()
        );
        let _ = writeln!(out, "{:<14} {:>9} {:>9} {:>9}  checksum", "table", "copied", "embedded", "postgres");
        for t in &report.tables {
            let _ = writeln!(
                out,
                "{:<14} {:>9} {:>9} {:>9}  {}",
                t.table,
                t.copied,
                t.source_rows,
                t.target_rows,
                if t.verified() { format!("ok {}", &t.target_sha256[..12]) } else { "MISMATCH".to_string() }
            );
        }
    }
    if !report.verified() {
        let bad: Vec<&str> = report.tables.iter().filter(|t| !t.verified()).map(|t| t.table).collect();
        return Err(Failure::new(
            Code::StoreFailed,
            format!(
                "the copy does not match the embedded store in {}: run `trove migrate` again (it resumes), and if it persists, migrate into a fresh database",
                bad.join(", ")
            ),
        ));
    }
    let qdrant = match (&args.qdrant, &ws.config.storage.qdrant) {
        (Some(url), config) => {
            let mut q = config.clone().unwrap_or_default();
            q.url = url.clone();
            if let Ok(key) = std::env::var("TROVE_QDRANT_API_KEY") {
                q.api_key = Some(key);
            }
            Some(q)
        }
        (None, Some(q)) => Some(q.clone()),
        (None, None) => None,
    };
    if let Some(q) = &qdrant {
        // Every vault's vectors into Qdrant, from the copy (nothing is re-embedded); a vault
        // whose points already match (a resumed run) is left alone.
        let target = target.with_index(Box::new(trove_engine::qdrant_index(q)));
        let queued = target.compare_index()?;
        target.sync_index(None)?;
        let left = target.compare_index()?;
        if left > 0 {
            return Err(Failure::new(
                Code::StoreFailed,
                format!(
                    "Qdrant at {} still differs from PostgreSQL in {left} vault(s): run `trove migrate` again",
                    q.url
                ),
            ));
        }
        if !args.json {
            let _ =
                writeln!(out, "Qdrant at {}: {queued} vault(s) indexed, point ids verified against PostgreSQL", q.url);
        }
    }
    if !args.json {
        let _ = writeln!(
            out,
            "\nVerified. To use it, set in config.yaml:\n  storage:\n    backend: postgres\n    postgres:\n      url: ${{TROVE_PG_URL}}   # in .env"
        );
        if let Some(q) = &qdrant {
            let _ = writeln!(out, "    qdrant:\n      url: {}", q.url);
        }
    }
    Ok(())
}
