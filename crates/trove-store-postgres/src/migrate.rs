//! `trove migrate --to postgres://…`: copies an embedded workspace's store into PostgreSQL,
//! vectors included (nothing is re-embedded), keeping every id, then verifies each table's row
//! count and a SHA-256 over its rows read back from both sides.
//!
//! The copy goes table by table in id order, in transactions of `BATCH` rows, so an
//! interrupted run resumes where it stopped: rows with ids up to the target's highest are
//! skipped, and tables keyed without an id insert with `ON CONFLICT DO NOTHING`. The target
//! must be empty, or hold an unfinished migration from the same folder (`embedded_migrations`).
//! Keyword postings, which the embedded store derives in memory, are computed here with the shared
//! analyzer; the vaults' HNSW indexes are built once their rows are in.

use std::path::Path;

use postgres::types::ToSql;
use rusqlite::OpenFlags;
use sha2::{Digest, Sha256};
use trove_store::StoreError;
use trove_store::analysis::keyword_context;

use crate::documents::{INSERT_POSTINGS, Postings, postings};
use crate::vaults::ensure_vector_indexes;
use crate::vector::VectorRef;
use crate::{Fail, PgStore, Res};

/// What a row of the embedded store lacks in PostgreSQL, computed while copying.
enum Derived {
    Nothing,
    /// A chunk's postings (keyword index rows and length).
    Chunk(Postings),
    /// A memory's keyword terms.
    Memory(String),
}

/// Rows per transaction.
const BATCH: usize = 500;

/// How a column is stored on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// INTEGER / BIGINT.
    I64,
    /// INTEGER / INTEGER (i32 in PostgreSQL).
    I32,
    /// REAL / DOUBLE PRECISION.
    F64,
    /// TEXT / TEXT.
    Text,
    /// INTEGER 0/1 / BOOLEAN.
    Bool,
    /// JSON text / JSONB.
    Json,
    /// JSON array of strings / TEXT[].
    TextArr,
    /// little-endian f32 BLOB / VECTOR.
    Vector,
}

/// One value, the same whichever side it was read from.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    I64(i64),
    I32(i32),
    F64(f64),
    Text(String),
    Bool(bool),
    Json(serde_json::Value),
    TextArr(Vec<String>),
    Vector(Vec<f32>),
}

/// A table to copy: its columns, and its key (`id`, or the columns of its primary key).
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// Ordered by `id` and resumed from the target's highest id; otherwise by these columns.
    key: &'static [&'static str],
}

use Kind::*;

