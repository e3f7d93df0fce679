//! The change log: which rows of a vault's chunks or memories each generation changed, written
//! in the same transaction as the change, so that an index derived from those rows and tagged
//! with generation G (an in-memory one in any process, or a persisted one) catches up by
//! reading the log after G and the rows it names, instead of reloading everything. Any process
//! can follow it: nothing in it is about who wrote.
//!
//! A row of `changes` is `(vault, space, generation, op, row id)`: [`Op::Upsert`] (the row is
//! new or changed: read it again) or [`Op::Delete`]. A generation's rows are written whole by
//! the transaction that bumps it, so a snapshot holds either all of them or none.
//!
//! Retention: each vault and space has a floor (`vaults.log_floor`, `memory_log_floor`): the
//! log holds every change of the generations above it, so a follower at G catches up when
//! G ≥ floor and rebuilds otherwise. The writer prunes every [`PRUNE_EVERY`] generations,
//! keeping at least the newest [`KEEP`] changes (whole generations) and raising the floor past
//! what it dropped; a switch of every vector (a re-embed) raises the floor to its own
//! generation, so followers rebuild. A follower that is more changes behind than its index
//! has rows rebuilds too, which costs less.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::Space;
use crate::{StoreError, VaultId};

/// Changes kept per vault and space, at least (fewer in unit tests, to see pruning).
pub(crate) const KEEP: i64 = if cfg!(test) { 40 } else { 100_000 };
/// The log of a vault's space is pruned when its generation is a multiple of this.
pub(crate) const PRUNE_EVERY: i64 = if cfg!(test) { 4 } else { 64 };

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// The row was written (added, or changed in place): read it again.
    Upsert,
    /// The row was deleted.
    Delete,
}

impl Op {
    fn code(self) -> i64 {
        match self {
            Op::Upsert => 1,
            Op::Delete => 0,
        }
    }
}

/// Records that `generation` of `vault`'s `space` did `op` to each of `rows`.
pub(crate) fn record(
    tx: &Transaction<'_>,
    vault: VaultId,
    space: Space,
    generation: i64,
    op: Op,
    rows: impl IntoIterator<Item = i64>,
) -> Result<(), StoreError> {
    let mut stmt =
        tx.prepare_cached("INSERT INTO changes (vault_id, space, generation, op, row_id) VALUES (?, ?, ?, ?, ?)")?;
    for row in rows {
        stmt.execute(params![vault, space.code(), generation, op.code(), row])?;
    }
    Ok(())
}

/// After a commit's records, inside its transaction: prunes the log of `vault`'s `space` when
/// `generation` is due (see the module documentation).
pub(crate) fn prune(tx: &Transaction<'_>, vault: VaultId, space: Space, generation: i64) -> Result<(), StoreError> {
    if generation % PRUNE_EVERY != 0 {
        return Ok(());
    }
    // The generation of the KEEP-th newest change: everything older goes.
    let oldest_kept: Option<i64> = tx
        .prepare_cached(
            "SELECT generation FROM changes WHERE vault_id = ? AND space = ? ORDER BY generation DESC LIMIT 1 OFFSET ?",
        )?
        .query_row(params![vault, space.code(), KEEP - 1], |r| r.get(0))
        .optional()?;
    let Some(oldest_kept) = oldest_kept else { return Ok(()) };
    let dropped = tx
        .prepare_cached("DELETE FROM changes WHERE vault_id = ? AND space = ? AND generation < ?")?
        .execute(params![vault, space.code(), oldest_kept])?;
    if dropped > 0 {
        raise_floor(tx, vault, space, oldest_kept - 1)?;
    }
    Ok(())
}

/// Forgets the log of `vault`'s `space` up to `generation`: followers behind it rebuild.
pub(crate) fn raise_floor(tx: &Connection, vault: VaultId, space: Space, generation: i64) -> Result<(), StoreError> {
    let col = space.floor_column();
    tx.execute(&format!("UPDATE vaults SET {col} = max({col}, ?) WHERE id = ?"), params![generation, vault])?;
    tx.execute(
        "DELETE FROM changes WHERE vault_id = ? AND space = ? AND generation <= ?",
        params![vault, space.code(), generation],
    )?;
    Ok(())
}

/// The changes after a follower's generation up to the committed one, read in one snapshot.
#[derive(Debug, Default)]
pub(crate) struct Since {
    /// Rows to remove from the index (deleted, or about to be read again).
    pub removed: Vec<i64>,
    /// Rows to read again and index, each once.
    pub upserted: Vec<i64>,
    /// Log rows read.
    pub read: usize,
}

/// What a follower at `after` must do to reach the committed generation `generation` of
/// `vault`'s `space`, read inside the caller's read transaction: `None` when the log no longer
/// reaches back to `after` or holds more than `most` changes since (rebuilding is then cheaper).
pub(crate) fn since(
    conn: &Connection,
    vault: VaultId,
    space: Space,
    after: i64,
    generation: i64,
    floor: i64,
    most: usize,
) -> Result<Option<Since>, StoreError> {
    if after < floor || after > generation {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT op, row_id FROM changes WHERE vault_id = ? AND space = ? AND generation > ?
         ORDER BY generation, seq LIMIT ?",
    )?;
    let mut rows = stmt.query(params![
        vault,
        space.code(),
        after,
        i64::try_from(most.saturating_add(1)).unwrap_or(-1) /* -1: no limit */
    ])?;
    // The last op of each row decides.
    let mut last: rustc_hash::FxHashMap<i64, bool> = Default::default();
    let mut read = 0;
    while let Some(r) = rows.next()? {
        read += 1;
        if read > most {
            return Ok(None);
        }
        last.insert(r.get(1)?, r.get::<_, i64>(0)? == Op::Upsert.code());
    }
    let mut out = Since { read, ..Since::default() };
    for (row, upsert) in last {
        out.removed.push(row);
        if upsert {
            out.upserted.push(row);
        }
    }
    out.removed.sort_unstable();
    out.upserted.sort_unstable();
    Ok(Some(out))
}
