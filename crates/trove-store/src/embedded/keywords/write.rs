//! Writing the persisted keyword index: the rows a transaction adds and removes are analysed
//! into a [`KeywordChanges`] (each distinct word stemmed once per batch), then written at the
//! end of the transaction, term by term in term-id order: the term's row (its document
//! frequency), and only the blocks the changed rows fall in, each rewritten whole (appends go
//! to the term's last block, which splits once it holds [`BLOCK`] postings). The vault's row
//! count and total length change in the same statement-free way. Nothing here commits: the
//! caller's transaction makes the rows and their index change together.

use rusqlite::{OptionalExtension, Transaction, params};
use rustc_hash::FxHashMap as HashMap;

use super::codec::{Posting, decode_postings, encode_impacts, encode_postings, impacts};
use crate::bm25::Analyzer;
use crate::embedded::Space;
use crate::{StoreError, VaultId};

/// Postings per block: the unit of skipping, decoding and rewriting.
pub(crate) const BLOCK: usize = 128;

/// The changes to one term's postings.
#[derive(Debug, Default)]
struct TermChange {
    add: Vec<Posting>,
    remove: Vec<i64>,
}

/// The keyword changes of one transaction to one vault's chunks or memories.
pub(crate) struct KeywordChanges<'a> {
    analyzer: &'a Analyzer,
    vault: VaultId,
    space: Space,
    /// Batch-local term numbers: the term of each folded word, and each term's text.
    stems: HashMap<Box<str>, u32>,
    numbers: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    changes: Vec<TermChange>,
    /// Rows added by this batch, so that removing one again cancels its addition.
    added: rustc_hash::FxHashSet<i64>,
    /// Change of the vault's row count and of its total length in terms.
    rows: i64,
    length: i64,
}