/// Every table, parents before children.
const TABLES: &[Table] = &[
    Table { name: "organizations", columns: &[("id", I64), ("name", Text), ("created_ms", I64)], key: &["id"] },
    Table {
        name: "users",
        columns: &[
            ("id", I64),
            ("public_id", Text),
            ("email", Text),
            ("password_hash", Text),
            ("created_ms", I64),
            ("email_verified_ms", I64),
        ],
        key: &["id"],
    },
    Table {
        name: "vaults",
        columns: &[
            ("id", I64),
            ("name", Text),
            ("model_id", Text),
            ("dimension", I32),
            ("generation", I64),
            ("memory_generation", I64),
            ("organization_id", I64),
            ("staged_model", Text),
            ("staged_dimension", I32),
            ("created_at", Text),
        ],
        key: &["id"],
    },
    Table {
        name: "documents",
        columns: &[
            ("id", I64),
            ("vault_id", I64),
            ("source", Text),
            ("uri", Text),
            ("title", Text),
            ("content_hash", Text),
            ("metadata", Json),
            ("modified_ms", I64),
            ("indexed_at", Text),
        ],
        key: &["id"],
    },
    Table {
        name: "chunks",
        columns: &[
            ("id", I64),
            ("document_id", I64),
            ("vault_id", I64),
            ("idx", I32),
            ("text", Text),
            ("heading_path", TextArr),
            ("token_count", I32),
            ("vector", Vector),
            ("staged_vector", Vector),
        ],
        key: &["id"],
    },
    Table {
        name: "memories",
        columns: &[
            ("id", I64),
            ("public_id", Text),
            ("vault_id", I64),
            ("text", Text),
            ("user_id", Text),
            ("agent_id", Text),
            ("session_id", Text),
            ("tags", TextArr),
            ("metadata", Json),
            ("importance", F64),
            ("created_ms", I64),
            ("updated_ms", I64),
            ("expires_ms", I64),
            ("vector", Vector),
            ("staged_vector", Vector),
            ("kind", Text),
            ("version", I64),
        ],
        key: &["id"],
    },
    Table {
        name: "memory_versions",
        columns: &[
            ("id", I64),
            ("vault_id", I64),
            ("memory_id", Text),
            ("version", I64),
            ("event", Text),
            ("old_text", Text),
            ("new_text", Text),
            ("actor", Text),
            ("reason", Text),
            ("at_ms", I64),
            ("snapshot", Text),
        ],
        key: &["id"],
    },
    Table {
        name: "jobs",
        columns: &[
            ("id", I64),
            ("public_id", Text),
            ("kind", Text),
            ("vault", Text),
            ("payload", Text),
            ("dedupe_key", Text),
            ("status", Text),
            ("attempts", I32),
            ("max_attempts", I32),
            ("timeout_ms", I64),
            ("run_at_ms", I64),
            ("created_ms", I64),
            ("updated_ms", I64),
            ("started_ms", I64),
            ("finished_ms", I64),
            ("lease_owner", Text),
            ("lease_until_ms", I64),
            ("cancel_requested", Bool),
            ("error", Text),
            ("error_code", Text),
            ("result", Text),
            ("retries", I32),
        ],
        key: &["id"],
    },
    Table {
        name: "memberships",
        columns: &[("organization_id", I64), ("user_id", I64), ("role", Text), ("created_ms", I64)],
        key: &["organization_id", "user_id"],
    },
    Table {
        name: "api_keys",
        columns: &[
            ("id", I64),
            ("public_id", Text),
            ("organization_id", I64),
            ("user_id", I64),
            ("name", Text),
            ("prefix", Text),
            ("hash", Text),
            ("vaults", Text),
            ("actions", Text),
            ("created_ms", I64),
            ("expires_ms", I64),
            ("last_used_ms", I64),
            ("revoked_ms", I64),
        ],
        key: &["id"],
    },
    Table {
        name: "audit_log",
        columns: &[
            ("id", I64),
            ("at_ms", I64),
            ("organization_id", I64),
            ("actor", Text),
            ("ip", Text),
            ("event", Text),
            ("target", Text),
            ("outcome", Text),
            ("details", Text),
        ],
        key: &["id"],
    },
    Table {
        name: "source_syncs",
        columns: &[("vault_id", I64), ("source", Text), ("finished_ms", I64), ("summary", Text)],
        key: &["vault_id", "source"],
    },
    Table {
        name: "sessions",
        columns: &[
            ("id", I64),
            ("public_id", Text),
            ("hash", Text),
            ("csrf", Text),
            ("user_id", I64),
            ("organization_id", I64),
            ("client", Text),
            ("ip", Text),
            ("created_ms", I64),
            ("expires_ms", I64),
            ("last_used_ms", I64),
            ("revoked_ms", I64),
        ],
        key: &["id"],
    },
    Table {
        name: "teams",
        columns: &[("id", I64), ("public_id", Text), ("organization_id", I64), ("name", Text), ("created_ms", I64)],
        key: &["id"],
    },
    Table { name: "team_members", columns: &[("team_id", I64), ("user_id", I64)], key: &["team_id", "user_id"] },
    Table {
        name: "secrets",
        columns: &[
            ("organization_id", I64),
            ("name", Text),
            ("sealed", Text),
            ("created_ms", I64),
            ("updated_ms", I64),
            ("updated_by", Text),
        ],
        key: &["organization_id", "name"],
    },
    Table {
        name: "vault_grants",
        columns: &[("vault_id", I64), ("user_id", I64), ("team_id", I64), ("level", Text), ("created_ms", I64)],
        key: &["vault_id", "user_id", "team_id"],
    },
    Table {
        name: "user_tokens",
        columns: &[
            ("id", I64),
            ("user_id", I64),
            ("purpose", Text),
            ("hash", Text),
            ("created_ms", I64),
            ("expires_ms", I64),
            ("used_ms", I64),
        ],
        key: &["id"],
    },
    Table {
        name: "invitations",
        columns: &[
            ("id", I64),
            ("public_id", Text),
            ("organization_id", I64),
            ("email", Text),
            ("role", Text),
            ("hash", Text),
            ("invited_by", Text),
            ("created_ms", I64),
            ("expires_ms", I64),
            ("accepted_ms", I64),
            ("revoked_ms", I64),
        ],
        key: &["id"],
    },
    Table {
        name: "conversations",
        columns: &[
            ("id", I64),
            ("public_id", Text),
            ("vault_id", I64),
            ("owner", Text),
            ("title", Text),
            ("created_ms", I64),
            ("updated_ms", I64),
            ("expires_ms", I64),
        ],
        key: &["id"],
    },
    Table {
        name: "conversation_turns",
        columns: &[
            ("id", I64),
            ("conversation_id", I64),
            ("question", Text),
            ("rewritten", Text),
            ("answer", Text),
            ("citations", Text),
            ("created_ms", I64),
        ],
        key: &["id"],
    },
];

