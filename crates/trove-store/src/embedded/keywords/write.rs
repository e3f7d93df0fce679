//! Writing the persisted keyword index: the rows a transaction adds and removes are analysed
//! into a [`KeywordChanges`] (each distinct word stemmed once per batch), then written at the
//! end of the transaction, term by term: the term's row (its document frequency, upserted in
//! one statement), then in term-id order only the blocks the changed rows fall in, each
//! rewritten whole. New rows come after every row a term holds, so they go to its last block
//! (read only if it has room; it splits once it holds [`BLOCK`] postings) and new blocks after
//! it. The vault's row count and total length change in the same transaction. Nothing here
//! commits: the caller's transaction makes the rows and their index change together.
//!
//! No statement here orders `keyword_blocks` with `ORDER BY`: SQLite (3.54) re-prepares such a
//! statement on every run once the transaction has written to the table, which cost more
//! than the rest of a term's write; a term's block keys are read unordered and sorted here.

use rusqlite::types::ValueRef;
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
        // in term-id order (the order of the blocks' table). A term that gains rows is
        // upserted with the change its postings should make to its document frequency (one
        // statement, which also says whether the term is new); the blocks then say what they
        // really changed, and a term whose count differs is corrected.
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        order.sort_unstable_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        let mut terms: Vec<Pending> = Vec::new();
        let mut changes: Vec<Option<TermChange>> = self.changes.into_iter().map(Some).collect();
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO keyword_terms (vault_id, space, term, df) VALUES (?, ?, ?, ?)
                 ON CONFLICT (vault_id, space, term) DO UPDATE SET df = df + excluded.df RETURNING id, df",
            )?;
            let mut find =
                tx.prepare_cached("SELECT id, df FROM keyword_terms WHERE vault_id = ? AND space = ? AND term = ?")?;
            for i in order {
                let Some(mut change) = changes[i].take() else { continue };
                change.settle();
                let name = &*self.names[i];
                let expected = change.add.len() as i64 - change.remove.len() as i64;
                let (id, df, expected) = if !change.add.is_empty() {
                    let (id, df): (i64, i64) =
                        upsert.query_row(params![self.vault, space, name, expected], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    (id, df, expected)
                } else if !change.remove.is_empty() {
                    match find.query_row(params![self.vault, space, name], |r| Ok((r.get(0)?, r.get(1)?))).optional()? {
                        Some((id, df)) => (id, df, 0),
                        // Removing a term no row holds changes nothing.
                        None => continue,
                    }
                } else {
                    continue;
                };
                // The count before this write: zero for a term just inserted.
                let before = df - expected;
                terms.push(Pending { id, before, counted: df, change });
            }
        }
        terms.sort_unstable_by_key(|t| t.id);
        let mut update = tx.prepare_cached("UPDATE keyword_terms SET df = ? WHERE id = ?")?;
        let mut delete = tx.prepare_cached("DELETE FROM keyword_terms WHERE id = ?")?;
        for Pending { id, before, counted, change } in terms {
            let (added, removed) = if before == 0 {
                // A new term: its postings are its blocks, nothing to read.
                write_blocks(tx, id, None, &change.add)?;
                (change.add.len() as i64, 0)
            } else {
                write_term(tx, id, change)?
            };
            let df = before + added - removed;
            if df <= 0 {
                delete.execute([id])?;
                tx.prepare_cached("DELETE FROM keyword_blocks WHERE term_id = ?")?.execute([id])?;
            } else if df != counted {
                update.execute(params![df, id])?;
            }
        }
        Ok(())
    }
}

/// A term about to have its blocks written: its id, its document frequency before this write
/// and as its row now says, and its changes.
struct Pending {
    id: i64,
    before: i64,
    counted: i64,
    change: TermChange,
}

impl TermChange {
    /// Sorts the changes by row, each row once.
    fn settle(&mut self) {
        self.add.sort_by_key(|p| p.row);
        self.add.dedup_by_key(|p| p.row);
        self.remove.sort_unstable();
        self.remove.dedup();
    }
}