impl<'a> KeywordChanges<'a> {
    pub(crate) fn new(analyzer: &'a Analyzer, vault: VaultId, space: Space) -> KeywordChanges<'a> {
        KeywordChanges {
            analyzer,
            vault,
            space,
            stems: HashMap::default(),
            numbers: HashMap::default(),
            names: Vec::new(),
            changes: Vec::new(),
            added: Default::default(),
            rows: 0,
            length: 0,
        }
    }

    /// The distinct terms of a row's parts of text with their frequencies, and its length.
    fn analyze(&mut self, parts: &[&str]) -> (Vec<(u32, u32)>, u32) {
        let mut ids: Vec<u32> = Vec::new();
        for part in parts {
            Analyzer::each_word(part, |word| {
                let id = match self.stems.get(word) {
                    Some(&id) => id,
                    None => {
                        let term = self.analyzer.stem(word);
                        let id = match self.numbers.get(term.as_ref()) {
                            Some(&id) => id,
                            None => {
                                let id = self.names.len() as u32;
                                self.names.push(term.as_ref().into());
                                self.numbers.insert(term.as_ref().into(), id);
                                self.changes.push(TermChange::default());
                                id
                            }
                        };
                        self.stems.insert(word.into(), id);
                        id
                    }
                };
                ids.push(id);
            });
        }
        let len = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        ids.sort_unstable();
        let mut terms: Vec<(u32, u32)> = Vec::new();
        for id in ids {
            match terms.last_mut() {
                Some((last, tf)) if *last == id => *tf += 1,
                _ => terms.push((id, 1)),
            }
        }
        (terms, len)
    }

    /// Indexes row `row` (a chunk or a memory) from its parts of text.
    pub(crate) fn add(&mut self, row: i64, parts: &[&str]) {
        let (terms, len) = self.analyze(parts);
        for (term, tf) in terms {
            self.changes[term as usize].add.push(Posting { row, tf, len });
        }
        self.added.insert(row);
        self.rows += 1;
        self.length += i64::from(len);
    }

    /// Removes row `row`, indexed from `parts` (its text as it was indexed).
    pub(crate) fn remove(&mut self, row: i64, parts: &[&str]) {
        let (terms, len) = self.analyze(parts);
        let cancels = self.added.remove(&row);
        for (term, _) in terms {
            let change = &mut self.changes[term as usize];
            if cancels {
                change.add.retain(|p| p.row != row);
            } else {
                change.remove.push(row);
            }
        }
        self.rows -= 1;
        self.length -= i64::from(len);
    }

    /// Writes the changes inside `tx`.
    pub(crate) fn write(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        if self.rows == 0 && self.length == 0 && self.changes.iter().all(|c| c.add.is_empty() && c.remove.is_empty()) {
            return Ok(());
        }
        let space = self.space.code();
        tx.prepare_cached(
            "INSERT INTO keyword_stats (vault_id, space, rows, terms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (vault_id, space) DO UPDATE SET rows = rows + excluded.rows, terms = terms + excluded.terms",
        )?
        .execute(params![self.vault, space, self.rows, self.length])?;
        // Term rows first, in text order (the order of their unique index), then the blocks
        // in term-id order (the order of the blocks' table).
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        order.sort_unstable_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        let mut terms: Vec<(i64, i64, TermChange)> = Vec::new();
        let mut changes: Vec<Option<TermChange>> = self.changes.into_iter().map(Some).collect();
        {
            let mut find =
                tx.prepare_cached("SELECT id, df FROM keyword_terms WHERE vault_id = ? AND space = ? AND term = ?")?;
            let mut insert =
                tx.prepare_cached("INSERT INTO keyword_terms (vault_id, space, term, df) VALUES (?, ?, ?, 0)")?;
            for i in order {
                let Some(change) = changes[i].take() else { continue };
                if change.add.is_empty() && change.remove.is_empty() {
                    continue;
                }
                let name = &*self.names[i];
                let found: Option<(i64, i64)> =
                    find.query_row(params![self.vault, space, name], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
                let (id, df) = match found {
                    Some(found) => found,
                    // Removing a term no row holds changes nothing.
                    None if change.add.is_empty() => continue,
                    None => {
                        insert.execute(params![self.vault, space, name])?;
                        (tx.last_insert_rowid(), 0)
                    }
                };
                terms.push((id, df, change));
            }
        }
        terms.sort_unstable_by_key(|t| t.0);
        let mut update = tx.prepare_cached("UPDATE keyword_terms SET df = ? WHERE id = ?")?;
        let mut delete = tx.prepare_cached("DELETE FROM keyword_terms WHERE id = ?")?;
        for (id, df, change) in terms {
            let (added, removed) = write_term(tx, id, change)?;
            let df = df + added - removed;
            if df > 0 {
                update.execute(params![df, id])?;
            } else {
                delete.execute([id])?;
                tx.prepare_cached("DELETE FROM keyword_blocks WHERE term_id = ?")?.execute([id])?;
            }
        }
        Ok(())
    }
}

/// A stored block: its key (first row) and its postings.
struct Stored {
    first: i64,
    postings: Vec<Posting>,
}

/// The block of term `term` that row `row` belongs to (the last one starting at or before it,
/// else the first), and where the next block starts.
fn block_of(tx: &Transaction<'_>, term: i64, row: i64) -> Result<(Option<Stored>, Option<i64>), StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT first_row, last_row, postings FROM keyword_blocks
         WHERE term_id = ?1 AND first_row >= coalesce(
             (SELECT max(first_row) FROM keyword_blocks WHERE term_id = ?1 AND first_row <= ?2), ?2)
         ORDER BY first_row LIMIT 2",
    )?;
    let mut rows = stmt.query(params![term, row])?;
    let Some(r) = rows.next()? else { return Ok((None, None)) };
    let (first, last): (i64, i64) = (r.get(0)?, r.get(1)?);
    let mut postings = Vec::new();
    let bytes = r.get_ref(2)?.as_blob().map_err(|e| StoreError::Corrupt(format!("keyword block: {e}")))?;
    decode_postings(first, bytes, &mut postings)?;
    if postings.last().map(|p| p.row) != Some(last) || !postings.is_sorted_by(|a, b| a.row < b.row) {
        return Err(StoreError::Corrupt(format!(
            "keyword index: the block of term {term} at row {first} is out of order"
        )));
    }
    let next = rows.next()?.map(|r| r.get(0)).transpose()?;
    Ok((Some(Stored { first, postings }), next))
}

/// Applies one term's changes to its blocks; how many postings were added and removed.
fn write_term(tx: &Transaction<'_>, term: i64, mut change: TermChange) -> Result<(i64, i64), StoreError> {
    change.add.sort_by_key(|p| p.row);
    change.add.dedup_by_key(|p| p.row);
    change.remove.sort_unstable();
    change.remove.dedup();
    let (mut adds, mut removes) = (&change.add[..], &change.remove[..]);
    let (mut added, mut removed) = (0i64, 0i64);
    while let Some(row) = [adds.first().map(|p| p.row), removes.first().copied()].into_iter().flatten().min() {
        let (block, next) = block_of(tx, term, row)?;
        let end = next.unwrap_or(i64::MAX);
        // The changes that fall in this block: rows before the next block's start.
        let take_adds = adds.partition_point(|p| p.row < end);
        let take_removes = removes.partition_point(|&r| r < end);
        let (these_adds, these_removes) = (&adds[..take_adds], &removes[..take_removes]);
        adds = &adds[take_adds..];
        removes = &removes[take_removes..];
        let (old_key, mut postings) = match block {
            Some(b) => (Some(b.first), b.postings),
            None => (None, Vec::new()),
        };
        let before = postings.len();
        postings.retain(|p| these_removes.binary_search(&p.row).is_err());
        removed += (before - postings.len()) as i64;
        let mut merged = Vec::with_capacity(postings.len() + these_adds.len());
        let mut old = postings.into_iter().peekable();
        for a in these_adds {
            while let Some(p) = old.next_if(|p| p.row < a.row) {
                merged.push(p);
            }
            // A row indexed again (it never is: removals come first) replaces its posting.
            if old.next_if(|p| p.row == a.row).is_none() {
                added += 1;
            }
            merged.push(*a);
        }
        merged.extend(old);
        write_blocks(tx, term, old_key, &merged)?;
    }
    Ok((added, removed))
}

/// Replaces the block stored under `old_key` (if any) with `postings` in blocks of [`BLOCK`].
fn write_blocks(tx: &Transaction<'_>, term: i64, old_key: Option<i64>, postings: &[Posting]) -> Result<(), StoreError> {
    let mut kept = false;
    for piece in postings.chunks(BLOCK) {
        let (first, last) = (piece[0].row, piece[piece.len() - 1].row);
        let impacts = encode_impacts(&impacts(piece));
        let bytes = encode_postings(piece);
        if old_key == Some(first) {
            tx.prepare_cached(
                "UPDATE keyword_blocks SET last_row = ?, n = ?, impacts = ?, postings = ? WHERE term_id = ? AND first_row = ?",
            )?
            .execute(params![last, piece.len() as i64, impacts, bytes, term, first])?;
            kept = true;
        } else {
            tx.prepare_cached(
                "INSERT INTO keyword_blocks (term_id, first_row, last_row, n, impacts, postings) VALUES (?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![term, first, last, piece.len() as i64, impacts, bytes])?;
        }
    }
    if let Some(key) = old_key
        && !kept
    {
        tx.prepare_cached("DELETE FROM keyword_blocks WHERE term_id = ? AND first_row = ?")?
            .execute(params![term, key])?;
    }
    Ok(())
}