/// One table's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// Table name.
    pub table: &'static str,
    /// Rows copied by this run (earlier runs' rows are not counted).
    pub copied: u64,
    /// Rows on each side after the copy.
    pub source_rows: u64,
    /// Rows in PostgreSQL.
    pub target_rows: u64,
    /// SHA-256 over the rows read back from the embedded store.
    pub source_sha256: String,
    /// SHA-256 over the rows read back from PostgreSQL.
    pub target_sha256: String,
}

impl TableReport {
    /// Counts and checksums agree.
    pub fn verified(&self) -> bool {
        self.source_rows == self.target_rows && self.source_sha256 == self.target_sha256
    }
}

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Whether this run continued an interrupted one.
    pub resumed: bool,
    /// Per table, in copy order.
    pub tables: Vec<TableReport>,
}

impl MigrationReport {
    /// Every table's counts and checksums agree.
    pub fn verified(&self) -> bool {
        self.tables.iter().all(TableReport::verified)
    }
}

fn store_err(what: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("reading the embedded store ({what}): {e}"))
}

/// Copies the embedded store in `data_dir` (its workspace lock held exclusively by the
/// caller, so nothing writes it meanwhile) into `target`, then verifies. `progress(table, rows_copied)` is called
/// after each batch.
pub fn copy_embedded(
    data_dir: &Path,
    target: &PgStore,
    mut progress: impl FnMut(&str, u64),
) -> Result<MigrationReport, StoreError> {
    let clock = target.pool.options().clock.clone();
    let db = data_dir.join(trove_store::embedded::DB_FILE);
    let source_key = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf()).display().to_string();
    let src =
        rusqlite::Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| store_err(&db.display().to_string(), e))?;
    let version: i64 =
        src.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| store_err("schema version", e))?;
    if version != trove_store::embedded::SCHEMA_VERSION {
        return Err(StoreError::NeedsMigration {
            dir: data_dir.to_path_buf(),
            found: version,
            supported: trove_store::embedded::SCHEMA_VERSION,
        });
    }
    let resumed = target.write(|tx| {
        let state: Option<Option<i64>> = tx
            .query_opt("SELECT finished_ms FROM embedded_migrations WHERE source = $1", &[&source_key])?
            .map(|r| r.get(0));
        match state {
            Some(None) => Ok(true),
            Some(Some(_)) => Err(StoreError::Database {
                what: target.what().into(),
                reason: format!(
                    "{source_key} was already migrated to this database; to copy it again, use an empty database"
                ),
            }
            .into()),
            None => {
                let used: i64 = tx
                    .query_one(
                        "SELECT (SELECT count(*) FROM vaults) + (SELECT count(*) FROM users) + (SELECT count(*) FROM jobs) + (SELECT count(*) FROM organizations)",
                        &[],
                    )?
                    .get(0);
                if used > 0 {
                    return Err(StoreError::Database {
                        what: target.what().into(),
                        reason: "the database already holds vaults, users or jobs; migrate into an empty database (createdb trove_new)".into(),
                    }
                    .into());
                }
                tx.execute(
                    "INSERT INTO embedded_migrations (source, started_ms) VALUES ($1, $2)",
                    &[&source_key, &clock.now_ms()],
                )?;
                Ok(false)
            }
        }
    })?;

    let mut copied = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        copied.push(copy_table(&src, target, table, &mut progress)?);
    }
    target.write(|tx| {
        for name in crate::schema::IDENTITY_TABLES {
            tx.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{name}', 'id'), greatest((SELECT max(id) FROM {name}), 1), (SELECT max(id) FROM {name}) IS NOT NULL)"
            ))?;
        }
        tx.batch_execute(
            "UPDATE vaults v SET (keyword_rows, keyword_length) =
                 (SELECT count(*), coalesce(sum(term_count), 0) FROM chunks c WHERE c.vault_id = v.id)",
        )?;
        let vaults: Vec<(i64, Option<i32>)> =
            tx.query("SELECT id, dimension FROM vaults", &[])?.iter().map(|r| (r.get(0), r.get(1))).collect();
        for (vault, dimension) in vaults {
            if let Some(d) = dimension {
                ensure_vector_indexes(tx, vault, d as usize)?;
            }
        }
        Ok(())
    })?;

    let mut tables = Vec::with_capacity(TABLES.len());
    for (table, copied) in TABLES.iter().zip(copied) {
        let (source_rows, source_sha256) = digest_source(&src, table)?;
        let (target_rows, target_sha256) = target.read(|c| digest_target(c, table))?;
        tables.push(TableReport { table: table.name, copied, source_rows, target_rows, source_sha256, target_sha256 });
    }
    let report = MigrationReport { resumed, tables };
    if report.verified() {
        target.write(|tx| {
            tx.execute(
                "UPDATE embedded_migrations SET finished_ms = $1 WHERE source = $2",
                &[&clock.now_ms(), &source_key],
            )?;
            Ok(())
        })?;
    }
    Ok(report)
}