/// The key (first row), last row and size of each of a term's stored blocks, in row order
/// (read without `ORDER BY`, see the module documentation).
fn block_keys(tx: &Transaction<'_>, term: i64) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT first_row, last_row, n FROM keyword_blocks WHERE term_id = ?")?;
    let mut keys = stmt.query_map([term], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<Vec<_>, _>>()?;
    if !keys.is_sorted_by_key(|k| k.0) {
        keys.sort_unstable_by_key(|k| k.0);
    }
    Ok(keys)
}

/// The decoded postings of term `term`'s block keyed `first`, which ends at `last`.
fn read_block(tx: &Transaction<'_>, term: i64, first: i64, last: i64) -> Result<Vec<Posting>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT postings FROM keyword_blocks WHERE term_id = ? AND first_row = ?")?;
    let mut rows = stmt.query(params![term, first])?;
    let Some(r) = rows.next()? else {
        return Err(StoreError::Corrupt(format!("keyword index: the block of term {term} at row {first} vanished")));
    };
    decode_block(term, first, last, r.get_ref(0)?)
}

/// The postings of the stored block of term `term` keyed `first`, checked to end at `last`
/// and to be in row order.
fn decode_block(term: i64, first: i64, last: i64, value: ValueRef<'_>) -> Result<Vec<Posting>, StoreError> {
    let bytes = value.as_blob().map_err(|e| StoreError::Corrupt(format!("keyword block: {e}")))?;
    let mut postings = Vec::with_capacity(BLOCK);
    decode_postings(first, bytes, &mut postings)?;
    if postings.last().map(|p| p.row) != Some(last) || !postings.is_sorted_by(|a, b| a.row < b.row) {
        return Err(StoreError::Corrupt(format!(
            "keyword index: the block of term {term} at row {first} is out of order"
        )));
    }
    Ok(postings)
}

/// Applies one term's changes to its blocks; how many postings were added and removed.
/// Rows of new chunks and memories come after every row a term holds: they go to its last
/// block, which is read only if it has room, and new blocks after it.
fn write_term(tx: &Transaction<'_>, term: i64, change: TermChange) -> Result<(i64, i64), StoreError> {
    let keys = block_keys(tx, term)?;
    if let (Some(&(first, last, n)), Some(first_add), true) =
        (keys.last(), change.add.first(), change.remove.is_empty())
        && first_add.row > last
    {
        if n >= BLOCK as i64 {
            write_blocks(tx, term, None, &change.add)?;
        } else {
            let mut postings = read_block(tx, term, first, last)?;
            postings.extend_from_slice(&change.add);
            write_blocks(tx, term, Some(first), &postings)?;
        }
        return Ok((change.add.len() as i64, 0));
    }
    let (mut adds, mut removes) = (&change.add[..], &change.remove[..]);
    let (mut added, mut removed) = (0i64, 0i64);
    while let Some(row) = [adds.first().map(|p| p.row), removes.first().copied()].into_iter().flatten().min() {
        // The block `row` belongs to: the last one starting at or before it, else the first.
        let at = keys.partition_point(|k| k.0 <= row).saturating_sub(1);
        let block = keys.get(at);
        let end = keys.get(at + 1).map_or(i64::MAX, |k| k.0);
        // The changes that fall in this block: rows before the next block's start.
        let take_adds = adds.partition_point(|p| p.row < end);
        let take_removes = removes.partition_point(|&r| r < end);
        let (these_adds, these_removes) = (&adds[..take_adds], &removes[..take_removes]);
        adds = &adds[take_adds..];
        removes = &removes[take_removes..];
        let (old_key, mut postings) = match block {
            Some(&(first, last, _)) => (Some(first), read_block(tx, term, first, last)?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::tests::writer_with_vault;
    use crate::prelude::*;

    /// The statements a term's write runs are prepared once, not again on every run (which an
    /// `ORDER BY` on `keyword_blocks` costs once the transaction has written to it), through
    /// transactions that append to, split and rewrite blocks.
    #[test]
    fn writing_terms_never_re_prepares_its_statements() {
        let (_dir, store, v) = writer_with_vault();
        for round in 0..6 {
            let docs: Vec<_> = (0..25)
                .map(|i| {
                    let texts: Vec<String> =
                        (0..6).map(|j| format!("common shared w{} w{j} r{round}", i * 7 + j)).collect();
                    let chunks: Vec<(&str, [f32; 2])> = texts.iter().map(|t| (t.as_str(), [1.0, 0.0])).collect();
                    // Documents of the first round come back: their rows are removed.
                    crate::conformance::doc(
                        "s",
                        &format!("{}.md", if round % 2 == 1 { i } else { 100 * round + i }),
                        "h",
                        &chunks,
                    )
                })
                .collect();
            store.put_documents(v.id, &docs).unwrap();
        }
        super::super::tests::assert_equals_a_rebuild(&store, v.id, Space::Chunks);
        let conn = store.conn();
        let blocks: i64 = conn
            .query_row("SELECT max(c) FROM (SELECT count(*) AS c FROM keyword_blocks GROUP BY term_id)", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(blocks > 2, "a term has {blocks} blocks");
        for sql in [
            "SELECT first_row, last_row, n FROM keyword_blocks WHERE term_id = ?",
            "SELECT postings FROM keyword_blocks WHERE term_id = ? AND first_row = ?",
        ] {
            let stmt = conn.prepare_cached(sql).unwrap();
            let runs = stmt.get_status(rusqlite::StatementStatus::Run);
            assert!(runs > 100, "{runs} runs of {sql}");
            assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0, "{sql}");
        }
    }
}