fn column_list(table: &Table) -> String {
    table.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}

fn has_id(table: &Table) -> bool {
    table.key == ["id"]
}

/// Reads one SQLite row into values.
fn read_source_row(table: &Table, row: &rusqlite::Row<'_>) -> Result<Vec<Val>, StoreError> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, (name, kind)) in table.columns.iter().enumerate() {
        let at = || format!("{}.{name}", table.name);
        let v = row.get_ref(i).map_err(|e| store_err(&at(), e))?;
        let bad = |why: String| StoreError::Corrupt(format!("{}: {why}", at()));
        out.push(match (kind, v) {
            (_, ValueRef::Null) => Val::Null,
            (I64, ValueRef::Integer(n)) => Val::I64(n),
            (I32, ValueRef::Integer(n)) => Val::I32(i32::try_from(n).map_err(|_| bad(format!("{n} is out of range")))?),
            (F64, ValueRef::Real(x)) => Val::F64(x),
            (F64, ValueRef::Integer(n)) => Val::F64(n as f64),
            (Bool, ValueRef::Integer(n)) => Val::Bool(n != 0),
            (Text, ValueRef::Text(t)) => Val::Text(String::from_utf8(t.to_vec()).map_err(|e| bad(e.to_string()))?),
            (Json, ValueRef::Text(t)) => Val::Json(serde_json::from_slice(t).map_err(|e| bad(e.to_string()))?),
            (TextArr, ValueRef::Text(t)) => Val::TextArr(serde_json::from_slice(t).map_err(|e| bad(e.to_string()))?),
            (Vector, ValueRef::Blob(b)) => {
                if !b.len().is_multiple_of(4) {
                    return Err(bad(format!("a vector of {} bytes", b.len())));
                }
                Val::Vector(b.chunks_exact(4).map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]])).collect())
            }
            (kind, other) => return Err(bad(format!("expected {kind:?}, found {:?}", other.data_type()))),
        });
    }
    Ok(out)
}

/// Reads one PostgreSQL row (selected with [`target_select`]) into values.
fn read_target_row(table: &Table, row: &postgres::Row) -> Res<Vec<Val>> {
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, (name, kind)) in table.columns.iter().enumerate() {
        let bad = |e: &dyn std::fmt::Display| Fail::Store(StoreError::Corrupt(format!("{}.{name}: {e}", table.name)));
        let v = match kind {
            I64 => row.try_get::<_, Option<i64>>(i)?.map(Val::I64),
            I32 => row.try_get::<_, Option<i32>>(i)?.map(Val::I32),
            F64 => row.try_get::<_, Option<f64>>(i)?.map(Val::F64),
            Text => row.try_get::<_, Option<String>>(i)?.map(Val::Text),
            Bool => row.try_get::<_, Option<bool>>(i)?.map(Val::Bool),
            Json => match row.try_get::<_, Option<String>>(i)? {
                Some(t) => Some(Val::Json(serde_json::from_str(&t).map_err(|e| bad(&e))?)),
                None => None,
            },
            TextArr => row.try_get::<_, Option<Vec<String>>>(i)?.map(Val::TextArr),
            Vector => row.try_get::<_, Option<crate::vector::Vector>>(i)?.map(|v| Val::Vector(v.0)),
        };
        out.push(v.unwrap_or(Val::Null));
    }
    Ok(out)
}

fn target_select(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(c, k)| if *k == Json { format!("{c}::text") } else { (*c).to_string() })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Canonical bytes of a row for the checksums: JSON keys sorted, floats by their bits.
fn encode(row: &[Val], out: &mut Vec<u8>) {
    fn canonical(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut sorted = serde_json::Map::new();
                for k in keys {
                    sorted.insert(k.clone(), canonical(&m[k]));
                }
                serde_json::Value::Object(sorted)
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    for v in row {
        match v {
            Val::Null => out.push(0),
            Val::I64(n) => {
                out.push(1);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Val::I32(n) => {
                out.push(1);
                out.extend_from_slice(&i64::from(*n).to_le_bytes());
            }
            Val::F64(x) => {
                out.push(2);
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Val::Bool(b) => out.extend_from_slice(&[3, u8::from(*b)]),
            Val::Text(t) => {
                out.push(4);
                out.extend_from_slice(&(t.len() as u64).to_le_bytes());
                out.extend_from_slice(t.as_bytes());
            }
            Val::Json(j) => {
                let t = canonical(j).to_string();
                out.push(5);
                out.extend_from_slice(&(t.len() as u64).to_le_bytes());
                out.extend_from_slice(t.as_bytes());
            }
            Val::TextArr(a) => {
                out.push(6);
                out.extend_from_slice(&(a.len() as u64).to_le_bytes());
                for t in a {
                    out.extend_from_slice(&(t.len() as u64).to_le_bytes());
                    out.extend_from_slice(t.as_bytes());
                }
            }
            Val::Vector(v) => {
                out.push(7);
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                for x in v {
                    out.extend_from_slice(&x.to_bits().to_le_bytes());
                }
            }
        }
    }
}

fn order_by(table: &Table) -> String {
    table.key.join(", ")
}

fn digest_source(src: &rusqlite::Connection, table: &Table) -> Result<(u64, String), StoreError> {
    let sql = format!("SELECT {} FROM {} ORDER BY {}", column_list(table), table.name, order_by(table));
    let mut stmt = src.prepare(&sql).map_err(|e| store_err(table.name, e))?;
    let mut rows = stmt.query([]).map_err(|e| store_err(table.name, e))?;
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut buf = Vec::new();
    while let Some(row) = rows.next().map_err(|e| store_err(table.name, e))? {
        buf.clear();
        encode(&read_source_row(table, row)?, &mut buf);
        hasher.update(&buf);
        n += 1;
    }
    Ok((n, hex(&hasher.finalize())))
}

fn digest_target(c: &mut postgres::Client, table: &Table) -> Res<(u64, String)> {
    // NULLs first, as SQLite orders them (vault grants have one NULL key column).
    // Text in byte order (COLLATE "C"), as SQLite compares it.
    let order = table
        .key
        .iter()
        .map(|k| {
            let text = table.columns.iter().any(|(c, kind)| c == k && *kind == Text);
            if text { format!("{k} COLLATE \"C\" NULLS FIRST") } else { format!("{k} NULLS FIRST") }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {} FROM {} ORDER BY {order}", target_select(table), table.name);
    let mut tx = c.transaction()?;
    let no_params: &[&(dyn ToSql + Sync)] = &[];
    let portal = tx.bind(&sql, no_params)?;
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut buf = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 1000)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            buf.clear();
            encode(&read_target_row(table, row)?, &mut buf);
            hasher.update(&buf);
            n += 1;
        }
    }
    tx.commit()?;
    Ok((n, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies the rows of one table the target does not have yet; returns how many.
fn copy_table(
    src: &rusqlite::Connection,
    target: &PgStore,
    table: &Table,
    progress: &mut impl FnMut(&str, u64),
) -> Result<u64, StoreError> {
    let after: i64 = if has_id(table) {
        target.read(|c| Ok(c.query_one(&format!("SELECT coalesce(max(id), 0) FROM {}", table.name), &[])?.get(0)))?
    } else {
        0
    };
    // Chunks need their document's title for the keyword terms; memories their tags.
    let extra = match table.name {
        "chunks" => ", (SELECT title FROM documents d WHERE d.id = chunks.document_id)",
        _ => "",
    };
    let filter = if has_id(table) { "WHERE id > ?1" } else { "WHERE ?1 = ?1" };
    let sql = format!("SELECT {}{extra} FROM {} {filter} ORDER BY {}", column_list(table), table.name, order_by(table));
    let mut stmt = src.prepare(&sql).map_err(|e| store_err(table.name, e))?;
    let mut rows = stmt.query([after]).map_err(|e| store_err(table.name, e))?;

    // Derived columns: a chunk's length in terms (its postings follow in `chunk_terms`), a
    // memory's keyword terms.
    let n = table.columns.len();
    let derived: &[(&str, String)] = match table.name {
        "chunks" => &[("term_count", format!("${}", n + 1))],
        "memories" => &[("terms", format!("to_tsvector('simple', ${})", n + 1))],
        _ => &[],
    };
    let mut insert_columns = column_list(table);
    for (column, _) in derived {
        insert_columns.push_str(", ");
        insert_columns.push_str(column);
    }
    let placeholders = (1..=n)
        .map(|i| {
            let (_, kind) = table.columns[i - 1];
            if kind == Json { format!("${i}::text::jsonb") } else { format!("${i}") }
        })
        .chain(derived.iter().map(|(_, p)| p.clone()))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!(
        "INSERT INTO {} ({insert_columns}) VALUES ({placeholders}){}",
        table.name,
        if has_id(table) { "" } else { " ON CONFLICT DO NOTHING" }
    );

    let mut total = 0u64;
    let mut batch: Vec<(Vec<Val>, Derived)> = Vec::with_capacity(BATCH);
    loop {
        let row = rows.next().map_err(|e| store_err(table.name, e))?;
        if let Some(row) = row {
            let values = read_source_row(table, row)?;
            let terms = match table.name {
                "chunks" => {
                    let title: String = row.get(table.columns.len()).map_err(|e| store_err("chunks", e))?;
                    let heading = match &values[5] {
                        Val::TextArr(h) => h.clone(),
                        _ => Vec::new(),
                    };
                    let text = match &values[4] {
                        Val::Text(t) => t.as_str(),
                        _ => "",
                    };
                    Derived::Chunk(postings(&target.analyzer, &[&keyword_context(&title, &heading), text]))
                }
                "memories" => {
                    let text = match &values[3] {
                        Val::Text(t) => t.clone(),
                        _ => String::new(),
                    };
                    let tags = match &values[7] {
                        Val::TextArr(t) => t.clone(),
                        _ => Vec::new(),
                    };
                    Derived::Memory(crate::documents::memory_terms(&target.analyzer, &text, &tags))
                }
                _ => Derived::Nothing,
            };
            batch.push((values, terms));
        }
        if batch.len() == BATCH || (row.is_none() && !batch.is_empty()) {
            let n = batch.len() as u64;
            target.write(|tx| {
                let stmt = tx.prepare(&insert)?;
                let insert_postings = tx.prepare(INSERT_POSTINGS)?;
                for (values, derived) in &batch {
                    let owned: Vec<Box<dyn ToSql + Sync>> =
                        values.iter().zip(table.columns).map(|(v, (_, kind))| to_sql(v, *kind)).collect();
                    let mut params: Vec<&(dyn ToSql + Sync)> = owned.iter().map(|b| b.as_ref()).collect();
                    match derived {
                        Derived::Chunk(p) => params.push(&p.length),
                        Derived::Memory(terms) => params.push(terms),
                        Derived::Nothing => {}
                    }
                    tx.execute(&stmt, &params)?;
                    if let (Derived::Chunk(p), Val::I64(chunk), Val::I64(vault)) = (derived, &values[0], &values[2]) {
                        tx.execute(&insert_postings, &[chunk, vault, &p.terms, &p.frequencies])?;
                    }
                }
                Ok(())
            })?;
            total += n;
            batch.clear();
            progress(table.name, total);
        }
        if row.is_none() {
            break;
        }
    }
    Ok(total)
}

/// A value as a statement parameter of its column's type (NULLs too are typed: the driver
/// checks a parameter's Rust type against the column's).
fn to_sql(v: &Val, kind: Kind) -> Box<dyn ToSql + Sync> {
    match v {
        Val::Null => match kind {
            I64 => Box::new(None::<i64>),
            I32 => Box::new(None::<i32>),
            F64 => Box::new(None::<f64>),
            Bool => Box::new(None::<bool>),
            Text | Json => Box::new(None::<String>),
            TextArr => Box::new(None::<Vec<String>>),
            Vector => Box::new(None::<OwnedVector>),
        },
        Val::I64(n) => Box::new(*n),
        Val::I32(n) => Box::new(*n),
        Val::F64(x) => Box::new(*x),
        Val::Text(t) => Box::new(t.clone()),
        Val::Bool(b) => Box::new(*b),
        Val::Json(j) => Box::new(j.to_string()),
        Val::TextArr(a) => Box::new(a.clone()),
        Val::Vector(v) => Box::new(OwnedVector(v.clone())),
    }
}

/// A vector parameter that owns its values.
#[derive(Debug)]
struct OwnedVector(Vec<f32>);

impl ToSql for OwnedVector {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        VectorRef(&self.0).to_sql(ty, out)
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        <VectorRef<'_> as ToSql>::accepts(ty)
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_ignore_json_key_order_but_not_values() {
        let a = [Val::Json(serde_json::json!({"a": 1, "b": [1, 2]})), Val::Vector(vec![0.5, -1.0])];
        let b = [Val::Json(serde_json::from_str(r#"{"b": [1, 2], "a": 1}"#).unwrap()), Val::Vector(vec![0.5, -1.0])];
        let c = [Val::Json(serde_json::json!({"a": 1, "b": [2, 1]})), Val::Vector(vec![0.5, -1.0])];
        let (mut ea, mut eb, mut ec) = (Vec::new(), Vec::new(), Vec::new());
        encode(&a, &mut ea);
        encode(&b, &mut eb);
        encode(&c, &mut ec);
        assert_eq!(ea, eb);
        assert_ne!(ea, ec);
        // An i32 column and the same number read as i64 encode alike; a NULL differs from 0.
        let (mut x, mut y, mut z) = (Vec::new(), Vec::new(), Vec::new());
        encode(&[Val::I32(7)], &mut x);
        encode(&[Val::I64(7)], &mut y);
        encode(&[Val::Null], &mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn every_table_of_the_schema_is_copied() {
        // Each table the embedded schema makes (FTS tables aside) has an entry here.
        for name in crate::schema::IDENTITY_TABLES {
            assert!(TABLES.iter().any(|t| t.name == *name && has_id(t)), "{name} is not copied");
        }
        for name in ["memberships", "source_syncs", "team_members", "vault_grants", "secrets"] {
            assert!(TABLES.iter().any(|t| t.name == name), "{name} is not copied");
        }
    }
}
